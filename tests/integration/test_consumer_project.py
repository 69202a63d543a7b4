"""A larger provisioning project consumes the built collection.

The tarball is built from the checkout and installed offline into an empty
collections path.  A kubespray-style project of its own (its ansible.cfg
knows only that path; inventory group ``k8s_cluster`` with
``kube_control_plane`` and ``kube_node`` children; its own variable names
``kube_pods_subnet``, ``kube_network_node_prefix`` and per-host ``ip``) then
imports ``podnet.hostgw.site`` with its names mapped in the import's
``vars:``, runs ``podnet.hostgw.verify`` and ``podnet.hostgw.render`` the
same way and ``podnet.hostgw.reset`` by FQCN with extra vars, all from the
installed copy, against a three-host lab.

``hostgw_group`` is set where a play's ``hosts:`` can see it: the import's
vars (play vars) or extra vars, never inventory group_vars.
"""

import ipaddress
import json
import os
import re
import sys
import uuid

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.labkit import STATE_ROOT, Lab, recap, run_bounded

pytestmark = pytest.mark.integration

BIN = os.path.dirname(sys.executable)
TIMEOUT = 600  # seconds, for any one command

KUBE_PODS_SUBNET = "10.233.64.0/18"
KUBE_NETWORK_NODE_PREFIX = 26
# node: the lab's own address of its eth0, and the project's `ip` for it: a
# second address on eth0, so only the mapping puts the routes via it.
NODES = {"node1": {"lab": "10.168.0.1", "ip": "10.168.0.11"},
         "node2": {"lab": "10.168.0.2", "ip": "10.168.0.12"},
         "node3": {"lab": "10.168.0.3", "ip": "10.168.0.13"}}
# The project's names, mapped onto the collection's in its imports.
MAPPING = {"hostgw_group": "k8s_cluster",
           "hostgw_cluster_cidr": "{{ kube_pods_subnet }}",
           "hostgw_subnet_prefix": "{{ kube_network_node_prefix }}",
           "hostgw_node_ip": "{{ ip }}"}


def lab_inventory(lab):
    """What lab/hostgw_lab.py needs to build the hosts (not the project's)."""
    return {"all": {"children": {"hostgw_lab": {
        "hosts": dict((node, {"hostgw_node_ip": a["lab"]}) for node, a in NODES.items()),
        "vars": {"hostgw_lab_name": lab, "hostgw_lab_underlay": "10.168.0.0/24"}}}}}


def expected_subnets():
    """New cluster: the lowest free blocks of the cluster CIDR, hosts in name order."""
    blocks = ipaddress.ip_network(KUBE_PODS_SUBNET).subnets(new_prefix=KUBE_NETWORK_NODE_PREFIX)
    return dict((node, str(block)) for node, block in zip(sorted(NODES), blocks))


def dump(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write("---\n" + yaml.safe_dump(data, default_flow_style=False, sort_keys=False))


def write_project(project, collections_path, lab):
    """The provisioning project: ansible.cfg, a kubespray-like inventory and playbooks."""
    with open(os.path.join(project, "ansible.cfg"), "w") as fh:
        fh.write("[defaults]\n"
                 "collections_path = %s\n"
                 "collections_scan_sys_path = False\n"
                 "inventory = inventory/hosts.yml\n"
                 "retry_files_enabled = False\n"
                 "forks = 10\n"
                 "[connection]\n"
                 "pipelining = True\n" % collections_path)
    dump(os.path.join(project, "inventory", "hosts.yml"), {"all": {
        "hosts": dict((node, {"ip": a["ip"]}) for node, a in NODES.items()),
        "children": {
            "kube_control_plane": {"hosts": {"node1": None}},
            "etcd": {"hosts": {"node1": None}},
            "kube_node": {"hosts": {"node2": None, "node3": None}},
            "k8s_cluster": {"children": {"kube_control_plane": None, "kube_node": None}},
        }}})
    dump(os.path.join(project, "inventory", "group_vars", "k8s_cluster", "k8s-net.yml"),
         {"kube_pods_subnet": KUBE_PODS_SUBNET, "kube_network_node_prefix": KUBE_NETWORK_NODE_PREFIX})
    # How the project reaches the lab's hosts: the collection's own lab
    # connection, from the installed copy too.
    dump(os.path.join(project, "inventory", "group_vars", "all", "lab.yml"), {
        "ansible_connection": "podnet.hostgw.nsenter",
        "ansible_nsenter_pid_file": "%s/%s/{{ inventory_hostname }}.pid" % (STATE_ROOT, lab),
        "ansible_python_interpreter": "{{ ansible_playbook_python }}"})
    dump(os.path.join(project, "cluster.yml"), [
        {"name": "Check the nodes (the project's own play)",
         "hosts": "k8s_cluster",
         "gather_facts": False,
         "tasks": [{"name": "Every node has an address for cluster traffic",
                    "ansible.builtin.assert": {"that": ["ip is defined", "kube_pods_subnet is defined"],
                                               "quiet": True}}]},
        {"name": "Pod network",
         "ansible.builtin.import_playbook": "podnet.hostgw.site",
         "vars": MAPPING},
    ])
    dump(os.path.join(project, "network-check.yml"), [
        {"name": "Prove the pod network",
         "ansible.builtin.import_playbook": "podnet.hostgw.verify",
         "vars": MAPPING},
        {"name": "Draw it",
         "ansible.builtin.import_playbook": "podnet.hostgw.render",
         "vars": MAPPING},
    ])


def consumer_env(cwd):
    """The environment of a shell in CWD: nothing of the checkout's (no
    ANSIBLE_CONFIG, no collections path, no PYTHONPATH), and PWD, which
    render.yml's default directory is made of, set as `cd` sets it."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH")
    env.update(LC_ALL="C.UTF-8", NO_COLOR="1", PWD=cwd)
    return env


class Project:
    def __init__(self, path):
        self.path = path

    def run(self, tool, *args, timeout=TIMEOUT):
        return run_bounded([os.path.join(BIN, tool)] + list(args), timeout,
                           cwd=self.path, env=consumer_env(self.path))

    def playbook(self, *args):
        proc = self.run("ansible-playbook", *args)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        return proc


@pytest.fixture
def installed(tmp_path):
    """The collection built from the checkout and installed offline into an
    empty collections path; returns that path."""
    build = tmp_path / "build"
    collections = tmp_path / "collections"
    build.mkdir()
    collections.mkdir()
    env = dict(consumer_env(str(build)), ANSIBLE_COLLECTIONS_PATH=str(collections))
    galaxy = os.path.join(BIN, "ansible-galaxy")
    proc = run_bounded([galaxy, "collection", "build", "--output-path", str(build), REPO], TIMEOUT,
                       cwd=str(build), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (tarball,) = build.glob("podnet-hostgw-*.tar.gz")
    proc = run_bounded([galaxy, "collection", "install", str(tarball), "-p", str(collections), "--offline"],
                       TIMEOUT, cwd=str(build), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (collections / "ansible_collections" / "podnet" / "hostgw" / "MANIFEST.json").is_file()
    return str(collections)


@pytest.fixture
def lab(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    name = "hgwkp%s" % uuid.uuid4().hex[:4]
    the_lab = Lab(name, str(tmp_path), inventory=lab_inventory(name))
    the_lab.up()
    try:
        for node, a in NODES.items():
            added = the_lab.on(node, "ip", "addr", "add", "%s/24" % a["ip"], "dev", "eth0")
            assert added.returncode == 0, added.stderr
        yield the_lab
    finally:
        the_lab.down()


def ansible_core_modules():
    import ansible.modules

    return os.path.realpath(os.path.dirname(ansible.modules.__file__))


def hostgw_routes(lab, node):
    out = lab.on(node, "ip", "-4", "route", "show").stdout
    return sorted(line.strip() for line in out.splitlines() if " proto hostgw" in line)


def assert_pod_network(lab):
    """Every node's bridge holds the first address of its pod subnet, and it
    routes every peer's subnet via the peer's `ip` (the project's name)."""
    subnets = expected_subnets()
    for node in NODES:
        net = ipaddress.ip_network(subnets[node])
        bridge = lab.on(node, "ip", "-4", "-o", "addr", "show", "dev", "cni0").stdout
        assert " inet %s/%d " % (net[1], net.prefixlen) in bridge, (node, bridge)
        assert hostgw_routes(lab, node) == sorted(
            "%s via %s dev eth0 proto hostgw" % (subnets[peer], NODES[peer]["ip"]) for peer in NODES if peer != node)


def test_a_kubespray_style_project_runs_the_installed_collection(installed, lab, tmp_path):
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    write_project(str(project_dir), installed, lab.lab)
    project = Project(str(project_dir))

    # The project's Ansible sees the installed copy, and only it.
    listed = project.run("ansible-galaxy", "collection", "list", "podnet.hostgw")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert re.findall(r"^# (\S+)$", listed.stdout, re.M) == [os.path.join(installed, "ansible_collections")]
    with open(os.path.join(REPO, "galaxy.yml")) as fh:
        version = yaml.safe_load(fh)["version"]
    assert re.search(r"^podnet\.hostgw\s+%s\s*$" % re.escape(version), listed.stdout, re.M), listed.stdout

    pristine = lab.snapshot()

    first = project.playbook("-vvv", "cluster.yml")
    assert "Using %s as config file" % (project_dir / "ansible.cfg") in first.stdout
    # Every module that is not ansible-core's own came from the installed copy.
    builtin = ansible_core_modules() + os.sep
    ours = set(f for f in re.findall(r"Using module file (\S+)", first.stdout)
               if not os.path.realpath(f).startswith(builtin))
    modules = os.path.join(installed, "ansible_collections", "podnet", "hostgw", "plugins", "modules")
    assert ours == set(os.path.join(modules, m) for m in
                       ("node_info.py", "files.py", "bridge.py", "sysctl.py", "netfilter.py", "ip_route.py",
                        "reconcile_command.py")), ours
    assert set(recap(first)) == set(NODES)
    assert all(changed > 0 for changed in recap(first).values())
    assert_pod_network(lab)
    assert set(recap(project.playbook("cluster.yml")).values()) == {0}

    # verify, then render (which colours the picture by verify's results),
    # both writing into the project's render/ (render.yml's default: $PWD/render).
    check = project.playbook("network-check.yml")
    recap(check)
    for node in NODES:
        assert "%s reaches every other host's pods" % node in check.stdout, check.stdout[-4000:]
    assert "\u2717" not in check.stdout
    assert_pod_network(lab)
    render = project_dir / "render"
    subnets = expected_subnets()
    for node in NODES:
        assert (render / "hosts" / ("%s.routes" % node)).read_text() == "".join(
            "%s via %s dev eth0 proto hostgw\n" % (subnets[peer], NODES[peer]["ip"])
            for peer in sorted(NODES) if peer != node)
    assert "time" in json.loads((render / "verify.json").read_text())
    svg = (render / "topology.svg").read_text()
    assert all(node in svg and subnets[node] in svg for node in NODES)
    assert "Routes coloured by reachability" in (render / "topology.md").read_text()
    assert (render / "cluster.md").is_file()

    # reset by FQCN, hostgw_group as an extra var.
    reset = ("podnet.hostgw.reset", "-e", "hostgw_group=k8s_cluster", "-e", "hostgw_reset_confirmed=true")
    assert all(changed > 0 for changed in recap(project.playbook(*reset)).values())
    assert lab.snapshot() == pristine, "reset left a trace"
    assert set(recap(project.playbook(*reset)).values()) == {0}

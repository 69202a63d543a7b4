"""hostgw_group where a play's hosts: cannot see it.

A play's ``hosts:`` is templated from extra vars and play vars only: with
``hostgw_group: k8s_cluster`` in ``group_vars/all.yml`` the playbooks used
to match no host, print "skipping: no hosts matched" and exit 0. Every
playbook now fails first, naming the variable, without touching a host; set
with ``-e`` or on ``import_playbook``'s ``vars:`` it works.
"""

import glob
import os
import uuid

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.labkit import RECAP, Lab, recap

pytestmark = pytest.mark.integration

# Every playbook of the collection (a new one too) and the checkout's site.yml.
PLAYBOOKS = ["site.yml"] + sorted(
    os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "playbooks", "*.yml"))
    if os.path.basename(p) != "check_group.yml")
RESET = ("-e", "hostgw_reset_confirmed=true")
TRAP = "hostgw_group 'k8s_cluster' is set in the inventory"


def k8s_inventory(lab, tmp):
    """A kubespray-style inventory directory: the lab's hosts in k8s_cluster,
    hostgw_group in group_vars/all.yml."""
    top = os.path.join(tmp, "inventory-%s" % uuid.uuid4().hex[:6])
    os.makedirs(os.path.join(top, "group_vars"))
    hosts = {"all": {"children": {
        "k8s_cluster": {
            "hosts": {"host1": {"hostgw_node_ip": "10.168.0.1", "hostgw_pod_subnet": "192.168.0.0/24"},
                      "host2": {"hostgw_node_ip": "10.168.0.2", "hostgw_pod_subnet": "192.168.1.0/24"}},
            "vars": {"hostgw_cluster_cidr": "192.168.0.0/16"}},
        "hostgw_lab": {"children": {"k8s_cluster": None}, "vars": {
            "hostgw_lab_name": lab,
            "hostgw_lab_underlay": "10.168.0.0/24",
            "ansible_connection": "podnet.hostgw.nsenter",
            "ansible_nsenter_pid_file": "/run/podnet-hostgw-lab/{{ hostgw_lab_name }}/{{ inventory_hostname }}.pid",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
    }}}
    with open(os.path.join(top, "hosts.yml"), "w") as fh:
        yaml.safe_dump(hosts, fh)
    with open(os.path.join(top, "group_vars", "all.yml"), "w") as fh:
        yaml.safe_dump({"hostgw_group": "k8s_cluster"}, fh)
    return top


@pytest.fixture
def lab(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    name = "hgwgc%s" % uuid.uuid4().hex[:4]
    inventory = k8s_inventory(name, str(tmp_path))
    the_lab = Lab(name, str(tmp_path))
    the_lab.good_path = inventory
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_hostgw_group_in_group_vars_fails_before_any_host_is_contacted(tmp_path, playbook):
    """No lab: the lab's connection to hosts that are not up fails, so a run
    that reached a host would show it unreachable."""
    inventory = k8s_inventory("hgwnone", str(tmp_path))
    proc = Lab("hgwnone", str(tmp_path)).site(inventory, *RESET, playbook=playbook)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert TRAP in proc.stdout, proc.stdout[-3000:]
    assert "-e hostgw_group=k8s_cluster" in proc.stdout
    assert "hostgw_group 'hostgw_nodes' names no group with hosts in the inventory" in proc.stdout
    assert "skipping: no hosts matched" not in proc.stdout
    # Stopped on the controller: only its own play ran.
    assert [row[0] for row in RECAP.findall(proc.stdout)] == ["localhost"], proc.stdout[-3000:]


def test_hostgw_group_set_where_hosts_sees_it_works(lab, tmp_path):
    # Extra vars: seen by hosts: and by the roles alike.
    changed = recap(lab.site(lab.good_path, "-e", "hostgw_group=k8s_cluster"))
    assert sorted(changed) == ["host1", "host2"] and min(changed.values()) > 0, changed
    routes = lab.on("host1", "ip", "route", "show", "proto", "hostgw").stdout
    assert "192.168.1.0/24 via 10.168.0.2 dev eth0" in routes

    # A larger project's playbook: the import's vars: reach hosts: too
    # (through site.yml's own import of check_group.yml).
    consumer = tmp_path / "consumer.yml"
    consumer.write_text(yaml.safe_dump([{
        "name": "Pod network of the cluster",
        "ansible.builtin.import_playbook": "podnet.hostgw.site",
        "vars": {"hostgw_group": "k8s_cluster"}}]))
    assert recap(lab.site(lab.good_path, playbook=str(consumer))) == {"host1": 0, "host2": 0}

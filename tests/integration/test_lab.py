"""The namespace lab and the nsenter connection, on the real kernel.

A small two-host lab is built from an inventory in a temporary directory,
used through Ansible's ``podnet.hostgw.nsenter`` connection, and torn down;
the root namespace must look exactly as before.
"""

import json
import os
import pathlib
import subprocess
import uuid

import pytest

from tests.integration.labkit import Bird, Lab, base_inventory, nodes

pytestmark = pytest.mark.integration


def root_snapshot():
    """What the lab must not change in the root namespace."""
    def out(argv):
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    links = [(l["ifname"], l.get("master"), tuple(l.get("flags", [])))
             for l in json.loads(out(["ip", "-json", "link", "show"]))]
    return {
        "links": sorted(links, key=str),
        "addrs": out(["ip", "-json", "addr", "show"]),
        "routes4": out(["ip", "-4", "route", "show", "table", "all"]),
        "routes6": out(["ip", "-6", "route", "show", "table", "all"]),
        "netns": sorted(out(["ip", "netns", "list"]).split("\n")),
        "mounts": sorted(l for l in pathlib.Path("/proc/self/mounts").read_text().splitlines() if "/run/netns" not in l),
    }


def two_hosts_with_containers(lab):
    inv = base_inventory(lab)
    nodes(inv)["vars"] = {}
    nodes(inv)["hosts"] = {
        "alpha": {"hostgw_node_ip": "10.168.0.1", "hostgw_pod_subnet": "192.168.0.0/24",
                  "hostgw_lab_containers": {"c-one": "192.168.0.2"}},
        "beta": {"hostgw_node_ip": "10.168.0.2", "hostgw_pod_subnet": "192.168.1.0/24",
                 "hostgw_lab_containers": {"c-two": "192.168.1.2"}},
    }
    return inv


@pytest.fixture
def lab_inventory(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    name = "hgwt%s" % uuid.uuid4().hex[:6]
    lab = Lab(name, str(tmp_path), inventory=two_hosts_with_containers(name))
    before = root_snapshot()
    yield lab, name, before
    lab.down()


def test_lab_up_down_leaves_root_namespace_exactly_as_before(lab_inventory):
    the_lab, lab, before = lab_inventory
    the_lab.cli("up")
    state = json.loads(pathlib.Path("/run/podnet-hostgw-lab/%s/state.json" % lab).read_text())
    assert sorted(state["hosts"]) == ["alpha", "beta"]
    assert root_snapshot()["addrs"] == before["addrs"]
    assert root_snapshot()["routes4"] == before["routes4"]
    pids = [h["pid"] for h in state["hosts"].values()]
    the_lab.cli("down")
    assert not os.path.exists("/run/podnet-hostgw-lab/%s" % lab)
    root = "/run/podnet-hostgw-lab"  # the last lab to go down removes it too
    assert not os.path.isdir(root) or os.listdir(root), "an empty state root was left behind"
    assert all(not os.path.exists("/proc/%d" % pid) for pid in pids)
    assert root_snapshot() == before


def test_lab_up_is_idempotent_and_refuses_foreign_namespaces(lab_inventory):
    the_lab, lab, _before = lab_inventory
    the_lab.cli("up")
    again = the_lab.cli("up")
    assert "already up" in again.stdout
    # attach before the bridge exists says what to do
    attach = the_lab.cli("attach", check=False)
    assert attach.returncode == 2
    assert "no cni0 yet: run site.yml first" in attach.stderr


def test_nsenter_connection_runs_everything_inside_the_host(lab_inventory, tmp_path):
    the_lab, lab, _before = lab_inventory
    the_lab.cli("up")
    # A compound raw command: both halves must run on the lab host.
    res = the_lab.adhoc("alpha", "-m", "ansible.builtin.raw",
                        "-a", "hostname; ip -4 -o addr show dev eth0")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "alpha" in res.stdout
    assert "10.168.0.1/24" in res.stdout
    # Facts describe the lab host, not the controller.
    res = the_lab.adhoc("beta", "-m", "ansible.builtin.setup",
                        "-a", "gather_subset=!all,!min,network")
    assert res.returncode == 0, res.stdout + res.stderr
    facts = json.loads(res.stdout.split("=>", 1)[1])["ansible_facts"]
    assert facts["ansible_default_ipv4"]["address"] == "10.168.0.2"
    assert sorted(facts["ansible_interfaces"]) == ["eth0", "lo"]
    # A file copied to /etc lands in the host's overlay, not the controller's /etc.
    src = tmp_path / "marker"
    src.write_text("lab-only\n")
    res = the_lab.adhoc("alpha", "-m", "ansible.builtin.copy",
                        "-a", "src=%s dest=/etc/podnet-lab-marker mode=0644" % src)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not os.path.exists("/etc/podnet-lab-marker")
    res = the_lab.adhoc("alpha", "-m", "ansible.builtin.slurp", "-a", "src=/etc/podnet-lab-marker")
    assert "bGFiLW9ubHkK" in res.stdout  # base64 of "lab-only\n"
    res = the_lab.adhoc("beta", "-m", "ansible.builtin.stat", "-a", "path=/etc/podnet-lab-marker")
    assert '"exists": false' in res.stdout


def test_nsenter_connection_fails_clearly_when_lab_is_down(lab_inventory):
    the_lab, lab, _before = lab_inventory
    res = the_lab.adhoc("alpha", "-m", "ansible.builtin.raw", "-a", "true")
    assert res.returncode != 0
    assert "is the lab up?" in res.stdout + res.stderr


def test_nsenter_connection_pipelines_modules_over_stdin(lab_inventory):
    the_lab, lab, _before = lab_inventory
    the_lab.cli("up")
    res = the_lab.adhoc("alpha", "-m", "ansible.builtin.ping", "-vvv")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PUT " not in res.stdout  # no temporary module file: it went through stdin
    assert '"ping": "pong"' in res.stdout


def test_each_host_has_its_own_usr_local_etc_var_lib_opt_and_run(lab_inventory):
    """A file a lab host writes under any of its own directories lands in
    the lab's state (removed by down), never on the real machine, and is not
    seen by another lab host."""
    the_lab, lab, _before = lab_inventory
    the_lab.cli("up")
    name = "podnet-lab-%s" % uuid.uuid4().hex[:8]
    # What the lab promises each host (issue 8 installs a command under /usr/local).
    owned = ("/etc", "/var/lib", "/opt", "/usr/local", "/run")
    dirs = [os.path.join(top, "podnet-lab-test-%s" % name) for top in owned]
    assert not any(os.path.exists(d) for d in dirs)
    try:
        for d in dirs:
            path = os.path.join(d, "marker")
            the_lab.write_file("alpha", path, "alpha only\n")
            assert the_lab.on("alpha", "cat", path).stdout == "alpha only\n"
            assert the_lab.on("beta", "cat", path).returncode != 0, path
            assert not os.path.exists(d), "%s landed on the real machine" % path
        # The overlay's upper layer holds it: down removes the lab's state and with it this.
        upper = pathlib.Path("/run/podnet-hostgw-lab", lab, "alpha", "usr_local", "upper",
                             "podnet-lab-test-%s" % name, "marker")
        assert upper.read_text() == "alpha only\n"
        the_lab.cli("down")
        assert not upper.exists()
        assert not any(os.path.exists(d) for d in dirs)
    finally:  # only if it failed: remove what it wrote on the real machine
        for d in dirs:
            if os.path.exists(os.path.join(d, "marker")):
                os.unlink(os.path.join(d, "marker"))
                os.rmdir(d)


def _ended(pid):
    """PID has exited (reaped here when it was this process's child)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return not os.path.exists("/proc/%d" % pid)


def test_down_ends_a_daemon_its_test_left_running_and_only_that(lab_inventory):
    """A daemon started on a lab host is recorded in the lab's state; down ends
    it by its PID, but only after its command line and network namespace say
    it is still that daemon."""
    import hostgw_lab

    the_lab, lab, _before = lab_inventory
    the_lab.cli("up")
    bird = Bird(the_lab, "alpha", [("198.51.100.0/24", "10.168.0.2")])
    bird.start()  # and never stopped: as if the test had died
    assert "198.51.100.0/24" in bird.birdc("show", "route")
    # Two records that must not be killed: a process whose command line is
    # not the recorded one, and one with the recorded command line in
    # another network namespace (a reused PID would look like these).
    strangers = [subprocess.Popen(["sleep", "300"]) for _stranger in range(2)]
    try:
        state = the_lab.state()
        state["daemons"]["alpha/other"] = dict(bird.daemon, name="other", pid=strangers[0].pid)
        state["daemons"]["beta/elsewhere"] = dict(bird.daemon, host="beta", name="elsewhere",
                                                  pid=strangers[1].pid, argv=["sleep", "300"])
        hostgw_lab.save_state(state)
        down = the_lab.cli("down")
        assert "stopped alpha/bird (pid %d)" % bird.daemon["pid"] in down.stdout
        assert _ended(bird.daemon["pid"])
        assert [s.poll() for s in strangers] == [None, None]
    finally:
        for stranger in strangers:
            stranger.kill()
            stranger.wait()

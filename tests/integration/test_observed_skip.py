"""The record, bridge, forwarding (sysctl, netfilter) and cni tasks plan from the
preflight's read: on a converged host they run no module (from_read), and
wherever the host drifted in something they make, they run it, --check
predicts the real run exactly and the real run restores the converged state."""

import pytest

from tests.integration import day2kit

pytestmark = pytest.mark.integration

OBSERVED_TASKS = (
    "podnet.hostgw.record : Record the pod subnet assignment",
    "podnet.hostgw.bridge : Ensure the pod bridge and its gateway addresses",
    "podnet.hostgw.forwarding : Enable forwarding for the pod network's families and persist it",
    "podnet.hostgw.cni : Write the CNI configuration list",
    "podnet.hostgw.forwarding : Accept forwarded pod traffic and masquerade what leaves the cluster",
)
RECORD, BRIDGE, SYSCTL, CNI, NETFILTER = OBSERVED_TASKS
MODULE_TASKS = (
    "podnet.hostgw.routes : Route each peer's pod subnets via the peer",
    "podnet.hostgw.reconcile : Install the reconcile command, its engine and its units",
)
HOSTS = ("host1", "host2", "host3")


@pytest.fixture
def lab(tmp_path):
    the_lab = day2kit.make_lab(tmp_path, "hgwob", lambda name: None)
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


def _from_read(run):
    return dict((task, run.from_read(task)) for task in OBSERVED_TASKS + MODULE_TASKS)


def _drift(lab):
    """Change, behind the collection's back, one thing each observed task makes."""
    assert lab.on("host1", "ip", "addr", "del", "192.168.0.1/24", "dev", "cni0").returncode == 0
    assert lab.on("host1", "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward").returncode == 0
    assert lab.on("host2", "chmod", "0600", "/etc/podnet/hostgw.json").returncode == 0
    assert lab.on("host2", "nft", "delete", "table", "inet", "podnet_hostgw").returncode == 0
    assert lab.on("host2", "ln", "-sfn", "/etc/hostname",
                  "/etc/ansible/facts.d/podnet_hostgw.fact").returncode == 0
    conflist = lab.on("host3", "cat", "/etc/cni/net.d/10-podnet.conflist").stdout
    lab.write_file("host3", "/etc/cni/net.d/10-podnet.conflist", conflist.replace("cni0", "cni9"))


def test_converged_hosts_run_no_module_for_what_the_read_shows(lab):
    assert all(day2kit.run(lab, lab.good_path).changed().values())
    converged = lab.snapshot()

    again = day2kit.run(lab, lab.good_path)
    assert set(again.changed().values()) == {0}
    seen = _from_read(again)
    for task in OBSERVED_TASKS:
        assert seen[task] == dict.fromkeys(HOSTS, True), task
    for task in MODULE_TASKS:
        assert seen[task] == dict.fromkeys(HOSTS, False), task

    _drift(lab)
    drifted = lab.snapshot()
    check = day2kit.run(lab, lab.good_path, "--check", "--diff")
    assert lab.snapshot() == drifted, "--check changed a host"
    expected = {
        "host1": [BRIDGE, SYSCTL],
        "host2": [RECORD, NETFILTER],
        "host3": [CNI],
    }
    assert check.changed_tasks() == expected
    seen = _from_read(check)
    for host, tasks in expected.items():
        for task in OBSERVED_TASKS:
            assert seen[task][host] is (task not in tasks), (host, task)
    assert "192.168.0.1/24" in check.out  # the bridge's diff

    real = day2kit.run(lab, lab.good_path, "--diff")
    assert real.changed() == check.changed()
    assert real.changed_tasks() == expected
    assert lab.snapshot() == converged

    last = day2kit.run(lab, lab.good_path)
    assert set(last.changed().values()) == {0}
    assert all(all(hosts.values()) for task, hosts in _from_read(last).items() if task in OBSERVED_TASKS)


def test_a_later_batch_without_its_own_read_runs_the_modules(lab):
    """serial: the second batch takes the first batch's plan and reads
    nothing itself; its tasks run their modules and still change nothing."""
    assert day2kit.run(lab, lab.good_path).changed()
    rolling = day2kit.run(lab, lab.good_path, "-e", "hostgw_serial=2")
    assert set(rolling.changed().values()) == {0}
    seen = rolling.from_read(RECORD)
    assert seen == {"host1": True, "host2": True, "host3": False}


LATER_PLAY = """
- name: The pod network
  ansible.builtin.import_playbook: {site}

- name: Behind the collection's back, then the bridge role alone (no preflight in this play)
  hosts: host1
  gather_facts: false
  tasks:
    - name: Delete the bridge's gateway address
      ansible.builtin.command:
        argv: [ip, addr, del, 192.168.0.1/24, dev, cni0]
      changed_when: true
    - name: The bridge role with the first play's plan and read
      ansible.builtin.import_role:
        name: podnet.hostgw.bridge
"""


def test_a_later_play_never_plans_from_an_earlier_plays_read(lab, tmp_path):
    import os

    from tests.integration.labkit import REPO

    playbook = tmp_path / "later_play.yml"
    playbook.write_text(LATER_PLAY.format(site=os.path.join(REPO, "playbooks", "site.yml")))
    assert all(day2kit.run(lab, lab.good_path).changed().values())
    run = day2kit.run(lab, lab.good_path, playbook=str(playbook))
    assert run.changed() == {"host1": 2, "host2": 0, "host3": 0}
    bridge_runs = [(e["host"], e["from_read"], e["changed"]) for e in run.log if e["task"] == BRIDGE]
    # The site play's, from its own read; then the later play's, which ran the module.
    assert sorted(bridge_runs[:3]) + bridge_runs[3:] == [
        ("host1", True, False), ("host2", True, False), ("host3", True, False), ("host1", False, True)]
    assert "192.168.0.1/24" in lab.on("host1", "ip", "-o", "addr", "show", "dev", "cni0").stdout

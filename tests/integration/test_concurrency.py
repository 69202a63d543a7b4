"""Concurrent runs on one lab (issue 7): several site.yml runs started
together all succeed and end exactly where one run ends, the persisted
sysctl file remembers the real earlier values, and a run waits while another
change holds a host's lock.

"Exactly" is labkit's snapshot of every host (routes in all tables, links,
addresses, nftables, forwarding sysctls, and every file written under the
host's overlays with its mode and content), compared with the snapshot of
the same lab after one single run.  A fresh lab is the lab torn down and
built again; links then get new random MAC addresses, the only part of a
snapshot that differs between two fresh labs, so those comparisons leave
MAC addresses out.
"""

import os
import re
import sys
import time
import uuid

import pytest

import hostgw_lab
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.lock import LOCK_PATH
from tests.conftest import COLLECTIONS
from tests.integration.labkit import Lab, base_inventory, finish_sites, nodes, recap, sbin_tool, wait_for

pytestmark = pytest.mark.integration

RUNS = 4            # site.yml runs started together
ROUNDS = 2          # each: RUNS runs on a fresh lab, then RUNS on the converged lab
RUN_TIMEOUT = 600   # seconds for RUNS runs at once on two busy cores
RESET = ("-e", "hostgw_reset_confirmed=true")
SYSCTL_FILE = "/etc/sysctl.d/60-podnet-hostgw.conf"  # hostgw_sysctl_file's default
# Forwarding before any run: off on host1, already on on host2.
FORWARDING_BEFORE = {"host1": 0, "host2": 1}
TEST_OWNER = "podnet-hostgw-lab-test"


def two_hosts(name):
    """host1 with an explicit pod subnet, host2 allocated one (and records it)."""
    inv = base_inventory(name)
    nodes(inv)["hosts"] = {"host1": {"hostgw_node_ip": "10.168.0.1", "hostgw_pod_subnet": "192.168.0.0/24"},
                           "host2": {"hostgw_node_ip": "10.168.0.2"}}
    return inv


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    name = "hgwcc%s" % uuid.uuid4().hex[:4]
    the_lab = Lab(name, str(tmp_path_factory.mktemp("concurrency")), inventory=two_hosts(name))
    try:
        yield the_lab
    finally:
        the_lab.down()


def fresh(lab):
    """Build LAB anew (down, up, forwarding as FORWARDING_BEFORE); its snapshot."""
    lab.down()
    lab.up()
    for host, value in FORWARDING_BEFORE.items():
        proc = lab.on(host, sbin_tool("sysctl"), "-qw", "net.ipv4.ip_forward=%d" % value)
        assert proc.returncode == 0, proc.stderr
    return lab.snapshot()


def without_macs(snap):
    return {host: dict(s, links=re.sub(r"link/ether \S+ brd \S+", "link/ether -", s["links"]))
            for host, s in snap.items()}


def sysctl_files(lab):
    return {host: lab.on(host, "cat", SYSCTL_FILE).stdout for host in FORWARDING_BEFORE}


@pytest.fixture(scope="module")
def one_run(lab):
    """The lab before and after one single site.yml run from fresh."""
    pristine = fresh(lab)
    recap(lab.site(lab.good_path))
    return {"pristine": pristine, "converged": lab.snapshot(), "sysctl": sysctl_files(lab)}


def assert_all_succeeded(procs):
    for index, proc in enumerate(procs):
        assert proc.returncode == 0, "run %d of %d failed:\n%s\n%s" % (
            index + 1, len(procs), proc.stdout[-3000:], proc.stderr[-2000:])
    return [recap(proc) for proc in procs]


def assert_previous_values_recorded(lab, one_run):
    files = sysctl_files(lab)
    for host, value in FORWARDING_BEFORE.items():
        assert "previous: net.ipv4.ip_forward = %d" % value in files[host], (host, files[host])
    assert files == one_run["sysctl"]


def test_runs_at_once_end_as_one_run_does_and_reset_restores(lab, one_run):
    for _round in range(ROUNDS):
        assert without_macs(fresh(lab)) == without_macs(one_run["pristine"])
        assert_all_succeeded(lab.sites_at_once(lab.good_path, RUNS, timeout=RUN_TIMEOUT))
        assert_previous_values_recorded(lab, one_run)
        converged = lab.snapshot()
        assert without_macs(converged) == without_macs(one_run["converged"])

        recaps = assert_all_succeeded(lab.sites_at_once(lab.good_path, RUNS, timeout=RUN_TIMEOUT))
        assert [set(r.values()) for r in recaps] == [{0}] * RUNS
        assert lab.snapshot() == converged
        assert_previous_values_recorded(lab, one_run)

    recap(lab.site(lab.good_path, *RESET, playbook="playbooks/reset.yml"))
    for host, value in FORWARDING_BEFORE.items():
        assert lab.on(host, "cat", "/proc/sys/net/ipv4/ip_forward").stdout == "%d\n" % value, host
    assert without_macs(lab.snapshot()) == without_macs(one_run["pristine"])


def test_a_run_waits_while_another_change_holds_a_hosts_lock(lab, one_run):
    """host1's lock is held (by the collection's own HostLock, as another
    run or the reconcile command would hold it): the run changes nothing on
    host1 until it is released, then ends as one run does."""
    pristine = fresh(lab)
    holder = hostgw_lab.start_daemon(lab.state(), "host1", "lock-holder", [
        sys.executable, "-c",
        "import sys, time\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.lock import HostLock\n"
        "HostLock(owner=sys.argv[2]).acquire()\n"
        "time.sleep(600)\n",
        COLLECTIONS, TEST_OWNER])
    run = None
    try:
        wait_for(lambda: TEST_OWNER in lab.on("host1", "cat", LOCK_PATH).stdout, 60,
                 "the test's lock holder on host1")
        run = lab.start_site(lab.good_path)
        # Give the run time to reach its changing tasks: host2 gets its bridge
        # (or, should reading take the lock too, a minute passes); then 15 s more.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and lab.on("host2", "ip", "link", "show", "cni0").returncode:
            time.sleep(0.5)
        time.sleep(15)
        kernel = ("routes4", "routes6", "links", "addrs", "nft", "forward")
        now = lab.snapshot()["host1"]
        assert run.poll() is None, "the run ended while host1's lock was held"
        assert {k: now[k] for k in kernel} == {k: pristine["host1"][k] for k in kernel}, \
            "the run changed host1 while another change held its lock"
    finally:
        hostgw_lab.stop_daemon(lab.state(), "host1", "lock-holder")
        if run is not None:
            done = finish_sites([run], RUN_TIMEOUT)
    assert_all_succeeded(done)
    assert without_macs(lab.snapshot()) == without_macs(one_run["converged"])

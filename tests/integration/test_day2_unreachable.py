"""Day-2: a host becomes unreachable in the middle of a site.yml run (issue 11).

host3's lab holder is stopped (lab/hostgw_lab.py's stop_holder, by its PID)
as a chosen task starts, so Ansible cannot reach it from that task on; its
network namespace, and the pod traffic through it, stay.  The run then
exits 4 (unreachable), names host3 in the recap, and:

- after the preflight (host3 was read, the plan is complete): host1 and
  host2 converge, and no route of the collection is removed anywhere;
- at the preflight's read (host3 could not be read, the plan is partial):
  host1 and host2 converge too, but nothing is purged (a stale route of a
  node that left stays) and routes to host3 stay.

Once host3's holder is back (restart_holder: the same network namespace,
its files under the overlays), one run converges it, a run after a full
read purges the stale route, and the next run changes nothing.

site.yml used to end the whole play at the first unreachable host
(any_errors_fatal): here hosts 1 and 2 would keep their drift.  It now
stops every host on a failed one (max_fail_percentage: 0) and lets an
unreachable one drop out alone.
"""

import pytest

import hostgw_lab
from tests.integration.day2kit import ROUTES_TASK, make_lab, our_routes, run
from tests.integration.labkit import base_inventory

pytestmark = pytest.mark.integration

AFTER_PREFLIGHT = "Ensure the pod bridge and its gateway addresses"
AT_READ = "Read the host (read-only)"
TO_HOST1 = "192.168.0.0/24 via 10.168.0.1 dev eth0 proto hostgw"
TO_HOST2 = "192.168.1.0/24 via 10.168.0.2 dev eth0 proto hostgw"
TO_HOST3 = "192.168.2.0/24 via 10.168.0.3 dev eth0 proto hostgw"
# A route of ours via an address of no host: a node that left while its peers were unreachable.
STALE = ["192.168.77.0/24", "via", "10.168.0.9", "dev", "eth0", "proto", "hostgw"]
STALE_LINE = "192.168.77.0/24 via 10.168.0.9 dev eth0 proto hostgw"


@pytest.fixture
def lab(tmp_path):
    the_lab = make_lab(tmp_path, "hgwur", base_inventory)
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


def drift(lab):
    """Something for every host to converge: host1 lost its route to host2,
    host3 its route to host1; host1 holds a stale route of a node that left."""
    assert lab.on("host1", "ip", "route", "del", "192.168.1.0/24").returncode == 0
    assert lab.on("host3", "ip", "route", "del", "192.168.0.0/24").returncode == 0
    assert lab.on("host1", "ip", "route", "add", *STALE).returncode == 0


@pytest.mark.parametrize("when,complete", [(AFTER_PREFLIGHT, True), (AT_READ, False)],
                         ids=["after-preflight", "at-the-preflight-read"])
def test_the_others_converge_nothing_is_purged_and_one_run_brings_it_back(lab, when, complete):
    run(lab, lab.good_path).changed()
    drift(lab)
    before = dict((h, our_routes(lab, h)) for h in ("host1", "host2", "host3"))
    host3 = lab.snapshot()["host3"]

    faulty = run(lab, lab.good_path, fault=(when, "host3"))
    assert faulty.proc.returncode == 4, faulty.out[-4000:]
    counts = faulty.recap()
    assert counts["host3"][1:] == (1, 0)
    assert counts["host1"][1:] == (0, 0) and counts["host2"][1:] == (0, 0)
    # The others converged...
    assert TO_HOST2 in our_routes(lab, "host1") and TO_HOST3 in our_routes(lab, "host1")
    assert our_routes(lab, "host2") == sorted([TO_HOST1, TO_HOST3])
    assert faulty.changed_tasks()["host1"] == [ROUTES_TASK]
    # ...and no route of ours went anywhere, except a stale one after a full read.
    for host in ("host1", "host2"):
        gone = set(before[host]) - set(our_routes(lab, host))
        assert gone == ({STALE_LINE} if complete and host == "host1" else set()), (host, gone)
    assert ("Not purging stale routes" in faulty.out) is not complete

    hostgw_lab.restart_holder(lab.lab, "host3")
    assert lab.snapshot()["host3"] == host3, "host3 changed while unreachable"
    back = run(lab, lab.good_path)
    counts = back.changed()
    assert counts["host3"] > 0 and back.changed_tasks()["host3"] == [ROUTES_TASK]
    assert our_routes(lab, "host3") == sorted([TO_HOST1, TO_HOST2])
    assert STALE_LINE not in our_routes(lab, "host1")
    assert counts["host1"] == (0 if complete else 1) and counts["host2"] == 0
    assert set(run(lab, lab.good_path).changed().values()) == {0}

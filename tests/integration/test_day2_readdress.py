"""Day-2: a node's underlay IP changes (issue 11).

host3's eth0 moves from 10.168.0.3 to 10.168.0.13 and the inventory's
hostgw_node_ip follows.  During the one site.yml run that follows, pods on
the two other hosts keep talking without losing a packet; after it,
host3's pod is reachable again both ways, its peers route its subnet via
the new address (replaced in place: it keeps its subnet), and a second run
changes nothing.
"""

import copy

import pytest

import hostgw_lab
from tests.integration.day2kit import Pinger, container_ip, lab_inventory, make_lab, our_routes, pings, run
from tests.integration.labkit import nodes

pytestmark = pytest.mark.integration

OLD_IP, NEW_IP = "10.168.0.3", "10.168.0.13"
# One pod per host; host3's address comes from its allocated subnet (CNI's IPAM).
CONTAINERS = {"host1": {"pod1": "192.168.0.2"}, "host2": {"pod2": "192.168.1.2"}, "host3": {"pod3": None}}
# ping -i 0.2 during a run that takes many seconds on two busy cores.
MIN_PINGS = 10


@pytest.fixture
def lab(tmp_path):
    the_lab = make_lab(tmp_path, "hgwra", lambda name: lab_inventory(name, containers=CONTAINERS))
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


def test_a_readdressed_node_is_back_after_one_run_and_other_pods_lose_no_packet(lab):
    run(lab, lab.good_path).changed()
    lab.cli("attach")
    pod1, pod2, pod3 = (container_ip(lab, c) for c in ("pod1", "pod2", "pod3"))
    assert pod3.startswith("192.168.2.")
    assert pings(lab, "pod1", pod3) and pings(lab, "pod3", pod2)

    assert hostgw_lab.readdress(lab.lab, "host3", NEW_IP) == OLD_IP
    inv = copy.deepcopy(lab.good)
    nodes(inv)["hosts"]["host3"]["hostgw_node_ip"] = NEW_IP

    with Pinger.from_container(lab, "pod1", pod2) as pinger:
        moved = run(lab, inv, "--diff")
    counts = moved.changed()
    stats = pinger.stats
    assert stats.lost == [] and stats.received == stats.transmitted, (stats, pinger.lines[-5:])
    assert stats.during >= MIN_PINGS, stats

    # Back after one run, both ways, from both other hosts.
    for there, here in (("pod1", pod3), ("pod2", pod3), ("pod3", pod1), ("pod3", pod2)):
        assert pings(lab, there, here), "%s cannot reach %s" % (there, here)
    for peer in ("host1", "host2"):
        routes = our_routes(lab, peer)
        assert "192.168.2.0/24 via %s dev eth0 proto hostgw" % NEW_IP in routes, routes
        assert not [r for r in routes if " via %s " % OLD_IP in r], routes
    assert "-192.168.2.0/24 via 10.168.0.3 dev eth0" in moved.out
    assert "+192.168.2.0/24 via 10.168.0.13 dev eth0" in moved.out
    assert '"node_ip": "%s"' % NEW_IP in lab.on("host3", "cat", "/etc/podnet/hostgw.json").stdout
    assert counts["host1"] > 0 and counts["host2"] > 0 and counts["host3"] > 0

    assert set(run(lab, inv).changed().values()) == {0}

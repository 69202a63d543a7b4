"""Routes of other owners on a real lab are never touched (issue 7).

A route a routing daemon (a real BIRD, exporting through its kernel
protocol) or an administrator (``proto static``) put in host1's main table,
identical to the peer route site.yml would add there for host2 (the same
destination, next hop and metric), is left as it is: not re-tagged, not
purged when host2 leaves the inventory, and reported.  BIRD's other routes
stay byte-identical through converge, purge and reset.
"""

import contextlib
import copy
import os
import uuid

import pytest

from tests.integration.labkit import Lab, nodes, recap, warnings

pytestmark = pytest.mark.integration

RESET = ("-e", "hostgw_reset_confirmed=true")
# What site.yml routes on host1 for host2's pods (labkit's base inventory).
PEER_DEST, PEER_VIA = "192.168.1.0/24", "10.168.0.2"
OURS = "proto hostgw"


@pytest.fixture
def lab(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    the_lab = Lab("hgwfr%s" % uuid.uuid4().hex[:4], str(tmp_path))
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


def without_host2(lab):
    inv = copy.deepcopy(lab.good)
    del nodes(inv)["hosts"]["host2"]
    return inv


def routes_to(lab, host, dest):
    """HOST's main-table routes for DEST, as ``ip route`` lines."""
    out = lab.on(host, "ip", "-4", "route", "show", "table", "main").stdout
    return [line.strip() for line in out.splitlines() if line.startswith(dest + " ")]


@contextlib.contextmanager
def identical_route_of(lab, owner):
    """host1 gets PEER_DEST via PEER_VIA from OWNER: BIRD (yields it) or an
    administrator's ``ip route add ... proto static`` (yields None)."""
    if owner == "bird":
        with lab.bird("host1", [(PEER_DEST, PEER_VIA)]) as bird:
            yield bird
    else:
        added = lab.on("host1", "ip", "route", "add", PEER_DEST, "via", PEER_VIA, "dev", "eth0",
                       "proto", "static")
        assert added.returncode == 0, added.stderr
        yield None


@pytest.mark.parametrize("owner", ["bird", "static"])
def test_identical_route_of_another_owner_is_left_reported_and_never_purged(lab, owner):
    theirs = "%s via %s dev eth0 proto %s" % (PEER_DEST, PEER_VIA, owner)
    with identical_route_of(lab, owner) as bird:
        assert routes_to(lab, "host1", PEER_DEST) == [theirs]

        first = lab.site(lab.good_path, "--diff")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
        recap(first)
        # The run did route host1's other peer: the control.
        assert routes_to(lab, "host1", "192.168.2.0/24") == ["192.168.2.0/24 via 10.168.0.3 dev eth0 %s" % OURS]
        assert routes_to(lab, "host1", PEER_DEST) == [theirs], "the %s route was taken over" % owner
        reported = [w for w in warnings(first) if PEER_DEST in w]
        assert reported, "no warning names %s; warnings: %s" % (PEER_DEST, warnings(first))

        assert set(recap(lab.site(lab.good_path)).values()) == {0}

        # host2 leaves: our route to its pods would be purged; theirs stays.
        purge = lab.site(without_host2(lab))
        assert purge.returncode == 0, purge.stdout[-3000:] + purge.stderr[-2000:]
        recap(purge)
        assert routes_to(lab, "host1", PEER_DEST) == [theirs], "the %s route was purged" % owner
        if bird is not None:
            assert PEER_DEST in bird.birdc("show", "route")
            assert bird.kernel_routes() == [bird.kernel_line((PEER_DEST, PEER_VIA, 0))]


def test_birds_other_routes_stay_through_converge_purge_and_reset(lab):
    routes = [
        ("192.168.50.0/24", "10.168.0.254"),   # inside the cluster CIDR, no node's subnet
        ("192.168.2.0/24", "10.168.0.3", 100),  # host3's pod subnet, another metric than ours
        ("198.51.100.0/24", "10.168.0.2"),      # outside the cluster
    ]
    with lab.bird("host1", routes) as bird:
        theirs = bird.kernel_routes()
        assert theirs == sorted(bird.kernel_line(r + (0,) * (3 - len(r))) for r in routes)

        recap(lab.site(lab.good_path))
        assert "%s via %s dev eth0 %s" % (PEER_DEST, PEER_VIA, OURS) in routes_to(lab, "host1", PEER_DEST)
        assert "192.168.2.0/24 via 10.168.0.3 dev eth0 %s" % OURS in routes_to(lab, "host1", "192.168.2.0/24")
        assert bird.kernel_routes() == theirs, "converge"

        recap(lab.site(without_host2(lab)))
        assert routes_to(lab, "host1", PEER_DEST) == [], "the purge did not run"
        assert bird.kernel_routes() == theirs, "purge"

        recap(lab.site(lab.good_path, *RESET, playbook="playbooks/reset.yml"))
        assert OURS not in lab.on("host1", "ip", "-4", "route", "show", "table", "all").stdout
        assert bird.kernel_routes() == theirs, "reset"

        shown = bird.birdc("show", "route")
        assert all(route[0] in shown for route in routes), shown
        assert "podnet_lab_kernel Kernel     master4    up" in bird.birdc("show", "protocols")

"""Host2 left the inventory: every remaining host dropped its route, nothing else moved."""

from conftest import EXPECTED, tagged_routes


def test_remaining_cluster(check_cluster):
    check_cluster(["host1", "host3", "host4"])


def test_nobody_routes_to_the_host_that_left():
    for name in ("host1", "host3", "host4"):
        assert EXPECTED["host2"] not in [dst for dst, _via in tagged_routes(name)]

"""Day-2: hosts join and leave the pod network (issue 11).

Each lab has four lab hosts; host4 starts outside hostgw_nodes (a machine
that is up but not yet a node) or inside it (a node about to leave).

- Add a node with site.yml: the existing hosts keep their subnets and
  gain exactly one route each; on them, the routes task is the only one
  that reports a change.  The new host converges.
- Add a node with ``playbooks/scale.yml --limit host4`` (kubespray's way):
  the preflight reads every host, host4 converges, the others gain exactly
  that one route and run nothing else; a full site.yml run then changes
  nothing.  site.yml with the same --limit still refuses to allocate.
- Remove a node: every remaining host drops its route to it, routes of
  other owners (proto static, another table, the same prefix with another
  metric) stay, and the removed host itself is not touched.
"""

import json

import pytest

from tests.integration.day2kit import (HOST4, ROUTES_TASK, joined, lab_inventory, left, make_lab, our_routes,
                                       route_table, run)

pytestmark = pytest.mark.integration

OLD = ("host1", "host2", "host3")
HOST4_ROUTE = "192.168.3.0/24 via 10.168.0.4 dev eth0 proto hostgw"
HOST4_RECORDED = "192.168.3.0/24 via 10.168.0.4 dev eth0 table main metric 0"  # as the state file records it
SCALE_PEER_TASK = "Route the new hosts' pod subnets on every other host of the group"
READ_OTHERS = "podnet.hostgw.preflight : Read the group's hosts outside this batch (read-only)"
STATE_FILE = "/etc/podnet/hostgw-state.json"  # hostgw_state_path's default


def recorded_routes(lab, host):
    """The routes HOST's desired-state file records (what the reconcile command re-adds)."""
    return set(json.loads(lab.on(host, "cat", STATE_FILE).stdout)["sections"]["routes"]["routes"])


def without_state_file(snap):
    """SNAP without its IPv4 routes and the state file (in the lab host's /etc overlay: .../etc/upper/podnet/...)."""
    files = dict((k, v) for k, v in snap["files"].items() if not k.endswith("/upper" + STATE_FILE[len("/etc"):]))
    assert len(files) == len(snap["files"]) - 1, sorted(snap["files"])
    return dict(snap, routes4=None, files=files)


def outside(name):
    return lab_inventory(name, extra={"host4": HOST4})


@pytest.fixture
def lab(tmp_path):
    the_lab = make_lab(tmp_path, "hgwmb", outside)
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


def subnets(lab, hosts):
    """{host: cni0's addresses and the recorded assignment}."""
    return dict((h, (lab.on(h, "ip", "-4", "-o", "addr", "show", "dev", "cni0").stdout.split()[3],
                     lab.on(h, "cat", "/etc/podnet/hostgw.json").stdout)) for h in hosts)


def assert_converged(lab, host, subnet, peers):
    """HOST has its pod bridge on SUBNET and routes every peer (host: (subnet, node IP))."""
    gateway = subnet.replace(".0/24", ".1/24")
    assert lab.on(host, "ip", "-4", "-o", "addr", "show", "dev", "cni0").stdout.split()[3] == gateway
    assert our_routes(lab, host) == sorted("%s via %s dev eth0 proto hostgw" % p for p in peers.values())
    assert '"subnet": "%s"' % subnet in lab.on(host, "cat", "/etc/cni/net.d/10-podnet.conflist").stdout


def gained(before, after):
    """(routes added, routes removed) between two snapshots of one host, all tables."""
    old, new = (set(line.strip() for line in snap["routes4"].splitlines()) for snap in (before, after))
    return new - old, old - new


PEERS = {"host1": ("192.168.0.0/24", "10.168.0.1"), "host2": ("192.168.1.0/24", "10.168.0.2"),
         "host3": ("192.168.2.0/24", "10.168.0.3")}


def test_adding_a_node_gives_each_host_one_route_and_changes_nothing_else(lab):
    run(lab, lab.good_path).changed()
    before = dict((h, route_table(lab, h)) for h in OLD)
    kept = subnets(lab, OLD)
    untouched = lab.snapshot()["host4"]

    added = run(lab, joined(lab.good, "host4"))
    counts = added.changed()
    tasks = added.changed_tasks()
    for host in OLD:
        assert tasks[host] == [ROUTES_TASK], (host, tasks[host])
        after = route_table(lab, host)
        assert sorted(set(after) - set(before[host])) == [HOST4_ROUTE] and set(before[host]) <= set(after), host
    assert subnets(lab, OLD) == kept
    assert counts["host4"] > 0 and lab.snapshot()["host4"] != untouched
    assert_converged(lab, "host4", "192.168.3.0/24", PEERS)
    assert set(run(lab, joined(lab.good, "host4")).changed().values()) == {0}


def test_scale_adds_a_node_with_limit_and_touches_only_the_new_routes_elsewhere(lab):
    run(lab, lab.good_path).changed()
    inv = joined(lab.good, "host4")
    snap = lab.snapshot()
    recorded = dict((h, recorded_routes(lab, h)) for h in OLD)

    # site.yml cannot plan a new host's subnet while its peers are outside --limit.
    refused = lab.site(inv, "--limit", "host4")
    assert refused.returncode != 0
    # (host1 and host2 have explicit subnets; host3 has only its record)
    assert ("cannot allocate IPv4 pod subnets for host4 while host3 cannot be read "
            "(unreachable or outside --limit)") in " ".join(refused.stdout.split()), refused.stdout[-3000:]
    assert lab.snapshot() == snap

    scaled = run(lab, inv, "--limit", "host4", playbook="playbooks/scale.yml")
    assert sorted(scaled.changed()) == ["host4"]  # the play's only host
    tasks = scaled.changed_tasks()
    assert sorted(tasks) == ["host1", "host2", "host3", "host4"]
    for host in OLD:
        # Read by delegation, then exactly one task with one route; no other task ran there.
        assert tasks[host] == [SCALE_PEER_TASK], (host, tasks[host])
        assert set(e["task"] for e in scaled.log if e["host"] == host) == {READ_OTHERS, SCALE_PEER_TASK}, host
        assert scaled.results(READ_OTHERS)[host] == "ok"
    after = lab.snapshot()
    for host in OLD:
        assert gained(snap[host], after[host]) == ({HOST4_ROUTE}, set()), host
        # Besides the route, only the desired-state file changed: it records the new route too.
        assert without_state_file(after[host]) == without_state_file(snap[host]), host
        assert recorded_routes(lab, host) - recorded[host] == {HOST4_RECORDED}, host
        assert recorded[host] <= recorded_routes(lab, host), host
    assert_converged(lab, "host4", "192.168.3.0/24", PEERS)

    assert set(run(lab, inv).changed().values()) == {0}


FOREIGN = {
    # (host, argv after 'ip route add'): routes the collection did not make.
    "static": ["192.168.50.0/24", "via", "10.168.0.254", "dev", "eth0", "proto", "static"],
    "same prefix, another metric": ["192.168.3.0/24", "via", "10.168.0.4", "dev", "eth0", "proto", "static",
                                    "metric", "100"],
    "another table, our protocol": ["192.168.3.0/24", "via", "10.168.0.4", "dev", "eth0", "proto", "hostgw",
                                    "table", "100"],
    "another table": ["192.168.60.0/24", "via", "10.168.0.254", "dev", "eth0", "proto", "static",
                      "table", "100"],
}


def test_removing_a_node_drops_its_route_everywhere_and_nothing_else(lab):
    member = joined(lab.good, "host4")
    run(lab, member).changed()
    for host in OLD:
        assert HOST4_ROUTE in our_routes(lab, host)
        for argv in FOREIGN.values():
            assert lab.on(host, "ip", "route", "add", *argv).returncode == 0, argv
    before = lab.snapshot()
    recorded = dict((h, recorded_routes(lab, h)) for h in OLD)

    removed = run(lab, left(member, "host4"))
    counts = removed.changed()
    assert sorted(counts) == list(OLD)
    tasks = removed.changed_tasks()
    after = lab.snapshot()
    for host in OLD:
        assert tasks[host] == [ROUTES_TASK], (host, tasks[host])
        assert gained(before[host], after[host]) == (set(), {HOST4_ROUTE}), host
        # Besides the route, only the desired-state file changed: it no longer records it.
        assert without_state_file(after[host]) == without_state_file(before[host]), host
        assert recorded[host] - recorded_routes(lab, host) == {HOST4_RECORDED}, host
        assert recorded_routes(lab, host) <= recorded[host], host
    assert after["host4"] == before["host4"], "the removed host was touched"
    assert set(run(lab, left(member, "host4")).changed().values()) == {0}

"""Day-2: rolling runs, two hosts at a time (issue 11).

With ``serial``, each batch used to run the preflight again, from a view of
the batch alone: the first batch could not allocate (the hosts of later
batches were unread), routed nothing to the hosts it could not read, and
planned without them.  Now the first batch reads the later batches' hosts
by delegation and plans the whole group once; later batches take that plan
(no read, no second plan), so every batch uses the same subnets, and a
route to a host outside the batch is never purged.

- site.yml -e hostgw_serial=2: a node joins a converged cluster; one
  rolling run routes it everywhere, purges a stale route in the first batch
  (a complete view), plans once, and the next runs change nothing.
- A play of the roles with serial: 2 and max_fail_percentage: 50 on a fresh
  four-host lab: host2 fails in the first batch, the batches go on with the
  one plan (everyone routes host2's planned subnet), and once host2 is
  fixed one run converges it alone.
- A host of a later batch that cannot be read: the first batch refuses to
  allocate and nothing changes.
"""

import pytest
import yaml

import hostgw_lab
from tests.integration.day2kit import HOST4, joined, lab_inventory, make_lab, our_routes, run
from tests.integration.labkit import base_inventory, nodes

pytestmark = pytest.mark.integration

HOSTS = ("host1", "host2", "host3", "host4")
NODES = {"host1": ("192.168.0.0/24", "10.168.0.1"), "host2": ("192.168.1.0/24", "10.168.0.2"),
         "host3": ("192.168.2.0/24", "10.168.0.3"), "host4": ("192.168.3.0/24", "10.168.0.4")}
PLAN_TASK = "podnet.hostgw.preflight : Plan and validate the whole cluster once"
READ_OTHERS = "podnet.hostgw.preflight : Read the group's hosts outside this batch (read-only)"
READ_OWN = "podnet.hostgw.preflight : Read the host (read-only)"
STALE = ["192.168.77.0/24", "via", "10.168.0.9", "dev", "eth0", "proto", "hostgw"]
STALE_LINE = "192.168.77.0/24 via 10.168.0.9 dev eth0 proto hostgw"
SERIAL = ("-e", "hostgw_serial=2")


def four(name):
    inv = base_inventory(name)
    nodes(inv)["hosts"]["host4"] = dict(HOST4)
    return inv


def mesh(host):
    """HOST's routes in a converged four-host cluster."""
    return sorted("%s via %s dev eth0 proto hostgw" % NODES[peer] for peer in HOSTS if peer != host)


def assert_mesh(lab, hosts=HOSTS):
    for host in hosts:
        assert our_routes(lab, host) == mesh(host), host
        subnet = NODES[host][0]
        gateway = subnet.replace(".0/24", ".1/24")
        assert lab.on(host, "ip", "-4", "-o", "addr", "show", "dev", "cni0").stdout.split()[3] == gateway, host


@pytest.fixture
def joining(tmp_path):
    """A three-host lab with host4 up, outside hostgw_nodes."""
    the_lab = make_lab(tmp_path, "hgwrj", lambda name: lab_inventory(name, extra={"host4": HOST4}))
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture
def fresh(tmp_path):
    """A fresh four-host lab: host1 and host2 with explicit subnets, host3 and host4 allocated."""
    the_lab = make_lab(tmp_path, "hgwrf", four)
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


def test_a_rolling_site_run_plans_once_from_the_whole_group(joining):
    lab = joining
    run(lab, lab.good_path).changed()
    assert lab.on("host1", "ip", "route", "add", *STALE).returncode == 0
    inv = joined(lab.good, "host4")

    rolled = run(lab, inv, *SERIAL)
    rolled.changed()
    assert_mesh(lab)
    assert STALE_LINE not in our_routes(lab, "host1"), "the first batch did not plan from a complete view"
    # One plan: the first batch read host3 and host4 by delegation; the second batch read nothing again.
    assert rolled.results(PLAN_TASK) == {"host1": "ok", "host3": "skipped"}
    assert rolled.results(READ_OTHERS) == {"host3": "ok", "host4": "ok"}
    assert rolled.results(READ_OWN) == {"host1": "ok", "host2": "ok", "host3": "skipped", "host4": "skipped"}

    assert set(run(lab, inv, *SERIAL).changed().values()) == {0}
    assert set(run(lab, inv).changed().values()) == {0}


def test_batches_go_on_past_a_failed_host_with_one_plan(fresh, tmp_path):
    lab = fresh
    play = tmp_path / "rolling.yml"
    play.write_text(yaml.safe_dump([{
        "name": "The roles, two hosts at a time", "hosts": "hostgw_nodes", "gather_facts": False,
        "serial": 2, "max_fail_percentage": 50,
        "roles": ["podnet.hostgw.%s" % r
                  for r in ("preflight", "record", "bridge", "forwarding", "routes", "cni", "reconcile")],
    }]))
    # A link of another kind where host2's bridge goes: the bridge module fails there.
    assert lab.on("host2", "ip", "link", "add", "cni0", "type", "veth", "peer", "name", "cni0p").returncode == 0

    rolled = run(lab, lab.good_path, playbook=str(play))
    assert rolled.proc.returncode == 2, rolled.out[-4000:]
    counts = rolled.recap()
    assert counts["host2"][2] == 1
    assert all(counts[h][1:] == (0, 0) and counts[h][0] > 0 for h in ("host1", "host3", "host4")), counts
    # Everyone else routes host2's planned subnet and the others' subnets as the first batch planned them.
    assert_mesh(lab, ("host1", "host3", "host4"))

    assert lab.on("host2", "ip", "link", "del", "cni0").returncode == 0
    again = run(lab, lab.good_path, playbook=str(play))
    counts = again.changed()
    assert counts["host2"] > 0 and all(counts[h] == 0 for h in ("host1", "host3", "host4")), counts
    assert_mesh(lab)
    assert set(run(lab, lab.good_path, *SERIAL).changed().values()) == {0}


def test_a_later_batch_host_that_cannot_be_read_stops_allocation(fresh):
    lab = fresh
    before = lab.snapshot()
    hostgw_lab.stop_holder(lab.lab, "host4")
    try:
        refused = run(lab, lab.good_path, *SERIAL)
        assert refused.proc.returncode != 0
        assert ("cannot allocate IPv4 pod subnets for host3 while host4 cannot be read "
                "(unreachable or outside --limit)") in " ".join(refused.proc.stdout.split()), refused.out[-3000:]
        assert refused.results(READ_OTHERS) == {"host3": "ok", "host4": "unreachable"}
    finally:
        hostgw_lab.restart_holder(lab.lab, "host4")
    assert lab.snapshot() == before

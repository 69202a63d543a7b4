"""Role tags on a converged lab: --tags hostgw_routes puts back a route
deleted by hand and runs nothing but the preflight (the plan, tagged always)
and the routes role; --skip-tags hostgw_cni runs everything but the cni role."""

import os
import re
import uuid

import pytest

from tests.integration.labkit import Lab, recap

pytestmark = pytest.mark.integration

CONFLIST = "/etc/cni/net.d/10-podnet.conflist"
ROUTE = "192.168.1.0/24 via 10.168.0.2 dev eth0 proto hostgw"
# The banner of each task that ran; Ansible's own argument validation of a
# role (tagged always) is not the role's work.
TASK = re.compile(r"^TASK \[podnet\.hostgw\.(\w+) : (.*)\]", re.M)


@pytest.fixture
def lab(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    the_lab = Lab("hgwtg%s" % uuid.uuid4().hex[:4], str(tmp_path))
    the_lab.up()
    try:
        recap(the_lab.site(the_lab.good_path))
        yield the_lab
    finally:
        the_lab.down()


def roles_that_ran(proc):
    return {role for role, task in TASK.findall(proc.stdout) if not task.startswith("Validating arguments")}


def break_route_and_conflist(lab):
    assert lab.on("host1", "ip", "route", "del", "192.168.1.0/24").returncode == 0
    assert lab.on("host1", "rm", CONFLIST).returncode == 0
    assert ROUTE not in lab.on("host1", "ip", "route").stdout


def without(snapshot, host, key):
    return {h: {k: v for k, v in state.items() if (h, k) != (host, key)} for h, state in snapshot.items()}


def test_tags_run_one_role_and_the_plan(lab):
    break_route_and_conflist(lab)
    broken = lab.snapshot()

    proc = lab.site(lab.good_path, "--tags", "hostgw_routes")
    assert recap(proc) == {"host1": 1, "host2": 0, "host3": 0}
    assert roles_that_ran(proc) == {"preflight", "routes"}, proc.stdout[-3000:]
    mended = lab.snapshot()
    assert ROUTE in mended["host1"]["routes4"]
    # Only the route came back: the conflist is still gone, nothing else moved.
    assert lab.on("host1", "test", "-e", CONFLIST).returncode == 1
    assert without(mended, "host1", "routes4") == without(broken, "host1", "routes4")

    assert lab.on("host1", "ip", "route", "del", "192.168.1.0/24").returncode == 0
    proc = lab.site(lab.good_path, "--skip-tags", "hostgw_cni")
    assert recap(proc) == {"host1": 1, "host2": 0, "host3": 0}
    assert roles_that_ran(proc) == {"preflight", "record", "bridge", "forwarding", "routes", "reconcile"}, \
        proc.stdout[-3000:]
    assert ROUTE in lab.on("host1", "ip", "route").stdout
    assert lab.on("host1", "test", "-e", CONFLIST).returncode == 1

    # The whole play again: only the conflist was missing.
    assert recap(lab.site(lab.good_path)) == {"host1": 1, "host2": 0, "host3": 0}
    assert lab.on("host1", "test", "-f", CONFLIST).returncode == 0


def test_the_preflight_tag_alone_validates_and_changes_nothing(lab):
    break_route_and_conflist(lab)
    broken = lab.snapshot()
    proc = lab.site(lab.good_path, "--tags", "hostgw_preflight")
    assert set(recap(proc).values()) == {0}
    assert roles_that_ran(proc) == {"preflight"}
    assert lab.snapshot() == broken

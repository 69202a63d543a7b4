"""site.yml and reset.yml end to end on a real lab: --check predicts the real
run, the second run changes nothing, reset leaves no trace and is itself
idempotent, and day-2 re-addressing leaves no stale address or route."""

import copy
import uuid

import pytest

from tests.integration.labkit import Lab, nodes, recap

pytestmark = pytest.mark.integration

RESET = ("-e", "hostgw_reset_confirmed=true")


@pytest.fixture
def lab(tmp_path):
    import os

    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    the_lab = Lab("hgwst%s" % uuid.uuid4().hex[:4], str(tmp_path))
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


def test_check_predicts_idempotent_site_then_reset_leaves_no_trace(lab):
    pristine = lab.snapshot()

    predicted = recap(lab.site(lab.good_path, "--check", "--diff"))
    assert lab.snapshot() == pristine, "--check changed a host"
    real = lab.site(lab.good_path, "--diff")
    assert recap(real) == predicted
    assert all(changed > 0 for changed in predicted.values())
    assert "+192.168.1.0/24 via 10.168.0.2 dev eth0" in real.stdout  # the route diff is readable
    converged = lab.snapshot()
    assert "192.168.1.0/24 via 10.168.0.2 dev eth0 proto hostgw" in converged["host1"]["routes4"]

    assert set(recap(lab.site(lab.good_path)).values()) == {0}
    assert set(recap(lab.site(lab.good_path, "--check")).values()) == {0}

    reset_predicted = recap(lab.site(lab.good_path, "--check", *RESET, playbook="playbooks/reset.yml"))
    assert lab.snapshot() == converged, "reset --check changed a host"
    assert recap(lab.site(lab.good_path, *RESET, playbook="playbooks/reset.yml")) == reset_predicted
    assert lab.snapshot() == pristine, "reset left a trace"
    assert set(recap(lab.site(lab.good_path, *RESET, playbook="playbooks/reset.yml")).values()) == {0}


def test_reset_without_confirmation_changes_nothing(lab):
    recap(lab.site(lab.good_path))
    converged = lab.snapshot()
    proc = lab.site(lab.good_path, "-e", "hostgw_reset_confirmed=false", playbook="playbooks/reset.yml")
    # No terminal: the prompt gets no 'yes'.
    assert proc.returncode != 0
    assert "Reset not confirmed; nothing was changed." in proc.stdout
    assert lab.snapshot() == converged


def test_readdressing_a_node_moves_its_gateway_and_routes_in_place(lab):
    recap(lab.site(lab.good_path))
    inv = copy.deepcopy(lab.good)
    nodes(inv)["hosts"]["host2"]["hostgw_pod_subnet"] = "192.168.7.0/24"
    proc = lab.site(inv, "--diff")
    assert recap(proc)["host2"] > 0
    after = lab.snapshot()
    host2_addrs = "\n".join(after["host2"]["addrs"])
    assert "192.168.7.1/24" in host2_addrs and "192.168.1.1/24" not in host2_addrs
    assert "192.168.7.0/24 via 10.168.0.2 dev eth0 proto hostgw" in after["host1"]["routes4"]
    assert "192.168.1.0/24" not in after["host1"]["routes4"]
    assert '"subnet": "192.168.7.0/24"' in lab.on("host2", "cat", "/etc/cni/net.d/10-podnet.conflist").stdout
    assert '"pod_subnet": "192.168.7.0/24"' in lab.on("host2", "cat", "/etc/podnet/hostgw.json").stdout
    assert set(recap(lab.site(inv)).values()) == {0}


def test_route_deleted_by_hand_heals_on_the_next_run(lab):
    recap(lab.site(lab.good_path))
    assert lab.on("host1", "ip", "route", "del", "192.168.1.0/24").returncode == 0
    assert lab.on("host2", "ip", "route", "replace", "192.168.0.0/24", "via", "10.168.0.3", "proto",
                  "252").returncode == 0
    changed = recap(lab.site(lab.good_path))
    assert changed == {"host1": 1, "host2": 1, "host3": 0}
    snap = lab.snapshot()
    assert "192.168.1.0/24 via 10.168.0.2 dev eth0 proto hostgw" in snap["host1"]["routes4"]
    assert "192.168.0.0/24 via 10.168.0.1 dev eth0 proto hostgw" in snap["host2"]["routes4"]

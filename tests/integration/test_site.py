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
    assert "+OnUnitActiveSec=10s" in real.stdout  # the reconcile timer, as text
    assert "  write /usr/local/lib/podnet-hostgw/podnet_hostgw/reconcile.py" in real.stdout  # the engine, as paths
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


def test_verify_prints_the_matrix_fails_on_a_broken_pair_and_cleans_up(lab):
    recap(lab.site(lab.good_path))
    good = lab.site(lab.good_path, playbook="playbooks/verify.yml")
    assert good.returncode == 0, good.stdout[-3000:]
    assert set(recap(good).values()) == {0}
    assert "IPv4: row pings column" in good.stdout
    # Break host3's way to host1's pods behind the collection's back.
    assert lab.on("host3", "ip", "route", "del", "192.168.0.0/24").returncode == 0
    bad = lab.site(lab.good_path, playbook="playbooks/verify.yml")
    assert bad.returncode != 0
    assert "host3 cannot reach: host1 (IPv4 192.168.0.254)" in bad.stdout
    assert "\u2717" in bad.stdout
    for host in ("host1", "host2", "host3"):
        assert "podnet-verify" not in lab.on(host, "ip", "netns", "list").stdout
        assert "podnet-vfy0" not in lab.on(host, "ip", "-o", "link", "show").stdout


def test_flannel_subnet_env_and_render(lab, tmp_path):
    recap(lab.site(lab.good_path, "-e", "hostgw_flannel_subnet_env=true"))
    env = lab.on("host2", "cat", "/run/flannel/subnet.env").stdout
    assert env == ("FLANNEL_NETWORK=192.168.0.0/16\nFLANNEL_SUBNET=192.168.1.1/24\n"
                   "FLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n")
    before = lab.snapshot()
    out = tmp_path / "render"
    proc = lab.site(lab.good_path, "-e", "hostgw_render_dir=%s" % out, playbook="playbooks/render.yml")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert lab.snapshot() == before, "render touched a host"
    assert (out / "hosts" / "host1.routes").read_text() == (
        "192.168.1.0/24 via 10.168.0.2 dev eth0 proto hostgw\n"
        "192.168.2.0/24 via 10.168.0.3 dev eth0 proto hostgw\n")
    table = (out / "cluster.md").read_text()
    assert "| host3 | 10.168.0.3 | eth0 | 192.168.2.0/24 | 192.168.2.1/24 | 1500 | recorded |" in table
    assert "routes:\n- dest: 192.168.0.0/24" in (out / "hosts" / "host2.yml").read_text()


def test_nexthop_objects_switch_on_and_off_and_pods_still_talk(lab):
    recap(lab.site(lab.good_path))
    on = ("-e", "hostgw_route_nexthop_objects=true")
    assert recap(lab.site(lab.good_path, *on)) == {"host1": 1, "host2": 1, "host3": 1}
    routes = lab.on("host1", "ip", "route", "show", "proto", "hostgw").stdout
    assert "192.168.1.0/24 nhid" in routes and "via 10.168.0.2 dev eth0" in routes
    assert "proto hostgw" in lab.on("host1", "ip", "nexthop", "show").stdout
    assert set(recap(lab.site(lab.good_path, *on)).values()) == {0}
    verify = lab.site(lab.good_path, playbook="playbooks/verify.yml")
    assert verify.returncode == 0, verify.stdout[-3000:]
    assert recap(lab.site(lab.good_path)) == {"host1": 1, "host2": 1, "host3": 1}
    assert "nhid" not in lab.on("host1", "ip", "route", "show", "proto", "hostgw").stdout
    assert lab.on("host1", "ip", "nexthop", "show").stdout.strip() == ""
    assert set(recap(lab.site(lab.good_path)).values()) == {0}

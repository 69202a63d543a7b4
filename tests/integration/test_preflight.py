"""Preflight on a real lab: every bad input stops site.yml with one clear
message naming the host and value, and no host has changed at all.

One three-host lab (never converged) serves every case; each case runs
site.yml with an inventory that differs from the good one in one place, and
compares a snapshot of every host (routes in all tables, links, addresses,
nftables, forwarding sysctls, files written under the host's /etc, /var/lib
and /opt) before and after.
"""

import copy
import os
import uuid

import pytest

from tests.integration.labkit import Lab, nodes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    tmp = str(tmp_path_factory.mktemp("preflight"))
    the_lab = Lab("hgwpf%s" % uuid.uuid4().hex[:4], tmp)
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


def _with(lab, change):
    inv = copy.deepcopy(lab.good)
    change(inv)
    return inv


def host_var(host, key, value):
    def change(inv):
        nodes(inv)["hosts"][host][key] = value
    return change


def cluster_var(key, value):
    def change(inv):
        nodes(inv)["vars"][key] = value
    return change


CASES = [
    ("subnet outside the cluster CIDR", host_var("host2", "hostgw_pod_subnet", "10.99.1.0/24"),
     "host2: hostgw_pod_subnet '10.99.1.0/24' is outside hostgw_cluster_cidr '192.168.0.0/16'"),
    ("overlapping subnets", host_var("host2", "hostgw_pod_subnet", "192.168.0.0/23"),
     "pod subnets overlap: host2 has '192.168.0.0/23' (hostgw_pod_subnet) and host1 has '192.168.0.0/24'"),
    ("host bits set", host_var("host1", "hostgw_pod_subnet", "192.168.0.1/24"),
     "host1: hostgw_pod_subnet '192.168.0.1/24' has host bits set; did you mean 192.168.0.0/24?"),
    ("not an address", host_var("host1", "hostgw_pod_subnet", "192.168.0.300/24"),
     "host1: hostgw_pod_subnet '192.168.0.300/24' is not an IPv4 network"),
    ("invalid cluster CIDR", cluster_var("hostgw_cluster_cidr", "192.168.0.0/33"),
     "hostgw_cluster_cidr '192.168.0.0/33' is not an IPv4 network"),
    ("cluster CIDR overlapping the underlay", cluster_var("hostgw_cluster_cidr", "10.0.0.0/8"),
     "host1: hostgw_cluster_cidr '10.0.0.0/8' overlaps the underlay network 10.168.0.0/24 on eth0"),
    ("node IP not on the host", host_var("host3", "hostgw_node_ip", "10.168.0.77"),
     "host3: node IP '10.168.0.77' is not an address of this host (it has 10.168.0.3)"),
    ("invalid node IP", host_var("host3", "hostgw_node_ip", "10.168.0"),
     "host3: hostgw_node_ip '10.168.0' is not an IPv4 address"),
    ("missing interface", host_var("host2", "hostgw_interface", "ens9"),
     "host2: hostgw_interface 'ens9' does not exist (the host has eth0, lo)"),
    ("peer off the L2 segment", host_var("host3", "hostgw_interface", "lo"),
     "host3: peer host1's node IP 10.168.0.1 is not directly reachable on lo (connected: none); "
     "host-gw needs every node on one L2 segment"),
    ("MTU out of range", cluster_var("hostgw_bridge_mtu", 40),
     "hostgw_bridge_mtu '40' is out of range (0 = the underlay's MTU, else 68..65535)"),
    ("exhausted cluster CIDR", cluster_var("hostgw_cluster_cidr", "192.168.0.0/23"),
     "hostgw_cluster_cidr '192.168.0.0/23' has no free /24 left for host3 (3 hosts, 2 blocks of /24)"),
    ("subnet prefix out of range", cluster_var("hostgw_subnet_prefix", 31),
     "hostgw_subnet_prefix '31' must lie between the cluster CIDR's /16 and /30"),
]


@pytest.mark.parametrize("change,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_with_one_message_and_changes_no_host(lab, change, message):
    before = lab.snapshot()
    proc = lab.site(_with(lab, change))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "podnet.hostgw preflight:" in out and "no host was changed" in out
    assert message in out, out[-3000:]
    assert lab.snapshot() == before


def test_duplicate_node_ips(lab):
    # Give host3 host1's underlay address too: both really hold it.
    assert lab.on("host3", "ip", "addr", "add", "10.168.0.1/32", "dev", "lo").returncode == 0
    try:
        before = lab.snapshot()
        proc = lab.site(_with(lab, host_var("host3", "hostgw_node_ip", "10.168.0.1")))
        assert proc.returncode != 0
        assert "duplicate node IP '10.168.0.1': host1, host3" in proc.stdout
        assert lab.snapshot() == before
    finally:
        lab.on("host3", "ip", "addr", "del", "10.168.0.1/32", "dev", "lo")


def test_pod_subnet_overlapping_an_underlay_network(lab):
    # host2 has another link in host1's pod subnet (a leftover docker-style network).
    assert lab.on("host2", "ip", "link", "add", "extra0", "type", "veth", "peer", "name", "extra1").returncode == 0
    assert lab.on("host2", "ip", "addr", "add", "192.168.0.77/24", "dev", "extra0").returncode == 0
    try:
        before = lab.snapshot()
        proc = lab.site(lab.good_path)
        assert proc.returncode != 0
        assert ("host2: pod subnet '192.168.0.0/24' of host1 overlaps the underlay network 192.168.0.0/24 "
                "on extra0") in proc.stdout
        assert lab.snapshot() == before
    finally:
        lab.on("host2", "ip", "link", "del", "extra0")


def test_zz_good_input_changes_hosts_and_keeps_foreign_routes(lab):
    """The control: the same snapshot does see a real run's changes, and a
    route of another owner inside the cluster CIDR is left alone."""
    assert lab.on("host1", "ip", "route", "add", "192.168.50.0/24", "via", "10.168.0.254",
                  "proto", "static").returncode == 0
    before = lab.snapshot()
    proc = lab.site(lab.good_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    after = lab.snapshot()
    assert after != before
    assert "192.168.1.0/24 via 10.168.0.2 dev eth0 proto hostgw" in after["host1"]["routes4"]
    assert "192.168.50.0/24 via 10.168.0.254 dev eth0 proto static" in after["host1"]["routes4"]
    # host3 was allocated the lowest free block and recorded it.
    assert "192.168.2.0/24 via 10.168.0.3 dev eth0 proto hostgw" in after["host1"]["routes4"]
    again = lab.site(lab.good_path, "--check", "--diff")
    assert again.returncode == 0
    assert "changed=0" in again.stdout and "changed=1" not in again.stdout

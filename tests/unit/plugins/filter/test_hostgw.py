import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.hostgw.plugins.filter import hostgw as f

PLAN = {
    "cluster": {"cluster_cidr": "192.168.0.0/16", "cluster_cidr_v6": "", "bridge": "cni0"},
    "nodes": {"host1": {"interface": "eth0"}, "host2": {"interface": "ens5"}, "host3": {"interface": "eth0"}},
    "routes": [{"owner": "host1", "dest": "192.168.0.0/24", "via": "10.168.0.1"},
               {"owner": "host2", "dest": "192.168.1.0/24", "via": "10.168.0.2"},
               {"owner": "host3", "dest": "192.168.2.0/24", "via": "10.168.0.3"}],
    "complete": True,
}


def test_peer_routes_exclude_own_and_use_own_device():
    assert f.hostgw_peer_routes(PLAN, "host2") == [
        {"dest": "192.168.0.0/24", "via": "10.168.0.1", "dev": "ens5"},
        {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "ens5"},
    ]


def test_peer_route_lines_are_the_compact_ip_route_form():
    assert f.hostgw_peer_route_lines(PLAN, "host2") == [
        "192.168.0.0/24 via 10.168.0.1 dev ens5", "192.168.2.0/24 via 10.168.0.3 dev ens5"]


def test_route_lines_read_like_ip_route():
    lines = f.hostgw_peer_route_lines(PLAN, "host1", "hostgw")
    assert lines[0] == "192.168.1.0/24 via 10.168.0.2 dev eth0 proto hostgw"


def test_unknown_host_and_wrong_input_fail_clearly():
    with pytest.raises(AnsibleFilterError, match="host9 is not in the cluster plan"):
        f.hostgw_peer_routes(PLAN, "host9")
    with pytest.raises(AnsibleFilterError, match="expected the cluster plan"):
        f.hostgw_peer_route_lines({"nodes": {}}, "host1")


NODE = {"pod_subnet": "192.168.1.0/24", "gateway": "192.168.1.1/24",
        "pod_subnet_v6": "fd00:10:0:1::/64", "gateway_v6": "fd00:10:0:1::1/64"}


def test_cni_ranges_end_before_the_verify_address():
    assert f.hostgw_cni_ranges(NODE) == [
        [{"subnet": "192.168.1.0/24", "gateway": "192.168.1.1", "rangeEnd": "192.168.1.253"}],
        [{"subnet": "fd00:10:0:1::/64", "gateway": "fd00:10:0:1::1", "rangeEnd": "fd00:10:0:1:ffff:ffff:ffff:fffd"}],
    ]
    assert f.hostgw_cni_ranges(dict(NODE, pod_subnet_v6="", gateway_v6="")) == \
        [[{"subnet": "192.168.1.0/24", "gateway": "192.168.1.1", "rangeEnd": "192.168.1.253"}]]


def _plan_with(nodes):
    return dict(PLAN, nodes=nodes)


def test_verify_addresses_and_targets():
    plan = _plan_with({"a": dict(NODE, interface="eth0"),
                       "b": {"pod_subnet": "192.168.2.0/24", "gateway": "192.168.2.1/24",
                             "pod_subnet_v6": "", "gateway_v6": "", "interface": "eth0"}})
    assert f.hostgw_verify_address(plan, "a") == {"4": "192.168.1.254", "6": "fd00:10:0:1:ffff:ffff:ffff:fffe"}
    assert f.hostgw_verify_targets(plan, "b") == [
        {"host": "a", "family": "4", "ip": "192.168.1.254"},
        {"host": "a", "family": "6", "ip": "fd00:10:0:1:ffff:ffff:ffff:fffe"},
    ]
    assert f.hostgw_verify_targets(plan, "a", hosts=["a"]) == []
    assert f.hostgw_target_label({"host": "a", "family": "6", "ip": "fd00::1"}) == "a (IPv6 fd00::1)"


def test_ping_matrix_marks_success_latency_and_failure():
    ok = {"rc": 0, "item": {"host": "b", "family": "4"},
          "stdout": "rtt min/avg/max/mdev = 0.050/0.061/0.070/0.010 ms"}
    bad = {"rc": 1, "item": {"host": "a", "family": "4"}, "stdout": "100% packet loss"}
    lines = f.hostgw_ping_matrix(["a", "b"], [{"results": [ok]}, {"results": [bad]}])
    assert lines[0] == "IPv4: row pings column"
    assert lines[2].split() == ["a", "-", "\u2713", "0.061", "ms"]
    assert lines[3].split() == ["b", "\u2717", "-"]


def test_cluster_table_lists_every_node_and_source():
    plan = _plan_with({"a": dict(NODE, name="a", node_ip="10.0.0.1", node_ip_v6="fd00::1", interface="eth0",
                                 mtu=1500, source="allocated", source_v6="recorded")})
    plan["routes"] = []
    text = f.hostgw_cluster_table(plan)
    assert "| a | 10.0.0.1 | eth0 | 192.168.1.0/24 | 192.168.1.1/24 | 1500 | allocated |" in text
    assert "| a | fd00::1 | eth0 | fd00:10:0:1::/64 | fd00:10:0:1::1/64 | 1500 | recorded |" in text

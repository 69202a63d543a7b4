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


def test_route_map_covers_every_node():
    m = f.hostgw_route_map(PLAN)
    assert sorted(m) == ["host1", "host2", "host3"]
    assert all(len(routes) == 2 for routes in m.values())


def test_route_lines_read_like_ip_route():
    lines = f.hostgw_route_lines(f.hostgw_peer_routes(PLAN, "host1"))
    assert lines[0] == "192.168.1.0/24 via 10.168.0.2 dev eth0 proto hostgw"


def test_unknown_host_and_wrong_input_fail_clearly():
    with pytest.raises(AnsibleFilterError, match="host9 is not in the cluster plan"):
        f.hostgw_peer_routes(PLAN, "host9")
    with pytest.raises(AnsibleFilterError, match="expected the cluster plan"):
        f.hostgw_route_map({"nodes": {}})

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.hostgw.plugins.filter import hostgw as f


def node(name, ip, subnet, dev="eth0"):
    return {"name": name, "node_ip": ip, "pod_subnet": subnet, "interface": dev}


def test_route_map_is_the_seeds_mirror():
    m = f.hostgw_route_map([node("host1", "10.168.0.1", "192.168.0.0/24"),
                            node("host2", "10.168.0.2", "192.168.1.0/24")])
    assert m == {
        "host1": [{"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0"}],
        "host2": [{"dest": "192.168.0.0/24", "via": "10.168.0.1", "dev": "eth0"}],
    }


def test_route_map_one_route_per_peer_on_own_device_sorted():
    nodes = [node("c", "10.0.0.3", "10.244.10.0/24", "ens5"),
             node("a", "10.0.0.1", "10.244.2.0/24", "eth1"),
             node("b", "10.0.0.2", "10.244.1.0/24", "bond0")]
    m = f.hostgw_route_map(nodes)
    assert [r["dest"] for r in m["a"]] == ["10.244.1.0/24", "10.244.10.0/24"]
    assert {r["dev"] for r in m["a"]} == {"eth1"}
    assert {r["dev"] for r in m["b"]} == {"bond0"}
    for name, routes in m.items():
        assert len(routes) == 2
        assert all(r["via"] != dict((n["name"], n["node_ip"]) for n in nodes)[name] for r in routes)


def test_route_map_rejects_bad_subnet_naming_the_host():
    with pytest.raises(AnsibleFilterError, match="pod subnet of b.*192.168.1.5/24"):
        f.hostgw_route_map([node("a", "10.0.0.1", "192.168.0.0/24"),
                            node("b", "10.0.0.2", "192.168.1.5/24")])


def test_gateway_is_first_address_with_prefix():
    assert f.hostgw_gateway("192.168.1.0/24") == "192.168.1.1/24"
    assert f.hostgw_gateway("10.244.0.0/16") == "10.244.0.1/16"
    with pytest.raises(AnsibleFilterError, match="too small"):
        f.hostgw_gateway("192.168.1.0/31")
    with pytest.raises(AnsibleFilterError, match="not a network address"):
        f.hostgw_gateway("192.168.1.1/24")


def test_subnet_within_and_predicates():
    assert f.hostgw_subnet_within("192.168.3.0/24", "192.168.0.0/16")
    assert not f.hostgw_subnet_within("10.1.0.0/24", "192.168.0.0/16")
    assert not f.hostgw_subnet_within("192.168.0.0/16", "192.168.0.0/24")
    assert f.hostgw_is_ip("10.168.0.1") and f.hostgw_is_ip("fd00::1")
    assert not f.hostgw_is_ip("node-a.example") and not f.hostgw_is_ip("10.0.0.0/8")
    assert f.hostgw_is_network("10.0.0.0/8") and not f.hostgw_is_network("10.0.0.1/8")


def test_interface_of_finds_primary_secondary_and_v6():
    facts = {
        "interfaces": ["lo", "eth0", "br-ex", "bond0.100"],
        "lo": {"device": "lo", "ipv4": {"address": "127.0.0.1"}},
        "eth0": {"device": "eth0", "ipv4": {"address": "10.168.0.1"},
                 "ipv4_secondaries": [{"address": "10.168.0.9"}]},
        "br_ex": {"device": "br-ex", "ipv6": [{"address": "fd00::5"}]},
        "bond0_100": {"device": "bond0.100", "ipv4": {"address": "172.16.0.4"}},
    }
    assert f.hostgw_interface_of(facts, "10.168.0.1") == "eth0"
    assert f.hostgw_interface_of(facts, "10.168.0.9") == "eth0"
    assert f.hostgw_interface_of(facts, "fd00::5") == "br-ex"
    assert f.hostgw_interface_of(facts, "172.16.0.4") == "bond0.100"
    assert f.hostgw_interface_of(facts, "10.9.9.9") == ""

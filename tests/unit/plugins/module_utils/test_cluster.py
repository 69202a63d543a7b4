"""The cluster model: allocation, stickiness, preflight problems, routes."""

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils import cluster


def info(addr, dev="eth0", connected=None, gateway=None, recorded=None, v6=None, extra=None, mtu=1500):
    """A node_info result for a host with ADDR (CIDR) on DEV."""
    import ipaddress

    ifc = ipaddress.ip_interface(addr)
    interfaces = {
        "lo": {"mtu": 65536, "up": True, "kind": "", "master": "", "addresses": ["127.0.0.1/8", "::1/128"]},
        dev: {"mtu": mtu, "up": True, "kind": "veth", "master": "", "addresses": [addr] + ([v6] if v6 else [])},
    }
    for name, addrs in (extra or {}).items():
        interfaces[name] = {"mtu": 1500, "up": True, "kind": "", "master": "", "addresses": addrs}
    conn = connected if connected is not None else [{"dest": str(ifc.network), "dev": dev}]
    if v6:
        conn = conn + [{"dest": str(ipaddress.ip_interface(v6).network), "dev": dev}]
    default = {"4": {"dev": dev, "gateway": gateway or "", "src": ""}}
    return {"interfaces": interfaces, "connected": conn, "default": default, "recorded": recorded or {}}


def host(name, addr, **kw):
    h = {"name": name, "pod_subnet": kw.pop("pod_subnet", None), "pod_subnet_v6": kw.pop("pod_subnet_v6", None),
         "node_ip": kw.pop("node_ip", None), "node_ip_v6": kw.pop("node_ip_v6", None),
         "interface": kw.pop("interface", None), "ansible_host": kw.pop("ansible_host", name)}
    h["info"] = None if kw.pop("unknown", False) else info(addr, **kw)
    return h


SEED = {"cluster_cidr": "192.168.0.0/16"}


def seed_hosts():
    return [host("host1", "10.168.0.1/24", pod_subnet="192.168.0.0/24"),
            host("host2", "10.168.0.2/24", pod_subnet="192.168.1.0/24")]


def plan_ok(hosts, settings=SEED):
    p, problems = cluster.plan(hosts, settings)
    assert not problems, problems
    return p


def plan_fails(hosts, settings=SEED):
    p, problems = cluster.plan(hosts, settings)
    assert p is None and problems
    return list(problems)


def test_seed_topology_routes_mirror_each_other():
    p = plan_ok(seed_hosts())
    assert cluster.peer_routes(p, "host1") == [{"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0"}]
    assert cluster.peer_routes(p, "host2") == [{"dest": "192.168.0.0/24", "via": "10.168.0.1", "dev": "eth0"}]
    n = p["nodes"]["host1"]
    assert (n["node_ip"], n["interface"], n["gateway"], n["mtu"], n["bridge"]) == \
        ("10.168.0.1", "eth0", "192.168.0.1/24", 1500, "cni0")
    assert p["complete"] is True


def test_node_ip_defaults_to_ansible_host_ip_then_default_route_address():
    hosts = [host("a", "10.168.0.1/24", ansible_host="10.168.0.1"),
             host("b", "10.168.0.2/24", extra={"eth9": ["10.99.0.2/24"]})]
    p = plan_ok(hosts)
    assert p["nodes"]["a"]["node_ip"] == "10.168.0.1"
    assert p["nodes"]["b"]["node_ip"] == "10.168.0.2"  # address of the default route's subnet


def test_fresh_cluster_allocation_is_deterministic_by_name():
    hosts = [host("c", "10.168.0.3/24"), host("a", "10.168.0.1/24"), host("b", "10.168.0.2/24")]
    p = plan_ok(hosts)
    assert [p["nodes"][n]["pod_subnet"] for n in "abc"] == \
        ["192.168.0.0/24", "192.168.1.0/24", "192.168.2.0/24"]
    assert all(p["nodes"][n]["allocated"] for n in "abc")
    assert plan_ok(list(reversed(hosts)))["nodes"] == p["nodes"]


def test_allocation_skips_explicit_and_recorded_and_respects_prefix():
    hosts = [host("a", "10.168.0.1/24", pod_subnet="192.168.0.0/23"),
             host("b", "10.168.0.2/24", recorded={"pod_subnet": "192.168.3.0/24"}),
             host("c", "10.168.0.3/24"),
             host("d", "10.168.0.4/24")]
    p = plan_ok(hosts)
    got = dict((n, p["nodes"][n]["pod_subnet"]) for n in "abcd")
    assert got == {"a": "192.168.0.0/23", "b": "192.168.3.0/24", "c": "192.168.2.0/24", "d": "192.168.4.0/24"}
    assert not p["nodes"]["b"]["allocated"] and p["nodes"]["c"]["allocated"]
    assert [p["nodes"][n]["source"] for n in "abcd"] == ["inventory", "recorded", "allocated", "allocated"]


def test_allocation_with_larger_blocks_aligns_past_claims():
    hosts = [host("a", "10.168.0.1/24", pod_subnet="192.168.0.128/25"),
             host("b", "10.168.0.2/24")]
    p = plan_ok(hosts, {"cluster_cidr": "192.168.0.0/16", "subnet_prefix": 23})
    assert p["nodes"]["b"]["pod_subnet"] == "192.168.2.0/23"


def test_recorded_subnets_stick_when_hosts_join_leave_and_reorder():
    first = plan_ok([host(n, "10.168.0.%d/24" % i) for i, n in enumerate(["h1", "h2", "h3"], 1)])
    rec = dict((n, {"pod_subnet": first["nodes"][n]["pod_subnet"]}) for n in ["h1", "h2", "h3"])
    # h0 joins (sorts first), h2 leaves, order shuffled: the others keep theirs.
    later = plan_ok([host("h3", "10.168.0.3/24", recorded=rec["h3"]),
                     host("h0", "10.168.0.9/24"),
                     host("h1", "10.168.0.1/24", recorded=rec["h1"])])
    assert later["nodes"]["h1"]["pod_subnet"] == rec["h1"]["pod_subnet"]
    assert later["nodes"]["h3"]["pod_subnet"] == rec["h3"]["pod_subnet"]
    # h2's old block is free again and is the lowest free one.
    assert later["nodes"]["h0"]["pod_subnet"] == rec["h2"]["pod_subnet"]
    assert {r["owner"] for r in later["routes"]} == {"h0", "h1", "h3"}


def test_explicit_subnet_wins_over_recorded_one():
    hosts = [host("a", "10.168.0.1/24", pod_subnet="192.168.9.0/24", recorded={"pod_subnet": "192.168.0.0/24"}),
             host("b", "10.168.0.2/24")]
    p = plan_ok(hosts)
    assert p["nodes"]["a"]["pod_subnet"] == "192.168.9.0/24"
    assert p["nodes"]["b"]["pod_subnet"] == "192.168.0.0/24"


def test_exhausted_cluster_cidr():
    hosts = [host("h%d" % i, "10.168.0.%d/24" % i) for i in range(1, 6)]
    problems = plan_fails(hosts, {"cluster_cidr": "192.168.0.0/22"})
    assert problems == ["hostgw_cluster_cidr '192.168.0.0/22' has no free /24 left for h5 (5 hosts, 4 blocks of /24)"]


@pytest.mark.parametrize("value,message", [
    ("192.168.1.5/24", "host1: hostgw_pod_subnet '192.168.1.5/24' has host bits set; did you mean 192.168.1.0/24?"),
    ("10.9.0.0/24", "host1: hostgw_pod_subnet '10.9.0.0/24' is outside hostgw_cluster_cidr '192.168.0.0/16'"),
    ("fd00::/64", "host1: hostgw_pod_subnet 'fd00::/64' is not an IPv4 network (an IPv6 network; "
                  "hostgw_pod_subnet takes IPv4)"),
    ("banana", "host1: hostgw_pod_subnet 'banana' is not an IPv4 network"),
    ("192.168.0.0/31", "host1: hostgw_pod_subnet '192.168.0.0/31' is too small for a gateway and pods"),
])
def test_bad_pod_subnet_is_quoted_verbatim(value, message):
    hosts = seed_hosts()
    hosts[0]["pod_subnet"] = value
    assert message in plan_fails(hosts)


def test_overlapping_pod_subnets_name_both_hosts():
    hosts = seed_hosts() + [host("host3", "10.168.0.3/24", pod_subnet="192.168.0.0/23")]
    problems = plan_fails(hosts)
    assert "pod subnets overlap: host3 has '192.168.0.0/23' (hostgw_pod_subnet) and host1 has " \
           "'192.168.0.0/24' (hostgw_pod_subnet)" in problems
    assert any("host2 has '192.168.1.0/24'" in p for p in problems)


def test_recorded_subnet_overlapping_explicit_one_is_an_error():
    hosts = [host("a", "10.168.0.1/24", pod_subnet="192.168.0.0/24"),
             host("b", "10.168.0.2/24", recorded={"pod_subnet": "192.168.0.0/24"})]
    problems = plan_fails(hosts)
    assert any("recorded in /etc/podnet/hostgw.json" in p and "overlap" in p for p in problems)


def test_pod_subnet_overlapping_an_underlay_network_names_the_subnet_and_owner():
    hosts = [host("a", "10.168.0.1/24", pod_subnet="192.168.0.0/24", extra={"docker0": ["192.168.1.1/24"]}),
             host("b", "10.168.0.2/24", pod_subnet="192.168.1.0/24")]
    assert plan_fails(hosts) == [
        "a: pod subnet '192.168.1.0/24' of b overlaps the underlay network 192.168.1.0/24 on docker0"]


def test_cluster_cidr_overlapping_an_underlay_network():
    hosts = [host("a", "10.168.0.1/24", pod_subnet="192.168.0.0/24", extra={"docker0": ["192.168.7.1/24"]}),
             host("b", "10.168.0.2/24", pod_subnet="192.168.1.0/24")]
    assert plan_fails(hosts) == [
        "a: hostgw_cluster_cidr '192.168.0.0/16' overlaps the underlay network 192.168.7.0/24 on docker0"]
    problems = plan_fails(seed_hosts(), {"cluster_cidr": "10.0.0.0/8"})
    assert any("overlaps the underlay network 10.168.0.0/24 on eth0" in p for p in problems)


def test_pod_bridge_addresses_are_not_underlay():
    hosts = [host("a", "10.168.0.1/24", pod_subnet="192.168.0.0/24", extra={"cni0": ["192.168.0.1/24"]}),
             host("b", "10.168.0.2/24", pod_subnet="192.168.1.0/24")]
    plan_ok(hosts)


def test_duplicate_node_ips():
    hosts = [host("a", "10.168.0.1/24", pod_subnet="192.168.0.0/24"),
             host("b", "10.168.0.1/24", pod_subnet="192.168.1.0/24")]
    assert "duplicate node IP '10.168.0.1': a, b" in plan_fails(hosts)


def test_node_ip_not_on_the_host():
    hosts = seed_hosts()
    hosts[0]["node_ip"] = "10.168.0.77"
    problems = plan_fails(hosts)
    assert "host1: node IP '10.168.0.77' is not an address of this host (it has 10.168.0.1)" in problems


def test_invalid_node_ip_and_interface_names():
    hosts = seed_hosts()
    hosts[0]["node_ip"] = "10.168.0.300"
    hosts[1]["interface"] = "eth 0"
    problems = plan_fails(hosts)
    assert "host1: hostgw_node_ip '10.168.0.300' is not an IPv4 address" in problems
    assert "host2: hostgw_interface 'eth 0' is not a valid interface name" in problems


def test_missing_interface_is_named_with_what_exists():
    hosts = seed_hosts()
    hosts[0]["interface"] = "ens5"
    assert "host1: hostgw_interface 'ens5' does not exist (the host has eth0, lo)" in plan_fails(hosts)


def test_peer_not_on_one_l2_segment():
    hosts = seed_hosts() + [host("host3", "10.169.0.3/24", pod_subnet="192.168.2.0/24")]
    problems = plan_fails(hosts)
    assert ("host1: peer host3's node IP 10.169.0.3 is not directly reachable on eth0 "
            "(connected: 10.168.0.0/24); host-gw needs every node on one L2 segment") in problems
    assert any(p.startswith("host3: peer host1's node IP 10.168.0.1") for p in problems)


def test_reachability_uses_connected_routes_not_gateway_routes():
    # A /32 address with an explicit connected route to the segment (onlink setups).
    hosts = [host("a", "10.168.0.1/32", connected=[{"dest": "10.168.0.0/24", "dev": "eth0"}],
                  pod_subnet="192.168.0.0/24"),
             host("b", "10.168.0.2/24", pod_subnet="192.168.1.0/24")]
    plan_ok(hosts)


@pytest.mark.parametrize("settings,message", [
    ({"cluster_cidr": "192.168.0.1/16"}, "hostgw_cluster_cidr '192.168.0.1/16' has host bits set; "
                                         "did you mean 192.168.0.0/16?"),
    ({"cluster_cidr": "fd00::/48"}, "hostgw_cluster_cidr 'fd00::/48' is not an IPv4 network "
                                    "(an IPv6 network; hostgw_cluster_cidr takes IPv4)"),
    ({"cluster_cidr": ""}, "set hostgw_cluster_cidr (IPv4) and/or hostgw_cluster_cidr_v6 (IPv6): "
                           "the pod network needs at least one family"),
    ({"cluster_cidr": "192.168.0.0/16", "subnet_prefix": 12},
     "hostgw_subnet_prefix '12' must lie between the cluster CIDR's /16 and /30"),
    ({"cluster_cidr": "192.168.0.0/16", "bridge_mtu": 40},
     "hostgw_bridge_mtu '40' is out of range (0 = the underlay's MTU, else 68..65535)"),
    ({"cluster_cidr": "192.168.0.0/16", "bridge": "a/b"}, "hostgw_bridge 'a/b' is not a valid interface name"),
])
def test_bad_settings(settings, message):
    assert message in plan_fails(seed_hosts(), settings)


def test_mtu_comes_from_the_underlay_unless_set():
    hosts = [host("a", "10.168.0.1/24", mtu=9000), host("b", "10.168.0.2/24", mtu=1450)]
    p = plan_ok(hosts)
    assert (p["nodes"]["a"]["mtu"], p["nodes"]["b"]["mtu"]) == (9000, 1450)
    p = plan_ok(hosts, {"cluster_cidr": "192.168.0.0/16", "bridge_mtu": 1400})
    assert (p["nodes"]["a"]["mtu"], p["nodes"]["b"]["mtu"]) == (1400, 1400)


def test_dual_stack_allocates_and_routes_both_families():
    hosts = [host("a", "10.168.0.1/24", v6="fd00:168::1/64"), host("b", "10.168.0.2/24", v6="fd00:168::2/64")]
    hosts[0]["info"]["default"]["6"] = {"dev": "eth0", "gateway": "fd00:168::fe", "src": ""}
    hosts[1]["info"]["default"]["6"] = {"dev": "eth0", "gateway": "fd00:168::fe", "src": ""}
    p = plan_ok(hosts, {"cluster_cidr": "192.168.0.0/16", "cluster_cidr_v6": "fd00:10::/56"})
    a = p["nodes"]["a"]
    assert (a["pod_subnet_v6"], a["gateway_v6"], a["node_ip_v6"]) == ("fd00:10::/64", "fd00:10::1/64", "fd00:168::1")
    assert cluster.peer_routes(p, "a") == [
        {"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0"},
        {"dest": "fd00:10:0:1::/64", "via": "fd00:168::2", "dev": "eth0"},
    ]


def test_ipv6_only_cluster_uses_explicit_v6_node_ips():
    hosts = [host("a", "10.168.0.1/24", v6="fd00:168::1/64", node_ip_v6="fd00:168::1"),
             host("b", "10.168.0.2/24", v6="fd00:168::2/64", node_ip_v6="fd00:168::2")]
    p = plan_ok(hosts, {"cluster_cidr_v6": "fd00:10::/56"})
    assert p["nodes"]["a"]["pod_subnet"] == "" and p["nodes"]["a"]["node_ip"] == ""
    assert cluster.peer_routes(p, "b") == [{"dest": "fd00:10::/64", "via": "fd00:168::1", "dev": "eth0"}]


def test_unknown_hosts_keep_their_explicit_routes_but_block_allocation_and_purge():
    hosts = seed_hosts() + [host("host3", None, unknown=True, pod_subnet="192.168.2.0/24", node_ip="10.168.0.3")]
    p = plan_ok(hosts)
    assert p["complete"] is False
    assert {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "eth0"} in cluster.peer_routes(p, "host1")
    hosts = [host("a", "10.168.0.1/24"), host("b", None, unknown=True)]
    problems = plan_fails(hosts)
    assert problems == ["cannot allocate IPv4 pod subnets for a while b cannot be read (unreachable or outside "
                        "--limit): their recorded subnets are unknown"]


def test_large_cluster_plan_is_complete():
    hosts = [host("h%04d" % i, "10.168.%d.%d/16" % (i // 250, i % 250 + 1),
                  connected=[{"dest": "10.168.0.0/16", "dev": "eth0"}]) for i in range(500)]
    p = plan_ok(hosts, {"cluster_cidr": "10.200.0.0/14"})
    assert len(p["routes"]) == 500
    assert len({r["dest"] for r in p["routes"]}) == 500
    assert len(cluster.peer_routes(p, "h0000")) == 499

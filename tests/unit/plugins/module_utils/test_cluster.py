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


def plan_ok(hosts, settings=None):
    p, problems = cluster.plan(hosts, SEED if settings is None else settings)
    assert not problems, problems
    return p


def plan_fails(hosts, settings=None):
    p, problems = cluster.plan(hosts, SEED if settings is None else settings)
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
    ("fd00::/64", "host1: hostgw_pod_subnet 'fd00::/64' is an IPv6 network, not an IPv4 one"),
    ("banana", "host1: hostgw_pod_subnet 'banana' is not an IPv4 network"),
    ("192.168.0.0/31", "host1: hostgw_pod_subnet '192.168.0.0/31' is too small: a pod subnet needs at least /29 "
                       "(the gateway, pod addresses and the address verify.yml borrows)"),
    ("192.168.0.0/30", "host1: hostgw_pod_subnet '192.168.0.0/30' is too small: a pod subnet needs at least /29 "
                       "(the gateway, pod addresses and the address verify.yml borrows)"),
    ("192.168.0", "host1: hostgw_pod_subnet '192.168.0' is not an IPv4 network"),
    ("192.168.0.0", "host1: hostgw_pod_subnet '192.168.0.0' has no prefix length; write the network as "
                    "ADDRESS/LENGTH"),
    (24, "host1: hostgw_pod_subnet 24 is not a string (a prefix such as 192.168.1.0/24)"),
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
    assert problems == ["pod subnets overlap: a has '192.168.0.0/24' (hostgw_pod_subnet) and b has "
                        "'192.168.0.0/24' (recorded)"]
    problems = plan_fails(hosts, dict(SEED, record_path="/var/lib/podnet/rec.json"))
    assert problems == ["pod subnets overlap: a has '192.168.0.0/24' (hostgw_pod_subnet) and b has "
                        "'192.168.0.0/24' (recorded in '/var/lib/podnet/rec.json')"]


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
    assert problems == ["host1: hostgw_node_ip '10.168.0.77' is not an address of this host (it has 10.168.0.1)"]
    hosts = seed_hosts()
    hosts[1]["ansible_host"] = "10.168.0.78"
    assert plan_fails(hosts) == [
        "host2: ansible_host '10.168.0.78' is not an address of this host (it has 10.168.0.2)"]


def test_invalid_node_ip_and_interface_names():
    hosts = seed_hosts()
    hosts[0]["node_ip"] = "10.168.0.300"
    hosts[1]["interface"] = "eth 0"
    problems = plan_fails(hosts)
    assert "host1: hostgw_node_ip '10.168.0.300' is not an IPv4 address" in problems
    assert problems == ["host1: hostgw_node_ip '10.168.0.300' is not an IPv4 address",
                        "host2: hostgw_interface 'eth 0' must not contain whitespace"]


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
    ({"cluster_cidr": "fd00::/48"}, "hostgw_cluster_cidr 'fd00::/48' is an IPv6 network, not an IPv4 one"),
    ({"cluster_cidr": "192.168.0.0/30"}, "hostgw_cluster_cidr '192.168.0.0/30' is smaller than /29, "
                                         "the smallest pod subnet"),
    ({"cluster_cidr": ""}, "set hostgw_cluster_cidr (IPv4) and/or hostgw_cluster_cidr_v6 (IPv6): "
                           "the pod network needs at least one family"),
    ({"cluster_cidr": "192.168.0.0/16", "subnet_prefix": 12},
     "hostgw_subnet_prefix 12 must lie between the cluster CIDR's /16 and /29 (the smallest pod subnet)"),
    ({"cluster_cidr": "192.168.0.0/16", "subnet_prefix": 30},
     "hostgw_subnet_prefix 30 must lie between the cluster CIDR's /16 and /29 (the smallest pod subnet)"),
    ({"cluster_cidr_v6": "fd00:10::/56", "subnet_prefix_v6": 126},
     "hostgw_subnet_prefix_v6 126 must lie between the cluster CIDR's /56 and /125 (the smallest pod subnet)"),
    ({"cluster_cidr": "192.168.0.0/16", "subnet_prefix": "x"}, "hostgw_subnet_prefix 'x' is not a number"),
    ({"cluster_cidr": "192.168.0.0/16", "bridge_mtu": 40},
     "hostgw_bridge_mtu 40 is out of range (0 = the underlay's MTU, else 68..65535)"),
    ({"cluster_cidr": "192.168.0.0/16", "bridge": "a/b"}, "hostgw_bridge 'a/b' must not contain '/'"),
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


# ---------------------------------------------------------------------------
# a pod subnet must leave pods an address


@pytest.mark.parametrize("version,cidr", [(4, "192.168.0.0/16"), (6, "fd00:10::/56")])
def test_smallest_pod_subnet_leaves_pods_an_address_and_the_next_smaller_does_not(version, cidr):
    import ipaddress

    def pod_addresses(net):
        first = net.network_address + 2  # after the gateway
        last = ipaddress.ip_address(cluster.ipam_range_end(str(net)))
        return max(0, int(last) - int(first) + 1)

    smallest = next(ipaddress.ip_network(cidr).subnets(new_prefix=cluster.MAX_PREFIX[version]))
    assert pod_addresses(smallest) >= 1
    assert cluster.test_address(str(smallest)) != str(smallest.network_address + 1)  # not the gateway
    too_small = next(smallest.subnets(new_prefix=cluster.MAX_PREFIX[version] + 1))
    assert pod_addresses(too_small) == 0


def test_subnet_prefix_29_allocates_and_is_the_limit():
    p = plan_ok(seed_hosts() + [host("host3", "10.168.0.3/24")],
                {"cluster_cidr": "192.168.0.0/16", "subnet_prefix": 29})
    assert p["nodes"]["host3"]["pod_subnet"] == "192.168.2.0/29"


# ---------------------------------------------------------------------------
# recorded values pass exactly the checks explicit ones pass


REC = dict(SEED, record_path="/etc/podnet/hostgw.json")
REMEDY = ("; set hostgw_pod_subnet for host3 to replace the record (hostgw_record_path "
          "'/etc/podnet/hostgw.json'), or reset host3 (playbooks/reset.yml --limit host3) to allocate a new one")
TOO_SMALL = "is too small: a pod subnet needs at least /29 (the gateway, pod addresses and the address verify.yml borrows)"


@pytest.mark.parametrize("recorded,message", [
    ("192.168.2.0/32", "host3: recorded pod subnet '192.168.2.0/32' " + TOO_SMALL + REMEDY),
    ("192.168.2.0/31", "host3: recorded pod subnet '192.168.2.0/31' " + TOO_SMALL + REMEDY),
    ("192.168.2.0/30", "host3: recorded pod subnet '192.168.2.0/30' " + TOO_SMALL + REMEDY),
    ("192.168.2.1/24", "host3: recorded pod subnet '192.168.2.1/24' has host bits set; did you mean "
                       "192.168.2.0/24?" + REMEDY),
    ("10.9.0.0/24", "host3: recorded pod subnet '10.9.0.0/24' is outside hostgw_cluster_cidr '192.168.0.0/16'"
                    + REMEDY),
    ("fd00::/64", "host3: recorded pod subnet 'fd00::/64' is an IPv6 network, not an IPv4 one" + REMEDY),
    (17, "host3: recorded pod subnet 17 is not a string (a prefix such as 192.168.1.0/24)" + REMEDY),
    ("192.168.128.0/17", "host3: recorded pod subnet '192.168.128.0/17' is a /17, not a /24 "
                         "(hostgw_subnet_prefix): to keep it, set hostgw_pod_subnet: 192.168.128.0/17 for host3; "
                         "to get a /24 instead, reset host3 (playbooks/reset.yml --limit host3), which removes the "
                         "record (hostgw_record_path '/etc/podnet/hostgw.json')"),
])
def test_recorded_subnet_gets_the_explicit_checks_and_the_cluster_prefix(recorded, message):
    hosts = seed_hosts() + [host("host3", "10.168.0.3/24", recorded={"pod_subnet": recorded})]
    assert plan_fails(hosts, REC) == [message]


def test_recorded_subnet_of_another_prefix_is_fine_when_explicit():
    hosts = seed_hosts() + [host("host3", "10.168.0.3/24", pod_subnet="192.168.128.0/17",
                                 recorded={"pod_subnet": "192.168.128.0/17"})]
    assert plan_ok(hosts, REC)["nodes"]["host3"]["pod_subnet"] == "192.168.128.0/17"


def test_recorded_v6_subnet_is_checked_too():
    hosts = [host("a", "10.168.0.1/24", v6="fd00:168::1/64", node_ip_v6="fd00:168::1",
                  recorded={"pod_subnet_v6": "fd00:10::/126"}),
             host("b", "10.168.0.2/24", v6="fd00:168::2/64", node_ip_v6="fd00:168::2")]
    problems = plan_fails(hosts, {"cluster_cidr_v6": "fd00:10::/56", "record_path": "/r.json"})
    assert problems == ["a: recorded pod subnet 'fd00:10::/126' is too small: a pod subnet needs at least /125 "
                        "(the gateway, pod addresses and the address verify.yml borrows); set "
                        "hostgw_pod_subnet_v6 for a to replace the record (hostgw_record_path '/r.json'), or "
                        "reset a (playbooks/reset.yml --limit a) to allocate a new one"]


@pytest.mark.parametrize("problem", ["is a FIFO, not a regular file", "is larger than 4096 bytes",
                                     "does not hold a JSON object"])
def test_unreadable_record_names_the_host_and_the_configured_path(problem):
    hosts = seed_hosts()
    hosts[1]["info"]["record_problem"] = problem
    assert plan_fails(hosts, dict(SEED, record_path="/srv/podnet.json")) == [
        "host2: hostgw_record_path '/srv/podnet.json' " + problem]


# ---------------------------------------------------------------------------
# every setting the roles use, with the modules' rules


GOOD_SETTINGS = dict(
    SEED, bridge="cni0", route_protocol="hostgw", netfilter_name="podnet_hostgw", netfilter_backend="auto",
    record_path="/etc/podnet/hostgw.json", sysctl_file="/etc/sysctl.d/60-podnet-hostgw.conf",
    cni_conf_dir="/etc/cni/net.d", cni_conf_file="10-podnet.conflist", cni_network_name="podnet",
    cni_version="1.0.0", flannel_subnet_env_path="/run/flannel/subnet.env", masquerade=True, route_purge="yes",
    route_nexthop_objects=False, route_takeover="false", local_fact=1, cni_default_route=True, cni_hairpin="on",
    cni_portmap=True, flannel_subnet_env=False, reconcile=True, reconcile_interval=10, reconcile_watch=False,
    cni_plugins_install=False, cni_plugins_package="containernetworking-plugins", cni_plugins_dir="/usr/lib/cni",
    cni_bin_dir="/opt/cni/bin")


def test_the_default_settings_pass():
    plan_ok(seed_hosts(), GOOD_SETTINGS)


@pytest.mark.parametrize("key,value,message", [
    ("bridge", "cni0\n", "hostgw_bridge 'cni0\\n' must not contain whitespace"),
    ("bridge", "br#0", "hostgw_bridge 'br#0' must not contain '#' (ip -batch cannot carry it)"),
    ("bridge", "averyveryverylongname", "hostgw_bridge 'averyveryverylongname' is 21 bytes long; Linux allows at most 15"),
    ("route_protocol", "hostgw\nflush", "hostgw_route_protocol 'hostgw\\nflush' must be a name of letters, digits, "
                                        "'_', '.', '-' starting with a letter (at most 32 characters)"),
    ("route_protocol", "static", "hostgw_route_protocol 'static' is the well-known protocol number 4; pick a name "
                                 "of your own (default hostgw)"),
    ("netfilter_name", "podnet_hostgw\n", "hostgw_netfilter_name 'podnet_hostgw\\n' must be lower-case letters, "
                                          "digits and '_', starting with a letter"),
    ("netfilter_name", "filter", "hostgw_netfilter_name 'filter' is the name of a standard table; pick a name of "
                                 "the collection's own such as podnet_hostgw"),
    ("netfilter_backend", "pf", "hostgw_netfilter_backend 'pf' must be one of auto, nftables, iptables"),
    ("record_path", "etc/podnet/hostgw.json", "hostgw_record_path 'etc/podnet/hostgw.json' is not an absolute path"),
    ("sysctl_file", "/etc/sysctl.d/../x.conf", "hostgw_sysctl_file '/etc/sysctl.d/../x.conf' is not a normalised "
                                               "path; did you mean /etc/x.conf?"),
    ("cni_conf_dir", "/etc/cni/net.d\n", "hostgw_cni_conf_dir '/etc/cni/net.d\\n' must not contain control characters"),
    ("flannel_subnet_env_path", "/", "hostgw_flannel_subnet_env_path '/' is the root directory"),
    ("cni_conf_file", "../10-podnet.conflist", "hostgw_cni_conf_file '../10-podnet.conflist' is not a plain file "
                                               "name (no '/', not '.' or '..')"),
    ("cni_conf_file", "10-podnet.conf", "hostgw_cni_conf_file '10-podnet.conf' must end in .conflist (the file is a "
                                        "CNI configuration list)"),
    ("cni_network_name", "pod net", "hostgw_cni_network_name 'pod net' must be letters, digits, '_', '.' and '-', "
                                    "starting with a letter or digit (the CNI specification's network name)"),
    ("cni_version", "2.0.0", "hostgw_cni_version '2.0.0' must be one of 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"),
    ("masquerade", "maybe", "hostgw_masquerade 'maybe' is not a boolean (true or false)"),
    ("route_purge", 2, "hostgw_route_purge 2 is not a boolean (true or false)"),
    ("route_takeover", "sure", "hostgw_route_takeover 'sure' is not a boolean (true or false)"),
    ("route_nexthop_objects", [], "hostgw_route_nexthop_objects [] is not a boolean (true or false)"),
    ("local_fact", "nope", "hostgw_local_fact 'nope' is not a boolean (true or false)"),
    ("cni_default_route", "x", "hostgw_cni_default_route 'x' is not a boolean (true or false)"),
    ("cni_hairpin", "x", "hostgw_cni_hairpin 'x' is not a boolean (true or false)"),
    ("cni_portmap", "x", "hostgw_cni_portmap 'x' is not a boolean (true or false)"),
    ("flannel_subnet_env", "x", "hostgw_flannel_subnet_env 'x' is not a boolean (true or false)"),
    ("reconcile", "x", "hostgw_reconcile 'x' is not a boolean (true or false)"),
    ("reconcile_watch", "x", "hostgw_reconcile_watch 'x' is not a boolean (true or false)"),
    ("reconcile_interval", "10s", "hostgw_reconcile_interval '10s' is not a whole number of seconds"),
    ("reconcile_interval", 0, "hostgw_reconcile_interval 0 is out of range (1 to 86400 seconds)"),
    ("reconcile_interval", 86401, "hostgw_reconcile_interval 86401 is out of range (1 to 86400 seconds)"),
    ("reconcile_interval", True, "hostgw_reconcile_interval True is not a whole number of seconds"),
    ("cni_plugins_install", "x", "hostgw_cni_plugins_install 'x' is not a boolean (true or false)"),
    ("cni_plugins_package", "cni plugins", "hostgw_cni_plugins_package 'cni plugins' is not a package name "
                                           "(letters, digits, '+', '-', '.', '_')"),
    ("cni_plugins_dir", "usr/lib/cni", "hostgw_cni_plugins_dir 'usr/lib/cni' is not an absolute path"),
    ("cni_bin_dir", "/opt/cni/bin/", "hostgw_cni_bin_dir '/opt/cni/bin/' is not a normalised path; did you mean "
                                     "/opt/cni/bin?"),
    ("cni_bin_dir", "/usr/lib/cni", "hostgw_cni_bin_dir '/usr/lib/cni' is hostgw_cni_plugins_dir itself: the links "
                                    "would point at themselves"),
])
def test_every_setting_is_checked_with_the_modules_rule(key, value, message):
    assert plan_fails(seed_hosts(), dict(GOOD_SETTINGS, **{key: value})) == [message]


def test_every_problem_is_collected_in_one_report():
    settings = dict(GOOD_SETTINGS, bridge="br#0", masquerade="maybe", cni_version="9")
    hosts = seed_hosts()
    hosts[0]["pod_subnet"] = "192.168.0.1/24"
    problems = plan_fails(hosts, settings)
    assert len(problems) == 4
    assert "host1: hostgw_pod_subnet '192.168.0.1/24' has host bits set; did you mean 192.168.0.0/24?" in problems


def test_invalid_interface_names_use_the_kernel_rule():
    hosts = seed_hosts()
    hosts[0]["interface"] = "eth#0"
    assert plan_fails(hosts) == ["host1: hostgw_interface 'eth#0' must not contain '#' (ip -batch cannot carry it)"]


# ---------------------------------------------------------------------------
# the sysctl file is owned whole


SYSCTL = "/etc/sysctl.d/60-podnet-hostgw.conf"


@pytest.mark.parametrize("status,message", [
    ({"exists": True, "regular": True, "ours": False},
     "host2: hostgw_sysctl_file '/etc/sysctl.conf' is not the collection's (no '# Managed by podnet.hostgw' line "
     "at its top): point hostgw_sysctl_file at a file of its own, such as /etc/sysctl.d/60-podnet-hostgw.conf"),
    ({"exists": True, "regular": False, "ours": False},
     "host2: hostgw_sysctl_file '/etc/sysctl.conf' is not a regular file"),
])
def test_sysctl_file_of_someone_else_is_refused(status, message):
    hosts = seed_hosts()
    hosts[0]["info"]["files"] = {"/etc/sysctl.conf": {"exists": True, "regular": True, "ours": True}}
    hosts[1]["info"]["files"] = {"/etc/sysctl.conf": status}
    assert plan_fails(hosts, dict(SEED, sysctl_file="/etc/sysctl.conf")) == [message]


def test_sysctl_file_absent_or_ours_is_fine():
    hosts = seed_hosts()
    hosts[0]["info"]["files"] = {SYSCTL: {"exists": False, "regular": False, "ours": False}}
    hosts[1]["info"]["files"] = {SYSCTL: {"exists": True, "regular": True, "ours": True}}
    plan_ok(hosts, dict(SEED, sysctl_file=SYSCTL))


# ---------------------------------------------------------------------------
# route evidence: hijack and takeover


def group(*to, proto="hostgw", dev="eth0", metric=0, rtype="unicast"):
    return {"proto": proto, "dev": dev, "metric": metric, "type": rtype, "to": list(to)}


def with_routes(h, *groups):
    h["info"]["cluster_routes"] = list(groups)
    return h


def three_hosts(**host3):
    """host1 and host2 explicit; host3 recorded 192.168.2.0/24 (or as HOST3 says)."""
    kw = dict(recorded={"pod_subnet": "192.168.2.0/24"}, node_ip="10.168.0.3")
    kw.update(host3)
    return seed_hosts() + [host("host3", "10.168.0.3/24", **kw)]


def test_a_forged_record_cannot_take_a_subnet_routed_to_an_unread_host():
    """Issue 7, item 1: host2's record claims host3's subnet while host3 is outside --limit."""
    hosts = three_hosts(unknown=True)
    hosts[1]["pod_subnet"] = None
    hosts[1]["info"]["recorded"] = {"pod_subnet": "192.168.2.0/24"}
    with_routes(hosts[0], group("192.168.1.0/24 10.168.0.2", "192.168.2.0/24 10.168.0.3"))
    with_routes(hosts[1], group("192.168.0.0/24 10.168.0.1", "192.168.2.0/24 10.168.0.3"))
    problems = plan_fails(hosts, REC)
    assert problems == [
        "host2: pod subnet '192.168.2.0/24' (recorded in '/etc/podnet/hostgw.json') is routed by host1 to host3 "
        "(192.168.2.0/24 via 10.168.0.3 proto hostgw), which could not be read this run: a host never takes a "
        "subnet its peers route to another node; run with host3 readable and inside --limit, or check host2's "
        "record"]


def test_the_evidence_names_the_first_reporter_and_counts_the_protocol_number_as_ours():
    hosts = three_hosts(unknown=True)
    hosts[1]["pod_subnet"] = "192.168.2.0/23"
    with_routes(hosts[0], group("192.168.2.0/24 10.168.0.3", proto="252"))
    with_routes(hosts[1], group("192.168.2.0/24 10.168.0.3"))
    problems = plan_fails(hosts, REC)
    assert len(problems) == 1 and problems[0].startswith(
        "host2: pod subnet '192.168.2.0/23' (hostgw_pod_subnet) is routed by host1 to host3 ")


def test_routes_of_other_protocols_are_no_evidence():
    hosts = three_hosts(unknown=True)
    hosts[1]["pod_subnet"] = "192.168.2.0/24"
    with_routes(hosts[0], group("192.168.2.0/24 10.168.0.3", proto="static", metric=100))
    plan_ok(hosts, REC)


def test_consistent_routes_pass_and_unread_hosts_keep_their_routes():
    hosts = three_hosts(unknown=True, pod_subnet="192.168.2.0/24")
    with_routes(hosts[0], group("192.168.1.0/24 10.168.0.2", "192.168.2.0/24 10.168.0.3"))
    with_routes(hosts[1], group("192.168.0.0/24 10.168.0.1", "192.168.2.0/24 10.168.0.3"))
    p = plan_ok(hosts, REC)
    assert p["complete"] is False


def test_a_route_via_an_unknown_address_stops_an_incomplete_plan():
    hosts = seed_hosts() + [host("host3", None, unknown=True, pod_subnet="192.168.3.0/24", node_ip="10.168.0.3"),
                            host("host4", None, unknown=True)]
    hosts[1]["pod_subnet"] = None
    hosts[1]["info"]["recorded"] = {"pod_subnet": "192.168.2.0/24"}
    with_routes(hosts[0], group("192.168.2.0/24 10.168.0.9"))
    problems = plan_fails(hosts, REC)
    assert problems == [
        "host2: pod subnet '192.168.2.0/24' (recorded in '/etc/podnet/hostgw.json') is routed by host1 via "
        "10.168.0.9 (192.168.2.0/24 via 10.168.0.9 proto hostgw), an address of no host whose node IP is known, "
        "while host3, host4 could not be read: it may be theirs; run with every host readable and inside --limit"]


def test_in_a_complete_plan_a_route_via_an_unknown_address_is_stale():
    """A removed or re-addressed node's route: its subnet is free again (day 2)."""
    hosts = three_hosts(recorded={}, node_ip=None)
    with_routes(hosts[0], group("192.168.1.0/24 10.168.0.2", "192.168.2.0/24 10.168.0.9"))
    p = plan_ok(hosts, REC)
    assert p["nodes"]["host3"]["pod_subnet"] == "192.168.2.0/24"
    # A re-addressed node keeps its recorded subnet.
    hosts = three_hosts(node_ip=None)
    with_routes(hosts[0], group("192.168.2.0/24 10.168.0.33"))
    assert plan_ok(hosts, REC)["nodes"]["host3"]["pod_subnet"] == "192.168.2.0/24"


def test_a_subnet_routed_to_a_host_that_lost_its_record_goes_to_nobody_else():
    # host1 was read but has neither record nor explicit subnet; host2 wants host1's subnet.
    hosts = seed_hosts() + [host("host3", "10.168.0.3/24", pod_subnet="192.168.2.0/24")]
    hosts[0]["pod_subnet"] = None
    hosts[1]["pod_subnet"] = "192.168.0.0/24"
    with_routes(hosts[2], group("192.168.0.0/24 10.168.0.1", "192.168.1.0/24 10.168.0.2"))
    assert plan_fails(hosts, REC) == [
        "host2: pod subnet '192.168.0.0/24' (hostgw_pod_subnet) is routed by host3 to host1 "
        "(192.168.0.0/24 via 10.168.0.1 proto hostgw), which has no subnet of its own on record (it would be given "
        "192.168.1.0/24): a host never takes a subnet its peers route to another node; set hostgw_pod_subnet for "
        "host1 to the subnet it holds, or give host2 another one"]


def test_a_host_that_claims_a_subnet_of_its_own_speaks_for_itself():
    """A route altered by hand (or a node moved on purpose): the run mends it."""
    hosts = seed_hosts() + [host("host3", "10.168.0.3/24", recorded={"pod_subnet": "192.168.2.0/24"})]
    with_routes(hosts[1], group("192.168.0.0/24 10.168.0.3", "192.168.2.0/24 10.168.0.3"))
    plan_ok(hosts, REC)
    # host1 moves to 192.168.9.0/24 and host2 takes 192.168.0.0/24 in the same run.
    hosts = seed_hosts() + [host("host3", "10.168.0.3/24", pod_subnet="192.168.2.0/24")]
    hosts[0]["pod_subnet"], hosts[1]["pod_subnet"] = "192.168.9.0/24", "192.168.0.0/24"
    with_routes(hosts[2], group("192.168.0.0/24 10.168.0.1", "192.168.1.0/24 10.168.0.2"))
    plan_ok(hosts, REC)


def test_allocation_skips_subnets_still_routed_to_another_node():
    hosts = seed_hosts() + [host("host3", "10.168.0.3/24")]
    hosts[0]["pod_subnet"] = None  # host1 lost its record; host2 still routes 192.168.0.0/24 to it
    with_routes(hosts[1], group("192.168.0.0/24 10.168.0.1"))
    p = plan_ok(hosts, REC)
    assert (p["nodes"]["host1"]["pod_subnet"], p["nodes"]["host3"]["pod_subnet"]) == \
        ("192.168.2.0/24", "192.168.3.0/24")
    # Once host1 claims a subnet again, the route is not held against anyone.
    hosts[0]["pod_subnet"] = "192.168.9.0/24"
    assert plan_ok(hosts, REC)["nodes"]["host3"]["pod_subnet"] == "192.168.0.0/24"


def test_a_host_keeps_the_subnet_its_peers_route_to_it():
    hosts = three_hosts()
    with_routes(hosts[0], group("192.168.2.0/24 10.168.0.3"))
    assert plan_ok(hosts, REC)["nodes"]["host3"]["pod_subnet"] == "192.168.2.0/24"


def test_evidence_for_ipv6():
    hosts = [host("a", "10.168.0.1/24", v6="fd00:168::1/64", node_ip_v6="fd00:168::1",
                  pod_subnet_v6="fd00:10::/64"),
             host("b", "10.168.0.2/24", v6="fd00:168::2/64", node_ip_v6="fd00:168::2",
                  recorded={"pod_subnet_v6": "fd00:10:0:7::/64"}),
             host("c", None, unknown=True, node_ip_v6="fd00:168::3")]
    with_routes(hosts[0], group("fd00:10:0:7::/64 fd00:168::3", metric=1024))
    problems = plan_fails(hosts, {"cluster_cidr_v6": "fd00:10::/56"})
    assert len(problems) == 1 and problems[0].startswith(
        "b: pod subnet 'fd00:10:0:7::/64' (recorded) is routed by a to c (fd00:10:0:7::/64 via fd00:168::3")


TAKEOVER = ("host1: route '192.168.1.0/24 via 10.168.0.9 dev eth0 proto static' has the identity of the peer route "
            "to host2 ('192.168.1.0/24 via 10.168.0.2 dev eth0'): remove it, or set hostgw_route_takeover: true to "
            "replace it")


def test_a_foreign_route_in_the_place_of_a_peer_route_is_a_takeover_conflict():
    hosts = seed_hosts()
    with_routes(hosts[0], group("192.168.1.0/24 10.168.0.9", proto="static"))
    assert plan_fails(hosts) == [TAKEOVER]
    plan_ok(hosts, dict(SEED, route_takeover=True))
    plan_ok(hosts, dict(SEED, route_takeover="yes"))


@pytest.mark.parametrize("g,ok", [
    (group("192.168.1.0/24 10.168.0.2", proto="bird"), True),                # identical: left, reported
    (group("192.168.1.0/24 10.168.0.9", proto="static", metric=100), True),  # another identity
    (group("192.168.1.0/24", proto="kernel", dev="cni0"), True),             # a stale bridge address's route
    (group("192.168.1.0/24 10.168.0.2", proto="boot", dev="eth1"), False),   # another device
    (group("192.168.1.0/24", proto="static", dev="", rtype="blackhole"), False),
    (group("192.168.1.0/24", proto="bird", dev="", rtype="multipath"), False),
    (group("192.168.0.0/24 10.168.0.9", proto="static"), True),              # its own subnet: not a peer route
])
def test_takeover_conflict_cases(g, ok):
    hosts = seed_hosts()
    with_routes(hosts[0], g)
    p, problems = cluster.plan(hosts, SEED)
    assert (not problems) == ok, problems
    if not ok:
        assert problems[0].startswith("host1: route '") and "proto %s" % g["proto"] in problems[0]


# ---------------------------------------------------------------------------
# scale: the sorted reachability check agrees with the all-pairs one


def test_reachability_matches_the_all_pairs_definition():
    import ipaddress
    import random

    rnd = random.Random(7)
    hosts = []
    for i in range(60):
        seg = rnd.choice([0, 0, 0, 1, 2])
        conn = [{"dest": "10.%d.0.0/24" % (168 + seg), "dev": "eth0"}]
        if rnd.random() < 0.2:
            conn.append({"dest": "10.%d.0.0/24" % (168 + rnd.choice([0, 1, 2])), "dev": "eth0"})
        hosts.append(host("h%02d" % i, "10.%d.0.%d/24" % (168 + seg, i + 1), connected=conn))
    p, problems = cluster.plan(hosts, SEED)
    expected = []
    for h in sorted(hosts, key=lambda x: x["name"]):
        reach = [ipaddress.ip_network(c["dest"]) for c in h["info"]["connected"]]
        for peer in sorted(hosts, key=lambda x: x["name"]):
            ip = ipaddress.ip_address(peer["info"]["interfaces"]["eth0"]["addresses"][0].split("/")[0])
            if peer is not h and not any(ip in n for n in reach):
                expected.append((h["name"], peer["name"]))
    got = [(pr.split(":")[0], pr.split(" ")[2][:-2]) for pr in problems if "not directly reachable" in pr]
    assert expected and got == expected


# ---------------------------------------------------------------------------
# the reconcile command's files, and whether systemd runs


RECONCILE_TIMER = "/etc/systemd/system/podnet-hostgw-reconcile.timer"
RECONCILE_WATCH = "/etc/systemd/system/podnet-hostgw-reconcile-watch.service"
FOREIGN = {"exists": True, "regular": True, "ours": False}


def with_reconcile_files(hosts, files, systemd=False):
    for h in hosts:
        h["info"]["reconcile_files"] = files
        h["info"]["systemd"] = systemd
    return hosts


def test_a_file_of_someone_else_where_the_reconcile_role_installs_stops_the_run():
    hosts = with_reconcile_files(seed_hosts(), {RECONCILE_TIMER: FOREIGN})
    message = ("%s: " + RECONCILE_TIMER + " is not the collection's (no '# Managed by podnet.hostgw' line at its "
               "top): the reconcile role would install its own there; move it away, or set hostgw_reconcile: false")
    assert plan_fails(hosts, dict(SEED, reconcile=True)) == [message % "host1", message % "host2"]
    plan_ok(hosts, dict(SEED, reconcile=False))         # removal leaves it alone


def test_the_watchers_files_only_matter_with_the_watcher():
    hosts = with_reconcile_files(seed_hosts(), {RECONCILE_WATCH: FOREIGN})
    plan_ok(hosts, dict(SEED, reconcile=True, reconcile_watch=False))
    assert len(plan_fails(hosts, dict(SEED, reconcile=True, reconcile_watch=True))) == 2


def test_the_node_says_whether_systemd_runs_and_which_units_exist():
    ours = {"exists": True, "regular": True, "ours": True}
    hosts = seed_hosts()
    with_reconcile_files(hosts[:1], {RECONCILE_TIMER: ours, RECONCILE_WATCH: {"exists": False}}, systemd=True)
    p = plan_ok(hosts, dict(SEED, reconcile=True))
    assert (p["nodes"]["host1"]["systemd"], p["nodes"]["host1"]["reconcile_units"]) == (
        True, ["podnet-hostgw-reconcile.timer"])
    assert (p["nodes"]["host2"]["systemd"], p["nodes"]["host2"]["reconcile_units"]) == (False, [])

"""What host-gw networking means on every lab host, checked on the kernel.

Expectations come from what each host recorded (its pod subnets and node
IPs in /etc/podnet/hostgw.json), cross-checked against the kernel: bridge
addresses, one route per peer and family, forwarding, CNI config, NAT, and
real traffic between every pair of containers.
"""

import functools
import ipaddress
import itertools
import json

import pytest

from testinfra_lab import lab_host, lab_state, source_seen
from testinfra_lab import record as read_record

record = functools.lru_cache(maxsize=None)(read_record)

FAMILIES = (("", 4), ("_v6", 6))


@functools.lru_cache(maxsize=None)
def cluster_hosts():
    """Lab hosts that are part of the pod network (they have a record)."""
    return tuple(sorted(h for h in lab_state()["hosts"] if lab_host(h).file("/etc/podnet/hostgw.json").exists))


def gateway(subnet):
    net = ipaddress.ip_network(subnet)
    return "%s/%d" % (net[1], net.prefixlen)


def tagged_routes(host, family):
    out = host.check_output("ip -%d -json route show table main proto hostgw" % family)
    return json.loads(out) if out.strip() else []


def test_bridge_holds_exactly_the_pod_gateways(host):
    rec = record(host.backend.hostname)
    want = sorted(gateway(rec["pod_subnet" + k]) for k, _family in FAMILIES if rec["pod_subnet" + k])
    addrs = json.loads(host.check_output("ip -json addr show dev cni0"))[0]["addr_info"]
    got = sorted("%s/%d" % (a["local"], a["prefixlen"]) for a in addrs
                 if not ipaddress.ip_address(a["local"]).is_link_local)
    assert got == want
    link = json.loads(host.check_output("ip -json link show dev cni0"))[0]
    underlay = json.loads(host.check_output("ip -json link show dev eth0"))[0]
    assert "UP" in link["flags"]
    assert link["mtu"] == underlay["mtu"]


def test_forwarding_on_and_persisted(host):
    rec = record(host.backend.hostname)
    persisted = host.file("/etc/sysctl.d/60-podnet-hostgw.conf").content_string
    if rec["pod_subnet"]:
        assert host.sysctl("net.ipv4.ip_forward") == 1
        assert "\nnet.ipv4.ip_forward = 1\n" in persisted
    if rec["pod_subnet_v6"]:
        assert host.sysctl("net.ipv6.conf.all.forwarding") == 1
        assert "\nnet.ipv6.conf.all.forwarding = 1\n" in persisted


def test_exactly_one_route_per_peer_and_family(host):
    name = host.backend.hostname
    peers = [p for p in cluster_hosts() if p != name]
    assert peers, "a cluster of one host proves nothing"
    for key, family in FAMILIES:
        want = sorted((record(p)["pod_subnet" + key], record(p)["node_ip" + key]) for p in peers
                      if record(p)["pod_subnet" + key])
        routes = tagged_routes(host, family)
        assert sorted((r["dst"], r.get("gateway")) for r in routes) == want
        assert all(r["dev"] == "eth0" for r in routes)
        everything = json.loads(host.check_output("ip -%d -json route show table main" % family))
        for dest, _via in want:
            assert len([r for r in everything if r["dst"] == dest]) == 1, dest


def test_cni_config_matches_the_host(host):
    rec = record(host.backend.hostname)
    conf = json.loads(host.file("/etc/cni/net.d/10-podnet.conflist").content_string)
    bridge = conf["plugins"][0]
    assert (bridge["type"], bridge["bridge"], bridge["isGateway"], bridge["ipMasq"]) == ("bridge", "cni0", True, False)
    subnets = [r[0]["subnet"] for r in bridge["ipam"]["ranges"]]
    assert subnets == [rec["pod_subnet" + k] for k, _family in FAMILIES if rec["pod_subnet" + k]]


def test_every_host_has_attached_containers():
    state = lab_state()
    assert {c["host"] for c in state["containers"].values()} == set(cluster_hosts())


def container_pairs():
    state = lab_state()
    names = sorted(c for c, v in state.get("containers", {}).items() if v["host"] in cluster_hosts())
    return [(a, b, ip) for a, b in itertools.permutations(names, 2) for ip in state["containers"][b]["ips"]]


@pytest.mark.parametrize("src,dst,target", container_pairs())
def test_container_reaches_container(src, dst, target):
    result = lab_host(src).run("ping -n -c 1 -W 2 %s" % target)
    assert result.rc == 0, "%s -> %s (%s): %s" % (src, dst, target, result.stdout + result.stderr)


def cross_host_pairs():
    state = lab_state()
    pairs = []
    for a, b in itertools.permutations(sorted(state.get("containers", {})), 2):
        ca, cb = state["containers"][a], state["containers"][b]
        if ca["host"] != cb["host"] and ca["host"] in cluster_hosts() and cb["host"] in cluster_hosts():
            for ip in cb["ips"]:
                pairs.append((a, b, ip))
    # One pair per family is enough to prove the rule; every pair would be slow.
    seen, out = set(), []
    for a, b, ip in pairs:
        family = ":" in ip
        if family not in seen:
            seen.add(family)
            out.append((a, b, ip))
    return out


@pytest.mark.parametrize("src,dst,target", cross_host_pairs())
def test_pod_to_pod_across_hosts_keeps_the_source_address(lab, src, dst, target):
    sender = lab["containers"][src]
    seen = source_seen(lab["containers"][dst]["netns"], target, sender["netns"])
    family_ips = [ip for ip in sender["ips"] if (":" in ip) == (":" in target)]
    assert seen in family_ips, "pod %s -> pod %s was seen from %s" % (src, dst, seen)


def egress_cases():
    state = lab_state()
    cases = []
    for host in cluster_hosts():
        pods = sorted(c for c, v in state["containers"].items() if v["host"] == host)
        if pods:
            families = {":" in ip for ip in state["containers"][pods[0]]["ips"]}
            for outside in state.get("outside", []):
                if (":" in outside) in families:
                    cases.append((pods[0], outside))
    return cases


@pytest.mark.parametrize("src,outside", egress_cases())
def test_pod_to_outside_is_masqueraded_to_the_node_ip(lab, src, outside):
    sender = lab["containers"][src]
    rec = record(sender["host"])
    node_ip = rec["node_ip_v6"] if ":" in outside else rec["node_ip"]
    seen = source_seen(lab["switch"], outside, sender["netns"])
    assert seen == node_ip, "pod %s -> %s was seen from %s, not the node IP %s" % (src, outside, seen, node_ip)

"""What host-gw networking means on every lab host, checked on the kernel."""

import ipaddress
import itertools
import json

import pytest


def peers_of(lab, name):
    return {h: v for h, v in lab["hosts"].items() if h != name}


def hostgw_routes(host):
    out = host.check_output("ip -json route show table main proto hostgw")
    return json.loads(out) if out.strip() else []


def test_bridge_holds_the_pod_gateway(host, lab):
    me = lab["hosts"][host.backend.hostname]
    subnet = ipaddress.ip_network(me["pod_subnet"])
    gateway = "%s/%d" % (subnet[1], subnet.prefixlen)
    bridge = host.interface(me["bridge"])
    assert bridge.exists
    addrs = json.loads(host.check_output("ip -json -4 addr show dev %s" % me["bridge"]))[0]["addr_info"]
    assert ["%s/%d" % (a["local"], a["prefixlen"]) for a in addrs] == [gateway]
    link = json.loads(host.check_output("ip -json link show dev %s" % me["bridge"]))[0]
    assert "UP" in link["flags"]
    underlay = json.loads(host.check_output("ip -json link show dev eth0"))[0]
    assert link["mtu"] == underlay["mtu"]


def test_forwarding_on_and_persisted(host):
    assert host.sysctl("net.ipv4.ip_forward") == 1
    persisted = host.file("/etc/sysctl.d/60-podnet-hostgw.conf")
    assert persisted.exists
    assert "net.ipv4.ip_forward = 1" in persisted.content_string


def test_exactly_one_route_per_peer(host, lab):
    name = host.backend.hostname
    routes = hostgw_routes(host)
    want = sorted((p["pod_subnet"], p["node_ip"]) for p in peers_of(lab, name).values())
    got = sorted((r["dst"], r.get("gateway")) for r in routes)
    assert got == want
    assert all(r["dev"] == "eth0" for r in routes)
    # And nothing else routes a peer's pod subnet elsewhere.
    everything = json.loads(host.check_output("ip -json route show table main"))
    for peer in peers_of(lab, name).values():
        same = [r for r in everything if r["dst"] == peer["pod_subnet"]]
        assert len(same) == 1, same


def test_every_host_has_attached_containers(lab):
    hosts_with_containers = {c["host"] for c in lab.get("containers", {}).values()}
    assert hosts_with_containers == set(lab["hosts"])


def container_pairs():
    from testinfra_lab import lab_state

    names = sorted(lab_state().get("containers", {}))
    return list(itertools.permutations(names, 2))


@pytest.mark.parametrize("src,dst", container_pairs())
def test_container_reaches_container(lab, lab_host, src, dst):
    target = lab["containers"][dst]["ip"]
    result = lab_host(src).run("ping -n -c 1 -W 2 %s" % target)
    assert result.rc == 0, "%s -> %s (%s): %s" % (src, dst, target, result.stdout + result.stderr)

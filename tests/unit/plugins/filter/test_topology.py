"""The topology pictures: SVG and Mermaid drawn from plans made by cluster.plan."""

import ipaddress
import os
import re
import xml.etree.ElementTree as ET

import yaml

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.hostgw.plugins.filter import topology as f
from ansible_collections.podnet.hostgw.plugins.module_utils import cluster
from ansible_collections.podnet.hostgw.plugins.plugin_utils import topology_model as tm
from ansible_collections.podnet.hostgw.plugins.plugin_utils import topology_svg
from tests.conftest import REPO

SVG_NS = "{http://www.w3.org/2000/svg}"
GREEN = topology_svg.COLOUR[tm.REACHED]
RED = topology_svg.COLOUR[tm.FAILED]
GREY = topology_svg.COLOUR[tm.UNTESTED]


def node_info(addr, addr6=None):
    """What node_info reports for a host with ADDR (and ADDR6) on eth0."""
    nets = [addr] + ([addr6] if addr6 else [])
    info = {
        "interfaces": {"eth0": {"mtu": 1500, "up": True, "kind": "veth", "master": "", "addresses": nets}},
        "connected": [{"dest": str(ipaddress.ip_interface(a).network), "dev": "eth0"} for a in nets],
        "default": {"4": {"dev": "eth0", "gateway": "", "src": ""}},
        "recorded": {},
    }
    if addr6:
        info["default"]["6"] = {"dev": "eth0", "gateway": "fd00:168::fe", "src": ""}
    return info


def make_plan(names, dual=False, subnets=None):
    hosts = []
    for i, name in enumerate(names):
        hosts.append({"name": name, "ansible_host": name, "node_ip": None, "node_ip_v6": None, "interface": None,
                      "pod_subnet": (subnets or {}).get(name), "pod_subnet_v6": None,
                      "info": node_info("10.168.%d.%d/16" % (i // 250, i % 250 + 1),
                                        "fd00:168::%x/64" % (i + 1) if dual else None)})
    settings = {"cluster_cidr": "192.168.0.0/16", "cluster_cidr_v6": "fd00:10::/56" if dual else ""}
    plan, problems = cluster.plan(hosts, settings)
    assert not problems, problems
    return plan


SEED = make_plan(["host1", "host2"], subnets={"host1": "192.168.0.0/24", "host2": "192.168.1.0/24"})


def results_for(plan, failed=()):
    """verify.yml's results for PLAN: every ping reached but FAILED (from, to) pairs."""
    pings = []
    for name in plan["nodes"]:
        for r in cluster.peer_routes(plan, name):
            peer = next(x for x in plan["routes"] if x["dest"] == r["dest"])["owner"]
            pings.append({"from": name, "to": peer, "family": 6 if ":" in r["dest"] else 4,
                          "ip": cluster.test_address(r["dest"]), "reached": (name, peer) not in failed})
    return {"kind": tm.RESULTS_KIND, "time": "2025-06-01T10:00:00Z", "pings": pings}


def parse(svg):
    assert svg.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(svg.encode("utf-8"))


def texts(root):
    return ["".join(el.itertext()) for el in root.iter() if el.tag in (SVG_NS + "text", SVG_NS + "title")]


def arrows(root):
    return [el for el in root.iter(SVG_NS + "path") if el.get("class") == "route"]


def route_lines(root):
    return [el for el in root.iter(SVG_NS + "g") if el.get("class") == "route-line"]


def pairs(elements):
    return sorted((el.get("data-from"), el.get("data-to"), el.get("data-family")) for el in elements)


def all_pairs(plan, families=("4",)):
    return sorted((a, b, v) for a in plan["nodes"] for b in plan["nodes"] if a != b for v in families)


def assert_names_everything(root, plan):
    shown = texts(root)
    for name, node in plan["nodes"].items():
        for value in (name, node["node_ip"], node["node_ip_v6"], node["pod_subnet"], node["pod_subnet_v6"],
                      node["gateway"].split("/")[0], node["gateway_v6"].split("/")[0]):
            if value:
                assert any(value in t for t in shown), value


# ---------------------------------------------------------------------------
# SVG


def test_two_hosts_the_seed_picture():
    root = parse(f.hostgw_topology_svg(SEED))
    assert_names_everything(root, SEED)
    shown = texts(root)
    assert "192.168.1.0/24 via 10.168.0.2 dev eth0" in shown
    assert "192.168.0.0/24 via 10.168.0.1 dev eth0" in shown
    assert "192.168.0.0/24 gw 192.168.0.1" in shown and "eth0" in shown and "cni0" in shown
    assert pairs(arrows(root)) == [("host1", "host2", "4"), ("host2", "host1", "4")]
    assert pairs(route_lines(root)) == pairs(arrows(root))
    assert {el.get("stroke") for el in arrows(root)} == {GREY}
    assert any("run playbooks/verify.yml" in t for t in shown)
    # host1 left of host2, side by side
    boxes = [el for el in root.iter(SVG_NS + "g") if el.get("class") == "host"]
    xy = dict((g.get("data-host"), (float(g[1].get("x")), float(g[1].get("y")))) for g in boxes)
    assert xy["host1"][0] < xy["host2"][0] and xy["host1"][1] == xy["host2"][1]


def test_three_hosts_dual_stack_one_arrow_per_route_and_family():
    plan = make_plan(["host1", "host2", "host3"], dual=True)
    root = parse(f.hostgw_topology_svg(plan))
    assert_names_everything(root, plan)
    assert pairs(arrows(root)) == all_pairs(plan, ("4", "6"))
    assert pairs(route_lines(root)) == all_pairs(plan, ("4", "6"))
    assert all(bool(el.get("stroke-dasharray")) == (el.get("data-family") == "6") for el in arrows(root))
    assert "fd00:10:0:1::/64 via fd00:168::2 dev eth0" in texts(root)
    assert "IPv6 route" in texts(root)


def test_thirty_hosts_compact_form_lists_routes_without_arrows():
    names = ["node-%d" % i for i in range(1, 31)]
    plan = make_plan(names)
    root = parse(f.hostgw_topology_svg(plan))
    assert_names_everything(root, plan)
    assert arrows(root) == []
    assert pairs(route_lines(root)) == all_pairs(plan)
    assert len(route_lines(root)) == 30 * 29
    boxes = [g.get("data-host") for g in root.iter(SVG_NS + "g") if g.get("class") == "host"]
    assert boxes[:3] == ["node-1", "node-2", "node-3"]  # natural order: node-2 before node-10
    assert any("30 hosts: each lists its routes" in t for t in texts(root))


def test_beyond_fifty_hosts_boxes_count_routes_and_list_only_failed_ones():
    names = ["h%02d" % i for i in range(60)]
    plan = make_plan(names)
    results = results_for(plan, failed={("h00", "h01")})
    svg = f.hostgw_topology_svg(plan, results)
    root = parse(svg)
    assert arrows(root) == []
    assert pairs(route_lines(root)) == [("h00", "h01", "4")]
    assert route_lines(root)[0].find(SVG_NS + "rect").get("fill") == RED
    shown = texts(root)
    assert "59 routes: 58 reached, 1 failed, 0 untested" in shown
    assert shown.count("59 routes: 59 reached, 0 failed, 0 untested") == 59
    bars = [g for g in root.iter(SVG_NS + "g") if g.get("class") == "tally"]
    assert len(bars) == 60
    assert [r.get("fill") for r in bars[0]] == [GREEN, RED]
    assert len(svg) < 200000


def test_results_colour_arrows_and_route_lines():
    plan = make_plan(["host1", "host2", "host3"], dual=True)
    results = results_for(plan, failed={("host3", "host1")})
    # A result for an address the plan no longer tests is stale: untested.
    stale = next(p for p in results["pings"] if (p["from"], p["to"], p["family"]) == ("host1", "host2", 6))
    stale["ip"] = "fd00:99::fe"
    root = parse(f.hostgw_topology_svg(plan, results))
    colour = dict(((el.get("data-from"), el.get("data-to"), el.get("data-family")), el.get("stroke"))
                  for el in arrows(root))
    assert colour[("host3", "host1", "4")] == colour[("host3", "host1", "6")] == RED
    assert colour[("host1", "host2", "6")] == GREY
    assert colour[("host1", "host2", "4")] == colour[("host2", "host3", "6")] == GREEN
    assert list(colour.values()).count(GREEN) == 9
    states = dict(((el.get("data-from"), el.get("data-to"), el.get("data-family")), el.get("data-state"))
                  for el in route_lines(root))
    assert states[("host3", "host1", "4")] == "failed" and states[("host1", "host2", "6")] == "untested"
    assert any("verify.yml at 2025-06-01T10:00:00Z" in t for t in texts(root))
    for state, colour_value in ((tm.REACHED, GREEN), (tm.FAILED, RED), (tm.UNTESTED, GREY)):
        assert root.find(".//%smarker[@id='head-%s']/%spath" % (SVG_NS, state, SVG_NS)).get("fill") == colour_value


NASTY = 'a<b>&"c\'d'


def test_host_names_from_the_inventory_are_escaped():
    plan = make_plan([NASTY, "host2", "x" * 60 + "<"])
    svg = f.hostgw_topology_svg(plan)
    assert "<b>" not in svg and '&"c' not in svg
    root = parse(svg)
    shown = texts(root)
    assert NASTY in shown
    assert "x" * 60 + "<" in shown  # whole in the tooltip ...
    assert "x" * 39 + "\u2026" in shown  # ... shortened on the box
    assert (NASTY, "host2", "4") in pairs(arrows(root))


def test_characters_xml_cannot_hold_are_replaced():
    plan = make_plan(["bell\x07host", "host2"])
    root = parse(f.hostgw_topology_svg(plan))
    assert "bell\ufffdhost" in texts(root)


# ---------------------------------------------------------------------------
# Mermaid


def edges(chart):
    return re.findall(r"^(h\d+) (-->|-\.->)\|\"([^\"]*)\"\| (h\d+)$", chart, re.M)


def node_labels(chart):
    return dict(re.findall(r'^(h\d+)\["([^"]*)"\]:::\w+$', chart, re.M))


def test_mermaid_two_hosts():
    chart = f.hostgw_topology_mermaid(SEED)
    assert chart.startswith("flowchart LR\n")
    labels = node_labels(chart)
    assert labels == {"h0": "host1<br/>eth0 10.168.0.1<br/>cni0 192.168.0.0/24 gw 192.168.0.1",
                      "h1": "host2<br/>eth0 10.168.0.2<br/>cni0 192.168.1.0/24 gw 192.168.1.1"}
    assert edges(chart) == [("h0", "-->", "192.168.1.0/24 via 10.168.0.2", "h1"),
                            ("h1", "-->", "192.168.0.0/24 via 10.168.0.1", "h0")]
    assert "linkStyle 0,1 stroke:%s" % GREY in chart


def test_mermaid_dual_stack_and_results():
    plan = make_plan(["host1", "host2", "host3"], dual=True)
    chart = f.hostgw_topology_mermaid(plan, results_for(plan, failed={("host2", "host3")}))
    found = edges(chart)
    assert len(found) == 12
    assert sorted((a, b, "6" if arrow == "-.->" else "4") for a, arrow, _label, b in found) == sorted(
        ("h%d" % a, "h%d" % b, v) for a in range(3) for b in range(3) if a != b for v in "46")
    assert ("h1", "-->", "\u2717 192.168.2.0/24 via 10.168.0.3", "h2") in found
    assert ("h0", "-.->", "\u2713 fd00:10:0:1::/64 via fd00:168::2", "h1") in found
    failed = [i for i, (a, _arrow, label, b) in enumerate(found) if label.startswith("\u2717")]
    assert "linkStyle %s stroke:%s" % (",".join(map(str, failed)), RED) in chart
    assert node_labels(chart)["h1"].startswith("host2")
    assert [node_labels(chart)[h] for h in ("h0", "h1", "h2")]
    assert re.findall(r":::(\w+)$", chart, re.M) == ["reached", "failed", "reached"]


def test_mermaid_compact_form_lists_routes_in_the_nodes():
    names = ["node-%d" % i for i in range(1, 31)]
    plan = make_plan(names)
    chart = f.hostgw_topology_mermaid(plan)
    assert chart.startswith("flowchart TB\n")
    assert edges(chart) == []
    labels = node_labels(chart)
    assert len(labels) == 30
    assert sum(label.count(" via ") for label in labels.values()) == 30 * 29
    node2 = plan["nodes"]["node-2"]
    assert "%s via %s dev eth0" % (node2["pod_subnet"], node2["node_ip"]) in labels["h0"]
    assert labels["h1"].startswith("node-2<br/>")
    assert len(re.findall(r"^h\d+ ~~~ h\d+$", chart, re.M)) == 30 - 6


def test_mermaid_escapes_host_names():
    plan = make_plan([NASTY, "host2"])
    chart = f.hostgw_topology_mermaid(plan)
    label = node_labels(chart)["h0"]
    assert label.startswith("a#60;b#62;#38;#34;c'd<br/>")
    # Nothing of the name is left for Mermaid, HTML or Markdown to read.
    assert not re.search(r'[<>&"`|]', label.replace("<br/>", ""))
    assert f.hostgw_topology_mermaid(make_plan(["a#quot;`|", "b"])).count('a#35;quot;#96;#124;') == 1


# ---------------------------------------------------------------------------
# verify's results and bad input


def test_reachability_from_the_registered_ping_loops():
    ok = {"rc": 0, "item": {"host": "b", "family": "4", "ip": "192.168.1.254"}}
    bad = {"rc": 1, "item": {"host": "a", "family": "6", "ip": "fd00::fe"}}
    skipped = {"skipped": True, "item": {"host": "a", "family": "4", "ip": "192.168.0.254"}}
    doc = f.hostgw_reachability(["a", "b"], [{"results": [ok]}, {"results": [bad, skipped]}], "T")
    assert doc == {"kind": tm.RESULTS_KIND, "time": "T", "pings": [
        {"from": "a", "to": "b", "family": 4, "ip": "192.168.1.254", "reached": True},
        {"from": "b", "to": "a", "family": 6, "ip": "fd00::fe", "reached": False}]}
    with pytest.raises(AnsibleFilterError, match="2 hosts but 1 ping results"):
        f.hostgw_reachability(["a", "b"], [{"results": []}])


def test_results_written_by_verify_colour_the_picture():
    plan = SEED
    loops = [{"results": [{"rc": 0, "item": t}]} if name == "host1" else {"results": [{"rc": 1, "item": t}]}
             for name in ("host1", "host2")
             for t in [{"host": "host2" if name == "host1" else "host1", "family": "4",
                        "ip": "192.168.1.254" if name == "host1" else "192.168.0.254"}]]
    doc = f.hostgw_reachability(["host1", "host2"], loops, "T")
    root = parse(f.hostgw_topology_svg(plan, doc))
    assert dict((el.get("data-from"), el.get("stroke")) for el in arrows(root)) == {"host1": GREEN, "host2": RED}


def test_bad_input_fails_clearly():
    with pytest.raises(AnsibleFilterError, match="expected the cluster plan"):
        f.hostgw_topology_svg({"nodes": {}})
    with pytest.raises(AnsibleFilterError, match="not a 'podnet.hostgw verify results' document"):
        f.hostgw_topology_svg(SEED, {"pings": "no"})
    with pytest.raises(AnsibleFilterError, match="lacks from, to or family"):
        f.hostgw_topology_mermaid(SEED, {"kind": tm.RESULTS_KIND, "pings": [{"from": "host1"}]})


def test_the_documented_thresholds_are_the_code_s():
    for name in ("hostgw_topology_svg", "hostgw_topology_mermaid"):
        with open(os.path.join(REPO, "plugins", "filter", name + ".yml")) as fh:
            doc = " ".join(" ".join(yaml.safe_load(fh)["DOCUMENTATION"]["description"]).split())
        assert "Up to %d hosts" % tm.FULL_MAX_HOSTS in doc
        assert "From %d hosts on" % (tm.FULL_MAX_HOSTS + 1) in doc or \
            "From %d to %d hosts" % (tm.FULL_MAX_HOSTS + 1, tm.TABLE_MAX_HOSTS) in doc
        assert "beyond %d hosts" % tm.TABLE_MAX_HOSTS in doc.lower()


def test_thousands_of_hosts_cost_their_hosts_not_their_routes():
    count = 3000
    nodes, routes = {}, []
    for i in range(count):
        name = "n%d" % i
        subnet = "10.%d.%d.0/24" % (64 + i // 256, i % 256)
        nodes[name] = {"name": name, "node_ip": "172.16.%d.%d" % (i // 250, i % 250 + 1), "node_ip_v6": "",
                       "interface": "eth0", "bridge": "cni0", "pod_subnet": subnet,
                       "gateway": subnet.replace(".0/24", ".1/24"), "pod_subnet_v6": "", "gateway_v6": ""}
        routes.append({"owner": name, "dest": subnet, "via": nodes[name]["node_ip"]})
    plan = {"cluster": {"cluster_cidr": "10.64.0.0/10", "cluster_cidr_v6": "", "bridge": "cni0"},
            "nodes": nodes, "routes": routes, "complete": True}
    results = {"kind": tm.RESULTS_KIND, "time": "", "pings": [
        {"from": "n1", "to": "n2", "family": 4, "ip": "10.64.2.254", "reached": False}]}
    topo = tm.build(plan, results)
    assert topo["routes"] == [] and topo["route_count"] == count * (count - 1)
    assert topo["hosts"][1]["counts"] == {"reached": 0, "failed": 1, "untested": count - 2}
    svg = f.hostgw_topology_svg(plan, results)
    assert len(svg) < count * 2500
    root = parse(svg)
    assert pairs(route_lines(root)) == [("n1", "n2", "4")]
    assert len(f.hostgw_topology_mermaid(plan, results)) < count * 500


@pytest.mark.parametrize("count,dual", [(1, False), (2, True), (3, True), (5, False), (12, True), (13, False),
                                        (55, False)])
def test_boxes_do_not_overlap_and_hold_their_text(count, dual):
    plan = make_plan(["host%d" % i for i in range(1, count + 1)], dual=dual)
    root = parse(f.hostgw_topology_svg(plan, results_for(plan, failed={("host1", "host2")})))
    width, height = float(root.get("width")), float(root.get("height"))
    boxes = []
    for g in root.iter(SVG_NS + "g"):
        if g.get("class") != "host":
            continue
        rect = g.find(SVG_NS + "rect")
        x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
        for t in g.iter(SVG_NS + "text"):
            size = float(t.get("font-size") or topology_svg.SIZE)
            tx, ty = float(t.get("x")), float(t.get("y"))
            assert x < tx and tx + topology_svg.width_of(len(t.text), size) <= x + w, t.text
            assert y + size <= ty <= y + h - 2, t.text
        boxes.append((x, y, w, h))
    assert len(boxes) == count
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1:]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1

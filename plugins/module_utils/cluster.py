# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster model: who gets which pod subnet, who routes to whom, and
everything that must be true before any host is changed.

Pure logic on Python's ipaddress, computed once per play on the controller
(by the ``cluster_plan`` action) from the inventory and each host's
``node_info``.  Nothing here runs a command.

Every problem is a sentence that names the host(s) and quotes the offending
value verbatim, so one failed preflight tells the operator everything.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

RECORD_PATH = "/etc/podnet/hostgw.json"
IFNAME = re.compile(r"^[^\s/:]{1,15}$")
FAMILIES = (4, 6)
SUFFIX = {4: "", 6: "_v6"}
DEFAULT_PREFIX = {4: 24, 6: 64}
MAX_PREFIX = {4: 30, 6: 126}
MIN_MTU = {4: 68, 6: 1280}


class Problems(list):
    def add(self, text, *args):
        self.append(text % args if args else text)


def _net(value, version=None):
    """A strict network of VERSION, or None."""
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        return None
    if version and net.version != version:
        return None
    return net


def _ip(value, version=None):
    try:
        addr = ipaddress.ip_address(str(value))
    except ValueError:
        return None
    if version and addr.version != version:
        return None
    return addr


def _network_problem(raw, version, key):
    """Why RAW is not a strict network of VERSION, as the end of a sentence."""
    try:
        loose = ipaddress.ip_network(str(raw), strict=False)
    except ValueError:
        loose = None
    if loose is not None and loose.version == version:
        return "has host bits set; did you mean %s?" % loose
    if loose is not None:
        return "is not an %s network (an %s network; %s takes %s)" % (
            _fam(version), _fam(loose.version), key, _fam(version))
    return "is not an %s network" % _fam(version)


def _blank(value):
    return value is None or (isinstance(value, str) and value.strip() == "")


def _fam(version):
    return "IPv%d" % version


# ---------------------------------------------------------------------------
# settings


def parse_settings(settings, problems):
    """Cluster-wide settings, validated.  Returns a dict of parsed values."""
    out = {"cidr": {}, "prefix": {}, "bridge": settings.get("bridge") or "cni0",
           "bridge_mtu": settings.get("bridge_mtu") or 0}
    for v in FAMILIES:
        key = "hostgw_cluster_cidr" + SUFFIX[v]
        raw = settings.get("cluster_cidr" + SUFFIX[v])
        if _blank(raw):
            out["cidr"][v] = None
        else:
            net = _net(raw, v)
            if net is None:
                problems.add("%s '%s' %s", key, raw, _network_problem(raw, v, key))
            out["cidr"][v] = net
        pkey = "hostgw_subnet_prefix" + SUFFIX[v]
        raw_prefix = settings.get("subnet_prefix" + SUFFIX[v])
        prefix = DEFAULT_PREFIX[v] if _blank(raw_prefix) else raw_prefix
        try:
            prefix = int(prefix)
        except (TypeError, ValueError):
            problems.add("%s '%s' is not a number", pkey, raw_prefix)
            prefix = None
        cidr = out["cidr"][v]
        if prefix is not None and cidr is not None and not cidr.prefixlen <= prefix <= MAX_PREFIX[v]:
            problems.add("%s '%s' must lie between the cluster CIDR's /%d and /%d",
                         pkey, raw_prefix, cidr.prefixlen, MAX_PREFIX[v])
            prefix = None
        out["prefix"][v] = prefix
    if out["cidr"][4] is None and out["cidr"][6] is None:
        problems.add("set hostgw_cluster_cidr (IPv4) and/or hostgw_cluster_cidr_v6 (IPv6): "
                     "the pod network needs at least one family")
    if not IFNAME.match(str(out["bridge"])):
        problems.add("hostgw_bridge '%s' is not a valid interface name", out["bridge"])
    try:
        mtu = int(out["bridge_mtu"])
    except (TypeError, ValueError):
        mtu = -1
    if mtu != 0 and not 68 <= mtu <= 65535:
        problems.add("hostgw_bridge_mtu '%s' is out of range (0 = the underlay's MTU, else 68..65535)",
                     out["bridge_mtu"])
    elif mtu and out["cidr"][6] is not None and mtu < 1280:
        problems.add("hostgw_bridge_mtu '%s' is below 1280, the IPv6 minimum, and IPv6 is enabled",
                     out["bridge_mtu"])
    out["bridge_mtu"] = max(mtu, 0)
    return out


# ---------------------------------------------------------------------------
# one host's view of itself, from node_info


def host_addresses(info):
    """{ip_address: interface} for every address on the host."""
    found = {}
    for name, iface in (info.get("interfaces") or {}).items():
        for cidr in iface.get("addresses") or []:
            addr = _ip(str(cidr).split("/")[0])
            if addr is not None:
                found[addr] = name
    return found


def connected_networks(info, dev):
    """Networks reachable on DEV without a gateway (flannel's check)."""
    nets = []
    for route in info.get("connected") or []:
        if route.get("dev") == dev:
            net = _net(route.get("dest"))
            if net is not None:
                nets.append(net)
    return nets


def underlay_networks(info, bridge):
    """Networks of the host's addresses, except on the pod bridge and lo."""
    nets = []
    for name, iface in (info.get("interfaces") or {}).items():
        if name in (bridge, "lo"):
            continue
        for cidr in iface.get("addresses") or []:
            try:
                net = ipaddress.ip_interface(str(cidr)).network
            except ValueError:
                continue
            if not net.is_link_local and net.prefixlen < net.max_prefixlen:
                nets.append((name, net))
    return nets


def default_address(info, version):
    """The host's default address of VERSION, as Ansible's default_ipv4 would pick it."""
    default = (info.get("default") or {}).get(str(version)) or {}
    if default.get("src"):
        return _ip(default["src"], version)
    dev = default.get("dev")
    gateway = _ip(default.get("gateway"), version)
    iface = (info.get("interfaces") or {}).get(dev) or {}
    first = None
    for cidr in iface.get("addresses") or []:
        try:
            ifc = ipaddress.ip_interface(str(cidr))
        except ValueError:
            continue
        if ifc.version != version or ifc.ip.is_link_local:
            continue
        if gateway is not None and gateway in ifc.network:
            return ifc.ip
        first = first or ifc.ip
    return first


# ---------------------------------------------------------------------------
# resolving each host


def resolve_host(host, s, problems):
    """Validate one host's inventory values and resolve its node IPs and interface.

    HOST: {name, pod_subnet, pod_subnet_v6, node_ip, node_ip_v6, interface,
    ansible_host, info (node_info result or None)}.
    """
    name = host["name"]
    info = host.get("info")
    node = {"name": name, "known": info is not None, "bridge": s["bridge"]}
    for v in FAMILIES:
        key = "hostgw_pod_subnet" + SUFFIX[v]
        raw = host.get("pod_subnet" + SUFFIX[v])
        node["explicit" + SUFFIX[v]] = None
        node["explicit_given" + SUFFIX[v]] = not _blank(raw)
        if _blank(raw):
            continue
        if s["cidr"][v] is None:
            problems.add("%s: %s '%s' is set but hostgw_cluster_cidr%s is not", name, key, raw, SUFFIX[v])
            continue
        net = _net(raw, v)
        if net is None:
            problems.add("%s: %s '%s' %s", name, key, raw, _network_problem(raw, v, key))
            continue
        if not net.subnet_of(s["cidr"][v]):
            problems.add("%s: %s '%s' is outside hostgw_cluster_cidr%s '%s'",
                         name, key, raw, SUFFIX[v], s["cidr"][v])
            continue
        if net.num_addresses < 4:
            problems.add("%s: %s '%s' is too small for a gateway and pods", name, key, raw)
            continue
        node["explicit" + SUFFIX[v]] = net

    addresses = host_addresses(info) if info else {}
    for v in FAMILIES:
        key = "hostgw_node_ip" + SUFFIX[v]
        raw = host.get("node_ip" + SUFFIX[v])
        node["node_ip" + SUFFIX[v]] = None
        if s["cidr"][v] is None and _blank(raw):
            continue
        if not _blank(raw):
            ip = _ip(raw, v)
            if ip is None:
                problems.add("%s: %s '%s' is not an %s address", name, key, raw, _fam(v))
                continue
        elif v == 4 and _ip(host.get("ansible_host"), 4) is not None:
            ip = _ip(host.get("ansible_host"), 4)
        elif info is not None:
            ip = default_address(info, v)
            if ip is None:
                problems.add("%s: no %s node IP: set %s, or give the host a default %s route",
                             name, _fam(v), key, _fam(v))
                continue
        else:
            continue  # unknown host without an explicit IP: not routable this run
        if info is not None and ip not in addresses:
            problems.add("%s: node IP '%s' is not an address of this host (it has %s)", name,
                         raw if not _blank(raw) else ip,
                         ", ".join(sorted(str(a) for a in addresses if a.version == v and not a.is_loopback
                                          and not a.is_link_local)) or "none")
            continue
        node["node_ip" + SUFFIX[v]] = ip

    raw_iface = host.get("interface")
    if not _blank(raw_iface):
        if not IFNAME.match(str(raw_iface)):
            problems.add("%s: hostgw_interface '%s' is not a valid interface name", name, raw_iface)
            raw_iface = None
        elif info is not None and raw_iface not in (info.get("interfaces") or {}):
            problems.add("%s: hostgw_interface '%s' does not exist (the host has %s)", name, raw_iface,
                         ", ".join(sorted(info.get("interfaces") or {})))
            raw_iface = None
        node["interface"] = raw_iface
    else:
        ip = node.get("node_ip") or node.get("node_ip_v6")
        node["interface"] = addresses.get(ip) if ip is not None else None
    iface = ((info or {}).get("interfaces") or {}).get(node.get("interface")) or {}
    node["underlay_mtu"] = iface.get("mtu")
    return node


# ---------------------------------------------------------------------------
# allocation


def _recorded(host, v):
    rec = ((host.get("info") or {}).get("recorded") or {})
    return rec.get("pod_subnet" + SUFFIX[v])


def allocate(hosts, nodes, s, problems, version):
    """Give every node a pod subnet of VERSION: explicit, else recorded, else
    the lowest free block.  Claims are checked for overlap first."""
    v = version
    cidr, prefix = s["cidr"][v], s["prefix"][v]
    key = "pod_subnet" + SUFFIX[v]
    if cidr is None:
        for node in nodes.values():
            node[key] = None
        return
    claims = []  # (network, host, source)
    for host in hosts:
        node = nodes[host["name"]]
        node[key] = None
        node["allocated" + SUFFIX[v]] = False
        node["source" + SUFFIX[v]] = ""
        explicit = node.get("explicit" + SUFFIX[v])
        if explicit is not None:
            claims.append((explicit, host["name"], "hostgw_pod_subnet%s" % SUFFIX[v]))
            continue
        if node.get("explicit_given" + SUFFIX[v]):
            continue  # invalid explicit value, already reported
        raw = _recorded(host, v)
        if _blank(raw):
            continue
        net = _net(raw, v)
        if net is None or not net.subnet_of(cidr):
            problems.add("%s: recorded pod subnet '%s' (%s) is not inside hostgw_cluster_cidr%s '%s'; "
                         "set hostgw_pod_subnet%s for this host, or reset it first",
                         host["name"], raw, RECORD_PATH, SUFFIX[v], cidr, SUFFIX[v])
            continue
        claims.append((net, host["name"], "recorded in %s" % RECORD_PATH))

    claims.sort(key=lambda c: (c[0].network_address, c[0].prefixlen))
    ok = True
    for i, (net, name, source) in enumerate(claims):
        # Sorted by start: a claim can only overlap claims that start before its end.
        for other, oname, osource in claims[i + 1:]:
            if other.network_address > net.broadcast_address:
                break
            problems.add("pod subnets overlap: %s has '%s' (%s) and %s has '%s' (%s)",
                         name, net, source, oname, other, osource)
            ok = False
    for net, name, source in claims:
        nodes[name][key] = net
        nodes[name]["source" + SUFFIX[v]] = "recorded" if source.startswith("recorded") else "inventory"
    if not ok or prefix is None:
        return

    wanting = sorted(h["name"] for h in hosts if nodes[h["name"]][key] is None
                     and nodes[h["name"]].get("known"))
    if not wanting:
        return
    unknown = sorted(h["name"] for h in hosts if not nodes[h["name"]].get("known")
                     and nodes[h["name"]][key] is None)
    if unknown:
        problems.add("cannot allocate %s pod subnets for %s while %s cannot be read (unreachable or "
                     "outside --limit): their recorded subnets are unknown",
                     _fam(v), ", ".join(wanting), ", ".join(unknown))
        return
    step = 1 << (cidr.max_prefixlen - prefix)
    start, end = int(cidr.network_address), int(cidr.broadcast_address)
    taken = sorted((int(n.network_address), int(n.broadcast_address)) for n, _, _ in claims)
    cls = ipaddress.IPv4Network if v == 4 else ipaddress.IPv6Network
    candidate, t = start, 0
    for name in wanting:
        while candidate <= end:
            while t < len(taken) and taken[t][1] < candidate:
                t += 1
            if t < len(taken) and taken[t][0] <= candidate + step - 1:
                # Overlaps a claim: jump past it, aligned to the block size.
                candidate = ((taken[t][1] - start) // step + 1) * step + start
                continue
            break
        if candidate > end:
            problems.add("hostgw_cluster_cidr%s '%s' has no free /%d left for %s "
                         "(%d hosts, %d blocks of /%d)", SUFFIX[v], cidr, prefix, name,
                         len(hosts), (end - start + 1) // step, prefix)
            return
        nodes[name][key] = cls((candidate, prefix))
        nodes[name]["allocated" + SUFFIX[v]] = True
        nodes[name]["source" + SUFFIX[v]] = "allocated"
        candidate += step


# ---------------------------------------------------------------------------
# cross-host checks


def check_cluster(hosts, nodes, s, problems):
    by_ip = {}
    for node in nodes.values():
        for v in FAMILIES:
            ip = node.get("node_ip" + SUFFIX[v])
            if ip is not None:
                by_ip.setdefault(ip, []).append(node["name"])
    for ip, names in sorted(by_ip.items(), key=lambda kv: (kv[0].version, kv[0])):
        if len(names) > 1:
            problems.add("duplicate node IP '%s': %s", ip, ", ".join(sorted(names)))

    infos = dict((h["name"], h.get("info")) for h in hosts)
    for name in sorted(nodes):
        node, info = nodes[name], infos[name]
        if info is None:
            continue
        for dev, net in underlay_networks(info, s["bridge"]):
            for v in FAMILIES:
                cidr = s["cidr"][v]
                if cidr is None or cidr.version != net.version or not cidr.overlaps(net):
                    continue
                subnets = [(other, nodes[other].get("pod_subnet" + SUFFIX[v])) for other in sorted(nodes)]
                clashing = [(other, sub) for other, sub in subnets if sub is not None and sub.overlaps(net)]
                for other, sub in clashing:
                    problems.add("%s: pod subnet '%s' of %s overlaps the underlay network %s on %s",
                                 name, sub, other, net, dev)
                if not clashing:
                    problems.add("%s: hostgw_cluster_cidr%s '%s' overlaps the underlay network %s on %s",
                                 name, SUFFIX[v], cidr, net, dev)
        if node.get("interface") is None:
            if node.get("node_ip") or node.get("node_ip_v6"):
                problems.add("%s: no interface holds node IP %s; set hostgw_interface",
                             name, node.get("node_ip") or node.get("node_ip_v6"))
            continue
        mtu = node.get("underlay_mtu")
        if mtu is not None and s["cidr"][6] is not None and int(mtu) < 1280:
            problems.add("%s: MTU %s of %s is below 1280, the IPv6 minimum", name, mtu, node["interface"])
        reach = connected_networks(info, node["interface"])
        for peer in sorted(nodes):
            if peer == name:
                continue
            for v in FAMILIES:
                ip = nodes[peer].get("node_ip" + SUFFIX[v])
                if ip is None or s["cidr"][v] is None:
                    continue
                if not any(ip in net for net in reach if net.version == v):
                    problems.add("%s: peer %s's node IP %s is not directly reachable on %s (connected: %s); "
                                 "host-gw needs every node on one L2 segment", name, peer, ip,
                                 node["interface"],
                                 ", ".join(str(n) for n in reach if n.version == v) or "none")


# ---------------------------------------------------------------------------
# the plan


def _gateway(net):
    return "%s/%d" % (net.network_address + 1, net.prefixlen) if net is not None else None


def plan(hosts, settings):
    """Compute the cluster plan.

    Returns ``(plan, problems)``.  ``plan['nodes'][name]`` is the host's
    ``hostgw_node``; ``plan['routes']`` the cluster's route list (each with
    its ``owner``); ``plan['complete']`` is False when some host could not be
    read, so callers must not purge on it.
    """
    problems = Problems()
    s = parse_settings(settings, problems)
    if problems:
        return None, problems
    nodes = {}
    for host in hosts:
        nodes[host["name"]] = resolve_host(host, s, problems)
    for v in FAMILIES:
        allocate(hosts, nodes, s, problems, v)
    check_cluster(hosts, nodes, s, problems)
    if problems:
        return None, problems

    out_nodes, routes = {}, []
    for name in sorted(nodes):
        n = nodes[name]
        mtu = s["bridge_mtu"] or n.get("underlay_mtu") or 1500
        out = {
            "name": name,
            "node_ip": str(n["node_ip"]) if n.get("node_ip") else "",
            "node_ip_v6": str(n["node_ip_v6"]) if n.get("node_ip_v6") else "",
            "interface": n.get("interface") or "",
            "mtu": int(mtu),
            "bridge": s["bridge"],
            "pod_subnet": str(n["pod_subnet"]) if n.get("pod_subnet") else "",
            "gateway": _gateway(n.get("pod_subnet")) or "",
            "pod_subnet_v6": str(n["pod_subnet_v6"]) if n.get("pod_subnet_v6") else "",
            "gateway_v6": _gateway(n.get("pod_subnet_v6")) or "",
            "allocated": bool(n.get("allocated")),
            "allocated_v6": bool(n.get("allocated_v6")),
            "source": n.get("source") or "",
            "source_v6": n.get("source_v6") or "",
            "known": bool(n.get("known")),
        }
        out_nodes[name] = out
        for v in FAMILIES:
            sub, ip = out["pod_subnet" + SUFFIX[v]], out["node_ip" + SUFFIX[v]]
            if sub and ip:
                routes.append({"owner": name, "dest": sub, "via": ip})
    routes.sort(key=lambda r: (":" in r["dest"], _net(r["dest"])))
    cluster = {
        "cluster_cidr": str(s["cidr"][4]) if s["cidr"][4] else "",
        "cluster_cidr_v6": str(s["cidr"][6]) if s["cidr"][6] else "",
        "bridge": s["bridge"],
    }
    complete = all(n["known"] and (n["pod_subnet"] or n["pod_subnet_v6"]) for n in out_nodes.values())
    return {"cluster": cluster, "nodes": out_nodes, "routes": routes, "complete": complete}, problems


def test_address(subnet):
    """The address verify.yml gives its test container: the pod subnet's last
    usable one.  The CNI configuration ends IPAM's range just before it."""
    net = ipaddress.ip_network(subnet)
    return str(net[-2])


def ipam_range_end(subnet):
    """The last address host-local IPAM may hand out (test_address stays free)."""
    net = ipaddress.ip_network(subnet)
    return str(net[-3])


def peer_routes(the_plan, name):
    """NAME's routes: every other node's pod subnets via its node IPs, on NAME's interface."""
    dev = the_plan["nodes"][name]["interface"]
    return [{"dest": r["dest"], "via": r["via"], "dev": dev}
            for r in the_plan["routes"] if r["owner"] != name]

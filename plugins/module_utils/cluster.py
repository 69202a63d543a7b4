# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster model: who gets which pod subnet, who routes to whom, and
everything that must be true before any host is changed.

Pure logic on Python's ipaddress, computed once per play on the controller
(by the ``cluster_plan`` action) from the inventory and each host's
``node_info``.  Nothing here runs a command.

Every problem is one sentence in the collection's shape (``names.problem``):
it names the host(s) and quotes the offending value, so one failed preflight
tells the operator everything.

Every check that compares hosts with hosts is sorted, hashed or per network:
planning stays O(N log N) in the number of hosts, and linear in the number
of routes the hosts report.
"""

import bisect
import ipaddress
import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import names
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.errors import Problems
from ansible_collections.podnet.hostgw.plugins.module_utils.reconcile_files import (
    DEFAULT_LAYOUT as RECONCILE_LAYOUT, UNITS as RECONCILE_UNITS, WATCH_SERVICE, interval_problem)

FAMILIES = (4, 6)
SUFFIX = {4: "", 6: "_v6"}
DEFAULT_PREFIX = {4: 24, 6: 64}
# The smallest pod subnet: the gateway (first address), at least one pod
# address, and the address verify.yml borrows (test_address, the last usable
# one) that the CNI range stops before (ipam_range_end).  A /30 (or /126)
# leaves the range empty; a /29 (/125) leaves four pod addresses.
MAX_PREFIX = {4: 29, 6: 125}
# The metric ip_route gives a route without one (the kernel stores an IPv6
# metric 0 as 1024): a peer route's identity in the main table.
DEFAULT_METRIC = {4: 0, 6: 1024}
# Routes the kernel made itself (an address's connected route): never taken
# over, and a stale gateway address on the bridge goes before routes change.
KERNEL_PROTOCOLS = frozenset(("kernel",))

PATH_SETTINGS = ("record_path", "sysctl_file", "cni_conf_dir", "flannel_subnet_env_path", "cni_plugins_dir",
                 "cni_bin_dir")
BOOL_SETTINGS = ("masquerade", "route_purge", "route_nexthop_objects", "route_takeover", "local_fact",
                 "cni_default_route", "cni_hairpin", "cni_portmap", "flannel_subnet_env", "reconcile",
                 "reconcile_watch", "cni_plugins_install")
CHOICES = {
    "netfilter_backend": ("auto", "nftables", "iptables"),
    "cni_version": ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"),
}
CNI_CONF_SUFFIX = ".conflist"
PACKAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")
# Every setting the cluster_plan action passes on (hostgw_<name> in the roles).
SETTINGS = (("cluster_cidr", "cluster_cidr_v6", "subnet_prefix", "subnet_prefix_v6", "bridge", "bridge_mtu",
             "route_protocol", "netfilter_name", "cni_conf_file", "cni_network_name", "reconcile_interval",
             "cni_plugins_package") + PATH_SETTINGS + BOOL_SETTINGS + tuple(CHOICES))
# Used when a caller leaves a setting out (the preflight role passes them all).
DEFAULTS = {"bridge": "cni0", "bridge_mtu": 0, "route_protocol": names.DEFAULT_PROTOCOL_NAME,
            "route_takeover": False}


def _key(name):
    return "hostgw_" + name


def _blank(value):
    return value is None or (isinstance(value, str) and value.strip() == "")


def _fam(version):
    return names.family(version)


def _network(value, version, key, problems, prefix=""):
    """VALUE as a strict network of VERSION, or None with a problem added."""
    _v, canon, bad = names.parse_prefix(value, version, bare_host=False)
    if bad:
        problems.append(prefix + names.problem(key, value, bad))
        return None
    return ipaddress.ip_network(canon)


def _address(value, version):
    _v, canon, bad = names.parse_ip(value, version)
    return (ipaddress.ip_address(canon), None) if bad is None else (None, bad)


def _too_small(version):
    return ("is too small: a pod subnet needs at least /%d (the gateway, pod addresses and the "
            "address verify.yml borrows)" % MAX_PREFIX[version])


# ---------------------------------------------------------------------------
# settings


def parse_settings(settings, problems):
    """Cluster-wide settings, validated with the rules the modules apply.

    Returns the parsed values; ``s['fatal']`` is True when the pod network
    itself (CIDRs, prefixes) is unusable, so no host can be planned."""
    def get(name):
        return settings.get(name, DEFAULTS.get(name))

    s = {"cidr": {}, "prefix": {}, "fatal": False}
    for v in FAMILIES:
        key = "hostgw_cluster_cidr" + SUFFIX[v]
        raw = get("cluster_cidr" + SUFFIX[v])
        cidr = None if _blank(raw) else _network(raw, v, key, problems)
        if not _blank(raw) and cidr is None:
            s["fatal"] = True
        if cidr is not None and cidr.prefixlen > MAX_PREFIX[v]:
            problems.append(names.problem(key, raw, "is smaller than /%d, the smallest pod subnet" % MAX_PREFIX[v]))
            cidr, s["fatal"] = None, True
        s["cidr"][v] = cidr
        pkey = "hostgw_subnet_prefix" + SUFFIX[v]
        raw_prefix = get("subnet_prefix" + SUFFIX[v])
        prefix = DEFAULT_PREFIX[v] if _blank(raw_prefix) else raw_prefix
        try:
            prefix = int(prefix) if not isinstance(prefix, bool) else None
        except (TypeError, ValueError):
            prefix = None
        if prefix is None:
            problems.append(names.problem(pkey, raw_prefix, "is not a number"))
        elif cidr is not None and not cidr.prefixlen <= prefix <= MAX_PREFIX[v]:
            problems.append(names.problem(pkey, raw_prefix, "must lie between the cluster CIDR's /%d and /%d "
                                                            "(the smallest pod subnet)"
                                          % (cidr.prefixlen, MAX_PREFIX[v])))
            prefix = None
        if prefix is None and cidr is not None:
            s["fatal"] = True
        s["prefix"][v] = prefix
    if s["cidr"][4] is None and s["cidr"][6] is None and not s["fatal"]:
        problems.add("set hostgw_cluster_cidr (IPv4) and/or hostgw_cluster_cidr_v6 (IPv6): "
                     "the pod network needs at least one family")
        s["fatal"] = True

    s["bridge"] = get("bridge")
    bad = names.ifname_problem(s["bridge"])
    if bad:
        problems.append(names.problem("hostgw_bridge", s["bridge"], bad))
    raw_mtu = get("bridge_mtu")
    try:
        mtu = int(raw_mtu) if not isinstance(raw_mtu, bool) else -1
    except (TypeError, ValueError):
        mtu = -1
    if mtu != 0 and not 68 <= mtu <= 65535:
        problems.append(names.problem("hostgw_bridge_mtu", raw_mtu,
                                      "is out of range (0 = the underlay's MTU, else 68..65535)"))
    elif mtu and s["cidr"][6] is not None and mtu < 1280:
        problems.append(names.problem("hostgw_bridge_mtu", raw_mtu,
                                      "is below 1280, the IPv6 minimum, and IPv6 is enabled"))
    s["bridge_mtu"] = max(mtu, 0)

    s["route_protocol"] = get("route_protocol")
    problems.extend(names.route_protocol_problems(s["route_protocol"], names.DEFAULT_PROTOCOL_NUMBER,
                                                  name_key="hostgw_route_protocol"))
    # ip -json route shows the name where rt_protos maps it, else the number.
    s["ours"] = frozenset((str(s["route_protocol"]), str(names.DEFAULT_PROTOCOL_NUMBER)))
    _check_names(get, problems)
    s["record_path"] = get("record_path")
    s["sysctl_file"] = get("sysctl_file")
    takeover = get("route_takeover")
    s["route_takeover"] = takeover is not None and _bool(takeover) is True
    for name in ("reconcile", "reconcile_watch"):
        value = get(name)
        s[name] = value is not None and _bool(value) is True
    return s


def _bool(value):
    """Ansible's own reading of a boolean, or None."""
    try:
        return boolean(value, strict=True)
    except TypeError:
        return None


def _check_names(get, problems):
    """The name, path, choice and boolean settings the roles hand to modules."""
    value = get("netfilter_name")
    if value is not None:
        problems.extend(names.netfilter_name_problems(value, key="hostgw_netfilter_name"))
    for name in PATH_SETTINGS:
        value = get(name)
        bad = None if value is None else names.abs_path_problem(value)
        if bad:
            problems.append(names.problem(_key(name), value, bad))
    value = get("cni_conf_file")
    if value is not None:
        bad = names.filename_problem(value)
        if bad is None and not value.endswith(CNI_CONF_SUFFIX):
            bad = "must end in %s (the file is a CNI configuration list)" % CNI_CONF_SUFFIX
        if bad:
            problems.append(names.problem("hostgw_cni_conf_file", value, bad))
    value = get("cni_network_name")
    bad = None if value is None else names.cni_name_problem(value)
    if bad:
        problems.append(names.problem("hostgw_cni_network_name", value, bad))
    for name, choices in CHOICES.items():
        value = get(name)
        if value is not None and value not in choices:
            problems.append(names.problem(_key(name), value, "must be one of %s" % ", ".join(choices)))
    for name in BOOL_SETTINGS:
        value = get(name)
        if value is not None and _bool(value) is None:
            problems.append(names.problem(_key(name), value, "is not a boolean (true or false)"))
    value = get("reconcile_interval")
    bad = None if value is None else interval_problem(value)
    if bad:
        problems.append(names.problem("hostgw_reconcile_interval", value, bad))
    _check_cni_plugins(get, problems)


def _check_cni_plugins(get, problems):
    """The package name and the two directories of hostgw_cni_plugins_install."""
    value = get("cni_plugins_package")
    if value is not None and (not isinstance(value, str) or not PACKAGE_NAME.fullmatch(value)):
        problems.append(names.problem("hostgw_cni_plugins_package", value,
                                      "is not a package name (letters, digits, '+', '-', '.', '_')"))
    source, target = get("cni_plugins_dir"), get("cni_bin_dir")
    if source is not None and source == target:
        problems.append(names.problem("hostgw_cni_bin_dir", target,
                                      "is hostgw_cni_plugins_dir itself: the links would point at themselves"))


# ---------------------------------------------------------------------------
# one host's view of itself, from node_info


def host_addresses(info):
    """{ip_address: interface} for every address on the host."""
    found = {}
    for name, iface in (info.get("interfaces") or {}).items():
        for cidr in iface.get("addresses") or []:
            try:
                found[ipaddress.ip_address(str(cidr).split("/", 1)[0])] = name
            except ValueError:
                continue
    return found


def connected_networks(info, dev):
    """Networks reachable on DEV without a gateway (flannel's check)."""
    nets = []
    for route in info.get("connected") or []:
        if route.get("dev") == dev:
            try:
                nets.append(ipaddress.ip_network(str(route.get("dest"))))
            except ValueError:
                continue
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
        return _address(default["src"], version)[0]
    dev = default.get("dev")
    gateway = _address(default.get("gateway"), version)[0] if default.get("gateway") else None
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
    at = "%s: " % name
    for v in FAMILIES:
        key = "hostgw_pod_subnet" + SUFFIX[v]
        raw = host.get("pod_subnet" + SUFFIX[v])
        node["explicit" + SUFFIX[v]] = None
        node["explicit_given" + SUFFIX[v]] = not _blank(raw)
        if _blank(raw):
            continue
        if s["cidr"][v] is None:
            problems.append(at + names.problem(key, raw, "is set but hostgw_cluster_cidr%s is not" % SUFFIX[v]))
            continue
        net = _pod_subnet(raw, v, key, s, problems, at)
        if net is not None:
            node["explicit" + SUFFIX[v]] = net

    addresses = host_addresses(info) if info else {}
    for v in FAMILIES:
        key = "hostgw_node_ip" + SUFFIX[v]
        raw = host.get("node_ip" + SUFFIX[v])
        node["node_ip" + SUFFIX[v]] = None
        if s["cidr"][v] is None and _blank(raw):
            continue
        source = None
        if not _blank(raw):
            ip, bad = _address(raw, v)
            if bad:
                problems.append(at + names.problem(key, raw, bad))
                continue
            source = (key, raw)
        elif v == 4 and _address(host.get("ansible_host"), 4)[0] is not None:
            ip = _address(host.get("ansible_host"), 4)[0]
            source = ("ansible_host", host.get("ansible_host"))
        elif info is not None:
            ip = default_address(info, v)
            if ip is None:
                problems.add("%s: no %s node IP: set %s, or give the host a default %s route",
                             name, _fam(v), key, _fam(v))
                continue
        else:
            continue  # unknown host without an explicit IP: not routable this run
        if info is not None and ip not in addresses:
            have = ", ".join(sorted(str(a) for a in addresses if a.version == v and not a.is_loopback
                                    and not a.is_link_local)) or "none"
            problems.append(at + names.problem(source[0], source[1],
                                               "is not an address of this host (it has %s)" % have))
            continue
        node["node_ip" + SUFFIX[v]] = ip

    raw_iface = host.get("interface")
    node["interface_given"] = not _blank(raw_iface)
    if not _blank(raw_iface):
        bad = names.ifname_problem(raw_iface)
        if bad:
            problems.append(at + names.problem("hostgw_interface", raw_iface, bad))
            raw_iface = None
        elif info is not None and raw_iface not in (info.get("interfaces") or {}):
            problems.append(at + names.problem("hostgw_interface", raw_iface, "does not exist (the host has %s)"
                                               % ", ".join(sorted(info.get("interfaces") or {}))))
            raw_iface = None
        node["interface"] = raw_iface
    else:
        ip = node.get("node_ip") or node.get("node_ip_v6")
        node["interface"] = addresses.get(ip) if ip is not None else None
    iface = ((info or {}).get("interfaces") or {}).get(node.get("interface")) or {}
    node["underlay_mtu"] = iface.get("mtu")
    node["systemd"] = bool((info or {}).get("systemd"))
    found = (info or {}).get("reconcile_files") or {}
    node["reconcile_units"] = [name for name in RECONCILE_UNITS
                               if (found.get(RECONCILE_LAYOUT.unit(name)) or {}).get("exists")]
    return node


def _pod_subnet(raw, v, key, s, problems, at):
    """RAW as a pod subnet of version V: a strict network inside the cluster
    CIDR and big enough for pods; None with a problem otherwise."""
    net = _network(raw, v, key, problems, at)
    if net is None:
        return None
    cidr = s["cidr"][v]
    if not net.subnet_of(cidr):
        problems.append(at + names.problem(key, raw, "is outside hostgw_cluster_cidr%s %s"
                                           % (SUFFIX[v], names.show(str(cidr)))))
        return None
    if net.prefixlen > MAX_PREFIX[v]:
        problems.append(at + names.problem(key, raw, _too_small(v)))
        return None
    return net


# ---------------------------------------------------------------------------
# the record


def _record_label(s):
    return "recorded in %s" % names.show(s["record_path"]) if s.get("record_path") else "recorded"


def _record_where(s):
    path = s.get("record_path")
    return "hostgw_record_path %s" % names.show(path) if path else "the record"


def recorded_subnet(host, s, problems, v):
    """The host's recorded pod subnet of version V, checked exactly like an
    explicit one, and of the cluster's prefix; None if absent or bad."""
    info = host.get("info") or {}
    raw = (info.get("recorded") or {}).get("pod_subnet" + SUFFIX[v])
    if _blank(raw):
        return None
    name = host["name"]
    at = "%s: " % name
    key = "recorded pod subnet"
    found = Problems()
    net = _pod_subnet(raw, v, key, s, found, at)
    if net is None:
        problems.extend("%s; set hostgw_pod_subnet%s for %s to replace the record (%s), or reset %s "
                        "(playbooks/reset.yml --limit %s) to allocate a new one"
                        % (p, SUFFIX[v], name, _record_where(s), name, name) for p in found)
        return None
    prefix = s["prefix"][v]
    if prefix is not None and net.prefixlen != prefix:
        problems.append(at + names.problem(
            key, raw, "is a /%d, not a /%d (hostgw_subnet_prefix%s): to keep it, set hostgw_pod_subnet%s: %s "
                      "for %s; to get a /%d instead, reset %s (playbooks/reset.yml --limit %s), which removes "
                      "the record (%s)"
            % (net.prefixlen, prefix, SUFFIX[v], SUFFIX[v], net, name, prefix, name, name, _record_where(s))))
        return None
    return net


def record_problems(hosts, s, problems):
    """The record files node_info could not read (a FIFO, too large, not JSON...)."""
    path = s.get("record_path")
    if path is not None and names.abs_path_problem(path) is not None:
        return  # the setting itself is reported
    for host in hosts:
        bad = (host.get("info") or {}).get("record_problem")
        if bad:
            problems.append("%s: %s" % (host["name"], names.problem("hostgw_record_path", path, bad)
                                        if path else "the record " + bad))


# ---------------------------------------------------------------------------
# what the peers route: evidence about the hosts they route to


def _our_route_lists(hosts, s):
    """``(host name, ["DEST VIA", ...])`` for every group of the collection's
    routes the readable hosts reported."""
    for host in hosts:
        for group in (host.get("info") or {}).get("cluster_routes") or ():
            if group.get("proto") in s["ours"] and group.get("type") == "unicast":
                yield host["name"], group.get("to") or ()


def route_evidence(hosts, s):
    """Every route of the collection's protocol that a readable host holds in
    its main table inside the cluster CIDRs, once, parsed:
    ``[(version, first, last, network, via, "DEST VIA")]``.  Linear in the
    number of routes (hashed in C); only the distinct ones are parsed."""
    seen = set()
    for _name, to in _our_route_lists(hosts, s):
        seen.update(to)
    held = []
    for text in seen:
        dest, _sep, via = text.partition(" ")
        version, canon, bad = names.parse_prefix(dest)
        if bad or not via:
            continue  # not a route to a node
        ip, bad = _address(via, version)
        if bad:
            continue
        net = ipaddress.ip_network(canon)
        held.append((version, int(net.network_address), int(net.broadcast_address), net, ip, text))
    held.sort(key=lambda h: (h[0], h[1], h[2], h[5]))
    return held


def reporters(hosts, s, texts):
    """{"DEST VIA": the first host by name that holds that route}, for TEXTS
    only (the routes a problem names): one pass, stopping when all are found."""
    pending, found = set(texts), {}
    for name, to in sorted(_our_route_lists(hosts, s), key=lambda nt: nt[0]):
        if not pending:
            break
        for text in pending.intersection(to):
            found[text] = name
        pending.difference_update(found)
    return found


class Intervals:
    """Non-overlapping networks of one family, sorted: which ones overlap a range."""

    def __init__(self, items):
        # items: (start, end, payload)
        self.items = sorted(items, key=lambda i: (i[0], i[1]))
        self.starts = [i[0] for i in self.items]

    def overlapping(self, start, end):
        """Payloads of the items overlapping [START, END], in address order.
        Walks back from the last item starting at or before END: with the
        items disjoint, their ends are sorted too."""
        out = []
        i = bisect.bisect_right(self.starts, end) - 1
        while i >= 0 and self.items[i][1] >= start:
            out.append(self.items[i][2])
            i -= 1
        out.reverse()
        return out


def evidence_counts(owner, nodes, version, complete_view):
    """Whether a route of the collection's protocol to OWNER (None: an
    address of no known host) still speaks for OWNER's pod subnet.

    A node that was read and claims a subnet of its own (explicit or
    recorded) speaks for itself: a route elsewhere is stale or wrong, and
    the run mends it.  A node that could not be read, or lost its record,
    may still hold the routed subnet.  A route via an address of no known
    host is a removed or re-addressed node's when every host was read, and
    may be an unread host's otherwise."""
    if owner is None:
        return not complete_view
    node = nodes[owner]
    return not node["known"] or node.get("source" + SUFFIX[version]) not in ("inventory", "recorded")


def check_evidence(hosts, held, claims, nodes, owner_by_ip, complete_view, s, problems):
    """A subnet the peers route (with the collection's protocol) to one node
    is never given to another host in this run.  A record is evidence about
    its own host only; routes are evidence about the node they lead to."""
    by_family = dict((v, Intervals((int(n.network_address), int(n.broadcast_address), (n, name, source))
                                   for n, name, source in claims[v])) for v in FAMILIES)
    conflicts, seen = [], set()
    for version, start, end, net, via, text in held:
        owner = owner_by_ip.get(via)
        if not evidence_counts(owner, nodes, version, complete_view):
            continue
        for claimed, name, source in by_family[version].overlapping(start, end):
            if owner == name or (name, claimed, owner) in seen:
                continue
            mine = nodes[owner]["pod_subnet" + SUFFIX[version]] if owner else None
            if mine is not None and mine.overlaps(net):
                continue  # both claim it: "pod subnets overlap" says so
            seen.add((name, claimed, owner))
            conflicts.append((name, claimed, source, owner, mine, net, via, text))
    if not conflicts:
        return
    by = reporters(hosts, s, [c[-1] for c in conflicts])
    unread = ", ".join(sorted(name for name, node in nodes.items() if not node["known"]))
    for name, claimed, source, owner, mine, net, via, text in conflicts:
        reporter = by.get(text, "a peer")
        route = "%s via %s proto %s" % (net, via, s["route_protocol"])
        if owner is None:
            why = ("is routed by %s via %s (%s), an address of no host whose node IP is known, while "
                   "%s could not be read: it may be theirs; run with every host readable and inside --limit"
                   % (reporter, via, route, unread))
        elif not nodes[owner]["known"]:
            why = ("is routed by %s to %s (%s), which could not be read this run: a host never takes a "
                   "subnet its peers route to another node; run with %s readable and inside --limit, or "
                   "check %s's %s" % (reporter, owner, route, owner, name, _source_name(source)))
        else:
            why = ("is routed by %s to %s (%s), which has no subnet of its own on record (it would be given %s): "
                   "a host never takes a subnet its peers route to another node; set hostgw_pod_subnet%s for "
                   "%s to the subnet it holds, or give %s another one"
                   % (reporter, owner, route, mine or "none", SUFFIX[version], owner, name))
        problems.append("%s: %s" % (name, names.problem("pod subnet", str(claimed), "(%s) %s" % (source, why))))


def _source_name(source):
    return "record" if source.startswith("recorded") else source


# ---------------------------------------------------------------------------
# allocation


def allocate(hosts, nodes, s, problems, version, held=(), complete_view=True):
    """Give every node a pod subnet of VERSION: explicit, else recorded, else
    the lowest free block that no claim covers and no peer routes to another
    node (HELD: ``[(first, last, owner)]``, see evidence_counts).  Claims are
    checked for overlap first.  Returns the claims, sorted:
    ``[(network, host, source)]``."""
    v = version
    cidr, prefix = s["cidr"][v], s["prefix"][v]
    key = "pod_subnet" + SUFFIX[v]
    for node in nodes.values():
        node[key] = None
        node["allocated" + SUFFIX[v]] = False
        node["source" + SUFFIX[v]] = ""
    if cidr is None:
        return []
    claims = []  # (network, host, source)
    for host in hosts:
        node = nodes[host["name"]]
        explicit = node.get("explicit" + SUFFIX[v])
        if explicit is not None:
            claims.append((explicit, host["name"], "hostgw_pod_subnet%s" % SUFFIX[v]))
            continue
        if node.get("explicit_given" + SUFFIX[v]):
            continue  # invalid explicit value, already reported
        net = recorded_subnet(host, s, problems, v)
        if net is not None:
            claims.append((net, host["name"], _record_label(s)))

    claims.sort(key=lambda c: (c[0].network_address, c[0].prefixlen))
    ok = True
    for i, (net, name, source) in enumerate(claims):
        # Sorted by start: a claim can only overlap claims that start before its end.
        for j in range(i + 1, len(claims)):
            other, oname, osource = claims[j]
            if other.network_address > net.broadcast_address:
                break
            problems.append("pod subnets overlap: %s has %s (%s) and %s has %s (%s)"
                            % (name, names.show(str(net)), source, oname, names.show(str(other)), osource))
            ok = False
    for net, name, source in claims:
        nodes[name][key] = net
        nodes[name]["source" + SUFFIX[v]] = "recorded" if source.startswith("recorded") else "inventory"
    if not ok or prefix is None:
        return claims

    wanting = sorted(h["name"] for h in hosts if nodes[h["name"]][key] is None
                     and nodes[h["name"]].get("known") and not nodes[h["name"]].get("explicit_given" + SUFFIX[v]))
    if not wanting:
        return claims
    unknown = sorted(h["name"] for h in hosts if not nodes[h["name"]].get("known")
                     and nodes[h["name"]][key] is None)
    if unknown:
        problems.add("cannot allocate %s pod subnets for %s while %s cannot be read (unreachable or "
                     "outside --limit): their recorded subnets are unknown",
                     _fam(v), ", ".join(wanting), ", ".join(unknown))
        return claims
    step = 1 << (cidr.max_prefixlen - prefix)
    start, end = int(cidr.network_address), int(cidr.broadcast_address)
    taken = sorted([(int(n.network_address), int(n.broadcast_address)) for n, _host, _source in claims]
                   + [(first, last) for first, last, owner in held
                      if evidence_counts(owner, nodes, v, complete_view)])
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
            problems.add("hostgw_cluster_cidr%s %s has no free /%d left for %s "
                         "(%d hosts, %d blocks of /%d)", SUFFIX[v], names.show(str(cidr)), prefix, name,
                         len(hosts), (end - start + 1) // step, prefix)
            return claims
        nodes[name][key] = cls((candidate, prefix))
        nodes[name]["allocated" + SUFFIX[v]] = True
        nodes[name]["source" + SUFFIX[v]] = "allocated"
        candidate += step
    return claims


# ---------------------------------------------------------------------------
# cross-host checks


def _planned_intervals(nodes, v):
    key = "pod_subnet" + SUFFIX[v]
    return Intervals((int(n[key].network_address), int(n[key].broadcast_address), (name, n[key]))
                     for name, n in nodes.items() if n.get(key) is not None)


def check_cluster(hosts, nodes, s, problems):
    by_ip = {}
    for node in nodes.values():
        for v in FAMILIES:
            ip = node.get("node_ip" + SUFFIX[v])
            if ip is not None:
                by_ip.setdefault(ip, []).append(node["name"])
    for ip, owners in sorted(by_ip.items(), key=lambda kv: (kv[0].version, kv[0])):
        if len(owners) > 1:
            problems.add("duplicate node IP %s: %s", names.show(str(ip)), ", ".join(sorted(owners)))

    planned = dict((v, _planned_intervals(nodes, v)) for v in FAMILIES)
    # Every node IP of a family, sorted: a host's connected networks cover a
    # range of it each (bisect), so reachability is O(log N) per network.
    ips = dict((v, sorted((int(ip), name) for ip, owners in by_ip.items() if ip.version == v
                          for name in owners)) for v in FAMILIES)
    ip_keys = dict((v, [i for i, _name in ips[v]]) for v in FAMILIES)

    infos = dict((h["name"], h.get("info")) for h in hosts)
    for name in sorted(nodes):
        node, info = nodes[name], infos[name]
        if info is None:
            continue
        for dev, net in underlay_networks(info, s["bridge"]):
            v = net.version
            cidr = s["cidr"][v]
            if cidr is None or not cidr.overlaps(net):
                continue
            clashing = sorted(planned[v].overlapping(int(net.network_address), int(net.broadcast_address)))
            for other, sub in clashing:
                problems.add("%s: pod subnet %s of %s overlaps the underlay network %s on %s",
                             name, names.show(str(sub)), other, net, dev)
            if not clashing:
                problems.add("%s: hostgw_cluster_cidr%s %s overlaps the underlay network %s on %s",
                             name, SUFFIX[v], names.show(str(cidr)), net, dev)
        if node.get("interface") is None:
            if (node.get("node_ip") or node.get("node_ip_v6")) and not node["interface_given"]:
                problems.add("%s: no interface holds node IP %s; set hostgw_interface",
                             name, node.get("node_ip") or node.get("node_ip_v6"))
            continue
        mtu = node.get("underlay_mtu")
        if mtu is not None and s["cidr"][6] is not None and int(mtu) < 1280:
            problems.add("%s: MTU %s of %s is below 1280, the IPv6 minimum", name, mtu, node["interface"])
        reach = connected_networks(info, node["interface"])
        unreachable = []
        for v in FAMILIES:
            if s["cidr"][v] is not None:
                unreachable.extend((peer, v) for peer in _unreached(ips[v], ip_keys[v], reach, v, name))
        for peer, v in sorted(unreachable):
            problems.add("%s: peer %s's node IP %s is not directly reachable on %s (connected: %s); "
                         "host-gw needs every node on one L2 segment", name, peer,
                         nodes[peer]["node_ip" + SUFFIX[v]], node["interface"],
                         ", ".join(str(n) for n in reach if n.version == v) or "none")


def _unreached(ips, keys, reach, version, me):
    """Names of the peers (in IPS, sorted (int ip, name)) whose node IP no
    network of REACH holds."""
    spans = sorted((bisect.bisect_left(keys, int(n.network_address)), bisect.bisect_right(keys, int(n.broadcast_address)))
                   for n in reach if n.version == version)
    out, pos = [], 0
    for lo, hi in spans + [(len(keys), len(keys))]:
        out.extend(name for _ip, name in ips[pos:lo] if name != me)
        pos = max(pos, hi)
    return out


def check_takeover(hosts, nodes, s, problems):
    """A route of another owner (protocol) in a host's main table with the
    identity of one of its planned peer routes (same dest, default metric)
    and another next hop or device stops the run, unless
    hostgw_route_takeover.  An identical one is left in place by ip_route."""
    if s["route_takeover"]:
        return
    owner_of = {}
    for name, node in nodes.items():
        for v in FAMILIES:
            sub, ip = node.get("pod_subnet" + SUFFIX[v]), node.get("node_ip" + SUFFIX[v])
            if sub is not None and ip is not None:
                owner_of[str(sub)] = (name, str(ip), v)
    for host in sorted(hosts, key=lambda h: h["name"]):
        name, info = host["name"], host.get("info")
        dev = nodes[name].get("interface")
        if info is None or not dev:
            continue
        for group in info.get("cluster_routes") or ():
            proto = group.get("proto")
            if proto in s["ours"] or proto in KERNEL_PROTOCOLS:
                continue
            for entry in group.get("to") or ():
                dest, _sep, via = entry.partition(" ")
                planned = owner_of.get(dest)
                if planned is None or planned[0] == name or group.get("metric") != DEFAULT_METRIC[planned[2]]:
                    continue
                peer, peer_ip, _v = planned
                if group.get("type") == "unicast" and via == peer_ip and group.get("dev") == dev:
                    continue
                problems.append("%s: %s" % (name, names.problem(
                    "route", _route_text(dest, via, group),
                    "has the identity of the peer route to %s (%s): remove it, or set hostgw_route_takeover: "
                    "true to replace it" % (peer, names.show("%s via %s dev %s" % (dest, peer_ip, dev))))))


def _route_text(dest, via, group):
    rtype = group.get("type")
    text = ("%s " % rtype if rtype not in ("unicast", "multipath") else "") + dest
    if via:
        text += " via " + via
    if group.get("dev"):
        text += " dev " + group["dev"]
    text += " proto %s" % group.get("proto")
    return text + (" (multipath)" if rtype == "multipath" else "")


RECONCILE_WATCH_FILES = (RECONCILE_LAYOUT.watch_command, RECONCILE_LAYOUT.unit(WATCH_SERVICE))


def check_owned_files(hosts, s, problems):
    """hostgw_sysctl_file is owned whole: an existing file that does not carry
    the collection's marker belongs to someone else.  So are the reconcile
    command's files when hostgw_reconcile installs them."""
    if s.get("reconcile"):
        skip = () if s.get("reconcile_watch") else RECONCILE_WATCH_FILES
        for host in sorted(hosts, key=lambda h: h["name"]):
            found = (host.get("info") or {}).get("reconcile_files") or {}
            for path in sorted(set(found) - set(skip)):
                status = found[path]
                if status.get("exists") and not (status.get("regular") and status.get("ours")):
                    problems.append("%s: %s is not the collection's (%s): the reconcile role would "
                                    "install its own there; move it away, or set hostgw_reconcile: "
                                    "false" % (host["name"], path,
                                               "not a regular file" if not status.get("regular")
                                               else "no '# Managed by podnet.hostgw' line at its top"))
    path = s.get("sysctl_file")
    if path is None or names.abs_path_problem(path) is not None:
        return
    for host in sorted(hosts, key=lambda h: h["name"]):
        status = ((host.get("info") or {}).get("files") or {}).get(path)
        if not status or not status.get("exists"):
            continue
        if not status.get("regular"):
            why = "is not a regular file"
        elif not status.get("ours"):
            why = ("is not the collection's (no '# Managed by podnet.hostgw' line at its top): point "
                   "hostgw_sysctl_file at a file of its own, such as /etc/sysctl.d/60-podnet-hostgw.conf")
        else:
            continue
        problems.append("%s: %s" % (host["name"], names.problem("hostgw_sysctl_file", path, why)))


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
    if s["fatal"]:
        return None, problems
    nodes = {}
    for host in hosts:
        nodes[host["name"]] = resolve_host(host, s, problems)
    record_problems(hosts, s, problems)
    complete_view = all(node["known"] for node in nodes.values())
    owner_by_ip = {}
    for name, node in nodes.items():
        for v in FAMILIES:
            if node.get("node_ip" + SUFFIX[v]) is not None:
                owner_by_ip.setdefault(node["node_ip" + SUFFIX[v]], name)
    held = route_evidence(hosts, s)
    claims = {}
    for v in FAMILIES:
        routed = [(first, last, owner_by_ip.get(via)) for ver, first, last, _n, via, _t in held if ver == v]
        claims[v] = allocate(hosts, nodes, s, problems, v, routed, complete_view)
    check_evidence(hosts, held, claims, nodes, owner_by_ip, complete_view, s, problems)
    check_cluster(hosts, nodes, s, problems)
    check_takeover(hosts, nodes, s, problems)
    check_owned_files(hosts, s, problems)
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
            "systemd": bool(n.get("systemd")),
            "reconcile_units": list(n.get("reconcile_units") or []),
        }
        out_nodes[name] = out
        for v in FAMILIES:
            sub, ip = n.get("pod_subnet" + SUFFIX[v]), n.get("node_ip" + SUFFIX[v])
            if sub is not None and ip is not None:
                routes.append((v, int(sub.network_address), sub.prefixlen,
                               {"owner": name, "dest": str(sub), "via": str(ip)}))
    routes.sort(key=lambda r: r[:3])
    cluster = {
        "cluster_cidr": str(s["cidr"][4]) if s["cidr"][4] else "",
        "cluster_cidr_v6": str(s["cidr"][6]) if s["cidr"][6] else "",
        "bridge": s["bridge"],
    }
    complete = all(n["known"] and (n["pod_subnet"] or n["pod_subnet_v6"]) for n in out_nodes.values())
    route_list = [r[3] for r in routes]
    return {"cluster": cluster, "nodes": out_nodes, "routes": route_list,
            "route_table": route_table(route_list), "complete": complete}, problems


def route_table(route_list):
    """The route list as one string, a line ``DEST VIA OWNER`` per route.

    The routes role reads it for every host: Ansible templates a variable's
    containers element by element as they are read (five calls a route), but
    a string once, so a host's own list costs a split, not N lookups."""
    return "\n".join("%s %s %s" % (r["dest"], r["via"], r["owner"]) for r in route_list)


def test_address(subnet):
    """The address verify.yml gives its test container: the pod subnet's last
    usable one.  The CNI configuration ends IPAM's range just before it."""
    net = ipaddress.ip_network(subnet)
    return str(net[-2])


def ipam_range_end(subnet):
    """The last address host-local IPAM may hand out (test_address stays free)."""
    net = ipaddress.ip_network(subnet)
    return str(net[-3])


def peer_routes(the_plan, name, owners=None):
    """NAME's routes: every other node's pod subnets via its node IPs, on
    NAME's interface; with OWNERS, only the routes to those nodes."""
    dev = the_plan["nodes"][name]["interface"]
    wanted = None if owners is None else frozenset(owners)
    out = []
    for line in the_plan["route_table"].splitlines():
        dest, via, owner = line.split(" ", 2)
        if owner != name and (wanted is None or owner in wanted):
            out.append({"dest": dest, "via": via, "dev": dev})
    return out

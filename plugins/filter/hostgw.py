# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Views of the cluster plan (module_utils/cluster.py) for templates and roles.

Address math lives on Python's ipaddress: the controller needs nothing beyond
ansible-core (no netaddr, no ansible.utils).
"""

import json
import re

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.hostgw.plugins.module_utils import cluster
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import errors, names

# verify.yml's whole-number settings: (lowest, highest) accepted value.
VERIFY_RANGES = {"hostgw_verify_count": (1, 100), "hostgw_verify_timeout": (1, 60)}
VERIFY_NAMES = {"hostgw_verify_netns": names.netns_name_problem, "hostgw_verify_veth": names.ifname_problem}
# The file name extensions libcni reads from a configuration directory.
CNI_CONF_EXTENSIONS = (".conf", ".conflist", ".json")
# The files render.yml writes per host: HOST.yml, HOST.routes.
RENDER_SUFFIXES = (".yml", ".routes")
_DIGITS = re.compile(r"[0-9]{1,9}")


def _check_plan(plan):
    if not isinstance(plan, dict) or "nodes" not in plan or "routes" not in plan:
        raise AnsibleFilterError("expected the cluster plan (hostgw_plan), got %r" % type(plan).__name__)


def _node(plan, name):
    """NAME's node in PLAN (its ``hostgw_node``)."""
    _check_plan(plan)
    if name not in plan["nodes"]:
        raise AnsibleFilterError("host %s is not in the cluster plan" % name)
    return plan["nodes"][name]


def hostgw_peer_routes(plan, name, owners=None):
    """NAME's peer routes ``[{dest, via, dev}]``, both families, from the
    plan; with OWNERS (host names), only the routes to those hosts."""
    _node(plan, name)
    if "route_table" not in plan:
        raise AnsibleFilterError("expected the cluster plan (hostgw_plan) with its route_table")
    if owners is not None:
        if isinstance(owners, str) or not all(isinstance(o, str) for o in owners):
            raise AnsibleFilterError("owners must be a list of host names, got %r" % (owners,))
        for owner in owners:
            _node(plan, owner)
    return cluster.peer_routes(plan, name, owners)


def hostgw_peer_route_lines(plan, name, protocol=None, owners=None):
    """NAME's peer routes as ``ip route`` lines, ``DEST via GW dev DEV``: the
    compact form ``ip_route`` takes (far cheaper for Ansible to pass at
    thousands of routes).  With PROTOCOL, `` proto PROTOCOL`` is appended, as
    ``ip route`` shows them (render.yml); with OWNERS, only the routes to
    those hosts (playbooks/scale.yml)."""
    suffix = " proto %s" % protocol if protocol else ""
    return ["%s via %s dev %s%s" % (r["dest"], r["via"], r["dev"], suffix)
            for r in hostgw_peer_routes(plan, name, owners)]


def hostgw_cni_ranges(node):
    """host-local IPAM ranges for a ``hostgw_node``: one per family, ending
    before the address verify.yml reserves for its test container."""
    ranges = []
    for key in ("", "_v6"):
        subnet = node.get("pod_subnet" + key)
        if subnet:
            ranges.append([{"subnet": subnet, "gateway": node["gateway" + key].split("/")[0],
                            "rangeEnd": cluster.ipam_range_end(subnet)}])
    return ranges


def hostgw_cni_conflist(plan, name, network_name="podnet", cni_version="1.0.0",
                        default_route=True, hairpin=True, portmap=True):
    """NAME's CNI configuration list (a dict; the cni role writes it with
    ``to_nice_json(indent=2)``): CNI's ``bridge`` plugin on the pod bridge
    with host-local IPAM over the node's pod subnets and routes to the
    cluster CIDRs (and, with DEFAULT_ROUTE, a default route) in each of its
    families, then ``portmap`` when PORTMAP is true."""
    node = _node(plan, name)
    problems = errors.Problems()
    bad = names.cni_name_problem(network_name)
    if bad:
        problems.append(names.problem("hostgw_cni_network_name", network_name, bad))
    for key, value in (("hostgw_cni_default_route", default_route), ("hostgw_cni_hairpin", hairpin),
                       ("hostgw_cni_portmap", portmap)):
        if not isinstance(value, bool):
            problems.append(names.problem(key, value, "must be a boolean"))
    if problems:
        raise AnsibleFilterError(errors.report("%s: the CNI configuration cannot be built" % name, problems))
    cidrs = plan["cluster"]
    families = [suffix for suffix in ("", "_v6") if node["pod_subnet" + suffix]]
    routes = [{"dst": cidrs["cluster_cidr" + suffix]} for suffix in families]
    if default_route:
        routes += [{"dst": {"": "0.0.0.0/0", "_v6": "::/0"}[suffix]} for suffix in families]
    plugins = [{
        "type": "bridge",
        "bridge": node["bridge"],
        "isGateway": True,
        "ipMasq": False,
        "hairpinMode": hairpin,
        "mtu": int(node["mtu"]),
        "ipam": {"type": "host-local", "ranges": hostgw_cni_ranges(node), "routes": routes},
    }]
    if portmap:
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}})
    return {"cniVersion": cni_version, "name": network_name, "plugins": plugins}


def hostgw_cni_confs_before(files, ours):
    """The configuration files of a CNI directory that container runtimes
    read before OURS: libcni takes every ``.conf``, ``.conflist`` and ``.json``
    entry that is not a directory, in byte order, and runtimes use the
    first.  FILES is ansible.builtin.find's ``files`` (or plain paths)."""
    found = []
    for entry in files:
        path = entry["path"] if isinstance(entry, dict) else entry
        if isinstance(entry, dict) and entry.get("isdir"):
            continue
        base = path.rsplit("/", 1)[-1]
        # Code point order is UTF-8 byte order, Go's sort.Strings.
        if base.endswith(CNI_CONF_EXTENSIONS) and base < ours:
            found.append(base)
    return sorted(found)


def hostgw_render_problems(hosts, render_dir, suffixes=RENDER_SUFFIXES):
    """Sentences for render.yml's output paths, empty when all are good: the
    render directory must be an absolute, normalised path, and each of HOSTS
    names files (``HOST.yml``, ``HOST.routes``) inside it, so it must be a
    plain file name."""
    problems = errors.Problems()
    bad = names.abs_path_problem(render_dir)
    if bad:
        problems.append(names.problem("hostgw_render_dir", render_dir, bad))
    for host in hosts:
        bad = names.filename_problem(host)
        if bad:
            problems.append(names.problem("host", host, bad + "; render.yml names its files after hosts"))
            continue
        for path in (host + suffix for suffix in suffixes):
            bad = names.filename_problem(path)
            if bad:
                problems.append(names.problem("host %s's file name" % host, path, bad))
    return problems


def hostgw_problem_report(problems, what):
    """PROBLEMS (sentences) as the collection's one report: ``WHAT (N):``
    and a ``  - sentence`` line each."""
    return errors.report(what, problems)


def hostgw_verify_address(plan, name):
    """NAME's test container addresses: ``{'4': ip or '', '6': ip or ''}``."""
    node = _node(plan, name)
    return {"4": cluster.test_address(node["pod_subnet"]) if node["pod_subnet"] else "",
            "6": cluster.test_address(node["pod_subnet_v6"]) if node["pod_subnet_v6"] else ""}


def hostgw_verify_targets(plan, name, hosts=None):
    """What NAME's test container pings: every other host's test addresses."""
    _check_plan(plan)
    targets = []
    for peer in sorted(hosts if hosts is not None else plan["nodes"]):
        if peer == name:
            continue
        for family, ip in sorted(hostgw_verify_address(plan, peer).items()):
            if ip:
                targets.append({"host": peer, "family": family, "ip": ip})
    return targets


def _whole_number(value):
    """VALUE as an int: an int, or its decimal digits (as ``-e KEY=VALUE``
    passes it); None for anything else (a bool is not a number here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


def _verify_name_problems(netns, veth):
    problems = errors.Problems()
    for key, value in (("hostgw_verify_netns", netns), ("hostgw_verify_veth", veth)):
        bad = VERIFY_NAMES[key](value)
        if bad:
            problems.append(names.problem(key, value, bad))
    return problems


def hostgw_verify_problems(settings):
    """Sentences for verify.yml's settings, empty when all are good.

    SETTINGS maps each variable name (``hostgw_verify_netns``,
    ``hostgw_verify_veth``, ``hostgw_verify_count``,
    ``hostgw_verify_timeout``) to its value; a missing one is a problem too.
    The names reach ``ip -batch`` input and the numbers ping's argv.
    """
    problems = _verify_name_problems(settings.get("hostgw_verify_netns"), settings.get("hostgw_verify_veth"))
    for key, (low, high) in VERIFY_RANGES.items():
        number = _whole_number(settings.get(key))
        if number is None or not low <= number <= high:
            problems.append(names.problem(key, settings.get(key),
                                          "must be a whole number from %d to %d" % (low, high)))
    return problems


def hostgw_verify_names_in_use(netns_list, netns, veth, veth_exists):
    """Sentences for test container names a host already uses: NETNS among
    NETNS_LIST (``ip -json netns list`` output, empty when there is none),
    VETH when VETH_EXISTS.  verify removes only what it created, so it must
    not start with a name in use."""
    listed = json.loads(netns_list) if netns_list and netns_list.strip() else []
    problems = errors.Problems()
    if netns in [entry.get("name") for entry in listed]:
        problems.append(names.problem("hostgw_verify_netns", netns, "is an existing network namespace"))
    if veth_exists:
        problems.append(names.problem("hostgw_verify_veth", veth, "is an existing link"))
    return problems


def _pod_side(node, suffix, version, problems):
    """``(address/length, gateway)`` of NODE's test container in one family,
    or None when the node has no pod subnet of that family."""
    subnet = node.get("pod_subnet" + suffix)
    if not subnet:
        return None
    _v, prefix, bad = names.parse_prefix(subnet, version, bare_host=False)
    if bad:
        problems.append(names.problem("pod_subnet" + suffix, subnet, bad))
        return None
    gateway = str(node.get("gateway" + suffix) or "").split("/", 1)[0]
    _v, gateway, bad = names.parse_ip(gateway, version)
    if bad:
        problems.append(names.problem("gateway" + suffix, node.get("gateway" + suffix), bad))
        return None
    return "%s/%s" % (cluster.test_address(prefix), prefix.split("/")[1]), gateway


def hostgw_verify_batches(plan, name, netns, veth):
    """The ``ip -batch`` input that puts NAME's test container on its pod
    bridge (``create``, run in the root namespace), addresses it from the
    plan (``address``, run with ``ip -n NETNS``) and removes it
    (``remove``, run with ``ip -force``), each a text ending in a newline.

    Every value is checked first (the names with the rules of
    hostgw_verify_problems; the bridge, MTU and addresses from the plan,
    which preflight validated, for their form): a bad one raises, so nothing
    unchecked reaches ``ip -batch``.
    """
    node = _node(plan, name)
    problems = _verify_name_problems(netns, veth)
    bad = names.ifname_problem(node.get("bridge"))
    if bad:
        problems.append(names.problem("bridge", node.get("bridge"), bad))
    mtu = _whole_number(node.get("mtu"))
    if mtu is None:
        problems.append(names.problem("mtu", node.get("mtu"), "is not a whole number"))
    sides = [_pod_side(node, "", 4, problems), _pod_side(node, "_v6", 6, problems)]
    if problems:
        raise AnsibleFilterError(errors.report("%s: the test container cannot be built" % name, problems))
    address = ["link set dev lo up", "link set dev eth0 up"]
    for side, nodad in zip(sides, ("", " nodad")):
        if side:
            address += ["addr add %s dev eth0%s" % (side[0], nodad), "route add default via %s" % side[1]]
    lines = {
        "create": ["netns add %s" % netns,
                   "link add %s mtu %d type veth peer name eth0 netns %s" % (veth, mtu, netns),
                   "link set dev %s master %s up" % (veth, node["bridge"])],
        "address": address,
        "remove": ["link del %s" % veth, "netns del %s" % netns],
    }
    return dict((step, "\n".join(text) + "\n") for step, text in lines.items())


def hostgw_target_label(target):
    return "%s (IPv%s %s)" % (target["host"], target["family"], target["ip"])


def _rtt(stdout):
    match = re.search(r"= [\d.]+/([\d.]+)/", stdout or "")
    return match.group(1) if match else None


def hostgw_ping_matrix(hosts, results):
    """A hosts-by-hosts text matrix from each host's registered ping loop."""
    cells, families = {}, set()
    for src, result in zip(hosts, results):
        for r in (result or {}).get("results", []):
            item = r.get("item") or {}
            families.add(item.get("family"))
            ok = r.get("rc") == 0
            rtt = _rtt(r.get("stdout"))
            cells[(item.get("family"), src, item.get("host"))] = (
                "\u2713 %s ms" % rtt if ok and rtt else "\u2713" if ok else "\u2717")
    width = max([len(h) for h in hosts] + [12]) + 2
    lines = []
    for family in sorted(f for f in families if f):
        lines.append("IPv%s: row pings column" % family)
        lines.append("".ljust(width) + "".join(h.ljust(width) for h in hosts))
        for src in hosts:
            row = [("-" if dst == src else cells.get((family, src, dst), "?")).ljust(width) for dst in hosts]
            lines.append(src.ljust(width) + "".join(row))
        lines.append("")
    return lines


def hostgw_cluster_table(plan):
    """The whole cluster as a Markdown table, for change reviews."""
    _check_plan(plan)
    c = plan["cluster"]
    out = ["# podnet.hostgw cluster plan", "",
           "cluster CIDR: %s" % (" + ".join(x for x in (c["cluster_cidr"], c["cluster_cidr_v6"]) if x)), "",
           "| host | node IP | interface | pod subnet | bridge address | MTU | source |",
           "|---|---|---|---|---|---|---|"]
    for name in sorted(plan["nodes"]):
        n = plan["nodes"][name]
        for key in ("", "_v6"):
            if not n["pod_subnet" + key] and key:
                continue
            source = n.get("source" + key) or "-"
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                name, n["node_ip" + key] or "-", n["interface"] or "-", n["pod_subnet" + key] or "-",
                n["gateway" + key] or "-", n["mtu"], source))
    # Every host carries every route but its own ones.
    total = len(plan["routes"]) * len(plan["nodes"]) - len(plan["routes"])
    out += ["", "%d routes in all: every host routes every other host's pod subnets via its node IP." % total, ""]
    return "\n".join(out)


class FilterModule(object):
    def filters(self):
        return {
            "hostgw_peer_routes": hostgw_peer_routes,
            "hostgw_peer_route_lines": hostgw_peer_route_lines,
            "hostgw_cluster_table": hostgw_cluster_table,
            "hostgw_cni_ranges": hostgw_cni_ranges,
            "hostgw_cni_conflist": hostgw_cni_conflist,
            "hostgw_cni_confs_before": hostgw_cni_confs_before,
            "hostgw_problem_report": hostgw_problem_report,
            "hostgw_render_problems": hostgw_render_problems,
            "hostgw_verify_address": hostgw_verify_address,
            "hostgw_verify_problems": hostgw_verify_problems,
            "hostgw_verify_batches": hostgw_verify_batches,
            "hostgw_verify_names_in_use": hostgw_verify_names_in_use,
            "hostgw_verify_targets": hostgw_verify_targets,
            "hostgw_target_label": hostgw_target_label,
            "hostgw_ping_matrix": hostgw_ping_matrix,
        }

# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Views of the cluster plan (module_utils/cluster.py) for templates and roles.

Address math lives on Python's ipaddress: the controller needs nothing beyond
ansible-core (no netaddr, no ansible.utils).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.hostgw.plugins.module_utils import cluster


def _check_plan(plan):
    if not isinstance(plan, dict) or "nodes" not in plan or "routes" not in plan:
        raise AnsibleFilterError("expected the cluster plan (hostgw_plan), got %r" % type(plan).__name__)


def hostgw_peer_routes(plan, name):
    """NAME's peer routes ``[{dest, via, dev}]``, both families, from the plan."""
    _check_plan(plan)
    if name not in plan["nodes"]:
        raise AnsibleFilterError("host %s is not in the cluster plan" % name)
    return cluster.peer_routes(plan, name)


def hostgw_peer_route_lines(plan, name, protocol=None):
    """NAME's peer routes as ``ip route`` lines, ``DEST via GW dev DEV``: the
    compact form ``ip_route`` takes (far cheaper for Ansible to pass at
    thousands of routes).  With PROTOCOL, `` proto PROTOCOL`` is appended, as
    ``ip route`` shows them (render.yml)."""
    suffix = " proto %s" % protocol if protocol else ""
    return ["%s via %s dev %s%s" % (r["dest"], r["via"], r["dev"], suffix) for r in hostgw_peer_routes(plan, name)]


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


def hostgw_verify_address(plan, name):
    """NAME's test container addresses: ``{'4': ip or '', '6': ip or ''}``."""
    _check_plan(plan)
    node = plan["nodes"][name]
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
            "hostgw_verify_address": hostgw_verify_address,
            "hostgw_verify_targets": hostgw_verify_targets,
            "hostgw_target_label": hostgw_target_label,
            "hostgw_ping_matrix": hostgw_ping_matrix,
        }

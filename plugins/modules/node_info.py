#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: node_info
short_description: Read what the pod network needs to know about a host
version_added: 0.1.0
description:
  - Reads, without changing anything, the host's interfaces and addresses,
    its directly connected networks (routes of the main table without a
    gateway), its default routes, the routes of the main table inside the
    cluster CIDRs (the collection's own and anyone else's), the pod subnet
    assignment the collection recorded on it earlier, and whether the files
    the collection is to own exist and are its own.
  - The P(podnet.hostgw.preflight#role) role feeds this to the
    M(podnet.hostgw.cluster_plan) action, which allocates subnets and
    validates the whole cluster before any host is changed.
  - Four C(ip -json) calls; no dependency on Ansible's fact gathering.
  - Files are only read when they are regular files (a FIFO never blocks the
    read) and at most 4 KiB of each is read.
  - Also tells whether systemd runs on the host, and which of the files the
    M(podnet.hostgw.reconcile_command) module installs (the command and the units,
    at their default paths) exist and are the collection's.
author: podnet.hostgw developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to show.
  platform:
    support: full
    platforms: linux
    description: Needs iproute2.
options:
  record_path:
    description:
      - Where the collection records the host's pod subnet assignment, an absolute path.
      - Read only when it is a regular file of at most 4 KiB holding a JSON object;
        otherwise RV(record_problem) says why.
    type: str
    default: /etc/podnet/hostgw.json
  cluster_cidrs:
    description:
      - The cluster CIDRs (IPv4, IPv6 or both). RV(cluster_routes) holds the routes of the
        main table whose destination lies inside one of them. Invalid entries are ignored
        (the plan reports them).
    type: list
    elements: str
    default: []
  files:
    description:
      - Absolute paths of files the collection is to own whole. RV(files) tells for each
        whether it exists, is a regular file and carries the collection's marker line.
    type: list
    elements: str
    default: []
  settings:
    description:
      - Returned unchanged as RV(settings), nothing else. The
        P(podnet.hostgw.preflight#role) role passes the host's own
        C(hostgw_pod_subnet), C(hostgw_node_ip), ... as its play templates
        them, so the plan (M(podnet.hostgw.cluster_plan)) reads them with what
        the host reported, without a C(set_fact) task (a worker per host) of
        their own.
    type: dict
    default: {}
  observe:
    description:
      - What else to read, so that the record, cni, forwarding (sysctl and netfilter)
        and bridge roles' tasks can tell on the controller that nothing would change and skip their
        module run (their action plugins take RV(observed) as their C(observed)
        option). Read-only, like the rest.
    type: dict
    default: {}
    suboptions:
      paths:
        description:
          - Absolute paths of files and links. For each, its kind, its mode, a link's target
            and the text of a small (16 KiB at most) UTF-8 file; for each one's directory,
            its kind and mode.
        type: list
        elements: str
        default: []
      sysctls:
        description: Kernel parameters whose running values to read.
        type: list
        elements: str
        default: []
      bridge:
        description: A bridge whose link and addresses to read.
        type: str
      state_file:
        description: The state file (see M(podnet.hostgw.bridge)) whose sections to read.
        type: str
      netfilter:
        description:
          - The rule set whose nftables table and iptables chains to read, as
            M(podnet.hostgw.netfilter) reads them (its O(podnet.hostgw.netfilter#module:name)).
        type: str
      iptables_variant:
        description: Which iptables commands to read with, as M(podnet.hostgw.netfilter) takes it.
        type: str
        choices: [auto, nft, legacy]
        default: auto
"""

EXAMPLES = r"""
- name: Read the host
  podnet.hostgw.node_info:
    cluster_cidrs: [192.168.0.0/16]
    files: [/etc/sysctl.d/60-podnet-hostgw.conf]
  register: info

- name: Show the underlay networks
  ansible.builtin.debug:
    var: info.connected
"""

RETURN = r"""
interfaces:
  description: Every link with its MTU, admin state, kind, bridge master and addresses (CIDR notation).
  returned: always
  type: dict
  sample: {"eth0": {"mtu": 1500, "up": true, "kind": "veth", "master": "", "addresses": ["10.168.0.1/24"]}}
connected:
  description: Routes of the main table with no gateway, that is the directly reachable networks.
  returned: always
  type: list
  elements: dict
  sample: [{"dest": "10.168.0.0/24", "dev": "eth0"}]
settings:
  description: O(settings), unchanged.
  returned: always
  type: dict
  sample: {"hostgw_node_ip": "10.168.0.1", "hostgw_pod_subnet": null}
default:
  description: The default route per family (C(4), C(6)) with C(dev), C(gateway) and C(src), when there is one.
  returned: always
  type: dict
  sample: {"4": {"dev": "eth0", "gateway": "10.168.0.254", "src": ""}}
cluster_routes:
  description:
    - The routes of the main table whose destination lies inside one of O(cluster_cidrs),
      both families, grouped by C(proto) (a name, or the number where C(rt_protos) names
      none; C(boot) when C(ip) prints none), C(dev), C(metric) and C(type) (C(unicast),
      C(blackhole), ...; C(multipath) for a route with several next hops, whose C(dev) is
      empty).
    - Each group's C(to) lists its routes as C(DEST VIA), or C(DEST) for a route without
      a gateway. A host holds a route per peer, so this form keeps the whole cluster's
      results small.
  returned: always
  type: list
  elements: dict
  sample: [{"proto": "hostgw", "dev": "eth0", "metric": 0, "type": "unicast",
            "to": ["192.168.1.0/24 10.168.0.2", "192.168.2.0/24 10.168.0.3"]}]
recorded:
  description: The recorded assignment from O(record_path), or an empty dict (none, or unreadable).
  returned: always
  type: dict
  sample: {"pod_subnet": "192.168.1.0/24"}
record_problem:
  description:
    - Why the record could not be used, as the end of a sentence (C(is a FIFO, not a
      regular file), C(is larger than 4096 bytes), C(does not hold a JSON object)), or
      an empty string.
  returned: always
  type: str
  sample: is a FIFO, not a regular file
files:
  description: For each of O(files), whether it C(exists), is a C(regular) file, and is C(ours) (carries the marker).
  returned: always
  type: dict
  sample: {"/etc/sysctl.d/60-podnet-hostgw.conf": {"exists": true, "regular": true, "ours": true}}
systemd:
  description: Whether systemd runs on the host (C(/run/systemd/system) exists).
  returned: always
  type: bool
observed:
  description:
    - What O(observe) asked for, as C(podnet.hostgw.files), C(podnet.hostgw.sysctl),
      C(podnet.hostgw.bridge) and C(podnet.hostgw.netfilter) tasks take it in their
      C(observed) option; empty when O(observe) is.
  returned: always
  type: dict
  sample: {"paths": {"/etc/podnet/hostgw.json": {"kind": "file", "mode": 420, "content": "{...}"}},
           "dirs": {"/etc/podnet": {"kind": "dir", "mode": 493}},
           "sysctl": {"net.ipv4.ip_forward": "1"}}
reconcile_files:
  description:
    - The files M(podnet.hostgw.reconcile_command) installs with its defaults that carry the
      marker line - the command, the watcher, each unit - and its install record, each with
      C(exists), C(regular) and C(ours) as in RV(files).
  returned: always
  type: dict
  sample: {"/etc/systemd/system/podnet-hostgw-reconcile.timer": {"exists": true, "regular": true, "ours": true}}
"""

import ipaddress
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.podnet.hostgw.plugins.module_utils.module_support import ModuleRunner, ip_command
from ansible_collections.podnet.hostgw.plugins.module_utils.reconcile_files import DEFAULT_LAYOUT, SYSTEMD_RUNNING
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import files, names, netfilter_host, observed
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.iproute import IpCommandError
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.routes.kernel import parse_kernel_routes
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.routes.model import DEFAULT_DEST, IPV4, IPV6


def parse_addresses(links, addrs):
    interfaces = {}
    for link in links:
        info = link.get("linkinfo") or {}
        interfaces[link["ifname"]] = {
            "mtu": link.get("mtu"),
            "up": "UP" in (link.get("flags") or []),
            "kind": info.get("info_kind", ""),
            "master": link.get("master", ""),
            "addresses": [],
        }
    for entry in addrs:
        iface = interfaces.setdefault(entry["ifname"], {"mtu": entry.get("mtu"), "up": False,
                                                        "kind": "", "master": "", "addresses": []})
        for a in entry.get("addr_info") or []:
            if a.get("family") in ("inet", "inet6") and "local" in a:
                iface["addresses"].append("%s/%s" % (a["local"], a["prefixlen"]))
    return interfaces


def _kernel_routes(routes4, routes6):
    """Both families' main-table routes as the route engine reads them
    (``default`` as ``0.0.0.0/0``, host routes with their length, a missing
    protocol as ``boot``): [(version, Route)]."""
    return [(version, route)
            for version, family, raw in (("4", IPV4, routes4), ("6", IPV6, routes6))
            for route in parse_kernel_routes(raw, family, "main")]


def parse_routes(routes4, routes6):
    connected, default = [], {}
    for version, r in _kernel_routes(routes4, routes6):
        if r.rtype != "unicast":
            continue
        if r.dest == DEFAULT_DEST[r.family]:
            if version not in default or r.metric < default[version]["metric"]:
                default[version] = {"dev": r.dev or "", "gateway": r.via or "", "src": r.src or "",
                                    "metric": r.metric}
        elif r.via is None and r.nexthops is None and r.dev:
            connected.append({"dest": r.dest, "dev": r.dev})
    for d in default.values():
        d.pop("metric")
    return connected, default


def _cidr_ranges(cidrs):
    """[(version, first, last)] as integers for the valid ones of CIDRS."""
    out = []
    for text in cidrs:
        try:
            net = ipaddress.ip_network(str(text), strict=True)
        except ValueError:
            continue
        out.append((str(net.version), int(net.network_address), int(net.broadcast_address)))
    return out


def cluster_routes(routes4, routes6, cidrs):
    """The routes inside the cluster CIDRs, grouped (see RETURN cluster_routes)."""
    ranges = _cidr_ranges(cidrs)
    versions = set(v for v, _first, _last in ranges)
    groups = {}
    for version, r in _kernel_routes(routes4 if "4" in versions else [], routes6 if "6" in versions else []):
        if r.dest == DEFAULT_DEST[r.family]:
            continue
        net = ipaddress.ip_network(r.dest)
        first, last = int(net.network_address), int(net.broadcast_address)
        if not any(v == version and lo <= first and last <= hi for v, lo, hi in ranges):
            continue
        multipath = r.nexthops is not None
        key = (r.proto, "" if multipath else r.dev or "", int(r.metric), "multipath" if multipath else r.rtype)
        via = None if multipath else r.via
        groups.setdefault(key, []).append("%s %s" % (r.dest, via) if via else r.dest)
    return [{"proto": proto, "dev": dev, "metric": metric, "type": rtype, "to": to}
            for (proto, dev, metric, rtype), to in sorted(groups.items())]


def read_record(path):
    """``(record, problem)``: the recorded assignment, or why it cannot be used."""
    bad = names.abs_path_problem(path)
    if bad:
        return {}, ""  # the plan reports the setting itself
    data, bad = files.read_small(path)
    if bad:
        return {}, bad
    if data is None:
        return {}, ""
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return {}, "is not valid JSON (%s)" % exc
    if not isinstance(record, dict):
        return {}, "does not hold a JSON object"
    return record, ""


def file_status(paths):
    return dict((path, files.status(path)) for path in paths if names.abs_path_problem(path) is None)


class NodeInfo:
    """One read of everything the cluster plan needs from this host."""

    def __init__(self, module):
        self.module = module
        self.params = module.params

    def read_ip(self):
        ip = ip_command(self.module)
        try:
            return (ip.json(["-details", "link", "show"]), ip.json(["addr", "show"]),
                    ip.json(["-4", "route", "show", "table", "main"]),
                    ip.json(["-6", "route", "show", "table", "main"]))
        except IpCommandError as exc:
            self.module.fail_json(msg=str(exc))

    def run(self):
        links, addrs, routes4, routes6 = self.read_ip()
        connected, default = parse_routes(routes4, routes6)
        recorded, record_problem = read_record(self.params["record_path"])
        return dict(
            changed=False,
            interfaces=parse_addresses(links, addrs),
            connected=connected,
            default=default,
            cluster_routes=cluster_routes(routes4, routes6, self.params["cluster_cidrs"]),
            recorded=recorded,
            record_problem=record_problem,
            files=file_status(self.params["files"]),
            systemd=os.path.isdir(SYSTEMD_RUNNING),
            reconcile_files=file_status(DEFAULT_LAYOUT.marked_files()),
            settings=self.params["settings"],
            observed=self.observe(),
        )

    def observe(self):
        wanted = self.params["observe"] or {}
        if not any(wanted.values()):
            return {}
        paths = [p for p in wanted.get("paths") or () if names.abs_path_problem(p) is None]
        state_file = wanted.get("state_file")
        if state_file and names.abs_path_problem(state_file):
            state_file = None
        netfilter = None
        if wanted.get("netfilter"):
            variant = wanted["iptables_variant"]
            netfilter = (netfilter_host.Tools(ModuleRunner(self.module), variant), wanted["netfilter"], variant)
        return observed.read(ip_command(self.module), paths, wanted.get("sysctls") or (),
                             wanted.get("bridge"), state_file, netfilter)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            record_path=dict(type="str", default="/etc/podnet/hostgw.json"),
            cluster_cidrs=dict(type="list", elements="str", default=[]),
            files=dict(type="list", elements="str", default=[]),
            settings=dict(type="dict", default={}),
            observe=dict(type="dict", default={}, options=dict(
                paths=dict(type="list", elements="str", default=[]),
                sysctls=dict(type="list", elements="str", default=[]),
                bridge=dict(type="str"),
                state_file=dict(type="str"),
                netfilter=dict(type="str"),
                iptables_variant=dict(type="str", choices=["auto", "nft", "legacy"], default="auto"),
            )),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**NodeInfo(module).run())


if __name__ == "__main__":
    main()

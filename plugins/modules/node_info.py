#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: node_info
short_description: Read what the pod network needs to know about a host
version_added: 0.1.0
description:
  - Reads, without changing anything, the host's interfaces and addresses,
    its directly connected networks (routes of the main table without a
    gateway), its default routes, and the pod subnet assignment the
    collection recorded on it earlier.
  - The P(podnet.hostgw.preflight#role) role feeds this to the
    C(podnet.hostgw.cluster_plan) action, which allocates subnets and
    validates the whole cluster before any host is changed.
  - Three C(ip -json) calls; no dependency on Ansible's fact gathering.
author: podnet.hostgw developers
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to show.
  platform:
    platforms: linux
    description: Needs iproute2.
options:
  record_path:
    description: Where the collection records the host's pod subnet assignment.
    type: path
    default: /etc/podnet/hostgw.json
"""

EXAMPLES = r"""
- name: Read the host
  podnet.hostgw.node_info:
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
default:
  description: The default route per family (C(4), C(6)) with C(dev), C(gateway) and C(src), when there is one.
  returned: always
  type: dict
  sample: {"4": {"dev": "eth0", "gateway": "10.168.0.254", "src": ""}}
recorded:
  description: The recorded assignment from O(record_path), or an empty dict.
  returned: always
  type: dict
  sample: {"pod_subnet": "192.168.1.0/24"}
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.podnet.hostgw.plugins.module_utils.module_support import ip_command
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.iproute import IpCommand, IpCommandError


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


def parse_routes(routes4, routes6):
    connected, default = [], {}
    for version, routes in (("4", routes4), ("6", routes6)):
        for r in routes:
            if r.get("type", "unicast") != "unicast":
                continue
            if r.get("dst") == "default":
                if version not in default or r.get("metric", 0) < default[version]["metric"]:
                    default[version] = {"dev": r.get("dev", ""), "gateway": r.get("gateway", ""),
                                        "src": r.get("prefsrc", ""), "metric": r.get("metric", 0)}
            elif "gateway" not in r and "nexthops" not in r and r.get("dev"):
                dst = r["dst"]
                if "/" not in dst:
                    dst += "/32" if version == "4" else "/128"
                connected.append({"dest": dst, "dev": r["dev"]})
    for d in default.values():
        d.pop("metric")
    return connected, default


def read_record(module, path):
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (IOError, OSError, ValueError) as exc:
        module.fail_json(msg="cannot read the recorded assignment %s: %s" % (path, exc))
    if not isinstance(data, dict):
        module.fail_json(msg="%s does not hold a JSON object" % path)
    return data


def main():
    module = AnsibleModule(
        argument_spec=dict(record_path=dict(type="path", default="/etc/podnet/hostgw.json")),
        supports_check_mode=True,
    )
    ip = ip_command(module)
    try:
        links = ip.json(["-details", "link", "show"])
        addrs = ip.json(["addr", "show"])
        routes4 = ip.json(["-4", "route", "show", "table", "main"])
        routes6 = ip.json(["-6", "route", "show", "table", "main"])
    except IpCommandError as exc:
        module.fail_json(msg=str(exc))
    connected, default = parse_routes(routes4, routes6)
    module.exit_json(
        changed=False,
        interfaces=parse_addresses(links, addrs),
        connected=connected,
        default=default,
        recorded=read_record(module, module.params["record_path"]),
    )


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address math and the cluster route map, on Python's ipaddress.

No netaddr and no ansible.utils: the controller needs nothing beyond
ansible-core.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible.errors import AnsibleFilterError


def _network(value, what="value"):
    try:
        return ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise AnsibleFilterError("%s %r is not a network address: %s" % (what, value, exc))


def hostgw_gateway(subnet):
    """The first usable address of SUBNET with its prefix: the bridge's address.

    ``'192.168.1.0/24' | podnet.hostgw.hostgw_gateway`` -> ``'192.168.1.1/24'``
    """
    net = _network(subnet, "pod subnet")
    if net.num_addresses < 4:
        raise AnsibleFilterError("pod subnet %s is too small for a gateway and pods" % net)
    return "%s/%d" % (net.network_address + 1, net.prefixlen)


def hostgw_subnet_within(subnet, cidr):
    """True when network SUBNET lies inside network CIDR (same family)."""
    inner, outer = _network(subnet, "subnet"), _network(cidr, "cluster CIDR")
    return inner.version == outer.version and inner.subnet_of(outer)


def hostgw_is_network(value):
    """True when VALUE is a network address with no host bits set."""
    try:
        ipaddress.ip_network(str(value), strict=True)
        return True
    except ValueError:
        return False


def hostgw_is_ip(value):
    """True when VALUE is a literal IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(str(value))
        return True
    except ValueError:
        return False


def hostgw_interface_of(facts, address):
    """Name of the interface holding ADDRESS, from gathered facts, or ``''``."""
    address = str(address)
    for name in facts.get("interfaces", []):
        iface = facts.get(name.replace("-", "_").replace(".", "_").replace(":", "_"))
        if not isinstance(iface, dict):
            continue
        v4 = [iface.get("ipv4") or {}] + list(iface.get("ipv4_secondaries") or [])
        if any(a.get("address") == address for a in v4 if isinstance(a, dict)):
            return iface.get("device", name)
        if any(a.get("address") == address for a in iface.get("ipv6") or [] if isinstance(a, dict)):
            return iface.get("device", name)
    return ""


def hostgw_route_map(nodes):
    """Every node's peer routes, computed once for the whole cluster.

    NODES is a list of ``hostgw_node`` dicts (``name``, ``node_ip``,
    ``pod_subnet``, ``interface``).  Returns ``{name: [{dest, via, dev}, ...]}``
    where each node routes every other node's pod subnet via that node's
    underlay IP on its own interface, sorted by destination.
    """
    by_name = {}
    for node in nodes:
        if not isinstance(node, dict) or "name" not in node:
            raise AnsibleFilterError("hostgw_route_map: every node needs a name, got %r" % (node,))
        by_name[node["name"]] = node
    entries = sorted(
        ((_network(n["pod_subnet"], "pod subnet of %s" % name), name, str(n["node_ip"]))
         for name, n in by_name.items()),
        key=lambda e: (e[0].version, e[0]),
    )
    result = {}
    for name, node in by_name.items():
        dev = node["interface"]
        result[name] = [
            {"dest": str(net), "via": via, "dev": dev}
            for net, peer, via in entries
            if peer != name
        ]
    return result


class FilterModule(object):
    def filters(self):
        return {
            "hostgw_gateway": hostgw_gateway,
            "hostgw_is_ip": hostgw_is_ip,
            "hostgw_is_network": hostgw_is_network,
            "hostgw_subnet_within": hostgw_subnet_within,
            "hostgw_interface_of": hostgw_interface_of,
            "hostgw_route_map": hostgw_route_map,
        }

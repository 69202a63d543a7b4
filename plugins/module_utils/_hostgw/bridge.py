# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bridge that holds a host's pod gateway: its wanted state and the plan
that reaches it.  Pure logic, no I/O (bridge_host.py reads and applies).

* validation of the MTU and the ``ADDRESS/PREFIX`` strings (the name follows
  ``names.ifname_problem``, the one interface-name rule);
* parsing of ``ip -json -details addr show dev NAME`` (the link part and
  the address part; ``link show`` and ``addr show`` give the same shapes);
* the plan: which ``ip -batch`` lines turn the current state into the wanted
  one, which addresses that adds and removes, and the state afterwards.  In
  repair-only mode (the reconcile command) it only creates, adds and sets:
  nothing is deleted.

Kernel behaviour the plan relies on (checked on Linux 6.18, iproute2 6.1):

* A bridge stops following its ports' MTU only after its MTU was *changed*
  (``br_change_mtu`` sets BROPT_MTU_SET_BY_USER).  ``ip link add ... mtu N``
  does not set it, nor does setting the MTU it already has.  A bridge created
  with ``mtu`` is therefore created one byte off and then set to ``mtu``.
* IPv6 refuses a second address with the same IP ("address already
  assigned") whatever the prefix; IPv4 accepts the same IP with another prefix.
* Deleting a primary IPv4 address also deletes its secondaries (same prefix
  length and subnet) unless ``promote_secondaries`` is on.
* An MTU below 1280 makes the kernel drop the link's IPv6 configuration.
* Taking a link down flushes its IPv6 addresses unless
  ``net.ipv6.conf.{all,NAME}.keep_addr_on_down`` is positive; IPv6 addresses
  can be added to a down link and stay until the next down event.
"""

import ipaddress
import re

from . import names
from .errors import Problems

BRIDGE_MIN_MTU = 68
BRIDGE_MAX_MTU = 65535
IPV6_MIN_MTU = 1280
DEFAULT_BRIDGE_MTU = 1500     # what the kernel gives a new bridge (ether_setup)

_PREFIX_RE = re.compile(r"^[0-9]{1,3}$")
_LINK_LOCAL_V6 = ipaddress.ip_network("fe80::/10")


class PlanError(Exception):
    """The wanted state cannot (or must not) be reached; the message says why."""


# --------------------------------------------------------------------------
# validation


def mtu_problem(mtu):
    """None if a bridge accepts MTU (an int), else the end of a sentence."""
    if isinstance(mtu, bool) or not isinstance(mtu, int):
        return "is not an integer"
    if not BRIDGE_MIN_MTU <= mtu <= BRIDGE_MAX_MTU:
        return "is out of range: a bridge accepts %d..%d" % (BRIDGE_MIN_MTU, BRIDGE_MAX_MTU)
    return None


def parse_address(value):
    """``(interface, problem)`` for one ``ADDRESS/PREFIX`` string: an
    IPv4Interface/IPv6Interface, or None and the end of a sentence.

    The prefix length is required and must be a number.  Refused: addresses
    that cannot be a bridge's unicast address (unspecified, loopback,
    multicast, IPv4-mapped), IPv6 link-local (the kernel manages those), IPv4
    network and broadcast addresses (prefix below 31) and the IPv6
    subnet-router anycast address (prefix below 127).
    """
    if not isinstance(value, str):
        return None, "is not a string (an address such as 192.168.1.1/24)"
    if "/" not in value:
        return None, "has no prefix length; write it as ADDRESS/PREFIX, e.g. 192.168.1.1/24"
    host, _sep, prefix = value.rpartition("/")
    if not _PREFIX_RE.match(prefix):
        return None, "has the prefix length %s, which must be a number such as 24 or 64" % (
            names.show(prefix))
    if "%" in host:
        return None, "has an IPv6 zone index ('%'), which a bridge address cannot have"
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        return None, "is not a valid IPv4 or IPv6 address with prefix"
    ip = iface.ip
    net = iface.network
    hint = "use a host address such as %s/%d" % (net.network_address + 1, net.prefixlen)
    if ip.is_unspecified:
        return None, "is the unspecified address"
    if ip.is_loopback:
        return None, "is a loopback address"
    if ip.is_multicast:
        return None, "is a multicast address"
    if ip.version == 4:
        if net.prefixlen < 31:
            if ip == net.network_address:
                return None, "is the network address of %s; %s" % (net, hint)
            if ip == net.broadcast_address:
                return None, "is the broadcast address of %s; %s" % (net, hint)
    else:
        if ip.ipv4_mapped is not None:
            return None, "is an IPv4-mapped IPv6 address"
        if ip in _LINK_LOCAL_V6:
            return None, ("is IPv6 link-local (fe80::/10); the kernel manages link-local "
                          "addresses, list only the bridge's global addresses")
        if net.prefixlen < 127 and ip == net.network_address:
            return None, "is the subnet-router anycast address of %s; %s" % (net, hint)
    return iface, None


def parse_addresses(values, key="addresses"):
    """``(interfaces, problems)`` for a list of address strings.

    Every bad value is one problem that names it.  The same IP listed twice is
    a problem, also with different prefix lengths (the kernel keeps one IPv6
    address per IP, and a bridge gateway has one prefix).
    """
    problems = Problems()
    result = []
    seen = {}
    for index, value in enumerate(values or []):
        where = "%s[%d]" % (key, index)
        iface, bad = parse_address(value)
        if bad:
            problems.append(names.problem(where, value, bad))
            continue
        if iface.ip in seen:
            first, first_value = seen[iface.ip]
            if first_value == value:
                problems.append(names.problem(where, value, "is listed twice (also %s)" % first))
            else:
                problems.append(names.problem(
                    where, value, "names the same IP %s as %s %s; list it once"
                    % (iface.ip, first, names.show(first_value))))
            continue
        seen[iface.ip] = (where, value)
        result.append(iface)
    return result, problems


def validate_params(name, mtu=None, addresses=None):
    """``(interfaces, problems)`` for the wanted bridge: NAME, MTU (None: not
    managed) and ADDRESSES (``ADDRESS/PREFIX`` strings)."""
    problems = Problems()
    bad_name = names.ifname_problem(name)
    if bad_name:
        problems.append(names.problem("name", name, bad_name))
    if mtu is not None:
        bad_mtu = mtu_problem(mtu)
        if bad_mtu:
            problems.append(names.problem("mtu", mtu, bad_mtu))
            mtu = None
    ifaces, addr_problems = parse_addresses(addresses)
    problems.extend(addr_problems)
    if mtu is not None and mtu < IPV6_MIN_MTU:
        v6 = [str(i) for i in ifaces if i.version == 6]
        if v6:
            problems.append(names.problem(
                "mtu", mtu, "is below IPv6's minimum of %d, so the kernel disables IPv6 on the "
                            "bridge and cannot hold %s" % (IPV6_MIN_MTU, ", ".join(v6))))
    return ifaces, problems


# --------------------------------------------------------------------------
# parsing ip -json output


def describe_kind(kind):
    if kind:
        return "a %s link" % kind
    return "a device without a link kind (a physical NIC, loopback or similar)"


def parse_link(data):
    """Parse the link of ``ip -json -details addr show dev NAME`` (or ``link show``).

    Returns None for an empty answer, else a dict with ``ifname``, ``ifindex``,
    ``kind`` (``linkinfo.info_kind``, None for devices without one), ``mtu``,
    ``up`` (the administrative UP flag, not operstate: a bridge without
    carrier is admin-up but operstate DOWN), ``operstate`` and ``altnames``.
    """
    if not data:
        return None
    entry = data[0]
    flags = entry.get("flags") or []
    linkinfo = entry.get("linkinfo") or {}
    return {
        "ifname": entry.get("ifname"),
        "ifindex": entry.get("ifindex"),
        "kind": linkinfo.get("info_kind"),
        "mtu": entry.get("mtu"),
        "up": "UP" in flags,
        "operstate": entry.get("operstate"),
        "altnames": list(entry.get("altnames") or []),
    }


def is_kernel_managed(iface):
    """IPv6 link-local addresses belong to the kernel: never listed, never removed."""
    return iface.version == 6 and iface.ip in _LINK_LOCAL_V6


def parse_addr_info(data):
    """Parse the addresses of ``ip -json [-details] addr show dev NAME`` (kernel order):
    ``iface`` (IPv4Interface/IPv6Interface), ``cidr`` (normalised text),
    ``scope``, ``secondary`` (IPv4 secondary flag), ``tentative`` and
    ``kernel_managed`` (IPv6 link-local)."""
    result = []
    for link in data or []:
        for info in link.get("addr_info") or []:
            family = info.get("family")
            local = info.get("local")
            if family not in ("inet", "inet6") or local is None:
                continue
            iface = ipaddress.ip_interface("%s/%s" % (local, info.get("prefixlen")))
            result.append({
                "iface": iface,
                "cidr": str(iface),
                "scope": info.get("scope"),
                "secondary": bool(info.get("secondary")),
                "tentative": bool(info.get("tentative")),
                "kernel_managed": is_kernel_managed(iface),
            })
    return result


def sort_cidrs(ifaces):
    """IPv4 before IPv6, then numerically: the order ``bridge.addresses`` uses."""
    return [str(i) for i in sorted(ifaces, key=lambda i: (i.version, int(i.ip), i.network.prefixlen))]


def managed_state(name, link, addrs):
    """The reported view of a bridge: name, exists, mtu, up, addresses
    (sorted, IPv6 link-local left out)."""
    if link is None:
        return {"name": name, "exists": False, "mtu": None, "up": False, "addresses": []}
    return {
        "name": name,
        "exists": True,
        "mtu": link["mtu"],
        "up": link["up"],
        "addresses": sort_cidrs(a["iface"] for a in addrs if not a["kernel_managed"]),
    }


def render_state(state):
    """Readable text of a state dict for diff mode."""
    lines = ["bridge: %s" % state["name"]]
    if not state["exists"]:
        lines.append("state: absent")
        return "\n".join(lines) + "\n"
    lines.append("state: present")
    lines.append("kind: bridge")
    lines.append("link: %s" % ("up" if state["up"] else "down"))
    lines.append("mtu: %s" % state["mtu"])
    if state["addresses"]:
        lines.append("addresses:")
        lines.extend("  - %s" % a for a in state["addresses"])
    else:
        lines.append("addresses: []")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# batch lines


def _addr_line(verb, iface, name):
    if verb != "del" and iface.version == 4 and iface.network.prefixlen <= 30:
        return "addr %s %s brd + dev %s" % (verb, iface, name)
    return "addr %s %s dev %s" % (verb, iface, name)


def _key(iface):
    return (iface.version, int(iface.ip), iface.network.prefixlen)


def _same_v4_subnet(a, b):
    return a.version == 4 and b.version == 4 and a.network == b.network


def check_link_identity(name, link):
    """Raise PlanError unless LINK (``parse_link`` of ``dev NAME``) is absent or
    really named NAME (``ip link show dev X`` also matches altnames)."""
    if link is not None and link["ifname"] != name:
        raise PlanError(
            "%s is an alternative name of %s (%s); refusing to manage or delete it"
            % (name, link["ifname"], describe_kind(link["kind"])))


def plan(name, link, addrs, state="present", mtu=None, up=True, addresses=(), exclusive=False,
         keep_v6_on_down=False, repair_only=False):
    """Compute the change set.

    NAME: the bridge; LINK: ``parse_link`` output (None: no such link); ADDRS:
    ``parse_addr_info`` output of that link; ADDRESSES: parsed interfaces from
    ``validate_params``; KEEP_V6_ON_DOWN: whether the kernel keeps IPv6
    addresses when the link goes down (``keep_addr_on_down``).  Returns a
    dict: ``commands`` (``ip -batch`` lines), ``added`` and ``removed`` (CIDR
    strings: the net difference between before and after), ``conflicts``
    (sentences, repair-only mode), ``before`` and ``after`` (state dicts as
    ``managed_state`` builds them).  Raises PlanError when the wanted state
    must not be reached (a non-bridge under NAME, IPv6 below MTU 1280).

    REPAIR_ONLY is "ensure present, add and repair only" (the reconcile
    command): the bridge is created, set up and set to MTU, missing addresses
    are added, and nothing is ever deleted or taken down.  STATE, UP and
    EXCLUSIVE are then ignored.  A wanted address whose IP the bridge already
    holds with another prefix length is not replaced but listed in
    ``conflicts``; the playbook's run (which may delete) resolves it.
    """
    if repair_only:
        state, up, exclusive = "present", True, False
    check_link_identity(name, link)
    if link is not None and link["kind"] != "bridge":
        what = describe_kind(link["kind"])
        if state == "absent":
            raise PlanError(
                "%s exists but is %s, not a bridge; refusing to delete it" % (name, what))
        raise PlanError(
            "%s exists but is %s, not a bridge; refusing to convert it (delete or rename "
            "it first)" % (name, what))

    before = managed_state(name, link, addrs)
    current = [a for a in addrs if not a["kernel_managed"]]

    if state == "absent":
        if link is None:
            return {"commands": [], "added": [], "removed": [], "conflicts": [],
                    "before": before, "after": before}
        return {
            "commands": ["link del dev %s" % name],
            "added": [],
            "removed": [a["cidr"] for a in current],
            "conflicts": [],
            "before": before,
            "after": managed_state(name, None, []),
        }

    addresses = list(addresses or [])
    wanted_keys = set(_key(i) for i in addresses)
    wanted_ips = set(i.ip for i in addresses)
    current_keys = set(_key(a["iface"]) for a in current)

    # --- link and MTU -----------------------------------------------------
    head = []
    mtu_line = None
    if link is None:
        if mtu is None:
            head.append("link add name %s type bridge" % name)
            mtu_after = DEFAULT_BRIDGE_MTU
        else:
            # Created one byte off, then changed: only a real change makes the
            # kernel keep this MTU when ports with a smaller one join.
            start = mtu + 1 if mtu < BRIDGE_MAX_MTU else mtu - 1
            head.append("link add name %s mtu %d type bridge" % (name, start))
            mtu_line = "link set dev %s mtu %d" % (name, mtu)
            mtu_after = mtu
        up_before = False
    else:
        mtu_after = link["mtu"]
        if mtu is not None and mtu != link["mtu"]:
            mtu_line = "link set dev %s mtu %d" % (name, mtu)
            mtu_after = mtu
        up_before = link["up"]

    # --- going down ---------------------------------------------------------
    # The down event flushes IPv6 addresses (unless keep_addr_on_down), so it
    # goes first and the address work is planned against what survives it.
    going_down = link is not None and link["up"] and not up
    flushed = []
    if going_down and not keep_v6_on_down:
        flushed = [a for a in current if a["iface"].version == 6]
        current = [a for a in current if a["iface"].version != 6]
    original_keys = current_keys
    current_keys = set(_key(a["iface"]) for a in current)

    # --- addresses ----------------------------------------------------------
    to_add = [i for i in addresses if _key(i) not in current_keys]
    conflicts = []
    if repair_only:
        held = dict((a["iface"].ip, a["iface"]) for a in current)
        conflicts = ["%s holds %s, not %s; left alone (repair only)" % (name, held[i.ip], i)
                     for i in to_add if i.ip in held]
        to_add = [i for i in to_add if i.ip not in held]
        to_remove = []
    else:
        # Same IP with another prefix is a different address and gets
        # replaced, exclusive or not; with exclusive everything unlisted goes.
        to_remove = [a for a in current
                     if _key(a["iface"]) not in wanted_keys
                     and (exclusive or a["iface"].ip in wanted_ips)]
    # Secondaries first: deleting a primary may take its secondaries along.
    to_remove.sort(key=lambda a: 0 if a["secondary"] else 1)
    removed_ifaces = [a["iface"] for a in to_remove]

    if mtu_after < IPV6_MIN_MTU:
        v6_wanted = [str(i) for i in to_add if i.version == 6]
        if v6_wanted:
            raise PlanError(
                "%s has mtu %d, below IPv6's minimum of %d, so the kernel cannot hold %s; "
                "set mtu to %d or more" % (name, mtu_after, IPV6_MIN_MTU, ", ".join(v6_wanted),
                                           IPV6_MIN_MTU))
        v6_kept = [a["cidr"] for a in current
                   if a["iface"].version == 6 and a["iface"] not in removed_ifaces]
        if v6_kept:
            raise PlanError(
                "mtu %d is below IPv6's minimum of %d: the kernel would drop %s from %s; "
                "keep mtu at %d or more, or remove those addresses (exclusive: true)"
                % (mtu_after, IPV6_MIN_MTU, ", ".join(v6_kept), name, IPV6_MIN_MTU))

    # Added before the deletions, unless the kernel would refuse the new
    # address next to the old one (IPv6, same IP) or drop it together with
    # the old primary (IPv4, same subnet and prefix): those follow the
    # deletions.
    early, late = [], []
    for iface in to_add:
        clash = any((iface.version == 6 and old.version == 6 and old.ip == iface.ip)
                    or _same_v4_subnet(iface, old) for old in removed_ifaces)
        (late if clash else early).append(iface)
    # Kept IPv4 secondaries of a deleted primary are gone afterwards unless
    # promote_secondaries is on; "addr replace" restores them either way.
    removed_primaries = [a["iface"] for a in to_remove if a["iface"].version == 4 and not a["secondary"]]
    restore = [a["iface"] for a in current
               if a["iface"].version == 4 and a["secondary"]
               and a["iface"] not in removed_ifaces
               and any(_same_v4_subnet(a["iface"], p) for p in removed_primaries)]

    addr_lines = [_addr_line("add", i, name) for i in early]
    addr_lines += [_addr_line("del", i, name) for i in removed_ifaces]
    addr_lines += [_addr_line("replace", i, name) for i in restore]
    addr_lines += [_addr_line("add", i, name) for i in late]

    commands = list(head)
    if going_down:
        commands.append("link set dev %s down" % name)
    if mtu_line and mtu_after >= IPV6_MIN_MTU:
        commands.append(mtu_line)
    commands += addr_lines
    if mtu_line and mtu_after < IPV6_MIN_MTU:
        commands.append(mtu_line)
    if up and not up_before:
        commands.append("link set dev %s up" % name)

    final = [a["iface"] for a in current if a["iface"] not in removed_ifaces] + to_add
    final_keys = set(_key(i) for i in final)
    after = {
        "name": name,
        "exists": True,
        "mtu": mtu_after,
        "up": bool(up),
        "addresses": sort_cidrs(final),
    }
    return {
        "commands": commands,
        "added": [str(i) for i in early + late if _key(i) not in original_keys],
        "removed": ([str(i) for i in removed_ifaces]
                    + [a["cidr"] for a in flushed if _key(a["iface"]) not in final_keys]),
        "conflicts": conflicts,
        "before": before,
        "after": after,
    }


def mismatches(expected, actual):
    """Where the state read back after a run differs from the plan's ``after``."""
    problems = []
    for key in ("exists", "mtu", "up", "addresses"):
        if expected.get(key) != actual.get(key):
            problems.append("%s: expected %r, the kernel reports %r"
                            % (key, expected.get(key), actual.get(key)))
    return problems

# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure logic behind ``podnet.hostgw.bridge``: no I/O happens here.

* validation of interface names, MTUs and ``ADDRESS/PREFIX`` strings;
* parsing of ``ip -json -details link show dev NAME`` and
  ``ip -json addr show dev NAME``;
* the plan: which ``ip -batch`` lines turn the current state into the wanted
  one, which addresses that adds and removes, and the state afterwards;
* splitting ``ip -batch`` error output per failing line and explaining it.

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

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

IFNAMSIZ = 16                 # includes the terminating NUL
BRIDGE_MIN_MTU = 68
BRIDGE_MAX_MTU = 65535
IPV6_MIN_MTU = 1280
DEFAULT_BRIDGE_MTU = 1500     # what the kernel gives a new bridge (ether_setup)

# Characters the kernel accepts in a name but ``ip -batch`` would not carry
# verbatim: '#' starts a comment anywhere on a batch line, quotes are
# unquoted, a trailing backslash continues the line.
_BATCH_UNSAFE = {"#": "'#'", '"': "a double quote", "'": "a single quote", "\\": "a backslash"}
_PREFIX_RE = re.compile(r"^[0-9]{1,3}$")
_LINK_LOCAL_V6 = ipaddress.ip_network("fe80::/10")


class PlanError(Exception):
    """The wanted state cannot (or must not) be reached; the message says why."""


# --------------------------------------------------------------------------
# validation


def validate_ifname(name):
    """Return NAME if it is a valid Linux interface name, else raise ValueError
    with a message that names the value."""
    if not isinstance(name, str):
        raise ValueError("interface name %r is not a string" % (name,))
    if not name:
        raise ValueError("interface name must not be empty")
    size = len(name.encode("utf-8"))
    if size > IFNAMSIZ - 1:
        raise ValueError(
            "interface name %r is %d bytes long; Linux allows at most %d"
            % (name, size, IFNAMSIZ - 1))
    if name in (".", ".."):
        raise ValueError("interface name %r is reserved by the kernel" % name)
    for char in name:
        if char == "/":
            raise ValueError("interface name %r must not contain '/'" % name)
        if char == ":":
            raise ValueError(
                "interface name %r must not contain ':' (that is IPv4 alias-label syntax)" % name)
        if char.isspace():
            raise ValueError("interface name %r must not contain whitespace" % name)
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise ValueError("interface name %r must not contain control characters" % name)
        if char in _BATCH_UNSAFE:
            raise ValueError(
                "interface name %r must not contain %s (it cannot be passed through ip -batch)"
                % (name, _BATCH_UNSAFE[char]))
    return name


def validate_mtu(mtu):
    """Return MTU (an int) if a bridge accepts it, else raise ValueError."""
    if mtu is None:
        return None
    if isinstance(mtu, bool) or not isinstance(mtu, int):
        raise ValueError("mtu %r is not an integer" % (mtu,))
    if not BRIDGE_MIN_MTU <= mtu <= BRIDGE_MAX_MTU:
        raise ValueError(
            "mtu %d is out of range: a bridge accepts %d..%d"
            % (mtu, BRIDGE_MIN_MTU, BRIDGE_MAX_MTU))
    return mtu


def parse_address(value):
    """Parse one ``ADDRESS/PREFIX`` string into an IPv4Interface/IPv6Interface.

    The prefix length is required and must be a number.  Refused: addresses
    that cannot be a bridge's unicast address (unspecified, loopback,
    multicast, IPv4-mapped), IPv6 link-local (the kernel manages those), IPv4
    network and broadcast addresses (prefix below 31) and the IPv6
    subnet-router anycast address (prefix below 127).
    """
    if not isinstance(value, str):
        raise ValueError("address %r is not a string" % (value,))
    text = value
    if "/" not in text:
        raise ValueError(
            "address %r has no prefix length; write it as ADDRESS/PREFIX, e.g. 192.168.1.1/24"
            % value)
    host, _sep, prefix = text.rpartition("/")
    if not _PREFIX_RE.match(prefix):
        raise ValueError(
            "address %r: the prefix length %r must be a number such as 24 or 64"
            % (value, prefix))
    if "%" in host:
        raise ValueError("address %r: an IPv6 zone index ('%%...') is not allowed" % value)
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError as exc:
        raise ValueError("address %r is not a valid IPv4 or IPv6 address with prefix: %s"
                         % (value, exc))
    ip = iface.ip
    net = iface.network
    if ip.is_unspecified:
        raise ValueError("address %r is the unspecified address" % value)
    if ip.is_loopback:
        raise ValueError("address %r is a loopback address" % value)
    if ip.is_multicast:
        raise ValueError("address %r is a multicast address" % value)
    if ip.version == 4:
        if net.prefixlen < 31:
            if ip == net.network_address:
                raise ValueError(
                    "address %r is the network address of %s; use a host address such as %s/%d"
                    % (value, net, net.network_address + 1, net.prefixlen))
            if ip == net.broadcast_address:
                raise ValueError(
                    "address %r is the broadcast address of %s; use a host address such as %s/%d"
                    % (value, net, net.network_address + 1, net.prefixlen))
    else:
        if ip.ipv4_mapped is not None:
            raise ValueError("address %r is an IPv4-mapped IPv6 address" % value)
        if ip in _LINK_LOCAL_V6:
            raise ValueError(
                "address %r is IPv6 link-local (fe80::/10); the kernel manages link-local "
                "addresses, list only the bridge's global addresses" % value)
        if net.prefixlen < 127 and ip == net.network_address:
            raise ValueError(
                "address %r is the subnet-router anycast address of %s; use a host "
                "address such as %s/%d" % (value, net, net.network_address + 1, net.prefixlen))
    return iface


def parse_addresses(values):
    """Parse a list of address strings; returns ``(interfaces, errors)``.

    Every bad value yields one error naming it.  The same IP listed twice is
    an error, also with different prefix lengths (the kernel keeps one IPv6
    address per IP, and a bridge gateway has one prefix).
    """
    errors = []
    result = []
    seen = {}
    for value in values or []:
        try:
            iface = parse_address(value)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if iface.ip in seen:
            first = seen[iface.ip]
            if first == value:
                errors.append("address %r is listed twice" % value)
            else:
                errors.append("addresses %r and %r name the same IP %s; list it once"
                              % (first, value, iface.ip))
            continue
        seen[iface.ip] = value
        result.append(iface)
    return result, errors


def validate_params(name, mtu=None, addresses=None):
    """Validate the module's inputs; returns ``(interfaces, errors)``."""
    errors = []
    try:
        validate_ifname(name)
    except ValueError as exc:
        errors.append(str(exc))
    try:
        validate_mtu(mtu)
    except ValueError as exc:
        errors.append(str(exc))
        mtu = None
    ifaces, addr_errors = parse_addresses(addresses)
    errors.extend(addr_errors)
    if mtu is not None and mtu < IPV6_MIN_MTU:
        v6 = [str(i) for i in ifaces if i.version == 6]
        if v6:
            errors.append(
                "mtu %d is below IPv6's minimum of %d, so the kernel disables IPv6 on the "
                "bridge and cannot hold %s" % (mtu, IPV6_MIN_MTU, ", ".join(v6)))
    return ifaces, errors


# --------------------------------------------------------------------------
# parsing ip -json output


def describe_kind(kind):
    if kind:
        return "a %s link" % kind
    return "a device without a link kind (a physical NIC, loopback or similar)"


def parse_link(data):
    """Parse ``ip -json -details link show dev NAME``.

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
    """Parse ``ip -json addr show dev NAME`` into a list of dicts (kernel order):
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
         keep_v6_on_down=False):
    """Compute the change set.

    NAME: the bridge; LINK: ``parse_link`` output (None: no such link); ADDRS:
    ``parse_addr_info`` output of that link; ADDRESSES: parsed interfaces from
    ``validate_params``; KEEP_V6_ON_DOWN: whether the kernel keeps IPv6
    addresses when the link goes down (``keep_addr_on_down``).  Returns a
    dict: ``commands`` (``ip -batch`` lines), ``added`` and ``removed`` (CIDR
    strings: the net difference between before and after), ``before`` and
    ``after`` (state dicts as ``managed_state`` builds them).  Raises
    PlanError when the wanted state must not be reached (a non-bridge under
    NAME, IPv6 below MTU 1280).
    """
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
            return {"commands": [], "added": [], "removed": [], "before": before, "after": before}
        return {
            "commands": ["link del dev %s" % name],
            "added": [],
            "removed": [a["cidr"] for a in current],
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
    # Same IP with another prefix is a different address and gets replaced,
    # exclusive or not; with exclusive everything unlisted goes.
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
        "removed": [str(i) for i in removed_ifaces]
                   + [a["cidr"] for a in flushed if _key(a["iface"]) not in final_keys],
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


# --------------------------------------------------------------------------
# errors from ip -batch


_HINTS = (
    ("Operation not permitted",
     "changing links needs CAP_NET_ADMIN; run the task with become: true"),
    ("Unknown device type",
     "the kernel has no bridge support; load the bridge module (modprobe bridge)"),
    ("Cannot find device",
     "the link disappeared while the batch ran (changed concurrently?)"),
    ("address already assigned",
     "the address appeared while the batch ran (changed concurrently?)"),
    ("address not found",
     "the address was already gone (changed concurrently?)"),
    ("cannot assign requested address",
     "the address was already gone (changed concurrently?)"),
    ("File exists",
     "a link or address with that name already exists (changed concurrently?)"),
)


def explain(command, message):
    """A hint for a failed batch line, or None."""
    words = command.split()
    if len(words) > 2 and words[0] == "addr" and words[1] in ("add", "replace") and ":" in words[2]:
        if "Permission denied" in message or "IPv6 is disabled" in message:
            return ("IPv6 is disabled on this link: check the sysctls net.ipv6.conf.%s.disable_ipv6 "
                    "and net.ipv6.conf.default.disable_ipv6" % words[-1])
        if "Invalid argument" in message:
            return "IPv6 is not available on this link (MTU below 1280 or IPv6 disabled)"
    lowered = message.lower()
    for needle, hint in _HINTS:
        if needle.lower() in lowered:
            return hint
    return None


def describe_batch_failure(commands, batch):
    """``(message, failures)`` for a failed ``ip -batch`` run (an
    ip_command.BatchResult); FAILURES is a list of dicts ``line``,
    ``command``, ``error``, ``hint`` (hint may be None)."""
    failures = []
    parts = []
    for number in sorted(batch.errors):
        command = commands[number - 1] if 0 < number <= len(commands) else "?"
        error = batch.errors[number]
        hint = explain(command, error)
        failures.append({"line": number, "command": command, "error": error, "hint": hint})
        parts.append("'%s' failed: %s%s" % (command, error, " (%s)" % hint if hint else ""))
    if not parts:
        detail = "; ".join(batch.unattributed) or (batch.err or "").strip() or "no error output"
        return "ip -batch failed: %s" % detail, failures
    return "ip -batch failed: " + "; ".join(parts), failures

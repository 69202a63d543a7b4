# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's one rule for each kind of name, address and prefix.

Every ``*_problem`` function returns None for a good value, or the end of a
sentence ("is 16 bytes long; Linux allows at most 15") that the caller
starts with the setting's name and the quoted value, through ``problem``::

    problem("hostgw_bridge", "br#0", ifname_problem("br#0"))
    -> "hostgw_bridge 'br#0' must not contain '#' (ip -batch cannot carry it)"

The parsers (``parse_prefix``, ``parse_ip``) return
``(version, canonical_text, problem)``; they are the hot path of a
10 000-route module run, so canonical IPv4 text is recognised by a regular
expression and only anything else goes through ``ipaddress``.
"""

import ipaddress
import os
import re

# Control characters, including the ones str.splitlines() treats as breaks.
CONTROL = re.compile(u"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

IFNAMSIZ = 16               # the kernel's buffer, with the terminating NUL
# The kernel's dev_valid_name(): isspace() of lib/ctype.c, byte by byte
# (0xa0 is a space in its Latin-1 table), plus '/' and ':'.
_KERNEL_SPACE = frozenset(b"\t\n\x0b\x0c\r \xa0")
# Accepted by the kernel, but ip -batch cannot carry them verbatim: '#'
# starts a comment anywhere on a line, quotes are unquoted and a trailing
# backslash continues the line.
BATCH_UNSAFE = {"#": "'#'", '"': "a double quote", "'": "a single quote", "\\": "a backslash"}

NAME_MAX = 255              # a file name, e.g. under /run/netns

CNI_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]*")

DEFAULT_PROTOCOL_NAME = "hostgw"
DEFAULT_PROTOCOL_NUMBER = 252
# Route protocol numbers the kernel (include/uapi/linux/rtnetlink.h) and
# iproute2 already name.  The collection never tags its routes with one of
# them: purging by such a tag would remove routes owned by someone else.
KNOWN_PROTOCOLS = {
    0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static",
    8: "gated", 9: "ra", 10: "mrt", 11: "zebra", 12: "bird", 13: "dnrouted",
    14: "xorp", 15: "ntk", 16: "dhcp", 17: "mrouted", 18: "keepalived",
    42: "babel", 99: "openr", 186: "bgp", 187: "isis", 188: "ospf", 189: "rip",
    192: "eigrp",
}
_PROTO_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")

# The collection's nftables table; its iptables chains are NAME-FWD and NAME-NAT
# upper-cased, and a chain name has at most 28 bytes.
NETFILTER_NAME = re.compile(r"[a-z][a-z0-9_]*")
NETFILTER_NAME_MAX = 24
RESERVED_TABLES = frozenset(("filter", "nat", "mangle", "raw", "security", "broute"))

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_V4_NET = re.compile(r"%s\.%s\.%s\.%s(?:/(3[0-2]|[12][0-9]|[0-9]))?" % ((_OCTET,) * 4))
_V4_ADDR = re.compile(r"%s\.%s\.%s\.%s" % ((_OCTET,) * 4))


def show(value):
    """VALUE as a message quotes it: strings in quotes with control
    characters escaped (``'cni0\\n'``), anything else as Python shows it."""
    return repr(value)


def problem(key, value, predicate):
    """One sentence: ``KEY 'VALUE' PREDICATE``."""
    return "%s %s %s" % (key, show(value), predicate)


def family(version):
    return "IPv%d" % version


# --------------------------------------------------------------- names --

def ifname_problem(value):
    """The kernel's rule for an interface name (1 to 15 bytes, not ``.`` or
    ``..``, no ``/``, ``:`` or whitespace, and no ``%``, which makes the name
    a template), plus what ``ip -batch`` cannot carry and control characters."""
    if not isinstance(value, str):
        return "is not a string (an interface name)"
    if not value:
        return "is empty; an interface name has 1 to 15 bytes"
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) > IFNAMSIZ - 1:
        return "is %d bytes long; Linux allows at most %d" % (len(raw), IFNAMSIZ - 1)
    if value in (".", ".."):
        return "is reserved by the kernel"
    if b"/" in raw:
        return "must not contain '/'"
    if b":" in raw:
        return "must not contain ':' (that is IPv4 alias-label syntax)"
    if b"%" in raw:
        return "must not contain '%' (the kernel reads it as a name template such as eth%d)"
    if any(b in _KERNEL_SPACE for b in bytearray(raw)):
        return "must not contain whitespace"
    if CONTROL.search(value):
        return "must not contain control characters"
    for char, what in BATCH_UNSAFE.items():
        if char in value:
            return "must not contain %s (ip -batch cannot carry it)" % what
    return None


def route_protocol_problems(name, number, name_key="protocol", number_key="protocol_number"):
    """Sentences for a route protocol tag (a name for rt_protos.d and its number)."""
    out = []
    if not isinstance(name, str) or not _PROTO_NAME.fullmatch(name):
        out.append(problem(name_key, name, "must be a name of letters, digits, '_', '.', '-' "
                                           "starting with a letter (at most 32 characters)"))
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 255:
        out.append(problem(number_key, number, "must be an integer 1..255"))
        return out
    if number in KNOWN_PROTOCOLS:
        out.append(problem(number_key, number, "is the well-known protocol %s; pick an unused "
                                               "number (default %d)"
                           % (KNOWN_PROTOCOLS[number], DEFAULT_PROTOCOL_NUMBER)))
    for num, known in KNOWN_PROTOCOLS.items():
        if name == known:
            out.append(problem(name_key, name, "is the well-known protocol number %d; pick a name "
                                               "of your own (default %s)" % (num, DEFAULT_PROTOCOL_NAME)))
    return out


def netfilter_name_problems(name, key="name"):
    """Sentences for the collection's nftables table name (the iptables chain
    names derive from it)."""
    if not isinstance(name, str) or not name:
        return [problem(key, name, "must be a non-empty string")]
    out = []
    if not NETFILTER_NAME.fullmatch(name):
        out.append(problem(key, name, "must be lower-case letters, digits and '_', starting "
                                      "with a letter"))
    if len(name) > NETFILTER_NAME_MAX:
        out.append(problem(key, name, "is %d characters; at most %d (its iptables chains, "
                                      "NAME-FWD and NAME-NAT upper-cased, must fit in 28)"
                           % (len(name), NETFILTER_NAME_MAX)))
    if name in RESERVED_TABLES:
        out.append(problem(key, name, "is the name of a standard table; pick a name of the "
                                      "collection's own such as podnet_hostgw"))
    return out


def netns_name_problem(value):
    """A network namespace name (a file under /run/netns) that ``ip -batch``
    and an argv both carry verbatim."""
    if not isinstance(value, str):
        return "is not a string (a network namespace name)"
    if not value:
        return "is empty"
    if len(value.encode("utf-8", "surrogatepass")) > NAME_MAX:
        return "is longer than %d bytes" % NAME_MAX
    if value in (".", ".."):
        return "is not a name"
    if "/" in value:
        return "must not contain '/'"
    if CONTROL.search(value):
        return "must not contain control characters (a newline would start another ip -batch command)"
    if any(c.isspace() for c in value):
        return "must not contain whitespace"
    for char, what in BATCH_UNSAFE.items():
        if char in value:
            return "must not contain %s (ip -batch cannot carry it)" % what
    return None


def filename_problem(value):
    """One path component: a file name inside a directory, never a path."""
    if not isinstance(value, str):
        return "is not a string (a file name)"
    if not value:
        return "is empty"
    if CONTROL.search(value):
        return "must not contain control characters"
    if value in (".", "..") or "/" in value:
        return "is not a plain file name (no '/', not '.' or '..')"
    if len(value.encode("utf-8", "surrogatepass")) > NAME_MAX:
        return "is longer than %d bytes" % NAME_MAX
    return None


def abs_path_problem(value):
    """An absolute, normalised path without control characters."""
    if not isinstance(value, str):
        return "is not a string (an absolute path)"
    if CONTROL.search(value):
        return "must not contain control characters"
    if not value.startswith("/"):
        return "is not an absolute path"
    norm = os.path.normpath(value)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if norm != value:
        return "is not a normalised path; did you mean %s?" % norm
    if value == "/":
        return "is the root directory"
    return None


def cni_name_problem(value):
    """A CNI network name, as libcni accepts it."""
    if not isinstance(value, str) or not CNI_NAME.fullmatch(value):
        return ("must be letters, digits, '_', '.' and '-', starting with a letter or digit "
                "(the CNI specification's network name)")
    return None


# ----------------------------------------------------- addresses, prefixes --

def _mismatch(what, got, version):
    return "is an %s %s, not an %s one" % (family(got), what, family(version))


def parse_prefix(value, version=None, bare_host=True):
    """``(version, canonical, problem)`` for a network prefix.

    Strict: a prefix with host bits set is a problem that names the prefix
    it probably meant.  With BARE_HOST an address without a length is a host
    prefix (``/32``, ``/128``), as ``ip route`` reads it.
    """
    if not isinstance(value, str):
        return None, None, "is not a string (a prefix such as 192.168.1.0/24)"
    if "%" in value:
        return None, None, "has a zone index ('%'), which a prefix cannot have"
    m = _V4_NET.fullmatch(value)
    if m is not None:
        a, b, c, d, plen = m.groups()
        if version == 6:
            return 4, None, _mismatch("network", 4, 6)
        if plen is None:
            if not bare_host:
                return 4, None, "has no prefix length; write the network as ADDRESS/LENGTH"
            return 4, value + "/32", None
        plen = int(plen)
        n = (int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d)
        hostmask = (1 << (32 - plen)) - 1
        if n & hostmask:
            n &= ~hostmask
            return 4, None, "has host bits set; did you mean %d.%d.%d.%d/%d?" % (
                n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255, plen)
        return 4, value, None        # the pattern matches canonical text only
    if "/" not in value and not bare_host:
        _v, _c, bad = parse_ip(value)
        if bad is None:
            return _v, None, "has no prefix length; write the network as ADDRESS/LENGTH"
    guess = 6 if ":" in value else 4
    try:
        net = (ipaddress.IPv6Network if guess == 6 else ipaddress.IPv4Network)(value, strict=False)
    except ValueError:
        return None, None, "is not an %s network" % (family(version) if version else "IPv4 or IPv6")
    if version is not None and net.version != version:
        return net.version, None, _mismatch("network", net.version, version)
    given = value.split("/", 1)[0]
    try:
        addr = ipaddress.ip_address(given)
    except ValueError:
        addr = net.network_address
    if addr != net.network_address:
        return net.version, None, "has host bits set; did you mean %s?" % net
    return net.version, str(net), None


def parse_ip(value, version=None, unspecified=False):
    """``(version, canonical, problem)`` for one IP address (no zone index;
    the unspecified address only with UNSPECIFIED)."""
    if not isinstance(value, str):
        return None, None, "is not a string (an IP address)"
    if "%" in value:
        return None, None, "has a zone index ('%'); name the interface instead"
    if _V4_ADDR.fullmatch(value) is not None:
        if version == 6:
            return 4, None, _mismatch("address", 4, 6)
        if value == "0.0.0.0" and not unspecified:
            return 4, None, "is the unspecified address"
        return 4, value, None
    try:
        addr = (ipaddress.IPv6Address if ":" in value else ipaddress.IPv4Address)(value)
    except ValueError:
        return None, None, "is not an %s address" % (family(version) if version else "IPv4 or IPv6")
    if version is not None and addr.version != version:
        return addr.version, None, _mismatch("address", addr.version, version)
    if addr.is_unspecified and not unspecified:
        return addr.version, None, "is the unspecified address"
    return addr.version, str(addr), None

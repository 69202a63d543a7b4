# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure route logic for ``podnet.hostgw.ip_route``: no I/O in here.

* ``validate_routes``/``validate_tables``/``validate_protocol`` turn the
  module's options into normalised ``Route`` objects or a list of errors that
  name every bad entry with its index and value.
* ``parse_kernel_routes`` turns one ``ip -json -4|-6 route show table T``
  answer into ``Route`` objects with the same normalisation.
* ``plan`` compares the two and returns the ``ip -batch`` lines to run plus
  what will be added, removed and modified.
* ``verify``/``translate_error`` explain a failed batch (ip_command parses it).

Identity: a route is identified by ``(family, table, dest, metric, tos)``
(tos is always 0 for routes this module writes).  That is what the kernel's
``ip route replace`` keys on, so a change of next hop on the same identity is
one atomic ``replace``; a change of metric is a different identity (``replace``
of the new route, then ``del`` of the old one).

Hot paths (10 000 routes) avoid ``ipaddress`` objects where a strict regular
expression gives the same answer; anything the fast path does not fully
understand falls back to ``ipaddress`` so validation stays exactly as strict.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ._hostgw import names

IPV4 = "ipv4"
IPV6 = "ipv6"
FAMILIES = (IPV4, IPV6)
FAMILY_FLAG = {IPV4: "-4", IPV6: "-6"}

TABLE_BY_NAME = {"main": 254, "local": 255, "default": 253}
TABLE_NAME = {254: "main", 255: "local", 253: "default"}
MAIN_TABLE = 254
MAX_U32 = 4294967295

# The kernel stores IPv6 metric 0 as 1024 (IP6_RT_PRIO_USER); IPv4 keeps 0.
DEFAULT_METRIC = {IPV4: 0, IPV6: 1024}
DEFAULT_DEST = {IPV4: "0.0.0.0/0", IPV6: "::/0"}
HOST_LEN = {IPV4: "/32", IPV6: "/128"}

DEFAULT_PROTOCOL_NAME = names.DEFAULT_PROTOCOL_NAME
DEFAULT_PROTOCOL_NUMBER = names.DEFAULT_PROTOCOL_NUMBER
KNOWN_PROTOCOLS = names.KNOWN_PROTOCOLS
# Routes the kernel made for an address (connected routes) or from an ICMP
# redirect: never adopted or taken over, whatever ``takeover`` says.
KERNEL_OWNED = frozenset(("kernel", "2", "redirect", "1"))

ROUTE_KEYS = frozenset(("dest", "via", "dev", "metric", "table", "onlink", "src", "state"))
KEY_HINTS = {
    "gateway": "via", "gw": "via", "nexthop": "via", "next_hop": "via",
    "interface": "dev", "device": "dev", "iface": "dev", "ifname": "dev",
    "priority": "metric", "preference": "metric", "prefsrc": "src",
    "source": "src", "dst": "dest", "destination": "dest", "prefix": "dest",
    "network": "dest", "subnet": "dest", "proto": "the module option protocol",
    "protocol": "the module option protocol",
}
STATES = ("present", "absent")

# Control characters, including the ones str.splitlines() treats as breaks.
_CTRL = re.compile(u"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Strict dotted quads: no leading zeros, octets 0..255 (as ipaddress).
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_V4_NET = re.compile(r"%s\.%s\.%s\.%s(?:/(3[0-2]|[12][0-9]|[0-9]))?" % ((_OCTET,) * 4))
_V4_ADDR = re.compile(r"%s\.%s\.%s\.%s" % ((_OCTET,) * 4))
# '#' starts a comment in ip -batch input, quotes group words and a trailing
# backslash continues the line: a device name with any of them cannot be
# passed safely through ``ip -batch``.
_DEV_FORBIDDEN = frozenset(u"/:#'\"\\")


class Route(object):
    """One route, either wanted (from the module's options) or read from the
    kernel.  ``proto`` is the kernel's ``protocol`` string (a name or a
    number) for kernel routes and None for wanted ones."""

    __slots__ = ("family", "table", "dest", "metric", "tos", "via", "dev", "onlink",
                 "src", "proto", "rtype", "nexthops", "index", "state", "any_metric",
                 "key", "dest_key", "nhid")

    def __init__(self, family, table, dest, metric, via=None, dev=None, onlink=False,
                 src=None, proto=None, rtype="unicast", tos=0, nexthops=None,
                 index=None, state="present", any_metric=False, nhid=None):
        self.family = family
        self.table = table
        self.dest = dest
        self.metric = metric
        self.tos = tos
        self.via = via
        self.dev = dev
        self.onlink = onlink
        self.src = src
        self.proto = proto
        self.rtype = rtype
        self.nexthops = nexthops
        self.index = index
        self.state = state
        self.any_metric = any_metric
        self.key = (family, table, dest, metric, tos)
        self.dest_key = (family, table, dest)
        # The id of the nexthop object the route uses (``nhid``): read from
        # the kernel, or set by ``plan`` on a wanted route in nexthop mode.
        self.nhid = nhid

    def head(self):
        """Everything of the route's arguments before ``table``."""
        s = self.dest if self.rtype == "unicast" else self.rtype + " " + self.dest
        if self.tos:
            s += " tos 0x%x" % self.tos
        if self.nexthops:
            s += " " + self.nexthops
        else:
            if self.via is not None:
                s += " via " + self.via
            if self.dev is not None:
                s += " dev " + self.dev
        if self.src is not None:
            s += " src " + self.src
        if self.onlink:
            s += " onlink"
        return s

    def line(self, proto=False):
        """The route as ``ip route`` arguments, e.g.
        ``192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0``.
        With PROTO, `` proto X`` is appended for a kernel route."""
        s = self.head() + " table " + table_name(self.table) + " metric " + str(self.metric)
        if self.nhid is not None:
            s += " nhid %d" % self.nhid
        if proto and self.proto is not None:
            s += " proto " + self.proto
        return s

    def del_spec(self):
        """Arguments for ``ip route del`` that match exactly this route
        (without the ``proto``, which the caller appends).  Numbers only, see
        ``plan``."""
        s = self.dest if self.rtype == "unicast" else self.rtype + " " + self.dest
        if self.tos:
            s += " tos 0x%x" % self.tos
        if self.nhid is not None:
            # the kernel refuses via/dev in a delete of a route that uses a
            # nexthop object; the nhid names it exactly
            s += " nhid %d" % self.nhid
        elif not self.nexthops:
            if self.via is not None:
                s += " via " + self.via
            if self.dev is not None:
                s += " dev " + self.dev
        return s + " table %d metric %d" % (self.table, self.metric)

    def describe(self):
        """A short name for messages: ``routes[3] 192.168.1.0/24 ...``."""
        if self.index is not None:
            return "routes[%d] %s" % (self.index, self.line())
        return self.line(proto=True)

    def __repr__(self):
        return "Route(%s)" % self.line(proto=True)


def table_name(table):
    return TABLE_NAME.get(table) or str(table)


def show(value):
    """A value for an error message: plain when that is unambiguous."""
    if isinstance(value, str) and value and not _CTRL.search(value) and value.strip() == value \
            and " " not in value:
        return value
    return repr(value)


# --------------------------------------------------------------- addresses --

def parse_dest(value):
    """``(family, canonical_prefix, error)`` for a ``dest``; family is None
    for ``default`` (the caller takes it from ``via``)."""
    if not isinstance(value, str):
        return None, None, "dest %s must be a string (a prefix such as 192.168.1.0/24)" % show(value)
    if value == "default":
        return None, "default", None
    if "%" in value:
        return None, None, "dest %s: a zone index (%%) is not allowed in a prefix" % show(value)
    m = _V4_NET.fullmatch(value)
    if m is not None:
        a, b, c, d, plen = m.groups()
        if plen is None:
            return IPV4, value + "/32", None
        plen = int(plen)
        n = (int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d)
        hostmask = (1 << (32 - plen)) - 1
        if n & hostmask:
            net = n & ~hostmask
            return IPV4, None, "dest %s has host bits set; did you mean %d.%d.%d.%d/%d?" % (
                value, net >> 24, (net >> 16) & 255, (net >> 8) & 255, net & 255, plen)
        return IPV4, value, None      # the strict pattern only matches canonical text
    family = IPV6 if ":" in value else IPV4
    try:
        if family == IPV6:
            net = ipaddress.IPv6Network(value, strict=False)
        else:
            net = ipaddress.IPv4Network(value, strict=False)
    except ValueError as exc:
        return None, None, "dest %s is not a valid %s prefix: %s" % (show(value), family, exc)
    given = value.split("/", 1)[0]
    try:
        addr = ipaddress.ip_address(given)
    except ValueError:
        addr = net.network_address
    if addr != net.network_address:
        return family, None, "dest %s has host bits set; did you mean %s?" % (value, net)
    return family, str(net), None


def parse_addr(value, what):
    """``(family, canonical_address, error)`` for a ``via`` or ``src``."""
    if not isinstance(value, str):
        return None, None, "%s %s must be a string (an IP address)" % (what, show(value))
    if "%" in value:
        return None, None, "%s %s: a zone index (%%) is not allowed; give dev instead" % (what, show(value))
    if _V4_ADDR.fullmatch(value) is not None:
        if value == "0.0.0.0":
            return IPV4, None, "%s %s is the unspecified address" % (what, value)
        return IPV4, value, None
    try:
        if ":" in value:
            addr = ipaddress.IPv6Address(value)
        else:
            addr = ipaddress.IPv4Address(value)
    except ValueError as exc:
        return None, None, "%s %s is not a valid %s address: %s" % (
            what, show(value), IPV6 if ":" in value else IPV4, exc)
    if addr.is_unspecified:
        return None, None, "%s %s is the unspecified address" % (what, value)
    return (IPV4 if addr.version == 4 else IPV6), str(addr), None


def dev_error(value):
    """Why VALUE is not a usable interface name (the kernel's
    dev_valid_name() plus what ``ip -batch`` cannot carry), or None."""
    if not isinstance(value, str):
        return "dev %s must be a string (an interface name)" % show(value)
    if not value:
        return "dev must not be empty"
    if len(value.encode("utf-8")) > 15:
        return "dev %s is longer than 15 bytes (IFNAMSIZ)" % show(value)
    if value in (".", ".."):
        return "dev %s is not a valid interface name" % show(value)
    for ch in value:
        if ch.isspace() or ch in _DEV_FORBIDDEN:
            return "dev %s contains %r, which is not allowed in an interface name" % (show(value), ch)
    return None


def parse_table(value):
    """``(table_number, error)``; names main/local/default or 1..2^32-1."""
    if isinstance(value, bool):
        return None, "table %s must be a number or main/local/default" % show(value)
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        if value in TABLE_BY_NAME:
            return TABLE_BY_NAME[value], None
        if not (value.isdigit() and value.isascii()):
            return None, ("table %s must be a number 1..%d or one of main, local, default "
                          "(names from rt_tables are not resolved)" % (show(value), MAX_U32))
        n = int(value)
    else:
        return None, "table %s must be a number or main/local/default" % show(value)
    if not 1 <= n <= MAX_U32:
        return None, "table %s is out of range 1..%d (0 means unspecified)" % (value, MAX_U32)
    return n, None


def parse_metric(value):
    if isinstance(value, bool):
        return None, "metric %s must be an integer 0..%d" % (show(value), MAX_U32)
    if isinstance(value, str) and value.isdigit() and value.isascii():
        value = int(value)
    if not isinstance(value, int):
        return None, "metric %s must be an integer 0..%d" % (show(value), MAX_U32)
    if not 0 <= value <= MAX_U32:
        return None, "metric %s is out of range 0..%d" % (value, MAX_U32)
    return value, None


_TRUE = frozenset(("yes", "on", "1", "true", "y", "t"))
_FALSE = frozenset(("no", "off", "0", "false", "n", "f", ""))


def parse_bool(value, what):
    if value is None:
        return False, None
    if isinstance(value, bool):
        return value, None
    if isinstance(value, int) and value in (0, 1):
        return bool(value), None
    if isinstance(value, str):
        v = value.lower()
        if v in _TRUE:
            return True, None
        if v in _FALSE:
            return False, None
    return None, "%s %s must be a boolean" % (what, show(value))


# -------------------------------------------------------------- validation --

def _ctrl_errors(entry):
    errs = []
    for k, v in entry.items():
        if isinstance(v, str) and _CTRL.search(v):
            errs.append("%s %r contains a control character (newline or similar)" % (k, v))
    return errs


LINE_VALUE_WORDS = frozenset(("via", "dev", "metric", "table", "src"))
LINE_WORD_ALIASES = {"to": None, "gw": "via", "oif": "dev", "preference": "metric", "priority": "metric"}


def parse_route_line(text):
    """``"DEST [via GW] [dev DEV] [metric N] [table T] [src S] [onlink]"`` as a
    route dict, the compact form of a ``routes`` entry (``ip route`` syntax).

    Returns ``(dict, error)``.  Only the words above are understood; anything
    else is an error naming it, never ignored.
    """
    words = text.split()
    if not words:
        return None, "an empty route line"
    entry = {"dest": words[0]}
    i = 1
    while i < len(words):
        word = words[i]
        if word == "onlink":
            if "onlink" in entry:
                return None, "onlink given twice"
            entry["onlink"] = True
            i += 1
            continue
        if word not in LINE_VALUE_WORDS:
            hint = LINE_WORD_ALIASES.get(word)
            return None, "unknown word %s%s" % (show(word), "; write %s" % hint if hint else
                                                  "; a route line takes via, dev, metric, table, src, onlink")
        if i + 1 >= len(words):
            return None, "%s needs a value" % word
        if word in entry:
            return None, "%s given twice" % word
        entry[word] = words[i + 1]
        i += 2
    return entry, None


def validate_routes(entries, default_state="present", default_table=MAIN_TABLE):
    """Validate the ``routes`` option.

    Returns ``(routes, errors)``.  ``errors`` holds one string per problem,
    each starting with ``routes[INDEX]``; if it is not empty, ``routes`` must
    not be used.  Nothing is ever fixed silently.
    """
    routes = []
    errors = []
    if entries is None:
        return routes, errors
    if not isinstance(entries, list):
        return routes, ["routes must be a list of dicts, got %s" % type(entries).__name__]
    seen = {}
    seen_dest = {}
    _parse_dest = parse_dest
    _parse_addr = parse_addr
    _ctrl_search = _CTRL.search
    dev_ok = set()      # next hops and devices repeat: validate each once
    via_cache = {}
    for i, e in enumerate(entries):
        if e.__class__ is str:
            if _ctrl_search(e):
                errors.append("routes[%d]: %s contains a control character (newline or similar)" % (i, show(e)))
                continue
            e, err = parse_route_line(e)
            if err:
                errors.append("routes[%d]: %s" % (i, err))
                continue
        elif not isinstance(e, dict):
            errors.append("routes[%d]: %s is neither a route dict nor a route line" % (i, show(e)))
            continue
        errs = []
        if len(e) > 8 or not ROUTE_KEYS.issuperset(e):
            for k in sorted(set(e) - ROUTE_KEYS, key=str):
                hint = KEY_HINTS.get(str(k).lower())
                errs.append("unknown key %s%s" % (show(k), "; did you mean %s?" % hint if hint else ""))
        ctrl = None
        for v in e.values():
            if v.__class__ is str and _ctrl_search(v):
                ctrl = _ctrl_errors(e)
                break
        if ctrl:
            errors.extend("routes[%d]: %s" % (i, m) for m in ctrl)
            errors.extend("routes[%d]: %s" % (i, m) for m in errs)
            continue

        state = e.get("state")
        if state is None:
            state = default_state
        elif state not in STATES:
            errs.append("state %s must be present or absent" % show(state))

        dest = e.get("dest")
        family = canon = None
        if dest is None:
            errs.append("dest is required")
        else:
            family, canon, err = _parse_dest(dest)
            if err:
                errs.append(err)

        via = e.get("via")
        if via is not None:
            hit = via_cache.get(via) if via.__class__ is str else None
            if hit is None:
                hit = _parse_addr(via, "via")
                if via.__class__ is str:
                    via_cache[via] = hit
            vfam, via, err = hit
            if err:
                errs.append(err)
                via = None
            elif canon == "default":
                family = vfam
                canon = DEFAULT_DEST[vfam]
            elif family is not None and vfam != family:
                errs.append("via %s is %s but dest %s is %s" % (via, vfam, dest, family))
        if canon == "default" and family is None:
            errs.append("dest default needs a family: give via, or write 0.0.0.0/0 or ::/0")

        src = e.get("src")
        if src is not None:
            sfam, src, err = _parse_addr(src, "src")
            if err:
                errs.append(err)
            elif family is not None and sfam != family:
                errs.append("src %s is %s but dest %s is %s" % (src, sfam, dest, family))

        dev = e.get("dev")
        if dev is not None:
            if dev in dev_ok:
                err = None
            else:
                err = dev_error(dev)
                if err is None:
                    dev_ok.add(dev)
            if err:
                errs.append(err)

        metric = e.get("metric")
        any_metric = False
        if metric is None:
            if state == "absent":
                any_metric = True
            metric = DEFAULT_METRIC.get(family, 0)
        else:
            metric, err = parse_metric(metric)
            if err:
                errs.append(err)
            elif metric == 0 and family == IPV6:
                metric = 1024

        table = e.get("table")
        if table is None:
            table = default_table
        else:
            table, err = parse_table(table)
            if err:
                errs.append(err)

        onlink, err = parse_bool(e.get("onlink"), "onlink")
        if err:
            errs.append(err)

        if state == "present" and via is None and dev is None and not errs:
            errs.append("a present route needs via (gateway route) or dev (direct route)")
        if via is not None and dev is None and family == IPV6 and \
                via[:2] == "fe" and ipaddress.IPv6Address(via).is_link_local:
            errs.append("via %s is link-local; give dev too" % via)
        if onlink and via is None and not errs:
            errs.append("onlink needs via")

        if errs:
            errors.extend("routes[%d]: %s" % (i, m) for m in errs)
            continue

        r = Route(family, table, canon, metric, via=via, dev=dev, onlink=onlink, src=src,
                  index=i, state=state, any_metric=any_metric)
        # duplicate identities, naming both entries
        other = seen.get(r.key)
        if other is None and r.any_metric:
            other = seen_dest.get(r.dest_key)
        if other is None:
            any_other = seen_dest.get(r.dest_key)
            if any_other is not None and any_other.any_metric:
                other = any_other
        if other is not None:
            what = "%s table %s" % (canon, table_name(table)) if (r.any_metric or other.any_metric) \
                else "%s table %s metric %d" % (canon, table_name(table), metric)
            errors.append("routes[%d] and routes[%d] both define %s (%s, %s); an identity "
                          "(family, table, dest, metric) may appear only once"
                          % (other.index, i, what, other.state, state))
            continue
        seen[r.key] = r
        if r.dest_key not in seen_dest or r.any_metric:
            seen_dest[r.dest_key] = r
        routes.append(r)
    return routes, errors


def validate_tables(values):
    """``(set_of_table_numbers, errors)`` for the ``tables`` option."""
    tables = set()
    errors = []
    for i, v in enumerate(values or ()):
        if isinstance(v, str) and _CTRL.search(v):
            errors.append("tables[%d]: %r contains a control character" % (i, v))
            continue
        t, err = parse_table(v)
        if err:
            errors.append("tables[%d]: %s" % (i, err))
        else:
            tables.add(t)
    return tables, errors


def parse_protos_text(text):
    """``[(number, name), ...]`` from an rt_protos style file."""
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        try:
            num = int(parts[0], 0)
        except ValueError:
            continue
        out.append((num, parts[1]))
    return out


def validate_protocol(name, number):
    """Errors for the module's protocol tag (name and number)."""
    return names.route_protocol_problems(name, number)


def protocol_conflicts(name, number, mappings):
    """MAPPINGS is ``[(path, number, name), ...]`` read from the rt_protos
    files; one that gives our number another name, or our name another
    number, is a conflict (ip would print the other name, and the tag would
    be ambiguous)."""
    errors = []
    for path, num, nm in mappings:
        if num == number and nm != name:
            errors.append("protocol_number %d is already named %s in %s; pick another "
                          "protocol_number or use protocol: %s" % (number, nm, path, nm))
        elif nm == name and num != number:
            errors.append("protocol %s is already number %d in %s; pick another name or "
                          "use protocol_number: %d" % (name, num, path, num))
    return errors


# ------------------------------------------------------------ kernel side --

def parse_kernel_routes(raw, family, table):
    """Normalise one ``ip -json -4|-6 route show table TABLE`` answer.

    * ``dst`` ``default`` -> ``0.0.0.0/0``/``::/0``; a host route gets
      ``/32``/``/128``;
    * a missing ``metric`` is 0, a missing ``protocol`` is ``boot`` (ip only
      prints ``proto boot`` with ``-d``), a missing ``type`` is unicast;
    * of ``flags`` only ``onlink`` matters (``linkdown``, ``dead``, offload
      flags describe link state, not configuration);
    * ``prefsrc`` is kept as ``src``; ``scope``, ``pref``, ``expires`` are
      ignored;
    * a multipath route keeps its next hops as text (``nexthops``).
    """
    out = []
    append = out.append
    default = DEFAULT_DEST[family]
    host = HOST_LEN[family]
    v6 = family == IPV6
    for r in raw:
        dst = r.get("dst")
        if dst is None:
            continue
        if dst == "default":
            dst = default
        elif "/" not in dst:
            dst += host
        if v6 and "." in dst:
            dst = str(ipaddress.ip_network(dst, strict=False))
        gw = r.get("gateway")
        if gw is None:
            via = r.get("via")
            if isinstance(via, dict):
                gw = via.get("host")
        elif v6 and "." in gw:
            gw = str(ipaddress.ip_address(gw))
        flags = r.get("flags")
        tos = r.get("tos")
        if tos:
            try:
                tos = int(tos, 16) if isinstance(tos, str) else int(tos)
            except ValueError:
                tos = 0
        nexthops = None
        if "nexthops" in r:
            parts = []
            for nh in r["nexthops"] or ():
                p = "nexthop"
                if nh.get("gateway"):
                    p += " via " + nh["gateway"]
                if nh.get("dev"):
                    p += " dev " + nh["dev"]
                if nh.get("weight") not in (None, 1):
                    p += " weight %s" % nh["weight"]
                parts.append(p)
            nexthops = " ".join(parts) or "nexthop"
        append(Route(family, table, dst, r.get("metric", 0), via=gw, dev=r.get("dev"),
                     onlink=bool(flags) and "onlink" in flags, src=r.get("prefsrc"),
                     proto=str(r.get("protocol", "boot")), rtype=r.get("type", "unicast"),
                     tos=tos or 0, nexthops=nexthops, nhid=r.get("nhid")))
    return out


# ------------------------------------------------------ nexthop objects --

NH_RANGE_BITS = 20          # ids PROTO << 20 .. (PROTO + 1) << 20 - 1


def nexthop_id_range(proto_number):
    """``(first, end)``: the module's own block of nexthop ids, e.g.
    264241152..265289727 for protocol 252.  Disjoint for every protocol
    number and far above the small ids people and daemons tend to pick."""
    return proto_number << NH_RANGE_BITS, (proto_number + 1) << NH_RANGE_BITS


class Nexthop(object):
    """One nexthop object (``ip nexthop``), read or to be created.  Only a
    plain one (a gateway and a device, no group, blackhole, fdb or encap) is
    ever managed; ``key`` is None for the others."""

    __slots__ = ("id", "family", "via", "dev", "onlink", "proto", "plain", "group", "key")
    src = None              # so translate_error can treat it like a route
    index = None

    def __init__(self, nh_id, family=None, via=None, dev=None, onlink=False, proto=None,
                 plain=True, group=()):
        self.id = nh_id
        self.family = family
        self.via = via
        self.dev = dev
        self.onlink = onlink
        self.proto = proto
        self.plain = plain
        self.group = tuple(group)
        self.key = (family, via, dev, onlink) if plain and via is not None and dev is not None \
            else None

    def line(self):
        """Like ``ip nexthop show``: ``id 264241152 via 10.168.0.2 dev eth0 proto 252``."""
        s = "id %d" % self.id
        if self.group:
            s += " group " + "/".join(str(g) for g in self.group)
        if self.via is not None:
            s += " via " + self.via
        if self.dev is not None:
            s += " dev " + self.dev
        if self.onlink:
            s += " onlink"
        if self.proto is not None:
            s += " proto " + self.proto
        return s

    def add_command(self, proto_number):
        return "nexthop add id %d via %s dev %s%s proto %d" % (
            self.id, self.via, self.dev, " onlink" if self.onlink else "", proto_number)

    def describe(self):
        return "nexthop " + self.line()

    def __repr__(self):
        return "Nexthop(%s)" % self.line()


def parse_kernel_nexthops(raw):
    """``ip -json nexthop show`` as Nexthop objects.  A missing ``protocol``
    is ``unspec``; IPv6 gateways are normalised like route gateways."""
    out = []
    for n in raw or ():
        nh_id = n.get("id")
        if nh_id is None:
            continue
        group = [g.get("id") for g in n.get("group") or () if isinstance(g, dict)]
        gw = n.get("gateway")
        family = None
        if gw is not None:
            family = IPV6 if ":" in gw else IPV4
            if family == IPV6 and "." in gw:
                gw = str(ipaddress.ip_address(gw))
        flags = n.get("flags") or ()
        plain = not group and "blackhole" not in n and not n.get("fdb") and "encap" not in n \
            and gw is not None and n.get("dev") is not None
        out.append(Nexthop(int(nh_id), family=family, via=gw, dev=n.get("dev"),
                           onlink="onlink" in flags, proto=str(n.get("protocol", "unspec")),
                           plain=plain, group=group))
    return out


def nexthop_refs(raw, family, skip):
    """The nexthop ids that routes of one ``ip -json -4|-6 route show table
    all`` answer use, leaving out the tables in SKIP (``(family, table)``
    pairs the caller already accounts for).  A table name that is not one of
    main/local/default counts as not skipped."""
    refs = set()
    for r in raw or ():
        nh = r.get("nhid")
        if nh is None:
            continue
        t = r.get("table", "main")
        if isinstance(t, str):
            t = TABLE_BY_NAME.get(t, int(t) if t.isdigit() else None)
        if (family, t) not in skip:
            refs.add(int(nh))
    return refs


def nexthop_mode_errors(wanted):
    """A nexthop object needs a device: every present gateway route must
    name ``dev`` when nexthop_objects is on."""
    return ["routes[%d]: %s has via but no dev; nexthop_objects needs dev on every gateway "
            "route (a nexthop object names its device)" % (w.index, w.dest)
            for w in wanted if w.state == "present" and w.via is not None and w.dev is None]


def _addr_sort_key(family, addr):
    try:
        return ipaddress.ip_address(addr).packed
    except ValueError:
        return addr.encode("utf-8")


def same_route(want, have):
    """True when kernel route HAVE already is WANT (protocol aside): the same
    forwarding, written the same way (through the same nexthop object in
    nexthop mode, without one otherwise)."""
    if have.nhid != want.nhid:
        return False
    if want.nhid is not None:
        return have.rtype == "unicast" and (want.src is None or want.src == have.src)
    return same_forwarding(want, have)


def same_forwarding(want, have):
    """True when kernel route HAVE forwards like WANT (protocol and how it is
    written - nexthop object or not - aside)."""
    return (have.rtype == "unicast" and have.nexthops is None
            and want.via == have.via
            and (want.dev is None or want.dev == have.dev)
            and want.onlink == have.onlink
            and (want.src is None or want.src == have.src))


def differences(want, have):
    """Human readable list of what differs between WANT and HAVE."""
    out = []
    if have.rtype != "unicast":
        out.append("type %s -> unicast" % have.rtype)
    if have.nexthops is not None:
        out.append("multipath -> single next hop")
    if want.via != have.via:
        out.append("via %s -> %s" % (have.via or "(none)", want.via or "(none)"))
    if want.dev is not None and want.dev != have.dev:
        out.append("dev %s -> %s" % (have.dev or "(none)", want.dev))
    if want.onlink != have.onlink:
        out.append("onlink %s -> %s" % (have.onlink, want.onlink))
    if want.src is not None and want.src != have.src:
        out.append("src %s -> %s" % (have.src or "(none)", want.src))
    if want.nhid != have.nhid:
        out.append("nhid %s -> %s" % (have.nhid if have.nhid is not None else "(none)",
                                      want.nhid if want.nhid is not None else "(none)"))
    return out


# ------------------------------------------------------------------ plan --

class Plan(object):
    """What the module will do.  ``ops`` and ``commands`` are aligned: ops[i]
    is ``("replace", wanted_route)`` or ``("del", kernel_route)`` for batch
    line i+1."""

    def __init__(self):
        self.ops = []
        self.commands = []
        self.added = []        # wanted Routes that are new
        self.removed = []      # kernel Routes that go
        self.modified = []     # dicts: before/after lines and why
        self.conflicts = []    # error strings; nothing may run if set
        self.warnings = []
        self.before = []       # managed routes now (lines)
        self.after = []        # managed routes afterwards (lines)
        self.added_lines = []
        self.nexthops_read = False   # nexthop objects were read (and are reported)
        self.nh_added = []     # Nexthop objects to create
        self.nh_removed = []   # Nexthop objects of ours to delete

    @property
    def changed(self):
        return bool(self.commands)

    def result(self):
        out = dict(added=sorted(self.added_lines),
                   removed=sorted(r.line() for r in self.removed),
                   modified=self.modified, commands=self.commands,
                   routes=self.after)
        if self.nexthops_read:
            out["nexthops"] = dict(added=[n.line() for n in self.nh_added],
                                   removed=[n.line() for n in self.nh_removed])
        return out


def plan(wanted, kernel, ours, proto_number, purge=False, takeover=False,
         nexthop_objects=False, nexthops=None, other_refs=None):
    """Compare WANTED (validated Routes) with KERNEL (``{(family, table):
    [kernel Route, ...]}`` for every table/family read) and return a Plan.

    OURS is the set of protocol strings that mean "this module's tag" (the
    number and the name).  Routes with any other protocol are never removed
    or changed, with one exception: a wanted route whose identity is held by
    a foreign route identical to it (same via/dev/onlink/src) is adopted
    (re-tagged by ``replace``); a different foreign route there is a conflict
    unless TAKEOVER.  Kernel-made routes (proto kernel/redirect) are never
    adopted.

    NEXTHOPS is the parsed ``ip -json nexthop show`` (None when it was not
    read).  With NEXTHOP_OBJECTS (which needs NEXTHOPS) every present gateway
    route is written ``nhid ID`` through a nexthop object of ours, one per
    ``(family, via, dev, onlink)``: an existing one of ours with that key
    (the lowest id if there are several) or a new one at the lowest id of
    ``nexthop_id_range`` no object uses.  Without it a route of ours that
    uses a nexthop object is not as wanted (it is replaced by a plain one).
    Whenever NEXTHOPS is known, plain objects of ours that no route uses
    after the batch are deleted (last).  OTHER_REFS, a callable, returns the
    ids used by routes outside KERNEL's tables; it is called only when there
    is something to delete.
    """
    p = Plan()
    nh_by_id = {}
    if nexthops is not None:
        p.nexthops_read = True
        for n in nexthops:
            nh_by_id[n.id] = n
        # net.ipv4.nexthop_compat_mode=0: routes show only their nhid
        for routes in kernel.values():
            for r in routes:
                if r.nhid is not None and r.via is None and r.nexthops is None:
                    n = nh_by_id.get(r.nhid)
                    if n is not None and n.plain:
                        r.via, r.dev, r.onlink = n.via, n.dev, n.onlink
    for w in wanted:
        w.nhid = None
    if nexthop_objects:
        if nexthops is None:
            raise ValueError("nexthop_objects needs the nexthop objects read")
        by_key = {}
        for n in nexthops:
            if n.key is not None and n.proto in ours:
                cur = by_key.get(n.key)
                if cur is None or n.id < cur.id:
                    by_key[n.key] = n
        new_keys = set()
        for w in wanted:
            if w.state == "present" and w.via is not None:
                k = (w.family, w.via, w.dev, w.onlink)
                if k not in by_key:
                    new_keys.add(k)
        used = set(nh_by_id)
        nxt, end = nexthop_id_range(proto_number)
        for k in sorted(new_keys, key=lambda k: (k[0], _addr_sort_key(k[0], k[1]), k[2], k[3])):
            while nxt in used:
                nxt += 1
            if nxt >= end:
                p.conflicts.append("no free nexthop id left in %d..%d for %d new nexthop objects"
                                   % (end - (1 << NH_RANGE_BITS), end - 1, len(new_keys)))
                break
            n = Nexthop(nxt, family=k[0], via=k[1], dev=k[2], onlink=k[3], proto=str(proto_number))
            used.add(nxt)
            by_key[k] = n
            p.nh_added.append(n)
        for w in wanted:
            if w.state == "present" and w.via is not None:
                n = by_key.get((w.family, w.via, w.dev, w.onlink))
                if n is not None:
                    w.nhid = n.id
    proto_tail = " proto %d" % proto_number
    index = {}
    mine = []
    for routes in kernel.values():
        for r in routes:
            lst = index.get(r.key)
            if lst is None:
                index[r.key] = [r]
            else:
                lst.append(r)
            if r.proto in ours:
                mine.append(r)

    present = [w for w in wanted if w.state == "present"]
    absent = [w for w in wanted if w.state != "present"]
    wanted_metrics = {}
    for w in present:
        s = wanted_metrics.get(w.dest_key)
        if s is None:
            wanted_metrics[w.dest_key] = set([w.metric])
        else:
            s.add(w.metric)

    kept = set()       # id() of our kernel routes that stay as they are
    gone = set()       # id() of kernel routes scheduled for removal
    replaces = []      # (wanted, before or None)
    dels = []          # kernel routes
    after_new = {}     # id(kernel route) -> wanted route replacing it

    def remove(r):
        if id(r) not in gone:
            gone.add(id(r))
            dels.append(r)

    adds = []
    for w in present:
        lst = index.get(w.key)
        if not lst:
            adds.append(w)
            continue
        first = lst[0]
        if first.proto in ours:
            if same_route(w, first):
                kept.add(id(first))
            else:
                replaces.append((w, first))
                after_new[id(first)] = w
                p.modified.append(dict(before=first.line(), after=w.line(),
                                       reason="; ".join(differences(w, first))))
        elif first.proto in KERNEL_OWNED and same_forwarding(w, first):
            p.warnings.append(
                "%s: the kernel's own route %s already is this route; left as it is (not "
                "re-tagged, so the module will not manage or purge it)"
                % (w.describe(), first.line(proto=True)))
        elif first.proto in KERNEL_OWNED:
            p.conflicts.append(
                "%s: the kernel's own route %s holds this identity (proto %s, e.g. the "
                "connected route of an address); it is never taken over: use another "
                "metric or table" % (w.describe(), first.line(proto=True), first.proto))
        elif same_forwarding(w, first):
            replaces.append((w, first))
            after_new[id(first)] = w
            p.modified.append(dict(before=first.line(proto=True), after=w.line(),
                                   reason="adopted identical route from protocol %s" % first.proto))
        elif takeover:
            replaces.append((w, first))
            after_new[id(first)] = w
            p.modified.append(dict(before=first.line(proto=True), after=w.line(),
                                   reason="taken over from protocol %s: %s"
                                   % (first.proto, "; ".join(differences(w, first)))))
        else:
            p.conflicts.append(
                "%s: a route with the same identity (family, table, dest, metric) belongs to "
                "protocol %s and differs (%s): %s. Not overwriting another owner's route; "
                "remove it, use another metric/table, or set takeover: true"
                % (w.describe(), first.proto, "; ".join(differences(w, first)),
                   first.line(proto=True)))
        for extra in lst[1:]:
            if extra.proto in ours:
                remove(extra)        # stale duplicate at a wanted identity

    # Built only when needed (a no-op run at 10 000 routes needs neither).
    mine_by_dest = {}
    if adds or absent:
        for r in mine:
            lst = mine_by_dest.get(r.dest_key)
            if lst is None:
                mine_by_dest[r.dest_key] = [r]
            else:
                lst.append(r)
    all_by_dest = {}
    if absent:
        for lst in index.values():
            for r in lst:
                all_by_dest.setdefault(r.dest_key, []).append(r)

    # New identities: an own route to the same dest/table at a metric that is
    # no longer wanted is the old version of this route (a metric change):
    # replace (add) the new one first, then del the old one - never a window
    # without a route.  The first old one is reported as modified, any
    # further ones as removed.
    metric_old = set()
    for w in adds:
        replaces.append((w, None))
        olds = [r for r in mine_by_dest.get(w.dest_key, ())
                if r.metric not in wanted_metrics[w.dest_key] and id(r) not in gone]
        if not olds:
            p.added.append(w)
            continue
        p.modified.append(dict(before=olds[0].line(), after=w.line(),
                               reason="metric %d -> %d" % (olds[0].metric, w.metric)))
        metric_old.add(id(olds[0]))
        for r in olds:
            remove(r)

    for w in absent:
        if w.any_metric:
            cands = [r for r in mine_by_dest.get(w.dest_key, ()) if id(r) not in gone]
        else:
            cands = [r for r in index.get(w.key, ()) if r.proto in ours]
        for r in cands:
            remove(r)
        if not cands:
            foreign = _foreign_at(index, all_by_dest, w, ours)
            if foreign is not None:
                p.warnings.append("routes[%d] %s (state absent): left in place %s, which belongs "
                                  "to protocol %s" % (w.index, w.dest, foreign.line(proto=True),
                                                      foreign.proto))

    if purge:
        for r in mine:
            if id(r) not in kept and id(r) not in after_new and id(r) not in gone:
                remove(r)

    # Nexthop objects of ours that nothing uses afterwards go, last.
    if nexthops is not None:
        refs = set()
        for routes in kernel.values():
            for r in routes:
                if id(r) in gone:
                    continue
                w = after_new.get(id(r))
                nh = w.nhid if w is not None else r.nhid
                if nh is not None:
                    refs.add(nh)
        for w, _before in replaces:
            if w.nhid is not None:
                refs.add(w.nhid)
        for n in nexthops:
            refs.update(n.group)
        cands = [n for n in nexthops if n.key is not None and n.proto in ours and n.id not in refs]
        if cands and other_refs is not None:
            refs.update(other_refs())
            cands = [n for n in cands if n.id not in refs]
        p.nh_removed = sorted(cands, key=lambda n: n.id)

    # Batch lines carry numbers only (table 254, proto 252), never names:
    # iproute2's name lookups cache their last answer, and at least
    # rtnl_rtprot_a2n (6.1) returns a stale number for a name that follows a
    # numeric value in the same ip -batch run ("proto static" after "proto
    # 252" is stored as 252).  The readable lines keep the names.
    new_line = {}
    for n in p.nh_added:
        p.ops.append(("nh_add", n))
        p.commands.append(n.add_command(proto_number))
    for w, _before in replaces:
        head = w.head()
        tname = TABLE_NAME.get(w.table)
        metric = str(w.metric)
        line = head + " table " + (tname or str(w.table)) + " metric " + metric
        if w.nhid is not None:
            line += " nhid %d" % w.nhid
            # onlink lives in the nexthop object; src stays on the route
            head = w.dest + " nhid %d" % w.nhid
            if w.src is not None:
                head += " src " + w.src
        new_line[id(w)] = line
        p.ops.append(("replace", w))
        p.commands.append("route replace " + head + " table " + str(w.table) + " metric " +
                          metric + proto_tail)
    for r in dels:
        p.ops.append(("del", r))
        # only routes with our tag are ever deleted
        p.commands.append("route del " + r.del_spec() + proto_tail)
        if id(r) not in metric_old:
            p.removed.append(r)
    for n in p.nh_removed:
        p.ops.append(("nh_del", n))
        p.commands.append("nexthop del id %d" % n.id)

    before = []
    after = []
    for r in mine:
        line = r.line()
        before.append(line)
        if id(r) in gone:
            continue
        w = after_new.get(id(r))
        after.append(new_line[id(w)] if w is not None else line)
    for w, b in replaces:
        if b is None:
            after.append(new_line[id(w)])
        elif b.proto not in ours:
            before.append(b.line(proto=True))
            after.append(new_line[id(w)])
    p.added_lines = [new_line[id(w)] for w in p.added]
    before.sort()
    after.sort()
    p.before = before
    p.after = after
    return p


def _foreign_at(index, by_dest, w, ours):
    """A foreign route at the identity (or, without metric, the dest) of W."""
    lst = by_dest.get(w.dest_key, ()) if w.any_metric else index.get(w.key, ())
    for r in lst:
        if r.proto not in ours:
            return r
    return None


def managed_lines(kernel, ours):
    """Sorted lines of the routes carrying our tag in KERNEL."""
    return sorted(r.line() for routes in kernel.values() for r in routes if r.proto in ours)


# ------------------------------------------------------- failure handling --

def translate_error(message, op, route):
    """A kernel/ip error for OP on ROUTE in ops terms (the raw message is
    kept in brackets)."""
    m = message.lower()
    via = route.via or "(none)"
    dev = ("dev " + route.dev) if route.dev else "the device the kernel picked"
    if op == "replace" and "nexthop id does not exist" in m:
        text = ("its nexthop object %s was not created (see the error of the nexthop line "
                "before it)" % route.nhid)
    elif op == "nh_add" and "file exists" in m:
        text = ("nexthop id %d was taken by another object after the module read them "
                "(concurrently?); re-run" % route.id)
    elif op in ("replace", "nh_add"):
        if "nexthop has invalid gateway" in m or "network is unreachable" in m \
                or "no route to host" in m or "gateway is not reachable" in m:
            text = ("next hop %s is not on a network directly connected to %s; host-gw needs "
                    "every node on one L2 segment (check the underlay address of %s, or set "
                    "onlink if the peer really is on that link)" % (via, dev, dev))
        elif "cannot find device" in m or "no such device" in m:
            text = "device %s does not exist on this host" % (route.dev or "?")
        elif "device is not up" in m or "network is down" in m or "nexthop device is not up" in m:
            text = "%s is down; bring the link up first" % dev
        elif "prefsrc" in m or "source address" in m:
            text = "src %s is not an address of this host" % (route.src or "?")
        elif "file exists" in m:
            text = "a conflicting route already exists (was it added concurrently?); re-run"
        elif "invalid argument" in m and route.onlink:
            text = "onlink next hop %s rejected by the kernel" % via
        else:
            text = message
    else:
        if "no such process" in m:
            text = "route was already gone"
        else:
            text = message
    if text is message:
        return message
    return "%s (kernel: %s)" % (text, message)


def verify(ops, kernel, ours, nexthops=None):
    """For each op, is its effect present in KERNEL and NEXTHOPS (re-read
    after a failed batch)?  Returns a list of booleans aligned with OPS."""
    nh_by_id = dict((n.id, n) for n in nexthops or ())
    index = {}
    for routes in kernel.values():
        for r in routes:
            index.setdefault(r.key, []).append(r)
    out = []
    for op, r in ops:
        if op == "nh_add":
            n = nh_by_id.get(r.id)
            out.append(n is not None and n.key == r.key and n.proto in ours)
            continue
        if op == "nh_del":
            out.append(r.id not in nh_by_id)
            continue
        lst = index.get(r.key, ())
        if op == "replace":
            out.append(bool(lst) and lst[0].proto in ours and same_route(r, lst[0]))
        else:
            still = False
            for x in lst:
                if (x.proto == r.proto or (x.proto in ours and r.proto in ours)) \
                        and x.via == r.via and x.dev == r.dev and x.rtype == r.rtype \
                        and x.nexthops == r.nexthops and x.nhid == r.nhid:
                    still = True
                    break
            out.append(not still)
    return out

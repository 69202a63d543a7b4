# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading the kernel's routes, devices and nexthop objects through
``iproute.IpCommand``, and turning ``ip -json`` answers into ``Route``
objects normalised like the wanted ones.

Each table and family is read once (``ip -json -4|-6 route show table T``);
what to read follows from the wanted routes (``tables_to_read``).
"""

import collections
import ipaddress

from .. import names
from ..errors import Problems
from ..iproute import IpCommandError
from . import nexthops as nh
from .model import (DEFAULT_DEST, FAMILIES, FAMILY_FLAG, HOST_LEN, IPV6, MAIN_TABLE,
                    TABLE_BY_NAME, Route, table_name)

NEXTHOP_SUPPORT = ("nexthop_objects: true needs nexthop objects (Linux 5.3 or later and iproute2 "
                   "5.3 or later); 'ip -json nexthop show' failed: %s. Set nexthop_objects: false "
                   "on this host")


class NexthopSupportError(IpCommandError):
    """Nexthop objects are needed but this kernel or ip has none."""


KernelState = collections.namedtuple("KernelState", "routes nexthops other_refs")
KernelState.__doc__ = """What the planner needs from the kernel: ``routes``
(``{(family, table): [Route]}`` for every table read), ``nexthops`` (the
nexthop objects, or None when they were not read) and ``other_refs`` (a
callable returning the nexthop ids routes outside the tables read use)."""


# ------------------------------------------------------------- parsing --

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
            for hop in r["nexthops"] or ():
                p = "nexthop"
                if hop.get("gateway"):
                    p += " via " + hop["gateway"]
                if hop.get("dev"):
                    p += " dev " + hop["dev"]
                if hop.get("weight") not in (None, 1):
                    p += " weight %s" % hop["weight"]
                parts.append(p)
            nexthops = " ".join(parts) or "nexthop"
        append(Route(family, table, dst, r.get("metric", 0), via=gw, dev=r.get("dev"),
                     onlink=bool(flags) and "onlink" in flags, src=r.get("prefsrc"),
                     proto=str(r.get("protocol", "boot")), rtype=r.get("type", "unicast"),
                     tos=tos or 0, nexthops=nexthops, nhid=r.get("nhid")))
    return out


def nexthop_refs(raw, family, skip):
    """The nexthop ids that routes of one ``ip -json -4|-6 route show table
    all`` answer use, leaving out the tables in SKIP (``(family, table)``
    pairs the caller already accounts for).  A table name that is not one of
    main/local/default counts as not skipped."""
    refs = set()
    for r in raw or ():
        nhid = r.get("nhid")
        if nhid is None:
            continue
        t = r.get("table", "main")
        if isinstance(t, str):
            t = TABLE_BY_NAME.get(t, int(t) if t.isdigit() else None)
        if (family, t) not in skip:
            refs.add(int(nhid))
    return refs


def managed_lines(kernel, ours):
    """Sorted lines of the routes carrying our tag in KERNEL."""
    return sorted(r.line() for routes in kernel.values() for r in routes if r.proto in ours)


def uses_nexthops(kernel, ours):
    """Whether a route of ours in KERNEL uses a nexthop object (only then
    are the objects read with nexthop objects off)."""
    for routes in kernel.values():
        for r in routes:
            if r.nhid is not None and r.proto in ours:
                return True
    return False


# ------------------------------------------------------------- reading --

def tables_to_read(wanted, tables=(), purge=False):
    """The ``(family, table)`` pairs to read, sorted: those of WANTED, and
    with PURGE both families of every table of WANTED and TABLES (main when
    neither names one)."""
    reads = set((w.family, w.table) for w in wanted)
    if purge:
        every = set(w.table for w in wanted) | set(tables)
        if not every:
            every.add(MAIN_TABLE)
        for t in every:
            for f in FAMILIES:
                reads.add((f, t))
    return sorted(reads)


def read_table(ip, family, table):
    """One table's routes as ``ip -json`` prints them; a table that was
    never used does not exist yet: it is empty."""
    try:
        return ip.json([FAMILY_FLAG[family], "route", "show", "table", table_name(table)])
    except IpCommandError as exc:
        if "table does not exist" in (exc.stderr or ""):
            return []
        raise


def read_kernel(ip, reads):
    """``{(family, table): [Route]}`` for each pair in READS."""
    return dict(((f, t), parse_kernel_routes(read_table(ip, f, t), f, t)) for f, t in reads)


def read_nexthops(ip):
    return nh.parse_kernel_nexthops(ip.json(["nexthop", "show"]))


def other_refs_reader(ip, reads):
    """A callable returning the nexthop ids used by routes outside READS (all
    tables, both families): an object of ours one of them uses is kept."""
    skip = frozenset(reads)

    def other_refs():
        refs = set()
        for f in FAMILIES:
            refs |= nexthop_refs(ip.json([FAMILY_FLAG[f], "route", "show", "table", "all"]), f, skip)
        return refs
    return other_refs


def read_state(ip, reads, ours, nexthop_objects=False):
    """Everything the planner needs, read once: the tables in READS, and the
    nexthop objects when NEXTHOP_OBJECTS or when a route of OURS uses one.

    Raises IpCommandError; NexthopSupportError when NEXTHOP_OBJECTS and
    this host cannot list nexthop objects."""
    routes = read_kernel(ip, reads)
    objects = None
    if nexthop_objects or uses_nexthops(routes, ours):
        try:
            objects = read_nexthops(ip)
        except IpCommandError as exc:
            if not nexthop_objects:
                raise
            raise NexthopSupportError(NEXTHOP_SUPPORT % ((exc.stderr or "").strip() or exc),
                                      rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr)
    return KernelState(routes, objects, other_refs_reader(ip, reads))


def read_devices(ip):
    """``{name: interface name}`` for every interface name and altname."""
    out = {}
    for link in ip.json(["link", "show"]):
        ifname = link.get("ifname")
        if not ifname:
            continue
        out[ifname] = ifname
        for alt in link.get("altnames") or ():
            out.setdefault(alt, ifname)
    return out


def resolve_devices(ip, wanted):
    """``(routes, problems)``: WANTED with each alternative device name
    replaced by the interface's name (a copy of those routes; the others are
    the same objects), and a problem for each device that does not exist.
    Reads ``ip link`` only when a present route names a device."""
    if not any(w.state == "present" and w.dev is not None for w in wanted):
        return list(wanted), Problems()
    devices = read_devices(ip)
    out = []
    problems = Problems()
    for w in wanted:
        if w.state == "present" and w.dev is not None:
            real = devices.get(w.dev)
            if real is None:
                problems.append("routes[%d]: %s (dest %s)" % (
                    w.index, names.problem("dev", w.dev, "does not exist on this host"), w.dest))
            elif real != w.dev:
                w = w.replace(dev=real)
        out.append(w)
    return out, problems

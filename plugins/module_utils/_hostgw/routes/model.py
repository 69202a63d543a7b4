# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A route, its one text form, and how two routes compare.

Identity: a route is identified by ``(family, table, dest, metric, tos)``
(tos is always 0 for routes the collection writes).  That is what the
kernel's ``ip route replace`` keys on, so a change of next hop on the same
identity is one atomic ``replace``; a change of metric is a different
identity (``replace`` of the new route, then ``del`` of the old one).
"""

IPV4 = "ipv4"
IPV6 = "ipv6"
FAMILIES = (IPV4, IPV6)
FAMILY_FLAG = {IPV4: "-4", IPV6: "-6"}
FAMILY_OF_VERSION = {4: IPV4, 6: IPV6}

TABLE_BY_NAME = {"main": 254, "local": 255, "default": 253}
TABLE_NAME = {254: "main", 255: "local", 253: "default"}
MAIN_TABLE = 254
MAX_U32 = 4294967295

# The kernel stores IPv6 metric 0 as 1024 (IP6_RT_PRIO_USER); IPv4 keeps 0.
DEFAULT_METRIC = {IPV4: 0, IPV6: 1024}
DEFAULT_DEST = {IPV4: "0.0.0.0/0", IPV6: "::/0"}
HOST_LEN = {IPV4: "/32", IPV6: "/128"}

# Routes the kernel made for an address (connected routes) or from an ICMP
# redirect: never adopted or taken over, whatever ``takeover`` says.
KERNEL_OWNED = frozenset(("kernel", "2", "redirect", "1"))

# What a route's identity (key, dest_key) is made of.
_IDENTITY = frozenset(("family", "table", "dest", "metric", "tos"))

# The three ways a route is written (see format_route).
SHOW = "show"
REPLACE = "replace"
DELETE = "delete"


def table_name(table):
    return TABLE_NAME.get(table) or str(table)


def format_route(r, style=SHOW, proto=None):
    """The route R as ``ip route`` arguments; the one place that writes a
    route as text.

    * SHOW: what people read (results, diff, messages): table names,
      ``192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0``, with
      `` nhid ID`` at the end for a route through a nexthop object;
    * REPLACE: an ``ip route replace`` batch line; numbers only, and a route
      through a nexthop object names ``nhid ID`` instead of its next hop
      (onlink lives in the object, src stays on the route);
    * DELETE: an ``ip route del`` batch line that matches exactly this route:
      its next hop (or nhid), no src or onlink; numbers only.

    Batch lines carry numbers only (table 254, proto 252), never names:
    iproute2's name lookups cache their last answer, and at least
    rtnl_rtprot_a2n (6.1) returns a stale number for a name that follows a
    numeric value in the same ip -batch run ("proto static" after "proto
    252" is stored as 252).  PROTO, if given, is appended as `` proto X``.
    """
    s = r.dest if r.rtype == "unicast" else r.rtype + " " + r.dest
    if r.tos:
        s += " tos 0x%x" % r.tos
    by_object = r.nhid is not None and style is not SHOW
    if by_object:
        s += " nhid %d" % r.nhid
    elif r.nexthops:
        if style is SHOW:
            s += " " + r.nexthops
    else:
        if r.via is not None:
            s += " via " + r.via
        if r.dev is not None:
            s += " dev " + r.dev
    if style is not DELETE:
        if r.src is not None:
            s += " src " + r.src
        if r.onlink and not by_object:
            s += " onlink"
    if style is SHOW:
        s += " table " + (TABLE_NAME.get(r.table) or str(r.table)) + " metric " + str(r.metric)
        if r.nhid is not None:
            s += " nhid %d" % r.nhid
    else:
        s += " table %d metric %d" % (r.table, r.metric)
    if proto is not None:
        s += " proto " + proto
    return s


class Route(object):
    """One route, either wanted (from the input) or read from the kernel.

    ``proto`` is the kernel's ``protocol`` string (a name or a number) for
    kernel routes and None for wanted ones; ``index`` is the position in the
    input for wanted routes; ``nhid`` the nexthop object a kernel route uses
    (or the planner's target route is written through).  A Route is never
    changed after it is made: ``replace`` returns a changed copy.
    """

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
        self.nhid = nhid

    def replace(self, **changes):
        """A copy with CHANGES (attribute=value) applied."""
        r = Route(self.family, self.table, self.dest, self.metric, self.via, self.dev,
                  self.onlink, self.src, self.proto, self.rtype, self.tos, self.nexthops,
                  self.index, self.state, self.any_metric, self.nhid)
        for name, value in changes.items():
            setattr(r, name, value)
        if not _IDENTITY.isdisjoint(changes):
            r.key = (r.family, r.table, r.dest, r.metric, r.tos)
            r.dest_key = (r.family, r.table, r.dest)
        return r

    def line(self, proto=False):
        """The route as people read it, e.g.
        ``192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0``;
        with PROTO, `` proto X`` is appended for a kernel route."""
        return format_route(self, SHOW, self.proto if proto else None)

    def describe(self):
        """A short name for messages: ``routes[3] 192.168.1.0/24 ...``."""
        if self.index is not None:
            return "routes[%d] %s" % (self.index, self.line())
        return self.line(proto=True)

    def __repr__(self):
        return "Route(%s)" % self.line(proto=True)


def same_forwarding(want, have):
    """True when kernel route HAVE forwards like WANT (protocol, and how it
    is written - through a nexthop object or not - aside)."""
    return (have.rtype == "unicast" and have.nexthops is None
            and want.via == have.via
            and (want.dev is None or want.dev == have.dev)
            and want.onlink == have.onlink
            and (want.src is None or want.src == have.src))


def same_route(want, have, nhid=None):
    """True when kernel route HAVE already is WANT (protocol aside) written
    through nexthop object NHID, or with its own next hop when NHID is None."""
    if have.nhid != nhid:
        return False
    if nhid is not None:
        return have.rtype == "unicast" and (want.src is None or want.src == have.src)
    return same_forwarding(want, have)


def differences(want, have):
    """What differs between WANT and HAVE, for people: ``via A -> B``, ..."""
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

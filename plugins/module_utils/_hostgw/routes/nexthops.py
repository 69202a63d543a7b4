# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Nexthop objects (``ip nexthop``, Linux 5.3+): the one module that knows
them.  The planner asks it which object a route uses, for new ids and for
the objects of ours nothing uses any more; the reader for parsing
``ip -json nexthop show``; the batch for their lines.

The collection only ever manages plain objects (a gateway and a device, no
group, blackhole, fdb or encap) carrying its protocol, one per
``(family, via, dev, onlink)`` - the object's ``key``.  Its ids come from
its own block (``nexthop_id_range``).
"""

import ipaddress
import socket

from .. import names
from .model import IPV4, IPV6

NH_RANGE_BITS = 20          # ids PROTO << 20 .. (PROTO + 1) << 20 - 1


def nexthop_id_range(proto_number):
    """``(first, end)``: the collection's own block of nexthop ids, e.g.
    264241152..265289727 for protocol 252.  Disjoint for every protocol
    number and far above the small ids people and daemons tend to pick."""
    return proto_number << NH_RANGE_BITS, (proto_number + 1) << NH_RANGE_BITS


class Nexthop(object):
    """One nexthop object, read or to be created; ``key`` is None for one
    that is not plain (never managed)."""

    __slots__ = ("id", "family", "via", "dev", "onlink", "proto", "plain", "group", "key")
    src = None              # so an error about it reads like one about a route
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

    def del_command(self):
        return "nexthop del id %d" % self.id

    def describe(self):
        return "nexthop " + self.line()

    def __repr__(self):
        return "Nexthop(%s)" % self.line()


def key_of(route):
    """The key of the object a gateway ROUTE would use (None for a direct one)."""
    if route.via is None:
        return None
    return (route.family, route.via, route.dev, route.onlink)


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


def mode_problems(wanted):
    """A nexthop object needs a device: with nexthop objects on, every
    present gateway route must name ``dev``."""
    return ["routes[%d]: %s" % (w.index, names.problem(
        "dest", w.dest, "has via but no dev; nexthop_objects needs dev on every gateway route "
                        "(a nexthop object names its device)"))
            for w in wanted if w.state == "present" and w.via is not None and w.dev is None]


def with_forwarding(kernel, nexthops):
    """KERNEL (``{(family, table): [Route]}``) with the next hop of each
    route that shows only its ``nhid`` (``net.ipv4.nexthop_compat_mode=0``)
    filled in from its plain object; a new dict, the routes concerned are
    copies, the rest the same objects."""
    by_id = dict((n.id, n) for n in nexthops or ())
    out = {}
    for where, routes in kernel.items():
        seen = routes
        for i, r in enumerate(routes):
            if r.nhid is not None and r.via is None and r.nexthops is None:
                n = by_id.get(r.nhid)
                if n is not None and n.plain:
                    if seen is routes:
                        seen = list(routes)
                    seen[i] = r.replace(via=n.via, dev=n.dev, onlink=n.onlink)
        out[where] = seen
    return out


def ours_by_key(nexthops, ours):
    """``{key: id}`` of our plain objects (the lowest id where several share a key)."""
    out = {}
    for n in nexthops:
        if n.key is not None and n.proto in ours:
            cur = out.get(n.key)
            if cur is None or n.id < cur:
                out[n.key] = n.id
    return out


def _sort_key(key):
    """Keys in address order (inet_pton: ipaddress's order, far cheaper)."""
    family, addr, dev, onlink = key
    try:
        packed = socket.inet_pton(socket.AF_INET6 if family == IPV6 else socket.AF_INET, addr)
    except (OSError, ValueError):
        packed = addr.encode("utf-8")
    return (family, packed, dev, onlink)


def allocate(keys, nexthops, proto_number):
    """New objects of ours for KEYS, at the lowest ids of our block no object
    (of any owner) uses, in (family, address, dev, onlink) order.

    Returns ``(new_objects, problem)``; the problem says the block is full."""
    used = set(n.id for n in nexthops)
    first, end = nexthop_id_range(proto_number)
    nxt = first
    out = []
    for key in sorted(keys, key=_sort_key):
        while nxt in used:
            nxt += 1
        if nxt >= end:
            return out, ("no free nexthop id left in %d..%d for %d new nexthop objects"
                         % (first, end - 1, len(keys)))
        used.add(nxt)
        out.append(Nexthop(nxt, family=key[0], via=key[1], dev=key[2], onlink=key[3],
                           proto=str(proto_number)))
    return out, None


def unused(nexthops, ours, refs, other_refs=None):
    """Our plain objects no route uses: REFS holds the ids routes of the
    tables read use (after the batch); groups count as users.  OTHER_REFS, a
    callable, returns the ids routes outside those tables use; it is called
    only when something could go.  Sorted by id."""
    refs = set(refs)
    for n in nexthops:
        refs.update(n.group)
    cands = [n for n in nexthops if n.key is not None and n.proto in ours and n.id not in refs]
    if cands and other_refs is not None:
        refs.update(other_refs())
        cands = [n for n in cands if n.id not in refs]
    return sorted(cands, key=lambda n: n.id)

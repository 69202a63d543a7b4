# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A plan's ``ip -batch`` lines, running them, and after a failed batch:
which lines took effect (``verify``) and why the others did not, in ops
terms (``translate_error``).

Only routes with our tag are ever deleted: every ``route del`` line names
our protocol, so the kernel itself refuses to delete another owner's route.
"""

from ..iproute import IpCommandError
from . import kernel as kr
from . import nexthops as nh
from .model import DELETE, REPLACE, format_route, same_route

NOT_RUN = "not run: ip -batch stopped at an earlier line"


def lines(ops, proto_number):
    """The batch line of each op (see plan.Plan.ops)."""
    proto = str(proto_number)
    out = []
    for op, x in ops:
        if op == "replace":
            out.append("route replace " + format_route(x, REPLACE, proto))
        elif op == "del":
            out.append("route del " + format_route(x, DELETE, proto))
        elif op == "nh_add":
            out.append(x.add_command(proto_number))
        else:
            out.append(x.del_command())
    return out


def translate_error(message, op, route):
    """A kernel/ip error for OP on ROUTE (a Route or a Nexthop) in ops
    terms; the raw message is kept in brackets."""
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
    elif "no such process" in m:
        text = "route was already gone"
    else:
        text = message
    if text is message:
        return message
    return "%s (kernel: %s)" % (text, message)


def verify(ops, kernel, ours, nexthops=None):
    """For each op, is its effect present in KERNEL and NEXTHOPS (re-read
    after a failed batch)?  A list of booleans aligned with OPS."""
    nh_by_id = dict((n.id, n) for n in nexthops or ())
    if nexthops is not None:
        kernel = nh.with_forwarding(kernel, nexthops)
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
            out.append(bool(lst) and lst[0].proto in ours and same_route(r, lst[0], r.nhid))
            continue
        still = False
        for x in lst:
            if (x.proto == r.proto or (x.proto in ours and r.proto in ours)) \
                    and x.via == r.via and x.dev == r.dev and x.rtype == r.rtype \
                    and x.nexthops == r.nexthops and x.nhid == r.nhid:
                still = True
                break
        out.append(not still)
    return out


class RereadError(IpCommandError):
    """The batch failed, and reading the kernel again failed too."""


class Outcome(object):
    """What a batch did.  ``applied``: the lines in effect; ``not_applied``:
    ``{command, route, error}`` for each line that is not; ``routes``: the
    lines of our routes afterwards (only after a failed batch, when the
    tables were read again); ``rc``/``stderr`` of ``ip -batch``."""

    def __init__(self, rc, stderr, applied, not_applied, routes=None):
        self.rc = rc
        self.stderr = stderr
        self.applied = applied
        self.not_applied = not_applied
        self.routes = routes

    @property
    def ok(self):
        return not self.not_applied

    def problems(self):
        """One sentence per line not applied: ``ROUTE: ERROR``."""
        return ["%s: %s" % (x["route"], x["error"]) for x in self.not_applied]


def apply(ip, plan, reads, ours):
    """Run PLAN's batch (``ip -force -batch -``, so a failing line does not
    stop the others).  After a failure, read READS (and the nexthop objects,
    if the plan read them) again and tell which lines took effect.

    Raises IpCommandError when ip cannot run at all, RereadError when the
    re-read fails."""
    res = ip.batch(plan.commands, force=True)
    if res.rc == 0:
        return Outcome(0, res.err, list(plan.commands), [])
    try:
        now = kr.read_kernel(ip, reads)
        now_nh = kr.read_nexthops(ip) if plan.nexthops_read else None
    except IpCommandError as exc:
        raise RereadError("ip -batch failed (%s) and re-reading the routes failed too: %s"
                          % (res.err.strip(), exc), rc=res.rc, stderr=res.err)
    by_line, loose = res.errors, list(res.unattributed)
    applied = []
    not_applied = []
    for n, ((op, r), done) in enumerate(zip(plan.ops, verify(plan.ops, now, ours, now_nh)), 1):
        cmd = plan.commands[n - 1]
        if done:
            applied.append(cmd)
            continue
        msg = by_line.get(n)
        if msg is None and loose:
            msg = loose.pop(0)
        msg = NOT_RUN if msg is None else translate_error(msg, op, r)
        not_applied.append(dict(command=cmd, route=r.describe(), error=msg))
    return Outcome(res.rc, res.err, applied, not_applied, kr.managed_lines(now, ours))

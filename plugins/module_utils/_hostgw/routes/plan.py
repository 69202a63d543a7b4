# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Planning: the wanted routes against the kernel's, into the ops of one
``ip -batch`` run and a report of what they do.  No I/O in here.

``plan()`` runs in explicit phases over one ``_Planner`` (the state of one
planning run).  Its inputs are never changed: a route written differently
from how it was given (through a nexthop object, say) is a copy, and every
decision about a kernel route is kept in the planner, keyed by the route
object itself.
"""

from . import batch, nexthops as nh
from .model import KERNEL_OWNED, differences, same_forwarding, same_route

# What a write does to the identity it writes (see _Write).
NEW = "new"              # nothing there
METRIC = "metric"        # nothing there, but a route of ours to the dest at another metric
REPAIR = "repair"        # a route of ours that differs
ADOPT = "adopt"          # an identical route of another protocol (takeover)
TAKEOVER = "takeover"    # a different route of another protocol (takeover)

# At most this many "left in place" routes are named in the warnings (all
# of them are in Plan.foreign).
FOREIGN_WARNINGS = 5


class Plan(object):
    """What a run will do.  ``ops`` and ``commands`` are aligned: ops[i] is
    ``("nh_add", Nexthop)``, ``("replace", Route)``, ``("del", kernel Route)``
    or ``("nh_del", Nexthop)`` for batch line i+1."""

    def __init__(self):
        self.ops = []
        self.commands = []
        self.added = []        # Routes written at identities nobody held
        self.removed = []      # kernel Routes deleted (not counting metric changes)
        self.modified = []     # dicts: before/after lines and why
        self.conflicts = []    # sentences; nothing may run if set
        self.warnings = []
        self.foreign = []      # lines of other owners' routes identical to wanted ones, left in place
        self.left_alone = []   # repair only: (wanted, kernel route of another owner that differs)
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
                   routes=self.after, foreign=self.foreign)
        if self.nexthops_read:
            out["nexthops"] = dict(added=[n.line() for n in self.nh_added],
                                   removed=[n.line() for n in self.nh_removed])
        return out


def plan(wanted, kernel, ours, proto_number, purge=False, takeover=False, repair_only=False,
         nexthop_objects=False, nexthops=None, other_refs=None):
    """Compare WANTED (validated Routes) with KERNEL (``{(family, table):
    [kernel Route, ...]}`` for every table/family read) and return a Plan.

    OURS is the set of protocol strings that mean "our tag" (the number and
    the name).  A route of any other protocol is never changed or deleted,
    except that with TAKEOVER a wanted route replaces the route of another
    protocol that holds its identity.  Without TAKEOVER such a route is left
    in place: when it is identical to the wanted one (same via, dev, onlink,
    src) it carries the traffic, and it is reported (``warnings`` and
    ``foreign``) but is not a change; when it differs it is a conflict.
    Routes the kernel made (proto kernel/redirect) are never replaced.

    Default mode: write every present wanted route that is missing or
    differs; delete routes of ours that state=absent names, stale duplicates
    of ours at a wanted identity, our route at a metric no longer wanted for
    a dest that gets a new metric (after the new one is written), and with
    PURGE every other route of ours in the tables read.

    REPAIR_ONLY mode (the reconcile command): add the present wanted routes
    that are missing and repair routes of ours that differ - nothing else.
    It never deletes anything (no purge, no state=absent, no stale
    duplicates, no old metrics, no nexthop objects), never adopts or takes
    over a route of another protocol (one that holds a wanted identity is
    left in place and reported in ``warnings``, not a conflict, so the other
    repairs go ahead; one that differs is also in ``left_alone``).  PURGE
    and TAKEOVER must be off.

    NEXTHOPS is the parsed ``ip -json nexthop show`` (None when it was not
    read).  With NEXTHOP_OBJECTS (which needs NEXTHOPS) every present
    gateway route is written ``nhid ID`` through a nexthop object of ours,
    one per ``(family, via, dev, onlink)``: an existing one of ours with that
    key (the lowest id if there are several) or a new one at the lowest id
    of ``nexthops.nexthop_id_range`` no object uses.  Without it a route of
    ours that uses a nexthop object is not as wanted (it is replaced by a
    plain one).  Whenever NEXTHOPS is known (and not REPAIR_ONLY), plain
    objects of ours that no route uses after the batch are deleted (last).
    OTHER_REFS, a callable, returns the ids used by routes outside KERNEL's
    tables; it is called only when there is something to delete.
    """
    if repair_only and (purge or takeover):
        raise ValueError("repair_only never purges or takes over")
    if nexthop_objects and nexthops is None:
        raise ValueError("nexthop_objects needs the nexthop objects read")
    p = _Planner(wanted, kernel, ours, proto_number, purge, takeover, repair_only,
                 nexthop_objects, nexthops, other_refs)
    p.see_kernel()
    p.match_identities()
    p.place_new_identities()
    p.remove_absent()
    p.purge_ours()
    p.allocate_objects()
    p.drop_unused_objects()
    return p.render()


class _Write(object):
    """A wanted route to write (``route replace``), what it replaces
    (``before``: a kernel route, or None), why (``kind``), and the route
    exactly as it is written (``target``, known once nexthop ids are) and
    as people read it (``line``, made once when the plan is rendered)."""

    __slots__ = ("want", "before", "kind", "target", "line")

    def __init__(self, want, before, kind):
        self.want = want
        self.before = before
        self.kind = kind
        self.target = want
        self.line = None


class _Planner(object):
    """The state of one planning run.  Each phase is a method; they run in
    the order ``plan()`` calls them."""

    def __init__(self, wanted, kernel, ours, proto_number, purge, takeover, repair_only,
                 nexthop_objects, nexthops, other_refs):
        self.wanted = wanted
        self.kernel_read = kernel
        self.ours = ours
        self.proto_number = proto_number
        self.purge = purge
        self.takeover = takeover
        self.repair_only = repair_only
        self.nexthop_objects = nexthop_objects
        self.nexthops = nexthops
        self.other_refs = other_refs
        self.result = Plan()
        self.result.nexthops_read = nexthops is not None
        self.present = [w for w in wanted if w.state == "present"]
        # see_kernel
        self.kernel = None         # KERNEL as the planner sees it
        self.index = {}            # identity key -> [kernel Route] in kernel order
        self.mine = []             # kernel routes of ours
        self.object_of = {}        # nexthop key -> id of our object for it
        # decisions
        self.unplaced = []         # present wanted routes whose identity nobody holds
        self.writes = []           # _Write, in batch order
        self.kept = set()          # kernel routes of ours that stay as they are
        self.rewritten = {}        # kernel route -> the _Write that replaces it at its identity
        self.deletes = {}          # kernel routes to delete, in batch order (values unused)
        self.metric_olds = set()   # deletes that are the old half of a metric change
        self.new_objects = []      # Nexthop objects to create
        self.unused_objects = []   # Nexthop objects of ours to delete
        self.left = []             # (wanted, foreign kernel route) left in place

    # -- phase 1 -----------------------------------------------------------
    def see_kernel(self):
        """Index the kernel's routes by identity and find ours.  With the
        nexthop objects known, a route that shows only its nhid gets its
        object's next hop (a copy)."""
        kernel = self.kernel_read
        if self.nexthops is not None:
            kernel = nh.with_forwarding(kernel, self.nexthops)
            if self.nexthop_objects:
                self.object_of = nh.ours_by_key(self.nexthops, self.ours)
        self.kernel = kernel
        index = self.index
        mine = self.mine
        ours = self.ours
        for routes in kernel.values():
            for r in routes:
                lst = index.get(r.key)
                if lst is None:
                    index[r.key] = [r]
                else:
                    lst.append(r)
                if r.proto in ours:
                    mine.append(r)

    # -- phase 2 -----------------------------------------------------------
    def match_identities(self):
        """Each present wanted route against the routes at its identity."""
        ours = self.ours
        for w in self.present:
            lst = self.index.get(w.key)
            if not lst:
                self.unplaced.append(w)
                continue
            first = lst[0]
            if first.proto in ours:
                if self._as_wanted(w, first):
                    self.kept.add(first)
                else:
                    self._write(w, first, REPAIR)
            elif same_forwarding(w, first):
                if self.takeover and first.proto not in KERNEL_OWNED:
                    self._write(w, first, ADOPT)
                else:
                    self.left.append((w, first))
            elif first.proto in KERNEL_OWNED:
                self._refuse(w, first, (
                    "%s: the kernel's own route %s holds this identity (proto %s, e.g. the "
                    "connected route of an address); it is never taken over: use another "
                    "metric or table" % (w.describe(), first.line(proto=True), first.proto)))
            elif self.takeover:
                self._write(w, first, TAKEOVER)
            else:
                self._refuse(w, first, (
                    "%s: a route with the same identity (family, table, dest, metric) belongs to "
                    "protocol %s and differs (%s): %s. Not overwriting another owner's route; "
                    "remove it, use another metric/table, or set takeover: true"
                    % (w.describe(), first.proto, "; ".join(differences(w, first)),
                       first.line(proto=True))))
            if not self.repair_only:
                for extra in lst[1:]:
                    if extra.proto in ours:
                        self._delete(extra)        # stale duplicate at a wanted identity

    def _as_wanted(self, w, have):
        """Whether our kernel route HAVE already is W, written the way this
        run writes it (through our object for its next hop, or plainly)."""
        if self.nexthop_objects and w.via is not None:
            nhid = self.object_of.get(nh.key_of(w))
            return nhid is not None and same_route(w, have, nhid)
        return same_route(w, have)

    def _refuse(self, w, first, sentence):
        if self.repair_only:
            self.result.warnings.append("%s: left in place %s of protocol %s (repair only never "
                                        "takes over a route)" % (w.describe(), first.line(proto=True),
                                                                 first.proto))
            self.result.left_alone.append((w, first))
        else:
            self.result.conflicts.append(sentence)

    def _write(self, w, before, kind):
        write = _Write(w, before, kind)
        self.writes.append(write)
        if before is not None:
            self.rewritten[before] = write

    def _delete(self, r):
        if r not in self.deletes:
            self.deletes[r] = True

    # -- phase 3 -----------------------------------------------------------
    def place_new_identities(self):
        """Identities nobody holds.  A route of ours to the same dest and
        table at a metric no longer wanted is the old version of this one (a
        metric change): the new one is written first, then the old one
        deleted - never a moment without a route.  The first old one is
        reported as modified, any further ones as removed.  Repair-only
        writes the new one and deletes nothing."""
        if not self.unplaced:
            return
        mine_by_dest = {}
        if not self.repair_only:
            for r in self.mine:
                mine_by_dest.setdefault(r.dest_key, []).append(r)
        wanted_metrics = {}
        for w in self.present:
            wanted_metrics.setdefault(w.dest_key, set()).add(w.metric)
        for w in self.unplaced:
            olds = [r for r in mine_by_dest.get(w.dest_key, ())
                    if r.metric not in wanted_metrics[w.dest_key] and r not in self.deletes]
            if not olds:
                self._write(w, None, NEW)
                continue
            self.writes.append(_Write(w, olds[0], METRIC))
            self.metric_olds.add(olds[0])
            for r in olds:
                self._delete(r)

    # -- phase 4 -----------------------------------------------------------
    def remove_absent(self):
        """state=absent: our routes at the identity (or, without a metric, to
        the dest); another owner's route there is left, with a warning."""
        absent = [w for w in self.wanted if w.state != "present"]
        if not absent or self.repair_only:
            return
        mine_by_dest = {}
        all_by_dest = {}
        for r in self.mine:
            mine_by_dest.setdefault(r.dest_key, []).append(r)
        for lst in self.index.values():
            for r in lst:
                all_by_dest.setdefault(r.dest_key, []).append(r)
        for w in absent:
            if w.any_metric:
                cands = [r for r in mine_by_dest.get(w.dest_key, ()) if r not in self.deletes]
                there = all_by_dest.get(w.dest_key, ())
            else:
                cands = [r for r in self.index.get(w.key, ()) if r.proto in self.ours]
                there = self.index.get(w.key, ())
            for r in cands:
                self._delete(r)
            if cands:
                continue
            for r in there:
                if r.proto not in self.ours:
                    self.result.warnings.append(
                        "routes[%d] %s (state absent): left in place %s, which belongs to "
                        "protocol %s" % (w.index, w.dest, r.line(proto=True), r.proto))
                    break

    # -- phase 5 -----------------------------------------------------------
    def purge_ours(self):
        """With purge: every other route of ours in the tables read."""
        if not self.purge:
            return
        for r in self.mine:
            if r not in self.kept and r not in self.rewritten and r not in self.deletes:
                self._delete(r)

    # -- phase 6 -----------------------------------------------------------
    def allocate_objects(self):
        """With nexthop objects: the object each written gateway route goes
        through (ours with its key, or a new one), and its target route."""
        if not self.nexthop_objects:
            return
        object_of = self.object_of
        keyed = []
        missing = set()
        for write in self.writes:
            key = nh.key_of(write.want)
            if key is not None:
                keyed.append((write, key))
                if key not in object_of:
                    missing.add(key)
        if missing:
            self.new_objects, problem = nh.allocate(missing, self.nexthops, self.proto_number)
            if problem:
                self.result.conflicts.append(problem)
            for n in self.new_objects:
                object_of[n.key] = n.id
        for write, key in keyed:
            nhid = object_of.get(key)
            if nhid is not None:
                write.target = write.want.replace(nhid=nhid)

    # -- phase 7 -----------------------------------------------------------
    def drop_unused_objects(self):
        """Whenever the objects are known (and not repair-only): our objects
        that no route uses after the batch go, last."""
        if self.nexthops is None or self.repair_only:
            return
        refs = set()
        for routes in self.kernel.values():
            for r in routes:
                if r in self.deletes:
                    continue
                write = self.rewritten.get(r)
                nhid = write.target.nhid if write is not None else r.nhid
                if nhid is not None:
                    refs.add(nhid)
        for write in self.writes:
            if write.target.nhid is not None:
                refs.add(write.target.nhid)
        self.unused_objects = nh.unused(self.nexthops, self.ours, refs, self.other_refs)

    # -- phase 8 -----------------------------------------------------------
    def render(self):
        """The Plan: ops in batch order (new objects, writes, deletes, unused
        objects), their lines, and what people read."""
        p = self.result
        p.nh_added = self.new_objects
        p.nh_removed = self.unused_objects
        ops = p.ops
        ops.extend([("nh_add", n) for n in self.new_objects])
        ops.extend([("replace", write.target) for write in self.writes])
        ops.extend([("del", r) for r in self.deletes])
        ops.extend([("nh_del", n) for n in self.unused_objects])
        p.commands = batch.lines(ops, self.proto_number)

        before = []
        after = []
        for write in self.writes:
            t = write.target
            line = write.line = t.line()
            kind = write.kind
            if kind == NEW:
                p.added.append(t)
                p.added_lines.append(line)
                after.append(line)
            elif kind == METRIC:
                p.modified.append(dict(before=write.before.line(), after=line,
                                       reason="metric %d -> %d" % (write.before.metric, t.metric)))
                after.append(line)
            elif kind == REPAIR:
                p.modified.append(dict(before=write.before.line(), after=line,
                                       reason="; ".join(differences(t, write.before))))
            else:
                was = write.before.line(proto=True)
                before.append(was)
                after.append(line)
                if kind == ADOPT:
                    reason = "adopted identical route from protocol %s" % write.before.proto
                else:
                    reason = "taken over from protocol %s: %s" % (
                        write.before.proto, "; ".join(differences(t, write.before)))
                p.modified.append(dict(before=was, after=line, reason=reason))
        p.removed = [r for r in self.deletes if r not in self.metric_olds]
        self._report_left()

        for r in self.mine:
            line = r.line()
            before.append(line)
            if r in self.deletes:
                continue
            write = self.rewritten.get(r)
            after.append(write.line if write is not None else line)
        before.sort()
        after.sort()
        p.before = before
        p.after = after
        return p

    def _report_left(self):
        """The other owners' routes identical to wanted ones, left in place."""
        p = self.result
        named = 0
        for w, r in self.left:
            p.foreign.append(r.line(proto=True))
            if r.proto in KERNEL_OWNED:
                p.warnings.append(
                    "%s: the kernel's own route %s already is this route; left as it is (not "
                    "re-tagged, so the module will not manage or purge it)"
                    % (w.describe(), r.line(proto=True)))
            elif named < FOREIGN_WARNINGS:
                named += 1
                p.warnings.append(
                    "%s: an identical route of protocol %s carries it: %s; left in place and not "
                    "managed%s" % (w.describe(), r.proto, r.line(proto=True),
                                   "" if self.repair_only else
                                   " (takeover: true adopts it)"))
        more = sum(1 for _w, r in self.left if r.proto not in KERNEL_OWNED) - named
        if more:
            p.warnings.append("%d more wanted routes are carried by identical routes of other "
                              "protocols, left in place (see foreign)" % more)
        p.foreign.sort()

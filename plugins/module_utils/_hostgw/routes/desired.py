# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The routes a host keeps, as the state file records them (its ``routes``
section), and back.

The section follows what an ``ip_route`` run leaves in the kernel, so a
reconcile run re-adds exactly the routes the playbook keeps:

* a present wanted route is recorded (replacing the one at its identity);
* a recorded route to a wanted destination at a metric no longer wanted is
  dropped (the run moves the route to the new metric);
* ``state: absent`` drops the recorded routes it names (by identity, or by
  destination without a metric);
* with purge, every recorded route in the tables read that is not wanted is
  dropped (the run purges it from the kernel);
* every other recorded route stays (the run does not touch it either).

A new protocol tag starts the record afresh: the routes of the old tag are
no longer the module's.

The reconcile command reads the section's tables (``reads``) and first asks
``converged``: when every recorded line is, verbatim, the line of a route of
ours that comes first at its identity, the repair-only plan is empty and
the lines need not even be validated (a line the kernel shows is a valid
route).  Only otherwise are they validated (``wanted``) and planned.
"""

from .. import names
from . import nexthops, options
from .model import FAMILIES, table_name


def merge(recorded_lines, wanted, reads, purge):
    """The recorded routes after a run: ``(lines, tables)``, the sorted
    ``ip route`` lines and the names of the tables they and READS cover.

    RECORDED_LINES: the section's routes (lines) before, or () for none;
    WANTED: the run's validated Routes (devices resolved); READS: the
    ``(family, table)`` pairs the run read; PURGE: the run purges."""
    present = [w for w in wanted if w.state == "present"]
    wanted_lines = dict((w.key, w.line()) for w in present)
    # Recorded lines that are wanted lines change nothing: parse the others
    # only (none, run after run at thousands of routes).
    others = set(recorded_lines).difference(wanted_lines.values())
    recorded, problems = options.validate_routes(sorted(others))
    kept = {} if problems else dict((r.key, r.line()) for r in recorded)
    metrics = {}
    for w in present:
        metrics.setdefault(w.dest_key, set()).add(w.metric)
    gone_keys = set(w.key for w in wanted if w.state != "present" and not w.any_metric)
    gone_dests = set(w.dest_key for w in wanted if w.state != "present" and w.any_metric)
    present_keys = set(w.key for w in present)
    scope = frozenset(reads) if purge else frozenset()
    for r in recorded:
        if (r.key in gone_keys or r.dest_key in gone_dests
                or (r.dest_key in metrics and r.metric not in metrics[r.dest_key])
                or ((r.family, r.table) in scope and r.key not in present_keys)):
            kept.pop(r.key, None)
    tables = set(table_name(t) for _f, t in reads)
    tables.update(table_name(r.table) for r in recorded if r.key in kept)
    tables.update(table_name(w.table) for w in present)
    kept.update(wanted_lines)
    return sorted(kept.values()), sorted(tables)


def wanted(section):
    """``(routes, ours, problems)`` of a routes section (state.SHAPES): the
    validated Routes, the protocol strings that mean "ours", and problems
    (each sentence names the section's key)."""
    problems = list(names.route_protocol_problems(
        section["protocol"], section["protocol_number"],
        name_key="routes.protocol", number_key="routes.protocol_number"))
    routes, route_problems = options.validate_routes(section["routes"])
    if section["nexthop_objects"] and not route_problems:
        route_problems = nexthops.mode_problems(routes)
    problems.extend("routes.%s" % p for p in route_problems)
    ours = frozenset((str(section["protocol_number"]), section["protocol"]))
    return routes, ours, problems


def reads(section):
    """``((family, table) pairs, problems)``: both families of each table the
    section names."""
    tables, problems = options.validate_tables(section["tables"])
    return (sorted((f, t) for t in tables for f in FAMILIES),
            ["routes.%s" % p for p in problems])


def converged(lines, kernel, ours):
    """True when each of LINES is the line of a route of OURS that comes
    first at its identity in KERNEL (``{(family, table): [Route]}``, as
    read): then a repair-only plan of those routes has nothing to do.
    False says nothing: plan to know."""
    first = {}
    for routes in kernel.values():
        for r in routes:
            if r.key not in first:
                first[r.key] = r
    held = set(r.line() for r in first.values() if r.proto in ours)
    return held.issuperset(lines)

# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""podnet-hostgw-reconcile: put back what the host's pod network lost
between playbook runs (a reboot, a link flap, an address lost to a DHCP
renewal, a table dropped by hand), from the desired-state file the
playbook's modules write (state.py).

Under the host-wide lock (the modules take it too, so a playbook run and
this command never interleave) it reads the state file, reads the kernel
once - the bridge with one ``ip -json -details addr show dev NAME``, each
table of the routes section once per family, the nft table once (iptables
only where the backend choice or the repair needs it) - and re-creates
only what is missing or wrong:

* the bridge: created, set up, its MTU set, missing addresses added;
* the routes: missing ones added, altered ones of ours repaired;
* the nftables table / iptables chains: re-created when missing or drifted.

It adds and repairs, and never removes a route, rule, link or address:
extra ones stay, removal is the playbook's (purge, reset).  A converged
host costs reads only - not one netlink write, no blanket ``replace`` that
would wake other routing daemons - and when the kernel shows every
recorded route verbatim, not even their validation (routes.desired).

Output, one line per repair, nothing when converged (``--verbose`` says
what was checked and what is left in place)::

    SUBJECT: DONE                  route 192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0: added
                                   bridge cni0: address 192.168.0.1/24 added
                                   nftables table inet podnet_hostgw: re-created
    SUBJECT: would ACTION          (--check) bridge cni0: would add address 192.168.0.1/24
    SUBJECT: ACTION failed: WHY    (standard error)
    SUBJECT: not repaired: WHY     (standard error) a route another owner holds
                                   differently, a part that could not be read

Exit status: 0 converged or repaired; 1 a repair failed or was left to
the playbook (each one named on standard error); 2 the state file is
missing, truncated or invalid - nothing was changed; 64 bad usage; 75 the
host lock stayed busy for ``--lock-timeout`` seconds - nothing was changed.

The lock timeout defaults to 60 s: a module holds the lock for one task's
read-plan-apply (well under that, also at 10 000 routes), and waiting is
right - the state file may be about to change - while a stuck holder is
still reported within a minute.  A timer run that waits delays the next one
(systemd does not start a unit that is still running), and at boot nothing
else holds the lock.

Entry point: ``main(argv=None) -> int``; standard library only.
"""

import argparse
import os
import sys
from collections import namedtuple

from . import bridge, bridge_host, errors, names, netfilter as nf, netfilter_host, state
from .command import SubprocessRunner
from .iproute import IpCommand, IpCommandError
from .lock import HostLock, LockTimeout
from .routes import batch, desired, kernel, plan as planner

PROG = "podnet-hostgw-reconcile"
EX_OK = 0
EX_FAILED = 1
EX_STATE = 2
EX_USAGE = 64
EX_LOCKED = 75
DEFAULT_LOCK_TIMEOUT = 60
RUN_SITE = ("the playbook writes it: run site.yml for this host (ansible-playbook -i INVENTORY "
            "site.yml --limit HOST)")


# ------------------------------------------------------------------ output --

class Repair(namedtuple("Repair", "subject done action holds")):
    """One repair: what it is about (``bridge cni0``), the line's end when
    done (``address 192.168.0.1/24 added``) and as an action (``add
    address 192.168.0.1/24``), and ``holds(after)``: whether the state read
    back after a failed apply shows it done (None: not known)."""

    def __new__(cls, subject, done, action, holds=None):
        return super(Repair, cls).__new__(cls, subject, done, action, holds)


class Output(object):
    """Where the lines go; ``failed`` once any repair failed."""

    def __init__(self, check=False, verbose=False, out=None, err=None):
        self.check = check
        self.verbose = verbose
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.failed = False

    def planned(self, repair):
        """A repair about to be made: printed now only in check mode."""
        if self.check:
            self._print(self.out, "%s: would %s" % (repair.subject, repair.action))

    def done(self, repair):
        self._print(self.out, "%s: %s" % (repair.subject, repair.done))

    def failure(self, subject, text):
        self.failed = True
        self._print(self.err, "%s: %s" % (subject, text))

    def repair_failed(self, repair, why):
        self.failure(repair.subject, "%s failed: %s" % (repair.action, why))

    def note(self, text):
        """What --verbose adds."""
        if self.verbose:
            self._print(self.out, text)

    def error(self, text):
        self._print(self.err, "%s: %s" % (PROG, text))

    @staticmethod
    def _print(stream, text):
        stream.write(text + "\n")
        stream.flush()


# ------------------------------------------------------------------ wanted --

Wanted = namedtuple("Wanted", "bridge routes netfilter")
Wanted.__doc__ = """The state file's sections as the engine parts take them:
``bridge`` (name, mtu, interfaces), ``routes`` (the section, ours, the
``(family, table)`` pairs to read; its lines are validated only when the
kernel does not show them all, see routes.desired), ``netfilter`` (Config,
backend, iptables variant); None for a section the file does not have."""


def wanted_state(loaded):
    """``(Wanted, problems)`` of a state.Loaded file."""
    if loaded.problems:
        return None, list(loaded.problems)
    sections = loaded.sections
    if not sections:
        return None, ["holds no sections"]
    problems = errors.Problems()
    want_bridge = want_routes = want_nf = None
    section = sections.get("bridge")
    if section is not None:
        ifaces, bad = bridge.validate_params(section["name"], section["mtu"], section["addresses"])
        problems.extend_prefixed("bridge", bad)
        want_bridge = (section["name"], section["mtu"], ifaces)
    section = sections.get("routes")
    if section is not None:
        problems.extend(names.route_protocol_problems(
            section["protocol"], section["protocol_number"], name_key="routes.protocol",
            number_key="routes.protocol_number"))
        reads, bad = desired.reads(section)
        problems.extend(bad)
        ours = frozenset((str(section["protocol_number"]), section["protocol"]))
        want_routes = (section, ours, reads)
    section = sections.get("netfilter")
    if section is not None:
        config, bad = nf.validate(dict(section, state="present"))
        bad = list(bad)
        for key, choices in (("backend", nf.BACKENDS), ("iptables_variant", nf.IPTABLES_VARIANTS)):
            if section[key] not in choices:
                bad.append("%s %r is not one of %s" % (key, section[key], ", ".join(choices)))
        problems.extend_prefixed("netfilter", bad)
        want_nf = (config, section["backend"], section["iptables_variant"])
    return Wanted(want_bridge, want_routes, want_nf), problems


# ------------------------------------------------------------------ bridge --

def bridge_repairs(name, change):
    """The Repairs a repair-only bridge.plan CHANGE makes."""
    subject = "bridge %s" % name
    before, after = change["before"], change["after"]
    out = []
    if not before["exists"]:
        out.append(Repair(subject, "created", "create", lambda b: b["exists"]))
    else:
        if after["mtu"] != before["mtu"]:
            mtu = after["mtu"]
            out.append(Repair(subject, "mtu %d set (was %d)" % (mtu, before["mtu"]),
                              "set mtu %d (now %d)" % (mtu, before["mtu"]),
                              lambda b: b["mtu"] == mtu))
        if not before["up"]:
            out.append(Repair(subject, "set up", "set up", lambda b: b["up"]))
    for cidr in change["added"]:
        out.append(Repair(subject, "address %s added" % cidr, "add address %s" % cidr,
                          lambda b, cidr=cidr: cidr in b["addresses"]))
    return out


def reconcile_bridge(ipc, wanted, output):
    name, mtu, ifaces = wanted
    subject = "bridge %s" % name
    try:
        current = bridge_host.read(ipc, name)
        change = bridge.plan(name, current.link, current.addrs, mtu=mtu, addresses=ifaces,
                             repair_only=True)
    except (IpCommandError, bridge.PlanError) as exc:
        output.failure(subject, "not repaired: %s" % exc)
        return
    for conflict in change["conflicts"]:
        output.failure(subject, "not repaired: %s" % conflict)
    repairs = bridge_repairs(name, change)
    if not change["commands"]:
        if not change["conflicts"]:
            output.note("%s: as wanted" % subject)
        return
    for repair in repairs:
        output.planned(repair)
    if output.check:
        return
    try:
        outcome = bridge_host.apply(ipc, name, change)
    except IpCommandError as exc:
        for repair in repairs:
            output.repair_failed(repair, str(exc))
        return
    if outcome.error is None:
        for repair in repairs:
            output.done(repair)
        return
    failed = [r for r in repairs if outcome.bridge is None or not r.holds(outcome.bridge)]
    for repair in repairs:
        if repair in failed:
            output.repair_failed(repair, outcome.error)
        else:
            output.done(repair)
    if not failed:          # each repair shows, yet the bridge is not as planned
        output.failure(subject, outcome.error)


# ------------------------------------------------------------------ routes --

def route_repairs(plan):
    """The Repairs of a repair-only route plan, aligned with its commands."""
    added = set(plan.added_lines)
    reasons = dict((m["after"], m["reason"]) for m in plan.modified)
    out = []
    for op, x in plan.ops:
        if op == "nh_add":
            out.append(Repair(x.describe(), "added", "add"))
            continue
        line = x.line()
        if line in added:
            out.append(Repair("route " + line, "added", "add"))
        else:
            reason = reasons.get(line, "")
            out.append(Repair("route " + line, "repaired (%s)" % reason, "repair (%s)" % reason))
    return out


RouteJob = namedtuple("RouteJob", "plan reads ours count")


def routes_as_wanted(output, count, ours):
    output.note("routes: %d as wanted (proto %s)" % (count, "/".join(sorted(ours))))


def plan_routes(ip, wanted, output):
    """``(RouteJob or None, problems)``: the repair-only plan of the routes
    section, read and planned before anything is repaired; None when the
    routes are as wanted or could not be read (reported).  PROBLEMS are
    the section's invalid lines (the kernel did not show them all, so they
    were validated)."""
    section, ours, reads = wanted
    nexthop_objects = section["nexthop_objects"]
    try:
        seen = kernel.read_state(ip, reads, ours, nexthop_objects=nexthop_objects)
    except IpCommandError as exc:
        output.failure("routes", "not repaired: %s" % exc)
        return None, []
    if desired.converged(section["routes"], seen.routes, ours):
        routes_as_wanted(output, len(section["routes"]), ours)
        return None, []
    routes, _ours, problems = desired.wanted(section)
    if problems:
        return None, problems
    plan = planner.plan(routes, seen.routes, ours, section["protocol_number"], repair_only=True,
                        nexthop_objects=nexthop_objects, nexthops=seen.nexthops)
    return RouteJob(plan, reads, ours, len(routes)), []


def repair_routes(ip, job, output):
    plan = job.plan
    for text in plan.conflicts:
        output.failure("routes", "not repaired: %s" % text)
    for want, held in plan.left_alone:
        output.failure("route " + want.line(), "not repaired: held by %s of protocol %s, which "
                                               "differs; left to the playbook"
                       % (held.line(proto=True), held.proto))
    for text in plan.warnings:
        output.note("routes: %s" % text)
    if not plan.conflicts and not plan.commands and not plan.left_alone:
        routes_as_wanted(output, job.count, job.ours)
    if plan.conflicts or not plan.commands:
        return
    repairs = route_repairs(plan)
    for repair in repairs:
        output.planned(repair)
    if output.check:
        return
    try:
        outcome = batch.apply(ip, plan, job.reads, job.ours)
    except IpCommandError as exc:
        for repair in repairs:
            output.repair_failed(repair, str(exc))
        return
    failed = dict((x["command"], x["error"]) for x in outcome.not_applied)
    for command, repair in zip(plan.commands, repairs):
        if command in failed:
            output.repair_failed(repair, failed[command])
        else:
            output.done(repair)


# --------------------------------------------------------------- netfilter --

def netfilter_repairs(config, change):
    """The Repairs of a repair-only netfilter change, one per step."""
    out = []
    for step in change.steps:
        if step.kind == "nftables":
            subject = "nftables table %s %s" % (nf.NFT_FAMILY, nf.nft_table(config.name))
        else:
            subject = "%s chains %s" % (nf.IPT_CMD[step.family], ", ".join(
                nf.ipt_chain(config.name, table) for table, _b, _s in nf.IPT_TABLES))
        out.append(Repair(subject, "re-created", "re-create"))
    return out


def reconcile_netfilter(runner, wanted, output):
    config, backend, variant = wanted
    tools = netfilter_host.Tools(runner, variant)
    try:
        live, choice = netfilter_host.read_for_repair(tools, config, backend)
    except (netfilter_host.BackendError, netfilter_host.CommandFailed) as exc:
        output.failure("netfilter %s" % config.name, "not repaired: %s" % exc)
        return
    change = netfilter_host.plan(config, live, choice.backend, repair_only=True)
    if not change.steps:
        output.note("netfilter %s: as wanted (%s)" % (config.name, choice.reason))
        return
    repairs = netfilter_repairs(config, change)
    for repair in repairs:
        output.planned(repair)
    for line in change.drift:
        output.note("  %s" % line)
    if output.check:
        return
    applied, failure = netfilter_host.apply(tools, change)
    for index, repair in enumerate(repairs):
        if index < len(applied):
            output.done(repair)
        elif index == len(applied):
            output.repair_failed(repair, failure.message)
        else:
            output.repair_failed(repair, "not run: the step before failed")
    if failure is None:
        for problem in netfilter_host.verify(tools, config, change, choice.backend):
            output.failure("netfilter %s" % config.name, "read back not as wanted: %s" % problem)


# -------------------------------------------------------------------- main --

class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_args(argv):
    parser = _Parser(
        prog=PROG,
        description="Re-create what is missing or wrong of this host's pod network (bridge, "
                    "routes, nftables/iptables rules) from its desired-state file, which "
                    "podnet.hostgw's playbook writes. Adds and repairs only; never removes.",
        epilog="Exit status: 0 converged or repaired; 1 a repair failed (named on standard "
               "error); 2 the state file is missing or invalid (nothing changed); 64 bad "
               "usage; 75 the host lock stayed busy (nothing changed).")
    parser.add_argument("--state-file", default=state.DEFAULT_PATH, metavar="PATH",
                        help="the desired-state file (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="print what would be repaired ('would ...'); change nothing")
    parser.add_argument("--verbose", action="store_true",
                        help="also say what is as wanted, and what is left in place")
    parser.add_argument("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT,
                        metavar="SECONDS",
                        help="how long to wait for the host lock a playbook run may hold "
                             "(default: %(default)s); then exit 75")
    args = parser.parse_args(argv)
    if args.lock_timeout < 0:
        raise UsageError("--lock-timeout must not be negative")
    return args


def state_error(output, path, problems):
    output.error(errors.report("state file %s unusable, nothing was changed" % path, problems))
    output.error(RUN_SITE)
    return EX_STATE


def reconcile(wanted, output):
    """Every part the state file names, each on its own: a failure in one
    does not stop the others.  Returns the state file's problems found on
    the way (then nothing was repaired)."""
    runner = SubprocessRunner()
    ip = route_job = None
    if wanted.bridge is not None or wanted.routes is not None:
        try:
            ip = IpCommand(runner)
        except IpCommandError as exc:
            output.failure("bridge and routes", "not repaired: %s" % exc)
    if ip is not None and wanted.routes is not None:
        route_job, problems = plan_routes(ip, wanted.routes, output)
        if problems:
            return problems
    if ip is not None and wanted.bridge is not None:
        reconcile_bridge(ip, wanted.bridge, output)
    if route_job is not None:
        repair_routes(ip, route_job, output)
    if wanted.netfilter is not None:
        reconcile_netfilter(runner, wanted.netfilter, output)
    return []


def main(argv=None):
    """The command: its exit status (see the module's docstring)."""
    output = Output()
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        output.error("%s (see --help)" % exc)
        return EX_USAGE
    output.check, output.verbose = args.check, args.verbose
    path = args.state_file
    if not os.path.exists(path):        # before the lock: no lock file either
        return state_error(output, path, ["does not exist"])
    lock = HostLock(owner="%s%s" % (PROG, " --check" if args.check else ""),
                    timeout=args.lock_timeout)
    try:
        lock.acquire()
    except LockTimeout as exc:
        output.error(str(exc))
        return EX_LOCKED
    except OSError as exc:
        output.error("cannot take the host lock %s: %s; nothing was changed" % (lock.path, exc))
        return EX_FAILED
    try:
        # Read under the lock: a module changes the file and the kernel together.
        wanted, problems = wanted_state(state.read(path))
        if not problems:
            problems = reconcile(wanted, output)
        if problems:
            return state_error(output, path, problems)
    finally:
        lock.release()
    return EX_FAILED if output.failed else EX_OK


if __name__ == "__main__":
    raise SystemExit(main())

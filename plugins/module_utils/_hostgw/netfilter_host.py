# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's netfilter rules on the host: running nft and iptables on
a command.Runner, reading what they list, choosing the backend and planning
a run, for the netfilter module and the reconcile command alike::

    tools = Tools(runner, variant="auto")
    live = read(tools, config.name)
    choice = choose_backend(config, live, "auto")       # BackendError if none
    change = plan(config, live, choice.backend, repair_only=True)
    failure = apply(tools, change)[1]                   # None on success

The reconcile command reads less (``read_for_repair``: what the backend
choice and a repair of the chosen backend need, one nft call on an nftables
host) and plans the same way.

Every command is an argv list with ``LC_ALL=C`` (command.Runner); scripts go
to ``nft -f -`` and ``iptables-restore --noflush`` on standard input.
"""

import json
from collections import namedtuple

from . import netfilter as nf

NFT_MISSING = "the nft command was not found (install the nftables package)"
# What nft prints for a table that does not exist (ENOENT).
NFT_NO_TABLE = "No such file or directory"

IPT_BINARIES = {
    "auto": {4: ("iptables", "iptables-restore"), 6: ("ip6tables", "ip6tables-restore")},
    "nft": {4: ("iptables-nft", "iptables-nft-restore"),
            6: ("ip6tables-nft", "ip6tables-nft-restore")},
    "legacy": {4: ("iptables-legacy", "iptables-legacy-restore"),
               6: ("ip6tables-legacy", "ip6tables-legacy-restore")},
}
WAIT = ["-w", "10"]          # the xtables lock (legacy); accepted and ignored by -nft


class CommandFailed(Exception):
    def __init__(self, argv, rc, out, err):
        super(CommandFailed, self).__init__(
            "%s failed (rc=%s): %s" % (" ".join(argv), rc, (err or out).strip()))
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, out, err


class BackendError(Exception):
    """No backend can hold the rules; the message says why and what to install."""


class Tools(object):
    """nft and the iptables commands of one VARIANT, found on RUNNER's path."""

    def __init__(self, runner, variant="auto"):
        self.runner = runner
        self.nft = runner.which("nft")
        self.ipt = {}                   # family -> (listing command, restore command)
        self.missing_ipt = {}           # family -> names of the missing commands
        for family, names in IPT_BINARIES[variant].items():
            paths = [runner.which(n) for n in names]
            if all(paths):
                self.ipt[family] = tuple(paths)
            else:
                self.missing_ipt[family] = [n for n, p in zip(names, paths) if not p]

    def run(self, argv, stdin=None):
        return self.runner.run(argv, data=stdin)

    def checked(self, argv, stdin=None):
        rc, out, err = self.run(argv, stdin)
        if rc != 0:
            raise CommandFailed(argv, rc, out, err)
        return out

    # nftables -------------------------------------------------------------

    def nft_json(self, args):
        out = self.checked([self.nft, "-j"] + args)
        try:
            return json.loads(out) if out.strip() else {}
        except ValueError as exc:
            raise CommandFailed([self.nft, "-j"] + args, 0, out,
                                "output is not JSON (%s); nft must be built with JSON "
                                "support" % exc)

    def nft_tables(self):
        """``{(family, name)}`` of every table; CommandFailed when nft cannot list."""
        return nf.nft_tables(self.nft_json(["list", "tables"]))

    def nft_read(self, name, tables):
        """Canonical text of table ``inet NAME`` (None when TABLES lacks it)."""
        if (nf.NFT_FAMILY, nf.nft_table(name)) not in tables:
            return None
        data = self.nft_json(["list", "table", nf.NFT_FAMILY, nf.nft_table(name)])
        return nf.nft_live_text(data, nf.nft_table(name))

    def nft_read_table(self, name):
        """Canonical text of table ``inet NAME`` from one ``nft -j list table``
        (None when there is no such table); CommandFailed when nft cannot list."""
        argv = [self.nft, "-j", "list", "table", nf.NFT_FAMILY, nf.nft_table(name)]
        rc, out, err = self.run(argv)
        if rc != 0 and NFT_NO_TABLE in (err or ""):
            return None
        if rc != 0:
            raise CommandFailed(argv, rc, out, err)
        try:
            data = json.loads(out) if out.strip() else {}
        except ValueError as exc:
            raise CommandFailed(argv, 0, out, "output is not JSON (%s)" % exc)
        return nf.nft_live_text(data, nf.nft_table(name))

    def nft_apply_argv(self, check=False):
        return [self.nft] + (["--check"] if check else []) + ["-f", "-"]

    # iptables -------------------------------------------------------------

    def ipt_read_text(self, family, tables=None):
        """``{table: iptables -S text}`` of one family: TABLES (names), or all
        of the collection's tables."""
        listing = self.ipt[family][0]
        out = {}
        for table, _builtin, _suffix in nf.IPT_TABLES:
            if tables is not None and table not in tables:
                continue
            out[table] = self.checked([listing] + WAIT + ["-t", table, "-S"])
        return out

    def ipt_read(self, family, tables=None):
        """``{table: IptListing}`` of one family (see ipt_read_text)."""
        return dict((table, nf.parse_ipt_listing(text))
                    for table, text in self.ipt_read_text(family, tables).items())

    def ipt_apply_argv(self, family, check=False):
        return ([self.ipt[family][1]] + WAIT + ["--noflush"]
                + (["--test"] if check else []))

    def apply_argv(self, step, check=False):
        if step.kind == "nftables":
            return self.nft_apply_argv(check)
        return self.ipt_apply_argv(step.family, check)


# ------------------------------------------------------------------ reading --

class Live(object):
    """What the host has: whether nft works (``nft_ok``, else ``nft_error``),
    the canonical text of the collection's table (``nft_text``, None when
    absent), the iptables listings per family (``ipt``: family -> {table:
    IptListing}) and why a family could not be read (``ipt_errors``)."""

    def __init__(self):
        self.nft_ok = False
        self.nft_error = None
        self.nft_text = None
        self.ipt = {}
        self.ipt_errors = {}


def read_raw(tools, name):
    """What ``read`` finds, as plain data (the iptables listings as text,
    families as strings): what node_info hands the controller, where
    ``live_from_raw`` makes the same Live of it."""
    raw = {"nft_ok": False, "nft_error": None, "nft_text": None, "ipt": {}, "ipt_errors": {}}
    if not tools.nft:
        raw["nft_error"] = NFT_MISSING
    else:
        try:
            tables = tools.nft_tables()
            raw["nft_ok"] = True
        except CommandFailed as exc:
            raw["nft_error"] = str(exc)
        if raw["nft_ok"]:
            raw["nft_text"] = tools.nft_read(name, tables)
    for family in nf.FAMILIES:
        texts, error = _ipt_texts(tools, family, None)
        if error:
            raw["ipt_errors"][str(family)] = error
        else:
            raw["ipt"][str(family)] = texts
    return raw


def live_from_raw(raw):
    """The Live of a read_raw result."""
    live = Live()
    live.nft_ok, live.nft_error, live.nft_text = raw["nft_ok"], raw["nft_error"], raw["nft_text"]
    live.ipt = dict((int(family), dict((table, nf.parse_ipt_listing(text)) for table, text in tables.items()))
                    for family, tables in raw["ipt"].items())
    live.ipt_errors = dict((int(family), error) for family, error in raw["ipt_errors"].items())
    return live


def read(tools, name):
    """The Live state of the collection's objects named NAME.  A tool that is
    missing or cannot list is noted, not raised; only a failure to list the
    collection's own nft table (nft works otherwise) raises CommandFailed."""
    return live_from_raw(read_raw(tools, name))


def read_for_repair(tools, config, requested):
    """``(Live, Choice)`` for a repair-only run of CONFIG with backend
    REQUESTED, read with as few commands as the choice and the repair need:

    * nftables (unless REQUESTED is iptables): one ``nft -j list table``;
    * iptables ``filter`` of the families in use, when ``auto`` must know
      whether a FORWARD policy is DROP (forward rules), or when nft is
      not usable;
    * both iptables tables of those families, when iptables holds the rules.

    The Live holds iptables listings only when iptables holds the rules (a
    repair-only plan of nftables looks at nothing else).  Raises
    BackendError (as choose_backend) and CommandFailed."""
    live = Live()
    families = config.families()
    if requested != "iptables":
        if not tools.nft:
            live.nft_error = NFT_MISSING
        else:
            try:
                live.nft_text = tools.nft_read_table(config.name)
                live.nft_ok = True
            except CommandFailed as exc:
                live.nft_error = str(exc)
    if requested == "iptables" or (requested == "auto" and (config.forward or not live.nft_ok)):
        _read_ipt(tools, live, families, None if requested == "iptables" or not live.nft_ok
                  else ("filter",))
    choice = choose_backend(config, live, requested)
    if choice.backend == "iptables":
        _read_ipt(tools, live, [f for f in families if len(live.ipt.get(f, ())) == 1], None)
    else:
        live.ipt = {}
    return live, choice


def _ipt_texts(tools, family, tables):
    """``(texts, error)``: TABLES (None: all) of FAMILY as ``iptables -S``
    text, or why they cannot be read (a missing tool, a failed listing)."""
    if family not in tools.ipt:
        return None, ("%s not found (install the iptables package)"
                      % " and ".join(tools.missing_ipt[family]))
    try:
        return tools.ipt_read_text(family, tables), None
    except CommandFailed as exc:
        return None, str(exc)


def _read_ipt(tools, live, families, tables):
    """Read TABLES (None: all) of each of FAMILIES into LIVE; a missing tool or
    a failed listing is noted in ``live.ipt_errors``."""
    for family in families:
        texts, error = _ipt_texts(tools, family, tables)
        if error:
            live.ipt_errors[family] = error
        else:
            live.ipt[family] = dict((t, nf.parse_ipt_listing(text)) for t, text in texts.items())


# ----------------------------------------------------------- backend choice --

Choice = namedtuple("Choice", "backend reason warning")
Choice.__doc__ = """The backend to hold the rules (None with state=absent), why,
and a warning for the user or None."""


def choose_backend(config, live, requested="auto"):
    """The Choice for CONFIG on a host as LIVE shows it; REQUESTED is
    ``auto``, ``nftables`` or ``iptables``.  Raises BackendError when the
    requested backend, or with ``auto`` every backend, is unusable.

    ``auto`` prefers nftables, except with forward rules on a host whose
    iptables FORWARD policy is DROP for a family in use (Docker): an accept in
    an nftables table cannot override that, the jump at the top of that very
    chain can."""
    if not config.present:
        return Choice(None, "state=absent: removed from every backend whose tools are installed",
                      None)
    needed = config.families()
    ipt_ready = all(f in live.ipt for f in needed)
    ipt_problem = "; ".join(live.ipt_errors[f] for f in needed if f in live.ipt_errors)
    forward_drop = [f for f in needed if f in live.ipt
                    and live.ipt[f]["filter"].policies.get("FORWARD") == "DROP"]
    drop_text = " and ".join("%s FORWARD" % nf.IPT_CMD[f] for f in forward_drop)
    if requested == "nftables":
        if not live.nft_ok:
            raise BackendError("backend=nftables: %s" % live.nft_error)
        warning = None
        if config.forward and forward_drop:
            warning = ("the %s chain has policy DROP (a Docker-style host): the accept rules in "
                       "table inet %s cannot override it, so forwarded pod traffic is dropped "
                       "there; use backend=iptables or backend=auto" % (drop_text, config.name))
        return Choice("nftables", "backend=nftables", warning)
    if requested == "iptables":
        if not ipt_ready:
            raise BackendError("backend=iptables: %s" % ipt_problem)
        return Choice("iptables", "backend=iptables", None)
    if config.forward and forward_drop and ipt_ready:
        return Choice("iptables", "auto: the %s policy is DROP; an nftables accept cannot "
                                  "override it, the jump at the top of that chain can" % drop_text,
                      None)
    if live.nft_ok:
        return Choice("nftables", "auto: nft works", None)
    if ipt_ready:
        return Choice("iptables", "auto: nftables is not usable (%s)" % live.nft_error, None)
    raise BackendError("no usable backend: nftables: %s; iptables: %s (install the nftables or "
                       "the iptables package)" % (live.nft_error, ipt_problem))


# ----------------------------------------------------------------- planning --

Step = namedtuple("Step", "kind family stdin")
Step.__doc__ = """One applying command: ``kind`` nftables (family None) or
iptables (family 4 or 6), and the script for its standard input."""


class Change(object):
    """A planned run: ``steps`` in order, the text of the collection's objects
    ``before`` and ``after`` (what a diff shows), ``drift`` (one line per
    difference, empty when nothing changes) and ``nft_wanted``."""

    def __init__(self, steps, before, after, drift, nft_wanted):
        self.steps = steps
        self.before = before
        self.after = after
        self.drift = drift
        self.nft_wanted = nft_wanted


def ipt_section_header(family, table):
    return "# %s -t %s" % (nf.IPT_CMD[family], table)


def ruleset_text(nft_text, ipt_lines):
    """The ruleset text: nft table, then iptables sections with content."""
    parts = [nft_text] if nft_text else []
    for (family, table), lines in sorted(ipt_lines.items()):
        if lines:
            parts.append("\n".join([ipt_section_header(family, table)] + lines) + "\n")
    return "".join(parts)


def _ipt_wanted(config, family, table, backend):
    return nf.ipt_wanted_rules(config, family, table) if backend == "iptables" else None


def plan(config, live, backend, repair_only=False):
    """The Change that makes LIVE what CONFIG wants with BACKEND (None:
    remove everywhere).  The chosen backend's objects are re-created when
    missing or drifted; the other backend's objects under the same name are
    removed, unless REPAIR_ONLY (the reconcile command: create and repair,
    never remove).  With iptables chosen its steps go first, so there is no
    moment without rules."""
    name = config.name
    steps = []
    nft_wanted = nf.nft_wanted_text(config) if backend == "nftables" else None
    nft_after = live.nft_text
    nft_in_scope = not repair_only or backend == "nftables"
    if live.nft_ok and nft_in_scope and live.nft_text != nft_wanted:
        steps.append(Step("nftables", None, nf.nft_script(nf.nft_table(name), nft_wanted)))
        nft_after = nft_wanted
    before_ipt, after_ipt = {}, {}
    ipt_in_scope = not repair_only or backend == "iptables"
    for family in sorted(live.ipt):
        sections = []
        for table, _b, _s in nf.IPT_TABLES:
            own = nf.ipt_own(live.ipt[family][table], nf.ipt_chain(name, table))
            wanted = _ipt_wanted(config, family, table, backend)
            lines = nf.ipt_plan_table(config, table, own, wanted) if ipt_in_scope else []
            before_ipt[(family, table)] = own.lines()
            if not lines:
                after_ipt[(family, table)] = own.lines()
            elif wanted is None:
                after_ipt[(family, table)] = []
            else:
                after_ipt[(family, table)] = nf.ipt_wanted_lines(config, family, table)
            sections.append((table, lines))
        stdin = nf.restore_input(sections)
        if stdin:
            steps.append(Step("iptables", family, stdin))
    if backend == "iptables":
        steps.sort(key=lambda s: s.kind != "iptables")
    drift = []
    if steps:
        drift = nf.nft_drift(name, live.nft_text, nft_after)
        for key in sorted(before_ipt):
            drift.extend(nf.ipt_drift(ipt_section_header(*key)[2:], before_ipt[key],
                                      after_ipt[key]))
    return Change(steps, ruleset_text(live.nft_text, before_ipt),
                  ruleset_text(nft_after, after_ipt), drift, nft_wanted)


def commands(tools, change, check=False):
    """The change's commands as ``{"argv": [...], "stdin": "..."}`` dicts."""
    return [dict(argv=tools.apply_argv(step, check), stdin=step.stdin) for step in change.steps]


# ----------------------------------------------------------------- applying --

def check(tools, change):
    """Have the tools check every step without committing it (``nft --check``,
    ``iptables-restore --test``): None, or why the change would fail."""
    for cmd in commands(tools, change, check=True):
        rc, out, err = tools.run(cmd["argv"], cmd["stdin"])
        if rc != 0:
            return "the change would fail: %s rejects it: %s" % (
                " ".join(cmd["argv"]), (err or out).strip())
    return None


Failure = namedtuple("Failure", "command rc stdout stderr message")


def apply(tools, change):
    """Run the steps in order, stopping at the first that fails:
    ``(applied commands, Failure or None)``."""
    applied = []
    for cmd in commands(tools, change):
        rc, out, err = tools.run(cmd["argv"], cmd["stdin"])
        if rc != 0:
            message = "%s failed: %s%s" % (
                " ".join(cmd["argv"]), (err or out).strip(),
                "" if not applied else " (the commands before it were applied; run again "
                "after fixing the cause)")
            return applied, Failure(cmd, rc, out, err, message)
        applied.append(cmd)
    return applied, None


def verify(tools, config, change, backend):
    """Re-read what CHANGE touched: sentences where the tools now list
    something other than the wanted state (the next run would change again)."""
    problems = []
    name = config.name
    try:
        if any(step.kind == "nftables" for step in change.steps):
            now = tools.nft_read(name, tools.nft_tables())
            if now != change.nft_wanted:
                problems.append("nftables lists\n%s\ninstead of\n%s" % (now, change.nft_wanted))
        for step in change.steps:
            if step.kind != "iptables":
                continue
            now = tools.ipt_read(step.family)
            for table, _b, _s in nf.IPT_TABLES:
                own = nf.ipt_own(now[table], nf.ipt_chain(name, table))
                wanted = _ipt_wanted(config, step.family, table, backend)
                if nf.ipt_plan_table(config, table, own, wanted):
                    problems.append("%s -t %s lists %s" % (nf.IPT_CMD[step.family], table,
                                                           own.lines()))
    except CommandFailed as exc:
        problems.append(str(exc))
    return problems

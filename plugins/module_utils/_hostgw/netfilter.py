# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's forwarding and masquerade rules: the wanted rule set and
how it compares with what nft / iptables list.  Pure logic, no I/O
(netfilter_host.py runs the tools, chooses the backend and plans a run).

* validation of the parameters (every bad value named, one sentence each);
* the wanted rules, rendered for nftables (one ``inet`` table of the
  collection's own) and for iptables (own chains in ``filter`` and ``nat``
  plus one jump rule each from ``FORWARD`` / ``POSTROUTING``);
* parsing of ``nft -j list table inet NAME`` and ``iptables -S`` listings into
  a *canonical text*, compared with the canonical text of the wanted rules;
* the plan: the ``nft -f -`` script or ``iptables-restore --noflush`` input
  that turns the current state into the wanted one.

How the comparison stays robust across nft versions
---------------------------------------------------
nft's text listing changes between versions (named priorities, how sets
are printed, merged intervals), so the module never compares nft's text.
It reads the JSON listing (stable schema version 1) and renders it back into
its own canonical text with the same functions that render the wanted
rules: chains sorted by name, numeric priorities, address sets collapsed
and sorted as networks (nft merges ``10.0.0.0/24, 10.0.1.0/24`` into
``10.0.0.0/23``; both sides collapse the same way), handles and counter
values dropped.  Anything the renderer does not know - a hand-added
expression, a set, a table flag such as ``dormant`` - is rendered so it can
never equal a wanted line, which is drift, which is repaired by re-creating
the table.  The worst a future nft could do is make every run report a
change; the module re-reads after applying and warns if that happens.

Kernel / tool behaviour relied on (checked on Linux 6.18, nftables 1.0.6,
iptables 1.8.9 nft and legacy):

* ``nft -f -`` applies a whole script as one transaction, so
  ``table inet X {}`` / ``delete table inet X`` / ``table inet X {...}``
  replaces the table with no moment without rules.
* ``iptables-restore --noflush``: a ``:CHAIN - [0:0]`` line for an existing
  user chain flushes it; other chains are untouched; ``-D CHAIN SPEC`` with
  the spec exactly as ``iptables -S`` prints it deletes that rule; each
  table's ``COMMIT`` is atomic.
* Listing with ``iptables -S`` does not create tables (iptables-nft).
"""

import ipaddress
import json
import re
import shlex

from . import names
from .errors import Problems

DEFAULT_NAME = "podnet_hostgw"

BACKENDS = ("auto", "nftables", "iptables")
IPTABLES_VARIANTS = ("auto", "nft", "legacy")
FAMILIES = (4, 6)

# nftables: the collection's chains and their base chain declaration.
NFT_FAMILY = "inet"
FORWARD_CHAIN = "forward"
NAT_CHAIN = "postrouting"
PRIO_FILTER = 0             # "priority filter"
PRIO_SRCNAT = 100           # "priority srcnat"
NFT_CHAINS = {
    FORWARD_CHAIN: ("filter", "forward", PRIO_FILTER, "accept"),
    NAT_CHAIN: ("nat", "postrouting", PRIO_SRCNAT, "accept"),
}
NFT_PAYLOAD_PROTO = {4: "ip", 6: "ip6"}

# iptables: (table, built-in chain the jump goes into, own chain suffix)
IPT_TABLES = (("filter", "FORWARD", "FWD"), ("nat", "POSTROUTING", "NAT"))
IPT_CMD = {4: "iptables", 6: "ip6tables"}

_VERDICTS = ("accept", "drop", "reject", "return", "continue", "queue")


class Config(object):
    """The validated parameters."""

    def __init__(self, name=DEFAULT_NAME, cidrs=None, forward=True, masquerade=True,
                 state="present"):
        self.name = name
        self.forward = forward
        self.masquerade = masquerade
        self.state = state
        cidrs = list(cidrs or [])
        self.cidrs = {
            4: list(ipaddress.collapse_addresses(c for c in cidrs if c.version == 4)),
            6: list(ipaddress.collapse_addresses(c for c in cidrs if c.version == 6)),
        }

    @property
    def present(self):
        return self.state == "present"

    def families(self):
        """Address families with at least one cluster CIDR."""
        return [f for f in FAMILIES if self.cidrs[f]]


# --------------------------------------------------------------------------
# names


def nft_table(name):
    return name


def ipt_chain(name, table):
    suffix = dict((t, s) for t, _b, s in IPT_TABLES)[table]
    return "%s-%s" % (name.upper().replace("_", "-"), suffix)


def ipt_comment(name):
    return name.replace("_", "-")


# --------------------------------------------------------------------------
# validation


def validate_name(name):
    return names.netfilter_name_problems(name)


_NOT_POD_NETWORKS = (("is_loopback", "loopback"), ("is_multicast", "multicast"),
                     ("is_link_local", "link-local"), ("is_unspecified", "unspecified"))


def parse_cidr(index, value):
    """``(network, problem)`` for one cluster_cidrs entry: the one prefix
    parser (names.parse_prefix, with its "did you mean" hint), then what a pod
    network cannot be."""
    where = "cluster_cidrs[%d]" % index
    _version, canonical, bad = names.parse_prefix(value, bare_host=False)
    if bad:
        return None, names.problem(where, value, bad)
    net = ipaddress.ip_network(canonical)
    if net.prefixlen == 0:
        return None, names.problem(where, value, "is every address; a cluster CIDR must be the "
                                                 "pod network only")
    for attr, what in _NOT_POD_NETWORKS:
        if getattr(net, attr):
            return None, names.problem(where, value, "is a %s network, not a pod network" % what)
    return net, None


def _overlap_problems(nets):
    """One sentence per entry that repeats or overlaps an earlier one."""
    out = []
    for i, net, raw in nets:
        for j, other, _raw in nets:
            if j >= i or other.version != net.version:
                continue
            where = "cluster_cidrs[%d]" % i
            if other == net:
                out.append(names.problem(where, raw, "is listed twice (also cluster_cidrs[%d])" % j))
            elif net.subnet_of(other):
                out.append(names.problem(where, raw, "is inside cluster_cidrs[%d] %s" % (j, other)))
            elif other.subnet_of(net):
                out.append(names.problem(where, raw, "contains cluster_cidrs[%d] %s" % (j, other)))
            else:
                continue
            break           # one overlap per entry is enough to name it
    return out


def validate(params):
    """``(Config or None, Problems)`` from the module's parameters."""
    problems = Problems()
    name = params.get("name")
    problems.extend(validate_name(name))
    state = params.get("state") or "present"
    raw = params.get("cluster_cidrs")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        problems.append(names.problem("cluster_cidrs", raw, "is not a list"))
        raw = []
    nets = []
    for i, value in enumerate(raw):
        net, bad = parse_cidr(i, value)
        if bad:
            problems.append(bad)
        else:
            nets.append((i, net, value))
    problems.extend(_overlap_problems(nets))
    forward = bool(params.get("forward", True))
    masquerade = bool(params.get("masquerade", True))
    if state == "present":
        if not raw:
            problems.append("cluster_cidrs is required with state=present (the pod network, "
                            "for example [192.168.0.0/16])")
        if not forward and not masquerade:
            problems.append("forward and masquerade are both false: nothing to manage; use "
                            "state=absent to remove the rules")
    if problems:
        return None, problems
    return Config(name=name, cidrs=[n for _i, n, _raw in nets], forward=forward,
                  masquerade=masquerade, state=state), problems


# --------------------------------------------------------------------------
# nftables: canonical text


def fmt_networks(nets):
    """Networks as nft writes them: one, or an anonymous set ``{ a, b }``.

    Collapsed and sorted, so that the same address space always renders
    the same whatever the input order or nft's interval merging."""
    nets = sorted(ipaddress.collapse_addresses(nets))
    if len(nets) == 1:
        return nets[0].with_prefixlen
    return "{ %s }" % ", ".join(n.with_prefixlen for n in nets)


def _nft_base_line(ctype, hook, prio, policy):
    return "type %s hook %s priority %s; policy %s;" % (ctype, hook, prio, policy)


def nft_wanted_chains(config):
    """``{chain: (base line, [rules])}`` of the wanted table (empty = no table)."""
    if not config.present:
        return {}
    chains = {}
    if config.forward:
        rules = []
        for f in config.families():
            proto = NFT_PAYLOAD_PROTO[f]
            s = fmt_networks(config.cidrs[f])
            rules.append("%s saddr %s accept" % (proto, s))
            rules.append("%s daddr %s accept" % (proto, s))
        chains[FORWARD_CHAIN] = (_nft_base_line(*NFT_CHAINS[FORWARD_CHAIN]), rules)
    if config.masquerade:
        rules = []
        for f in config.families():
            proto = NFT_PAYLOAD_PROTO[f]
            s = fmt_networks(config.cidrs[f])
            rules.append("%s saddr %s %s daddr != %s masquerade" % (proto, s, proto, s))
        chains[NAT_CHAIN] = (_nft_base_line(*NFT_CHAINS[NAT_CHAIN]), rules)
    return chains


def render_nft_table(name, chains, extra=()):
    """The canonical text of table ``inet NAME`` - also valid nft input.

    CHAINS is ``{chain: (base line or None, [rule lines])}``; EXTRA are
    table-level lines (flags, foreign objects) that only a live table has."""
    lines = ["table %s %s {" % (NFT_FAMILY, name)]
    lines.extend("\t" + x for x in extra)
    for cname in sorted(chains):
        base, rules = chains[cname]
        lines.append("\tchain %s {" % cname)
        if base:
            lines.append("\t\t" + base)
        lines.extend("\t\t" + r for r in rules)
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def nft_wanted_text(config):
    """Canonical text of the wanted table, or None when it must not exist."""
    chains = nft_wanted_chains(config)
    if not chains:
        return None
    return render_nft_table(nft_table(config.name), chains)


def nft_script(name, wanted_text):
    """The ``nft -f -`` input: create-if-missing, delete, re-create.

    One transaction: the old table (whatever drift it has) is replaced
    atomically, and nothing outside the table is touched.  WANTED_TEXT None
    only deletes."""
    head = "table %s %s {}\ndelete table %s %s\n" % (NFT_FAMILY, name, NFT_FAMILY, name)
    return head + (wanted_text or "")


def _json_networks(right):
    """Networks of a JSON match's right-hand side, or None if it is not a
    plain address / prefix / range / set of those."""
    if isinstance(right, dict) and "set" in right:
        items = right["set"]
        if not isinstance(items, list):
            items = [items]
    else:
        items = [right]
    nets = []
    for item in items:
        if isinstance(item, dict) and "elem" in item:
            item = item["elem"].get("val") if isinstance(item["elem"], dict) else None
        try:
            if isinstance(item, str):
                nets.append(ipaddress.ip_network(item, strict=False))
            elif isinstance(item, dict) and "prefix" in item:
                p = item["prefix"]
                nets.append(ipaddress.ip_network("%s/%s" % (p["addr"], p["len"]), strict=False))
            elif isinstance(item, dict) and "range" in item:
                lo, hi = item["range"]
                nets.extend(ipaddress.summarize_address_range(
                    ipaddress.ip_address(lo), ipaddress.ip_address(hi)))
            else:
                return None
        except (ValueError, TypeError, KeyError):
            return None
    if not nets or len(set(n.version for n in nets)) != 1:
        return None
    return nets


def _unknown(obj):
    return "<unrecognised %s>" % json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _render_expr(expr):
    if not isinstance(expr, dict) or len(expr) != 1:
        return _unknown(expr)
    (key, val), = expr.items()
    if key == "match" and isinstance(val, dict):
        left = val.get("left")
        payload = left.get("payload") if isinstance(left, dict) else None
        op = val.get("op", "==")
        nets = _json_networks(val.get("right"))
        if (isinstance(payload, dict) and payload.get("protocol") in ("ip", "ip6")
                and payload.get("field") in ("saddr", "daddr") and nets is not None
                and op in ("==", "!=", "in")
                and nets[0].version == (4 if payload["protocol"] == "ip" else 6)):
            neg = "!= " if op == "!=" else ""
            return "%s %s %s%s" % (payload["protocol"], payload["field"], neg, fmt_networks(nets))
        return _unknown(expr)
    if key in _VERDICTS and val is None:
        return key
    if key in ("jump", "goto") and isinstance(val, dict) and "target" in val:
        return "%s %s" % (key, val["target"])
    if key == "masquerade" and not val:
        return "masquerade"
    if key == "counter":
        return "counter"        # packet and byte values are not compared
    return _unknown(expr)


def render_nft_rule(rule):
    text = " ".join(_render_expr(e) for e in rule.get("expr") or [])
    if rule.get("comment") is not None:
        text += " comment %s" % json.dumps(rule["comment"])
    return text


def nft_live_text(listing, name):
    """Canonical text of table ``inet NAME`` from ``nft -j list table``
    output (parsed JSON), or None when the listing holds no such table."""
    items = listing.get("nftables", []) if isinstance(listing, dict) else []
    table = None
    chains = {}
    order = []
    extra = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            continue
        (kind, obj), = item.items()
        if kind == "metainfo" or not isinstance(obj, dict):
            continue
        if obj.get("family") != NFT_FAMILY:
            continue
        if kind == "table":
            if obj.get("name") != name:
                continue
            table = obj
            flags = obj.get("flags")
            if flags:
                if not isinstance(flags, list):
                    flags = [flags]
                extra.append("flags %s;" % ",".join(str(f) for f in flags))
            if obj.get("comment") is not None:
                extra.append("comment %s;" % json.dumps(obj["comment"]))
            continue
        if obj.get("table") != name:
            continue
        if kind == "chain":
            base = None
            if "hook" in obj or "type" in obj:
                base = _nft_base_line(obj.get("type"), obj.get("hook"), obj.get("prio"),
                                      obj.get("policy", "accept"))
                if obj.get("dev") is not None:
                    base += " " + _unknown({"dev": obj.get("dev")})
            chains[obj.get("name")] = (base, [])
            order.append(obj.get("name"))
        elif kind == "rule":
            chains.setdefault(obj.get("chain"), (None, []))[1].append(render_nft_rule(obj))
        else:
            extra.append("# %s %s (not made by this module)" % (kind, obj.get("name", "?")))
    if table is None:
        return None
    return render_nft_table(name, chains, extra)


def nft_tables(listing):
    """``{(family, name)}`` from ``nft -j list tables``."""
    out = set()
    for item in (listing.get("nftables", []) if isinstance(listing, dict) else []):
        if isinstance(item, dict) and isinstance(item.get("table"), dict):
            out.add((item["table"].get("family"), item["table"].get("name")))
    return out


# --------------------------------------------------------------------------
# iptables


class IptListing(object):
    """One table of ``iptables -t TABLE -S``: policies, chains, rules."""

    def __init__(self, policies=None, chains=None, rules=None):
        self.policies = policies or {}
        self.chains = chains or []              # user chains, in order
        self.rules = rules or []                # [(chain, tokens, raw line)]


def parse_ipt_listing(text):
    out = IptListing()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            tokens = shlex.split(line)
        except ValueError:
            tokens = line.split()
        if len(tokens) >= 3 and tokens[0] == "-P":
            out.policies[tokens[1]] = tokens[2]
        elif len(tokens) >= 2 and tokens[0] == "-N":
            out.chains.append(tokens[1])
        elif len(tokens) >= 2 and tokens[0] == "-A":
            out.rules.append((tokens[1], tuple(tokens[2:]), line))
    return out


def _target(tokens):
    for i, tok in enumerate(tokens[:-1]):
        if tok in ("-j", "--jump", "-g", "--goto"):
            return tokens[i + 1]
    return None


def _quote(tok):
    if tok and re.match(r"^[A-Za-z0-9_./:=,+-]+$", tok):
        return tok
    return '"%s"' % tok.replace("\\", "\\\\").replace('"', '\\"')


def ipt_line(chain, tokens):
    return " ".join(["-A", chain] + [_quote(t) for t in tokens])


class IptOwn(object):
    """What of the collection is in one iptables table."""

    def __init__(self, chain, exists=False, rules=None, jumps=None):
        self.chain = chain
        self.exists = exists
        self.rules = rules or []        # [(tokens, raw)] in own chain
        self.jumps = jumps or []        # [(chain, tokens, raw)] rules targeting own chain

    def lines(self):
        """Canonical lines (what diff shows): -N, jumps, own rules."""
        out = []
        if self.exists:
            out.append("-N %s" % self.chain)
        out.extend(raw for _c, _t, raw in self.jumps)
        out.extend(raw for _t, raw in self.rules)
        return out


def ipt_own(listing, chain):
    own = IptOwn(chain, exists=chain in listing.chains)
    for c, tokens, raw in listing.rules:
        if c == chain:
            own.rules.append((tokens, raw))
        elif _target(tokens) == chain:
            own.jumps.append((c, tokens, raw))
    return own


def ipt_jump_tokens(name, chain):
    return ("-m", "comment", "--comment", ipt_comment(name), "-j", chain)


def ipt_wanted_rules(config, family, table):
    """Token tuples of the own chain's rules, or None when the chain (and its
    jump) must not exist in this family and table."""
    if not config.present or not config.cidrs[family]:
        return None
    nets = [n.with_prefixlen for n in config.cidrs[family]]
    if table == "filter":
        if not config.forward:
            return None
        return ([("-s", n, "-j", "ACCEPT") for n in nets]
                + [("-d", n, "-j", "ACCEPT") for n in nets])
    if not config.masquerade:
        return None
    # pod -> pod (any cluster CIDR) is never NATed: RETURN before MASQUERADE
    return ([("-d", n, "-j", "RETURN") for n in nets]
            + [("-s", n, "-j", "MASQUERADE") for n in nets])


def ipt_wanted_lines(config, family, table):
    """Canonical lines of the wanted state (same shape as IptOwn.lines)."""
    rules = ipt_wanted_rules(config, family, table)
    if rules is None:
        return []
    chain = ipt_chain(config.name, table)
    builtin = dict((t, b) for t, b, _s in IPT_TABLES)[table]
    return (["-N %s" % chain, ipt_line(builtin, ipt_jump_tokens(config.name, chain))]
            + [ipt_line(chain, r) for r in rules])


def ipt_plan_table(config, table, own, wanted_rules):
    """``iptables-restore --noflush`` lines (without ``*table`` / COMMIT) that
    make OWN what WANTED_RULES says; [] when it already is."""
    chain = own.chain
    builtin = dict((t, b) for t, b, _s in IPT_TABLES)[table]
    lines = []
    if wanted_rules is None:
        if not own.exists and not own.jumps:
            return []
        lines.extend("-D" + raw[2:] for _c, _t, raw in own.jumps)
        if own.exists:
            lines.append(":%s - [0:0]" % chain)     # flushes it
            lines.append("-X %s" % chain)
        return lines
    jump = ipt_jump_tokens(config.name, chain)
    if not own.exists or [t for t, _r in own.rules] != list(wanted_rules):
        lines.append(":%s - [0:0]" % chain)
        lines.extend(ipt_line(chain, r) for r in wanted_rules)
    kept = False
    for c, tokens, raw in own.jumps:
        if not kept and c == builtin and tokens == jump:
            kept = True
            continue
        lines.append("-D" + raw[2:])
    if not kept:
        lines.append("-I %s 1 %s" % (builtin, ipt_line(builtin, jump)[len("-A %s " % builtin):]))
    return lines


def restore_input(sections):
    """``iptables-restore`` input from ``[(table, lines)]``."""
    out = []
    for table, lines in sections:
        if not lines:
            continue
        for line in lines:
            if "\n" in line or "\r" in line:
                raise ValueError("refusing a restore line with a line break: %r" % line)
        out.append("*%s" % table)
        out.extend(lines)
        out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


# --------------------------------------------------------------------------
# reporting


def _nft_items(text):
    """``[(context, line)]`` of a canonical nft table text."""
    out = []
    context = None
    for line in text.splitlines()[1:-1]:
        stripped = line.strip()
        if line.startswith("\tchain "):
            context = "chain " + stripped[len("chain "):-2].strip()
            out.append((context, "(chain)"))
        elif stripped == "}":
            context = None
        else:
            out.append((context or "table", stripped))
    return out


def _line_drift(context, before, after):
    """``unexpected``/``missing`` lines of two line lists, or an order note."""
    bs, as_ = set(before), set(after)
    prefix = context + ": " if context else ""
    out = ["%sunexpected: %s" % (prefix, x) for x in before if x not in as_]
    out.extend("%smissing: %s" % (prefix, x) for x in after if x not in bs)
    if not out and before != after:
        out.append("%srules are in another order or repeated" % prefix)
    return out


def nft_drift(name, before, after):
    """What differs between two canonical texts of table ``inet NAME``."""
    what = "table %s %s" % (NFT_FAMILY, name)
    if before == after:
        return []
    if before is None:
        return ["missing: " + what]
    if after is None:
        return ["unexpected: " + what]
    b, a = _nft_items(before), _nft_items(after)
    out = []
    for context in sorted(set(c for c, _l in b + a)):
        bl = [line for c, line in b if c == context]
        al = [line for c, line in a if c == context]
        if context != "table" and not al:
            out.append("unexpected: %s %s" % (what, context))
        elif context != "table" and not bl:
            out.append("missing: %s %s" % (what, context))
        else:
            out.extend(_line_drift("%s %s" % (what, context), bl, al))
    return out or ["%s: the listing differs" % what]


def ipt_drift(header, before, after):
    """What differs in one iptables family/table (canonical lines)."""
    if before == after:
        return []
    return _line_drift(header, before, after)

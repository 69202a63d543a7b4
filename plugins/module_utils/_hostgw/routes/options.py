# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The wanted routes: the ``routes`` input (dicts, or ``ip route`` lines)
and the ``tables`` input, validated into ``model.Route`` objects.

Every problem is one sentence (``names.problem``: ``key 'value' predicate``)
that starts with ``routes[INDEX]`` or ``tables[INDEX]``; every bad entry is
reported, and nothing is ever fixed silently.  Prefixes, addresses and
interface names follow the collection's one rule for each (``names``).

Hot path: 10 000 routes.  Next hops and devices repeat, so each distinct one
is checked once; canonical IPv4 text never reaches ``ipaddress``.
"""

import ipaddress

from .. import names
from ..errors import Problems
from .model import (DEFAULT_DEST, DEFAULT_METRIC, FAMILY_OF_VERSION, IPV6, MAIN_TABLE, MAX_U32,
                    TABLE_BY_NAME, Route, table_name)

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

LINE_VALUE_WORDS = frozenset(("via", "dev", "metric", "table", "src"))
LINE_WORD_ALIASES = {"to": None, "gw": "via", "oif": "dev", "preference": "metric", "priority": "metric"}

_CONTROL = "contains a control character (newline or similar)"
_TRUE = frozenset(("yes", "on", "1", "true", "y", "t"))
_FALSE = frozenset(("no", "off", "0", "false", "n", "f", ""))


def parse_table(value, key="table"):
    """``(table_number, problem)``; names main/local/default or 1..2^32-1."""
    if isinstance(value, str) and value in TABLE_BY_NAME:
        return TABLE_BY_NAME[value], None
    if isinstance(value, str) and value.isdigit() and value.isascii():
        n = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str):
        return None, names.problem(key, value, "must be a number 1..%d or one of main, local, "
                                               "default (names from rt_tables are not resolved)"
                                   % MAX_U32)
    else:
        return None, names.problem(key, value, "must be a number or main/local/default")
    if not 1 <= n <= MAX_U32:
        return None, names.problem(key, value, "is out of range 1..%d (0 means unspecified)" % MAX_U32)
    return n, None


def parse_metric(value, key="metric"):
    """``(metric, problem)``: an integer 0..2^32-1 (or its digits)."""
    n = value
    if isinstance(value, str) and value.isdigit() and value.isascii():
        n = int(value)
    if isinstance(n, bool) or not isinstance(n, int):
        return None, names.problem(key, value, "must be an integer 0..%d" % MAX_U32)
    if not 0 <= n <= MAX_U32:
        return None, names.problem(key, value, "is out of range 0..%d" % MAX_U32)
    return n, None


def parse_bool(value, key):
    """``(bool, problem)``; None is False; Ansible's yes/no spellings."""
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
    return None, names.problem(key, value, "must be a boolean")


def parse_route_line(text):
    """``"DEST [via GW] [dev DEV] [metric N] [table T] [src S] [onlink]"`` as a
    route dict, the compact form of a ``routes`` entry (``ip route`` syntax).

    Returns ``(dict, problem)``.  Only the words above are understood;
    anything else is a problem naming it, never ignored.
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
            return None, "unknown word %s; %s" % (
                names.show(word), "write %s" % hint if hint else
                "a route line takes via, dev, metric, table, src, onlink")
        if i + 1 >= len(words):
            return None, "%s needs a value" % word
        if word in entry:
            return None, "%s given twice" % word
        entry[word] = words[i + 1]
        i += 2
    return entry, None


def _address(value, key, cache):
    """``(family, canonical, problem)`` for a via or src, each distinct value
    parsed once."""
    hit = cache.get(value) if value.__class__ is str else None
    if hit is None:
        version, canon, why = names.parse_ip(value)
        hit = (FAMILY_OF_VERSION.get(version), canon,
               names.problem(key, value, why) if why else None)
        if value.__class__ is str:
            cache[value] = hit
    return hit


def _family_mismatch(key, value, fam, dest, dest_fam):
    return names.problem(key, value, "is an %s address, but dest %s is an %s prefix"
                         % (_fam(fam), names.show(dest), _fam(dest_fam)))


def _fam(family):
    return "IPv6" if family == IPV6 else "IPv4"


def validate_routes(entries, default_state="present", default_table=MAIN_TABLE):
    """Validate the ``routes`` input.

    Returns ``(routes, problems)``: a list of ``Route`` (with ``index``, the
    entry's position) and a ``Problems`` list, each sentence starting with
    ``routes[INDEX]``.  If there are problems, ``routes`` must not be used.
    A route with state absent and no metric matches any metric
    (``any_metric``).
    """
    routes = []
    problems = Problems()
    if entries is None:
        return routes, problems
    if not isinstance(entries, list):
        problems.append("routes must be a list of route dicts or route lines, got %s"
                        % type(entries).__name__)
        return routes, problems
    seen = {}
    seen_dest = {}
    parse_prefix = names.parse_prefix
    parse_ip = names.parse_ip
    control = names.CONTROL.search
    good_devs = set()
    via_cache = {}
    src_cache = {}
    for i, e in enumerate(entries):
        if e.__class__ is str:
            if control(e):
                problems.append("routes[%d]: %s" % (i, names.problem("route line", e, _CONTROL)))
                continue
            e, why = parse_route_line(e)
            if why:
                problems.append("routes[%d]: %s" % (i, why))
                continue
        elif not isinstance(e, dict):
            problems.append("routes[%d]: %s is neither a route dict nor a route line"
                            % (i, names.show(e)))
            continue
        errs = []
        if len(e) > 8 or not ROUTE_KEYS.issuperset(e):
            for k in sorted(set(e) - ROUTE_KEYS, key=str):
                hint = KEY_HINTS.get(str(k).lower())
                errs.append("unknown key %s%s" % (names.show(k),
                                                  "; did you mean %s?" % hint if hint else ""))
        has_control = False
        for v in e.values():
            if v.__class__ is str and control(v):
                has_control = True
                break
        if has_control:
            errs.extend(names.problem(k, v, _CONTROL) for k, v in e.items()
                        if isinstance(v, str) and control(v))
            problems.extend("routes[%d]: %s" % (i, m) for m in errs)
            continue

        state = e.get("state")
        if state is None:
            state = default_state
        elif state not in STATES:
            errs.append(names.problem("state", state, "must be present or absent"))

        dest = e.get("dest")
        family = canon = None
        if dest is None:
            errs.append("dest is required")
        elif dest == "default":
            canon = "default"
        else:
            version, canon, why = parse_prefix(dest)
            if why:
                errs.append(names.problem("dest", dest, why))
            else:
                family = FAMILY_OF_VERSION[version]

        given_via = via = e.get("via")
        if via is not None:
            hit = via_cache.get(via) if via.__class__ is str else None
            if hit is None:        # inline: the next hops of 10 000 peers all differ
                version, canon_via, why = parse_ip(via)
                hit = (FAMILY_OF_VERSION.get(version), canon_via,
                       names.problem("via", via, why) if why else None)
                if via.__class__ is str:
                    via_cache[via] = hit
            vfam, via, why = hit
            if why:
                errs.append(why)
            elif canon == "default":
                family = vfam
                canon = DEFAULT_DEST[vfam]
            elif family is not None and vfam != family:
                errs.append(_family_mismatch("via", given_via, vfam, dest, family))
        if canon == "default" and family is None:
            errs.append("dest 'default' needs a family: give via, or write 0.0.0.0/0 or ::/0")

        src = e.get("src")
        if src is not None:
            sfam, canon_src, why = _address(src, "src", src_cache)
            if why:
                errs.append(why)
            elif family is not None and sfam != family:
                errs.append(_family_mismatch("src", src, sfam, dest, family))
            src = canon_src

        dev = e.get("dev")
        if dev is not None and (dev.__class__ is not str or dev not in good_devs):
            why = names.ifname_problem(dev)
            if why:
                errs.append(names.problem("dev", dev, why))
            else:
                good_devs.add(dev)

        metric = e.get("metric")
        any_metric = False
        if metric is None:
            any_metric = state == "absent"
            metric = DEFAULT_METRIC.get(family, 0)
        else:
            metric, why = parse_metric(metric)
            if why:
                errs.append(why)
            elif metric == 0 and family == IPV6:
                metric = 1024

        table = e.get("table")
        if table is None:
            table = default_table
        else:
            table, why = parse_table(table)
            if why:
                errs.append(why)

        onlink, why = parse_bool(e.get("onlink"), "onlink")
        if why:
            errs.append(why)

        if state == "present" and via is None and dev is None and not errs:
            errs.append("a present route needs via (gateway route) or dev (direct route)")
        if via is not None and dev is None and family == IPV6 and \
                via[:2] == "fe" and ipaddress.IPv6Address(via).is_link_local:
            errs.append(names.problem("via", given_via, "is link-local; give dev too"))
        if onlink and via is None and not errs:
            errs.append("onlink needs via")

        if errs:
            problems.extend("routes[%d]: %s" % (i, m) for m in errs)
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
            problems.append("routes[%d] and routes[%d] both define %s (%s, %s); an identity "
                            "(family, table, dest, metric) may appear only once"
                            % (other.index, i, what, other.state, state))
            continue
        seen[r.key] = r
        if r.dest_key not in seen_dest or r.any_metric:
            seen_dest[r.dest_key] = r
        routes.append(r)
    return routes, problems


def validate_tables(values):
    """``(set_of_table_numbers, problems)`` for the ``tables`` input."""
    tables = set()
    problems = Problems()
    for i, v in enumerate(values or ()):
        if isinstance(v, str) and names.CONTROL.search(v):
            problems.append("tables[%d]: %s" % (i, names.problem("table", v, _CONTROL)))
            continue
        t, why = parse_table(v)
        if why:
            problems.append("tables[%d]: %s" % (i, why))
        else:
            tables.add(t)
    return tables, problems

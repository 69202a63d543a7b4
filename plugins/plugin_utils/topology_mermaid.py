# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The topology (topology_model.build) as a Mermaid flowchart.

Mermaid lays it out itself.  Node ids are generated (``h0``, ``h1``, ...);
every label is quoted, with the characters Mermaid, HTML or a Markdown fence
would read as markup written as Mermaid entity codes (``#35;``), so a host
name from the inventory is shown, never interpreted.

- ``full`` form: one node per host (name, underlay, bridge and pod subnets),
  one labelled link per route from its holder to its peer (``-->`` IPv4,
  ``-.->`` IPv6), coloured with ``linkStyle`` by reachability.
- ``table`` and ``summary`` forms: no links; each node lists its routes (or
  their count and the failed ones), and invisible links (``~~~``) stack the
  nodes into columns so the chart is a grid, not one long row.
- With results, every route label starts with a mark: ``✓`` reached,
  ``✗`` failed, ``?`` untested.  Nodes are classed by their worst route.
"""

import math
import re

from ansible_collections.podnet.hostgw.plugins.plugin_utils import topology_model as tm

COLOUR = {tm.REACHED: "#2e7d32", tm.FAILED: "#c62828", tm.UNTESTED: "#9e9e9e"}
MARK = {tm.REACHED: "\u2713", tm.FAILED: "\u2717", tm.UNTESTED: "?"}
# Escaped first: '#' starts every entity code written after it.
_ESCAPES = [("#", "#35;"), ('"', "#34;"), ("<", "#60;"), (">", "#62;"), ("&", "#38;"), ("`", "#96;"),
            ("|", "#124;")]
_CONTROL = re.compile("[\x00-\x1f\x7f\u2028\u2029]")


def label_text(value):
    """VALUE as text inside a quoted Mermaid label."""
    out = _CONTROL.sub(" ", str(value))
    for char, code in _ESCAPES:
        out = out.replace(char, code)
    return out


def _mark(topo, state):
    return MARK[state] + " " if topo["tested"] else ""


def node_label(topo, host):
    lines = [host["name"]]
    lines += ["%s %s" % (host["interface"] or "?", ip) for _v, ip in host["addresses"]]
    lines += ["%s %s gw %s" % (host["bridge"], subnet, gw) for _v, subnet, gw in host["subnets"]]
    if topo["form"] != "full":
        lines += [(_mark(topo, state) if state else "") + line for line, state, _route in tm.route_rows(host, topo["form"])]
    return "<br/>".join(label_text(line) for line in lines)


def node_state(host):
    c = host["counts"]
    if c[tm.FAILED]:
        return tm.FAILED
    return tm.REACHED if c[tm.REACHED] and not c[tm.UNTESTED] else tm.UNTESTED


def mermaid(topo):
    hosts = topo["hosts"]
    ids = dict((h["name"], "h%d" % i) for i, h in enumerate(hosts))
    out = ["flowchart LR" if topo["form"] == "full" else "flowchart TB",
           "%% podnet.hostgw topology: cluster " + " + ".join(topo["cidrs"]),
           "%% " + ("reachability from verify.yml" + (" at " + topo["results_time"] if topo["results_time"] else "")
                    if topo["tested"] else "no verify.yml results: every route untested")]
    for state, colour in sorted(COLOUR.items()):
        out.append("classDef %s stroke:%s,stroke-width:2px" % (state, colour))
    for host in hosts:
        out.append('%s["%s"]:::%s' % (ids[host["name"]], node_label(topo, host), node_state(host)))
    if topo["form"] == "full":
        by_state = dict((s, []) for s in tm.STATES)
        for i, route in enumerate(topo["routes"]):
            out.append('%s %s|"%s"| %s' % (ids[route["holder"]], "-->" if route["family"] == 4 else "-.->",
                                           label_text(_mark(topo, route["state"]) + "%s via %s" % (
                                               route["dest"], route["via"])), ids[route["peer"]]))
            by_state[route["state"]].append(str(i))
        for state in tm.STATES:
            if by_state[state]:
                out.append("linkStyle %s stroke:%s,stroke-width:2px" % (",".join(by_state[state]), COLOUR[state]))
    else:
        cols = max(1, int(math.ceil(math.sqrt(len(hosts)))))
        for i in range(cols, len(hosts)):
            out.append("%s ~~~ %s" % (ids[hosts[i - cols]["name"]], ids[hosts[i]["name"]]))
    return "\n".join(out) + "\n"

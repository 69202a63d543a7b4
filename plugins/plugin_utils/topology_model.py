# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the topology pictures show, computed once from the cluster plan and
verify.yml's reachability results; the SVG and Mermaid writers only draw it.

The form depends on the cluster's size (one place for the thresholds):

- ``full`` (up to FULL_MAX_HOSTS hosts): every route is also an arrow from
  the host that holds it to the peer it leads to;
- ``table`` (up to TABLE_MAX_HOSTS): no arrows (N*(N-1) of them would be a
  blur); each host lists its routes, each line marked by its reachability;
- ``summary`` (beyond): each host counts its routes by reachability and lists
  only the failed ones (at most SUMMARY_LINES), so the picture stays small.
"""

import re

from ansible_collections.podnet.hostgw.plugins.module_utils import cluster

FULL_MAX_HOSTS = 12
TABLE_MAX_HOSTS = 50
SUMMARY_LINES = 8

REACHED, FAILED, UNTESTED = "reached", "failed", "untested"
STATES = (REACHED, FAILED, UNTESTED)
RESULTS_KIND = "podnet.hostgw verify results"


class TopologyError(ValueError):
    """The plan or the results are not what the pictures need."""


def reachability(hosts, ping_results, time=""):
    """verify.yml's registered ping loops (one per host of HOSTS) as the
    results document: ``{kind, time, pings: [{from, to, family, ip, reached}]}``.
    Pings that did not run (check mode) are left out."""
    pings = []
    for src, result in zip(hosts, ping_results):
        for r in (result or {}).get("results") or []:
            item = r.get("item") or {}
            if r.get("skipped") or "rc" not in r or not item.get("host"):
                continue
            pings.append({"from": str(src), "to": str(item["host"]), "family": int(item["family"]),
                          "ip": str(item["ip"]), "reached": r["rc"] == 0})
    return {"kind": RESULTS_KIND, "time": str(time or ""), "pings": pings}


def _pings(results):
    """{(from, to, family): ping} of a results document; {} for none."""
    if not results:
        return {}
    if not isinstance(results, dict) or results.get("kind") != RESULTS_KIND \
            or not isinstance(results.get("pings"), list):
        raise TopologyError("the reachability results are not a '%s' document (from verify.yml)" % RESULTS_KIND)
    found = {}
    for p in results["pings"]:
        try:
            found[(p["from"], p["to"], int(p["family"]))] = p
        except (KeyError, TypeError, ValueError):
            raise TopologyError("a ping in the reachability results lacks from, to or family: %r" % (p,))
    return found


def natural(name):
    """Sort key that puts host2 before host10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", str(name))]


def form_for(count):
    if count <= FULL_MAX_HOSTS:
        return "full"
    return "table" if count <= TABLE_MAX_HOSTS else "summary"


def _family(prefix):
    return 6 if ":" in prefix else 4


def _host(node):
    return {
        "name": node["name"],
        "interface": node["interface"] or "",
        "bridge": node["bridge"],
        "addresses": [(v, node["node_ip" + cluster.SUFFIX[v]]) for v in cluster.FAMILIES
                      if node["node_ip" + cluster.SUFFIX[v]]],
        "subnets": [(v, node["pod_subnet" + cluster.SUFFIX[v]], node["gateway" + cluster.SUFFIX[v]].split("/")[0])
                    for v in cluster.FAMILIES if node["pod_subnet" + cluster.SUFFIX[v]]],
    }


class _Routes:
    """The plan's routes and what verify.yml saw of them.  A ping counts
    only if it went to the test address the plan gives its peer now: results
    of an older topology leave the route untested."""

    def __init__(self, plan_routes, pings):
        self.plan_routes = plan_routes
        self.by_peer = dict(((r["owner"], _family(r["dest"])), r) for r in plan_routes)
        self.test_ip = dict((r["dest"], cluster.test_address(r["dest"])) for r in plan_routes)
        self.own = {}
        for r in plan_routes:
            self.own[r["owner"]] = self.own.get(r["owner"], 0) + 1
        self.pings = pings
        self.pings_from = {}
        for key, ping in pings.items():
            self.pings_from.setdefault(key[0], []).append(ping)

    def state(self, ping, dest):
        if ping is None or ping.get("ip") != self.test_ip[dest]:
            return UNTESTED
        return REACHED if ping.get("reached") else FAILED

    def route(self, host, r, state):
        return {"holder": host["name"], "peer": r["owner"], "family": _family(r["dest"]), "dest": r["dest"],
                "via": r["via"], "dev": host["interface"], "state": state}

    def every(self, host):
        """HOST's routes, each with its state."""
        out = []
        for r in self.plan_routes:
            if r["owner"] != host["name"]:
                family = _family(r["dest"])
                out.append(self.route(host, r, self.state(self.pings.get((host["name"], r["owner"], family)),
                                                          r["dest"])))
        return out

    def tally(self, host):
        """({state: count}, failed routes) of HOST's routes, at the cost of
        its pings, not of its routes: the summary form of thousands of hosts
        never lists N*N routes."""
        total = len(self.plan_routes) - self.own.get(host["name"], 0)
        tally, failed = dict((s, 0) for s in STATES), []
        for ping in self.pings_from.get(host["name"], []):
            r = self.by_peer.get((ping["to"], int(ping["family"])))
            if r is None or r["owner"] == host["name"]:
                continue
            state = self.state(ping, r["dest"])
            tally[state] += 1
            if state == FAILED:
                failed.append(self.route(host, r, state))
        tally[UNTESTED] = total - tally[REACHED] - tally[FAILED]
        failed.sort(key=lambda x: (x["family"], natural(x["peer"])))
        return tally, failed


def build(plan, results=None):
    """The topology: ``{cidrs, bridge, hosts, routes, route_count, form,
    families, tested, results_time}``; hosts in natural name order, each with
    ``counts`` ({state: n}) and ``routes``: all of them, but in the summary
    form only the failed ones (``routes`` of the topology is then empty)."""
    try:
        nodes, settings = plan["nodes"], plan["cluster"]
        known = _Routes(plan["routes"], _pings(results))
        form = form_for(len(nodes))
        hosts, routes = [], []
        for name in sorted(nodes, key=natural):
            host = _host(dict(nodes[name], name=name))
            if form == "summary":
                host["counts"], host["routes"] = known.tally(host)
            else:
                host["routes"] = known.every(host)
                host["counts"] = counts(host["routes"])
                routes += host["routes"]
            hosts.append(host)
        cidrs = [c for c in (settings["cluster_cidr"], settings["cluster_cidr_v6"]) if c]
        families = sorted({_family(r["dest"]) for r in plan["routes"]})
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise TopologyError("expected the cluster plan (hostgw_plan): %s" % exc)
    return {
        "cidrs": cidrs,
        "bridge": settings["bridge"],
        "hosts": hosts,
        "routes": routes,
        "route_count": sum(sum(h["counts"].values()) for h in hosts),
        "form": form,
        "families": families,
        "tested": bool(known.pings),
        "results_time": (results or {}).get("time") or "",
    }


def route_text(route):
    return "%s via %s dev %s" % (route["dest"], route["via"], route["dev"])


def counts(routes):
    """{state: how many} over ROUTES."""
    out = dict((s, 0) for s in STATES)
    for r in routes:
        out[r["state"]] += 1
    return out


def route_rows(host, form):
    """The lines a host's box lists under its routes, as ``(text, state,
    route)``: every route (full and table forms), or a count and the failed
    routes (summary form; state and route are None on the other lines)."""
    if form != "summary":
        return [(route_text(r), r["state"], r) for r in host["routes"]]
    c = host["counts"]
    rows = [("%d routes: %d reached, %d failed, %d untested" % (
        sum(c.values()), c[REACHED], c[FAILED], c[UNTESTED]), None, None)]
    failed = host["routes"]
    rows += [(route_text(r), FAILED, r) for r in failed[:SUMMARY_LINES]]
    if len(failed) > SUMMARY_LINES:
        rows.append(("... and %d more failed" % (len(failed) - SUMMARY_LINES), None, None))
    return rows

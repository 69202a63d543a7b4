# SPDX-License-Identifier: GPL-3.0-or-later
"""How long the controller takes to plan a cluster and to build every host's
route list, and how much memory, against the naive way a user would write it.

    make bench-plan                                    # 100, 1 000, 5 000, 10 000 hosts (some 10 min)
    .venv/bin/python bench/plan_bench.py --sizes 100,1000 --no-publish
    .venv/bin/python bench/plan_bench.py --from-json bench/results/plan-latest.json

``cluster.plan`` runs on synthetic ``node_info`` results (each host on one
/16 underlay, its recorded /24, and, "with route evidence", the N-1 peer
routes it holds in node_info's compact form):

* ``fresh``: no host has a record; every subnet is allocated.
* ``converged``: every host has its record (a re-run), no route evidence.
* ``converged + routes``: the same with each host's N-1 peer routes.

Plan time is the best of ``--repeat`` runs, CPU and wall; tracemalloc's peak
is from one more run (the inputs excluded).  Each host's route strings are
its own objects, as Ansible hands them over, up to ``--distinct-max`` hosts;
above that they are shared (10 000 hosts' own strings would take some 8 GB).

Every host's route list is built three ways: the routes role's expression
``{{ hostgw_plan | podnet.hostgw.hostgw_peer_route_lines(inventory_hostname) }}``
rendered by Ansible's Templar (as the task's arguments are), the same filter
called directly (the Python alone), and the naive way: a Jinja loop over
``hostvars`` (NAIVE_TEMPLATE) rendered by Ansible's Templar and by plain
jinja2, over synthetic hostvars holding ``pod_subnet`` and ``ansible_host``
(real hostvars hold more and are lazier: a lower bound).  Every host's list
is built, or the first hosts' within ``--budget`` seconds, and the total is
then that mean per host times N (marked extrapolated).  The lists must hold
the N-1 peers, and the naive list must equal the filter's.

Each measurement runs in a process of its own, so its peak RSS
(``ru_maxrss``) is its own; "work" is that peak minus the RSS once the inputs
were built.  Nothing here touches a host.  A full run writes its results
under bench/results/ and its section of BENCHMARKS.md.
"""

import argparse
import datetime
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results")
sys.path.insert(0, BENCH)

from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder  # noqa: E402

_AnsibleCollectionFinder(paths=[os.path.join(REPO, "collections")])._install()

from ansible_collections.podnet.hostgw.plugins.module_utils import cluster  # noqa: E402
from ansible_collections.podnet.hostgw.plugins.filter import hostgw as filters  # noqa: E402

import benchmarks_md  # noqa: E402

DEFAULT_SIZES = (100, 1000, 5000, 10000)
CLUSTER_CIDR = "100.64.0.0/10"   # 16 384 blocks of /24
SETTINGS = {"cluster_cidr": CLUSTER_CIDR, "subnet_prefix": 24, "record_path": "/etc/podnet/hostgw.json",
            "sysctl_file": "/etc/sysctl.d/60-podnet-hostgw.conf"}
TARGET_HOSTS = 5000
TARGET_S = 2.0
ROLE_EXPRESSION = "{{ hostgw_plan | podnet.hostgw.hostgw_peer_route_lines(inventory_hostname) }}"
NAIVE_TEMPLATE = ("{% for h in groups['all'] if h != inventory_hostname %}"
                  "{{ hostvars[h].pod_subnet }} via {{ hostvars[h].ansible_host }}\n{% endfor %}")


def node_ip(i):
    return "10.168.%d.%d" % (i // 250, i % 250 + 1)


def pod_subnet(i):
    return "100.%d.%d.0/24" % (64 + i // 256, i % 256)


def info(i, recorded, routes, distinct):
    result = {
        "interfaces": {
            "lo": {"mtu": 65536, "up": True, "kind": "", "master": "", "addresses": ["127.0.0.1/8", "::1/128"]},
            "eth0": {"mtu": 1500, "up": True, "kind": "veth", "master": "", "addresses": [node_ip(i) + "/16"]},
            "cni0": {"mtu": 1500, "up": True, "kind": "bridge", "master": "",
                     "addresses": [pod_subnet(i).replace(".0/24", ".1/24")] if recorded else []},
        },
        "connected": [{"dest": "10.168.0.0/16", "dev": "eth0"}],
        "default": {"4": {"dev": "eth0", "gateway": "10.168.255.254", "src": ""}},
        "recorded": {"pod_subnet": pod_subnet(i), "pod_subnet_v6": "", "node_ip": node_ip(i)} if recorded else {},
        "record_problem": "",
        "files": {SETTINGS["sysctl_file"]: {"exists": recorded, "regular": recorded, "ours": recorded}},
        "cluster_routes": [],
    }
    if routes is not None:
        to = routes[:i] + routes[i + 1:]
        result["cluster_routes"] = [{"proto": "hostgw", "dev": "eth0", "metric": 0, "type": "unicast",
                                     "to": json.loads(json.dumps(to)) if distinct else to}]
    return result


def hosts(n, recorded, with_routes, distinct=True):
    routes = ["%s %s" % (pod_subnet(i), node_ip(i)) for i in range(n)] if with_routes else None
    return [{"name": "node%05d" % i, "pod_subnet": None, "pod_subnet_v6": None, "node_ip": None,
             "node_ip_v6": None, "interface": None, "ansible_host": "node%05d" % i,
             "info": info(i, recorded, routes, distinct)} for i in range(n)]


def timed(the_hosts, repeat):
    """(best CPU seconds, best wall seconds, the plan)."""
    cpu = wall = None
    for _round in range(repeat):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        the_plan, problems = cluster.plan(the_hosts, SETTINGS)
        used, elapsed = time.process_time() - start_cpu, time.perf_counter() - start
        assert not problems, problems[:3]
        cpu = used if cpu is None else min(cpu, used)
        wall = elapsed if wall is None else min(wall, elapsed)
    return cpu, wall, the_plan


def peak(the_hosts):
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    cluster.plan(the_hosts, SETTINGS)
    _current, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top


ROWS = (("fresh", False, False), ("converged", True, False), ("converged + routes", True, True))
# route-list methods: id -> label
LISTS = (("role", "the routes role: `hostgw_peer_route_lines` through Ansible's Templar"),
         ("filter", "the same filter called directly (Python only)"),
         ("naive_templar", "naive: Jinja loop over `hostvars`, Ansible's Templar"),
         ("naive_jinja2", "naive: the same loop, plain jinja2"))


def say(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def rss_mib():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2.0 ** 20


def maxrss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------ children --

def child_plan(n, case, repeat, distinct_max):
    """One plan case at N hosts."""
    label, recorded, with_routes = next(r for r in ROWS if r[0] == case)
    distinct = n <= distinct_max
    the_hosts = hosts(n, recorded, with_routes, distinct)
    inputs = rss_mib()
    cpu, wall, the_plan = timed(the_hosts, repeat)
    assert len(the_plan["routes"]) == n and the_plan["complete"]
    return {"hosts": n, "case": label, "shared_strings": with_routes and not distinct, "cpu_s": cpu, "wall_s": wall,
            "trace_peak_mib": peak(the_hosts) / 2.0 ** 20, "inputs_rss_mib": inputs, "maxrss_mib": maxrss_mib(),
            "result_bytes": len(json.dumps(the_hosts[n // 2]["info"], separators=(",", ":")))}


def naive_hostvars(n):
    names = ["node%05d" % i for i in range(n)]
    return names, dict((name, {"pod_subnet": pod_subnet(i), "ansible_host": node_ip(i)}) for i, name in enumerate(names))


def list_builder(method, n):
    """(names, build(name) -> that host's route lines, what the inputs are)."""
    if method.startswith("naive"):
        names, hostvars = naive_hostvars(n)
        variables = {"hostvars": hostvars, "groups": {"all": names}}
    else:
        the_plan, problems = cluster.plan(hosts(n, True, False), SETTINGS)
        assert not problems, problems[:3]
        names = sorted(the_plan["nodes"])
    if method == "filter":
        return names, lambda name: filters.hostgw_peer_route_lines(the_plan, name)
    if method == "naive_jinja2":
        import jinja2
        template = jinja2.Environment().from_string(NAIVE_TEMPLATE)
        return names, lambda name: template.render(variables, inventory_hostname=name).splitlines()
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    loader = DataLoader()
    if method == "role":
        expression = trust_as_template(ROLE_EXPRESSION)
        return names, lambda name: Templar(loader=loader, variables={"hostgw_plan": the_plan, "inventory_hostname": name}).template(expression)
    template = trust_as_template(NAIVE_TEMPLATE)
    return names, lambda name: Templar(loader=loader, variables=dict(variables, inventory_hostname=name)).template(template).splitlines()


def child_lists(method, n, budget):
    """Every host's route list by METHOD, or the first hosts' within BUDGET seconds."""
    names, build = list_builder(method, n)
    inputs = rss_mib()
    build(names[-1])   # warm-up, not timed: plugin loading, first compiles
    gc.collect()
    done, cpu, wall, first = 0, 0.0, 0.0, None
    while done < n and (done < 2 or wall < budget):
        start, start_cpu = time.perf_counter(), time.process_time()
        lines = build(names[done])
        cpu += time.process_time() - start_cpu
        wall += time.perf_counter() - start
        assert len(lines) == n - 1, (method, names[done], len(lines))
        if first is None:
            first = sorted(line.split(" dev ")[0] for line in lines)
        done += 1
    return {"hosts": n, "method": method, "hosts_built": done, "extrapolated": done < n,
            "cpu_s": cpu / done * n, "wall_s": wall / done * n, "per_host_s": cpu / done,
            "inputs_rss_mib": inputs, "maxrss_mib": maxrss_mib(), "first_host": first}


def run_child(argv):
    p = subprocess.run([sys.executable, os.path.abspath(__file__)] + argv, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), p.stderr.strip()[-3000:]))
    return json.loads(p.stdout)


# ------------------------------------------------------------ measure --

def measure(sizes, repeat, distinct_max, budget):
    plans, lists = [], []
    for n in sizes:
        for case, _recorded, _routes in ROWS:
            r = run_child(["--child", "plan", "--case", case, "--hosts", str(n), "--repeat", str(repeat),
                           "--distinct-max", str(distinct_max)])
            plans.append(r)
            say("%6d hosts  plan, %-20s cpu %7.3f s  wall %7.3f s  traced peak %7.1f MiB  peak RSS %7.1f MiB"
                % (n, case, r["cpu_s"], r["wall_s"], r["trace_peak_mib"], r["maxrss_mib"]))
        firsts = {}
        for method, _label in LISTS:
            r = run_child(["--child", "lists", "--method", method, "--hosts", str(n), "--budget", str(budget)])
            firsts[method] = r.pop("first_host")
            lists.append(r)
            say("%6d hosts  lists, %-14s %8.2f s CPU%s (%d hosts built)  peak RSS %7.1f MiB"
                % (n, method, r["cpu_s"], " extrapolated" if r["extrapolated"] else "", r["hosts_built"], r["maxrss_mib"]))
        if len(set(json.dumps(f) for f in firsts.values())) != 1:
            raise RuntimeError("at %d hosts the methods built different route lists for the first host" % n)
    return {"plans": plans, "lists": lists}


# ------------------------------------------------------------- report --

def fmt_s(v):
    for limit, form, scale in ((100, "%.0f s", 1), (10, "%.1f s", 1), (0.1, "%.2f s", 1), (0.01, "%.0f ms", 1e3), (0.001, "%.1f ms", 1e3)):
        if v >= limit:
            return form % (v * scale)
    return "%.0f µs" % (v * 1e6)


def fmt_n(n):
    return "{:,}".format(n).replace(",", " ")


def _get(rows, n, key, value):
    return next((r for r in rows if r["hosts"] == n and r[key] == value), None)


def _total(res, n, method):
    """(plan converged + every host's list by METHOD, extrapolated); naive: the lists alone."""
    lst = _get(res["lists"], n, "method", method)
    if not lst:
        return None, False
    plan = 0.0 if method.startswith("naive") else _get(res["plans"], n, "case", "converged")["cpu_s"]
    return plan + lst["cpu_s"], lst["extrapolated"]


def _cell(value, extrapolated):
    return "-" if value is None else ("*≈%s (extrapolated)*" % fmt_s(value) if extrapolated else fmt_s(value))


def summary_rows(res):
    rows = []
    worst = max((r for r in res["plans"] if r["hosts"] == TARGET_HOSTS), key=lambda r: r["cpu_s"], default=None)
    if worst:
        rows.append(benchmarks_md.row("bench-plan", "`cluster.plan` at %s hosts (slowest case: %s)" % (fmt_n(TARGET_HOSTS), worst["case"]),
                                      "%s CPU, %s wall" % (fmt_s(worst["cpu_s"]), fmt_s(worst["wall_s"])),
                                      "%s (< %g s)" % ("met" if worst["cpu_s"] < TARGET_S else "**NOT met**", TARGET_S)))
    parts = []
    for n in (TARGET_HOSTS, max(r["hosts"] for r in res["lists"])):
        ours, oe = _total(res, n, "role")
        naive, ne = _total(res, n, "naive_templar")
        if ours and naive and n not in [p[0] for p in parts]:
            parts.append((n, "%s hosts: ours %s%s, naive %s%s (%.1f×)" % (
                fmt_n(n), fmt_s(ours), "*" if oe else "", fmt_s(naive), "*" if ne else "", naive / ours)))
    direct = _get(res["lists"], TARGET_HOSTS, "method", "filter")
    if parts and direct:
        rows.append(benchmarks_md.row(
            "bench-plan", "CPU of plan + every host's route list: the routes role (through Templar) / a naive Jinja loop over hostvars",
            "; ".join(text for _n, text in parts) + " (* extrapolated)",
            "only %.1f× better: templating the plan costs %.0f× the filter itself (%s at %s hosts)" % (
                _total(res, TARGET_HOSTS, "naive_templar")[0] / _total(res, TARGET_HOSTS, "role")[0],
                _get(res["lists"], TARGET_HOSTS, "method", "role")["cpu_s"] / direct["cpu_s"], fmt_s(direct["cpu_s"]),
                fmt_n(TARGET_HOSTS))))
    return rows


def section(res):
    meta, sizes = res["meta"], sorted(set(r["hosts"] for r in res["plans"]))
    L = ["## Controller: planning and route lists at 100 to 10 000 hosts (`make bench-plan`)", "",
         "`make bench-plan` (= `.venv/bin/python bench/plan_bench.py`) on %s, run time %.0f s; `--from-json "
         "bench/results/plan-latest.json` re-renders. Target: `cluster.plan` of %s hosts in under %g s." % (
             meta["date"], meta["seconds"], fmt_n(TARGET_HOSTS), TARGET_S), "",
         "### `cluster.plan`", "",
         "| hosts | case | CPU | wall | traced peak (plan) | peak RSS (process) | node_info per host |",
         "|---:|---|---:|---:|---:|---:|---:|"]
    for r in res["plans"]:
        L.append("| %s | %s%s | %s | %s | %.1f MiB | %.0f MiB | %s B |" % (
            fmt_n(r["hosts"]), r["case"], " (shared strings)" if r["shared_strings"] else "", fmt_s(r["cpu_s"]),
            fmt_s(r["wall_s"]), r["trace_peak_mib"], r["maxrss_mib"], fmt_n(r["result_bytes"])))
    L += ["", "### Every host's route list: the role against the naive Jinja loop", "",
          "CPU time to build every host's list, one host after the other in one process (Ansible spreads the "
          "hosts over its forks; the CPU is the same; wall time is in the results JSON). Peak RSS is the process's; work is the peak minus the RSS "
          "once the inputs (plan or hostvars) were built.", "",
          "| hosts | how | every host's list | a host | peak RSS | work |", "|---:|---|---:|---:|---:|---:|"]
    for n in sizes:
        for method, label in LISTS:
            r = _get(res["lists"], n, "method", method)
            if r:
                L.append("| %s | %s | %s | %s | %.0f MiB | %.0f MiB |" % (
                    fmt_n(n), label, _cell(r["cpu_s"], r["extrapolated"]), fmt_s(r["per_host_s"]), r["maxrss_mib"],
                    max(0.0, r["maxrss_mib"] - r["inputs_rss_mib"])))
    L += ["", "Side by side, CPU: *ours* is `cluster.plan` (converged) plus the role's lists; the naive loop has no plan "
          "(it assumes `pod_subnet` is set and checks nothing).", "",
          "| hosts | ours: plan + role's lists | naive loop, Templar | naive / ours |", "|---:|---:|---:|---:|"]
    for n in sizes:
        ours, oe = _total(res, n, "role")
        naive, ne = _total(res, n, "naive_templar")
        L.append("| %s | %s | %s | %s |" % (fmt_n(n), _cell(ours, oe), _cell(naive, ne),
                                            "%.1f×" % (naive / ours) if ours and naive else "-"))
    role, direct = _get(res["lists"], TARGET_HOSTS, "method", "role"), _get(res["lists"], TARGET_HOSTS, "method", "filter")
    if role and direct:
        L += ["", "At %s hosts the filter itself takes %s a host, the role's expression %s: %.0f %% of the role's cost is "
              "Ansible 2.19's lazy templating of `hostgw_plan` as the filter reads it (every route dict and string of "
              "the plan goes through the templar, some five `template()` calls a route), not the filter or the plan "
              "(`cluster.plan`: %s for the whole cluster). That is the lever: hand the filter the route table as one value "
              "(a single string, say), so the templar touches one value a host instead of thousands (not measured "
              "here)." % (
                  fmt_n(TARGET_HOSTS), fmt_s(direct["per_host_s"]), fmt_s(role["per_host_s"]),
                  100.0 * (1 - direct["cpu_s"] / role["cpu_s"]),
                  fmt_s(_get(res["plans"], TARGET_HOSTS, "case", "converged")["cpu_s"]))]
    L += ["", "The naive template, rendered for each host with `inventory_hostname` set:", "", "```jinja",
          NAIVE_TEMPLATE.replace("\n", "\\n"), "```", "",
          "Extrapolated cells: the first hosts' lists within the %g s budget, their mean per host times N (every "
          "host's list costs the same: N-1 peers)." % meta["budget"], "",
          "Machine: %s CPUs, kernel %s, Python %s, ansible-core %s; load average %s at the start, %s at the end. "
          "Each cell is its own process (`ru_maxrss`: its peak RSS; work: the peak minus the RSS once its inputs "
          "were built)." % (meta["nproc"], meta["kernel"], meta["python"], meta["ansible_core"], meta["load_before"],
                            meta["load_after"])]
    return "\n".join(L)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES),
                        help="comma-separated host counts")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (the best counts)")
    parser.add_argument("--distinct-max", type=int, default=5000,
                        help="largest cluster whose hosts get route strings of their own")
    parser.add_argument("--budget", type=float, default=20.0, help="wall seconds of list building per method and size")
    parser.add_argument("--no-publish", action="store_true", help="print the section; leave BENCHMARKS.md alone")
    parser.add_argument("--from-json", metavar="FILE", help="only re-render the section from saved results")
    parser.add_argument("--child", choices=("plan", "lists"), help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--hosts", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "plan":
        print(json.dumps(child_plan(args.hosts, args.case, args.repeat, args.distinct_max)))
        return 0
    if args.child == "lists":
        print(json.dumps(child_lists(args.method, args.hosts, args.budget)))
        return 0
    if args.from_json:
        with open(args.from_json) as fh:
            res = json.load(fh)
    else:
        t0, load = time.time(), "%.2f" % os.getloadavg()[0]
        res = measure([int(s) for s in args.sizes.split(",")], args.repeat, args.distinct_max, args.budget)
        from importlib.metadata import version
        res["meta"] = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                       "seconds": time.time() - t0, "budget": args.budget, "nproc": os.cpu_count(),
                       "kernel": platform.release(), "python": platform.python_version(),
                       "ansible_core": version("ansible-core"), "load_before": load,
                       "load_after": "%.2f" % os.getloadavg()[0]}
        os.makedirs(RESULTS, exist_ok=True)
        for name in ("plan-%s.json" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S"), "plan-latest.json"):
            with open(os.path.join(RESULTS, name), "w") as fh:
                json.dump(res, fh, indent=1)
    rows, text = summary_rows(res), section(res)
    if args.no_publish:
        print("\n".join(rows) + "\n\n" + text)
    else:
        benchmarks_md.publish("plan-bench", rows, text)
        say("wrote the plan section of BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

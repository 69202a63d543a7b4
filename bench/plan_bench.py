# SPDX-License-Identifier: GPL-3.0-or-later
"""How long the controller takes to plan a cluster, and how much memory.

Builds synthetic ``node_info`` results (each host on one /16 underlay, its
recorded /24, and, "with route evidence", the N-1 peer routes it holds in
node_info's compact form) and times ``cluster.plan`` on them:

    .venv/bin/python bench/plan_bench.py                  # 100, 1 000, 5 000, 10 000 hosts
    .venv/bin/python bench/plan_bench.py --sizes 100,1000 --repeat 3
    .venv/bin/python bench/plan_bench.py --json out.json

Rows:

* ``fresh``: no host has a record; every subnet is allocated.
* ``converged``: every host has its record (a re-run), no route evidence.
* ``converged + routes``: the same with each host's N-1 peer routes.

Time is the best of ``--repeat`` runs without tracing, as CPU time (what
the plan costs, whatever else the machine runs) and wall time; peak memory
is tracemalloc's peak during one more run (the inputs excluded).  Each
host's route strings are its own objects, as Ansible hands them over (one
JSON document per host), up to ``--distinct-max`` hosts; above that they are
shared between the synthetic hosts (hashing a shared string is cheaper, and
10 000 hosts' own strings would take some 8 GB).  ``result bytes`` says what
one host's node_info result weighs as JSON; times N for the whole cluster.
Nothing here touches a host.
"""

import argparse
import gc
import json
import os
import sys
import time
import tracemalloc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "collections"))

from ansible_collections.podnet.hostgw.plugins.module_utils import cluster  # noqa: E402

DEFAULT_SIZES = (100, 1000, 5000, 10000)
CLUSTER_CIDR = "100.64.0.0/10"   # 16 384 blocks of /24
SETTINGS = {"cluster_cidr": CLUSTER_CIDR, "subnet_prefix": 24, "record_path": "/etc/podnet/hostgw.json",
            "sysctl_file": "/etc/sysctl.d/60-podnet-hostgw.conf"}


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


def measure(n, repeat, distinct_max):
    out = []
    for label, recorded, with_routes in ROWS:
        distinct = n <= distinct_max
        the_hosts = hosts(n, recorded, with_routes, distinct)
        cpu, wall, the_plan = timed(the_hosts, repeat)
        assert len(the_plan["routes"]) == n and the_plan["complete"]
        result_bytes = len(json.dumps(the_hosts[n // 2]["info"], separators=(",", ":")))
        if with_routes and not distinct:
            label += " (shared strings)"
        row = {"hosts": n, "case": label, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
               "peak_mib": round(peak(the_hosts) / 2 ** 20, 1), "result_bytes": result_bytes,
               "routes_reported": n * (n - 1) if with_routes else 0}
        out.append(row)
        del the_hosts, the_plan
        say("%6d hosts  %-36s cpu %7.3f s  wall %7.3f s  peak %7.1f MiB  node_info %9d B/host (%.1f MiB in all)"
            % (n, label, cpu, wall, row["peak_mib"], result_bytes, result_bytes * n / 2 ** 20))
    return out


def say(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES),
                        help="comma-separated host counts")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (the best counts)")
    parser.add_argument("--distinct-max", type=int, default=5000,
                        help="largest cluster whose hosts get route strings of their own")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows.extend(measure(n, args.repeat, args.distinct_max))
    print("| hosts | case | plan (CPU) | plan (wall) | peak memory | node_info result per host |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in rows:
        print("| %d | %s | %.3f s | %.3f s | %.1f MiB | %s B |" % (
            r["hosts"], r["case"], r["cpu_s"], r["wall_s"], r["peak_mib"], format(r["result_bytes"], ",")))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()

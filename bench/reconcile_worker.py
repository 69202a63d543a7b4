# SPDX-License-Identifier: GPL-3.0-or-later
"""The measuring half of bench/reconcile_bench.py: runs INSIDE the benchmark
network namespace (``ip netns exec hgwb-... python reconcile_worker.py SPEC
OUT``), which reconcile_bench.py made and deletes.  It refuses to run in any
other namespace.

For each N it writes a state file of N peer routes (plus a bridge and an
nftables table) and times, with wall clock and the CPU time of the
processes involved (``getrusage(RUSAGE_CHILDREN)``, plus this process's own
for the in-process part of the flannel-style check):

  reconcile  the command as installed (``python -I`` script, the engine as
             the plain package podnet_hostgw, byte-code cached): a no-op on
             the converged namespace, and the repair of all N routes after
             ``ip route flush proto 252``
  floor      ``ip -batch -`` re-adding the same N routes (after the flush)
  flannel    a flannel-style check: one ``ip -json route show``, compare, and
             one ``ip route add`` process per missing route
  python     ``python -I -c pass`` (interpreter start, for scale)

After every sample the table is checked: exactly the N routes, tagged 252.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time

PROTO = "252"
DEV = "eth0"


def gateway(i):
    g = 2 + i
    return "172.16.%d.%d" % (g >> 8, g & 255)


def pod_subnet(i):
    return "10.%d.%d.0/24" % (i >> 8, i & 255)


def check_namespace(spec):
    here = os.stat("/proc/self/ns/net").st_ino
    if here == spec["origin_netns_inode"]:
        raise SystemExit("reconcile_worker: refusing to run in the namespace the bench started from")
    if here != os.stat(os.path.join("/run/netns", spec["netns"])).st_ino:
        raise SystemExit("reconcile_worker: not inside namespace %s" % spec["netns"])


def timed(argv, data=None, env=None):
    """``(wall, cpu, proc)`` of running ARGV to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, input=data, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def ip(*args, data=None):
    proc = subprocess.run(["ip"] + list(args), input=data, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), proc.stderr.strip()))
    return proc.stdout


def ours_now():
    return sorted(r["dst"] for r in json.loads(ip("-json", "route", "show", "table", "main"))
                  if str(r.get("protocol")) == PROTO)


class Bench(object):
    def __init__(self, spec, n):
        self.spec, self.n = spec, n
        sys.path.insert(0, spec["module_utils"])
        from _hostgw import state
        from _hostgw.routes import options
        self.dests = [pod_subnet(i) for i in range(n)]
        self.plain = ["%s via %s dev %s" % (pod_subnet(i), gateway(i), DEV) for i in range(n)]
        routes, problems = options.validate_routes(self.plain)
        assert not problems, problems[:3]
        sections = {
            "bridge": {"name": "cni0", "mtu": 1500, "addresses": ["10.255.0.1/24"]},
            "routes": {"protocol": "hostgw", "protocol_number": int(PROTO), "nexthop_objects": False,
                       "tables": ["main"], "routes": sorted(r.line() for r in routes)},
            "netfilter": {"name": "podnet_hostgw", "backend": "nftables", "iptables_variant": "auto",
                          "cluster_cidrs": ["10.0.0.0/8"], "forward": True, "masquerade": True},
        }
        state.write(spec["state_file"], sections)
        self.env = dict(os.environ, PODNET_HOSTGW_LOCK=spec["lock"], LC_ALL="C")
        self.want = sorted(self.dests)

    def flush(self):
        ip("route", "flush", "proto", PROTO)
        assert ours_now() == []

    def check(self):
        got = ours_now()
        assert got == self.want, "table holds %d of our routes, not %d" % (len(got), self.n)

    def reconcile(self, expect_lines):
        wall, cpu, proc = timed([self.spec["command"]], env=self.env)
        assert proc.returncode == 0 and proc.stderr == "", (proc.returncode, proc.stderr[-500:])
        lines = proc.stdout.splitlines()
        assert expect_lines is None or len(lines) == expect_lines, (len(lines), lines[:3])
        self.check()
        return wall, cpu

    def floor(self):
        data = "".join("route add %s proto %s\n" % (line, PROTO) for line in self.plain)
        wall, cpu, proc = timed(["ip", "-batch", "-"], data=data)
        assert proc.returncode == 0, proc.stderr[-500:]
        self.check()
        return wall, cpu

    def flannel(self):
        """List, compare, add each missing route with its own process."""
        own0 = time.process_time()
        wall0 = time.perf_counter()
        cpu = 0.0
        _w, c, proc = timed(["ip", "-json", "route", "show", "table", "main"])
        cpu += c
        have = set(r["dst"] for r in json.loads(proc.stdout) if str(r.get("protocol")) == PROTO)
        missing = [i for i, dest in enumerate(self.dests) if dest not in have]
        for i in missing:
            _w, c, proc = timed(["ip", "route", "add", pod_subnet(i), "via", gateway(i), "dev", DEV,
                                 "proto", PROTO])
            assert proc.returncode == 0, proc.stderr
            cpu += c
        wall = time.perf_counter() - wall0
        cpu += time.process_time() - own0
        self.check()
        return wall, cpu


def samples(fn, repeats, before=None):
    out = []
    for _run in range(repeats):
        if before:
            before()
        out.append(fn())
    return out


def summary(pairs):
    walls = [w for w, _c in pairs]
    cpus = [c for _w, c in pairs]
    return {"runs": len(pairs), "wall": statistics.median(walls), "wall_min": min(walls),
            "wall_max": max(walls), "cpu": statistics.median(cpus), "cpu_min": min(cpus),
            "cpu_max": max(cpus)}


def measure(spec, n):
    b = Bench(spec, n)
    repeats = spec["repeats"] if n < 10000 else max(3, spec["repeats"] // 2)
    slow = spec["repeats"] if n <= 100 else (3 if n <= 1000 else 1)
    b.flush()
    # First run: every route (and, at the first N, the bridge and the
    # nftables table); Python caches the byte-code.
    b.reconcile(expect_lines=None)
    b.reconcile(expect_lines=0)
    out = {
        "reconcile_noop": samples(lambda: b.reconcile(0), repeats),
        "reconcile_repair": samples(lambda: b.reconcile(n), repeats, before=b.flush),
        "floor_repair": samples(b.floor, repeats, before=b.flush),
        "flannel_noop": samples(b.flannel, repeats),
        "flannel_repair": samples(b.flannel, slow, before=b.flush),
    }
    return dict((k, summary(v)) for k, v in out.items())


def main():
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    check_namespace(spec)
    results = {"sizes": {}}
    startup = samples(lambda: timed([spec["python"], "-I", "-c", "pass"])[:2], spec["repeats"])
    results["python_startup"] = summary(startup)
    for n in spec["sizes"]:
        sys.stderr.write("    N = %d\n" % n)
        results["sizes"][str(n)] = measure(spec, n)
    with open(sys.argv[2], "w") as fh:
        json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()

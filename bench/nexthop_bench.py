# SPDX-License-Identifier: GPL-3.0-or-later
"""Plain peer routes against routes through nexthop objects on the kernel,
at N = 10 to 10 000 routes: where is the crossover, and should
``hostgw_route_nexthop_objects`` turn on by itself above some cluster size?

    make bench-nexthop                                     # about 5 min
    .venv/bin/python bench/nexthop_bench.py --sizes 10,100 --repeats 2 --no-publish
    .venv/bin/python bench/nexthop_bench.py --from-json bench/results/nexthop-latest.json

For each N and each mode (plain: ``route replace DEST via GW dev eth0``;
nexthop objects: ``nexthop add id I via GW dev eth0`` + ``route replace DEST
nhid I``, what ``ip_route`` writes with ``nexthop_objects: true``), in rounds
whose order alternates:

* kernel apply: one ``ip -force -batch -`` of the module's own lines on an
  empty table (the kernel's share of an apply);
* module apply and module no-op: the ``ip_route`` module process on an empty,
  then on the converged table (what a playbook run pays on the host);
* link flap: ``ip link set eth0 down`` with the N routes in place (the kernel
  drops every route and nexthop through the link: its cost is the time of
  that command) and ``up``; the repair after it is an apply from empty.

After every step the table must hold exactly what the step should leave.

Safety: everything happens inside one network namespace ``hgwb-<random>``
made here (bench/run.py's Namespace) and deleted at the end, also on error
or Ctrl-C; the measuring half (``--inside``) runs in it and checks that it
is.  The module's lock and protocol file go to a temporary directory.
Needs root.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results")
sys.path.insert(0, BENCH)

import benchmarks_md  # noqa: E402
import nsworker  # noqa: E402
import run as ip_route_bench  # noqa: E402  (its Namespace, run_worker, machine_info)

DEFAULT_SIZES = (10, 100, 1000, 2000, 5000, 10000)
MODES = (("plain", "plain routes"), ("nh", "nexthop objects"))
STEPS = (("kernel", "kernel apply: `ip -batch` from empty"), ("apply", "module apply from empty"),
         ("noop", "module no-op"), ("down", "link down: the kernel drops the N routes"))
say = ip_route_bench.say


# -------------------------------------------------------------- inside --

def add(samples, measured):
    """Keep the wall and CPU time of one nsworker.timed() measurement."""
    samples["wall"].append(measured[0])
    samples["cpu"].append(measured[1])


class Inside(object):
    """The measuring half, inside the namespace."""

    def __init__(self, spec):
        self.spec = spec
        self.box = nsworker.Box(spec)
        self.env = dict(os.environ, PYTHONPATH=spec["collections"], LC_ALL="C",
                        PODNET_HOSTGW_LOCK=os.path.join(spec["workdir"], "lock"))

    def module(self, args_file, changed):
        p = subprocess.run([self.spec["python"], "-m", nsworker.MODULE, args_file], capture_output=True, text=True,
                           env=self.env, cwd=self.spec["repo"], check=False)
        try:
            res = json.loads(p.stdout)
        except ValueError:
            raise RuntimeError("module printed no JSON (rc %s): %s" % (p.returncode, (p.stderr or p.stdout)[-2000:]))
        if p.returncode != 0 or res.get("failed"):
            raise RuntimeError("module failed: %s" % (res.get("msg") or p.stderr)[:2000])
        if changed is not None and res.get("changed") != changed:
            raise RuntimeError("module: expected changed=%s, got %s" % (changed, res.get("changed")))
        return res

    def args(self, n, mode, check=False):
        routes = [nsworker.route_line(r) for r in nsworker.make_routes(n)]
        args = {"routes": routes, "protos_dir": self.spec["protos_dir"], "nexthop_objects": mode == "nh"}
        if check:
            args["_ansible_check_mode"] = True
        path = os.path.join(self.spec["workdir"], "args-%d-%s%s.json" % (n, mode, "-check" if check else ""))
        with open(path, "w") as fh:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, fh)
        return path

    def verify(self, routes, mode, what):
        (self.box.verify_nh if mode == "nh" else self.box.verify)(routes, what)

    def link(self, state):
        self.box.run([self.spec["ip"], "link", "set", nsworker.DEV, state])

    def one_round(self, n, mode, routes, batch, args, got):
        ip = self.spec["ip"]
        self.box.flush()
        add(got["kernel"], nsworker.timed(lambda: self.box.run([ip, "-force", "-batch", "-"], data=batch)))
        self.verify(routes, mode, "kernel apply")
        self.box.flush()
        add(got["apply"], nsworker.timed(lambda: self.module(args, True)))
        self.verify(routes, mode, "module apply")
        add(got["noop"], nsworker.timed(lambda: self.module(args, False)))
        self.verify(routes, mode, "module no-op")
        add(got["down"], nsworker.timed(lambda: self.link("down")))
        left, nhs = len(self.box.tagged()), len(self.box.nexthops())
        self.link("up")
        if left or nhs:
            raise RuntimeError("link down left %d tagged routes and %d nexthop objects" % (left, nhs))

    def measure(self, n, repeats):
        routes = nsworker.make_routes(n)
        prepared = {}
        for mode, _label in MODES:
            self.box.flush()
            lines = self.module(self.args(n, mode, check=True), True).get("commands") or []
            if len(lines) != (2 * n if mode == "nh" else n):
                raise RuntimeError("check mode, %s: %d lines for %d routes" % (mode, len(lines), n))
            prepared[mode] = ("".join(line + "\n" for line in lines), self.args(n, mode))
        out = dict((mode, dict((step, {"wall": [], "cpu": []}) for step, _l in STEPS)) for mode, _l in MODES)
        for k in range(repeats):
            for mode, _label in MODES if k % 2 == 0 else MODES[::-1]:
                self.one_round(n, mode, routes, prepared[mode][0], prepared[mode][1], out[mode])
        self.box.flush()
        nsworker.log("N = %d: %s" % (n, "; ".join("%s %s %.3f s" % (mode, step, statistics.median(v["cpu"]))
                                                  for mode, steps in out.items() for step, v in steps.items())))
        return out


def inside(spec_path, out_path):
    with open(spec_path) as fh:
        spec = json.load(fh)
    nsworker.check_namespace(spec)
    worker = Inside(spec)
    worker.box.flush()
    res = {}
    for n in spec["sizes"]:
        res[str(n)] = worker.measure(n, spec["repeats"] if n <= 2000 else max(1, spec["repeats"] - 2))
    with open(out_path, "w") as fh:
        json.dump(res, fh)


# ------------------------------------------------------------- outside --

def measure(sizes, repeats):
    ip = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin")
    ns = ip_route_bench.Namespace(ip)
    workdir = tempfile.mkdtemp(prefix="hgwb-")
    os.chmod(workdir, 0o755)

    def on_term(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    t0, load = time.time(), "%.2f" % os.getloadavg()[0]
    try:
        ns.create()
        spec = {"netns": ns.name, "origin_netns_inode": os.stat("/proc/self/ns/net").st_ino, "ip": ip,
                "python": sys.executable, "repo": REPO, "collections": os.path.join(REPO, "collections"),
                "workdir": workdir, "protos_dir": os.path.join(workdir, "rt_protos.d"), "sizes": sizes,
                "repeats": repeats}
        spec_path, out_path = os.path.join(workdir, "spec.json"), os.path.join(workdir, "out.json")
        with open(spec_path, "w") as fh:
            json.dump(spec, fh)
        rc = ip_route_bench.run_worker([ip, "netns", "exec", ns.name, sys.executable, os.path.abspath(__file__),
                                        "--inside", spec_path, out_path])
        if rc != 0:
            raise RuntimeError("the measurement failed (see above)")
        with open(out_path) as fh:
            sizes_out = json.load(fh)
    finally:
        ns.delete()
        shutil.rmtree(workdir, ignore_errors=True)
    machine = ip_route_bench.machine_info(ip, ns.link)
    machine["load_before"], machine["load_after"] = load, "%.2f" % os.getloadavg()[0]
    return {"sizes": sizes_out, "meta": {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": time.time() - t0, "repeats": repeats, "machine": machine}}


# -------------------------------------------------------------- report --

def med(res, n, mode, step, what="cpu"):
    v = res["sizes"][str(n)][mode][step][what]
    return statistics.median(v) if v else None


def fmt_s(v):
    return "-" if v is None else "%.2f s" % v if v >= 1 else "%.0f ms" % (v * 1000) if v >= 0.01 else "%.1f ms" % (v * 1000)


def fmt_n(n):
    return "{:,}".format(n).replace(",", " ")


def crossover(res, step):
    """The smallest N from which on nexthop objects are faster for STEP (median), or None."""
    sizes = sorted(int(n) for n in res["sizes"])
    faster = [med(res, n, "nh", step) < med(res, n, "plain", step) for n in sizes]
    for i, n in enumerate(sizes):
        if all(faster[i:]):
            return n
    return None


def decision(res):
    """(crossover N, largest N, CPU an apply saves there, the sentence)."""
    sizes = sorted(int(n) for n in res["sizes"])
    big = sizes[-1]
    cross = crossover(res, "apply")
    gain = med(res, big, "plain", "apply") - med(res, big, "nh", "apply")
    return cross, big, gain, (
        "No: it stays opt-in (`hostgw_route_nexthop_objects: false`). Nexthop objects make the module's apply from "
        "empty cheaper from %s routes on (%s less CPU at %s), and a link flap with the repair after it (link down, "
        "then an apply from empty) costs %s against %s there. But the no-op that every run pays costs %s with them "
        "against %s without; an apply from empty happens only at the first run, after a flap or a reboot; and the "
        "switch changes what the collection owns on the host (`nhid` routes plus nexthop objects, Linux 5.3 or "
        "later, networkd's `ManageForeignNextHops=no`): no cluster size should change that behind the user's back. "
        "Turn it on by hand from about %s peers on." % (
            fmt_n(cross) if cross else "no measured N", fmt_s(gain), fmt_n(big),
            fmt_s(med(res, big, "nh", "down") + med(res, big, "nh", "apply")),
            fmt_s(med(res, big, "plain", "down") + med(res, big, "plain", "apply")),
            fmt_s(med(res, big, "nh", "noop")), fmt_s(med(res, big, "plain", "noop")), fmt_n(cross) if cross else fmt_n(big)))


def summary_rows(res):
    cross, big, gain, _text = decision(res)
    return [benchmarks_md.row("bench-nexthop", "`nexthop_objects` crossover on the kernel (module apply from empty)",
                              "cheaper from %s routes on; %s CPU saved at %s" % (
                                  fmt_n(cross) if cross else "no measured N", fmt_s(gain), fmt_n(big)),
                              "stays opt-in (see its section)")]


def section(res):
    meta, sizes = res["meta"], sorted(int(n) for n in res["sizes"])
    mach = meta["machine"]
    L = ["## Nexthop objects: the crossover on the kernel (`make bench-nexthop`)", "",
         "`make bench-nexthop` (= `.venv/bin/python bench/nexthop_bench.py`) on %s, run time %.0f s; `--from-json "
         "bench/results/nexthop-latest.json` re-renders. Medians of %d rounds (2 fewer at N > 2 000) of CPU time, user + "
         "system of the processes a step runs (the kernel's work is the `ip` process's system time), with wall time in "
         "brackets: the machine is shared and CPU time is what the load disturbs least. The order of the modes "
         "alternates from round to round." % (meta["date"], meta["seconds"], meta["repeats"]), "",
         "| N routes | mode | " + " | ".join(label for _step, label in STEPS) + " |", "|---:|---|" + "---:|" * len(STEPS)]
    for n in sizes:
        for mode, mode_label in MODES:
            L.append("| %s | %s | %s |" % (fmt_n(n), mode_label, " | ".join(
                "%s (%s)" % (fmt_s(med(res, n, mode, step)), fmt_s(med(res, n, mode, step, "wall"))) for step, _l in STEPS)))
    L += ["", "Crossover (nexthop objects faster from this N on): " + "; ".join(
        "%s: %s" % (label, fmt_n(crossover(res, step)) if crossover(res, step) else "none up to %s" % fmt_n(sizes[-1]))
        for step, label in STEPS) + ".", "",
        "Why: every plain route with its own gateway gets its own `fib_info`, and the IPv4 `fib_info` hash "
        "(net/ipv4/fib_semantics.c) does not mix in the gateway, so the N of them share one hash chain that each "
        "insert walks: quadratic in N. Through a nexthop object the hash mixes in the object's id, so each insert "
        "is constant; the N objects cost N more netlink messages, so they do not win at small N. The other way "
        "round on link down: the kernel drops plain routes in one walk of the table, but removes the nexthop objects "
        "one by one, and each removal walks the table again for the routes through it (`__remove_nexthop_fib` calls "
        "`fib_flush`, net/ipv4/nexthop.c): quadratic in N. The module's no-op reads the nexthop table as well as the routes.", "",
        "**Should `nexthop_objects` turn on by itself?** " + decision(res)[3], "",
        "Machine: %s CPUs, kernel %s, %s, Python %s; eth0 is %s; load average %s at the start, %s at the end." % (
            mach.get("nproc"), mach.get("kernel"), mach.get("iproute2", "?"), mach.get("python"), mach.get("link"),
            mach.get("load_before"), mach.get("load_after"))]
    return "\n".join(L)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--sizes", default=",".join(str(n) for n in DEFAULT_SIZES), help="comma-separated N")
    ap.add_argument("--repeats", type=int, default=5, help="rounds per N up to 2 000 (2 fewer above)")
    ap.add_argument("--no-publish", action="store_true", help="print the section; leave BENCHMARKS.md alone")
    ap.add_argument("--from-json", metavar="FILE", help="only re-render the section from saved results")
    ap.add_argument("--inside", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.inside:
        inside(*args.inside)
        return 0
    if args.from_json:
        with open(args.from_json) as fh:
            res = json.load(fh)
    else:
        if os.geteuid() != 0:
            say("bench/nexthop_bench.py needs root (network namespaces)")
            return 2
        try:
            res = measure([int(n) for n in args.sizes.split(",")], args.repeats)
        except KeyboardInterrupt:
            say("interrupted: cleaned up")
            return 130
        os.makedirs(RESULTS, exist_ok=True)
        for name in ("nexthop-%s.json" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S"), "nexthop-latest.json"):
            with open(os.path.join(RESULTS, name), "w") as fh:
                json.dump(res, fh, indent=1)
    rows, text = summary_rows(res), section(res)
    if args.no_publish:
        print("\n".join(rows) + "\n\n" + text)
    else:
        benchmarks_md.publish("nexthop-bench", rows, text)
        say("wrote the nexthop section of BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of podnet-hostgw-reconcile (issue 8), side by side in one run
with the ``ip -batch`` floor and a flannel-style check, at N = 100, 1 000 and
10 000 peer routes; the CPU a day at the default interval; and the time from
link-up to restored pings by the timer path and the event path, on a lab.

    make bench-reconcile                          # everything (about 10 min)
    .venv/bin/python bench/reconcile_bench.py --sizes 100,1000 --flaps 2 --no-publish
    .venv/bin/python bench/reconcile_bench.py --from-json bench/results/reconcile-DATE.json

A full run writes its results JSON under bench/results/ (gitignored) and its
section of BENCHMARKS.md (between the ``reconcile-bench`` markers; the rest
of the file is left as it is).  ``--no-publish`` prints the section only.

Safety: the route measurements happen inside one network namespace
``hgwb-<random>`` made here (bench/run.py's Namespace) and deleted at the end,
also on error or Ctrl-C; bench/reconcile_worker.py runs inside it and checks
that it is there.  The link-up measurements run on a lab of network
namespaces (tests/integration/labkit.py), torn down at the end.  Needs root.
"""

import argparse
import datetime
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results")
MD_PATH = os.path.join(REPO, "BENCHMARKS.md")
BEGIN = "<!-- reconcile-bench: begin (bench/reconcile_bench.py writes this section) -->"
END = "<!-- reconcile-bench: end -->"
RUNS_A_DAY = 8640
ENGINE = os.path.join(REPO, "plugins", "module_utils", "_hostgw")

sys.path.insert(0, BENCH)
sys.path.insert(0, REPO)
import run as ip_route_bench  # noqa: E402  (its Namespace, machine_info, say)
from tests.conftest import COLLECTIONS  # noqa: E402  (also puts lab/ on sys.path)
sys.path.insert(0, COLLECTIONS)
from ansible_collections.podnet.hostgw.plugins.module_utils import reconcile_files as rf  # noqa: E402

say = ip_route_bench.say


# --------------------------------------------------------------- install --

def install(workdir, python):
    """The command as the reconcile role installs it, under WORKDIR: the
    engine's files as the package podnet_hostgw and the same script."""
    layout = rf.Layout(os.path.join(workdir, "sbin", rf.COMMAND), os.path.join(workdir, "lib"),
                       os.path.join(workdir, "units"))
    shutil.copytree(ENGINE, layout.package_dir, ignore=shutil.ignore_patterns("__pycache__"))
    os.makedirs(os.path.dirname(layout.command))
    state_file = os.path.join(workdir, "hostgw-state.json")
    with open(layout.command, "w") as fh:
        fh.write(rf.command_script(python, layout, state_file))
    os.chmod(layout.command, 0o755)
    return layout.command, state_file


# ------------------------------------------------------------ the routes --

def measure_routes(sizes, repeats, python):
    ip = shutil.which("ip") or "/usr/sbin/ip"
    ns = ip_route_bench.Namespace(ip)
    workdir = tempfile.mkdtemp(prefix="hgwb-reconcile-")
    try:
        command, state_file = install(workdir, python)
        ns.create()
        spec = dict(netns=ns.name, origin_netns_inode=os.stat("/proc/self/ns/net").st_ino,
                    sizes=sizes, repeats=repeats, python=python, command=command,
                    state_file=state_file, lock=os.path.join(workdir, "podnet-hostgw.lock"),
                    module_utils=os.path.join(REPO, "plugins", "module_utils"))
        spec_path, out_path = os.path.join(workdir, "spec.json"), os.path.join(workdir, "out.json")
        with open(spec_path, "w") as fh:
            json.dump(spec, fh)
        rc = ip_route_bench.run_worker([ip, "netns", "exec", ns.name, python,
                                        os.path.join(BENCH, "reconcile_worker.py"), spec_path, out_path])
        if rc != 0:
            raise RuntimeError("the route measurements failed (see above)")
        with open(out_path) as fh:
            results = json.load(fh)
        results["link"] = ns.link
        return results
    finally:
        ns.delete()
        shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------ link-up --

TIMER_LOOP = """
import subprocess, sys, time
interval, argv = float(sys.argv[1]), sys.argv[2:]
while True:
    start = time.monotonic()
    subprocess.run(argv)
    time.sleep(max(0.0, start + interval - time.monotonic()))
"""


def link_up(flaps, interval):
    """Seconds from ``ip link set eth0 up`` on host1 to the first reply of
    container1 (host1) pinging container3 (host2), per flap, with (a) a loop
    that runs the boot unit's ExecStart= every INTERVAL seconds, as the timer
    does, (b) the watcher, (c) nothing (the pings do not come back)."""
    import shlex
    import hostgw_lab
    from tests.integration.labkit import Lab, recap, seed_inventory

    name = "hgwrb%s" % uuid.uuid4().hex[:4]
    tmp = tempfile.mkdtemp(prefix="hgwb-lab-")
    lab = Lab(name, tmp, inventory=seed_inventory(name))
    out = {"interval": interval}
    try:
        lab.up()
        recap(lab.site(lab.good_path, "-e", "hostgw_reconcile_watch=true", timeout=1800))
        lab.cli("attach")
        state = lab.state()
        src = state["containers"]["container1"]["netns"]
        dst = state["containers"]["container3"]["ips"][0]

        def unit_argv(unit):
            text = lab.on("host1", "cat", os.path.join(rf.DEFAULT_UNIT_DIR, unit)).stdout
            argv = shlex.split([l for l in text.splitlines() if l.startswith("ExecStart=")][0][10:])
            shebang = lab.on("host1", "head", "-n1", argv[0]).stdout.strip()[2:]
            return shlex.split(shebang) + argv

        def ping_once(wait=0.2):
            return subprocess.run(["ip", "netns", "exec", src, "ping", "-n", "-q", "-c", "1", "-W", str(wait),
                                   dst], capture_output=True, check=False).returncode == 0

        def flap(limit):
            assert ping_once(1), "no ping before the flap"
            assert lab.on("host1", "ip", "link", "set", "eth0", "down").returncode == 0
            assert "proto hostgw" not in lab.on("host1", "ip", "route", "show").stdout
            assert lab.on("host1", "ip", "link", "set", "eth0", "up").returncode == 0
            start = time.monotonic()
            while time.monotonic() - start < limit:
                if ping_once():
                    return time.monotonic() - start
                time.sleep(0.02)
            return None

        def run_with(daemon_argv, label, count, limit, spread):
            hostgw_lab.start_daemon(lab.state(), "host1", label, daemon_argv)
            try:
                time.sleep(2)
                got = []
                for _flap in range(count):
                    time.sleep(random.uniform(0, spread))        # the timer's phase
                    got.append(flap(limit))
                    say("    %s: %s" % (label, "%.2f s" % got[-1] if got[-1] is not None else "no reply"))
                return got
            finally:
                hostgw_lab.stop_daemon(lab.state(), "host1", label)

        boot = unit_argv(rf.SERVICE)
        out["timer"] = run_with([sys.executable, "-c", TIMER_LOOP, str(interval)] + boot, "timer",
                                flaps, interval * 3 + 10, interval)
        out["event"] = run_with(unit_argv(rf.WATCH_SERVICE), "watch", flaps, 30, 1)
        # Nothing running: the routes stay gone.
        out["none"] = flap(2 * interval)
        return out
    finally:
        lab.down()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------- report --

def fmt_n(n):
    return "{:,}".format(n).replace(",", " ")


def fmt_s(x):
    if x is None:
        return "-"
    if x >= 10:
        return "%.1f s" % x
    if x >= 1:
        return "%.2f s" % x
    return "%.0f ms" % (x * 1000) if x >= 0.01 else "%.1f ms" % (x * 1000)


def fmt_day(seconds):
    """CPU seconds a day, with the share of one core."""
    text = "%.1f min" % (seconds / 60) if seconds >= 120 else "%.0f s" % seconds
    return "%s (%.2f %% of a core)" % (text, 100.0 * seconds / 86400)


def cell(entry, key):
    return "%s (%s–%s)" % (fmt_s(entry[key]), fmt_s(entry[key + "_min"]), fmt_s(entry[key + "_max"]))


ROWS = (("reconcile_noop", "`podnet-hostgw-reconcile`, converged (no-op)"),
        ("flannel_noop", "flannel-style check, converged: list the routes, compare"),
        ("reconcile_repair", "`podnet-hostgw-reconcile`, all N routes missing (repair)"),
        ("floor_repair", "floor: one `ip -batch` re-adding the same N routes"),
        ("flannel_repair", "flannel-style check, all N missing: list, one `ip route add` each"))


def section(res, machine, date, seconds):
    routes, sizes = res["routes"], [int(n) for n in sorted(res["routes"]["sizes"], key=int)]
    big = str(sizes[-1])
    at = routes["sizes"][big]
    L = [BEGIN, "", "## The reconcile command between playbook runs (`podnet-hostgw-reconcile`)", "",
         "Generated by `make bench-reconcile` (= `.venv/bin/python bench/reconcile_bench.py`) on %s; run time "
         "%.0f s. Re-run it to refresh this section; the rest of this file is `make bench`'s." % (date, seconds),
         ""]
    noop, fnoop, floor = at["reconcile_noop"], at["flannel_noop"], at["floor_repair"]
    rep, fl = at["reconcile_repair"], at["flannel_repair"]
    start = routes["python_startup"]
    day = dict((n, routes["sizes"][str(n)]["reconcile_noop"]["cpu"] * RUNS_A_DAY) for n in sizes)
    fday = dict((n, routes["sizes"][str(n)]["flannel_noop"]["cpu"] * RUNS_A_DAY) for n in sizes)
    L += ["In short, at N = %s routes:" % fmt_n(sizes[-1]), "",
          "- Converged (the timer's usual run): %s of CPU per run (%s wall), %s of CPU a day at the default "
          "10 s interval. The flannel-style check's converged pass costs %s of CPU, the "
          "reconcile command %.0f× that: mostly Python's start and imports, paid at every N (`python -I -c "
          "pass` alone: %s of CPU, %s wall)."
          % (fmt_s(noop["cpu"]), fmt_s(noop["wall"]), fmt_day(day[sizes[-1]]), fmt_s(fnoop["cpu"]),
             noop["cpu"] / fnoop["cpu"], fmt_s(start["cpu"]), fmt_s(start["wall"])),
          "- All N routes missing (a link flap): the reconcile command repairs them in %s wall (%s CPU), "
          "%.1f× the `ip -batch` floor (%s); the flannel-style check takes %s, %.0f× the reconcile command."
          % (fmt_s(rep["wall"]), fmt_s(rep["cpu"]), rep["wall"] / floor["wall"], fmt_s(floor["wall"]),
             fmt_s(fl["wall"]), fl["wall"] / rep["wall"]),
          ]
    lu = res.get("link_up")
    if lu:
        timer = [x for x in lu["timer"] if x is not None]
        event = [x for x in lu["event"] if x is not None]
        L.append("- Link-up to restored pings: the timer path (every %d s) %s median (%s–%s over %d flaps), "
                 "the event path (opt-in watcher) %s median (%s–%s); with neither, the pings %s."
                 % (lu["interval"], fmt_s(statistics.median(timer)) if timer else "-",
                    fmt_s(min(timer)) if timer else "-", fmt_s(max(timer)) if timer else "-", len(lu["timer"]),
                    fmt_s(statistics.median(event)) if event else "-", fmt_s(min(event)) if event else "-",
                    fmt_s(max(event)) if event else "-",
                    "did not come back within %d s" % (2 * lu["interval"]) if lu["none"] is None
                    else "came back after %s (?)" % fmt_s(lu["none"])))
    L += ["", "### Wall and CPU time per run (median (min–max))", "",
          "| method | | " + " | ".join("N = %s" % fmt_n(n) for n in sizes) + " |",
          "|---|---|" + "---:|" * len(sizes)]
    for key, label in ROWS:
        for what in ("wall", "cpu"):
            L.append("| %s | %s | %s |" % (label if what == "wall" else "", what,
                                           " | ".join(cell(routes["sizes"][str(n)][key], what) for n in sizes)))
    for what in ("wall", "cpu"):
        L.append("| %s | %s | %s |" % ("`python -I -c pass` (interpreter start, any N)" if what == "wall" else "",
                                       what, " | ".join([cell(start, what)] + [""] * (len(sizes) - 1))))
    L += ["", "### CPU a day at the default interval (%d runs, one every 10 s)" % RUNS_A_DAY, "",
          "| | " + " | ".join("N = %s" % fmt_n(n) for n in sizes) + " |",
          "|---|" + "---:|" * len(sizes),
          "| `podnet-hostgw-reconcile`, converged | %s |" % " | ".join(fmt_day(day[n]) for n in sizes),
          "| flannel-style check, converged | %s |" % " | ".join(fmt_day(fday[n]) for n in sizes),
          ""]
    if lu:
        L += ["### Link-up to restored pings", "",
              "| path | flaps (s) |", "|---|---|",
              "| timer (the boot unit's command every %d s, as `OnUnitActiveSec=`) | %s |"
              % (lu["interval"], ", ".join(fmt_s(x) for x in lu["timer"])),
              "| event (`podnet-hostgw-reconcile-watch`) | %s |" % ", ".join(fmt_s(x) for x in lu["event"]),
              "| nothing | %s |" % (fmt_s(lu["none"]) if lu["none"] is not None
                                    else "no reply within %d s" % (2 * lu["interval"])), ""]
    L += ["### Method", "",
          "- Routes: inside a network namespace of its own (eth0: %s; 172.16.0.1/12 on it), N routes "
          "`10.x.y.0/24 via 172.16.a.b dev eth0`, each via its own gateway, tagged 252, plus the bridge `cni0` "
          "and the nftables table of the state file. The command is the installed script (`python -I`, the "
          "engine as the package `podnet_hostgw`, byte-code cached after the first run), with its state file "
          "and lock in a temporary directory." % routes.get("link", "dummy"),
          "- Repair: `ip route flush proto 252` before each sample (not timed), then one run; the floor is one "
          "`ip -batch -` of `route add DEST via GW dev eth0 proto 252` lines. After every sample the table "
          "holds exactly the N routes.",
          "- The flannel-style check does what flannel's host-gw backend does every 10 s, with iproute2: one "
          "`ip -json route show table main`, a comparison (in the bench process; its CPU counted), one "
          "`ip route add` process per missing route. flannel itself runs it inside its daemon over netlink, so "
          "its converged check is cheaper than this one's `ip` process; the comparison is about the repair.",
          "- CPU is user + system time of the processes a run starts (`getrusage(RUSAGE_CHILDREN)`); a day is the "
          "median no-op CPU × %d." % RUNS_A_DAY,
          "- Link-up: the seed topology on a lab (two hosts, four containers), `ip link set eth0 down` on host1 "
          "(the kernel deletes every route through it), then `up`; the time runs from `up` to the first reply "
          "of container1 pinging container3 (one ping a try, 0.2 s timeout, 20 ms apart). The lab has no "
          "systemd: the timer path is a loop running the installed boot unit's `ExecStart=` command every "
          "interval (the next run an interval after the last one started, as `OnUnitActiveSec=`), with the "
          "flap at a random phase; the event path is the watcher unit's command.",
          "- Machine: %s, %s CPUs, %s, kernel %s, Python %s, %s. Other work ran on the machine meanwhile; "
          "ratios in the same run are steadier than absolute times." % (
              machine.get("cpu_model", "?"), machine.get("nproc"), machine.get("mem_total", "?"),
              machine.get("kernel"), machine.get("python"), machine.get("iproute2", "")),
          "", END]
    return "\n".join(L) + "\n"


def publish(text):
    try:
        with open(MD_PATH) as fh:
            current = fh.read()
    except FileNotFoundError:
        current = ""
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = current.rstrip("\n") + ("\n\n" if current else "") + text
    with open(MD_PATH, "w") as fh:
        fh.write(new)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--sizes", default="100,1000,10000", help="comma-separated N (default %(default)s)")
    ap.add_argument("--repeats", type=int, default=7, help="runs per point (default %(default)s)")
    ap.add_argument("--flaps", type=int, default=5, help="link flaps per path (default %(default)s; 0 = skip)")
    ap.add_argument("--interval", type=int, default=rf.DEFAULT_INTERVAL, help="the timer's interval")
    ap.add_argument("--no-publish", action="store_true", help="print the section; leave BENCHMARKS.md alone")
    ap.add_argument("--from-json", metavar="FILE", help="only re-render the section from saved results")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        say("the benchmark needs root (network namespaces)")
        return 2
    if args.from_json:
        with open(args.from_json) as fh:
            res = json.load(fh)
        meta = res["meta"]
        return output(section(res, meta["machine"], meta["date"], meta["seconds"]), args.no_publish)
    t0 = time.time()
    sizes = [int(n) for n in args.sizes.split(",")]
    python = sys.executable
    say("podnet-hostgw-reconcile benchmark: N = %s, load average %.2f" % (sizes, os.getloadavg()[0]))
    res = {"routes": measure_routes(sizes, args.repeats, python)}
    if args.flaps:
        say("link-up to restored pings, %d flaps per path" % args.flaps)
        res["link_up"] = link_up(args.flaps, args.interval)
    ip = shutil.which("ip") or "/usr/sbin/ip"
    machine = ip_route_bench.machine_info(ip, res["routes"].get("link"))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    seconds = time.time() - t0
    res["meta"] = {"date": date, "seconds": seconds, "machine": machine, "sizes": sizes,
                   "repeats": args.repeats}
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, "reconcile-%s.json" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    with open(path, "w") as fh:
        json.dump(res, fh, indent=1)
    say("wrote %s" % os.path.relpath(path, REPO))
    return output(section(res, machine, date, seconds), args.no_publish)


def output(text, no_publish):
    if no_publish:
        print(text)
    else:
        publish(text)
        say("wrote the reconcile section of BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of podnet.hostgw.ip_route against raw iproute2 and hand-written
alternatives, at N = 100, 1 000 and 10 000 peer routes, with ``routes`` given
as dicts and as ``ip route`` lines (the form the collection's routes role
passes).

    make bench                                  # everything (about 8-10 min)
    .venv/bin/python bench/run.py --quick       # N = 100, 1 000, fewer repeats
    .venv/bin/python bench/run.py --sizes 100,1000
    .venv/bin/python bench/run.py --from-json bench/results/latest.json   # re-render only

A full run (default sizes, not --quick) writes the results JSON under
bench/results/ (gitignored) AND its section of BENCHMARKS.md with its rows of
the summary on top (bench/report.py, bench/benchmarks_md.py) and the plot
bench/ip_route_bench.png.  Partial runs write theirs next to the JSON in
bench/results/ unless --publish is given.

Safety: everything happens inside one network namespace ``hgwb-<random>``
made here and deleted at the end, also on error, Ctrl-C or SIGTERM.  The root
namespace only ever sees ``ip netns add/del`` and ``ip -n NS ...`` commands;
the measuring (bench/nsworker.py) runs inside the namespace and checks it is
there before it touches a route.  Needs root.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results")
MD_PATH = os.path.join(REPO, "BENCHMARKS.md")
PNG_PATH = os.path.join(BENCH, "ip_route_bench.png")
DEFAULT_SIZES = (100, 1000, 10000)
MODULE_FILES = ("plugins/modules/ip_route.py", "plugins/module_utils/_hostgw/routes/options.py",
                "plugins/module_utils/_hostgw/routes/kernel.py",
                "plugins/module_utils/_hostgw/routes/plan.py",
                "plugins/module_utils/_hostgw/routes/batch.py",
                "plugins/module_utils/_hostgw/iproute.py")
UNDERLAY = "172.16.0.1/12"   # inside the namespace only

sys.path.insert(0, BENCH)
import report  # noqa: E402


def say(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def run(argv, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), (p.stderr or p.stdout).strip()))
    return p


def out(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


# ------------------------------------------------------------- machine --

def machine_info(ip, link):
    info = {"nproc": out(["nproc"]) or str(os.cpu_count()), "kernel": platform.release(),
            "python": platform.python_version(), "link": link}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    info["mem_total"] = "%.1f GiB" % (int(line.split()[1]) / 1048576.0)
                    break
    except OSError:
        pass
    info["iproute2"] = out([ip, "-V"])
    try:
        from importlib.metadata import version
        info["ansible_core"] = version("ansible-core")
    except Exception:  # noqa: BLE001 - informational only
        info["ansible_core"] = "?"
    try:
        import matplotlib
        info["matplotlib"] = matplotlib.__version__
    except ImportError:
        info["matplotlib"] = "not installed"
    return info


def module_info():
    sums = {}
    for rel in MODULE_FILES:
        try:
            with open(os.path.join(REPO, rel), "rb") as fh:
                sums[rel] = hashlib.sha256(fh.read()).hexdigest()
        except OSError:
            sums[rel] = "missing"
    head = out(["git", "-C", REPO, "rev-parse", "HEAD"]) or "unknown"
    status = out(["git", "-C", REPO, "status", "--porcelain", "--"] + list(MODULE_FILES))
    return {"git_head": head, "sha256": sums,
            "git_status": ", ".join(l.strip() for l in status.splitlines())}


# ----------------------------------------------------------- namespace --

class Namespace(object):
    """``hgwb-<random>`` with lo up and eth0 (dummy, or a veth pair whose
    both ends stay inside when the kernel has no dummy driver) holding the
    underlay address.  Every command is ``ip -n NAME ...``."""

    def __init__(self, ip):
        self.ip = ip
        self.name = "hgwb-" + secrets.token_hex(5)
        self.created = False
        self.link = None

    def nip(self, *args, check=True):
        assert self.name.startswith("hgwb-")
        return run([self.ip, "-n", self.name] + list(args), check=check)

    def create(self):
        if os.path.exists(os.path.join("/run/netns", self.name)):
            raise RuntimeError("namespace %s exists already" % self.name)
        run([self.ip, "netns", "add", self.name])
        self.created = True
        self.nip("link", "set", "lo", "up")
        if self.nip("link", "add", "eth0", "type", "dummy", check=False).returncode == 0:
            self.link = "dummy"
        else:
            self.nip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer")
            self.nip("link", "set", "eth0peer", "up")
            self.link = "a veth pair with both ends inside the namespace: this kernel has no dummy driver"
        self.nip("addr", "add", UNDERLAY, "dev", "eth0")
        self.nip("link", "set", "eth0", "up")

    def delete(self):
        if self.created:
            p = run([self.ip, "netns", "del", self.name], check=False)
            if p.returncode != 0:
                say("WARNING: could not delete namespace %s: %s" % (self.name, p.stderr.strip()))
            else:
                self.created = False


def run_worker(argv):
    """Run the worker in its own process group; if we are interrupted, stop
    that group (the worker and whatever it is timing), by its id."""
    proc = subprocess.Popen(argv, start_new_session=True)
    try:
        return proc.wait()
    except BaseException:
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        raise


# ------------------------------------------------------------------ main --

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", help="comma-separated N values (default 100,1000,10000; "
                                    "--quick: 100,1000)")
    ap.add_argument("--quick", action="store_true",
                    help="short run: N = 100, 1 000, fewer repeats, no ansible loop, no profile")
    ap.add_argument("--repeats", type=int, help="runs of the cheap methods (default 5, quick 3)")
    ap.add_argument("--pair-repeats", type=int, help="alternating runs of the module and the floor "
                                                     "(default 7, quick 3)")
    ap.add_argument("--ansible-repeats", type=int, help="runs of each ansible-playbook variant "
                                                        "(default 3, quick 1)")
    ap.add_argument("--loop-size", type=int, default=100,
                    help="N at which the ansible loop is measured (default 100; 0 = skip)")
    ap.add_argument("--loop-repeats", default=None,
                    help="APPLY,NOOP runs of the ansible loop (default 1,1)")
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile runs")
    ap.add_argument("--publish", dest="publish", action="store_true", default=None,
                    help="write BENCHMARKS.md and the PNG even for a partial run")
    ap.add_argument("--no-publish", dest="publish", action="store_false",
                    help="write the summary only under bench/results/")
    ap.add_argument("--from-json", metavar="FILE", help="only re-render the summary from FILE")
    return ap.parse_args(argv)


def render(results, publish, stamp):
    if publish:
        md, png, rel = MD_PATH, PNG_PATH, "bench/ip_route_bench.png"
    else:
        md = os.path.join(RESULTS, "BENCHMARKS-%s.md" % stamp)
        png = os.path.join(RESULTS, "ip_route_bench-%s.png" % stamp)
        rel = os.path.basename(png)
    ser, _sizes = report.render(results, md, png, rel)
    say("wrote %s and %s" % (os.path.relpath(md, REPO), os.path.relpath(png, REPO)))
    for row in report.summary_rows(ser, report.busy(results)):
        say(row)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    os.makedirs(RESULTS, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")

    if args.from_json:
        with open(args.from_json) as fh:
            results = json.load(fh)
        render(results, args.publish if args.publish is not None else True, stamp)
        return 0

    if os.geteuid() != 0:
        say("bench/run.py needs root (network namespaces)")
        return 2
    ip = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin")
    if not ip:
        say("iproute2 (ip) is not installed")
        return 2
    python = sys.executable
    ansible_playbook = os.path.join(os.path.dirname(python), "ansible-playbook")
    if not os.access(ansible_playbook, os.X_OK):
        ansible_playbook = shutil.which("ansible-playbook")
    if not ansible_playbook:
        say("ansible-playbook not found next to %s" % python)
        return 2

    sizes = sorted(set(int(s) for s in (args.sizes or (
        "100,1000" if args.quick else ",".join(map(str, DEFAULT_SIZES)))).split(",") if s.strip()))
    if not sizes or min(sizes) < 1 or max(sizes) > 65536:
        say("sizes must be 1..65536 (one /24 of 10.0.0.0/8 and one gateway per route)")
        return 2
    full = not args.quick and tuple(sizes) == DEFAULT_SIZES
    publish = args.publish if args.publish is not None else full
    cheap = args.repeats or (3 if args.quick else 5)
    pair = args.pair_repeats or (3 if args.quick else 7)
    ans = args.ansible_repeats if args.ansible_repeats is not None else (1 if args.quick else 3)
    loop_size = 0 if args.quick and args.loop_size == 100 else args.loop_size
    loop_apply, loop_noop = [int(x) for x in (args.loop_repeats or "1,1").split(",")]
    per_route_rule = [[1, 1000], [1, None]] if args.quick else [[5, 100], [3, 1000], [1, None]]
    profile = not args.no_profile and not args.quick

    # Ctrl-C and SIGTERM both unwind through the finally below.
    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_term)

    ns = Namespace(ip)
    workdir = tempfile.mkdtemp(prefix="hgwb-")
    os.chmod(workdir, 0o755)
    prof_dir = os.path.join(RESULTS, "profiles-%s" % stamp)
    results = {"meta": {}, "sizes": {}}
    t0 = time.time()
    load_before = "%.2f, %.2f, %.2f" % os.getloadavg()
    module_at_start = module_info()
    say("podnet.hostgw.ip_route benchmark: N = %s, namespace %s, load average %s"
        % (sizes, ns.name, load_before))
    try:
        ns.create()
        origin = os.stat("/proc/self/ns/net").st_ino
        for n in sizes:
            per_route = next(r for r, upto in per_route_rule if upto is None or n <= upto)
            spec = dict(
                netns=ns.name, origin_netns_inode=origin, n=n, ip=ip, python=python,
                ansible_playbook=ansible_playbook, repo=REPO,
                collections=os.path.join(REPO, "collections"),
                callback_dir=os.path.join(BENCH, "callback_plugins"),
                profile_ansible=os.path.join(BENCH, "profile_ansible.py"),
                workdir=workdir, protos_dir=os.path.join(workdir, "rt_protos.d"),
                module_fixed=(n == sizes[0]),
                loop=(n == loop_size),
                profile=profile and n == sizes[-1], profile_dir=prof_dir,
                repeats=dict(cheap=cheap, pair=pair, ansible=ans, per_route=per_route,
                             loop_apply=loop_apply, loop_noop=loop_noop))
            if spec["profile"]:
                os.makedirs(prof_dir, exist_ok=True)
            spec_path = os.path.join(workdir, "spec-%d.json" % n)
            out_path = os.path.join(workdir, "result-%d.json" % n)
            with open(spec_path, "w") as fh:
                json.dump(spec, fh)
            say("N = %d (%.0f s so far)" % (n, time.time() - t0))
            rc = run_worker([ip, "netns", "exec", ns.name, python,
                             os.path.join(BENCH, "nsworker.py"), spec_path, out_path])
            if rc != 0:
                raise RuntimeError("the measurement at N = %d failed (see above)" % n)
            with open(out_path) as fh:
                res = json.load(fh)
            for kind, paths in res.get("profiles", {}).items():
                res["profiles"][kind] = dict((k, os.path.relpath(v, REPO)) for k, v in paths.items())
            results["sizes"][str(n)] = res
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    except RuntimeError as exc:
        say("ERROR: %s" % exc)
        return 1
    finally:
        ns.delete()
        shutil.rmtree(workdir, ignore_errors=True)

    results["meta"] = dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        seconds=time.time() - t0, machine=machine_info(ip, ns.link), module=module_info(),
        module_changed_during_run=module_info()["sha256"] != module_at_start["sha256"],
        options=dict(sizes=sizes, quick=args.quick, loop_size=loop_size,
                     repeats=dict(cheap=cheap, pair=pair, ansible=ans, per_route_rule=per_route_rule,
                                  loop_apply=loop_apply, loop_noop=loop_noop)),
        namespace=ns.name)
    results["meta"]["machine"]["load_before"] = load_before
    results["meta"]["machine"]["load_after"] = "%.2f, %.2f, %.2f" % os.getloadavg()
    path = os.path.join(RESULTS, "run-%s.json" % stamp)
    with open(path, "w") as fh:
        json.dump(results, fh, indent=1)
    shutil.copyfile(path, os.path.join(RESULTS, "latest.json"))
    say("wrote %s (%.0f s)" % (os.path.relpath(path, REPO), time.time() - t0))
    render(results, publish, stamp)
    return 0


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: GPL-3.0-or-later
"""The measuring half of the benchmark: runs INSIDE a benchmark network
namespace (``ip netns exec hgwb-... python bench/nsworker.py SPEC OUT``),
started by bench/run.py, which made the namespace and deletes it.

Every timed command is a child of this process, so it inherits the namespace
and no ``ip netns exec`` wrapper is part of any measurement.  The worker
refuses to run unless it really is in the namespace named in SPEC and not in
the namespace run.py started from (never touch the root namespace's routes).

For one N it measures, with a flush (``ip route flush proto 252``) before each
"apply" sample and a check after EVERY sample that the table holds exactly the
N wanted routes (and only them) with the module's tag:

  ip_batch        ``ip -force -batch -`` of the module's own ``route replace`` lines
  ip_batch_samegw control: the same, all routes via ONE gateway (kernel cost)
  module          the module as Ansible runs it: python, args file, JSON out
  module_fixed    the module with ``routes: []`` (interpreter + framework cost)
  ip_per_route    one ``ip route replace`` process per route (subprocess, no shell)
  playbook        ansible-playbook, connection local, one ip_route task
  playbook_empty  the same playbook and vars file with an empty task list
  playbook_loop   ansible ``loop:`` of ``ansible.builtin.command: ip route replace``
"""

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

PROTO = 252
DEV = "eth0"
MODULE = "ansible_collections.podnet.hostgw.plugins.modules.ip_route"


def log(msg):
    sys.stderr.write("    %s\n" % msg)
    sys.stderr.flush()


# ------------------------------------------------------------------ data --

def gateway(i):
    """Peer i's underlay address: 172.16.0.2 + i, inside eth0's 172.16.0.0/12."""
    g = 2 + i
    return "172.16.%d.%d" % (g >> 8, g & 255)


def pod_subnet(i):
    """Peer i's pod subnet: the i-th /24 of 10.0.0.0/8 (65 536 of them)."""
    return "10.%d.%d.0/24" % (i >> 8, i & 255)


def make_routes(n, same_gateway=False):
    return [dict(dest=pod_subnet(i), via=gateway(0 if same_gateway else i), dev=DEV)
            for i in range(n)]


def same_gateway_line(line):
    """LINE with its next hop replaced by peer 0's (the control)."""
    return re.sub(r" via [0-9.]+ ", " via %s " % gateway(0), line)


# ------------------------------------------------------------ namespace --

def netns_inode():
    return os.stat("/proc/self/ns/net").st_ino


def check_namespace(spec):
    here = netns_inode()
    if here == spec["origin_netns_inode"]:
        raise SystemExit("nsworker: refusing to run in the namespace run.py started from")
    want = os.stat(os.path.join("/run/netns", spec["netns"])).st_ino
    if here != want:
        raise SystemExit("nsworker: not inside namespace %s" % spec["netns"])


class Box(object):
    """Commands inside the namespace (this process already is in it)."""

    def __init__(self, spec):
        self.ip = spec["ip"]
        self.env = dict(os.environ, LC_ALL="C")

    def run(self, argv, data=None, check=True):
        p = subprocess.run(argv, input=data, capture_output=True, text=True, env=self.env)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (rc %s): %s" % (" ".join(argv[:6]), p.returncode,
                                                         (p.stderr or p.stdout).strip()[:2000]))
        return p

    def tagged(self):
        """Every route with the tag, both families, all tables:
        ``[(dst, gateway, dev, table)]``."""
        out = []
        for fam in ("-4", "-6"):
            text = self.run([self.ip, "-json", fam, "route", "show", "table", "all",
                             "proto", str(PROTO)]).stdout.strip()
            for r in json.loads(text) if text else []:
                out.append((r.get("dst"), r.get("gateway"), r.get("dev"), r.get("table", "main")))
        return out

    def flush(self):
        self.run([self.ip, "-4", "route", "flush", "table", "main", "proto", str(PROTO)])
        left = self.tagged()
        if left:
            raise RuntimeError("flush left %d tagged routes" % len(left))

    def verify(self, routes, what):
        """The table must hold exactly ROUTES with the tag, nothing more."""
        have = self.tagged()
        want = set((r["dest"], r["via"], r["dev"], "main") for r in routes)
        got = set(have)
        if len(have) != len(routes) or got != want:
            missing = sorted(want - got)[:3]
            extra = sorted(got - want)[:3]
            raise RuntimeError("%s: expected exactly %d tagged routes, found %d (missing e.g. %s, "
                               "unexpected e.g. %s)" % (what, len(routes), len(have), missing, extra))


# --------------------------------------------------------------- timing --

def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Samples(object):
    def __init__(self):
        self.data = {}

    def add(self, method, mode, wall, cpu, **extra):
        d = self.data.setdefault(method, {}).setdefault(mode, {"wall": [], "cpu": []})
        d["wall"].append(wall)
        d["cpu"].append(cpu)
        for k, v in extra.items():
            d.setdefault(k, []).append(v)


def timed(fn):
    c0 = children_cpu()
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    return wall, children_cpu() - c0, out


def brief(values):
    return "median %.3f s (%s)" % (statistics.median(values),
                                   ", ".join("%.3f" % v for v in values))


# -------------------------------------------------------------- methods --

class Bench(object):
    def __init__(self, spec):
        self.spec = spec
        self.n = spec["n"]
        self.box = Box(spec)
        self.work = os.path.join(spec["workdir"], "n%d" % self.n)
        os.makedirs(self.work, exist_ok=True)
        self.routes = make_routes(self.n)
        self.samples = Samples()
        self._write_inputs()
        self.lines = self._module_lines()

    # inputs ---------------------------------------------------------------
    def _write_inputs(self):
        w = self.work
        self.args_file = os.path.join(w, "args.json")
        with open(self.args_file, "w") as fh:
            json.dump({"ANSIBLE_MODULE_ARGS": {"routes": self.routes,
                                               "protos_dir": self.spec["protos_dir"]}}, fh)
        self.args_empty = os.path.join(w, "args-empty.json")
        with open(self.args_empty, "w") as fh:
            json.dump({"ANSIBLE_MODULE_ARGS": {"routes": [],
                                               "protos_dir": self.spec["protos_dir"]}}, fh)
        # The vars file as a person writes one: YAML, one flow mapping a line.
        self.vars_file = os.path.join(w, "routes.yml")
        with open(self.vars_file, "w") as fh:
            fh.write("---\nhgwb_routes:\n")
            for r in self.routes:
                fh.write("  - {dest: %s, via: %s, dev: %s}\n" % (r["dest"], r["via"], r["dev"]))
        self.inventory = os.path.join(w, "inventory.ini")
        with open(self.inventory, "w") as fh:
            fh.write("localhost ansible_connection=local ansible_python_interpreter=%s\n"
                     % self.spec["python"])
        head = ("---\n- name: Benchmark\n  hosts: localhost\n  gather_facts: false\n"
                "  vars_files:\n    - %s\n" % self.vars_file)
        self.play_task = os.path.join(w, "task.yml")
        with open(self.play_task, "w") as fh:
            fh.write(head + "  tasks:\n"
                     "    - name: Peer routes\n"
                     "      podnet.hostgw.ip_route:\n"
                     "        routes: \"{{ hgwb_routes }}\"\n"
                     "        protos_dir: %s\n" % self.spec["protos_dir"])
        self.play_empty = os.path.join(w, "empty.yml")
        with open(self.play_empty, "w") as fh:
            fh.write(head + "  tasks: []\n")
        self.play_loop = os.path.join(w, "loop.yml")
        with open(self.play_loop, "w") as fh:
            fh.write(head + "  tasks:\n"
                     "    - name: Peer routes, one command each\n"
                     "      ansible.builtin.command:\n"
                     "        argv: [ip, route, replace, \"{{ item.dest }}\", via, \"{{ item.via }}\",\n"
                     "               dev, \"{{ item.dev }}\", table, main, metric, \"0\", proto, \"%d\"]\n"
                     "      loop: \"{{ hgwb_routes }}\"\n"
                     "      changed_when: true\n" % PROTO)

    def _module_lines(self):
        """The floor runs exactly the lines the module runs: ask the module
        (check mode, on the empty table) for its ``commands``."""
        self.box.flush()
        path = os.path.join(self.work, "args-check.json")
        with open(path, "w") as fh:
            json.dump({"ANSIBLE_MODULE_ARGS": {"routes": self.routes, "protos_dir": "",
                                               "_ansible_check_mode": True}}, fh)
        res = self.run_module(path)
        lines = res.get("commands") or []
        if len(lines) != self.n or not all(l.startswith("route replace ") for l in lines):
            raise RuntimeError("module check mode: expected %d 'route replace' lines, got %d: %s"
                               % (self.n, len(lines), lines[:2]))
        by_dest = dict((line.split()[2], line) for line in lines)
        for r in self.routes:
            line = by_dest.get(r["dest"], "")
            if " %s via %s dev %s " % (r["dest"], r["via"], r["dev"]) not in " %s " % line:
                raise RuntimeError("no module line for %s (e.g. %r)" % (r, lines[0]))
        return lines

    # helpers --------------------------------------------------------------
    def module_env(self):
        return dict(os.environ, PYTHONPATH=self.spec["collections"], LC_ALL="C")

    def ansible_env(self, timer_out):
        return dict(os.environ, ANSIBLE_CONFIG=os.path.join(self.spec["repo"], "ansible.cfg"),
                    LC_ALL="C.UTF-8", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                    ANSIBLE_CALLBACK_PLUGINS=self.spec["callback_dir"],
                    ANSIBLE_CALLBACKS_ENABLED="hgwb_timer", HGWB_TIMER_OUT=timer_out)

    def run_module(self, args_file):
        p = subprocess.run([self.spec["python"], "-m", MODULE, args_file], capture_output=True,
                           text=True, env=self.module_env(), cwd=self.spec["repo"])
        try:
            res = json.loads(p.stdout)
        except ValueError:
            raise RuntimeError("module printed no JSON (rc %s): %s %s"
                               % (p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        if p.returncode != 0 or res.get("failed"):
            raise RuntimeError("module failed: %s" % (res.get("msg") or p.stderr)[:3000])
        return res

    def run_playbook(self, playbook):
        timer_out = os.path.join(self.work, "timer.jsonl")
        if os.path.exists(timer_out):
            os.unlink(timer_out)
        argv = [self.spec["ansible_playbook"], "-i", self.inventory, playbook]
        c0 = children_cpu()
        t0 = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, text=True, cwd=self.spec["repo"],
                           env=self.ansible_env(timer_out))
        wall = time.perf_counter() - t0
        cpu = children_cpu() - c0
        if p.returncode != 0:
            raise RuntimeError("ansible-playbook %s failed (rc %s):\n%s\n%s" % (
                os.path.basename(playbook), p.returncode, p.stdout[-4000:], p.stderr[-2000:]))
        tasks = []
        if os.path.exists(timer_out):
            with open(timer_out) as fh:
                tasks = [json.loads(line) for line in fh if line.strip()]
        tasks = [t for t in tasks if "task" in t]
        return wall, cpu, tasks

    # measurements ---------------------------------------------------------
    def floor_once(self, mode, method="ip_batch", routes=None, lines=None):
        """One timed ``ip -force -batch -`` run (flushed first for apply)."""
        routes = routes or self.routes
        data = "".join(line + "\n" for line in (lines or self.lines))
        argv = [self.spec["ip"], "-force", "-batch", "-"]
        if mode == "apply":
            self.box.flush()
        wall, cpu, _ = timed(lambda: self.box.run(argv, data=data))
        self.box.verify(routes, "%s %s" % (method, mode))
        self.samples.add(method, mode, wall, cpu)
        return wall, cpu

    def module_once(self, mode, first=False):
        """One timed module run; checks its JSON as well as the table."""
        if mode == "apply":
            self.box.flush()
        wall, cpu, res = timed(lambda: self.run_module(self.args_file))
        self.box.verify(self.routes, "module %s" % mode)
        cmds = res.get("commands") or []
        if mode == "apply":
            if not res.get("changed") or len(cmds) != self.n:
                raise RuntimeError("module apply: changed=%s with %d commands, expected %d"
                                   % (res.get("changed"), len(cmds), self.n))
            if first and sorted(cmds) != sorted(self.lines):
                raise RuntimeError("the module's batch lines differ from the floor's, "
                                   "e.g. %r vs %r" % (sorted(cmds)[0], sorted(self.lines)[0]))
        elif res.get("changed") or cmds:
            raise RuntimeError("module no-op run reported changed=%s, %d commands"
                               % (res.get("changed"), len(cmds)))
        self.samples.add("module", mode, wall, cpu)
        return wall, cpu

    def measure_module_vs_floor(self, reps):
        """The module and the floor alternately (floor first in even rounds,
        module first in odd ones), so that both see the same background load;
        each round gives one paired ratio module/floor."""
        for mode in ("apply", "noop"):
            if mode == "noop":
                self.box.verify(self.routes, "converged table before the no-op runs")
            for k in range(reps):
                if k % 2 == 0:
                    fw, fc = self.floor_once(mode)
                    mw, mc = self.module_once(mode, first=(k == 0))
                else:
                    mw, mc = self.module_once(mode)
                    fw, fc = self.floor_once(mode)
                d = self.samples.data["module"][mode]
                d.setdefault("ratio", []).append(mw / fw)
                d.setdefault("cpu_ratio", []).append(mc / fc if fc > 0 else None)
            for method in ("ip_batch", "module"):
                log("%-16s %-5s %s" % (method, mode, brief(self.samples.data[method][mode]["wall"])))
            log("%-16s %-5s paired module/floor ratios %s" % ("", mode, ", ".join(
                "%.2f" % r for r in self.samples.data["module"][mode]["ratio"])))

    def measure_control(self, reps):
        routes = make_routes(self.n, same_gateway=True)
        lines = [same_gateway_line(line) for line in self.lines]
        for mode in ("apply", "noop"):
            for k in range(reps):
                self.floor_once(mode, "ip_batch_samegw", routes, lines)
            log("%-16s %-5s %s" % ("ip_batch_samegw", mode,
                                   brief(self.samples.data["ip_batch_samegw"][mode]["wall"])))

    def measure_module_fixed(self, reps):
        for k in range(reps):
            wall, cpu, res = timed(lambda: self.run_module(self.args_empty))
            if res.get("commands"):
                raise RuntimeError("module with routes: [] wanted to change something")
            self.samples.add("module_fixed", "fixed", wall, cpu)
        log("%-16s %-5s %s" % ("module_fixed", "", brief(self.samples.data["module_fixed"]["fixed"]["wall"])))

    def measure_per_route(self, reps):
        ip = self.spec["ip"]
        argvs = [[ip] + line.split() for line in self.lines]
        env = self.box.env

        def loop():
            for argv in argvs:
                p = subprocess.run(argv, capture_output=True, env=env)
                if p.returncode != 0:
                    raise RuntimeError("%s: %s" % (" ".join(argv), p.stderr.decode().strip()))

        for mode in ("apply", "noop"):
            for k in range(reps):
                if mode == "apply":
                    self.box.flush()
                wall, cpu, _ = timed(loop)
                self.box.verify(self.routes, "ip_per_route %s" % mode)
                self.samples.add("ip_per_route", mode, wall, cpu)
            log("%-16s %-5s %s" % ("ip_per_route", mode,
                                   brief(self.samples.data["ip_per_route"][mode]["wall"])))

    def playbook_once(self, mode):
        if mode == "apply":
            self.box.flush()
        wall, cpu, tasks = self.run_playbook(self.play_task)
        self.box.verify(self.routes, "playbook %s" % mode)
        if len(tasks) != 1 or tasks[0]["failed"] or tasks[0]["changed"] != (mode == "apply"):
            raise RuntimeError("playbook %s: unexpected task outcome %s" % (mode, tasks))
        self.samples.add("playbook", mode, wall, cpu, task=tasks[0]["seconds"])
        return wall

    def measure_playbook(self, reps):
        """Rounds of: the same play with ``tasks: []`` (fixed overhead),
        the task applied from empty, the task again (no-op).  Each round
        gives a paired difference whole - empty under the same load."""
        self.box.flush()
        converged = False
        for k in range(reps):
            wall_e, cpu, tasks = self.run_playbook(self.play_empty)
            self.box.verify(self.routes if converged else [], "playbook_empty")
            self.samples.add("playbook_empty", "fixed", wall_e, cpu)
            for mode in ("apply", "noop"):
                wall = self.playbook_once(mode)
                self.samples.data["playbook"][mode].setdefault("diff", []).append(wall - wall_e)
            converged = True
        log("%-16s %-5s %s" % ("playbook_empty", "",
                               brief(self.samples.data["playbook_empty"]["fixed"]["wall"])))
        for mode in ("apply", "noop"):
            d = self.samples.data["playbook"][mode]
            log("%-16s %-5s %s; task alone %s" % ("playbook", mode, brief(d["wall"]), brief(d["task"])))

    def measure_loop(self, reps_apply, reps_noop):
        for mode, reps in (("apply", reps_apply), ("noop", reps_noop)):
            for k in range(reps):
                if mode == "apply":
                    self.box.flush()
                wall, cpu, tasks = self.run_playbook(self.play_loop)
                self.box.verify(self.routes, "playbook_loop %s" % mode)
                if len(tasks) != 1 or tasks[0]["failed"] or tasks[0]["items"] != self.n:
                    raise RuntimeError("loop %s: unexpected task outcome %s" % (mode, tasks))
                self.samples.add("playbook_loop", mode, wall, cpu, task=tasks[0]["seconds"])
            if reps:
                d = self.samples.data["playbook_loop"][mode]
                log("%-16s %-5s %s; task alone %s" % ("playbook_loop", mode, brief(d["wall"]),
                                                      brief(d["task"])))

    # profiles -------------------------------------------------------------
    def profile_module(self, outdir):
        """cProfile of the module process, apply from empty and no-op."""
        out = {}
        for mode in ("apply", "noop"):
            if mode == "apply":
                self.box.flush()
            path = os.path.join(outdir, "module-%s-n%d.prof" % (mode, self.n))
            p = subprocess.run([self.spec["python"], "-m", "cProfile", "-o", path, "-m", MODULE,
                                self.args_file], capture_output=True, text=True,
                               env=self.module_env(), cwd=self.spec["repo"])
            if p.returncode != 0:
                raise RuntimeError("profiled module run failed: %s" % p.stderr[-2000:])
            self.box.verify(self.routes, "profiled module %s" % mode)
            out[mode] = path
        return out

    def profile_playbook(self, outdir):
        """cProfile of ansible-playbook (controller process and the forked
        worker that runs the task), no-op run on a converged table."""
        prefix = os.path.join(outdir, "playbook-noop-n%d" % self.n)
        for suffix in ("main", "worker"):
            if os.path.exists("%s-%s.prof" % (prefix, suffix)):
                os.unlink("%s-%s.prof" % (prefix, suffix))
        env = self.ansible_env(os.path.join(self.work, "timer-prof.jsonl"))
        env["HGWB_PROFILE_PREFIX"] = prefix
        p = subprocess.run([self.spec["python"], self.spec["profile_ansible"], "-i", self.inventory,
                            self.play_task], capture_output=True, text=True,
                           cwd=self.spec["repo"], env=env)
        if p.returncode != 0:
            raise RuntimeError("profiled ansible-playbook failed: %s" % (p.stdout + p.stderr)[-3000:])
        self.box.verify(self.routes, "profiled playbook")
        return {"main": prefix + "-main.prof", "worker": prefix + "-worker.prof"}


def main():
    spec_path, out_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as fh:
        spec = json.load(fh)
    check_namespace(spec)
    reps = spec["repeats"]
    b = Bench(spec)
    t0 = time.time()
    load_before = os.getloadavg()
    b.box.flush()
    if spec.get("module_fixed"):
        b.measure_module_fixed(reps["cheap"])
    b.measure_module_vs_floor(reps["pair"])
    b.measure_control(reps["cheap"])
    if reps["per_route"]:
        b.measure_per_route(reps["per_route"])
    if reps["ansible"]:
        b.measure_playbook(reps["ansible"])
    if spec.get("loop"):
        b.measure_loop(reps["loop_apply"], reps["loop_noop"])
    profiles = {}
    if spec.get("profile"):
        log("profiling (cProfile) at N=%d ..." % b.n)
        profiles["module"] = b.profile_module(spec["profile_dir"])
        if reps["ansible"]:
            profiles["playbook"] = b.profile_playbook(spec["profile_dir"])
    b.box.flush()
    result = dict(n=b.n, samples=b.samples.data, profiles=profiles, example_line=b.lines[0],
                  seconds=time.time() - t0, loadavg_before=load_before,
                  loadavg_after=os.getloadavg())
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()

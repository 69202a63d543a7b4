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
  ip_batch_nexthops the nexthop floor: ``ip -force -batch -`` of exactly the lines
                  the module writes with ``nexthop_objects: true`` (``nexthop add
                  id I via GW dev DEV proto 252`` + ``route replace DEST nhid I
                  ...``); its no-op is the same batch with ``nexthop replace``
  module_nh       the module with ``nexthop_objects: true``, ``routes`` as lines,
                  paired in rounds with the nexthop floor and the plain floor
  module          the module as Ansible runs it: python, args file, JSON out;
                  ``routes`` as dicts ``{dest, via, dev}``
  module_lines    the same with ``routes`` as lines ``"DEST via GW dev DEV"``
                  (the form the collection's routes role passes)
  module_fixed    the module with ``routes: []`` (interpreter + framework cost)
  ip_per_route    one ``ip route replace`` process per route (subprocess, no shell)
  playbook*       ansible-playbook, connection local, one ip_route task, in four
                  variants: routes form (dicts, lines) x vars file (YAML, JSON),
                  see PLAYBOOKS; ``playbook`` is dicts in YAML (the original);
                  a fifth, ``playbook_nh_lines``: lines, JSON, ``nexthop_objects: true``
  playbook*_empty the same playbook and vars file with an empty task list
  playbook_loop   ansible ``loop:`` of ``ansible.builtin.command: ip route replace``

The module's ``commands`` (both forms, every apply run, and the ansible task's
via the callback) must equal the floor's lines; no-op runs must have none.
With ``nexthop_objects: true`` they must equal the nexthop floor's lines, and
after every run the table must also hold exactly N nexthop objects with the
tag, one per (gateway, dev), each used by its route.
"""

import hashlib
import itertools
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

# ansible-playbook variants: method id -> (routes form, vars file format).
# "playbook" is the original row (dicts, a YAML vars file as a person writes
# one); "playbook_lines" (lines, JSON vars file, as a provisioning tool would
# generate it) is the form the targets are judged on.
PLAYBOOKS = (
    ("playbook", "dicts", "yaml"),
    ("playbook_dicts_json", "dicts", "json"),
    ("playbook_lines", "lines", "json"),
    ("playbook_lines_yaml", "lines", "yaml"),
    ("playbook_nh_lines", "lines_nh", "json"),
)
# routes form -> (vars file form, task options beyond routes/protos_dir)
FORMS = {"dicts": ("dicts", ""), "lines": ("lines", ""),
         "lines_nh": ("lines", "        nexthop_objects: true\n")}
# ansible-playbook runs profiled at the largest N: (method, mode).
NH_PLAYBOOKS = set(m for m, form, _fmt in PLAYBOOKS if form == "lines_nh")
PROFILED_PLAYBOOKS = (("playbook", "noop"), ("playbook", "apply"), ("playbook_lines", "noop"),
                      ("playbook_lines", "apply"))


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


def route_line(r):
    """R in the module's line form, as the routes role's
    ``hostgw_peer_route_lines`` filter writes it."""
    return "%s via %s dev %s" % (r["dest"], r["via"], r["dev"])


def digest(lines):
    """Order-independent fingerprint of a list of lines."""
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def same_gateway_line(line):
    """LINE with its next hop replaced by peer 0's (the control)."""
    return re.sub(r" via [0-9.]+ ", " via %s " % gateway(0), line)


def nexthop_noop_lines(lines):
    """The nexthop floor's no-op: the module's nexthop-mode lines with
    ``nexthop add`` made ``nexthop replace`` (an add of an existing object
    fails), sent again to the converged table."""
    return [("nexthop replace " + l[len("nexthop add "):]) if l.startswith("nexthop add ") else l
            for l in lines]


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
        p = subprocess.run(argv, input=data, capture_output=True, text=True, env=self.env, check=False)
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
        # Nexthop objects of the control (and with them the routes that use
        # them; `ip route flush` refuses those); harmless if there are none.
        self.run([self.ip, "nexthop", "flush", "proto", str(PROTO)], check=False)
        self.run([self.ip, "-4", "route", "flush", "table", "main", "proto", str(PROTO)])
        left = self.tagged()
        if left:
            raise RuntimeError("flush left %d tagged routes" % len(left))

    def nexthops(self):
        """The tagged nexthop objects: ``{id: (gateway, dev)}``."""
        text = self.run([self.ip, "-json", "nexthop", "show", "proto", str(PROTO)],
                        check=False).stdout.strip()
        return dict((n.get("id"), (n.get("gateway"), n.get("dev"))) for n in
                    (json.loads(text) if text else []))

    def verify_nh(self, routes, what):
        """ROUTES exactly, each through a tagged nexthop object; exactly one
        tagged object per (gateway, dev), N of them here."""
        self.verify(routes, what)
        nhs = self.nexthops()
        want = set((r["via"], r["dev"]) for r in routes)
        if len(nhs) != len(want) or set(nhs.values()) != want:
            raise RuntimeError("%s: expected exactly %d tagged nexthop objects, found %d"
                               % (what, len(want), len(nhs)))
        text = self.run([self.ip, "-json", "-4", "route", "show", "table", "main", "proto",
                         str(PROTO)]).stdout.strip()
        for r in json.loads(text) if text else []:
            if r.get("nhid") not in nhs or nhs[r["nhid"]] != (r.get("gateway"), r.get("dev")):
                raise RuntimeError("%s: route %s does not use its tagged nexthop object (nhid %s)"
                                   % (what, r.get("dst"), r.get("nhid")))

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
        self.route_lines = [route_line(r) for r in self.routes]
        self.samples = Samples()
        self.profiled_task_seconds = {}
        self._write_inputs()
        self.lines = self._module_lines()
        self.lines_sorted = sorted(self.lines)
        self.lines_digest = digest(self.lines)
        self.probe_nexthops()
        if self.has_nexthops:
            self.nh_lines = self._module_nh_lines()
            self.nh_lines_sorted = sorted(self.nh_lines)
            self.nh_lines_digest = digest(self.nh_lines)

    def probe_nexthops(self):
        probe = self.box.run([self.spec["ip"], "nexthop", "show"], check=False)
        self.has_nexthops = probe.returncode == 0
        if not self.has_nexthops:
            log("nexthop objects: not supported here, nexthop rows skipped: %s" % probe.stderr.strip())

    # inputs ---------------------------------------------------------------
    def _write_inputs(self):
        w = self.work
        pd = self.spec["protos_dir"]
        self.args = {}
        for form, routes, extra in (("dicts", self.routes, {}), ("lines", self.route_lines, {}),
                                    ("lines_nh", self.route_lines, {"nexthop_objects": True})):
            self.args[form] = os.path.join(w, "args-%s.json" % form)
            with open(self.args[form], "w") as fh:
                json.dump({"ANSIBLE_MODULE_ARGS": dict({"routes": routes, "protos_dir": pd},
                                                       **extra)}, fh)
        self.args_file = self.args["dicts"]
        self.args_empty = os.path.join(w, "args-empty.json")
        with open(self.args_empty, "w") as fh:
            json.dump({"ANSIBLE_MODULE_ARGS": {"routes": [], "protos_dir": pd}}, fh)
        # Vars files.  YAML as a person writes one: one flow mapping (dicts)
        # or one plain scalar (lines) a line.  JSON as a tool generates one;
        # ansible-core's DataLoader tries json.loads before the YAML parser.
        self.vars_files = {}
        for form in ("dicts", "lines"):
            path = os.path.join(w, "routes-%s.yml" % form)
            with open(path, "w") as fh:
                fh.write("---\nhgwb_routes:\n")
                if form == "dicts":
                    for r in self.routes:
                        fh.write("  - {dest: %s, via: %s, dev: %s}\n" % (r["dest"], r["via"], r["dev"]))
                else:
                    for line in self.route_lines:
                        fh.write("  - %s\n" % line)
            self.vars_files[(form, "yaml")] = path
            path = os.path.join(w, "routes-%s.json" % form)
            with open(path, "w") as fh:
                json.dump({"hgwb_routes": self.routes if form == "dicts" else self.route_lines}, fh)
            self.vars_files[(form, "json")] = path
        self.vars_file = self.vars_files[("dicts", "yaml")]
        self.inventory = os.path.join(w, "inventory.ini")
        with open(self.inventory, "w") as fh:
            fh.write("localhost ansible_connection=local ansible_python_interpreter=%s\n"
                     % self.spec["python"])

        def head(vars_file):
            return ("---\n- name: Benchmark\n  hosts: localhost\n  gather_facts: false\n"
                    "  vars_files:\n    - %s\n" % vars_file)

        self.play_task = {}
        self.play_empty = {}
        for method, form, fmt in PLAYBOOKS:
            vf = self.vars_files[(FORMS[form][0], fmt)]
            self.play_task[method] = os.path.join(w, "task-%s.yml" % method)
            with open(self.play_task[method], "w") as fh:
                fh.write(head(vf) + "  tasks:\n"
                         "    - name: Peer routes\n"
                         "      podnet.hostgw.ip_route:\n"
                         "        routes: \"{{ hgwb_routes }}\"\n"
                         "        protos_dir: %s\n" % pd + FORMS[form][1])
            self.play_empty[method] = os.path.join(w, "empty-%s.yml" % method)
            with open(self.play_empty[method], "w") as fh:
                fh.write(head(vf) + "  tasks: []\n")
        self.play_loop = os.path.join(w, "loop.yml")
        with open(self.play_loop, "w") as fh:
            fh.write(head(self.vars_file) + "  tasks:\n"
                     "    - name: Peer routes, one command each\n"
                     "      ansible.builtin.command:\n"
                     "        argv: [ip, route, replace, \"{{ item.dest }}\", via, \"{{ item.via }}\",\n"
                     "               dev, \"{{ item.dev }}\", table, main, metric, \"0\", proto, \"%d\"]\n"
                     "      loop: \"{{ hgwb_routes }}\"\n"
                     "      changed_when: true\n" % PROTO)

    def _check_mode_commands(self, form):
        path = os.path.join(self.work, "args-check-%s.json" % form)
        args = {"routes": self.routes if form == "dicts" else self.route_lines,
                "protos_dir": "", "_ansible_check_mode": True}
        if form == "lines_nh":
            args["nexthop_objects"] = True
        with open(path, "w") as fh:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, fh)
        return self.run_module(path).get("commands") or []

    def _module_lines(self):
        """The floor runs exactly the lines the module runs: ask the module
        (check mode, on the empty table) for its ``commands``, for the dict
        form and for the line form; the two must be the same lines."""
        self.box.flush()
        lines = self._check_mode_commands("dicts")
        if len(lines) != self.n or not all(l.startswith("route replace ") for l in lines):
            raise RuntimeError("module check mode: expected %d 'route replace' lines, got %d: %s"
                               % (self.n, len(lines), lines[:2]))
        by_dest = dict((line.split()[2], line) for line in lines)
        for r in self.routes:
            line = by_dest.get(r["dest"], "")
            if " %s via %s dev %s " % (r["dest"], r["via"], r["dev"]) not in " %s " % line:
                raise RuntimeError("no module line for %s (e.g. %r)" % (r, lines[0]))
        from_lines = self._check_mode_commands("lines")
        if sorted(from_lines) != sorted(lines):
            raise RuntimeError("module check mode: the line form gives other commands than the "
                               "dict form (%d vs %d lines, e.g. %r vs %r)" % (
                                   len(from_lines), len(lines), sorted(from_lines)[:1],
                                   sorted(lines)[:1]))
        return lines

    def _module_nh_lines(self):
        """The nexthop floor runs exactly the lines the module runs with
        ``nexthop_objects: true``: its check-mode ``commands`` on the empty
        table, N ``nexthop add`` lines then N ``route replace ... nhid``
        lines, one object per route (each route has its own gateway), each
        route through the object of its own gateway."""
        self.box.flush()
        lines = self._check_mode_commands("lines_nh")
        nhs = [l for l in lines if l.startswith("nexthop add ")]
        rts = [l for l in lines if l.startswith("route replace ")]
        if len(nhs) != self.n or len(rts) != self.n or lines != nhs + rts:
            raise RuntimeError("module check mode, nexthop_objects: expected %d 'nexthop add' then "
                               "%d 'route replace' lines, got %d lines: %s"
                               % (self.n, self.n, len(lines), lines[:2]))
        by_id = {}
        for l in nhs:
            m = re.match(r"nexthop add id (\d+) via (\S+) dev (\S+) proto %d$" % PROTO, l)
            if not m:
                raise RuntimeError("unexpected nexthop line %r" % l)
            by_id[m.group(1)] = (m.group(2), m.group(3))
        want = dict((r["dest"], (r["via"], r["dev"])) for r in self.routes)
        for l in rts:
            m = re.match(r"route replace (\S+) nhid (\d+) ", l)
            if not m or want.get(m.group(1)) != by_id.get(m.group(2)):
                raise RuntimeError("module nexthop line %r is not a wanted route through its "
                                   "gateway's object" % l)
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
                           text=True, env=self.module_env(), cwd=self.spec["repo"], check=False)
        try:
            res = json.loads(p.stdout)
        except ValueError:
            raise RuntimeError("module printed no JSON (rc %s): %s %s"
                               % (p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        if p.returncode != 0 or res.get("failed"):
            raise RuntimeError("module failed: %s" % (res.get("msg") or p.stderr)[:3000])
        self.last_out_bytes = len(p.stdout.encode())
        return res

    def run_playbook(self, playbook):
        timer_out = os.path.join(self.work, "timer.jsonl")
        if os.path.exists(timer_out):
            os.unlink(timer_out)
        argv = [self.spec["ansible_playbook"], "-i", self.inventory, playbook]
        c0 = children_cpu()
        t0 = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, text=True, cwd=self.spec["repo"],
                           env=self.ansible_env(timer_out), check=False)
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

    def check_module_result(self, res, mode, what, nh=False):
        """The module's JSON: apply has exactly the floor's lines as
        ``commands`` (NH: the nexthop floor's), no-op has none; ``routes``
        lists the N routes."""
        cmds = res.get("commands") or []
        want_sorted = self.nh_lines_sorted if nh else self.lines_sorted
        if mode == "apply":
            if not res.get("changed") or len(cmds) != len(want_sorted):
                raise RuntimeError("%s apply: changed=%s with %d commands, expected %d"
                                   % (what, res.get("changed"), len(cmds), len(want_sorted)))
            if sorted(cmds) != want_sorted:
                got, want = set(cmds), set(want_sorted)
                raise RuntimeError("%s: the module's batch lines differ from the floor's: e.g. %r "
                                   "not in the floor's, %r missing" % (
                                       what, sorted(got - want)[:1], sorted(want - got)[:1]))
        elif res.get("changed") or cmds:
            raise RuntimeError("%s no-op run reported changed=%s, %d commands"
                               % (what, res.get("changed"), len(cmds)))
        if len(res.get("routes") or ()) != self.n:
            raise RuntimeError("%s %s: returned %d routes, expected %d"
                               % (what, mode, len(res.get("routes") or ()), self.n))

    # measurements ---------------------------------------------------------
    def floor_once(self, mode, method="ip_batch", routes=None, lines=None, nh=False):
        """One timed ``ip -force -batch -`` run (flushed first for apply)."""
        routes = routes or self.routes
        data = "".join(line + "\n" for line in (lines or self.lines))
        argv = [self.spec["ip"], "-force", "-batch", "-"]
        if mode == "apply":
            self.box.flush()
        wall, cpu = timed(lambda: self.box.run(argv, data=data))[:2]
        (self.box.verify_nh if nh else self.box.verify)(routes, "%s %s" % (method, mode))
        self.samples.add(method, mode, wall, cpu)
        return wall, cpu

    def module_once(self, mode, form="dicts"):
        """One timed module run (routes as FORM); checks its JSON as well as
        the table."""
        method = {"dicts": "module", "lines": "module_lines", "lines_nh": "module_nh"}[form]
        nh = form == "lines_nh"
        if mode == "apply":
            self.box.flush()
        wall, cpu, res = timed(lambda: self.run_module(self.args[form]))
        (self.box.verify_nh if nh else self.box.verify)(self.routes, "%s %s" % (method, mode))
        self.check_module_result(res, mode, method, nh=nh)
        self.samples.add(method, mode, wall, cpu, out_bytes=self.last_out_bytes)
        return wall, cpu

    def measure_module_vs_floor(self, reps):
        """The floor, the module with dicts and the module with lines, in
        rounds (the order of the three changes from round to round: all six
        orders in turn), so that all see the same background load; each
        round gives one paired ratio module/floor per form."""
        orders = list(itertools.permutations(("floor", "dicts", "lines")))
        for mode in ("apply", "noop"):
            if mode == "noop":
                self.box.verify(self.routes, "converged table before the no-op runs")
            for k in range(reps):
                got = {}
                for what in orders[k % len(orders)]:
                    got[what] = self.floor_once(mode) if what == "floor" else self.module_once(mode, what)
                fw, fc = got["floor"]
                for form, method in (("dicts", "module"), ("lines", "module_lines")):
                    mw, mc = got[form]
                    d = self.samples.data[method][mode]
                    d.setdefault("ratio", []).append(mw / fw)
                    d.setdefault("cpu_ratio", []).append(mc / fc if fc > 0 else None)
            for method in ("ip_batch", "module", "module_lines"):
                log("%-16s %-5s %s" % (method, mode, brief(self.samples.data[method][mode]["wall"])))
            for method in ("module", "module_lines"):
                log("%-16s %-5s paired %s/floor ratios %s" % ("", mode, method, ", ".join(
                    "%.2f" % r for r in self.samples.data[method][mode]["ratio"])))

    def measure_control(self, reps):
        routes = make_routes(self.n, same_gateway=True)
        lines = [same_gateway_line(line) for line in self.lines]
        for mode in ("apply", "noop"):
            for k in range(reps):
                self.floor_once(mode, "ip_batch_samegw", routes, lines)
            log("%-16s %-5s %s" % ("ip_batch_samegw", mode,
                                   brief(self.samples.data["ip_batch_samegw"][mode]["wall"])))

    def measure_nh_module_vs_floor(self, reps):
        """The same N routes (same gateways) through nexthop objects: the
        IPv4 fib_info hash mixes in a nexthop object's id, so the routes do
        not share one hash chain.  In rounds like measure_module_vs_floor:
        the nexthop floor (``ip -batch`` of the module's nexthop-mode lines),
        the module with ``nexthop_objects: true`` (lines) and the plain floor
        (routes without objects), the order changing from round to round;
        each round gives the module's ratio to both floors.  Leaves the
        table empty."""
        if not self.has_nexthops:
            return
        orders = list(itertools.permutations(("nhfloor", "module_nh", "floor")))
        for mode in ("apply", "noop"):
            nh_data = self.nh_lines if mode == "apply" else nexthop_noop_lines(self.nh_lines)
            for k in range(reps):
                got = {}
                for what in orders[k % len(orders)]:
                    if what == "floor":
                        # the plain floor flushes for apply; for the no-op it
                        # needs the plain routes in place
                        if mode == "noop":
                            self.box.flush()
                            self.box.run([self.spec["ip"], "-force", "-batch", "-"],
                                         data="".join(l + "\n" for l in self.lines))
                        got[what] = self.floor_once(mode, "ip_batch_nhround")
                    else:
                        if mode == "noop" and not self.box.nexthops():
                            # converge in nexthop mode first (not timed)
                            self.box.flush()
                            self.box.run([self.spec["ip"], "-force", "-batch", "-"],
                                         data="".join(l + "\n" for l in self.nh_lines))
                            self.box.verify_nh(self.routes, "converged nexthop table")
                        if what == "nhfloor":
                            got[what] = self.floor_once(mode, "ip_batch_nexthops", self.routes,
                                                        nh_data, nh=True)
                        else:
                            got[what] = self.module_once(mode, "lines_nh")
                mw, mc = got["module_nh"]
                d = self.samples.data["module_nh"][mode]
                for key, floor in (("ratio", "nhfloor"), ("ratio_plain", "floor")):
                    fw, fc = got[floor]
                    d.setdefault(key, []).append(mw / fw)
                    d.setdefault("cpu_" + key, []).append(mc / fc if fc > 0 else None)
            for method in ("ip_batch_nexthops", "module_nh", "ip_batch_nhround"):
                log("%-17s %-5s %s" % (method, mode, brief(self.samples.data[method][mode]["wall"])))
            d = self.samples.data["module_nh"][mode]
            log("%-17s %-5s paired module_nh/nexthop floor %s; /plain floor %s" % (
                "", mode, ", ".join("%.2f" % r for r in d["ratio"]),
                ", ".join("%.2f" % r for r in d["ratio_plain"])))
        self.box.flush()
        self.box.verify([], "after the nexthop rows")
        if self.box.nexthops():
            raise RuntimeError("tagged nexthop objects left after the flush")

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
                p = subprocess.run(argv, capture_output=True, env=env, check=False)
                if p.returncode != 0:
                    raise RuntimeError("%s: %s" % (" ".join(argv), p.stderr.decode().strip()))

        for mode in ("apply", "noop"):
            for k in range(reps):
                if mode == "apply":
                    self.box.flush()
                wall, cpu = timed(loop)[:2]
                self.box.verify(self.routes, "ip_per_route %s" % mode)
                self.samples.add("ip_per_route", mode, wall, cpu)
            log("%-16s %-5s %s" % ("ip_per_route", mode,
                                   brief(self.samples.data["ip_per_route"][mode]["wall"])))

    def check_task(self, tasks, method, mode, nh=False):
        """The ansible task's outcome as the callback saw it: changed only
        on apply; ``commands`` = the floor's lines (apply) or none (no-op);
        ``routes`` has N lines."""
        if len(tasks) != 1 or tasks[0]["failed"] or tasks[0]["changed"] != (mode == "apply"):
            raise RuntimeError("%s %s: unexpected task outcome %s" % (method, mode, tasks))
        t = tasks[0]
        if mode != "apply":
            want_n, want_digest = 0, digest([])
        elif nh:
            want_n, want_digest = len(self.nh_lines), self.nh_lines_digest
        else:
            want_n, want_digest = self.n, self.lines_digest
        if t.get("commands_n") != want_n or t.get("commands_sha256") != want_digest:
            raise RuntimeError("%s %s: the task's commands (%s lines) are not the floor's %d lines"
                               % (method, mode, t.get("commands_n"), want_n))
        if t.get("routes_n") != self.n:
            raise RuntimeError("%s %s: the task returned %s routes, expected %d"
                               % (method, mode, t.get("routes_n"), self.n))

    def playbook_once(self, method, mode):
        nh = method in NH_PLAYBOOKS
        if mode == "apply":
            self.box.flush()
        wall, cpu, tasks = self.run_playbook(self.play_task[method])
        (self.box.verify_nh if nh else self.box.verify)(self.routes, "%s %s" % (method, mode))
        self.check_task(tasks, method, mode, nh=nh)
        self.samples.add(method, mode, wall, cpu, task=tasks[0]["seconds"])
        return wall

    def measure_playbook(self, reps):
        """Rounds of, for each variant in PLAYBOOKS (their order rotates
        from round to round): the same play with ``tasks: []`` (fixed
        overhead, same vars file), the task applied from empty, the task
        again (no-op).  Each round gives a paired difference whole - empty
        under the same load."""
        self.box.flush()
        converged = False
        plays = [p for p in PLAYBOOKS if self.has_nexthops or p[0] not in NH_PLAYBOOKS]
        for k in range(reps):
            order = plays[k % len(plays):] + plays[:k % len(plays)]
            for method, _form, _fmt in order:
                wall_e, cpu, tasks = self.run_playbook(self.play_empty[method])
                self.box.verify(self.routes if converged else [], method + "_empty")
                if tasks:
                    raise RuntimeError("%s_empty ran a task: %s" % (method, tasks))
                self.samples.add(method + "_empty", "fixed", wall_e, cpu)
                for mode in ("apply", "noop"):
                    wall = self.playbook_once(method, mode)
                    self.samples.data[method][mode].setdefault("diff", []).append(wall - wall_e)
                converged = True
        for method, _form, _fmt in plays:
            log("%-20s %-5s %s" % (method + "_empty", "",
                                   brief(self.samples.data[method + "_empty"]["fixed"]["wall"])))
            for mode in ("apply", "noop"):
                d = self.samples.data[method][mode]
                log("%-20s %-5s %s; task alone %s" % (method, mode, brief(d["wall"]), brief(d["task"])))

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
    def profile_module(self, outdir, form):
        """cProfile of the module process (routes as FORM), apply from empty
        and no-op."""
        out = {}
        for mode in ("apply", "noop"):
            if mode == "apply":
                self.box.flush()
            path = os.path.join(outdir, "module%s-%s-n%d.prof" % (
                "" if form == "dicts" else "-" + form, mode, self.n))
            p = subprocess.run([self.spec["python"], "-m", "cProfile", "-o", path, "-m", MODULE,
                                self.args[form]], capture_output=True, text=True,
                               env=self.module_env(), cwd=self.spec["repo"], check=False)
            if p.returncode != 0:
                raise RuntimeError("profiled module run failed: %s" % p.stderr[-2000:])
            self.box.verify(self.routes, "profiled module %s %s" % (form, mode))
            out[mode] = path
        return out

    def profile_playbook(self, outdir, method="playbook", mode="noop"):
        """cProfile of ansible-playbook (controller process and the forked
        worker that runs the task), variant METHOD, MODE (apply: from an
        empty table; no-op: on the converged table)."""
        prefix = os.path.join(outdir, "%s-%s-n%d" % (method, mode, self.n))
        for suffix in ("main", "worker"):
            if os.path.exists("%s-%s.prof" % (prefix, suffix)):
                os.unlink("%s-%s.prof" % (prefix, suffix))
        timer_out = os.path.join(self.work, "timer-prof.jsonl")
        if os.path.exists(timer_out):
            os.unlink(timer_out)
        env = self.ansible_env(timer_out)
        env["HGWB_PROFILE_PREFIX"] = prefix
        if mode == "apply":
            self.box.flush()
        else:
            self.box.verify(self.routes, "converged table before the profiled no-op run")
        p = subprocess.run([self.spec["python"], self.spec["profile_ansible"], "-i", self.inventory,
                            self.play_task[method]], capture_output=True, text=True,
                           cwd=self.spec["repo"], env=env, check=False)
        if p.returncode != 0:
            raise RuntimeError("profiled ansible-playbook failed: %s" % (p.stdout + p.stderr)[-3000:])
        self.box.verify(self.routes, "profiled playbook %s %s" % (method, mode))
        with open(timer_out) as fh:
            tasks = [t for t in (json.loads(l) for l in fh if l.strip()) if "task" in t]
        self.check_task(tasks, "profiled " + method, mode)
        self.profiled_task_seconds["%s-%s" % (method, mode)] = tasks[0]["seconds"]
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
    b.measure_nh_module_vs_floor(reps["pair"])
    if reps["per_route"]:
        b.measure_per_route(reps["per_route"])
    if reps["ansible"]:
        b.measure_playbook(reps["ansible"])
    if spec.get("loop"):
        b.measure_loop(reps["loop_apply"], reps["loop_noop"])
    profiles = {}
    if spec.get("profile"):
        log("profiling (cProfile) at N=%d ..." % b.n)
        profiles["module"] = b.profile_module(spec["profile_dir"], "dicts")
        profiles["module_lines"] = b.profile_module(spec["profile_dir"], "lines")
        if reps["ansible"]:
            for method, mode in PROFILED_PLAYBOOKS:
                # "playbook" (dicts, no-op) keeps its old key
                key = "playbook" if (method, mode) == ("playbook", "noop") else "%s-%s" % (method, mode)
                profiles[key] = b.profile_playbook(spec["profile_dir"], method, mode)
    b.box.flush()
    result = dict(n=b.n, samples=b.samples.data, profiles=profiles, example_line=b.lines[0],
                  example_route_line=b.route_lines[0],
                  profiled_task_seconds=b.profiled_task_seconds,
                  playbooks=[list(p) for p in PLAYBOOKS],
                  seconds=time.time() - t0, loadavg_before=load_before,
                  loadavg_after=os.getloadavg())
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of site.yml at fleet size (issue 11, "Round trips"): on a lab of
N hosts, N = 5, 20 and 50, the idempotent re-run of site.yml against a
one-task play (``ansible.builtin.ping``) on the same hosts and settings, and
converge from empty; tasks per host and worker processes per run.

    make bench-fleet                                   # everything (about 15 min)
    .venv/bin/python bench/fleet_bench.py --sizes 5,20 --repeats 1 --no-publish
    .venv/bin/python bench/fleet_bench.py --from-json bench/results/fleet-DATE.json
    .venv/bin/python bench/fleet_bench.py --before bench/results/fleet-OLD.json   # with "before" figures

Each N gets a fresh lab of its own (tests/integration/labkit.py; named after
this process, torn down at the end, also on error or Ctrl-C): converge from
empty is the first site.yml run on it, then REPEATS rounds of the ping play
and the re-run (which must report changed=0 on every host), alternating
which goes first.  At the largest N it then runs both again under other
settings (forks, strategy, pipelining) for the README's advice.

A full run writes its results JSON under bench/results/ (gitignored), the
plot bench/fleet_bench.png and its section of BENCHMARKS.md (between the
``fleet-bench`` markers; the rest of the file is left as it is).
``--no-publish`` prints the section only.  Needs root (the lab).
"""

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results")
PNG_NAME = "fleet_bench.png"
PNG_PATH = os.path.join(BENCH, PNG_NAME)
TARGET_RATIO = 6.0

sys.path.insert(0, BENCH)
sys.path.insert(0, REPO)
import run as ip_route_bench  # noqa: E402  (machine_info, say)
import benchmarks_md  # noqa: E402
from tests.conftest import LAB  # noqa: E402  (also puts lab/ on sys.path)
assert LAB in sys.path

say = ip_route_bench.say

PING_PLAY = """---
- name: One task on every host (the yardstick)
  hosts: hostgw_nodes
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""

# Other settings tried at the largest N: label -> environment.  The main runs
# use the checkout's ansible.cfg as it is.
VARIANTS = (
    ("forks = 5 (ansible's default)", {"ANSIBLE_FORKS": "5"}),
    ("forks = 50", {"ANSIBLE_FORKS": "50"}),
    ("pipelining off", {"ANSIBLE_PIPELINING": "False"}),
    ("strategy free", {"ANSIBLE_STRATEGY": "free"}),
)


# What one task costs per host, by kind: plays of UNIT_TASKS copies of one
# task on the smallest lab (converged), against the same play with no task.
UNIT_TASKS = 6
UNIT_KINDS = (
    ("no task (the play alone)", None),
    ("`ansible.builtin.ping` (a module run)", "ansible.builtin.ping:"),
    ("`podnet.hostgw.node_info` (a module run)", "podnet.hostgw.node_info:\n        cluster_cidrs: [192.168.0.0/16]"),
    ("`podnet.hostgw.files`, one file in place (a module run)",
     "podnet.hostgw.files:\n        files: [{path: /etc/podnet/hostgw-bench.txt, content: x}]"),
    ("`ansible.builtin.set_fact` (a worker, no module)", "ansible.builtin.set_fact:\n        hgwb_x: 1"),
    ("a task skipped by `when:` (a worker, no module)", "ansible.builtin.ping:\n      when: false"),
    ("`ansible.builtin.meta: noop` (no worker)", "ansible.builtin.meta: noop"),
)


def unit_play(task):
    body = "- name: Unit cost\n  hosts: hostgw_nodes\n  gather_facts: false\n  tasks:\n"
    if task is None:
        return body + "    []\n"
    return body + "".join("    - name: Task %d\n      %s\n" % (i, task) for i in range(UNIT_TASKS))


def unit_costs(runs, n):
    """CPU seconds per host and task of each kind (the play alone: per run)."""
    out = []
    base = None
    for label, task in UNIT_KINDS:
        path = os.path.join(runs.tmp, "unit-%d.yml" % len(out))
        with open(path, "w") as fh:
            fh.write(unit_play(task))
        cpu = statistics.median(runs.play(path)["cpu"] for _round in range(2))
        if task is None:
            base = cpu
            out.append(dict(kind=label, cpu=cpu))
        else:
            out.append(dict(kind=label, cpu=(cpu - base) / (UNIT_TASKS * n)))
        say("  N = %d: unit cost, %s: %.3f s CPU" % (n, label, out[-1]["cpu"]))
    return out


def inventory(lab, n):
    from tests.integration.labkit import base_inventory, nodes
    inv = base_inventory(lab)
    # Subnets allocated by the plan (the lab's underlay is a /24).
    nodes(inv)["hosts"] = dict(("host%d" % i, {"hostgw_node_ip": "10.168.0.%d" % i}) for i in range(1, n + 1))
    return inv


def children_cpu():
    """User + system seconds of every process this one waited for: an
    ansible-playbook run, its workers and what they ran on the lab hosts."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Runs:
    """ansible-playbook runs on one lab, timed, with the hgwb_fleet callback."""

    def __init__(self, lab, tmp):
        self.lab, self.tmp = lab, tmp
        self.ping_path = os.path.join(tmp, "ping.yml")
        with open(self.ping_path, "w") as fh:
            fh.write(PING_PLAY)
        self.count = 0

    def play(self, playbook, env=None, timeout=3600):
        from tests.integration.labkit import RECAP, recap
        self.count += 1
        out = os.path.join(self.tmp, "tasks-%d.jsonl" % self.count)
        run_env = dict(ANSIBLE_CALLBACK_PLUGINS=os.path.join(BENCH, "callback_plugins"),
                       ANSIBLE_CALLBACKS_ENABLED="hgwb_fleet", HGWB_FLEET_OUT=out)
        run_env.update(env or {})
        start, cpu = time.monotonic(), children_cpu()
        proc = self.lab.site(self.lab.good_path, playbook=playbook, timeout=timeout, env=run_env)
        seconds, cpu = time.monotonic() - start, children_cpu() - cpu
        if proc.returncode != 0:
            raise RuntimeError("%s failed (rc %d):\n%s\n%s"
                               % (playbook, proc.returncode, proc.stdout[-3000:], proc.stderr[-2000:]))
        changed = recap(proc) if RECAP.search(proc.stdout) else {}  # a play without a task has no rows
        tasks = []
        with open(out) as fh:
            for line in fh:
                rec = json.loads(line)
                if "task" in rec:
                    tasks.append(rec)
        return dict(seconds=seconds, cpu=cpu, changed=changed, tasks=tasks)

    def site(self, env=None):
        return self.play("site.yml", env)

    def ping(self, env=None):
        return self.play(self.ping_path, env)


def first_error(text):
    """The first line of a failed run's output that says why."""
    for line in text.splitlines():
        if "fatal:" in line or "ERROR" in line or '"msg"' in line or "msg:" in line:
            return line.strip()[:300]
    return text.strip().splitlines()[0][:300] if text.strip() else "failed"


def task_counts(tasks, host):
    """(tasks that ran for HOST, worker processes of the whole run)."""
    return (sum(1 for t in tasks if host in t["results"]), sum(len(t["results"]) for t in tasks))


def profile(tasks):
    """The run's tasks by wall time: [(role, task, action, seconds, results)]."""
    return [dict(role=t["role"], task=t["task"], action=t["action"], seconds=t["seconds"],
                 results=len(t["results"]), run_once=t["run_once"]) for t in tasks]


def summarize(run):
    first_host = "host1"
    per_host, forks = task_counts(run["tasks"], first_host)
    return dict(seconds=run["seconds"], cpu=run["cpu"], tasks_per_host=per_host, worker_forks=forks,
                changed_hosts=sum(1 for c in run["changed"].values() if c))


def measure_size(n, repeats, tag, variants, units=False):
    from tests.integration.labkit import Lab
    name = "hgwf%s-%d" % (tag, n)
    tmp = tempfile.mkdtemp(prefix="hgwb-fleet-")
    lab = Lab(name, tmp, inventory=inventory(name, n))
    res = dict(n=n, lab=name, ping=[], rerun=[], variants={})
    try:
        start = time.monotonic()
        lab.up()
        res["lab_up"] = time.monotonic() - start
        runs = Runs(lab, tmp)
        say("  N = %d: lab up in %.0f s; converging from empty" % (n, res["lab_up"]))
        first = runs.site()
        if sorted(first["changed"]) != sorted("host%d" % i for i in range(1, n + 1)):
            raise RuntimeError("the recap does not list the %d hosts: %s" % (n, sorted(first["changed"])))
        res["converge"] = summarize(first)
        res["converge_profile"] = profile(first["tasks"])
        say("  N = %d: converge %.1f s (CPU %.1f s)" % (n, first["seconds"], first["cpu"]))
        for r in range(repeats):
            order = ("ping", "rerun") if r % 2 == 0 else ("rerun", "ping")
            for what in order:
                run = runs.ping() if what == "ping" else runs.site()
                if what == "rerun":
                    changed = dict((h, c) for h, c in run["changed"].items() if c)
                    if changed:
                        raise RuntimeError("the re-run changed something: %s" % changed)
                    res["rerun_profile"] = profile(run["tasks"])
                res[what].append(summarize(run))
                say("  N = %d: %s %.1f s (CPU %.1f s)" % (n, what, run["seconds"], run["cpu"]))
        if units:
            res["unit_costs"] = unit_costs(runs, n)
        for label, env in variants:
            ping = runs.ping(env)
            try:
                rerun = runs.site(env)
            except RuntimeError as exc:  # a strategy the plays do not support
                res["variants"][label] = dict(env=env, ping=summarize(ping), error=first_error(str(exc)))
                say("  N = %d, %s: site.yml failed: %s" % (n, label, res["variants"][label]["error"]))
                continue
            if any(rerun["changed"].values()):
                raise RuntimeError("the re-run (%s) changed something: %s" % (label, rerun["changed"]))
            res["variants"][label] = dict(env=env, ping=summarize(ping), rerun=summarize(rerun))
            say("  N = %d, %s: ping %.1f s, re-run %.1f s" % (n, label, ping["seconds"], rerun["seconds"]))
        return res
    finally:
        lab.down()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------- report --

def med(entries, key="seconds"):
    return statistics.median(e[key] for e in entries)


def ratio(entry):
    return med(entry["rerun"]) / med(entry["ping"])


def cpu_ratio(entry):
    """The same ratio in CPU seconds (None for results without them)."""
    if not all("cpu" in e for e in entry["rerun"] + entry["ping"]):
        return None
    return med(entry["rerun"], "cpu") / med(entry["ping"], "cpu")


def fmt_ratio(r):
    return "-" if r is None else "%.1f×" % r


def fmt_s(x):
    return "%.1f s" % x if x >= 10 else "%.2f s" % x


def cpu_note(entries):
    if not all("cpu" in e for e in entries):
        return ""
    return " (%s)" % fmt_s(med(entries, "cpu"))


def spread(entries):
    values = [e["seconds"] for e in entries]
    if len(values) == 1:
        return fmt_s(values[0])
    return "%s (%s–%s)" % (fmt_s(statistics.median(values)), fmt_s(min(values)), fmt_s(max(values)))


def by_n(res):
    return dict((e["n"], e) for e in res["sizes"])


def verdict(res):
    sizes = by_n(res)
    big = max(sizes)
    r = ratio(sizes[big])
    return big, r, "met" if r <= TARGET_RATIO else "NOT met"


def summary_line(res):
    big, r, ok = verdict(res)
    e = by_n(res)[big]
    text = ("Idempotent re-run of site.yml on %d lab hosts ≤ %g× a one-task play: **%.1f×** wall (%s vs %s), "
            "%s in CPU time — %s" % (big, TARGET_RATIO, r, fmt_s(med(e["rerun"])), fmt_s(med(e["ping"])),
                                     fmt_ratio(cpu_ratio(e)), ok))
    before = res.get("before")
    if before:
        b = by_n(before).get(big)
        if b:
            text += "; before: %.1f× wall, %s CPU" % (ratio(b), fmt_ratio(cpu_ratio(b)))
    return text + "."


def merged_tasks(tasks):
    """TASKS with one row per role, task and run_once: a task that starts
    once per host (a meta task such as end_role) is summed, with its count."""
    rows = {}
    for t in tasks:
        key = (t["role"], t["task"], t["run_once"])
        row = rows.setdefault(key, dict(t, seconds=0.0, results=0, starts=0))
        row["seconds"] += t["seconds"]
        row["results"] += t["results"]
        row["starts"] += 1
    return sorted(rows.values(), key=lambda t: -t["seconds"])


def profile_table(entry, key, limit=None):
    rows = merged_tasks(entry[key])
    total = sum(t["seconds"] for t in rows)
    L = ["| role | task | worker processes | seconds | share |", "|---|---|---:|---:|---:|"]
    for t in rows[:limit]:
        L.append("| %s | %s%s%s | %d | %.2f | %.0f %% |" % (
            t["role"] or "(play)", t["task"].replace("|", "\\|"), " (run_once)" if t["run_once"] else "",
            " (started %d times)" % t["starts"] if t["starts"] > 1 else "",
            t["results"], t["seconds"], 100 * t["seconds"] / total if total else 0))
    return L


def section(res):
    meta, sizes = res["meta"], by_n(res)
    ns = sorted(sizes)
    before = by_n(res["before"]) if res.get("before") else {}
    m = meta["machine"]
    L = ["## site.yml at fleet size: the idempotent re-run against a one-task play (`make bench-fleet`)", "",
         summary_line(res), "",
         "Generated by `make bench-fleet` (= `.venv/bin/python bench/fleet_bench.py`) on %s; run time %.0f s. "
         "Re-run it to refresh this section; the rest of this file is other benchmarks'." % (
             meta["date"], meta["seconds"]), "",
         "![site.yml re-run and converge against a one-task play](bench/%s)" % PNG_NAME, "",
         "### Per run (wall time: median (min–max) of %d rounds; CPU: user + system seconds of the run's processes)" % meta["repeats"], "",
         "| hosts | one-task play (`ping`) | site.yml re-run (changed=0) | re-run / ping, wall | re-run / ping, CPU "
         "| before: re-run / ping, wall, CPU | converge from empty | converge per host (CPU per host) "
         "| tasks per host (re-run) | worker processes (re-run, ping) |",
         "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in ns:
        e = sizes[n]
        b = before.get(n)
        conv = e["converge"]
        L.append("| %d | %s | %s | **%.1f×** | %s | %s | %s | %s%s | %d | %d, %d |" % (
            n, spread(e["ping"]), spread(e["rerun"]), ratio(e), fmt_ratio(cpu_ratio(e)),
            ("%.1f× (%s vs %s), %s" % (ratio(b), fmt_s(med(b["rerun"])), fmt_s(med(b["ping"])),
                                       fmt_ratio(cpu_ratio(b)))) if b else "-",
            fmt_s(conv["seconds"]), fmt_s(conv["seconds"] / n),
            " (%s)" % fmt_s(conv["cpu"] / n) if "cpu" in conv else "",
            e["rerun"][0]["tasks_per_host"], e["rerun"][0]["worker_forks"], e["ping"][0]["worker_forks"]))
    if before:
        L += ["", "Before (%s): converge from empty %s." % (
            res["before"]["meta"].get("label", res["before"]["meta"]["date"]),
            "; ".join("%d hosts %s (%s a host%s), %d tasks per host and %d worker processes on the re-run" % (
                n, fmt_s(b["converge"]["seconds"]), fmt_s(b["converge"]["seconds"] / n),
                ", CPU %s a host" % fmt_s(b["converge"]["cpu"] / n) if "cpu" in b["converge"] else "",
                b["rerun"][0]["tasks_per_host"], b["rerun"][0]["worker_forks"]) for n, b in sorted(before.items())))]
    big = sizes[ns[-1]]
    if big.get("variants"):
        L += ["", "### Settings at %d hosts (one run each)" % ns[-1], "",
              "| setting | ping | re-run | re-run / ping |", "|---|---:|---:|---:|",
              "| the checkout's ansible.cfg (forks = %s, pipelining on, strategy linear), median | %s | %s | %.1f× |"
              % (meta.get("forks", "?"), fmt_s(med(big["ping"])), fmt_s(med(big["rerun"])), ratio(big))]
        L[-3] = "| setting | ping (CPU) | re-run (CPU) | re-run / ping |"
        L[-1] = L[-1].replace("| %s | %s |" % (fmt_s(med(big["ping"])), fmt_s(med(big["rerun"]))),
                              "| %s%s | %s%s |" % (fmt_s(med(big["ping"])), cpu_note(big["ping"]),
                                                   fmt_s(med(big["rerun"])), cpu_note(big["rerun"])), 1)
        for label, v in big["variants"].items():
            if "error" in v:
                L.append("| %s (`%s`) | %s | fails: %s | - |" % (
                    label, " ".join("%s=%s" % kv for kv in sorted(v["env"].items())), fmt_s(v["ping"]["seconds"]),
                    v["error"].replace("|", "\\|")))
                continue
            L.append("| %s (`%s`) | %s%s | %s%s | %.1f× |" % (
                label, " ".join("%s=%s" % kv for kv in sorted(v["env"].items())), fmt_s(v["ping"]["seconds"]),
                cpu_note([v["ping"]]), fmt_s(v["rerun"]["seconds"]), cpu_note([v["rerun"]]),
                v["rerun"]["seconds"] / v["ping"]["seconds"]))
    small = sizes[ns[0]]
    if small.get("unit_costs"):
        units = small["unit_costs"]
        ping_cost = next((u["cpu"] for u in units if "ping" in u["kind"]), None)
        L += ["", "### What a task costs, by kind (CPU seconds per host, %d hosts)" % ns[0], "",
              "Plays of %d copies of one task on the converged lab, less the same play without a task; "
              "the play alone is per run." % UNIT_TASKS, "",
              "| task | CPU per host | / a ping |", "|---|---:|---:|"]
        for u in units:
            per = "-" if u is units[0] or not ping_cost else "%.2f" % (u["cpu"] / ping_cost)
            L.append("| %s | %.3f s | %s |" % (u["kind"], u["cpu"], per))
    L += ["", "### Where the re-run's time goes at %d hosts (last round, by task)" % ns[-1], ""]
    L += profile_table(big, "rerun_profile")
    L += ["", "### Method", "",
          "- Each N gets a fresh lab (`tests/integration/labkit.py`, network namespaces with their own "
          "`/etc`, `/run`, ..., reached through the `podnet.hostgw.nsenter` connection): hosts `host1`..`hostN` "
          "on one underlay /24, pod subnets allocated by the plan, no containers. Converge from empty is the "
          "first `site.yml` run on it; then %d rounds of the one-task play and the re-run, alternating which "
          "goes first. Every re-run must report changed=0 for every host in its recap, or the benchmark "
          "stops." % meta["repeats"],
          "- The one-task play: `hosts: hostgw_nodes`, `gather_facts: false`, one `ansible.builtin.ping`. Both "
          "run with the checkout's `ansible.cfg` (forks %s, pipelining on) and the same inventory; wall time "
          "of the whole `ansible-playbook` process." % meta.get("forks", "?"),
          "- Tasks per host: tasks with a result for `host1`; worker processes: results of all tasks for all "
          "hosts (each comes from one forked worker; a task skipped by `when:` too), counted by "
          "`bench/callback_plugins/hgwb_fleet.py`, which also times each task (start to the next task's start).",
          "- Machine: %s, %s CPUs, %s, kernel %s, Python %s, ansible-core %s. Other work ran on the machine "
          "meanwhile (load average %s at the start); ratios within one run are steadier than absolute times." % (
              m.get("cpu_model", "?"), m.get("nproc"), m.get("mem_total", "?"), m.get("kernel"), m.get("python"),
              m.get("ansible_core"), meta.get("load", "?"))]
    return "\n".join(L) + "\n"


def plot(res, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        say("matplotlib is not installed (pip install -r bench/requirements.txt): no plot")
        return False
    sizes = by_n(res)
    ns = sorted(sizes)
    before = by_n(res["before"]) if res.get("before") else {}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(ns, [med(sizes[n]["ping"]) for n in ns], "o-", color="black", label="one-task play (ping)")
    left.plot(ns, [med(sizes[n]["rerun"]) for n in ns], "s-", color="tab:blue", label="site.yml re-run")
    left.plot(ns, [sizes[n]["converge"]["seconds"] for n in ns], "^-", color="tab:green",
              label="site.yml converge from empty")
    bn = sorted(n for n in before if n in sizes)
    if bn:
        left.plot(bn, [med(before[n]["rerun"]) for n in bn], "s--", color="tab:red", label="re-run, before")
        left.plot(bn, [before[n]["converge"]["seconds"] for n in bn], "^--", color="tab:orange",
                  label="converge, before")
    left.set_xlabel("lab hosts")
    left.set_ylabel("wall time (s)")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    right.plot(ns, [ratio(sizes[n]) for n in ns], "s-", color="tab:blue", label="re-run / ping, wall")
    cn = [n for n in ns if cpu_ratio(sizes[n]) is not None]
    if cn:
        right.plot(cn, [cpu_ratio(sizes[n]) for n in cn], "s:", color="tab:cyan", label="re-run / ping, CPU")
    if bn:
        right.plot(bn, [ratio(before[n]) for n in bn], "s--", color="tab:red", label="re-run / ping, wall, before")
        cb = [n for n in bn if cpu_ratio(before[n]) is not None]
        if cb:
            right.plot(cb, [cpu_ratio(before[n]) for n in cb], "s:", color="tab:orange",
                       label="re-run / ping, CPU, before")
    right.axhline(TARGET_RATIO, color="gray", linestyle=":", label="target %g×" % TARGET_RATIO)
    right.set_xlabel("lab hosts")
    right.set_ylabel("ratio")
    right.set_ylim(bottom=0)
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle("podnet.hostgw site.yml at fleet size, %s CPUs, %s" % (
        res["meta"]["machine"].get("nproc"), res["meta"]["date"][:10]), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def summary_rows(res):
    """This target's rows of the BENCHMARKS.md summary."""
    big, r, ok = verdict(res)
    e = by_n(res)[big]
    figure = "%.1f× wall (%s vs %s), %s CPU" % (r, fmt_s(med(e["rerun"])), fmt_s(med(e["ping"])), fmt_ratio(cpu_ratio(e)))
    b = by_n(res["before"]).get(big) if res.get("before") else None
    if b:
        figure += "; before: %.1f× wall, %s CPU" % (ratio(b), fmt_ratio(cpu_ratio(b)))
    return [benchmarks_md.row("bench-fleet", "idempotent re-run of site.yml on %d lab hosts / a one-task play" % big,
                              figure, "%s (≤ %g×)" % ("met" if ok == "met" else "**NOT met**", TARGET_RATIO))]


def output(res, no_publish):
    text = section(res)
    if no_publish:
        print(text)
        return 0
    plot(res, PNG_PATH)
    benchmarks_md.publish("fleet-bench", summary_rows(res), text)
    say("wrote the fleet section of BENCHMARKS.md and bench/%s" % PNG_NAME)
    return 0


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--sizes", default="5,20,50", help="comma-separated N (default %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds per N (default %(default)s)")
    ap.add_argument("--no-variants", action="store_true", help="skip the other settings at the largest N")
    ap.add_argument("--label", help="what this run measures (kept in the JSON; shown for --before)")
    ap.add_argument("--before", metavar="FILE", help="a results JSON of an earlier run, shown side by side")
    ap.add_argument("--no-publish", action="store_true", help="print the section; leave BENCHMARKS.md alone")
    ap.add_argument("--from-json", metavar="FILE", help="only re-render the section and plot from saved results")
    ap.add_argument("--add-unit-costs", metavar="FILE", help="measure the cost per task kind on a lab of the "
                    "smallest size and add it to the results FILE (then re-render)")
    return ap.parse_args(argv)


def forks_setting():
    from ansible.config.manager import ConfigManager
    return ConfigManager(os.path.join(REPO, "ansible.cfg")).get_config_value("DEFAULT_FORKS")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.from_json:
        with open(args.from_json) as fh:
            res = json.load(fh)
        if args.before:
            with open(args.before) as fh:
                res["before"] = json.load(fh)
        return output(res, args.no_publish)
    if os.geteuid() != 0:
        say("the benchmark needs root (network namespaces)")
        return 2
    if args.add_unit_costs:
        with open(args.add_unit_costs) as fh:
            res = json.load(fh)
        n = min(by_n(res))
        res["sizes"][[e["n"] for e in res["sizes"]].index(n)]["unit_costs"] = measure_size(
            n, 0, "u%d" % os.getpid(), (), units=True)["unit_costs"]
        with open(args.add_unit_costs, "w") as fh:
            json.dump(res, fh, indent=1)
        return output(res, args.no_publish)
    t0 = time.time()
    sizes = [int(n) for n in args.sizes.split(",")]
    load = "%.2f" % os.getloadavg()[0]
    say("site.yml at fleet size: N = %s, %d rounds, load average %s" % (sizes, args.repeats, load))
    tag = str(os.getpid())
    res = {"sizes": []}
    partial = os.path.join(RESULTS, "fleet-partial-%s.json" % tag)
    os.makedirs(RESULTS, exist_ok=True)
    for n in sizes:
        variants = () if args.no_variants or n != max(sizes) else VARIANTS
        res["sizes"].append(measure_size(n, args.repeats, tag, variants, units=(n == min(sizes))))
        with open(partial, "w") as fh:  # what is done so far, should a later N fail
            json.dump(res, fh, indent=1)
    ip = shutil.which("ip") or "/usr/sbin/ip"
    res["meta"] = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                       seconds=time.time() - t0, machine=ip_route_bench.machine_info(ip, None),
                       repeats=args.repeats, load=load, forks=forks_setting(), label=args.label,
                       git=ip_route_bench.out(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]))
    if args.before:
        with open(args.before) as fh:
            before = json.load(fh)
        before.pop("before", None)
        res["before"] = before
    os.remove(partial)
    path = os.path.join(RESULTS, "fleet-%s.json" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    with open(path, "w") as fh:
        json.dump(res, fh, indent=1)
    say("wrote %s" % os.path.relpath(path, REPO))
    return output(res, args.no_publish)


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a results JSON of bench/run.py into the committed summary:
BENCHMARKS.md (tables, ratios, targets, machine, method, profile) and the
plot bench/ip_route_bench.png.  ``python bench/run.py --from-json FILE``
re-renders without measuring."""

import os
import pstats
import re
import statistics

# method id -> (label, colour, marker, linestyle)
METHODS = [
    ("ip_batch", "raw `ip -force -batch -` of the same lines (floor)", "black", "o", "-"),
    ("module", "module: python process with args file", "tab:blue", "s", "-"),
    ("playbook_task", "ansible task alone (callback timer)", "tab:green", "^", "-"),
    ("playbook", "ansible-playbook, whole process", "tab:olive", "v", "-"),
    ("playbook_empty", "ansible-playbook, empty task list (fixed)", "tab:gray", "x", ":"),
    ("ip_per_route", "one `ip route replace` process per route", "tab:orange", "D", "-"),
    ("playbook_loop", "ansible `loop:` of `command: ip route replace`", "tab:red", "P", "-"),
    ("ip_batch_samegw", "control: `ip -batch`, all routes via one gateway", "tab:purple", ".", "--"),
]
LABEL = dict((m[0], m[1]) for m in METHODS)
MODES = (("apply", "apply from empty"), ("noop", "no-op on converged table"))
TARGET_N = 10000
TARGET_RATIO = 2.0
TARGET_TASK_S = 2.0


def stats(values):
    return dict(median=statistics.median(values), min=min(values), max=max(values), n=len(values))


def fmt_s(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    if v >= 0.1:
        return "%.3f" % v
    return "%.4f" % v


def fmt_n(n):
    return "{:,}".format(n).replace(",", " ")


# ------------------------------------------------------------ the table --

def series(results):
    """{method: {mode: {N: entry}}}; entry = stats + extrapolated flag.
    Adds the derived series playbook_task (callback) and the linear
    extrapolation of playbook_loop."""
    out = {}
    sizes = sorted(int(n) for n in results["sizes"])
    for n in sizes:
        samples = results["sizes"][str(n)]["samples"]
        for method, modes in samples.items():
            for mode, d in modes.items():
                if method == "module_fixed":
                    continue
                modes_to = ["apply", "noop"] if mode == "fixed" else [mode]
                for m in modes_to:
                    e = stats(d["wall"])
                    e["cpu"] = statistics.median(d["cpu"])
                    e["extrapolated"] = False
                    if d.get("ratio"):
                        e["ratio"] = stats(d["ratio"])
                        cr = [x for x in d.get("cpu_ratio", []) if x is not None]
                        e["cpu_ratio"] = statistics.median(cr) if cr else None
                    out.setdefault(method, {}).setdefault(m, {})[n] = e
                if method == "playbook" and "task" in d:
                    e = stats(d["task"])
                    e["extrapolated"] = False
                    out.setdefault("playbook_task", {}).setdefault(mode, {})[n] = e
                if method == "playbook" and d.get("diff"):
                    out["playbook"][mode][n]["diff"] = stats(d["diff"])
    loop = out.get("playbook_loop")
    if loop:
        for mode, per_n in loop.items():
            if not per_n:
                continue
            base_n = min(per_n)
            base = per_n[base_n]["median"]
            fixed = out.get("playbook_empty", {}).get(mode, {}).get(base_n, {}).get("median", 0.0)
            per_item = (base - fixed) / base_n
            for n in sizes:
                if n not in per_n:
                    v = fixed + per_item * n
                    per_n[n] = dict(median=v, min=v, max=v, n=0, extrapolated=True,
                                    per_item=per_item, fixed=fixed, base_n=base_n)
    return out, sizes


def cell(e):
    if e is None:
        return "-"
    if e.get("extrapolated"):
        return "*≈%s (extrapolated)*" % fmt_s(e["median"])
    if e["n"] == 1:
        return "%s (1 run)" % fmt_s(e["median"])
    return "%s (%s–%s)" % (fmt_s(e["median"]), fmt_s(e["min"]), fmt_s(e["max"]))


def main_table(ser, sizes):
    lines = ["| method | mode | " + " | ".join("N = %s" % fmt_n(n) for n in sizes) + " |",
             "|---|---|" + "---:|" * len(sizes)]
    for method, label, _c, _m, _ls in METHODS:
        for mode, mode_label in MODES:
            per_n = ser.get(method, {}).get(mode)
            if not per_n:
                continue
            if method == "playbook_empty" and mode == "noop":
                continue
            ml = "(no task)" if method == "playbook_empty" else mode_label
            lines.append("| %s | %s | %s |" % (label, ml, " | ".join(cell(per_n.get(n)) for n in sizes)))
    return "\n".join(lines)


def cpu_table(ser, sizes):
    lines = ["| method | mode | " + " | ".join("N = %s" % fmt_n(n) for n in sizes) + " |",
             "|---|---|" + "---:|" * len(sizes)]
    for method, label, _c, _m, _ls in METHODS:
        if method == "playbook_task":
            continue
        for mode, mode_label in MODES:
            per_n = ser.get(method, {}).get(mode)
            if not per_n or (method == "playbook_empty" and mode == "noop"):
                continue
            cells = []
            for n in sizes:
                e = per_n.get(n)
                cells.append("-" if e is None or e.get("extrapolated") or "cpu" not in e
                             else fmt_s(e["cpu"]))
            ml = "(no task)" if method == "playbook_empty" else mode_label
            lines.append("| %s | %s | %s |" % (label, ml, " | ".join(cells)))
    return "\n".join(lines)


def ratio_table(ser, sizes):
    lines = ["| N | mode | floor (s) | module (s) | module/floor: median of paired runs (min–max) "
             "| ratio of medians | CPU-time ratio |", "|---:|---|---:|---:|---:|---:|---:|"]
    for n in sizes:
        for mode, mode_label in MODES:
            f = ser.get("ip_batch", {}).get(mode, {}).get(n)
            m = ser.get("module", {}).get(mode, {}).get(n)
            if not (f and m):
                continue
            r = m.get("ratio")
            lines.append("| %s | %s | %s | %s | %s | %.2f× | %s |" % (
                fmt_n(n), mode_label, fmt_s(f["median"]), fmt_s(m["median"]),
                ("**%.2f×** (%.2f–%.2f)" % (r["median"], r["min"], r["max"])) if r else "-",
                m["median"] / f["median"],
                ("%.2f×" % m["cpu_ratio"]) if m.get("cpu_ratio") else "-"))
    return "\n".join(lines)


def ansible_table(ser, sizes):
    lines = ["| N | mode | whole ansible-playbook (s) | empty task list (s) | task ≈ difference (s) "
             "| task alone, callback (s) |", "|---:|---|---:|---:|---:|---:|"]
    for n in sizes:
        for mode, mode_label in MODES:
            w = ser.get("playbook", {}).get(mode, {}).get(n)
            e = ser.get("playbook_empty", {}).get(mode, {}).get(n)
            t = ser.get("playbook_task", {}).get(mode, {}).get(n)
            if not w:
                continue
            diff = w["diff"]["median"] if w.get("diff") else (w["median"] - e["median"]) if e else None
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                fmt_n(n), mode_label, fmt_s(w["median"]), fmt_s(e and e["median"]), fmt_s(diff),
                fmt_s(t and t["median"])))
    return "\n".join(lines)


def per_route_costs(ser, sizes):
    out = []
    for n in sizes:
        f = ser.get("ip_batch", {}).get("apply", {}).get(n)
        c = ser.get("ip_batch_samegw", {}).get("apply", {}).get(n)
        if f:
            out.append((n, f["median"] / n * 1e6, c and c["median"] / n * 1e6))
    return out


def targets(ser):
    out = []
    get = lambda method, mode: ser.get(method, {}).get(mode, {}).get(TARGET_N)  # noqa: E731
    for mode, mode_label in MODES:
        f, m = get("ip_batch", mode), get("module", mode)
        if f and m:
            pr = m.get("ratio")
            r = pr["median"] if pr else m["median"] / f["median"]
            spread = (" (paired runs %.2f–%.2f×; ratio of medians %.2f×)"
                      % (pr["min"], pr["max"], m["median"] / f["median"])) if pr else ""
            out.append("- Module within %g× of raw `ip -batch` at N = %s, %s: **%s** — module %s s, "
                       "floor %s s, module/floor %.2f×%s." % (
                           TARGET_RATIO, fmt_n(TARGET_N), mode_label,
                           "met" if r <= TARGET_RATIO else "NOT met",
                           fmt_s(m["median"]), fmt_s(f["median"]), r, spread))
        else:
            out.append("- Module within %g× of the floor at N = %s, %s: not evaluated "
                       "(not measured)." % (TARGET_RATIO, fmt_n(TARGET_N), mode_label))
    for mode, mode_label in MODES:
        w, e, t = get("playbook", mode), get("playbook_empty", mode), get("playbook_task", mode)
        if not w:
            out.append("- Whole task under %g s at N = %s, %s: not evaluated." % (
                TARGET_TASK_S, fmt_n(TARGET_N), mode_label))
            continue
        diff = w["diff"]["median"] if w.get("diff") else (w["median"] - e["median"]) if e else None
        alone = t["median"] if t else diff
        out.append("- Whole task under %g s at N = %s, %s: **%s** — the task alone takes %s s "
                   "(callback timer; ≈ %s s as whole minus empty playbook), the whole "
                   "ansible-playbook process %s s (%s)." % (
                       TARGET_TASK_S, fmt_n(TARGET_N), mode_label,
                       "met" if alone is not None and alone < TARGET_TASK_S else "NOT met",
                       fmt_s(alone), fmt_s(diff), fmt_s(w["median"]),
                       "under" if w["median"] < TARGET_TASK_S else "over %g s too" % TARGET_TASK_S))
    return "\n".join(out)


# -------------------------------------------------------------- profile --

def _find(st, path_suffix, func):
    best = None
    for (fname, _line, name), (cc, nc, tt, ct, _callers) in st.stats.items():
        if name == func and fname.replace("\\", "/").endswith(path_suffix):
            if best is None or ct > best[1]:
                best = (nc, ct)
    return best


MODULE_PHASES = [
    ("AnsibleModule() — load and check the arguments (deep copies of `routes`)",
     "module_utils/basic.py", "__init__"),
    ("routes.validate_routes", "module_utils/routes.py", "validate_routes"),
    ("resolve_devices (`ip -json link show`)", "modules/ip_route.py", "resolve_devices"),
    ("read_kernel (`ip -json route show` + parse)", "modules/ip_route.py", "read_kernel"),
    ("routes.plan", "module_utils/routes.py", "plan"),
    ("IpCommand.batch (`ip -force -batch -`, kernel work)", "module_utils/ip_command.py", "batch"),
    ("exit_json (no_log scrub + JSON of the result)", "module_utils/basic.py", "exit_json"),
]

PLAYBOOK_PHASES = [
    ("main", "DataLoader.load_from_file (playbook + vars file, YAML with origin tags)",
     "parsing/dataloader.py", "load_from_file"),
    ("main", "VariableManager.get_vars (includes the vars file parses above)", "vars/manager.py",
     "get_vars"),
    ("main", "strategy: waiting for the worker", "plugins/strategy/__init__.py", "_wait_on_pending_results"),
    ("main", "strategy: processing the result", "plugins/strategy/__init__.py", "_process_pending_results"),
    ("worker", "Task.post_validate (templating `routes: {{ ... }}`)", "playbook/task.py", "post_validate"),
    ("worker", "_configure_module (AnsiballZ payload incl. JSON of the args)",
     "plugins/action/__init__.py", "_configure_module"),
    ("worker", "_low_level_execute_command (runs python + module)",
     "plugins/action/__init__.py", "_low_level_execute_command"),
    ("worker", "_parse_returned_data (decode module JSON)", "plugins/action/__init__.py",
     "_parse_returned_data"),
    ("worker", "send_task_result (pickle result to controller)", "executor/task_queue_manager.py",
     "send_task_result"),
]


def _top(st, limit=15):
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:limit]
    out = ["| tottime (s) | cumtime (s) | calls | function |", "|---:|---:|---:|---|"]
    for (fname, line, name), (cc, nc, tt, ct, _c) in rows:
        short = re.sub(r"^.*?(site-packages/|ansible_collections/|lib/python3\.\d+/)", "", fname)
        out.append("| %.3f | %.3f | %d | `%s:%d(%s)` |" % (tt, ct, nc, short, line, name))
    return "\n".join(out)


def profile_section(results, root):
    prof = None
    for n in sorted((int(k) for k in results["sizes"]), reverse=True):
        p = results["sizes"][str(n)].get("profiles")
        if p:
            prof, pn = p, n
            break
    if not prof:
        return None
    parts = ["Profiled at N = %s with cProfile (times are inflated by the profiler, roughly 1.3–2×; "
             "the proportions are what matters). Raw `.prof` files: `bench/results/` "
             "(`python -m pstats FILE`)." % fmt_n(pn)]
    mod = prof.get("module") or {}
    loaded = {}
    for mode, path in sorted(mod.items()):
        path = os.path.join(root, path) if not os.path.isabs(path) else path
        if os.path.exists(path):
            loaded[mode] = pstats.Stats(path)
    if loaded:
        hdr = "| phase (module process) | " + " | ".join("%s (s)" % m for m in loaded) + " |"
        rows = [hdr, "|---|" + "---:|" * len(loaded)]
        totals = dict((m, st.total_tt) for m, st in loaded.items())
        mains = dict((m, (_find(st, "modules/ip_route.py", "main") or (0, 0.0))[1])
                     for m, st in loaded.items())
        rows.append("| total under the profiler | %s |" % " | ".join("%.3f" % totals[m] for m in loaded))
        rows.append("| imports before main() (ansible.module_utils.basic, ...) | %s |" % " | ".join(
            "%.3f" % (totals[m] - mains[m]) for m in loaded))
        for label, suffix, func in MODULE_PHASES:
            vals = []
            for m, st in loaded.items():
                f = _find(st, suffix, func)
                vals.append("%.3f" % f[1] if f else "-")
            rows.append("| %s | %s |" % (label, " | ".join(vals)))
        parts.append("**The module** (`python -m cProfile -m ...ip_route args.json`):\n\n" + "\n".join(rows))
        shares = []
        for m, st in loaded.items():
            total = totals[m] or 1.0
            ph = []
            for label, suffix, func in MODULE_PHASES:
                f = _find(st, suffix, func)
                if f:
                    ph.append((f[1], label.split(" (")[0].split(" — ")[0]))
            ph.append((totals[m] - mains[m], "imports"))
            ph.sort(reverse=True)
            shares.append("%s: %s" % (m, ", ".join("%s %.0f%%" % (lbl, 100.0 * v / total)
                                                   for v, lbl in ph[:4])))
        parts.append("Largest shares of the module's profiled time — " + "; ".join(shares) + ".")
        for m, st in loaded.items():
            parts.append("<details><summary>module, %s: top functions by own time</summary>\n\n%s\n\n"
                         "</details>" % (m, _top(st)))
    pb = prof.get("playbook") or {}
    pst = {}
    for which, path in pb.items():
        path = os.path.join(root, path) if not os.path.isabs(path) else path
        if os.path.exists(path):
            pst[which] = pstats.Stats(path)
    if pst:
        rows = ["| process | phase | calls | cumulative (s) |", "|---|---|---:|---:|"]
        for which in ("main", "worker"):
            if which in pst:
                rows.append("| %s | total under the profiler | | %.3f |" % (which, pst[which].total_tt))
        for which, label, suffix, func in PLAYBOOK_PHASES:
            st = pst.get(which)
            f = _find(st, suffix, func) if st else None
            if f:
                rows.append("| %s | %s | %d | %.3f |" % (which, label, f[0], f[1]))
        parts.append("**The whole ansible-playbook, no-op run** (`bench/profile_ansible.py`: the "
                     "controller and the forked worker that runs the task):\n\n" + "\n".join(rows))
        w = pst.get("worker")
        if w:
            ph = []
            for which, label, suffix, func in PLAYBOOK_PHASES:
                if which == "worker":
                    f = _find(w, suffix, func)
                    if f:
                        ph.append((f[1], label.split(" (")[0]))
            ph.sort(reverse=True)
            parts.append("Shares of the task's worker process — " + ", ".join(
                "%s %.0f%%" % (lbl, 100.0 * v / (w.total_tt or 1.0)) for v, lbl in ph) +
                "; only `_low_level_execute_command` is the module itself running.")
        for which, st in pst.items():
            parts.append("<details><summary>ansible-playbook %s process: top functions by own time"
                         "</summary>\n\n%s\n\n</details>" % (which, _top(st)))
    return "\n\n".join(parts)


# ----------------------------------------------------------------- plot --

def plot(ser, sizes, path, title, loop_size=100):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(14, 6.2), sharey=True)
    for ax, (mode, mode_label) in zip(axes, MODES):
        for method, label, colour, marker, ls in METHODS:
            per_n = ser.get(method, {}).get(mode)
            if not per_n:
                continue
            ns = sorted(per_n)
            meas = [n for n in ns if not per_n[n].get("extrapolated")]
            extra = [n for n in ns if per_n[n].get("extrapolated")]
            if meas:
                y = [per_n[n]["median"] for n in meas]
                lo = [per_n[n]["median"] - per_n[n]["min"] for n in meas]
                hi = [per_n[n]["max"] - per_n[n]["median"] for n in meas]
                ax.errorbar(meas, y, yerr=[lo, hi], color=colour, marker=marker, linestyle=ls,
                            linewidth=1.6, markersize=6, capsize=3, label=label.replace("`", ""))
            if extra:
                anchor = meas[-1:] if meas else []
                xs = anchor + extra
                ax.plot(xs, [per_n[n]["median"] for n in xs], color=colour, linestyle="--",
                        linewidth=1.4)
                ax.plot(extra, [per_n[n]["median"] for n in extra], color=colour, marker=marker,
                        linestyle="none", markerfacecolor="white", markersize=7,
                        label=None if meas else label.replace("`", ""))
                for n in extra:
                    ax.annotate("extrapolated", (n, per_n[n]["median"]), textcoords="offset points",
                                xytext=(-8, 6), ha="right", fontsize=7, color=colour)
        ax.axhline(TARGET_TASK_S, color="tab:green", linestyle=":", linewidth=1)
        ax.annotate("2 s target (whole task, N = 10 000)", (sizes[0], TARGET_TASK_S),
                    textcoords="offset points", xytext=(8, 3), ha="left", fontsize=7,
                    color="tab:green", bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none",
                                                 alpha=0.8))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([fmt_n(n) for n in sizes])
        ax.set_xlabel("routes (N)")
        ax.set_title(mode_label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("wall time, seconds (median; bars: min–max)")
    handles, labels = axes[0].get_legend_handles_labels()
    from matplotlib.lines import Line2D

    handles.append(Line2D([], [], color="gray", linestyle="--", marker="o", markerfacecolor="white"))
    labels.append("dashed, hollow markers: extrapolated linearly from N = %s" % fmt_n(loop_size))
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.13, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------- markdown --

def markdown(results, ser, sizes, png_rel, root):
    meta = results["meta"]
    m = meta["machine"]
    o = meta["options"]
    rep = o["repeats"]
    per_route_note = ", ".join("%s at N ≤ %s" % (k, fmt_n(int(v))) if v else "%s above" % k
                               for k, v in rep["per_route_rule"])
    costs = per_route_costs(ser, sizes)
    fixed = results.get("module_fixed")
    L = []
    a = L.append
    a("# Benchmarks: `podnet.hostgw.ip_route`\n")
    a("Generated by `make bench` (= `.venv/bin/python bench/run.py`) on %s; run time %.0f s. "
      "Do not edit by hand: re-run it. Raw numbers: `bench/results/` (not committed). "
      "`bench/run.py --quick` (N = 100, 1 000, fewer repeats) and `--sizes 100,1000` give a short run "
      "and leave this file alone; `--from-json FILE` re-renders it from saved results.\n"
      % (meta["date"], meta["seconds"]))
    a("![time vs N](%s)\n" % png_rel)
    a("## Targets\n")
    a(targets(ser) + "\n")
    a("## Results (wall time in seconds: median (min–max) of the runs)\n")
    a(main_table(ser, sizes) + "\n")
    if o["loop_size"] and o["loop_size"] in sizes:
        loop_note = ("the ansible loop: %d apply + %d no-op, at N = %s only. *Extrapolated* cells "
                     "are not measurements: fixed cost (empty playbook at N = %s) + per-item cost × N, "
                     "a linear extrapolation of the N = %s run. The loop's no-op is the same work as "
                     "its apply (`ip route replace` runs every time)" % (
                         rep["loop_apply"], rep["loop_noop"], fmt_n(o["loop_size"]),
                         fmt_n(o["loop_size"]), fmt_n(o["loop_size"])))
    else:
        loop_note = "the ansible loop was not measured in this run"
    a("Runs per point: %d for the module and `ip -batch` (alternating, see below), %d for the "
      "control; %d for each ansible-playbook variant; one-process-per-route: %s; %s.\n" % (
          rep.get("pair", rep["cheap"]), rep["cheap"], rep["ansible"], per_route_note, loop_note))
    a("<details><summary>CPU time of the same runs (user + system of the timed processes, "
      "median)</summary>\n\nLess disturbed by other load on the machine than wall time; ansible "
      "runs several processes at once, so its CPU time can exceed its wall time.\n\n" +
      cpu_table(ser, sizes) + "\n\n</details>\n")
    if fixed:
        a("The module with `routes: []` (interpreter start, imports, AnsibleModule, nothing to read "
          "or write) takes %s s (median of %d) — the fixed part of every module row above.\n"
          % (fmt_s(fixed["median"]), fixed["n"]))
    a("## Module vs the floor\n")
    a("The floor is `ip -force -batch -` fed exactly the lines the module writes (checked: the "
      "module's `commands` equal them); \"no-op\" for the floor is the same batch on a converged "
      "table (every `replace` is still sent to the kernel), for the module a run that reads the "
      "table, finds nothing to do and writes nothing. The two run alternately (floor, module, "
      "module, floor, ...), each pair under the same background load; the verdicts use the median "
      "of the per-pair ratios.\n")
    a(ratio_table(ser, sizes) + "\n")
    if costs:
        text = "Cost per route of the floor (apply): " + "; ".join(
            "N = %s: %.0f µs%s" % (fmt_n(n), us, " (control, one shared gateway: %.0f µs)" % c
                                   if c else "") for n, us, c in costs) + "."
        grows = len(costs) > 1 and costs[-1][1] > 3 * min(us for _n, us, _c in costs)
        if grows:
            text += (" The per-route cost grows with N when every route has its own gateway (as in "
                     "host-gw, one per peer) and not when they share one: each such route gets its "
                     "own kernel `fib_info`, and the IPv4 `fib_info` hash (net/ipv4/fib_semantics.c) "
                     "mixes in device, protocol, scope, metric and prefsrc but not the gateway, so "
                     "all of them land in one hash chain that every insert or replace walks: "
                     "quadratic in N. The module and the floor pay this equally; it is most of the "
                     "floor at N = %s." % fmt_n(costs[-1][0]))
        a(text + "\n")
    a("## Ansible: whole process, fixed overhead, task\n")
    a(ansible_table(ser, sizes) + "\n")
    text = ("\"Task ≈ difference\" is whole ansible-playbook minus the same playbook with `tasks: []` "
            "(same vars file), the median of the per-round differences (each round runs the empty "
            "play, the task from empty and the task again, back to back). \"Task alone\" is measured inside ansible-playbook by "
            "`bench/callback_plugins/hgwb_timer.py` (task start to task result, like `profile_tasks`).")
    big = sizes[-1]
    w = ser.get("playbook", {}).get("noop", {}).get(big)
    e = ser.get("playbook_empty", {}).get("noop", {}).get(big)
    t = ser.get("playbook_task", {}).get("noop", {}).get(big)
    d = (w["diff"]["median"] if w and w.get("diff") else (w["median"] - e["median"]) if w and e
         else None)
    if d is not None and t and d > 1.15 * t["median"]:
        text += (" At N = %s the difference (%s s, no-op) is above the task alone (%s s): ansible-core "
                 "re-reads and re-parses a play's `vars_files` on every `VariableManager.get_vars` call "
                 "(`DataLoader.load_from_file(..., cache='vaulted')` caches only vaulted files), and a "
                 "play with a task makes more of those calls than an empty play (see the profile)." % (
                     fmt_n(big), fmt_s(d), fmt_s(t["median"])))
    a(text + "\n")
    psec = profile_section(results, root)
    if psec:
        a("## Profile\n")
        a(psec + "\n")
    a("## Machine\n")
    a("| | |\n|---|---|")
    for k, label in (("nproc", "CPUs (`nproc`)"), ("cpu_model", "CPU model"), ("kernel", "kernel"),
                     ("iproute2", "iproute2"), ("python", "Python"), ("ansible_core", "ansible-core"),
                     ("matplotlib", "matplotlib"), ("mem_total", "memory")):
        a("| %s | %s |" % (label, m.get(k, "?")))
    a("| load average (1 min) before / after | %s / %s |" % (m.get("load_before"), m.get("load_after")))
    a("| module source | git %s; sha256 `ip_route.py` %s, `routes.py` %s, `ip_command.py` %s%s |" % (
        meta["module"]["git_head"][:12], meta["module"]["sha256"].get("plugins/modules/ip_route.py", "?")[:12],
        meta["module"]["sha256"].get("plugins/module_utils/routes.py", "?")[:12],
        meta["module"]["sha256"].get("plugins/module_utils/ip_command.py", "?")[:12],
        "; uncommitted: %s" % meta["module"]["git_status"] if meta["module"]["git_status"] else ""))
    a("")
    a("The machine is shared (other jobs may run at the same time), so single runs can be slow "
      "outliers; medians and the min–max spread are reported for that reason.\n")
    example = next((results["sizes"][k].get("example_line") for k in results["sizes"]
                    if results["sizes"][k].get("example_line")), None)
    a("## Method\n")
    a("""- `bench/run.py` creates one network namespace `hgwb-<random>` with `lo` up and an `eth0` (%s) holding
  the underlay `172.16.0.1/12`, so the N gateways `172.16.0.2`, `172.16.0.3`, ... are directly
  connected. Peer i's pod subnet is the i-th /24 of `10.0.0.0/8` (`10.0.0.0/24`, `10.0.1.0/24`, ...).
  All of it exists only inside the namespace, which is deleted at the end (also on error or Ctrl-C).
  Nothing is added to the root namespace.
- The measuring runs in `bench/nsworker.py`, started with `ip netns exec` *inside* the namespace (it
  checks it is); every timed command is its child, so no `ip netns exec` start-up is in any number.
  Time is wall-clock around the child process (`time.perf_counter`); the results JSON also has the
  children's CPU time.
- Every route is what the module writes for `{dest: DEST, via: GW, dev: eth0}`, %s (252 is the
  module's protocol tag; its mapping file goes to a temporary `protos_dir`, not `/etc`). The module
  is asked for its lines first (check mode), and the floor and the per-route loop run exactly those.
- **apply from empty**: `ip route flush table main proto 252` before each run (not timed);
  **no-op**: the same run again on the converged table.
- After **every** run the table is read back (`ip -json route show table all proto 252`, IPv4 and
  IPv6) and must hold exactly the N wanted routes and nothing else with the tag; the module's JSON
  must say `changed` with N commands (apply) or not changed with none (no-op); ansible runs must
  exit 0 with the expected changed state. A failed check aborts the benchmark.
- **module**: `python -m ansible_collections.podnet.hostgw.plugins.modules.ip_route ARGS.json` with
  `{"ANSIBLE_MODULE_ARGS": {"routes": [...], "protos_dir": ...}}`, as Ansible runs a module
  (minus AnsiballZ unpacking), `PYTHONPATH=collections`, the venv's Python.
- **floor**: `ip -force -batch -` with the module's `route replace` lines on stdin (what the module
  itself runs). **one process per route**: `subprocess.run(["ip", "route", "replace", ...])` N times.
- **ansible-playbook**: `-i` an inventory with `localhost ansible_connection=local` and the venv
  Python, `gather_facts: false`, the routes in a YAML vars file (`vars_files`, one
  `{dest: ..., via: ..., dev: eth0}` per line), one task `podnet.hostgw.ip_route: {routes: "{{
  hgwb_routes }}"}`; fixed overhead: the same play with `tasks: []`. The repo's `ansible.cfg`.
- **ansible loop**: the same play with `ansible.builtin.command: argv: [ip, route, replace, ...]`
  and `loop: "{{ hgwb_routes }}"`, measured at N = %s only.
- Profiles (`--no-profile` skips them): the module under `python -m cProfile`, and
  `bench/profile_ansible.py`, which wraps ansible-playbook and its forked task worker in cProfile.
""" % (m.get("link", "dummy"), ("e.g. `%s`" % example) if example else "a `route replace` line",
       fmt_n(o["loop_size"])))
    return "\n".join(L) + "\n"


def render(results, root, md_path, png_path, png_rel):
    ser, sizes = series(results)
    fixed_samples = None
    for n in sizes:
        s = results["sizes"][str(n)]["samples"].get("module_fixed")
        if s:
            fixed_samples = s["fixed"]["wall"]
            break
    if fixed_samples:
        results["module_fixed"] = stats(fixed_samples)
    title = "podnet.hostgw.ip_route: %s routes, %s CPUs, kernel %s, %s" % (
        ", ".join(fmt_n(n) for n in sizes), results["meta"]["machine"].get("nproc"),
        results["meta"]["machine"].get("kernel"), results["meta"]["date"][:10])
    plot(ser, sizes, png_path, title, results["meta"]["options"].get("loop_size") or 100)
    text = markdown(results, ser, sizes, png_rel, root)
    with open(md_path, "w") as fh:
        fh.write(text)
    return ser, sizes

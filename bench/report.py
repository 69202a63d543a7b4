# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a results JSON of bench/run.py into its section of BENCHMARKS.md
(summary rows, verdicts, tables, method) and the plot
bench/ip_route_bench.png.  ``python bench/run.py --from-json FILE``
re-renders without measuring.  The cProfile files a full run saves stay under
bench/results/ (``python -m pstats FILE``)."""

import statistics

import benchmarks_md

# The ansible-playbook variants: method id -> routes form, vars file format.
# Each has METHOD (whole process), METHOD_task (callback timer) and
# METHOD_empty (the same play and vars file, tasks: []).  The targets are
# judged on TARGET_PLAYBOOK, the form the collection's routes role passes.
PLAYBOOK_VARIANTS = [
    ("playbook_lines", "lines", "JSON"),
    ("playbook_lines_yaml", "lines", "YAML"),
    ("playbook_dicts_json", "dicts", "JSON"),
    ("playbook", "dicts", "YAML"),
    ("playbook_nh_lines", "lines, `nexthop_objects: true`", "JSON"),
]
VARIANT = dict((m, (form, fmt)) for m, form, fmt in PLAYBOOK_VARIANTS)
TARGET_PLAYBOOK = "playbook_lines"
NH_PLAYBOOK = "playbook_nh_lines"

# method id -> (label, colour, marker, linestyle): the results table and the plot, in this order.
METHODS = [
    ("ip_batch", "raw `ip -force -batch -` of the module's lines (floor)", "black", "o", "-"),
    ("module", "module process, `routes` as dicts", "tab:blue", "s", "-"),
    ("module_lines", "module process, `routes` as lines", "tab:cyan", "s", "-."),
    ("ip_batch_nexthops", "nexthop floor: `ip -batch` of the module's `nexthop_objects` lines", "tab:brown", "*", "--"),
    ("module_nh", "module process, `nexthop_objects: true`, lines", "tab:pink", "s", "--"),
    ("playbook_nh_lines_task", "ansible task alone, `nexthop_objects: true`, lines, JSON vars", "lime", "^", "--"),
    ("playbook_lines_task", "ansible task alone, lines, JSON vars", "darkgreen", "^", "-."),
    ("playbook_lines", "ansible-playbook, whole process, lines, JSON vars", "darkgoldenrod", "v", "-."),
    ("playbook_task", "ansible task alone, dicts, YAML vars", "tab:green", "^", "-"),
    ("playbook", "ansible-playbook, whole process, dicts, YAML vars", "tab:olive", "v", "-"),
    ("ip_per_route", "one `ip route replace` process per route", "tab:orange", "D", "-"),
    ("playbook_loop", "ansible `loop:` of `command: ip route replace`", "tab:red", "P", "-"),
    ("ip_batch_samegw", "control: `ip -batch`, all routes via one gateway", "tab:purple", ".", "--"),
]
MODES = (("apply", "apply from empty"), ("noop", "no-op"))
TARGET_N = 10000
TARGET_RATIO = 2.0
TARGET_TASK_S = 2.0


def stats(values):
    return dict(median=statistics.median(values), min=min(values), max=max(values), n=len(values))


def fmt_s(v):
    if v is None:
        return "-"
    for limit, form in ((100, "%.0f"), (10, "%.1f"), (1, "%.2f"), (0.1, "%.3f")):
        if v >= limit:
            return form % v
    return "%.4f" % v


def fmt_n(n):
    return "{:,}".format(n).replace(",", " ")


def series(results):
    """({method: {mode: {N: entry}}}, sizes); entry = stats (+ paired
    ratios, task seconds).  Adds METHOD_task (callback timer) for the
    playbook variants and extrapolates the ansible loop linearly."""
    out = {}
    sizes = sorted(int(n) for n in results["sizes"])
    for n in sizes:
        for method, modes in results["sizes"][str(n)]["samples"].items():
            if method == "module_fixed":
                continue
            for mode, d in modes.items():
                for m in ["apply", "noop"] if mode == "fixed" else [mode]:
                    e = stats(d["wall"])
                    for key in ("ratio", "ratio_plain", "diff"):
                        if d.get(key):
                            e[key] = stats(d[key])
                    out.setdefault(method, {}).setdefault(m, {})[n] = e
                if method in VARIANT and "task" in d:
                    out.setdefault(method + "_task", {}).setdefault(mode, {})[n] = stats(d["task"])
    for mode, per_n in out.get("playbook_loop", {}).items():
        base_n = min(per_n)
        fixed = out.get("playbook_empty", {}).get(mode, {}).get(base_n, {}).get("median", 0.0)
        per_item = (per_n[base_n]["median"] - fixed) / base_n
        for n in sizes:
            if n not in per_n:
                v = fixed + per_item * n
                per_n[n] = dict(median=v, min=v, max=v, n=0, extrapolated=True)
    return out, sizes


def get(ser, method, mode, n=TARGET_N):
    return ser.get(method, {}).get(mode, {}).get(n)


def cell(e):
    if e is None:
        return "-"
    if e.get("extrapolated"):
        return "*≈%s (extrapolated)*" % fmt_s(e["median"])
    if e["n"] == 1:
        return "%s (1 run)" % fmt_s(e["median"])
    return "%s (%s–%s)" % (fmt_s(e["median"]), fmt_s(e["min"]), fmt_s(e["max"]))


def ratio(e, key="ratio"):
    r = e and e.get(key)
    return "%.2f× (%.2f–%.2f)" % (r["median"], r["min"], r["max"]) if r else "-"


def task_numbers(ser, method, mode, n=TARGET_N):
    """(whole, empty, whole - empty, task alone) medians of one variant, or None."""
    w, e, t = get(ser, method, mode, n), get(ser, method + "_empty", mode, n), get(ser, method + "_task", mode, n)
    if not w:
        return None
    diff = w["diff"]["median"] if w.get("diff") else (w["median"] - e["median"]) if e else None
    return w["median"], e and e["median"], diff, t and t["median"]


def busy(results):
    """The highest 1-minute load average seen during the run and the CPU count,
    if the load was over twice the CPUs (wall times then mean little), else None."""
    cpus = int(results["meta"]["machine"].get("nproc") or 1)
    loads = [r[key][0] for r in results["sizes"].values() for key in ("loadavg_before", "loadavg_after") if r.get(key)]
    return (max(loads), cpus) if loads and max(loads) > 2 * cpus else None


# ------------------------------------------------------------ summary --

def _met(ok):
    return "met" if ok else "**NOT met**"


def summary_rows(ser, load=None):
    """The section's rows of the summary table on top of BENCHMARKS.md."""
    rows = []
    parts, oks = [], []
    for mode, label in MODES:
        m = get(ser, "module_lines", mode)
        if m and m.get("ratio"):
            parts.append("%s %.2f×" % (label, m["ratio"]["median"]))
            oks.append(m["ratio"]["median"] <= TARGET_RATIO)
    if parts:
        rows.append(benchmarks_md.row("bench", "`ip_route` module / raw `ip -batch` floor, 10 000 routes",
                                      ", ".join(parts), "%s (≤ %g×)" % (_met(all(oks)), TARGET_RATIO)))
    parts, verdicts = [], []
    for method, what in ((TARGET_PLAYBOOK, "plain"), (NH_PLAYBOOK, "`nexthop_objects`")):
        nums = [(label, task_numbers(ser, method, mode)) for mode, label in MODES]
        nums = [(label, n[3]) for label, n in nums if n and n[3] is not None]
        if nums:
            parts.append("%s: %s" % (what, ", ".join("%s %s s" % (label, fmt_s(t)) for label, t in nums)))
            verdicts.append("%s %s" % (what, _met(all(t < TARGET_TASK_S for _l, t in nums))))
    if parts:
        rows.append(benchmarks_md.row("bench", "whole `ip_route` task in ansible-playbook, 10 000 routes",
                                      "; ".join(parts), "; ".join(verdicts) + " (< %g s)" % TARGET_TASK_S))
    a, z = get(ser, "module_nh", "apply"), get(ser, "module_nh", "noop")
    if a and a.get("ratio") and z and z.get("ratio"):
        plain = " (%.2f× the plain floor)" % a["ratio_plain"]["median"] if a.get("ratio_plain") else ""
        rows.append(benchmarks_md.row(
            "bench", "`ip_route` with `nexthop_objects: true` / its own `ip -batch` floor, 10 000 routes",
            "apply %.2f×%s, no-op %.2f×" % (a["ratio"]["median"], plain, z["ratio"]["median"]),
            "%s (≤ %g×)" % (_met(a["ratio"]["median"] <= TARGET_RATIO and z["ratio"]["median"] <= TARGET_RATIO),
                            TARGET_RATIO)))
    if load:
        rows = [r[:-2] + " (at load %.0f on %d CPUs: re-run on a quiet machine) |" % load for r in rows]
    return rows


# ------------------------------------------------------------- tables --

def results_table(ser, sizes):
    lines = ["| method | mode | " + " | ".join("N = %s" % fmt_n(n) for n in sizes) + " |",
             "|---|---|" + "---:|" * len(sizes)]
    for method, label, _c, _m, _ls in METHODS:
        for mode, mode_label in MODES:
            per_n = ser.get(method, {}).get(mode)
            if per_n:
                lines.append("| %s | %s | %s |" % (label, mode_label, " | ".join(cell(per_n.get(n)) for n in sizes)))
    return "\n".join(lines)


def floor_table(ser, sizes):
    """The module against the floors, paired per round."""
    lines = ["| N | mode | floor (s) | module, lines (s) | lines / floor | module, dicts / floor "
             "| nexthop floor (s) | module, `nexthop_objects` (s) | `nexthop_objects` / nexthop floor "
             "| `nexthop_objects` / plain floor |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        for mode, label in MODES:
            f, ml, md = (get(ser, m, mode, n) for m in ("ip_batch", "module_lines", "module"))
            h, mh = get(ser, "ip_batch_nexthops", mode, n), get(ser, "module_nh", mode, n)
            if f and ml:
                lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    fmt_n(n), label, fmt_s(f["median"]), fmt_s(ml["median"]), ratio(ml), ratio(md),
                    fmt_s(h and h["median"]), fmt_s(mh and mh["median"]), ratio(mh), ratio(mh, "ratio_plain")))
    return "\n".join(lines)


def ansible_table(ser, sizes):
    lines = ["| N | mode | `routes` as, vars file | whole ansible-playbook (s) | empty task list (s) "
             "| task ≈ difference (s) | task alone, callback (s) |",
             "|---:|---|---|---:|---:|---:|---:|"]
    for n in sizes:
        for mode, label in MODES:
            for method, form, fmt in PLAYBOOK_VARIANTS:
                nums = task_numbers(ser, method, mode, n)
                if nums:
                    lab = "%s, %s" % (form, fmt)
                    lines.append("| %s | %s | %s | %s |" % (fmt_n(n), label, "**%s**" % lab if method == TARGET_PLAYBOOK
                                                            else lab, " | ".join(fmt_s(x) for x in nums)))
    return "\n".join(lines)


# --------------------------------------------------------------- plot --

def plot(ser, sizes, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(14, 7), sharey=True)
    for ax, (mode, mode_label) in zip(axes, MODES):
        for method, label, colour, marker, ls in METHODS:
            per_n = ser.get(method, {}).get(mode)
            if not per_n:
                continue
            meas = [n for n in sorted(per_n) if not per_n[n].get("extrapolated")]
            extra = [n for n in sorted(per_n) if per_n[n].get("extrapolated")]
            ax.errorbar(meas, [per_n[n]["median"] for n in meas],
                        yerr=[[per_n[n]["median"] - per_n[n]["min"] for n in meas],
                              [per_n[n]["max"] - per_n[n]["median"] for n in meas]],
                        color=colour, marker=marker, linestyle=ls, capsize=3, label=label.replace("`", ""))
            if extra:
                xs = meas[-1:] + extra
                ax.plot(xs, [per_n[n]["median"] for n in xs], color=colour, linestyle=":",
                        marker=marker, markerfacecolor="white")
        ax.axhline(TARGET_TASK_S, color="tab:green", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([fmt_n(n) for n in sizes])
        ax.set_xlabel("routes (N)")
        ax.set_title(mode_label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("wall time, s (median; bars: min–max; dotted, hollow: extrapolated)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title + "\nthe green dotted line: the 2 s target of the whole task at N = 10 000", fontsize=11)
    fig.tight_layout(rect=(0, 0.16, 1, 0.95))
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------- markdown --

METHOD = """- One network namespace `hgwb-<random>` (made by `bench/run.py`, deleted at the end, also on error) with `eth0`
  (%(link)s) holding `172.16.0.1/12`; peer i's route is the i-th /24 of `10.0.0.0/8` via its own gateway
  `172.16.0.2 + i`, e.g. `%(example)s`. `bench/nsworker.py` measures inside the namespace; nothing touches the root one.
- **floor**: `ip -force -batch -` fed exactly the module's `commands` (asked in check mode); its no-op is the same batch
  again. **module**: `python -m ...plugins.modules.ip_route ARGS.json`, as Ansible runs it minus AnsiballZ; its no-op
  reads the table and writes nothing. The floor and the module forms run in rounds (order rotating), and the ratios
  are medians of the per-round ratios. **nexthop floor**: the batch of `nexthop add` + `route replace ... nhid` lines
  the module writes with `nexthop_objects: true` (no-op: `nexthop replace`).
- **ansible-playbook**: one `podnet.hostgw.ip_route` task on `localhost` (connection local), the routes in a vars
  file; *task alone* is `bench/callback_plugins/hgwb_timer.py`'s timer, *empty* the same play with `tasks: []`.
- After every run the table must hold exactly the N routes (and N nexthop objects in that mode) and the module's
  result must list exactly the floor's lines; a failed check aborts. Runs per point: %(pair)d (floor, module),
  %(ansible)d (ansible), the loop %(loop)s only (its other cells are a linear extrapolation, marked).
"""


def section(results, ser, sizes, png_rel):
    meta, o = results["meta"], results["meta"]["options"]
    mach = meta["machine"]
    L = ["## `podnet.hostgw.ip_route` against raw `ip -batch` (`make bench`)", "",
         "`make bench` (= `.venv/bin/python bench/run.py`, about 10 min) on %s, run time %.0f s; "
         "`--from-json bench/results/latest.json` re-renders. `routes` as lines is the form the routes role "
         "passes; the targets are judged on it." % (meta["date"], meta["seconds"]), "",
         "![time vs N](%s)" % png_rel, ""]
    load = busy(results)
    if load:
        L += ["**Measured under load** (1-minute load average up to %.0f on %d CPUs, other jobs on the machine): wall "
              "times are inflated several times over and the verdicts on absolute times mean little; the paired ratios "
              "(each round's runs back to back) are steadier. Re-run `make bench` on a quiet machine." % load, ""]
    L += ["### Module against the floor (paired medians, min–max)", "", floor_table(ser, sizes), ""]
    big = sizes[-1]
    f, h = get(ser, "ip_batch", "apply", big), get(ser, "ip_batch_nexthops", "apply", big)
    if f and h and big >= TARGET_N:
        L += ["At N = %s the kernel's share dominates an apply: %.0f µs a route as plain routes, %.0f µs through "
              "nexthop objects (each route with its own gateway lands in one IPv4 `fib_info` hash chain; see the "
              "nexthop section below)." % (fmt_n(big), f["median"] / big * 1e6, h["median"] / big * 1e6), ""]
    L += ["### Ansible: whole process, empty play, task", "", ansible_table(ser, sizes), "",
          "### Every method (wall time, s: median (min–max))", "", results_table(ser, sizes), "",
          "### Method", "", METHOD % dict(
              link=mach.get("link", "dummy"), pair=o["repeats"].get("pair", 0), ansible=o["repeats"]["ansible"],
              loop="at N = %s" % fmt_n(o["loop_size"]) if o.get("loop_size") else "not measured",
              example=next((results["sizes"][k].get("example_route_line") for k in results["sizes"]), "")),
          "Machine: %s CPUs (%s), %s, kernel %s, %s, Python %s, ansible-core %s; load average %s at the start, %s "
          "at the end; module source git %s%s." % (
              mach.get("nproc"), mach.get("cpu_model", "?"), mach.get("mem_total", "?"), mach.get("kernel"),
              mach.get("iproute2", "?"), mach.get("python"), mach.get("ansible_core"), mach.get("load_before"),
              mach.get("load_after"), meta["module"]["git_head"][:12],
              " (uncommitted: %s)" % meta["module"]["git_status"] if meta["module"]["git_status"] else "")]
    if meta.get("module_changed_during_run"):
        L.append("**Warning**: the module's files changed during the run; the numbers mix two versions.")
    return "\n".join(L)


def render(results, md_path, png_path, png_rel):
    ser, sizes = series(results)
    mach = results["meta"]["machine"]
    plot(ser, sizes, png_path, "podnet.hostgw.ip_route: %s CPUs, kernel %s, %s" % (
        mach.get("nproc"), mach.get("kernel"), results["meta"]["date"][:10]))
    benchmarks_md.publish("ip-route-bench", summary_rows(ser, busy(results)), section(results, ser, sizes, png_rel), md_path)
    return ser, sizes

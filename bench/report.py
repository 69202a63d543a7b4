# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a results JSON of bench/run.py into the committed summary:
BENCHMARKS.md (tables, ratios, targets, machine, method, profile) and the
plot bench/ip_route_bench.png.  ``python bench/run.py --from-json FILE``
re-renders without measuring."""

import os
import pstats
import re
import statistics

# The ansible-playbook variants: method id -> routes form, vars file format.
# Each has METHOD (whole process), METHOD_task (callback timer) and
# METHOD_empty (the same play and vars file, tasks: []).  "playbook" is the
# original (dicts in a YAML vars file); the targets are judged on
# TARGET_PLAYBOOK, the form the collection's routes role passes.
PLAYBOOK_VARIANTS = [
    ("playbook_lines", "lines", "JSON"),
    ("playbook_lines_yaml", "lines", "YAML"),
    ("playbook_dicts_json", "dicts", "JSON"),
    ("playbook", "dicts", "YAML"),
    ("playbook_nh_lines", "lines, `nexthop_objects: true`", "JSON"),
]
VARIANT = dict((m, (form, fmt)) for m, form, fmt in PLAYBOOK_VARIANTS)
TARGET_PLAYBOOK = "playbook_lines"
# the same with the module's option nexthop_objects: true
NH_PLAYBOOK = "playbook_nh_lines"

# method id -> (label, colour, marker, linestyle); the main table, the CPU
# table and the plot show these, in this order.
METHODS = [
    ("ip_batch", "raw `ip -force -batch -` of the same lines (floor)", "black", "o", "-"),
    ("module", "module: python process with args file, `routes` as dicts", "tab:blue", "s", "-"),
    ("module_lines", "module: the same, `routes` as lines", "tab:cyan", "s", "-."),
    ("ip_batch_nexthops", "nexthop floor: raw `ip -force -batch -` of the module's `nexthop_objects` "
     "lines", "tab:brown", "*", "--"),
    ("module_nh", "module: `nexthop_objects: true`, `routes` as lines", "tab:pink", "s", "--"),
    ("playbook_nh_lines_task", "ansible task alone (callback timer), `nexthop_objects: true`, lines, "
     "JSON vars file", "lime", "^", "--"),
    ("playbook_nh_lines", "ansible-playbook, whole process, `nexthop_objects: true`, lines, JSON "
     "vars file", "gold", "v", "--"),
    ("playbook_nh_lines_empty", "ansible-playbook, empty task list (fixed), `nexthop_objects: true` "
     "play, lines, JSON vars file", "silver", "x", "--"),
    ("playbook_lines_task", "ansible task alone (callback timer), lines, JSON vars file",
     "darkgreen", "^", "-."),
    ("playbook_lines", "ansible-playbook, whole process, lines, JSON vars file", "darkgoldenrod",
     "v", "-."),
    ("playbook_lines_empty", "ansible-playbook, empty task list (fixed), lines, JSON vars file",
     "dimgray", "x", "-."),
    ("playbook_task", "ansible task alone (callback timer), dicts, YAML vars file", "tab:green", "^", "-"),
    ("playbook", "ansible-playbook, whole process, dicts, YAML vars file", "tab:olive", "v", "-"),
    ("playbook_empty", "ansible-playbook, empty task list (fixed), dicts, YAML vars file",
     "tab:gray", "x", ":"),
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
                    for key in ("ratio", "ratio_plain"):
                        if d.get(key):
                            e[key] = stats(d[key])
                            cr = [x for x in d.get("cpu_" + key, []) if x is not None]
                            e["cpu_" + key] = statistics.median(cr) if cr else None
                    if d.get("out_bytes"):
                        e["out_bytes"] = statistics.median(d["out_bytes"])
                    out.setdefault(method, {}).setdefault(m, {})[n] = e
                if method in VARIANT and "task" in d:
                    e = stats(d["task"])
                    e["extrapolated"] = False
                    out.setdefault(method + "_task", {}).setdefault(mode, {})[n] = e
                if method in VARIANT and d.get("diff"):
                    out[method][mode][n]["diff"] = stats(d["diff"])
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
            if method.endswith("_empty") and mode == "noop":
                continue
            ml = "(no task)" if method.endswith("_empty") else mode_label
            lines.append("| %s | %s | %s |" % (label, ml, " | ".join(cell(per_n.get(n)) for n in sizes)))
    return "\n".join(lines)


def cpu_table(ser, sizes):
    lines = ["| method | mode | " + " | ".join("N = %s" % fmt_n(n) for n in sizes) + " |",
             "|---|---|" + "---:|" * len(sizes)]
    for method, label, _c, _m, _ls in METHODS:
        if method.endswith("_task"):
            continue
        for mode, mode_label in MODES:
            per_n = ser.get(method, {}).get(mode)
            if not per_n or (method.endswith("_empty") and mode == "noop"):
                continue
            cells = []
            for n in sizes:
                e = per_n.get(n)
                cells.append("-" if e is None or e.get("extrapolated") or "cpu" not in e
                             else fmt_s(e["cpu"]))
            ml = "(no task)" if method.endswith("_empty") else mode_label
            lines.append("| %s | %s | %s |" % (label, ml, " | ".join(cells)))
    return "\n".join(lines)


MODULE_FORMS = (("module", "dicts"), ("module_lines", "lines"))


def _paired(m, key="ratio"):
    r = m.get(key)
    return ("**%.2f×** (%.2f–%.2f)" % (r["median"], r["min"], r["max"])) if r else "-"


def ratio_table(ser, sizes):
    lines = ["| N | mode | floor (s) | module, dicts (s) | dicts/floor: median of paired runs (min–max) "
             "| module, lines (s) | lines/floor: median of paired runs (min–max) "
             "| ratio of medians, dicts / lines | CPU-time ratio, dicts / lines |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        for mode, mode_label in MODES:
            f = ser.get("ip_batch", {}).get(mode, {}).get(n)
            ms = [ser.get(method, {}).get(mode, {}).get(n) for method, _form in MODULE_FORMS]
            if not (f and any(ms)):
                continue
            cells = []
            for m in ms:
                cells += ["-", "-"] if not m else [fmt_s(m["median"]), _paired(m)]
            rom = " / ".join("%.2f×" % (m["median"] / f["median"]) if m else "-" for m in ms)
            cpu = " / ".join("%.2f×" % m["cpu_ratio"] if m and m.get("cpu_ratio") else "-" for m in ms)
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                fmt_n(n), mode_label, fmt_s(f["median"]), " | ".join(cells), rom, cpu))
    return "\n".join(lines)


def nh_ratio_table(ser, sizes):
    """The module with nexthop_objects: true against the nexthop floor (its
    own lines) and the plain floor, from the same rounds."""
    lines = ["| N | mode | nexthop floor (s) | plain floor, same rounds (s) | module, `nexthop_objects` (s) "
             "| module / nexthop floor: median of paired runs (min–max) "
             "| module / plain floor: median of paired runs (min–max) | CPU-time ratio, "
             "module / nexthop floor, / plain floor |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        for mode, mode_label in MODES:
            h = ser.get("ip_batch_nexthops", {}).get(mode, {}).get(n)
            f = ser.get("ip_batch_nhround", {}).get(mode, {}).get(n)
            m = ser.get("module_nh", {}).get(mode, {}).get(n)
            if not (h and m):
                continue
            cpu = " / ".join("%.2f×" % m["cpu_" + k] if m.get("cpu_" + k) else "-"
                             for k in ("ratio", "ratio_plain"))
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                fmt_n(n), mode_label, fmt_s(h["median"]), fmt_s(f and f["median"]),
                fmt_s(m["median"]), _paired(m), _paired(m, "ratio_plain"), cpu))
    return "\n".join(lines) if len(lines) > 2 else None


def fmt_bytes(b):
    if b is None:
        return "-"
    if b >= 1e6:
        return "%.1f MB" % (b / 1e6)
    if b >= 1e3:
        return "%.0f kB" % (b / 1e3)
    return "%d B" % b


def output_table(ser, sizes):
    """The size of the module's JSON result (what ansible decodes, pickles
    and hands to the controller)."""
    lines = ["| N | mode | dicts | lines | lines, `nexthop_objects` |", "|---:|---|---:|---:|---:|"]
    for n in sizes:
        for mode, mode_label in MODES:
            cells = [fmt_bytes(ser.get(method, {}).get(mode, {}).get(n, {}).get("out_bytes"))
                     for method, _form in MODULE_FORMS + (("module_nh", "lines_nh"),)]
            if any(c != "-" for c in cells):
                lines.append("| %s | %s | %s |" % (fmt_n(n), mode_label, " | ".join(cells)))
    return "\n".join(lines) if len(lines) > 2 else None


def _task_numbers(ser, method, mode, n):
    """(whole, empty, whole - empty, task alone) medians of one variant."""
    w = ser.get(method, {}).get(mode, {}).get(n)
    e = ser.get(method + "_empty", {}).get(mode, {}).get(n)
    t = ser.get(method + "_task", {}).get(mode, {}).get(n)
    if not w:
        return None
    diff = w["diff"]["median"] if w.get("diff") else (w["median"] - e["median"]) if e else None
    return (w["median"], e and e["median"], diff, t and t["median"])


def variant_label(method):
    form, fmt = VARIANT[method]
    return "%s, %s vars file" % (form, fmt)


def ansible_table(ser, sizes):
    lines = ["| N | mode | `routes` as, vars file | whole ansible-playbook (s) | empty task list (s) "
             "| task ≈ difference (s) | task alone, callback (s) |",
             "|---:|---|---|---:|---:|---:|---:|"]
    for n in sizes:
        for mode, mode_label in MODES:
            for method, _form, _fmt in PLAYBOOK_VARIANTS:
                nums = _task_numbers(ser, method, mode, n)
                if not nums:
                    continue
                w, e, diff, t = nums
                lab = variant_label(method)
                if method == TARGET_PLAYBOOK:
                    lab = "**%s**" % lab
                lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                    fmt_n(n), mode_label, lab, fmt_s(w), fmt_s(e), fmt_s(diff), fmt_s(t)))
    return "\n".join(lines)


def per_route_costs(ser, sizes):
    out = []
    for n in sizes:
        f = ser.get("ip_batch", {}).get("apply", {}).get(n)
        c = ser.get("ip_batch_samegw", {}).get("apply", {}).get(n)
        h = ser.get("ip_batch_nexthops", {}).get("apply", {}).get(n)
        if f:
            out.append((n, f["median"] / n * 1e6, c and c["median"] / n * 1e6,
                        h and h["median"] / n * 1e6))
    return out


def targets(ser):
    out = []

    def get(method, mode):
        return ser.get(method, {}).get(mode, {}).get(TARGET_N)

    for method, form in (("module_lines", "lines"), ("module", "dicts")):
        for mode, mode_label in MODES:
            f, m = get("ip_batch", mode), get(method, mode)
            if f and m:
                pr = m.get("ratio")
                r = pr["median"] if pr else m["median"] / f["median"]
                spread = (" (paired runs %.2f–%.2f×; ratio of medians %.2f×)"
                          % (pr["min"], pr["max"], m["median"] / f["median"])) if pr else ""
                out.append("- Module within %g× of raw `ip -batch` at N = %s, %s, `routes` as %s: "
                           "**%s** — module %s s, floor %s s, module/floor %.2f×%s." % (
                               TARGET_RATIO, fmt_n(TARGET_N), mode_label, form,
                               "met" if r <= TARGET_RATIO else "NOT met",
                               fmt_s(m["median"]), fmt_s(f["median"]), r, spread))
            else:
                out.append("- Module within %g× of the floor at N = %s, %s, `routes` as %s: not "
                           "evaluated (not measured)." % (TARGET_RATIO, fmt_n(TARGET_N), mode_label, form))
    for mode, mode_label in MODES:
        h, f, m = get("ip_batch_nexthops", mode), get("ip_batch_nhround", mode), get("module_nh", mode)
        head = ("- Module with `nexthop_objects: true` within %g× of its floor at N = %s, %s, "
                "`routes` as lines" % (TARGET_RATIO, fmt_n(TARGET_N), mode_label))
        if not (h and m and m.get("ratio")):
            out.append(head + ": not evaluated (not measured).")
            continue
        pr, pp = m["ratio"], m.get("ratio_plain")
        text = (head + ": against the nexthop floor (`ip -batch` of its own `nexthop add` + `route "
                "replace ... nhid` lines%s) **%s** — module %s s, nexthop floor %s s, paired "
                "module/floor %.2f× (%.2f–%.2f×)" % (
                    ", re-sent with `nexthop replace` on the converged table" if mode == "noop" else "",
                    "met" if pr["median"] <= TARGET_RATIO else "NOT met", fmt_s(m["median"]),
                    fmt_s(h["median"]), pr["median"], pr["min"], pr["max"]))
        if pp and f:
            text += ("; against the plain floor (`ip -batch` of the plain `route replace` lines, "
                     "same rounds) **%s** — plain floor %s s, paired module/plain floor %.2f× "
                     "(%.2f–%.2f×)" % ("met" if pp["median"] <= TARGET_RATIO else "NOT met",
                                       fmt_s(f["median"]), pp["median"], pp["min"], pp["max"]))
        out.append(text + ".")
    task_verdicts = {}
    for method, note, mode, mode_label in [
            (mt, nt, md, ml) for mt, nt in ((TARGET_PLAYBOOK, ""),
                                            (NH_PLAYBOOK, ", module option `nexthop_objects: true`"))
            for md, ml in MODES]:
        nums = _task_numbers(ser, method, mode, TARGET_N)
        head = ("- Whole task under %g s at N = %s, %s, `routes` as lines (the form the collection's "
                "routes role passes; %s vars file%s)" % (TARGET_TASK_S, fmt_n(TARGET_N), mode_label,
                                                         VARIANT[method][1], note))
        if not nums:
            out.append(head + ": not evaluated.")
            continue
        w, _e, diff, t = nums
        alone = t if t is not None else diff
        task_verdicts[(method, mode)] = (alone is not None and alone < TARGET_TASK_S, alone)
        text = (head + ": **%s** — the task alone takes %s s (callback timer); whole minus empty "
                "playbook ≈ %s s (%s 2 s); the whole ansible-playbook process %s s (%s)." % (
                    "met" if alone is not None and alone < TARGET_TASK_S else "NOT met",
                    fmt_s(alone), fmt_s(diff),
                    "under" if diff is not None and diff < TARGET_TASK_S else "over",
                    fmt_s(w), "under 2 s" if w < TARGET_TASK_S else "over 2 s"))
        beside = []
        for other, _form, _fmt in PLAYBOOK_VARIANTS:
            if method == NH_PLAYBOOK or other in (TARGET_PLAYBOOK, NH_PLAYBOOK):
                continue
            nb = _task_numbers(ser, other, mode, TARGET_N)
            if nb:
                beside.append("%s: task alone %s s (%s), whole minus empty ≈ %s s, whole %s s" % (
                    variant_label(other), fmt_s(nb[3]),
                    "under 2 s" if nb[3] is not None and nb[3] < TARGET_TASK_S else "NOT under 2 s",
                    fmt_s(nb[2]), fmt_s(nb[0])))
        if beside:
            text += " Beside it — " + "; ".join(beside) + "."
        out.append(text)
    if task_verdicts:
        parts = []
        for method, what in ((TARGET_PLAYBOOK, "plain routes (the default)"),
                             (NH_PLAYBOOK, "`nexthop_objects: true` (`hostgw_route_nexthop_objects`)")):
            vs = ["%s %s (%s s)" % (ml, "met" if task_verdicts[(method, md)][0] else "NOT met",
                                    fmt_s(task_verdicts[(method, md)][1]))
                  for md, ml in MODES if (method, md) in task_verdicts]
            if vs:
                parts.append("%s: %s" % (what, ", ".join(vs)))
        out.append("- In short, whole task under %g s at N = %s (lines, JSON vars file, task alone): "
                   "%s." % (TARGET_TASK_S, fmt_n(TARGET_N), "; ".join(parts)))
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
    ("options.validate_routes", "_hostgw/routes/options.py", "validate_routes"),
    ("of which options.parse_route_line (line form only)", "_hostgw/routes/options.py", "parse_route_line"),
    ("kernel.resolve_devices (`ip -json link show`)", "_hostgw/routes/kernel.py", "resolve_devices"),
    ("kernel.read_kernel (`ip -json route show` + parse)", "_hostgw/routes/kernel.py", "read_kernel"),
    ("plan.plan", "_hostgw/routes/plan.py", "plan"),
    ("IpCommand.batch (`ip -force -batch -`, kernel work)", "_hostgw/iproute.py", "batch"),
    ("exit_json (no_log scrub + JSON of the result)", "module_utils/basic.py", "exit_json"),
    ("of which remove_values (the no_log scrub walks every returned string)",
     "module_utils/common/parameters.py", "remove_values"),
]
# results["sizes"][N]["profiles"] key -> column heading
MODULE_PROFILES = (("module", "dicts"), ("module_lines", "lines"))

PLAYBOOK_PHASES = [
    ("main", "DataLoader.load_from_file (playbook + vars file; JSON or YAML, strings tagged with their origin)",
     "parsing/dataloader.py", "load_from_file"),
    ("main", "VariableManager.get_vars (includes the vars file parses above)", "vars/manager.py",
     "get_vars"),
    ("main", "strategy: waiting for the worker", "plugins/strategy/__init__.py", "_wait_on_pending_results"),
    ("main", "strategy: processing the result", "plugins/strategy/__init__.py", "_process_pending_results"),
    ("worker", "Task.post_validate (templating `routes: {{ ... }}`)", "playbook/task.py", "post_validate"),
    ("worker", "_configure_module (AnsiballZ payload incl. JSON of the args)",
     "plugins/action/__init__.py", "_configure_module"),
    ("worker", "of which recursive_finder (finds and compiles the module_utils; the same at any N)",
     "executor/module_common.py", "recursive_finder"),
    ("worker", "_low_level_execute_command (runs python + module)",
     "plugins/action/__init__.py", "_low_level_execute_command"),
    ("worker", "_parse_returned_data (decode module JSON)", "plugins/action/__init__.py",
     "_parse_returned_data"),
    ("worker", "send_task_result (pickle the result and the task's attributes, incl. its templated args)",
     "executor/task_queue_manager.py", "send_task_result"),
]
# results["sizes"][N]["profiles"] key -> (variant method, mode, column heading)
PLAYBOOK_PROFILES = (
    ("playbook-apply", "playbook", "apply", "dicts, YAML, apply"),
    ("playbook", "playbook", "noop", "dicts, YAML, no-op"),
    ("playbook_lines-apply", "playbook_lines", "apply", "lines, JSON, apply"),
    ("playbook_lines-noop", "playbook_lines", "noop", "lines, JSON, no-op"),
)


def _top(st, limit=15):
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:limit]
    out = ["| tottime (s) | cumtime (s) | calls | function |", "|---:|---:|---:|---|"]
    for (fname, line, name), (cc, nc, tt, ct, _c) in rows:
        short = re.sub(r"^.*?(site-packages/|ansible_collections/|lib/python3\.\d+/)", "", fname)
        out.append("| %.3f | %.3f | %d | `%s:%d(%s)` |" % (tt, ct, nc, short, line, name))
    return "\n".join(out)


def _load(root, path):
    path = os.path.join(root, path) if not os.path.isabs(path) else path
    return pstats.Stats(path) if os.path.exists(path) else None


def _short(label):
    return label.split(" (")[0].split(" — ")[0]


def _cum(st, suffix, func):
    f = _find(st, suffix, func) if st else None
    return f[1] if f else None


def _med(ser, method, mode, n):
    e = ser.get(method, {}).get(mode, {}).get(n)
    return e["median"] if e and not e.get("extrapolated") else None


def where_the_time_goes(results, ser, prof, root, n, mcols, pcols):
    """A paragraph on the target form (lines): what the whole task at N is
    made of, and what the module itself could still cut."""
    sizes = sorted(int(k) for k in results["sizes"])
    small = sizes[0]
    tp = TARGET_PLAYBOOK
    task = dict((m, _med(ser, tp + "_task", m, n)) for m in ("apply", "noop"))
    mod = dict((m, _med(ser, "module_lines", m, n)) for m in ("apply", "noop"))
    floor = _med(ser, "ip_batch", "apply", n)
    task0 = dict((m, _med(ser, tp + "_task", m, small)) for m in ("apply", "noop"))
    if not (task["apply"] and mod["apply"] and floor):
        return None
    out = ["**Where the time of the line form's task goes at N = %s** (%s vars file; unprofiled "
           "medians from the tables above, split up with the profiles below):" % (
               fmt_n(n), VARIANT[tp][1])]
    around = dict((m, task[m] - mod[m]) for m in ("apply", "noop") if task[m] and mod[m])
    for m, ml in (("noop", "no-op"), ("apply", "apply from empty")):
        if m not in around:
            continue
        text = ("- %s: task alone %s s = the module process %s s + ≈ %s s of ansible around it "
                "(forking the worker, templating `routes`, building the AnsiballZ payload, "
                "decoding and passing back the result)" % (
                    ml, fmt_s(task[m]), fmt_s(mod[m]), fmt_s(around[m])))
        if m == "apply":
            fe = ser.get("ip_batch", {}).get("apply", {}).get(n, {})
            text += "; in the module, `ip -batch` alone (the floor) takes %s s (%s–%s)" % (
                fmt_s(floor), fmt_s(fe.get("min")), fmt_s(fe.get("max")))
            if "noop" in around and around["apply"] < 0.75 * around["noop"]:
                text += (". The ≈ %s s is less than the no-op's ≈ %s s of ansible, which does the "
                         "same work: the apply numbers are medians of separate runs whose kernel "
                         "work varies widely from run to run, so this split is rough; the worker's "
                         "profile below splits it directly" % (fmt_s(around["apply"]),
                                                               fmt_s(around["noop"])))
        out.append(text + ".")
    if task0["apply"] and small != n:
        bound = floor + task0["apply"]
        out.append("- A lower bound for apply: the floor at N = %s (%s s, kernel work the module "
                   "cannot skip) plus the whole task at N = %s (%s s, almost all of it the same "
                   "at any N) is %s s — %s." % (
                       fmt_n(n), fmt_s(floor), fmt_n(small), fmt_s(task0["apply"]), fmt_s(bound),
                       "over 2 s: at this kernel cost, apply from empty at N = %s cannot get under "
                       "2 s on this machine while the module writes plain routes (see the nexthop "
                       "control in *Module vs the floor*), whatever else the module or ansible "
                       "does" % fmt_n(n)
                       if bound >= TARGET_TASK_S else
                       "under 2 s, so apply is not bounded by the kernel here"))
    # the worker's profile of the target form
    wk = dict((c[2].split("-")[-1], c[1].get("worker")) for c in pcols if c[2].startswith(tp + "-"))
    for m in ("apply", "noop"):
        w = wk.get(m)
        if not w:
            continue
        tot = w.total_tt or 1.0
        tv = _cum(w, "playbook/task.py", "post_validate") or 0.0
        cm = _cum(w, "plugins/action/__init__.py", "_configure_module") or 0.0
        rf = _cum(w, "executor/module_common.py", "recursive_finder") or 0.0
        ll = _cum(w, "plugins/action/__init__.py", "_low_level_execute_command") or 0.0
        rs = ((_cum(w, "plugins/action/__init__.py", "_parse_returned_data") or 0.0)
              + (_cum(w, "executor/task_queue_manager.py", "send_task_result") or 0.0))
        out.append("- The task's worker process, profiled, %s (%.2f s in all): running the module "
                   "%.2f s (%.0f%%), templating `routes` (%s lazily templated strings) %.2f s "
                   "(%.0f%%), building the AnsiballZ payload %.2f s (%.0f%%; %.2f s of it is "
                   "`recursive_finder` compiling the module_utils, the same at any N), decoding and "
                   "pickling the result %.2f s (%.0f%%)." % (
                       "apply" if m == "apply" else "no-op", tot, ll, 100 * ll / tot, fmt_n(n), tv,
                       100 * tv / tot, cm, 100 * cm / tot, rf, rs, 100 * rs / tot))
    # what the module could cut: its returned lists
    ms = dict((c[3], c[1]) for c in mcols if c[2] == "module_lines")
    a, z = ms.get("apply"), ms.get("noop")
    ob = dict((m, (ser.get("module_lines", {}).get(m, {}).get(n) or {}).get("out_bytes"))
              for m in ("apply", "noop"))
    if a and z:
        ea = _cum(a, "module_utils/basic.py", "exit_json") or 0.0
        ez = _cum(z, "module_utils/basic.py", "exit_json") or 0.0
        rv = _cum(a, "module_utils/common/parameters.py", "remove_values") or 0.0
        # the no-op module run is nearly all Python: the profiler's inflation of it
        infl = z.total_tt / mod["noop"] if mod.get("noop") else 1.0
        # apply returns 3 N lines (added, commands, routes), no-op N (routes):
        # the difference is the cost of 2 N returned lines.
        per_line = max(ea - ez, 0.0) / (2.0 * n)
        ret = {}
        for m in ("apply", "noop"):
            w = wk.get(m)
            ret[m] = sum(_cum(w, s, f) or 0.0 for s, f in (
                ("plugins/action/__init__.py", "_parse_returned_data"),
                ("executor/task_queue_manager.py", "send_task_result"))) if w else None
        save_a, save_z = 3 * n * per_line, n * per_line
        out.append(
            "- What the module itself could still cut, first its returned lists: on apply it returns "
            "`added`, `commands` and `routes` with N = %s lines each (%s of JSON on stdout; a no-op "
            "returns %s, only `routes` is full). Under the profiler its `exit_json` takes %.2f s on "
            "apply against %.2f s on the no-op (%.0f µs per returned line), %.2f s of it "
            "`remove_values`, the no_log scrub that walks every returned string; JSON encoding "
            "itself is cheap. On ansible's side the lists cost little: decoding the module's JSON and "
            "pickling the result to the controller take %s s on apply and %s s on the no-op in the "
            "worker's profile. Returning the three lists in full only below a size limit (counts "
            "and the first few lines above it, as the module already does for `invocation` above "
            "200 routes) would save ≈ %.2f s profiled on apply and ≈ %.2f s on a no-op, i.e. ≈ %.2f s "
            "and ≈ %.2f s unprofiled (the profiler inflates this module run %.1f×) — worth doing, but "
            "small against the task." % (
                fmt_n(n), fmt_bytes(ob["apply"]), fmt_bytes(ob["noop"]), ea, ez, per_line * 1e6, rv,
                "%.2f" % ret["apply"] if ret["apply"] is not None else "-",
                "%.2f" % ret["noop"] if ret["noop"] is not None else "-",
                save_a, save_z, save_a / infl, save_z / infl, infl))
        v = _cum(z, "_hostgw/routes/options.py", "validate_routes") or 0.0
        pl = _cum(z, "_hostgw/routes/plan.py", "plan") or 0.0
        rk = _cum(z, "_hostgw/routes/kernel.py", "read_kernel") or 0.0
        init = _cum(z, "module_utils/basic.py", "__init__") or 0.0
        fixed = (results.get("module_fixed") or {}).get("median")
        out.append(
            "- The module's own per-route work on a no-op (profiled): `validate_routes` %.2f s, "
            "`plan` %.2f s, `read_kernel` %.2f s, `AnsibleModule()` %.2f s; unprofiled the whole "
            "no-op module process takes %s s, of which %s s is the same with `routes: []`." % (
                v, pl, rk, init, fmt_s(mod["noop"]), fmt_s(fixed)))
    return "\n".join(out)


def profile_section(results, ser, root):
    prof = None
    for n in sorted((int(k) for k in results["sizes"]), reverse=True):
        p = results["sizes"][str(n)].get("profiles")
        if p:
            prof, pn = p, n
            break
    if not prof:
        return None
    task_s = results["sizes"][str(pn)].get("profiled_task_seconds") or {}
    parts = ["Profiled at N = %s with cProfile (times are inflated by the profiler, roughly 1.3–2×; "
             "the proportions are what matters). Raw `.prof` files: `bench/results/` "
             "(`python -m pstats FILE`)." % fmt_n(pn)]

    # -- the module ----------------------------------------------------------
    cols = []   # (heading, Stats)
    for key, form in MODULE_PROFILES:
        for mode in ("apply", "noop"):
            path = (prof.get(key) or {}).get(mode)
            st = _load(root, path) if path else None
            if st:
                cols.append(("%s, %s" % (form, "no-op" if mode == "noop" else mode), st, key, mode))
    if cols:
        rows = ["| phase (module process) | " + " | ".join("%s (s)" % c[0] for c in cols) + " |",
                "|---|" + "---:|" * len(cols)]
        totals = [c[1].total_tt for c in cols]
        mains = [(_find(c[1], "modules/ip_route.py", "main") or (0, 0.0))[1] for c in cols]
        rows.append("| total under the profiler | %s |" % " | ".join("%.3f" % t for t in totals))
        rows.append("| imports before main() (ansible.module_utils.basic, ...) | %s |" % " | ".join(
            "%.3f" % (t - m) for t, m in zip(totals, mains)))
        for label, suffix, func in MODULE_PHASES:
            vals = [_cum(c[1], suffix, func) for c in cols]
            rows.append("| %s | %s |" % (label, " | ".join("-" if v is None else "%.3f" % v for v in vals)))
        parts.append("**The module** (`python -m cProfile -m ...ip_route args.json`, `routes` as dicts "
                     "and as lines):\n\n" + "\n".join(rows))
        shares = []
        for (head, st, _k, _m), total, main in zip(cols, totals, mains):
            ph = [(v, _short(label)) for label, suffix, func in MODULE_PHASES
                  if not label.startswith("of which") for v in [_cum(st, suffix, func)] if v]
            ph.append((total - main, "imports"))
            ph.sort(reverse=True)
            shares.append("%s: %s" % (head, ", ".join("%s %.0f%%" % (lbl, 100.0 * v / (total or 1.0))
                                                      for v, lbl in ph[:4])))
        parts.append("Largest shares of the module's profiled time — " + "; ".join(shares) + ".")
        for head, st, _k, _m in cols:
            parts.append("<details><summary>module, %s: top functions by own time</summary>\n\n%s\n\n"
                         "</details>" % (head, _top(st)))

    # -- ansible-playbook ----------------------------------------------------
    pcols = []  # (heading, {"main": Stats, "worker": Stats}, key)
    for key, method, mode, head in PLAYBOOK_PROFILES:
        paths = prof.get(key)
        if not paths:
            continue
        sts = dict((which, _load(root, path)) for which, path in paths.items())
        sts = dict((k, v) for k, v in sts.items() if v)
        if sts:
            pcols.append((head, sts, "%s-%s" % (method, mode)))
    if pcols:
        rows = ["| process | phase | " + " | ".join("%s (s)" % c[0] for c in pcols) + " |",
                "|---|---|" + "---:|" * len(pcols)]
        rows.append("| | task alone in the profiled run (callback timer) | %s |" % " | ".join(
            fmt_s(task_s.get(c[2])) for c in pcols))
        for which in ("main", "worker"):
            rows.append("| %s | total under the profiler | %s |" % (which, " | ".join(
                "%.3f" % c[1][which].total_tt if which in c[1] else "-" for c in pcols)))
        for which, label, suffix, func in PLAYBOOK_PHASES:
            vals = []
            for c in pcols:
                f = _find(c[1][which], suffix, func) if which in c[1] else None
                vals.append("-" if not f else ("%.3f" % f[1] if f[0] == 1 else "%.3f (%d calls)" % (f[1], f[0])))
            rows.append("| %s | %s | %s |" % (which, label, " | ".join(vals)))
        parts.append("**The whole ansible-playbook** (`bench/profile_ansible.py`: the controller and "
                     "the forked worker that runs the task; cumulative seconds, one call unless "
                     "noted):\n\n" + "\n".join(rows))
        for head, sts, _k in pcols:
            w = sts.get("worker")
            if not w:
                continue
            ph = [(v, _short(label)) for which, label, suffix, func in PLAYBOOK_PHASES
                  if which == "worker" and not label.startswith("of which")
                  for v in [_cum(w, suffix, func)] if v]
            ph.sort(reverse=True)
            parts.append("Shares of the task's worker process, %s — " % head + ", ".join(
                "%s %.0f%%" % (lbl, 100.0 * v / (w.total_tt or 1.0)) for v, lbl in ph) +
                "; only `_low_level_execute_command` is the module itself running.")
        for head, sts, _k in pcols:
            for which, st in sorted(sts.items()):
                parts.append("<details><summary>ansible-playbook %s, %s process: top functions by own "
                             "time</summary>\n\n%s\n\n</details>" % (head, which, _top(st)))
    analysis = where_the_time_goes(results, ser, prof, root, pn, cols, pcols)
    if analysis:
        parts.insert(1, analysis)
    return "\n\n".join(parts)


# ----------------------------------------------------------------- plot --

def plot(ser, sizes, path, title, loop_size=100):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(14, 7.4), sharey=True)
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
    fig.suptitle(title + "\nsolid: routes as dicts; dash-dot: routes as lines; dashed: "
                 "nexthop_objects: true (module, its floor, ansible) and the controls", fontsize=11)
    fig.tight_layout(rect=(0, 0.19, 1, 0.95))
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
    a("`routes` is measured in both forms the module accepts: N dicts `{dest, via, dev}` and N lines "
      "`DEST via GW dev DEV` (`ip route` syntax), the form the collection's routes role passes. The "
      "targets are judged on the lines; the dict form's numbers stand beside them.\n")
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
    a("Runs per point: %d for `ip -batch` and the module with each `routes` form, and for the "
      "nexthop floor and the module with `nexthop_objects: true` (in rounds, see below), %d for the "
      "control; %d for each ansible-playbook variant; one-process-per-route: %s; "
      "%s. The ansible rows here are the line form with a JSON vars file (what the targets judge; "
      "plain routes and `nexthop_objects: true`) and the original dict form with a YAML vars file; "
      "the section *Ansible* below has all four combinations of `routes` form and vars file format "
      "and the nexthop variant.\n" % (
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
      "module's `commands` equal them, for both `routes` forms, after every apply run); \"no-op\" "
      "for the floor is the same batch on a converged table (every `replace` is still sent to the "
      "kernel), for the module a run that reads the table, finds nothing to do and writes nothing. "
      "The floor, the module with dicts and the module with lines run in rounds, one of each per "
      "round, the order changing from round to round (all six orders in turn), so each round's "
      "three runs see the same background load; the verdicts use the median of the per-round "
      "ratios.\n")
    a(ratio_table(ser, sizes) + "\n")
    nht = nh_ratio_table(ser, sizes)
    if nht:
        a("**With `nexthop_objects: true`** (`routes` as lines). Its floor is the *nexthop floor*: "
          "`ip -force -batch -` fed exactly the module's lines in that mode (its check-mode "
          "`commands` on the empty table: N `nexthop add id I via GW dev eth0 proto 252`, then N "
          "`route replace DEST nhid I ...`; checked: the module's `commands` equal them after every "
          "apply run). Its no-op is the same batch with `nexthop add` made `nexthop replace` (an add "
          "of an existing object fails), sent again to the converged table. The nexthop floor, the "
          "module in this mode and the plain floor (the plain `route replace` lines, as above) run in "
          "rounds like the three above, so each round gives the module's ratio to both floors. After "
          "every run the table must hold exactly the N routes with the tag, N nexthop objects with "
          "the tag (one per gateway), and every route must use the object of its own gateway.\n")
        a(nht + "\n")
    otab = output_table(ser, sizes)
    if otab:
        a("What the module prints (its JSON result; `added`, `commands` and `routes` are lists of "
          "lines, N each on apply, only `routes` on a no-op):\n\n" + otab + "\n")
    if costs:
        text = "Cost per route of the floor (apply): " + "; ".join(
            "N = %s: %.0f µs%s" % (fmt_n(n), us, (" (controls: one shared gateway %s; nexthop objects %s)" % (
                "%.0f µs" % c if c else "-", "%.0f µs" % h if h else "-")) if (c or h) else "")
            for n, us, c, h in costs) + "."
        grows = len(costs) > 1 and costs[-1][1] > 3 * min(x[1] for x in costs)
        if grows:
            text += (" The per-route cost grows with N when every route has its own gateway (as in "
                     "host-gw, one per peer) and not when they share one: each such route gets its "
                     "own kernel `fib_info`, and the IPv4 `fib_info` hash (net/ipv4/fib_semantics.c) "
                     "mixes in device, protocol, scope, metric and prefsrc but not the gateway, so "
                     "all of them land in one hash chain that every insert or replace walks: "
                     "quadratic in N. The module and the floor pay this equally; it is most of the "
                     "floor at N = %s." % fmt_n(costs[-1][0]))
            n_big, us_big, _c, h_big = costs[-1]
            h_noop = ser.get("ip_batch_nexthops", {}).get("noop", {}).get(n_big)
            f_noop = ser.get("ip_batch", {}).get("noop", {}).get(n_big)
            if h_big:
                text += (" The nexthop floor gives every route its own nexthop object (`nexthop "
                         "add id I via GW dev eth0 proto 252` and `route replace DEST nhid I ...`, "
                         "the same gateways, one batch: what the module writes with "
                         "`nexthop_objects: true`): %.0f µs per route at N = %s instead of %.0f µs, "
                         "%s. That is the module's lever on the kernel's share of an apply "
                         "(routes through nexthop objects need kernel 5.3 or later; the module then "
                         "owns `nhid` routes plus its nexthop objects)." % (
                             h_big, fmt_n(n_big), us_big,
                             "it does not grow with N" if h_big < 3 * min(x[3] for x in costs if x[3])
                             else "but it grows with N too"))
                if h_noop and f_noop:
                    text += (" Sending the same nexthop batch again to the converged table is not "
                             "cheap, though: %s s at N = %s (plain routes: %s s): replacing "
                             "existing nexthop objects costs %s plain routes; the module sends "
                             "nothing on a no-op, so its no-op ratio to this floor is small."
                             % (fmt_s(h_noop["median"]), fmt_n(n_big), fmt_s(f_noop["median"]),
                                "more than" if h_noop["median"] > 1.2 * f_noop["median"]
                                else "about as much as"))
        a(text + "\n")
    a("## Ansible: whole process, fixed overhead, task\n")
    a(ansible_table(ser, sizes) + "\n")
    text = ("\"Task ≈ difference\" is whole ansible-playbook minus the same playbook with `tasks: []` "
            "(same vars file), the median of the per-round differences (each round runs the empty "
            "play, the task from empty and the task again, back to back). \"Task alone\" is measured inside ansible-playbook by "
            "`bench/callback_plugins/hgwb_timer.py` (task start to task result, like `profile_tasks`).")
    text += (" The vars file holds `hgwb_routes`, the same N routes in each variant: as dicts "
             "`{dest, via, dev}` or as lines `DEST via GW dev eth0`, in YAML (one flow mapping or "
             "plain scalar a line, as a person writes it) or JSON (one line, as a provisioning tool "
             "generates it; ansible-core's `DataLoader` tries `json.loads` before the YAML parser).")
    big = sizes[-1]
    over = []
    for method, _form, _fmt in PLAYBOOK_VARIANTS:
        nums = _task_numbers(ser, method, "noop", big)
        if nums and nums[2] is not None and nums[3] and nums[2] > 1.15 * nums[3]:
            over.append("%s: %s s against %s s" % (variant_label(method), fmt_s(nums[2]), fmt_s(nums[3])))
    if over:
        text += (" At N = %s the difference is above the task alone (no-op; %s): ansible-core "
                 "re-reads and re-parses a play's `vars_files` on every `VariableManager.get_vars` call "
                 "(`DataLoader.load_from_file(..., cache='vaulted')` caches only vaulted files), and a "
                 "play with a task makes more of those calls than an empty play (see the profile); "
                 "the bigger the vars file is to parse, the bigger the gap." % (
                     fmt_n(big), "; ".join(over)))
    a(text + "\n")
    psec = profile_section(results, ser, root)
    if psec:
        a("## Profile\n")
        a(psec + "\n")
    a("## Machine\n")
    a("| | |\n|---|---|")
    for k, label in (("nproc", "CPUs (`nproc`)"), ("cpu_model", "CPU model"), ("kernel", "kernel"),
                     ("iproute2", "iproute2"), ("python", "Python"), ("ansible_core", "ansible-core"),
                     ("matplotlib", "matplotlib"), ("mem_total", "memory")):
        a("| %s | %s |" % (label, m.get(k, "?")))
    a("| load average (1, 5, 15 min) at start / at end of the run | %s / %s |" % (
        m.get("load_before"), m.get("load_after")))
    per_n = []
    for n in sizes:
        r = results["sizes"][str(n)]
        if r.get("loadavg_before") and r.get("loadavg_after"):
            per_n.append("N = %s: %.2f → %.2f" % (fmt_n(n), r["loadavg_before"][0], r["loadavg_after"][0]))
    if per_n:
        a("| load average (1 min) at start → end of each N | %s |" % "; ".join(per_n))
    a("| module source | git %s; sha256 `ip_route.py` %s, `_hostgw/routes/plan.py` %s, `_hostgw/iproute.py` %s%s |" % (
        meta["module"]["git_head"][:12], meta["module"]["sha256"].get("plugins/modules/ip_route.py", "?")[:12],
        meta["module"]["sha256"].get("plugins/module_utils/_hostgw/routes/plan.py", "?")[:12],
        meta["module"]["sha256"].get("plugins/module_utils/_hostgw/iproute.py", "?")[:12],
        "; uncommitted: %s" % meta["module"]["git_status"] if meta["module"]["git_status"] else ""))
    if meta.get("module_changed_during_run"):
        a("| **warning** | the module's files changed while the benchmark ran: the numbers mix two "
          "versions; run it again |")
    a("")
    a("The machine is shared (other jobs may run at the same time), so single runs can be slow "
      "outliers; medians and the min–max spread are reported for that reason.\n")
    example = next((results["sizes"][k].get("example_line") for k in results["sizes"]
                    if results["sizes"][k].get("example_line")), None)
    example_route = next((results["sizes"][k].get("example_route_line") for k in results["sizes"]
                          if results["sizes"][k].get("example_route_line")), None)
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
- Every route is what the module writes for `{dest: DEST, via: GW, dev: eth0}` or the same route as
  one line, %s, %s (252 is the module's protocol tag; its mapping file goes to a temporary
  `protos_dir`, not `/etc`). The module is asked for its lines first (check mode, both forms; the
  line form must give exactly the dict form's lines), and the floor and the per-route loop run
  exactly those.
- **apply from empty**: `ip route flush table main proto 252` before each run (not timed);
  **no-op**: the same run again on the converged table.
- After **every** run the table is read back (`ip -json route show table all proto 252`, IPv4 and
  IPv6) and must hold exactly the N wanted routes and nothing else with the tag; the module's JSON
  (both forms) must say `changed` with `commands` equal to the floor's N lines (apply) or not
  changed with none (no-op), and list the N routes in `routes`; ansible runs must exit 0 with the
  expected changed state, and the callback checks the task's result the same way (count and
  SHA-256 of the sorted `commands`, count of `routes`). A failed check aborts the benchmark.
- **module**: `python -m ansible_collections.podnet.hostgw.plugins.modules.ip_route ARGS.json` with
  `{"ANSIBLE_MODULE_ARGS": {"routes": [...], "protos_dir": ...}}`, as Ansible runs a module
  (minus AnsiballZ unpacking), `PYTHONPATH=collections`, the venv's Python; `routes` as N dicts
  (**module**) or N lines (**module, lines**).
- **floor**: `ip -force -batch -` with the module's `route replace` lines on stdin (what the module
  itself runs). **one process per route**: `subprocess.run(["ip", "route", "replace", ...])` N times.
- **ansible-playbook**: `-i` an inventory with `localhost ansible_connection=local` and the venv
  Python, `gather_facts: false`, the routes in a vars file (`vars_files`), one task
  `podnet.hostgw.ip_route: {routes: "{{ hgwb_routes }}"}`; fixed overhead: the same play and vars
  file with `tasks: []`. The repo's `ansible.cfg`. Four variants: `routes` as lines in a JSON vars
  file (`{"hgwb_routes": ["10.0.0.0/24 via 172.16.0.2 dev eth0", ...]}`, what the targets judge:
  the routes role passes lines, and a provisioning tool that generates 10 000 routes writes
  JSON), lines in a YAML vars file (`- 10.0.0.0/24 via 172.16.0.2 dev eth0` a line), dicts in a
  JSON vars file, and dicts in a YAML vars file (`- {dest: ..., via: ..., dev: eth0}` a line; the
  original setup). In each round every variant runs its empty play, the task from empty and the
  task again, the variants' order rotating from round to round. A fifth variant,
  **`nexthop_objects: true`**, is the lines/JSON play with `nexthop_objects: true` on the task (what
  the routes role passes with `hostgw_route_nexthop_objects: true`); the callback checks its
  `commands` against the nexthop floor's lines, and the table is checked for the N objects too.
- **module, `nexthop_objects: true`**: the module with `routes` as N lines and `nexthop_objects:
  true`; **nexthop floor**: `ip -force -batch -` of exactly its check-mode `commands` (apply), the
  same with `nexthop replace` (no-op). Between runs `ip nexthop flush proto 252` removes the
  objects (and the routes through them).
- **ansible loop**: the dicts/YAML play with `ansible.builtin.command: argv: [ip, route, replace,
  ...]` and `loop: "{{ hgwb_routes }}"`, measured at N = %s only.
- Profiles (`--no-profile` skips them): the module under `python -m cProfile` (both forms, apply
  and no-op), and `bench/profile_ansible.py`, which wraps ansible-playbook and its forked task
  worker in cProfile (dicts/YAML and lines/JSON, apply and no-op).
""" % (m.get("link", "dummy"), ("e.g. `%s`" % example_route) if example_route else "`DEST via GW dev eth0`",
       ("the batch line `%s`" % example) if example else "a `route replace` line",
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
    text = markdown(results, ser, sizes, png_rel, root) + kept_sections(md_path)
    with open(md_path, "w") as fh:
        fh.write(text)
    return ser, sizes


def kept_sections(md_path):
    """The sections other benchmarks wrote into MD_PATH between their
    ``<!-- NAME: begin ...-->`` and ``<!-- NAME: end -->`` markers (bench/
    reconcile_bench.py's), kept as they are."""
    try:
        with open(md_path) as fh:
            current = fh.read()
    except OSError:
        return ""
    kept = re.findall(r"\n(<!-- ([\w-]+): begin.*?-->.*?<!-- \2: end -->\n)", current, re.S)
    return "".join("\n" + block for block, _name in kept)

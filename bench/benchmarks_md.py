# SPDX-License-Identifier: GPL-3.0-or-later
"""BENCHMARKS.md: a summary table on top, then one section per benchmark.

Each ``make bench*`` target owns one section, between
``<!-- NAME: begin ... -->`` and ``<!-- NAME: end -->``, and writes it with
``publish(NAME, rows, body)``.  The section keeps its summary rows in a
hidden comment; the summary table on top is rebuilt from every section's
rows on each publish, so re-running one benchmark leaves the others'
sections and summary rows as they are.  A benchmark listed in PENDING that
has not written its section yet shows its placeholder row.
"""

import os
import re

MD_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "BENCHMARKS.md")

# Section name -> the script that writes it, in the order of the file.
SECTIONS = (
    ("ip-route-bench", "bench/run.py"),
    ("plan-bench", "bench/plan_bench.py"),
    ("nexthop-bench", "bench/nexthop_bench.py"),
    ("reconcile-bench", "bench/reconcile_bench.py"),
    ("fleet-bench", "bench/fleet_bench.py"),
)
PENDING = {
    "fleet-bench": ("bench-fleet", "idempotent re-run of site.yml on 50 lab hosts / a one-task play",
                    "not measured yet", "target ≤ 6×"),
}
HEAD = """# Benchmarks

Each `make bench*` target measures one thing and rewrites only its own section below and its own
rows of this summary (it is generated: re-run the target, do not edit by hand). Figures are medians
on a shared 2-CPU machine; each section has its method, spread and machine.

| target | what | figure | verdict |
|---|---|---|---|
"""
_BLOCK = re.compile(r"<!-- ([\w-]+): begin[^>]*-->\n(.*?)<!-- \1: end -->\n?", re.S)
_ROWS = re.compile(r"\A<!-- summary\n(.*?)\n-->\n", re.S)


def row(target, what, figure, verdict):
    """One summary row; TARGET is the make target (``bench-plan``)."""
    return "| `make %s` | %s | %s | %s |" % (target, what, figure, verdict)


def sections(text):
    """{name: (summary rows, body)} of the sections in TEXT."""
    out = {}
    for name, inner in _BLOCK.findall(text):
        m = _ROWS.match(inner)
        rows = [r for r in m.group(1).splitlines() if r.strip()] if m else []
        out[name] = (rows, inner[m.end():] if m else inner)
    return out


def render(found):
    """The whole file from {name: (rows, body)}."""
    names = [n for n, _script in SECTIONS] + sorted(set(found) - set(n for n, _s in SECTIONS))
    script = dict(SECTIONS)
    summary, blocks = [], []
    for name in names:
        if name in found:
            rows, body = found[name]
            summary += rows
            blocks.append("<!-- %s: begin (%s writes this section) -->\n<!-- summary\n%s\n-->\n%s<!-- %s: end -->\n"
                          % (name, script.get(name, "its benchmark"), "\n".join(rows), body, name))
        elif name in PENDING:
            summary.append(row(*PENDING[name]))
    return HEAD + "\n".join(summary) + "\n\n" + "\n".join(blocks)


def publish(name, rows, body, path=MD_PATH):
    """Write NAME's section (BODY, markdown) and summary ROWS into PATH,
    keeping every other section as it is."""
    try:
        with open(path) as fh:
            found = sections(fh.read())
    except FileNotFoundError:
        found = {}
    found[name] = (list(rows), "\n" + body.strip("\n") + "\n\n")
    text = render(found)
    with open(path, "w") as fh:
        fh.write(text)
    return text

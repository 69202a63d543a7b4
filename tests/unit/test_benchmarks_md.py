"""BENCHMARKS.md is written by several bench targets: each rewrites only its
own section and summary rows, and the summary on top stays short."""

import importlib.util
import os

from tests.conftest import REPO


def load():
    spec = importlib.util.spec_from_file_location("benchmarks_md", os.path.join(REPO, "bench", "benchmarks_md.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def summary(text):
    return [line for line in text.split("\n\n<!--", 1)[0].splitlines() if line.startswith("| `make ")]


def test_each_target_keeps_the_others_sections_and_rows(tmp_path):
    md = load()
    path = str(tmp_path / "BENCHMARKS.md")
    md.publish("reconcile-bench", [md.row("bench-reconcile", "no-op", "1 s", "met")], "## Reconcile\n\ntable R1", path)
    md.publish("ip-route-bench", [md.row("bench", "floor", "1.3×", "met")], "## ip_route\n\ntable A1", path)
    text = md.publish("ip-route-bench", [md.row("bench", "floor", "1.4×", "met")], "## ip_route\n\ntable A2", path)
    assert summary(text) == ["| `make bench` | floor | 1.4× | met |",
                             "| `make bench-reconcile` | no-op | 1 s | met |",
                             "| `make bench-fleet` | %s | %s | %s |" % md.PENDING["fleet-bench"][1:]]
    assert "table A2" in text and "table A1" not in text and "table R1" in text
    assert text.index("## ip_route") < text.index("## Reconcile")
    with open(path) as fh:
        assert md.sections(fh.read())["reconcile-bench"][0] == ["| `make bench-reconcile` | no-op | 1 s | met |"]


def test_a_section_of_an_unknown_target_goes_last_and_replaces_no_placeholder(tmp_path):
    md = load()
    path = str(tmp_path / "BENCHMARKS.md")
    md.publish("fleet-bench", [md.row("bench-fleet", "re-run / ping", "5.0×", "met")], "## Fleet", path)
    text = md.publish("other-bench", [md.row("bench-other", "x", "y", "z")], "## Other", path)
    assert summary(text) == ["| `make bench-fleet` | re-run / ping | 5.0× | met |", "| `make bench-other` | x | y | z |"]
    assert text.index("## Fleet") < text.index("## Other")


def test_the_committed_summary_is_at_most_20_lines():
    with open(os.path.join(REPO, "BENCHMARKS.md")) as fh:
        head = fh.read().split("\n<!--", 1)[0]
    assert len(head.strip().splitlines()) <= 20
    assert summary(head), "no summary rows on top of BENCHMARKS.md"

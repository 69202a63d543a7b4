""".ci/check_module_python.py: the host-side code compiles and imports on
every Python tests/config.yml claims for modules, and the check catches what
an older Python lacks."""

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

# The check reads ansible-test's list of target Pythons; `ansible-test units`
# hides the ansible_test package from the tests, so there these skip (make
# sanity runs the check itself, and `pytest tests` in make test runs these).
pytest.importorskip("ansible_test", reason="ansible-test units hides ansible_test")

SCRIPT = os.path.join(REPO, ".ci", "check_module_python.py")
SPEC = importlib.util.spec_from_file_location("check_module_python", SCRIPT)
check = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(check)

ENGINE_INIT = '"""A stand-in engine package."""\n'
FINE = "from ansible.module_utils.basic import AnsibleModule\n\n\ndef main():\n    AnsibleModule({})\n"
MATCH = "def kind(value):\n    match value:  # Python 3.10\n        case 0:\n            return 'zero'\n    return 'other'\n"


def fake_repo(tmp_path, files, python_requires=">=3.8"):
    """A checkout with FILES ({path under plugins/: text}) and the engine package."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "config.yml").write_text("modules:\n  python_requires: '%s'\n" % python_requires)
    files = dict(files, **{"module_utils/_hostgw/__init__.py": ENGINE_INIT})
    for path, text in files.items():
        (tmp_path / "plugins" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "plugins" / path).write_text(text)
    return str(tmp_path)


def run(repo):
    proc = subprocess.run([sys.executable, SCRIPT, "--repo", repo], check=False, capture_output=True, text=True)
    return proc.returncode, proc.stdout.splitlines(), proc.stderr


def version_key(version):
    return tuple(int(part) for part in version.split("."))


def failing_versions(lines, name):
    """The Pythons on which a line names NAME (a file or module name)."""
    return sorted(set(line.split(":")[0][len("Python "):] for line in lines
                      if line.startswith("Python ") and name in line), key=version_key)


CLAIMED = check.claimed_versions(REPO)
FOUND = [v for v in CLAIMED if check.interpreter(v)]


def test_the_collection_passes_on_every_claimed_python():
    rc, lines, err = run(REPO)
    assert rc == 0, "\n".join(lines) + err
    assert [line.split(":")[0] for line in lines] == ["Python %s" % v for v in CLAIMED]
    for version in FOUND:
        line = lines[CLAIMED.index(version)]
        assert "modules import" in line, line


def test_what_a_claimed_python_lacks_fails_on_it(tmp_path):
    rc, lines, _err = run(fake_repo(tmp_path, {
        "modules/new_grammar.py": MATCH,
        "module_utils/new_call.py": "import math\n\nLCM = math.lcm  # Python 3.9\n",
        "modules/third_party.py": "import yaml  # not on managed hosts\n",
        "modules/fine.py": FINE,
    }))
    assert rc == 1
    assert lines[-1].startswith("FAILED on Python ")
    # grammar: by the interpreter, or by ast.parse where there is none
    assert failing_versions(lines, "new_grammar") == [v for v in CLAIMED if version_key(v) < (3, 10)], lines
    # module-level code and imports: only where an interpreter runs it
    assert failing_versions(lines, "new_call") == [v for v in FOUND if version_key(v) < (3, 9)], lines
    assert failing_versions(lines, "third_party") == FOUND, lines
    assert all("ModuleNotFoundError: No module named 'yaml'" in line for line in lines if "third_party" in line)
    assert failing_versions(lines, "fine") == [], lines


def test_the_claim_decides_which_pythons_are_checked(tmp_path):
    rc, lines, err = run(fake_repo(tmp_path, {"modules/new_grammar.py": MATCH, "modules/fine.py": FINE},
                                   python_requires=">=3.10"))
    assert rc == 0, "\n".join(lines) + err
    assert [line.split(":")[0] for line in lines] == ["Python %s" % v for v in CLAIMED if version_key(v) >= (3, 10)]


def test_without_an_interpreter_the_grammar_is_still_checked(tmp_path):
    plugins = os.path.join(fake_repo(tmp_path, {"modules/new_grammar.py": MATCH, "modules/fine.py": FINE}), "plugins")
    problems, summary = check.syntax_problems(plugins, "3.9")
    assert [p.split(":")[0] for p in problems] == ["modules/new_grammar.py"], problems
    assert "syntax only" in summary
    assert check.syntax_problems(plugins, "3.10")[0] == []

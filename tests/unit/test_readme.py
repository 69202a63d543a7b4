"""The README names only what exists, and names all of it.

Every ``hostgw_*`` name in README.md is a role variable, a role tag, the
plan, the default group or a playbook variable; every role default is in its
variable table; every module is in its module table; every relative link and
every checkout path it puts in backquotes exists; every ``make`` target it
names is in the Makefile.
"""

import glob
import os
import re

import yaml

from tests.conftest import REPO

README = os.path.join(REPO, "README.md")
# Names that are neither role variables nor tags: the plan the preflight
# publishes, each host's entry of it, the default group, and reset's prompt switch.
OTHER_NAMES = {"hostgw_plan", "hostgw_node", "hostgw_nodes", "hostgw_reset_confirmed"}
# A path of the checkout in backquotes, e.g. `docs/topology-lab.svg`.
CHECKOUT_PATH = re.compile(r"`((?:docs|playbooks|inventories|roles|plugins|meta|lab|tests|bench|molecule|changelogs"
                           r"|\.config)/[A-Za-z0-9_./-]*)`")


def readme():
    with open(README) as fh:
        return fh.read()


def load(path):
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def role_variables():
    found = set()
    for path in glob.glob(os.path.join(REPO, "roles", "*", "defaults", "main.yml")):
        found.update(load(path))
    for path in glob.glob(os.path.join(REPO, "roles", "*", "meta", "argument_specs.yml")):
        for spec in load(path)["argument_specs"].values():
            found.update(spec.get("options") or {})
    return found


def play_variables():
    """Variables the playbooks' plays themselves read (serial, max_fail_percentage)."""
    found = set()
    for path in glob.glob(os.path.join(REPO, "playbooks", "*.yml")):
        with open(path) as fh:
            found.update(re.findall(r"\{\{ (hostgw_[a-z0-9_]+) \| default\(", fh.read()))
    return found


def role_tags():
    tags = set()
    for play in load(os.path.join(REPO, "playbooks", "site.yml")):
        for entry in (play.get("roles") or []) + (play.get("tasks") or []):
            tags.update(entry.get("tags") or [])
    return tags


def variable_table_rows():
    """The first column of the README's table of variables, split at ', '."""
    text = readme()
    section = text[text.index("\n## Variables\n"):]
    section = section[:section.index("\n## ", 1)]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `hostgw_"):
            names.update(re.findall(r"`(hostgw_[a-z0-9_]+)`", line.split("|")[1]))
    return names


def test_every_hostgw_name_in_the_readme_exists():
    text = re.sub(r"hostgw_lab\.py", "", readme())
    named = set(re.findall(r"\bhostgw_[a-z0-9_]+", text))
    unknown = named - role_variables() - play_variables() - role_tags() - OTHER_NAMES
    assert not unknown, "README.md names %s, which no role, tag or playbook defines" % sorted(unknown)


def test_every_role_default_is_in_the_variable_table():
    defaults = set()
    for path in glob.glob(os.path.join(REPO, "roles", "*", "defaults", "main.yml")):
        defaults.update(name for name in load(path) if not name.startswith("__"))
    missing = defaults - variable_table_rows()
    assert not missing, "README.md's variable table lacks %s" % sorted(missing)


def test_every_module_is_in_the_module_table():
    text = readme()
    for path in glob.glob(os.path.join(REPO, "plugins", "modules", "*.py")):
        name = "podnet.hostgw.%s" % os.path.basename(path)[:-3]
        assert "| `%s` |" % name in text, "README.md's module table lacks %s" % name


def test_relative_links_and_checkout_paths_exist():
    text = readme()
    targets = [t for t in re.findall(r"\]\(([^)#]+)\)", text) if "://" not in t]
    paths = [p for p in CHECKOUT_PATH.findall(text) if "<" not in p]
    missing = [p for p in targets + paths if not os.path.exists(os.path.join(REPO, p))]
    assert targets and paths and not missing, missing


def test_every_make_target_named_exists():
    with open(os.path.join(REPO, "Makefile")) as fh:
        targets = set(re.findall(r"^([a-z][a-z-]*):", fh.read(), re.M))
    named = set(re.findall(r"`make ([a-z][a-z-]*)", readme())) | set(re.findall(r"^make ([a-z][a-z-]*)", readme(), re.M))
    assert {"demo", "test"} <= named
    assert named <= targets, sorted(named - targets)

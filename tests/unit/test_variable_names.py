"""Every variable a role defines carries the collection's prefix.

ansible-lint's var-naming[no-role-prefix] wants <role>_; the collection's
public contract is hostgw_* across all roles (see .ansible-lint), so this test
holds role defaults, role vars, set_fact and register names to hostgw_* (public)
or __hostgw_* (internal).
"""

import glob
import os
import re

import pytest
import yaml

from tests.conftest import REPO

ALLOWED = re.compile(r"^(__)?hostgw_[a-z0-9_]+$")


def _role_files(kind):
    return sorted(glob.glob(os.path.join(REPO, "roles", "*", kind, "*.yml")))


def _names_in_tasks(tasks):
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        facts = task.get("ansible.builtin.set_fact") or task.get("set_fact")
        if isinstance(facts, dict):
            for name in facts:
                if name not in ("cacheable",):
                    yield name
        if "register" in task:
            yield task["register"]
        for key in ("block", "rescue", "always"):
            yield from _names_in_tasks(task.get(key))


@pytest.mark.parametrize("path", _role_files("defaults") + _role_files("vars"),
                         ids=lambda p: os.path.relpath(p, REPO))
def test_role_defaults_are_prefixed(path):
    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    bad = [name for name in data if not ALLOWED.match(name)]
    assert not bad, "%s defines %s" % (path, bad)


@pytest.mark.parametrize("path", _role_files("tasks"), ids=lambda p: os.path.relpath(p, REPO))
def test_role_facts_and_registers_are_prefixed(path):
    with open(path) as fh:
        tasks = yaml.safe_load(fh)
    bad = [name for name in _names_in_tasks(tasks) if not ALLOWED.match(name)]
    assert not bad, "%s sets %s" % (path, bad)

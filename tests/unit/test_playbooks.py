"""How the playbooks compose: every playbook under playbooks/ (a new one
too) first imports the hostgw_group check, whose name is templated exactly
like the plays' hosts:; the preflight runs whatever --tags select; each role
of site.yml carries its hostgw_<role> tag."""

import glob
import os

import pytest
import yaml

from tests.conftest import REPO

CHECK = "check_group.yml"
PLAYBOOKS = sorted(p for p in glob.glob(os.path.join(REPO, "playbooks", "*.yml")) if os.path.basename(p) != CHECK)


def load(path):
    with open(path) as fh:
        return yaml.safe_load(fh)


def plays(path):
    return [entry for entry in load(path) if "hosts" in entry]


def roles(play):
    return [(r["role"] if isinstance(r, dict) else r) for r in play.get("roles", [])]


def test_the_check_names_the_group_as_the_plays_hosts_do():
    check, = load(os.path.join(REPO, "playbooks", CHECK))
    assert check["hosts"] == "localhost" and check["gather_facts"] is False
    assert check["tags"] == ["always"]
    # The task reads the group back as what follows the first ': '.
    prefix, group = check["name"].split(": ", 1)
    assert ": " not in prefix
    for path in PLAYBOOKS:
        for play in plays(path):
            assert play["hosts"] == group, path


@pytest.mark.parametrize("path", PLAYBOOKS, ids=os.path.basename)
def test_every_playbook_imports_the_check_first(path):
    first = load(path)[0]
    assert first.get("ansible.builtin.import_playbook") == CHECK, path


@pytest.mark.parametrize("path", PLAYBOOKS, ids=os.path.basename)
def test_the_preflight_runs_whatever_tags_select(path):
    for play in plays(path):
        for entry in play.get("roles", []):
            if entry["role"] == "podnet.hostgw.preflight":
                assert set(entry["tags"]) == {"always", "hostgw_preflight"}, path


def site_roles(play):
    """(role name, tags) of site.yml's play: its roles: and then its
    import_role tasks, in order."""
    found = [(entry["role"], entry.get("tags", [])) for entry in play.get("roles", [])]
    for task in play.get("tasks", []):
        found.append((task["ansible.builtin.import_role"]["name"], task.get("tags", [])))
    return found


def test_each_site_role_has_its_own_tag():
    play, = plays(os.path.join(REPO, "playbooks", "site.yml"))
    for name, tags in site_roles(play):
        assert "hostgw_%s" % name.rsplit(".", 1)[1] in tags, name
    on_disk = set(os.listdir(os.path.join(REPO, "roles"))) - {"common", "verify", "reset"}
    assert {name.rsplit(".", 1)[1] for name, _tags in site_roles(play)} == on_disk


def test_site_validates_arguments_once():
    """The preflight (after the common role) validates its spec, and the plan
    every hostgw_ setting; the roles after it skip their own spec's
    validation, a worker per host each."""
    play, = plays(os.path.join(REPO, "playbooks", "site.yml"))
    assert [name for name, _tags in site_roles(play)][0] == "podnet.hostgw.preflight"
    assert [entry["role"] for entry in play["roles"]] == ["podnet.hostgw.preflight"]
    for task in play["tasks"]:
        assert set(task) == {"name", "ansible.builtin.import_role", "tags"}, task
        assert task["ansible.builtin.import_role"]["rolespec_validate"] is False, task

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


def test_each_site_role_has_its_own_tag():
    play, = plays(os.path.join(REPO, "playbooks", "site.yml"))
    for entry in play["roles"]:
        role = entry["role"].rsplit(".", 1)[1]
        assert "hostgw_%s" % role in entry.get("tags", []), entry
    on_disk = set(os.listdir(os.path.join(REPO, "roles"))) - {"common", "verify", "reset"}
    assert {r.rsplit(".", 1)[1] for r in roles(play)} == on_disk

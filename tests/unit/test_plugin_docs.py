"""Every plugin and every role documents itself, and ansible-doc renders it.

The plugins and roles are listed from the filesystem, so a new one without
documentation fails here.
"""

import ast
import glob
import importlib
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import COLLECTIONS, REPO

PLUGINS = sorted(glob.glob(os.path.join(REPO, "plugins", "modules", "*.py"))
                 + glob.glob(os.path.join(REPO, "plugins", "connection", "*.py")))
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "plugins", "modules", "*.py")))
ACTIONS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "plugins", "action", "*.py")))
FILTER_FILES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "plugins", "filter", "*.py")))
ROLES = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(REPO, "roles", "*", "")))
# Plugin directories and how their documentation is checked here; code that
# documents nothing itself (shared code, doc fragments) is checked through
# the plugins that use it.
PLUGIN_DIRS = {"modules", "connection", "filter", "action", "doc_fragments", "module_utils", "plugin_utils"}


def doc_blocks(path):
    with open(path) as fh:
        tree = ast.parse(fh.read())
    blocks = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                blocks[node.targets[0].id] = node.value.value
    return blocks


@pytest.mark.parametrize("path", PLUGINS, ids=lambda p: os.path.relpath(p, REPO))
def test_documentation_is_yaml_with_the_house_attributes(path):
    blocks = doc_blocks(path)
    doc = yaml.safe_load(blocks["DOCUMENTATION"])
    assert doc.get("short_description")
    if "/modules/" in path:
        assert set(blocks) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
        yaml.safe_load(blocks["EXAMPLES"])
        yaml.safe_load(blocks["RETURN"])
        attributes = doc.get("attributes") or {}
        if "extends_documentation_fragment" not in doc:
            assert {"check_mode", "diff_mode", "platform"} <= set(attributes), path


# ansible-doc through the interpreter running the tests: ansible-test's unit
# test environment has ansible-core on its path but no ansible-doc script.
ANSIBLE_DOC = [sys.executable, "-c", "import sys; from ansible.cli.doc import main; main(['ansible-doc'] + sys.argv[1:])"]


def test_ansible_doc_renders_every_plugin_without_errors():
    names = ["podnet.hostgw.%s" % os.path.basename(p)[:-3]
             for p in PLUGINS if "/modules/" in p]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
               LC_ALL="C.UTF-8")
    proc = subprocess.run(ANSIBLE_DOC + ["-t", "module"] + names, capture_output=True, text=True, env=env, cwd=REPO,
                          check=False)
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr
    for name in names:
        assert name in proc.stdout
    proc = subprocess.run(ANSIBLE_DOC + ["-t", "connection", "podnet.hostgw.nsenter"], capture_output=True, text=True,
                          env=env, cwd=REPO, check=False)
    assert proc.returncode == 0 and "nsenter" in proc.stdout, proc.stderr


def ansible_doc(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
               LC_ALL="C.UTF-8", ANSIBLE_NOCOLOR="1")
    return subprocess.run(ANSIBLE_DOC + list(args), capture_output=True, text=True, env=env, cwd=REPO, check=False)


def test_every_plugin_directory_is_one_this_test_knows():
    found = {d for d in os.listdir(os.path.join(REPO, "plugins")) if not d.startswith(("_", "."))}
    assert found <= PLUGIN_DIRS, "plugins/%s: teach this test to check its documentation" % sorted(found - PLUGIN_DIRS)


def test_every_action_plugin_is_documented_by_its_module():
    assert set(ACTIONS) <= set(MODULES)


def filter_names():
    names = []
    for stem in FILTER_FILES:
        module = importlib.import_module("ansible_collections.podnet.hostgw.plugins.filter." + stem)
        names.extend((stem, name) for name in module.FilterModule().filters())
    return sorted(names)


FILTERS = filter_names()


@pytest.mark.parametrize("stem, name", FILTERS, ids=[name for _stem, name in FILTERS])
def test_every_filter_has_its_documentation_file(stem, name):
    path = os.path.join(REPO, "plugins", "filter", name + ".yml")
    assert os.path.isfile(path), "filter %s (plugins/filter/%s.py) has no %s" % (name, stem, os.path.relpath(path, REPO))
    with open(path) as fh:
        doc = yaml.safe_load(fh)
    assert set(doc) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, path
    assert doc["DOCUMENTATION"]["name"] == name
    assert doc["DOCUMENTATION"]["short_description"] and doc["DOCUMENTATION"]["description"]
    assert "_input" in doc["DOCUMENTATION"]["options"]
    assert "_value" in doc["RETURN"]


def test_ansible_doc_renders_every_filter():
    names = ["podnet.hostgw.%s" % name for _stem, name in FILTERS]
    proc = ansible_doc("-t", "filter", *names)
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr
    for name in names:
        assert "FILTER %s" % name in proc.stdout


@pytest.mark.parametrize("role", ROLES)
def test_every_role_documents_its_options(role):
    path = os.path.join(REPO, "roles", role, "meta", "argument_specs.yml")
    assert os.path.isfile(path), "role %s has no meta/argument_specs.yml" % role
    with open(path) as fh:
        specs = yaml.safe_load(fh)["argument_specs"]
    assert "main" in specs
    for entry, spec in specs.items():
        assert spec.get("short_description"), (role, entry)
        assert spec.get("options"), "role %s, entry point %s: no options documented" % (role, entry)
        for option, about in spec["options"].items():
            assert about.get("description") and about.get("type"), (role, entry, option)


def test_ansible_doc_renders_every_role():
    names = ["podnet.hostgw.%s" % role for role in ROLES]
    proc = ansible_doc("-t", "role", *names)
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr
    for name in names:
        assert "ROLE: %s " % name in proc.stdout.replace("*", "")

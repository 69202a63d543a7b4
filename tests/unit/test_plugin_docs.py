"""Every plugin's documentation parses, and ansible-doc renders it."""

import ast
import glob
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import COLLECTIONS, REPO

PLUGINS = sorted(glob.glob(os.path.join(REPO, "plugins", "modules", "*.py"))
                 + glob.glob(os.path.join(REPO, "plugins", "connection", "*.py")))


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

"""The checkout's ansible.cfg neither skips ssh host key checks nor picks an
inventory: a run that forgets -i targets no lab host and says so."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.integration.labkit import RECAP

pytestmark = pytest.mark.integration

BIN = os.path.dirname(sys.executable)


def run(*argv):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), LC_ALL="C.UTF-8", NO_COLOR="1")
    for name in ("ANSIBLE_INVENTORY", "ANSIBLE_HOST_KEY_CHECKING"):
        env.pop(name, None)
    return subprocess.run([os.path.join(BIN, argv[0])] + list(argv[1:]), capture_output=True, text=True,
                          env=env, cwd=REPO, check=False)


def test_the_checkout_config_changes_no_inventory_and_no_host_key_checking():
    proc = run("ansible-config", "dump", "--only-changed")
    assert proc.returncode == 0, proc.stderr
    assert "COLLECTIONS_PATHS" in proc.stdout  # it is the checkout's config
    assert "HOST_KEY_CHECKING" not in proc.stdout
    assert "DEFAULT_HOST_LIST" not in proc.stdout


def test_site_without_an_inventory_targets_no_host_and_says_so():
    proc = run("ansible-playbook", "site.yml")
    assert proc.returncode != 0, proc.stdout
    assert "hostgw_group 'hostgw_nodes' names no group with hosts in the inventory" in proc.stdout
    assert [row[0] for row in RECAP.findall(proc.stdout)] == ["localhost"], proc.stdout

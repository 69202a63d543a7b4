"""The explicit plan (issue 9) on a real lab: the preflight publishes
``hostgw_plan`` as a variable, so site.yml works with fact injection off and
with a jsonfile fact cache (and the plan never lands in the cache), and a
role run without the preflight stops at once with one sentence that names
the preflight role, having changed nothing."""

import glob
import os
import re
import uuid

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.labkit import Lab, recap

pytestmark = pytest.mark.integration

TIMEOUT = 900
NO_PLAN = ("podnet.hostgw: no cluster plan for host1 (hostgw_plan): run the podnet.hostgw.preflight role first, "
           "in the same play, with the host in hostgw_group")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    the_lab = Lab("hgwpn%s" % uuid.uuid4().hex[:4], str(tmp_path_factory.mktemp("plan")))
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


def playbook(tmp_path, plays):
    path = tmp_path / ("play-%s.yml" % uuid.uuid4().hex[:6])
    path.write_text(yaml.safe_dump(plays))
    return str(path)


@pytest.mark.parametrize("role", ["record", "bridge", "forwarding", "routes", "cni", "reconcile"])
def test_a_role_without_the_preflight_stops_with_one_sentence(lab, tmp_path, role):
    play = playbook(tmp_path, [{"name": "Only %s" % role, "hosts": "hostgw_nodes", "gather_facts": False,
                                "roles": ["podnet.hostgw.%s" % role]}])
    before = lab.snapshot()
    proc = lab.site(lab.good_path, playbook=play, timeout=TIMEOUT)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert NO_PLAN in out, out[-3000:]
    assert "is undefined" not in out
    assert "Validating arguments against arg spec" in out  # the role's first task
    assert lab.snapshot() == before


def test_site_converges_with_fact_injection_off(lab):
    off = {"ANSIBLE_INJECT_FACT_VARS": "False"}
    changed = recap(lab.site(lab.good_path, timeout=TIMEOUT, env=off))
    assert all(n > 0 for n in changed.values())
    snap = lab.snapshot()
    assert "192.168.1.0/24 via 10.168.0.2 dev eth0 proto hostgw" in snap["host1"]["routes4"]
    assert "192.168.2.0/24 via 10.168.0.3 dev eth0 proto hostgw" in snap["host2"]["routes4"]
    assert set(recap(lab.site(lab.good_path, timeout=TIMEOUT, env=off)).values()) == {0}


def test_site_with_a_jsonfile_fact_cache_keeps_the_plan_out_of_it(lab, tmp_path):
    cache = tmp_path / "facts"
    env = {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache)}
    # Facts gathered and cached first, as kubespray does, then site.yml.
    play = playbook(tmp_path, [
        {"name": "Gather facts", "hosts": "hostgw_nodes", "gather_facts": True, "gather_subset": ["min"],
         "tasks": []},
        {"name": "site", "ansible.builtin.import_playbook": os.path.join(REPO, "playbooks", "site.yml")},
    ])
    recap(lab.site(lab.good_path, playbook=play, timeout=TIMEOUT, env=env))
    assert set(recap(lab.site(lab.good_path, playbook=play, timeout=TIMEOUT, env=env)).values()) == {0}
    # One file per host (ansible-core 2.19 names them s1_<host>).
    files = {}
    for path in glob.glob(str(cache / "*")):
        with open(path) as fh:
            files[re.sub(r"^s\d+_", "", os.path.basename(path))] = fh.read()
    assert sorted(files) == ["host1", "host2", "host3"]
    subnets = {"host1": "192.168.0.0/24", "host2": "192.168.1.0/24", "host3": "192.168.2.0/24"}
    for host, text in files.items():
        assert "ansible_python" in text  # the cache does hold the facts
        assert "hostgw_plan" not in text and "hostgw_node" not in text
        # Other hosts' subnets are only in the plan (the host's own may be in
        # its local fact, the record).
        assert not [s for h, s in subnets.items() if h != host and s in text], host

"""verify.yml, render.yml and the CNI configuration on a converged lab:
values that would reach ip -batch or a file path are refused before any host
is touched, verify never removes what it did not make and warns about a CNI
configuration that takes the pods away, and the conflist written by the
filter is the very file the earlier template wrote.

One three-host lab, converged and verified once, serves every test; each
test leaves it exactly as it found it (compared with the lab kit's snapshot).
"""

import copy
import glob
import json
import os
import time
import uuid

import pytest

from tests.conftest import REPO
from tests.integration.labkit import STATE_ROOT, Lab, nodes, recap

pytestmark = pytest.mark.integration

VERIFY = "playbooks/verify.yml"
RENDER = "playbooks/render.yml"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    the_lab = Lab("hgwvr%s" % uuid.uuid4().hex[:4], str(tmp_path_factory.mktemp("verify")))
    the_lab.up()
    try:
        recap(the_lab.site(the_lab.good_path))
        # One good verify first: a pod bridge that had a port and lost it
        # stays without carrier (the kernel's doing, as when a pod leaves),
        # so the snapshots below compare like with like.
        settle = the_lab.site(the_lab.good_path, playbook=VERIFY)
        assert settle.returncode == 0, settle.stdout[-3000:]
        yield the_lab
    finally:
        the_lab.down()


def settled(lab, tries=30):
    """The lab's snapshot once it stops moving: the kernel reports a pod
    bridge's carrier change (and the routes' ``linkdown``) through linkwatch,
    up to a second after verify removed the bridge's last port."""
    snap = lab.snapshot()
    for _attempt in range(tries):
        time.sleep(1)
        again = lab.snapshot()
        if again == snap:
            return snap
        snap = again
    raise AssertionError("the lab kept changing for %d seconds" % tries)


def _extra(**values):
    return ("-e", json.dumps(values))


@pytest.mark.parametrize("values, message", [
    ({"hostgw_verify_netns": "podnet-verify\nroute flush proto 252"},
     "hostgw_verify_netns 'podnet-verify\\nroute flush proto 252' must not contain control characters"),
    ({"hostgw_verify_veth": "v0\nroute flush"}, "hostgw_verify_veth 'v0\\nroute flush' must not contain whitespace"),
    ({"hostgw_verify_count": "2 -f"}, "hostgw_verify_count '2 -f' must be a whole number from 1 to 100"),
    ({"hostgw_verify_timeout": 0}, "hostgw_verify_timeout 0 must be a whole number from 1 to 60"),
], ids=["netns injection", "veth injection", "count", "timeout"])
def test_verify_refuses_bad_settings_and_changes_nothing(lab, values, message):
    before = settled(lab)
    proc = lab.site(lab.good_path, *_extra(**values), playbook=VERIFY)
    assert proc.returncode != 0
    assert "verify settings, nothing was run (1):" in proc.stdout, proc.stdout[-3000:]
    assert message in proc.stdout, proc.stdout[-3000:]
    # Refused on the controller: preflight never read a host.
    assert "Read the host" not in proc.stdout
    assert settled(lab) == before


def test_verify_never_removes_a_link_or_namespace_it_did_not_make(lab):
    before = settled(lab)
    # A veth name that is the host's underlay interface.
    proc = lab.site(lab.good_path, *_extra(hostgw_verify_veth="eth0"), playbook=VERIFY)
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    for host in ("host1", "host2", "host3"):
        assert ("%s: the test container's names are in use; verify never removes what it did not create "
                "(pick free names, or remove a leftover of an interrupted run by hand) (1): "
                "- hostgw_verify_veth 'eth0' is an existing link" % host) in text, proc.stdout[-3000:]
    assert settled(lab) == before

    # A namespace of that name on one host: someone else's, or a leftover.
    assert lab.on("host2", "ip", "netns", "add", "podnet-verify").returncode == 0
    try:
        proc = lab.site(lab.good_path, playbook=VERIFY)
        assert proc.returncode != 0
        assert "hostgw_verify_netns 'podnet-verify' is an existing network namespace" in proc.stdout
        assert "host2: the test container's names are in use" in " ".join(proc.stdout.split())
        assert "podnet-verify" in lab.on("host2", "ip", "netns", "list").stdout
    finally:
        lab.on("host2", "ip", "netns", "del", "podnet-verify")
    assert settled(lab) == before


def test_verify_warns_about_a_cni_configuration_that_sorts_before_ours(lab):
    clean = lab.site(lab.good_path, playbook=VERIFY)
    assert clean.returncode == 0, clean.stdout[-3000:]
    assert "sorts before 10-podnet.conflist" not in clean.stdout

    other = "/etc/cni/net.d/00-other.conflist"
    assert lab.on("host2", "cp", "/etc/cni/net.d/10-podnet.conflist", other).returncode == 0
    try:
        before = settled(lab)
        proc = lab.site(lab.good_path, playbook=VERIFY)
        # A warning, not a failure: the pods still talk.
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert set(recap(proc).values()) == {0}
        text = " ".join(proc.stdout.split())
        assert ("WARNING: host2: 00-other.conflist in /etc/cni/net.d sorts before 10-podnet.conflist. "
                "Container runtimes use the first configuration in lexical order") in text, proc.stdout[-3000:]
        assert "WARNING: host1:" not in text and "WARNING: host3:" not in text
        assert settled(lab) == before
    finally:
        lab.on("host2", "rm", "-f", other)


def test_render_refuses_a_host_name_that_leaves_the_render_dir_and_writes_nothing(lab, tmp_path):
    out = tmp_path / "render"
    target = "/tmp/pwned3-%s" % uuid.uuid4().hex[:8]
    evil = os.path.relpath(target, str(out / "hosts"))
    assert evil.startswith("../") and evil.endswith(os.path.basename(target))
    inv = copy.deepcopy(lab.good)
    hosts = nodes(inv)["hosts"]
    # The evil name is host3 itself: the lab connection still finds it.
    hosts[evil] = dict(hosts.pop("host3"), ansible_nsenter_pid_file=os.path.join(STATE_ROOT, lab.lab, "host3.pid"))
    before = settled(lab)
    try:
        proc = lab.site(inv, "-e", "hostgw_render_dir=%s" % out, playbook=RENDER)
        assert proc.returncode != 0
        assert "render settings, nothing was written (1):" in proc.stdout, proc.stdout[-3000:]
        assert ("host %r is not a plain file name (no '/', not '.' or '..'); render.yml names its files "
                "after hosts" % evil) in proc.stdout
        # Failed once, for the play, not once per host.
        assert proc.stdout.count("fatal: [") == 1, proc.stdout[-3000:]
        assert glob.glob(target + "*") == []
        assert not out.exists()
        assert settled(lab) == before
    finally:
        for path in glob.glob(target + "*"):    # only ever written by the code before the fix
            os.remove(path)


def test_render_refuses_a_relative_render_dir(lab):
    def written():
        return sorted((d, f, os.stat(os.path.join(d, f)).st_mtime_ns)
                      for d, _dirs, files in os.walk(lab.tmp) for f in files if not f.startswith("inv-"))

    before = written()
    proc = lab.site(lab.good_path, "-e", "hostgw_render_dir=render", playbook=RENDER)
    assert proc.returncode != 0
    assert "hostgw_render_dir 'render' is not an absolute path" in proc.stdout, proc.stdout[-3000:]
    assert written() == before


def test_conflist_is_the_file_the_template_wrote_and_a_rerun_changes_nothing(lab):
    # host2: IPv4 192.168.1.0/24 in 192.168.0.0/16, MTU 1500, every option on;
    # the fixture is what the cni role's template wrote before the filter.
    with open(os.path.join(REPO, "tests", "fixtures", "cni", "v4-default.conflist")) as fh:
        expected = fh.read()
    assert lab.on("host2", "cat", "/etc/cni/net.d/10-podnet.conflist").stdout == expected
    assert set(recap(lab.site(lab.good_path)).values()) == {0}

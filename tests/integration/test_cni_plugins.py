"""hostgw_cni_plugins_install on real lab hosts (each with its own /opt):
the distribution's package (already installed on this machine, so the task
reports ok) and a link in /opt/cni/bin for every plugin binary of
/usr/lib/cni, each answering CNI's VERSION command through the link.
--check predicts the run, the second run changes nothing, turning it off
and reset remove exactly the links and directories the collection made, and
a file of someone else's at a link's path is left and reported."""

import json
import os
import uuid

import pytest

from tests.integration.labkit import Lab, recap, seed_inventory, warnings

pytestmark = pytest.mark.integration

SOURCE = "/usr/lib/cni"
BIN = "/opt/cni/bin"
ON = ("-e", "hostgw_cni_plugins_install=true")
RESET = ("-e", "hostgw_reset_confirmed=true")
HOSTS = ("host1", "host2")
REMOVE_TASK = "podnet.hostgw.cni : Remove the plugin links the collection made"


def task_output(proc, task):
    """What ansible-playbook printed under TASK [TASK]."""
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    for chunk in proc.stdout.split("\nTASK [")[1:]:
        if chunk.startswith(task + "]"):
            return chunk
    raise AssertionError("no task %r in the output" % task)


def package_plugins():
    return sorted(n for n in os.listdir(SOURCE)
                  if os.path.isfile(os.path.join(SOURCE, n)) and os.access(os.path.join(SOURCE, n), os.X_OK))


@pytest.fixture
def lab(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    if not package_plugins():
        pytest.skip("containernetworking-plugins is not installed here (make deps)")
    name = "hgwcp%s" % uuid.uuid4().hex[:4]
    the_lab = Lab(name, str(tmp_path), inventory=seed_inventory(name))
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


def links_on(lab, host):
    """{name: link target} of the links in HOST's /opt/cni/bin, and the names of what else is there."""
    proc = lab.on(host, "find", BIN, "-mindepth", "1", "-maxdepth", "1", "-printf", "%f %y %l\\n")
    links, others = {}, []
    for line in proc.stdout.splitlines():
        name, kind, target = (line.split(" ", 2) + [""])[:3]
        if kind == "l":
            links[name] = target
        else:
            others.append(name)
    return links, sorted(others)


def assert_plugins_reachable(lab, host, skip=()):
    """Every plugin of the package, by its link, answers CNI's VERSION command."""
    for name in package_plugins():
        if name in skip:
            continue
        # CNI_COMMAND through env(1): the plugin runs in the lab host, by its link.
        proc = lab.on(host, "env", "CNI_COMMAND=VERSION", os.path.join(BIN, name), timeout=60)
        assert proc.returncode == 0, (host, name, proc.stderr)
        assert "supportedVersions" in json.loads(proc.stdout), (host, name, proc.stdout)


def test_links_predicted_made_idempotent_switched_off_and_reset(lab):
    pristine = lab.snapshot()
    predicted = recap(lab.site(lab.good_path, *ON, "--check"))
    assert lab.snapshot() == pristine, "--check changed a host"
    real = lab.site(lab.good_path, *ON, "--diff")
    assert recap(real) == predicted
    assert "+link %s/bridge -> %s/bridge" % (BIN, SOURCE) in real.stdout  # the diff names each link
    for host in HOSTS:
        links, others = links_on(lab, host)
        assert links == dict((n, os.path.join(SOURCE, n)) for n in package_plugins()), host
        assert others == []
        assert_plugins_reachable(lab, host)
    assert set(recap(lab.site(lab.good_path, *ON)).values()) == {0}
    assert set(recap(lab.site(lab.good_path, *ON, "--check")).values()) == {0}

    # Off: the links and the directories the collection made go; the package stays.
    off = lab.site(lab.good_path, "--diff")
    assert recap(off) == {"host1": 1, "host2": 1}
    for host in HOSTS:
        assert lab.on(host, "test", "-e", "/opt/cni").returncode != 0, "%s kept /opt/cni" % host
    assert os.path.exists(os.path.join(SOURCE, "bridge"))
    assert "changed: [host1]" in task_output(off, REMOVE_TASK)
    # Nothing left to remove: the preflight's read found no record, so the
    # removal is not even started (a module run per host saved).
    again = task_output(lab.site(lab.good_path), REMOVE_TASK)
    assert "skipping: [host1]" in again and "skipping: [host2]" in again, again

    recap(lab.site(lab.good_path, *ON))
    recap(lab.site(lab.good_path, *RESET, playbook="playbooks/reset.yml"))
    assert lab.snapshot() == pristine, "reset left a trace"
    for host in HOSTS:
        assert lab.on(host, "test", "-e", "/opt/cni").returncode != 0, "reset left %s's /opt/cni" % host


def test_a_foreign_file_at_a_link_path_is_left_and_reported(lab):
    lab.write_file("host1", BIN + "/bridge", "#!/bin/sh\necho an upstream bridge\n")
    proc = lab.site(lab.good_path, *ON)
    assert set(recap(proc)) == set(HOSTS)
    said = [w for w in warnings(proc) if "%s/bridge is a regular file, not a link to %s/bridge" % (BIN, SOURCE) in w]
    assert said, warnings(proc)
    assert lab.on("host1", "cat", BIN + "/bridge").stdout == "#!/bin/sh\necho an upstream bridge\n"
    links, others = links_on(lab, "host1")
    assert others == ["bridge"]
    assert links == dict((n, os.path.join(SOURCE, n)) for n in package_plugins() if n != "bridge")
    assert_plugins_reachable(lab, "host1", skip=("bridge",))
    assert links_on(lab, "host2")[0]["bridge"] == SOURCE + "/bridge"
    # Every run says so again, and changes nothing more.
    again = lab.site(lab.good_path, *ON)
    assert set(recap(again).values()) == {0}
    assert any("%s/bridge is a regular file" % BIN in w for w in warnings(again))

    recap(lab.site(lab.good_path, *RESET, playbook="playbooks/reset.yml"))
    assert links_on(lab, "host1") == ({}, ["bridge"]), "reset touched the foreign file"
    assert lab.on("host1", "cat", BIN + "/bridge").stdout == "#!/bin/sh\necho an upstream bridge\n"
    assert lab.on("host2", "test", "-e", "/opt/cni").returncode != 0

"""Two podnet.hostgw changes never interleave on a host: while another
holder has the host-wide lock, a module run waits before its first read and
proceeds once the lock is released.

Each test holds ``HostLock`` on the namespace's lock path (the modules run
here use it through PODNET_HOSTGW_LOCK), starts a module, waits until the
module has the lock file open (it is then waiting in ``flock``), changes the
state itself, and only then releases.  The module's result must show the
state as the holder left it: its read came after the release.  Ordering,
never timing."""

import json
import os
import shutil
import threading
import time

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import netfilter as nf
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.lock import HostLock

pytestmark = pytest.mark.integration

WAIT = 120          # generous: the machine is shared and slow


def openers(path):
    """PIDs, other than this process, that have PATH open."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        fd_dir = "/proc/%s/fd" % pid
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(os.path.join(fd_dir, fd)) == path:
                    pids.append(int(pid))
                    break
            except OSError:
                continue
    return pids


def run_behind_the_lock(netns, module, params, change_while_held):
    """Run MODULE while this test holds the lock; CHANGE_WHILE_HELD runs once
    the module waits for it.  Returns the module's result."""
    results = []
    thread = threading.Thread(target=lambda: results.append(netns.module(module, params)))
    try:
        with HostLock("test holder", path=netns.lock_path):
            thread.start()
            deadline = time.monotonic() + WAIT
            while not openers(netns.lock_path):
                assert thread.is_alive(), \
                    "the module ran without waiting for the lock: %r" % (results,)
                assert time.monotonic() < deadline, "the module never opened the lock file"
                time.sleep(0.05)
            change_while_held()
            assert thread.is_alive() and results == [], "the module went on while the lock was held"
    finally:
        if thread.ident is not None:      # started
            thread.join(timeout=300)
    assert len(results) == 1
    assert results[0].get("failed") is not True, results[0]
    return results[0]


def test_bridge_waits_for_the_lock_and_reads_after_the_release(netns):
    def make_it():
        netns.ip("link", "add", "name", "cni0", "type", "bridge")
        netns.ip("addr", "add", "192.168.1.1/24", "brd", "+", "dev", "cni0")
        netns.ip("link", "set", "dev", "cni0", "up")

    res = run_behind_the_lock(netns, "bridge", {"name": "cni0", "addresses": ["192.168.1.1/24"]},
                              make_it)
    assert res["changed"] is False and res["commands"] == []
    assert res["bridge"]["addresses"] == ["192.168.1.1/24"]


def test_sysctl_waits_for_the_lock_and_records_what_it_read_after_the_release(netns, tmp_path):
    path = tmp_path / "60-test.conf"
    res = run_behind_the_lock(
        netns, "sysctl", {"values": {"net.ipv4.ip_forward": 1}, "path": str(path)},
        lambda: netns.run(["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]))
    assert res["applied"] == {}
    assert "# previous: net.ipv4.ip_forward = 1\n" in path.read_text()


def test_netfilter_waits_for_the_lock_and_reads_after_the_release(netns):
    if not shutil.which("nft"):
        pytest.skip("nft is not installed")
    config, problems = nf.validate(dict(name=nf.DEFAULT_NAME, state="present",
                                        cluster_cidrs=["192.168.0.0/16"]))
    assert problems == []
    script = nf.nft_script(nf.DEFAULT_NAME, nf.nft_wanted_text(config))
    res = run_behind_the_lock(
        netns, "netfilter", {"cluster_cidrs": ["192.168.0.0/16"], "backend": "nftables"},
        lambda: netns.run(["nft", "-f", "-"], data=script))
    assert res["changed"] is False and res["commands"] == []
    listing = json.loads(netns.run(["nft", "-j", "list", "table", "inet", nf.DEFAULT_NAME]).stdout)
    assert nf.nft_live_text(listing, nf.DEFAULT_NAME) == nf.nft_wanted_text(config)


def test_reconcile_command_waits_for_the_lock_and_reads_after_the_release(netns, tmp_path):
    params = {"command": str(tmp_path / "sbin" / "podnet-hostgw-reconcile"), "lib_dir": str(tmp_path / "lib"),
              "unit_dir": str(tmp_path / "units"), "state_file": str(tmp_path / "state.json"), "enable": False}
    (tmp_path / "sbin").mkdir()
    (tmp_path / "units").mkdir()
    first = netns.module("reconcile_command", params)
    assert first.get("failed") is not True and first["changed"] is True, first
    # Removed while the module waits: had it read before the release, it
    # would find its install whole and leave the command missing.
    res = run_behind_the_lock(netns, "reconcile_command", params, lambda: os.unlink(params["command"]))
    assert res["changed"] is True and res["changes"] == ["write %s" % params["command"]], res
    assert os.path.isfile(params["command"])

"""The modules that change a host (bridge, netfilter, sysctl) take the
host-wide lock before their first read, in check mode too, fail with one
clear sentence when another change holds it too long, and release it
however they end.  tests/integration/test_host_lock.py shows a real module
run waiting for a real holder."""

import functools
import os

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils import module_support
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.lock import HostLock
from ansible_collections.podnet.hostgw.plugins.modules import bridge, netfilter, sysctl
from tests.unit.plugins.modules.conftest import run_module

MODULES = {"bridge": bridge, "netfilter": netfilter, "sysctl": sysctl}


def params_of(name, tmp_path):
    return {
        "bridge": {"name": "cni0", "addresses": ["192.168.1.1/24"]},
        "netfilter": {"cluster_cidrs": ["192.168.0.0/16"]},
        # no values: nothing under /proc/sys is touched even if the lock were ignored
        "sysctl": {"values": {}, "path": str(tmp_path / "60-test.conf")},
    }[name]


def no_command(argv, **kwargs):
    raise AssertionError("a command ran while another change held the lock: %r" % (argv,))


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_held_lock_times_out_with_a_clear_message_and_nothing_read(
        name, check_mode, tmp_path, host_lock_path, monkeypatch):
    monkeypatch.setattr(module_support, "HostLock", functools.partial(HostLock, timeout=0.3))
    with HostLock("test holder", path=host_lock_path):
        res = run_module(MODULES[name], params_of(name, tmp_path), no_command,
                         check_mode=check_mode)
    assert res.failed
    assert res.result["msg"] == (
        "another podnet.hostgw change (pid %d, test holder) has held %s for more than 0 s; "
        "nothing was changed" % (os.getpid(), host_lock_path))
    assert res.result["changed"] is False
    assert not (tmp_path / "60-test.conf").exists()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_the_lock_is_released_when_the_module_ends(name, tmp_path, host_lock_path):
    # a failing run (a command that fails) and a run that fails validation both let go
    def failing(argv, **kwargs):
        return 1, "", "Error: Operation not permitted\n"

    res = run_module(MODULES[name], params_of(name, tmp_path), failing,
                     bin_path=lambda n: "/usr/sbin/" + n)
    assert name == "sysctl" or res.failed
    with HostLock("next", path=host_lock_path, timeout=0):
        pass

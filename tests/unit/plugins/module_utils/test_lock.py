"""The host-wide lock (module_utils/_hostgw/lock.py): one holder at a time,
released however the holder ends, a clear message on timeout."""

import os
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import lock
from tests.conftest import COLLECTIONS


def test_a_second_holder_waits_then_times_out_naming_the_first(tmp_path):
    path = str(tmp_path / "sub" / "podnet-hostgw.lock")
    with lock.HostLock("podnet.hostgw.bridge", path=path):
        # flock is per open file description: a second open in this process contends too.
        with pytest.raises(lock.LockTimeout) as exc:
            lock.HostLock("podnet.hostgw.ip_route", path=path, timeout=0.3).acquire()
    assert "another podnet.hostgw change (pid %d, podnet.hostgw.bridge) has held %s for more " \
           "than 0 s; nothing was changed" % (os.getpid(), path) == str(exc.value)
    with lock.HostLock("podnet.hostgw.ip_route", path=path, timeout=0.3):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    path = str(tmp_path / "podnet-hostgw.lock")
    code = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, %r)
        from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.lock import HostLock
        HostLock("holder", path=%r).acquire()
        print("held", flush=True)
        time.sleep(60)
    """ % (COLLECTIONS, path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(lock.LockTimeout):
            lock.HostLock("second", path=path, timeout=0.2).acquire()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    with lock.HostLock("second", path=path, timeout=1):
        pass

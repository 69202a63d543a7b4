# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host-wide lock: one podnet.hostgw change at a time on a host.

Every module that changes a host, and the reconcile command, hold it from
the moment they read the host until their change is applied, so two
playbook runs, or a playbook run and a timer run, never interleave a read
with another's write.  It is an ``flock`` on a file under ``/run/lock``:
the kernel releases it when the holder exits, however it exits, so a
killed run never leaves a stale lock behind.
"""

import errno
import fcntl
import os
import time

LOCK_PATH = "/run/lock/podnet-hostgw.lock"
# Tests that run modules in a bare network namespace (the real machine's
# /run) point the lock elsewhere with this environment variable.
LOCK_PATH_ENV = "PODNET_HOSTGW_LOCK"
DEFAULT_TIMEOUT = 300


class LockTimeout(Exception):
    pass


class HostLock(object):
    """``with HostLock(owner="podnet.hostgw.ip_route"):`` ... the change ..."""

    def __init__(self, owner, path=None, timeout=DEFAULT_TIMEOUT):
        self.owner = owner
        self.path = path or os.environ.get(LOCK_PATH_ENV) or LOCK_PATH
        self.timeout = timeout
        self.fd = None

    def _holder(self):
        try:
            with open(self.path) as fh:
                return fh.read(200).strip() or "unknown"
        except (IOError, OSError):
            return "unknown"

    def acquire(self):
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        deadline = time.monotonic() + self.timeout
        pause = 0.02
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if time.monotonic() >= deadline:
                os.close(fd)
                raise LockTimeout(
                    "another podnet.hostgw change (%s) has held %s for more than %d s; "
                    "nothing was changed" % (self._holder(), self.path, self.timeout))
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
        os.ftruncate(fd, 0)
        os.write(fd, ("pid %d, %s\n" % (os.getpid(), self.owner)).encode("utf-8"))
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            os.close(self.fd)     # closing the descriptor drops the flock
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False

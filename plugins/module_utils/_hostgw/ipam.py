# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CNI host-local IPAM's state of one network, and its removal once no
container holds an address in it.

host-local keeps it in ``DATA_DIR/NETWORK`` (``/var/lib/cni/networks/podnet``
for the collection's conflist): one file per leased address, named after the
address and holding the container ID (newer versions add the interface name
on a second line); ``last_reserved_ip.N``, where range set N allocates next;
and ``lock``, which it flocks around every change.

Once no address file is left - every container was deleted through its
runtime, whose CNI DEL releases the address - the directory is bookkeeping
only, and may go. Anything else in it (an address file, or an entry
host-local does not make) means a container may still use the network, or
the files are someone else's: the directory stays. Removal takes
host-local's own lock, reads again, unlinks only the bookkeeping files it
listed and then removes the directory with rmdir, which fails rather than
delete an entry that appeared meanwhile.
"""

import errno
import fcntl
import ipaddress
import os
import re
import stat
import time

from . import files

DATA_DIR = "/var/lib/cni/networks"
LOCK = "lock"
BOOKKEEPING = re.compile(r"(%s|last_reserved_ip\.[0-9]+)\Z" % LOCK)
LOCK_TIMEOUT = 30
_LOCK_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class LockTimeout(Exception):
    pass


class Lease(object):
    """One address file: ADDRESS leased to CONTAINER_ID (on IFNAME)."""

    def __init__(self, address, container_id, ifname):
        self.address, self.container_id, self.ifname = address, container_id, ifname

    def as_dict(self):
        return {"address": self.address, "container_id": self.container_id, "ifname": self.ifname}

    def __str__(self):
        return "%s (container %s)" % (self.address, self.container_id or "unknown")


class State(object):
    """What DATA_DIR/NETWORK holds. ``problem`` is set when PATH exists but
    is not a directory (a symlink included): it is then left alone."""

    def __init__(self, path, exists=False, problem=None, bookkeeping=(), leases=(), others=()):
        self.path, self.exists, self.problem = path, exists, problem
        self.bookkeeping = sorted(bookkeeping)
        self.leases = sorted(leases, key=lambda lease: lease.address)
        self.others = sorted(others)

    @property
    def unused(self):
        """True when the directory exists and holds bookkeeping only."""
        return self.exists and not self.problem and not self.leases and not self.others

    def listing(self):
        """The directory's entries, one per line, for a diff."""
        names = self.bookkeeping + [lease.address for lease in self.leases] + self.others
        return "".join("%s\n" % name for name in sorted(names))


def network_dir(data_dir, network):
    return os.path.join(data_dir, network)


def _lease(path, name):
    """A Lease when NAME is an address file, else None."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return None
    data, bad = files.read_small(path)
    if bad or data is None:
        return None
    lines = data.decode("utf-8", "replace").splitlines()
    return Lease(name, lines[0].strip() if lines else "", lines[1].strip() if len(lines) > 1 else "")


def read(path):
    """The State of the directory PATH (nothing is changed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return State(path)
    if stat.S_ISLNK(st.st_mode):
        return State(path, exists=True, problem="is a symbolic link, not a directory")
    if not stat.S_ISDIR(st.st_mode):
        return State(path, exists=True, problem="is not a directory")
    bookkeeping, leases, others = [], [], []
    for entry in os.scandir(path):
        regular = entry.is_file(follow_symlinks=False)
        lease = _lease(entry.path, entry.name) if regular else None
        if regular and BOOKKEEPING.match(entry.name):
            bookkeeping.append(entry.name)
        elif lease is not None:
            leases.append(lease)
        else:
            others.append(entry.name)
    return State(path, exists=True, bookkeeping=bookkeeping, leases=leases, others=others)


def _lock(path, timeout):
    """An fd holding host-local's flock on PATH/lock, or None when there is
    no lock file (host-local has not finished creating the directory, and
    rmdir will refuse what it adds)."""
    try:
        fd = os.open(os.path.join(path, LOCK), _LOCK_FLAGS)
    except FileNotFoundError:
        return None
    deadline = time.monotonic() + timeout
    pause = 0.02
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
        if time.monotonic() >= deadline:
            os.close(fd)
            raise LockTimeout("host-local IPAM has held %s for more than %d s; %s was left in place"
                              % (os.path.join(path, LOCK), timeout, path))
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def remove_unused(path, timeout=LOCK_TIMEOUT):
    """Remove the directory PATH when it holds bookkeeping only.

    Returns ``(removed, state)``, STATE as read under host-local's lock.
    Raises LockTimeout, or OSError when an unlink or the rmdir fails (the
    directory then stays, with whatever it still holds)."""
    state = read(path)
    if not state.unused:
        return False, state
    fd = _lock(path, timeout)
    try:
        state = read(path)
        if not state.unused:
            return False, state
        # The lock file last, so a host-local that arrives meanwhile waits
        # on the lock held here instead of making a new one.
        for name in sorted(state.bookkeeping, key=lambda n: n == LOCK):
            os.unlink(os.path.join(path, name))
        os.rmdir(path)
        return True, state
    finally:
        if fd is not None:
            os.close(fd)

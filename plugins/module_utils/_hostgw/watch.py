# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""podnet-hostgw-reconcile-watch: the reconcile command within a second of
a change, instead of at the timer's next tick (opt-in; the timer stays).

It runs the reconcile once, then follows ``ip -o monitor link address
route``: the first event starts a short wait that ends once the events
have been quiet for ``--quiet`` seconds, or ``--at-most`` seconds after the
first one (a link coming up brings a burst of address and route events),
and then it runs the reconcile again, in this process.  Its own repairs
are events too; the run they start finds the host converged and changes
nothing, so nothing follows it.  Lines go to standard output as the
command prints them.

It ends when ``ip monitor`` ends (systemd restarts it) and on SIGTERM.
Options other than its own go to the reconcile command (``--state-file``,
``--lock-timeout``, ``--verbose``).  Standard library only.
"""

import argparse
import os
import select
import signal
import subprocess
import sys
import time

from . import reconcile
from .command import C_LOCALE, SubprocessRunner

PROG = "podnet-hostgw-reconcile-watch"
MONITOR = ("-o", "monitor", "link", "address", "route")


class Debounce(object):
    """When a burst of events is over: QUIET seconds after the last event,
    at most AT_MOST seconds after the first (times from CLOCK)."""

    def __init__(self, quiet, at_most, clock=time.monotonic):
        self.quiet, self.at_most, self.clock = quiet, at_most, clock
        self.first = self.last = None

    def event(self):
        now = self.clock()
        if self.first is None:
            self.first = now
        self.last = now

    def timeout(self):
        """Seconds until the burst is over (None: no burst, 0: over)."""
        if self.first is None:
            return None
        due = min(self.last + self.quiet, self.first + self.at_most)
        return max(0.0, due - self.clock())

    def take(self):
        """True (and a new burst may start) when the burst is over."""
        if self.first is not None and self.timeout() == 0:
            self.first = self.last = None
            return True
        return False


def parse_args(argv):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--quiet", type=float, default=0.2, metavar="SECONDS",
                        help="run once events have been quiet this long (default %(default)s)")
    parser.add_argument("--at-most", type=float, default=1.0, metavar="SECONDS",
                        help="...or this long after the first event (default %(default)s)")
    return parser.parse_known_args(argv)


def watch(monitor, run, debounce, stop):
    """Feed MONITOR's lines (a file object) to DEBOUNCE; RUN() when a burst
    is over.  Returns when MONITOR ends or STOP() is true."""
    fd = monitor.fileno()
    buffered = b""
    while not stop():
        ready = select.select([fd], [], [], debounce.timeout())[0]
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            buffered += chunk
            lines = buffered.split(b"\n")
            buffered = lines.pop()
            if any(line.strip() for line in lines):
                debounce.event()
        if debounce.take():
            run()


class Stopped(Exception):
    pass


class Terminator(object):
    """SIGTERM ends the watcher: at once while it waits for events, after
    the current run while a reconcile runs (it holds the host lock and may
    be half way through a batch)."""

    def __init__(self):
        self.requested = False
        self.running = False

    def __call__(self, *_):
        self.requested = True
        if not self.running:
            raise Stopped()

    def run(self, fn):
        self.running = True
        try:
            fn()
        finally:
            self.running = False
        if self.requested:
            raise Stopped()


def main(argv=None):
    args, rest = parse_args(sys.argv[1:] if argv is None else argv)
    ip = SubprocessRunner().which("ip")
    if ip is None:
        sys.stderr.write("%s: iproute2's ip was not found\n" % PROG)
        return 1
    term = Terminator()
    signal.signal(signal.SIGTERM, term)
    monitor = subprocess.Popen([ip] + list(MONITOR), stdout=subprocess.PIPE,
                               env=dict(os.environ, **C_LOCALE))
    stopping = []
    try:
        def once():
            term.run(lambda: reconcile.main(rest))
        once()
        watch(monitor.stdout, once, Debounce(args.quiet, args.at_most), lambda: term.requested)
    except Stopped:
        stopping.append(True)
    finally:
        if monitor.poll() is None:
            monitor.terminate()
        monitor.wait()
    if stopping:
        return 0
    sys.stderr.write("%s: ip monitor ended (status %s)\n" % (PROG, monitor.returncode))
    return 1

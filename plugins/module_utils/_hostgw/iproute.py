# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that runs iproute2's ``ip``, for the modules and the
reconcile command alike.

Every call is an argv list (never a shell string) run with ``LC_ALL=C`` (see
command.py) so the output does not depend on the host's locale.  Writes go
through ``ip -batch -`` so a whole change set costs one process.
"""

import json
import re
from collections import namedtuple

# "Command failed -:3" is how ip -batch names the failing input line.
_BATCH_FAILED_LINE = re.compile(r"Command failed -:(\d+)\s*$")

BatchResult = namedtuple("BatchResult", "rc out err errors unattributed")
BatchResult.__doc__ = """What ``ip -batch`` did: ``errors`` maps a failed input line
(1-based) to its message; ``unattributed`` holds messages no line number
claimed (an argument error stops ip at once, without a line number)."""


def parse_batch_errors(stderr):
    """``({line_number: message}, unattributed_messages)`` from the stderr of
    ``ip -force -batch -``.  A kernel error prints its message, then
    ``Command failed -:N``; an argument parse error prints only the message
    and ends ip at once (the rest of the batch never runs)."""
    by_line = {}
    pending = []
    for raw in (stderr or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _BATCH_FAILED_LINE.search(line)
        if m:
            n = int(m.group(1))
            msg = "; ".join(pending) if pending else "failed"
            by_line[n] = (by_line[n] + "; " + msg) if n in by_line else msg
            pending = []
            continue
        for prefix in ("Error: ", "RTNETLINK answers: "):
            if line.startswith(prefix):
                line = line[len(prefix):]
                break
        pending.append(line)
    return by_line, pending


class IpCommandError(Exception):
    def __init__(self, message, rc=None, stdout="", stderr=""):
        super(IpCommandError, self).__init__(message)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr


class IpCommand(object):
    """Thin wrapper around ``ip`` on a command.Runner."""

    def __init__(self, runner, ip_bin=None):
        self.runner = runner
        self.ip_bin = ip_bin or runner.which("ip")
        if not self.ip_bin:
            raise IpCommandError("the ip command was not found (install the iproute2 package)")

    def run(self, args, data=None):
        return self.runner.run([self.ip_bin] + list(args), data=data)

    def json(self, args):
        """``ip -json ARGS`` parsed; an empty answer is an empty list."""
        rc, out, err = self.run(["-json"] + list(args))
        if rc != 0:
            raise IpCommandError(
                "ip -json %s failed: %s" % (" ".join(args), err.strip() or out.strip()),
                rc=rc, stdout=out, stderr=err,
            )
        out = out.strip()
        if not out:
            return []
        try:
            return json.loads(out)
        except ValueError as exc:
            raise IpCommandError(
                "ip -json %s returned output that is not JSON: %s" % (" ".join(args), exc),
                rc=rc, stdout=out, stderr=err,
            )

    def batch(self, lines, force=True):
        """Run ``ip [-force] -batch -`` with LINES on stdin; a BatchResult.

        With ``force`` ip keeps going after a failing line, so the caller can
        tell exactly which lines were applied.
        """
        if not lines:
            return BatchResult(0, "", "", {}, [])
        for line in lines:
            if "\n" in line or "\r" in line:
                raise IpCommandError("refusing a batch line with a line break: %r" % line)
        args = (["-force"] if force else []) + ["-batch", "-"]
        rc, out, err = self.run(args, data="\n".join(lines) + "\n")
        errors, unattributed = parse_batch_errors(err)
        return BatchResult(rc, out, err, errors, unattributed)

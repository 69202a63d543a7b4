# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that runs iproute2's ``ip`` for the collection's modules.

Every call is an argv list (never a shell string) run with ``LC_ALL=C`` so the
output does not depend on the host's locale.  Writes go through
``ip -batch -`` so a whole change set costs one process.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

C_LOCALE = {"LC_ALL": "C", "LANG": "C", "LC_MESSAGES": "C"}

# "Command failed -:3" is how ip -batch names the failing input line.
_BATCH_FAILED_LINE = re.compile(r"Command failed -:(\d+)")


class IpCommandError(Exception):
    def __init__(self, message, rc=None, stdout="", stderr="", failed_lines=None):
        super(IpCommandError, self).__init__(message)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.failed_lines = failed_lines or []


class IpCommand:
    """Thin wrapper around ``ip`` bound to an AnsibleModule's run_command."""

    def __init__(self, module, ip_bin=None):
        self.module = module
        self.ip_bin = ip_bin or module.get_bin_path("ip", required=True)

    def run(self, args, data=None):
        argv = [self.ip_bin] + list(args)
        return self.module.run_command(
            argv, data=data, binary_data=False, environ_update=C_LOCALE
        )

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
        """Run ``ip [-force] -batch -`` with LINES on stdin.

        With ``force`` ip keeps going after a failing line, so the caller can
        tell exactly which lines were applied.  Returns ``(rc, out, err,
        failed_line_numbers)``, line numbers 1-based as ip reports them.
        """
        if not lines:
            return 0, "", "", []
        for line in lines:
            if "\n" in line or "\r" in line:
                raise IpCommandError("refusing a batch line with a line break: %r" % line)
        args = (["-force"] if force else []) + ["-batch", "-"]
        rc, out, err = self.run(args, data="\n".join(lines) + "\n")
        failed = sorted(set(int(n) for n in _BATCH_FAILED_LINE.findall(err)))
        return rc, out, err, failed

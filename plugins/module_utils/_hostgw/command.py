# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How the engine runs a command: an argv list (never a shell string) with
``LC_ALL=C``, stdin passed exactly as given.

A module runs commands through Ansible's ``run_command`` (see
module_support.ModuleRunner); the reconcile command through
``SubprocessRunner``.  Engine code only ever sees the ``Runner`` interface.
"""

import os
import subprocess

C_LOCALE = {"LC_ALL": "C", "LANG": "C", "LC_MESSAGES": "C"}
# Where iproute2, nft and iptables live, also when PATH lacks the sbin dirs.
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin")


class Runner(object):
    """``run(argv, data=None) -> (rc, stdout, stderr)`` as text; ``which(name)``
    -> an absolute path or None."""

    def run(self, argv, data=None):
        raise NotImplementedError

    def which(self, name):
        raise NotImplementedError


class SubprocessRunner(Runner):
    def run(self, argv, data=None):
        env = dict(os.environ, **C_LOCALE)
        proc = subprocess.run(list(argv), input=data, capture_output=True, text=True, env=env,
                              check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def which(self, name):
        dirs = os.environ.get("PATH", "").split(os.pathsep) + list(SBIN_DIRS)
        for d in dirs:
            path = os.path.join(d, name)
            if d and os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        return None

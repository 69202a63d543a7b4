# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: nsenter
short_description: Run tasks inside the namespaces of a process on the controller (the lab's connection)
description:
  - The connection of the podnet.hostgw lab and its molecule scenarios. It is
    not needed to configure real hosts, which are reached over ssh as usual.
  - Runs commands and transfers files inside the network, mount and UTS
    namespaces of a process on the controller, with C(nsenter).
  - Each lab host is a long-lived holder process with its own network, mount
    and UTS namespaces; this plugin enters them, so C(/sys/class/net), C(/etc)
    and the hostname are the lab host's own, and gathered facts describe it
    rather than the controller.
  - The command is handed to C(/bin/sh -c) as a single argument, so a compound
    command runs entirely inside the target namespaces.
  - Files travel through a pipe into C(nsenter), so they land in the target's
    own mount namespace (an overlay over C(/etc) for instance).
  - Needs root on the controller.
author: podnet.hostgw developers (!UNKNOWN)
version_added: 0.1.0
options:
  nsenter_pid:
    description:
      - PID of a process whose namespaces the tasks run in.
      - Takes precedence over O(nsenter_pid_file).
    type: int
    vars:
      - name: ansible_nsenter_pid
  nsenter_pid_file:
    description:
      - File holding the PID of the process whose namespaces the tasks run in.
      - Read at connect time, so a lab rebuilt between runs is found again.
    type: path
    vars:
      - name: ansible_nsenter_pid_file
  nsenter_pid_dir:
    description:
      - Directory of PID files named after the target host, C(<dir>/<host>.pid), where
        C(<host>) is the host's address (C(ansible_host), else its inventory name).
      - One value for every host of a group that also names the right file for a task
        delegated to another host (where C(inventory_hostname) in a templated
        O(nsenter_pid_file) is still the task's own host).
      - Used when neither O(nsenter_pid) nor O(nsenter_pid_file) is set.
    type: path
    version_added: 0.2.0
    vars:
      - name: ansible_nsenter_pid_dir
  nsenter_namespaces:
    description:
      - Which namespaces of the target to enter, as C(nsenter) flags without dashes.
    type: list
    elements: str
    default: [net, mount, uts]
    vars:
      - name: ansible_nsenter_namespaces
  nsenter_exe:
    description: Path of the C(nsenter) binary.
    type: str
    default: nsenter
    vars:
      - name: ansible_nsenter_exe
"""

import os
import shutil
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

display = Display()

_NS_FLAGS = {
    "net": "--net",
    "mount": "--mount",
    "uts": "--uts",
    "ipc": "--ipc",
    "pid": "--pid",
    "cgroup": "--cgroup",
}

BUFSIZE = 65536


class Connection(ConnectionBase):
    """Enter a running process's namespaces with nsenter."""

    transport = "podnet.hostgw.nsenter"
    has_pipelining = True
    has_tty = False
    # Paths are those of the target's mount namespace, not a different host.
    default_user = "root"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pid = None
        self._nsenter = None

    def _target_pid(self):
        pid = self.get_option("nsenter_pid")
        if pid is None:
            pid_file = self.get_option("nsenter_pid_file")
            if not pid_file and self.get_option("nsenter_pid_dir"):
                pid_file = os.path.join(self.get_option("nsenter_pid_dir"),
                                        "%s.pid" % os.path.basename(self._play_context.remote_addr))
            if not pid_file:
                raise AnsibleConnectionFailure(
                    "nsenter: set ansible_nsenter_pid, ansible_nsenter_pid_file or ansible_nsenter_pid_dir for %s"
                    % self._play_context.remote_addr
                )
            try:
                with open(pid_file) as fh:
                    pid = int(fh.read().strip())
            except (OSError, ValueError) as exc:
                raise AnsibleConnectionFailure(
                    "nsenter: cannot read a PID from %s (%s); is the lab up?"
                    % (pid_file, to_native(exc))
                )
        if not os.path.isdir("/proc/%d" % pid):
            raise AnsibleConnectionFailure(
                "nsenter: no process with PID %d; is the lab up?" % pid
            )
        return pid

    def _connect(self):
        if not self._connected:
            self._nsenter = shutil.which(self.get_option("nsenter_exe"))
            if not self._nsenter:
                raise AnsibleConnectionFailure("nsenter: %s not found" % self.get_option("nsenter_exe"))
            self._pid = self._target_pid()
            display.vvv("NSENTER PID %d" % self._pid, host=self._play_context.remote_addr)
            self._connected = True
        return self

    def _argv(self, argv):
        flags = []
        for ns in self.get_option("nsenter_namespaces"):
            if ns not in _NS_FLAGS:
                raise AnsibleError("nsenter: unknown namespace %r" % ns)
            flags.append(_NS_FLAGS[ns])
        return [self._nsenter, "--target", str(self._pid)] + flags + ["--"] + list(argv)

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        # One argv element: the whole command, compound or not, runs inside.
        argv = self._argv(["/bin/sh", "-c", to_native(cmd)])
        display.vvv("EXEC %s" % argv, host=self._play_context.remote_addr)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if in_data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout, stderr = proc.communicate(in_data)
        return proc.returncode, stdout, stderr

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        self._connect()
        display.vvv("PUT %s TO %s" % (in_path, out_path), host=self._play_context.remote_addr)
        if not os.path.exists(to_bytes(in_path, errors="surrogate_or_strict")):
            raise AnsibleFileNotFound("file or module does not exist: %s" % in_path)
        # The path is a positional parameter of sh, never part of the script.
        argv = self._argv(["/bin/sh", "-c", 'cat > "$1"', "sh", to_native(out_path)])
        with open(to_bytes(in_path, errors="surrogate_or_strict"), "rb") as src:
            proc = subprocess.Popen(argv, stdin=src, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise AnsibleError(
                "failed to transfer %s to %s: %s" % (in_path, out_path, to_native(stderr or stdout))
            )

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        self._connect()
        display.vvv("FETCH %s TO %s" % (in_path, out_path), host=self._play_context.remote_addr)
        argv = self._argv(["/bin/cat", "--", to_native(in_path)])
        with open(to_bytes(out_path, errors="surrogate_or_strict"), "wb") as dst:
            proc = subprocess.Popen(argv, stdout=dst, stderr=subprocess.PIPE)
            stderr = proc.communicate()[1]
        if proc.returncode != 0:
            raise AnsibleError("failed to fetch %s: %s" % (in_path, to_native(stderr)))

    def close(self):
        self._connected = False

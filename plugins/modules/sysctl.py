#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: sysctl
short_description: Set kernel parameters now and persist them in one file of their own
version_added: 0.1.0
description:
  - Writes each parameter in O(values) to C(/proc/sys) when its running value
    differs, and keeps the whole set in one file under C(/etc/sysctl.d/) that
    the module owns, so the values survive a reboot.
  - Unlike a line-by-line edit of C(/etc/sysctl.conf), the persisted file holds
    exactly O(values), so a parameter dropped from O(values) is dropped from the
    file too.
  - The file also records, as C(# previous:) comments, the value each parameter
    had before the module first changed it, so O(state=absent) can put it back.
    That record is written before any running value changes, and a recorded
    value is never overwritten, also when a parameter leaves O(values). If the
    file cannot be written, no running value is changed.
  - The module only ever writes or removes a file it created - one whose first
    lines carry the marker C(# Managed by podnet.hostgw). If O(path) exists
    without it (for example V(/etc/sysctl.conf)), or is not a regular file, the
    module fails with a message that names the path, and changes nothing - not
    the file and not the running values, with O(state=present) and
    O(state=absent) alike.
  - Holds the host-wide lock of podnet.hostgw (C(flock) on
    C(/run/lock/podnet-hostgw.lock)) from its first read of the file and the
    running values until its change is written, in check mode too, so
    concurrent runs never record a value another run has just set. A run that
    waits for the lock longer than 300 seconds fails and changes nothing.
  - Only depends on the kernel's C(/proc/sys); no C(sysctl) binary is needed.
author: podnet.hostgw developers (!UNKNOWN)
extends_documentation_fragment:
  - podnet.hostgw.observed
attributes:
  check_mode:
    support: full
    description: Reports what would change without writing anything.
  diff_mode:
    support: full
    description: Shows the running values and the persisted file before and after.
  platform:
    support: full
    platforms: linux
    description: Needs Linux's C(/proc/sys).
options:
  values:
    description:
      - Parameters and their values, for example C(net.ipv4.ip_forward=1).
      - Keys use dots and must exist on the target's kernel; values are compared
        as the kernel prints them, with runs of white space folded.
    type: dict
    default: {}
  path:
    description:
      - The file the values are persisted to, an absolute path. The module owns the
        whole file, and only a file it created (see the description).
    type: path
    required: true
  state:
    description:
      - V(present) applies O(values) and writes O(path).
      - V(absent) removes O(path) and, with O(restore), puts back the running
        values the parameters had before the module first changed them.
    type: str
    choices: [present, absent]
    default: present
  apply:
    description:
      - Whether to write the running values, not only the file.
    type: bool
    default: true
  restore:
    description:
      - With O(state=absent), restore the values remembered in O(path).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Forward IPv4 and persist it
  podnet.hostgw.sysctl:
    values:
      net.ipv4.ip_forward: 1
    path: /etc/sysctl.d/60-podnet-hostgw.conf

- name: Drop the persisted file and restore the earlier values
  podnet.hostgw.sysctl:
    path: /etc/sysctl.d/60-podnet-hostgw.conf
    state: absent
"""

RETURN = r"""
from_read:
  description:
    - V(true) when the action plugin found in O(observed) that nothing would change, and did not
      run the module on the host.
  returned: when true
  type: bool
  sample: true
applied:
  description: Parameters whose running value was (or in check mode would be) written, with their new values (restored ones for O(state=absent)).
  returned: always
  type: dict
  sample: {"net.ipv4.ip_forward": "1"}
file_changed:
  description: Whether O(path) was (or would be) written or removed.
  returned: always
  type: bool
errors:
  description: Every problem found in the parameters, each naming the offending value.
  returned: when the parameters are invalid
  type: list
  elements: str
  sample: ["values key 'net.ipv4.no_such_knob' does not exist on this kernel (no /proc/sys/net/ipv4/no_such_knob)"]
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.hostgw.plugins.module_utils.module_support import (
    fail_problems,
    host_lock,
)
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import names, sysctl

ARGUMENT_SPEC = dict(
    observed=dict(type="dict"),  # the action plugin's; the module ignores it
    values=dict(type="dict", default={}),
    path=dict(type="path", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    apply=dict(type="bool", default=True),
    restore=dict(type="bool", default=True),
)


class Sysctl(object):
    """Validate, then under the host-wide lock read the file and the running
    values, write the file (with the earlier values) and then the running
    values, or restore and remove."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.path = module.params["path"]
        self.result = dict(changed=False, applied={}, file_changed=False)

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **dict(self.result, **extra))

    def run(self):
        # Which parameters this kernel has is part of the input's validity,
        # not state the collection changes: checked with the rest, unlocked.
        problems = sysctl.validate(self.params["values"])
        bad_path = names.abs_path_problem(self.path)
        if bad_path:
            problems.insert(0, names.problem("path", self.path, bad_path))
        if problems:
            fail_problems(self.module, "invalid parameters, nothing was changed", problems,
                          **self.result)
        with host_lock(self.module, **self.result):
            current_file = self.read_file()
            if self.params["state"] == "absent":
                self.remove(current_file)
            else:
                self.persist(current_file)
        return self.result

    def read_file(self):
        try:
            return sysctl.read_owned(self.path)
        except sysctl.NotOurs as exc:
            self.fail(str(exc))
        except (IOError, OSError) as exc:
            self.fail("cannot read %s: %s" % (self.path, exc))

    def persist(self, current_file):
        values = dict((k, sysctl.normalise(v)) for k, v in self.params["values"].items())
        running = dict((k, sysctl.read_running(k)) for k in values)
        applied, wanted_file = sysctl.persist_plan(values, running, current_file,
                                                   self.params["apply"])
        file_changed = current_file != wanted_file
        after = dict(running, **applied)
        self.result.update(changed=bool(applied) or file_changed, applied=applied,
                           file_changed=file_changed)
        if self.module._diff:
            self.result["diff"] = [
                dict(before_header="running values", after_header="running values",
                     before=render_values(running), after=render_values(after)),
                dict(before_header=self.path, after_header=self.path,
                     before=current_file or "", after=wanted_file),
            ]
        if self.module.check_mode:
            return
        # The earlier values are on disk before any running value changes.
        if file_changed:
            self.write_file(wanted_file)
        self.write_running(applied)

    def remove(self, current_file):
        restore = {}
        if self.params["restore"] and current_file is not None:
            restore = sysctl.restorable(sysctl.parse_previous(current_file))
        had_file = current_file is not None
        self.result.update(changed=had_file or bool(restore), applied=restore,
                           file_changed=had_file)
        if self.module._diff:
            self.result["diff"] = dict(before=current_file or "", after="",
                                       before_header=self.path, after_header=self.path)
        if self.module.check_mode:
            return
        # Restored first: the record goes only once it was used.
        self.write_running(restore)
        if had_file:
            os.unlink(self.path)

    def write_file(self, text):
        directory = os.path.dirname(self.path)
        tmp = None
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".podnet-hostgw-")
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)
        except (IOError, OSError) as exc:
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)
            self.result.update(changed=False, applied={}, file_changed=False)
            self.fail("cannot write %s, so no running value was changed: %s" % (self.path, exc))
        self.module.atomic_move(tmp, self.path)

    def write_running(self, changes):
        try:
            sysctl.write_running(changes)
        except sysctl.WriteFailed as exc:
            self.result["applied"] = exc.done
            self.fail(str(exc))


def render_values(values):
    return "".join("%s = %s\n" % (k, values[k]) for k in sorted(values))


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = Sysctl(module).run()
    module.exit_json(**result)


if __name__ == "__main__":
    main()

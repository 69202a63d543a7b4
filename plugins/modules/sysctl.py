#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
  - The file also remembers, as comments, the value each parameter had before
    the module first changed it, so O(state=absent) can put it back.
  - Only depends on the kernel's C(/proc/sys); no C(sysctl) binary is needed.
author: podnet.hostgw developers
attributes:
  check_mode:
    support: full
    description: Reports what would change without writing anything.
  diff_mode:
    support: full
    description: Shows the running values and the persisted file before and after.
  platform:
    platforms: linux
    description: Needs Linux's C(/proc/sys).
options:
  values:
    description:
      - Parameters and their values, for example C(net.ipv4.ip_forward=1).
      - Keys use dots; values are compared as the kernel prints them, with runs
        of white space folded.
    type: dict
    default: {}
  path:
    description:
      - The file the values are persisted to. The module owns the whole file.
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
applied:
  description: Parameters whose running value was (or in check mode would be) written, with their new values (restored ones for O(state=absent)).
  returned: always
  type: dict
  sample: {"net.ipv4.ip_forward": "1"}
file_changed:
  description: Whether O(path) was (or would be) written or removed.
  returned: always
  type: bool
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

HEADER = "# Managed by podnet.hostgw (Ansible). Local edits are overwritten.\n"
KEY_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_.\-]*$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalise(value):
    return " ".join(str(value).split())


def proc_path(key):
    return os.path.join("/proc/sys", key.replace(".", "/"))


def read_running(key):
    with open(proc_path(key)) as fh:
        return normalise(fh.read())


PREVIOUS = "# previous: "


def render(values, previous):
    return (HEADER
            + "".join("%s%s = %s\n" % (PREVIOUS, k, previous[k]) for k in sorted(previous))
            + "".join("%s = %s\n" % (k, values[k]) for k in sorted(values)))


def parse_previous(text):
    """The values remembered in a file this module wrote."""
    previous = {}
    for line in text.splitlines():
        if line.startswith(PREVIOUS) and "=" in line:
            key, value = line[len(PREVIOUS):].split("=", 1)
            previous[key.strip()] = normalise(value)
    return previous


def write_running(module, changes):
    for key in sorted(changes):
        try:
            with open(proc_path(key), "w") as fh:
                fh.write(changes[key] + "\n")
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot set %s to %s: %s" % (key, changes[key], exc),
                             applied=dict((k, changes[k]) for k in sorted(changes) if k < key))


def validate(module, values):
    bad = []
    for key, value in values.items():
        if not KEY_RE.match(key) or ".." in key:
            bad.append("key %r is not a sysctl name" % key)
        elif CONTROL.search(str(value)):
            bad.append("value of %s contains a control character: %r" % (key, value))
        elif isinstance(value, bool):
            bad.append("value of %s is a boolean (%r); write 0 or 1" % (key, value))
        elif not os.path.exists(proc_path(key)):
            bad.append("%s does not exist on this kernel (%s)" % (key, proc_path(key)))
    if bad:
        module.fail_json(msg="invalid sysctl values: " + "; ".join(bad))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            values=dict(type="dict", default={}),
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            apply=dict(type="bool", default=True),
            restore=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    state = module.params["state"]
    values = dict((k, normalise(v)) for k, v in module.params["values"].items())

    current_file = ""
    if os.path.exists(path):
        with open(path) as fh:
            current_file = fh.read()

    if state == "absent":
        restore = {}
        if module.params["restore"]:
            for key, value in parse_previous(current_file).items():
                if KEY_RE.match(key) and ".." not in key and os.path.exists(proc_path(key)) \
                        and read_running(key) != value:
                    restore[key] = value
        had_file = os.path.exists(path)
        if not module.check_mode:
            write_running(module, restore)
            if had_file:
                os.unlink(path)
        module.exit_json(changed=had_file or bool(restore), applied=restore, file_changed=had_file,
                         diff=dict(before=current_file, after="",
                                   before_header=path, after_header=path))

    validate(module, values)
    running = dict((k, read_running(k)) for k in values)
    applied = dict((k, v) for k, v in values.items() if running[k] != v) if module.params["apply"] else {}
    remembered = parse_previous(current_file)
    previous = dict((k, remembered.get(k, running[k])) for k in values)
    wanted_file = render(values, previous)
    file_changed = current_file != wanted_file

    if not module.check_mode:
        write_running(module, applied)
        if file_changed:
            directory = os.path.dirname(path)
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            tmp = path + ".podnet-tmp"
            with open(tmp, "w") as fh:
                fh.write(wanted_file)
            os.chmod(tmp, 0o644)
            module.atomic_move(tmp, path)

    before = "".join("%s = %s\n" % (k, running[k]) for k in sorted(running))
    after_values = dict(running, **applied)
    after = "".join("%s = %s\n" % (k, after_values[k]) for k in sorted(after_values))
    module.exit_json(
        changed=bool(applied) or file_changed,
        applied=applied,
        file_changed=file_changed,
        diff=[
            dict(before_header="running values", after_header="running values",
                 before=before, after=after),
            dict(before_header=path, after_header=path, before=current_file, after=wanted_file),
        ],
    )


if __name__ == "__main__":
    main()

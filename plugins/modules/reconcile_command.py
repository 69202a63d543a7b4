#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: reconcile_command
short_description: Install the reconcile command and its systemd units, or remove them
version_added: 0.1.0
description:
  - Installs C(podnet-hostgw-reconcile), the command that re-creates what a host's pod network
    lost between playbook runs (the bridge and its addresses, the peer routes, the nftables or
    iptables rules) from the desired-state file the P(podnet.hostgw.bridge#role),
    P(podnet.hostgw.forwarding#role) and P(podnet.hostgw.routes#role) roles write; and the
    systemd units that run it - a oneshot service at boot once the network is online, and a
    timer every O(interval) seconds - plus, with O(watch), a watcher that runs it within a
    second of a link, address or route change.
  - The command is a small script run by the host's Python (the interpreter that runs this
    module, in isolated mode) that imports the engine as the plain package C(podnet_hostgw)
    under O(lib_dir). The engine files are the collection's own, byte for byte - the very
    files this module's payload carries, since the module imports the command's entry points.
  - One call per host does everything, in check mode too; files are written atomically
    (a temporary file, fsync, rename).
  - Never overwrites or deletes a file that is not the collection's. The scripts and units
    carry the marker line C(# Managed by podnet.hostgw); the engine files are the
    collection's when its install record (C(installed) in O(lib_dir)) lists them; a link
    is the collection's when it points at the collection's unit. Anything else at one of
    these paths stops the module before any change, naming the path.
  - The install record lists every file and link installed and every directory created,
    so O(state=absent) removes exactly those, directories only when empty, with the
    byte-code caches Python wrote beside the engine files.
  - Does not start, stop, enable or reload anything in systemd; the
    P(podnet.hostgw.reconcile#role) role does that with M(ansible.builtin.systemd_service)
    where systemd runs. O(enable) writes the links C(systemctl enable) would make, for hosts
    where systemd is not running.
author: podnet.hostgw developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports exactly the changes a real run makes.
  diff_mode:
    support: full
    description: The scripts and units as text before and after; the engine files, links and directories as a list of paths.
  platform:
    support: full
    platforms: linux
    description: Needs a Linux host with Python 3.8 to 3.13; systemd is optional.
options:
  state:
    description:
      - V(present) installs the command, the engine and the units; V(absent) removes what the record lists.
    type: str
    choices: [present, absent]
    default: present
  state_file:
    description:
      - The desired-state file the command reads by default (the roles' C(hostgw_state_path)).
    type: path
    default: /etc/podnet/hostgw-state.json
  interval:
    description: Seconds between the timer's runs, from 1 to 86400.
    type: int
    default: 10
  watch:
    description:
      - Also install C(podnet-hostgw-reconcile-watch) and its service, which follows C(ip monitor)
        and runs the reconcile within a second of a change. A long-running process; off by default.
    type: bool
    default: false
  enable:
    description:
      - Write the C(.wants/) links C(systemctl enable) would make (C(multi-user.target.wants) for the
        services, C(timers.target.wants) for the timer). For hosts where systemd does not run; where
        it runs, leave it off and enable the units with M(ansible.builtin.systemd_service).
    type: bool
    default: false
  python:
    description:
      - The interpreter on the scripts' C(#!) line. Default, the one running this module
        (C(ansible_python_interpreter)).
    type: path
  command:
    description: Where the command goes; the watcher goes beside it.
    type: path
    default: /usr/local/sbin/podnet-hostgw-reconcile
  lib_dir:
    description: The directory that holds the engine package and the install record.
    type: path
    default: /usr/local/lib/podnet-hostgw
  unit_dir:
    description: Where the systemd units go.
    type: path
    default: /etc/systemd/system
notes:
  - Turning the timer off is O(state=absent) (the role's C(hostgw_reconcile=false)); the
    command then no longer runs between playbook runs.
"""

EXAMPLES = r"""
- name: Install the reconcile command and its units (a host without systemd running)
  podnet.hostgw.reconcile_command:
    state_file: /etc/podnet/hostgw-state.json
    interval: 10
    enable: true

- name: Remove them
  podnet.hostgw.reconcile_command:
    state: absent
"""

RETURN = r"""
changes:
  description: What was (in check mode, would be) changed, one C(ACTION PATH) line each.
  returned: always
  type: list
  elements: str
  sample: ["mkdir /usr/local/lib/podnet-hostgw", "write /etc/systemd/system/podnet-hostgw-reconcile.timer"]
units:
  description: The units installed after the run (none after O(state=absent)).
  returned: always
  type: list
  elements: str
  sample: [podnet-hostgw-reconcile.service, podnet-hostgw-reconcile.timer]
units_changed:
  description: Whether a unit file or link was written or removed (systemd then needs a daemon-reload).
  returned: always
  type: bool
units_found:
  description:
    - The collection's units whose files existed before the run. Where systemd runs, stop and
      disable these before removing them (M(ansible.builtin.systemd_service) needs the unit file).
  returned: always
  type: list
  elements: str
systemd:
  description: Whether systemd runs on the host (C(/run/systemd/system) exists).
  returned: always
  type: bool
installed:
  description: The install record's entries after the run, C(KIND PATH) each.
  returned: always
  type: list
  elements: str
"""

import os
import pkgutil
import sys

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.podnet.hostgw.plugins.module_utils import installer as inst
from ansible_collections.podnet.hostgw.plugins.module_utils import reconcile_files as rf
from ansible_collections.podnet.hostgw.plugins.module_utils import _hostgw as engine
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import names
# The command's entry points: importing them makes Ansible carry the whole
# engine they need in this module's payload, which is what gets installed.
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import reconcile, watch
from ansible_collections.podnet.hostgw.plugins.module_utils.module_support import fail_problems, host_lock

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    state_file=dict(type="path", default="/etc/podnet/hostgw-state.json"),
    interval=dict(type="int", default=rf.DEFAULT_INTERVAL),
    watch=dict(type="bool", default=False),
    enable=dict(type="bool", default=False),
    python=dict(type="path"),
    command=dict(type="path", default=rf.DEFAULT_COMMAND),
    lib_dir=dict(type="path", default=rf.DEFAULT_LIB_DIR),
    unit_dir=dict(type="path", default=rf.DEFAULT_UNIT_DIR),
)
ENTRY_POINTS = {rf.COMMAND: reconcile, rf.WATCH_COMMAND: watch}
RECORD_PURPOSE = ("what the reconcile role installed on this host; reset.yml removes exactly "
                  "this (directories only when empty). Do not edit.")


def engine_files(package):
    """``{relative path: bytes}`` of every module of the engine PACKAGE as
    this process loaded it: from the module's payload when Ansible runs it."""
    files = {}
    root = os.path.dirname(package.__file__)
    modules = [package] + [__import__(info.name, fromlist=["_"]) for info in
                           pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    for module in modules:
        rel = os.path.relpath(module.__file__, root)
        files[rel] = module.__loader__.get_data(module.__file__)
    return files


class ReconcileCommand(object):
    """One call: plan the install (or its removal), show it, make it."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.layout = rf.Layout(self.params["command"], self.params["lib_dir"], self.params["unit_dir"])
        self.python = self.params["python"] or sys.executable
        self.result = dict(changed=False, changes=[], units=[], units_changed=False,
                           units_found=[name for name in rf.UNITS if os.path.lexists(self.layout.unit(name))],
                           systemd=os.path.isdir(rf.SYSTEMD_RUNNING), installed=[])

    def problems(self):
        p = self.params
        found = []
        for key in ("command", "python"):
            value = p[key] if key == "command" else self.python
            bad = rf.exec_path_problem(value)
            if bad:
                found.append(names.problem(key, value, bad))
        for key in ("lib_dir", "unit_dir", "state_file"):
            bad = names.abs_path_problem(p[key])
            if bad:
                found.append(names.problem(key, p[key], bad))
        bad = rf.interval_problem(p["interval"])
        if bad:
            found.append(names.problem("interval", p["interval"], bad))
        return found

    def units(self):
        if self.params["state"] == "absent":
            return []
        return [rf.SERVICE, rf.TIMER] + ([rf.WATCH_SERVICE] if self.params["watch"] else [])

    def wanted(self):
        """The install's entries (empty for state=absent)."""
        units = self.units()
        if not units:
            return []
        layout, p = self.layout, self.params
        scripts = [rf.COMMAND] + ([rf.WATCH_COMMAND] if p["watch"] else [])
        entries = []
        for name in scripts:
            path = layout.command if name == rf.COMMAND else layout.watch_command
            module = ENTRY_POINTS[name].__name__.rsplit(".", 1)[1]
            text = rf.command_script(self.python, layout, p["state_file"], entry=module)
            entries.append(inst.File(path, text.encode("utf-8"), 0o755, True))
        for rel, data in sorted(engine_files(engine).items()):
            entries.append(inst.File(os.path.join(layout.package_dir, rel), data, 0o644, False))
        texts = {rf.SERVICE: rf.service_unit(layout), rf.TIMER: rf.timer_unit(p["interval"]),
                 rf.WATCH_SERVICE: rf.watch_unit(layout)}
        for name in units:
            entries.append(inst.File(layout.unit(name), texts[name].encode("utf-8"), 0o644, True))
            if p["enable"]:
                entries.append(inst.Link(layout.wants(name), layout.unit(name)))
        return entries

    def leftovers(self):
        """What an install whose record is lost may have left: the marked
        files, and links to units that are not wanted."""
        layout, units = self.layout, self.units()
        out = [inst.File(path, b"", 0o755, True) for path in (layout.command, layout.watch_command)]
        for name in rf.UNITS:
            out.append(inst.File(layout.unit(name), b"", 0o644, True))
            if name not in units:
                out.append(inst.Link(layout.wants(name), layout.unit(name)))
        return out

    def run(self):
        problems = self.problems()
        if problems:
            fail_problems(self.module, "invalid parameters, nothing was changed", problems, **self.result)
        # Under the host lock: two runs at once must not both plan from the
        # same reading and then race to create the same files.
        with host_lock(self.module, **self.result):
            installer = inst.Installer(self.layout.record, RECORD_PURPOSE, self.layout.owns)
            try:
                plan = installer.plan(self.wanted(), self.leftovers())
            except OSError as exc:
                self.module.fail_json(msg="cannot read %s: %s; nothing was changed" % (exc.filename, exc.strerror),
                                      **self.result)
            if plan.problems:
                fail_problems(self.module, "files in the way of the reconcile command, nothing was changed",
                              plan.problems, **self.result)
            for note in plan.notes:
                self.module.warn(note)
            self.report(plan)
            if self.module._diff:
                self.result["diff"] = self.diff(plan)
            if self.result["changed"] and not self.module.check_mode:
                try:
                    installer.apply(plan, move=self.move)
                except inst.InstallError as exc:
                    self.result["changes"] = [self.describe(s) for s in exc.done]
                    self.module.fail_json(msg="installing the reconcile command failed: %s" % exc, **self.result)
        return self.result

    def report(self, plan):
        record_changed = plan.record_after != plan.record_before
        unit_paths = set()
        for name in rf.UNITS:
            unit_paths.update((self.layout.unit(name), self.layout.wants(name)))
        changes = [self.describe(s) for s in plan.steps]
        if record_changed:
            # Where apply makes it: removed before the directories go, else written last.
            rmdirs = [i for i, s in enumerate(plan.steps) if s.action == "rmdir"]
            at = rmdirs[0] if plan.record_after is None and rmdirs else len(changes)
            changes.insert(at, "%s %s" % ("write" if plan.record_after else "remove", self.layout.record))
        self.result.update(
            changed=bool(plan.steps) or record_changed,
            changes=changes,
            units=self.units(),
            units_changed=any(s.path in unit_paths for s in plan.steps),
            installed=[line for line in (plan.record_after or "").splitlines() if not line.startswith("#")],
        )

    @staticmethod
    def describe(step):
        if step.action == "link":
            return "link %s -> %s" % (step.path, step.after)
        if step.action == "chmod":
            return "chmod %o %s" % (step.mode, step.path)
        return "%s %s" % (step.action, step.path)

    def diff(self, plan):
        """Ansible diff entries: each script and unit as text, then one
        listing of every change (the engine files among them)."""
        texts = set([self.layout.command, self.layout.watch_command]
                    + [self.layout.unit(name) for name in rf.UNITS])
        out = []
        for step in plan.steps:
            if step.path in texts and step.action in ("write", "remove"):
                out.append(dict(before_header=step.path, after_header=step.path,
                                before=_text(step.before), after=_text(step.after)))
        listing = self.result["changes"]
        if listing:
            out.append(dict(prepared="reconcile command install, %d change(s):\n%s\n"
                                     % (len(listing), "\n".join("  " + line for line in listing))))
        return out

    def move(self, tmp, path):
        os.rename(tmp, path)
        self.module.set_default_selinux_context(path, False)


def _text(data):
    return data.decode("utf-8", "replace") if data else ""


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**ReconcileCommand(module).run())


if __name__ == "__main__":
    main()

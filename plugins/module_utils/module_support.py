# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every podnet.hostgw module shares with Ansible: the one error report,
the host-wide lock and the state file, seen from an AnsibleModule."""

import contextlib

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.command import C_LOCALE, Runner
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.errors import report
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.iproute import IpCommand
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.lock import HostLock, LockTimeout
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.state import Document, StateFileError


class ModuleRunner(Runner):
    """The engine's command.Runner on an AnsibleModule's run_command."""

    def __init__(self, module):
        self.module = module

    def run(self, argv, data=None):
        return self.module.run_command(list(argv), data=data, binary_data=True,
                                       environ_update=C_LOCALE)

    def which(self, name):
        return self.module.get_bin_path(name)


def fail_problems(module, what, problems, **result):
    """Fail with WHAT and every problem, in the collection's one shape."""
    module.fail_json(msg=report(what, problems), errors=list(problems), **result)


@contextlib.contextmanager
def host_lock(module, **result):
    """Hold the host-wide lock for the module's read-plan-apply."""
    lock = HostLock(owner="podnet.hostgw.%s" % getattr(module, "_name", "module"))
    try:
        lock.acquire()
    except LockTimeout as exc:
        module.fail_json(msg=str(exc), **result)
    try:
        yield lock
    finally:
        lock.release()


def ip_command(module):
    """iproute2's ``ip`` for a module (fails the module if ip is missing)."""
    return IpCommand(ModuleRunner(module), module.get_bin_path("ip", required=True))


def open_state(module, path, **result):
    """The state file at PATH for a section update (fails the module when
    the file there is not the collection's or cannot be read)."""
    try:
        return Document.open(path)
    except StateFileError as exc:
        module.fail_json(msg="state_file: %s; nothing was changed" % exc, **result)


def record_state(module, doc, name, section, result):
    """Set section NAME of DOC to SECTION (None removes it), as part of
    RESULT: ``changed``, a second diff entry and ``state_file``.  Written
    unless in check mode; call it inside the host lock, before the kernel
    change."""
    change = doc.set(name, section)
    if doc.damage and change.changed:
        module.warn("state_file %s %s; it is replaced, and holds only the sections written "
                    "from now on (run the whole site.yml to write them all)"
                    % (doc.path, doc.damage))
    result["state_file"] = dict(path=doc.path, changed=change.changed)
    if not change.changed:
        return
    result["changed"] = True
    if module._diff:
        entry = doc.diff(change)
        diff = result.get("diff")
        result["diff"] = entry if diff is None else (
            diff + [entry] if isinstance(diff, list) else [diff, entry])
    if module.check_mode:
        return
    try:
        doc.save()
    except OSError as exc:
        module.fail_json(msg="cannot write state_file %s: %s; nothing was changed"
                             % (doc.path, exc), **dict(result, changed=False))

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A test-only callback: one JSON line per task result to the file named by
PODNET_TASK_LOG, ``{"task", "host", "status", "changed", "from_read"}``
(``from_read``: the action found nothing to change in the preflight's read
and ran no module).

``host`` is the host the result is about: the delegated host of a task run
with delegate_to (each item of a ``delegate_to: "{{ item }}"`` loop on its
own line), else the task's host.  ``status`` is ok, failed, unreachable or skipped.
"""

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: task_log
type: aggregate
short_description: Log every task result as a JSON line (podnet.hostgw tests)
description:
  - Used by the day-2 tests in tests/integration/ to count changes per task and host.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED, PODNET_TASK_LOG set
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_log"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("PODNET_TASK_LOG")

    def _log(self, result, status, data=None):
        if not self._path:
            return
        data = result._result if data is None else data
        entry = {"task": result._task.get_name(), "host": self._about(result, data),
                 "status": "unreachable" if data.get("unreachable") else status,
                 "changed": bool(data.get("changed")), "from_read": bool(data.get("from_read"))}
        with open(self._path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")

    @staticmethod
    def _about(result, data):
        """The delegated host (the loop item of a 'delegate_to: item' loop, as
        the day-2 playbooks delegate; else the delegated address), or the
        task's host."""
        task = result._task
        if not task.delegate_to:
            return result._host.get_name()
        item = data.get(data.get("ansible_loop_var") or "item")
        if isinstance(item, str) and task.loop is not None:
            return item
        return (data.get("_ansible_delegated_vars") or {}).get("ansible_host") or result._host.get_name()

    def _final(self, result, status):
        # A loop's items are logged one by one (v2_runner_item_*).
        if not result._result.get("results"):
            self._log(result, status)

    def v2_runner_on_ok(self, result):
        self._final(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._final(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._final(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._final(result, "skipped")

    def v2_runner_item_on_ok(self, result):
        self._log(result, "ok")

    def v2_runner_item_on_failed(self, result):
        self._log(result, "failed")

    def v2_runner_item_on_skipped(self, result):
        self._log(result, "skipped")

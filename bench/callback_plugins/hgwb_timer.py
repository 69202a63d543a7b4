# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark helper (bench/ only, not part of the collection): writes the
wall time of each task, from the strategy starting it to its result, and the
task's outcome, as JSON lines to the file named by $HGWB_TIMER_OUT.  A
stand-in for ansible.posix.profile_tasks, which is not installed here.

For the benchmark's checks it also records how many ``commands`` and
``routes`` the task returned and a digest of the sorted ``commands``
(computed after the end time is taken, so not part of ``seconds``)."""

DOCUMENTATION = r"""
name: hgwb_timer
type: aggregate
short_description: per-task wall time as JSON lines (benchmark helper)
description:
  - Writes one JSON line per task to the file named by the environment variable HGWB_TIMER_OUT.
requirements:
  - enabled in configuration (ANSIBLE_CALLBACKS_ENABLED=hgwb_timer)
"""

import hashlib
import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "hgwb_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._out = os.environ.get("HGWB_TIMER_OUT")
        self._task = None
        self._start = None
        self._items = 0
        self._changed = False
        self._failed = False
        self._extra = {}

    def _flush(self, end):
        if self._task is None or not self._out:
            return
        rec = dict(task=self._task, seconds=end - self._start, changed=self._changed,
                   failed=self._failed, items=self._items,
                   start_epoch=self._start_epoch, end_epoch=time.time())
        rec.update(self._extra)
        with open(self._out, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        self._task = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        now = time.perf_counter()
        self._flush(now)
        self._task = task.get_name()
        self._start = now
        self._start_epoch = time.time()
        self._items = 0
        self._changed = False
        self._failed = False
        self._extra = {}

    def _result(self, result, failed=False):
        end = time.perf_counter()
        res = result._result
        self._changed = self._changed or bool(res.get("changed"))
        self._failed = self._failed or failed
        extra = {}
        for key in ("commands", "routes"):
            value = res.get(key)
            if isinstance(value, list):
                extra[key + "_n"] = len(value)
                if key == "commands":
                    extra["commands_sha256"] = hashlib.sha256(
                        "\n".join(sorted(str(v) for v in value)).encode()).hexdigest()
        self._extra = extra
        self._flush(end)

    def v2_runner_item_on_ok(self, result):
        self._items += 1

    def v2_runner_item_on_failed(self, result):
        self._items += 1
        self._failed = True

    def v2_runner_on_ok(self, result):
        self._result(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, failed=True)

    def v2_runner_on_unreachable(self, result):
        self._result(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._result(result)

    def v2_playbook_on_play_start(self, play):
        self._mark("play_start")

    def v2_playbook_on_stats(self, stats):
        self._flush(time.perf_counter())
        self._mark("stats")

    def _mark(self, what):
        if self._out:
            with open(self._out, "a") as fh:
                fh.write(json.dumps(dict(mark=what, epoch=time.time())) + "\n")

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark helper (bench/ only, not part of the collection): for
bench/fleet_bench.py, one JSON line per task to the file named by
$HGWB_FLEET_OUT: its name, role, action, wall time (from the strategy
starting it to the next task's start or the end of the play) and each
host's result.  Every result of a task for a host comes from one worker
process the strategy forked (a skipped task too: its ``when:`` is evaluated
in the worker), so the results are the play's worker forks."""

from __future__ import annotations

DOCUMENTATION = r"""
name: hgwb_fleet
type: aggregate
short_description: per-task wall time and per-host results as JSON lines (benchmark helper)
description:
  - Writes one JSON line per task to the file named by the environment variable HGWB_FLEET_OUT.
requirements:
  - enabled in configuration (ANSIBLE_CALLBACKS_ENABLED=hgwb_fleet)
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "hgwb_fleet"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._out = os.environ.get("HGWB_FLEET_OUT")
        self._task = None

    def _write(self, rec):
        if self._out:
            with open(self._out, "a") as fh:
                fh.write(json.dumps(rec) + "\n")

    def _flush(self):
        if self._task is not None:
            self._task["seconds"] = time.perf_counter() - self._task.pop("_start")
            self._write(self._task)
            self._task = None

    def v2_playbook_on_play_start(self, play):
        self._flush()
        self._write(dict(play=play.get_name()))

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._flush()
        role = task._role.get_name() if task._role else None
        self._task = dict(task=task.get_name(), role=role, action=task.action,
                          run_once=bool(task.run_once), results={}, _start=time.perf_counter())

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    def _result(self, result, status):
        if self._task is not None:
            self._task["results"][result._host.get_name()] = status

    def v2_runner_on_ok(self, result):
        self._result(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        self._flush()

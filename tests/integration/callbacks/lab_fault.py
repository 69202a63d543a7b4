# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A test-only callback: when the task named in PODNET_LAB_FAULT_TASK starts,
take lab host PODNET_LAB_FAULT_HOST of lab PODNET_LAB_FAULT_LAB off the
management network (lab/hostgw_lab.py's stop_holder), once.

Task start callbacks run in ansible-playbook's main process before the task
is sent to any host, so the host is unreachable for exactly that task and
the ones after it: a host that goes away mid-play, at a chosen point.
"""

import os
import sys

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: lab_fault
type: aggregate
short_description: Stop a lab host's holder when a named task starts (podnet.hostgw tests)
description:
  - Used by tests/integration/test_day2_unreachable.py only.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "lab_fault"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._task = os.environ.get("PODNET_LAB_FAULT_TASK")
        self._lab = os.environ.get("PODNET_LAB_FAULT_LAB")
        self._host = os.environ.get("PODNET_LAB_FAULT_HOST")
        self._done = False
        lab_dir = os.environ.get("PODNET_LAB_DIR")
        if lab_dir and lab_dir not in sys.path:
            sys.path.insert(0, lab_dir)

    def v2_playbook_on_task_start(self, task, is_conditional):
        if self._done or not self._task or task.name != self._task:
            return
        import hostgw_lab  # lab/ (PODNET_LAB_DIR)

        hostgw_lab.stop_holder(self._lab, self._host)
        self._done = True
        self._display.display("lab_fault: %s of lab %s stopped as '%s' starts" % (self._host, self._lab, self._task))

# SPDX-License-Identifier: GPL-3.0-or-later
"""``ansible-playbook`` under cProfile, including the forked worker process
that executes the task (templating the module arguments, building and running
the module, sending the result back), which a plain ``python -m cProfile``
of ansible-playbook does not see.

    HGWB_PROFILE_PREFIX=/path/prefix python bench/profile_ansible.py ARGS...

writes PREFIX-main.prof (controller) and PREFIX-worker.prof (the task's
worker; with several tasks the last one wins).  Used by bench/run.py.
"""

import cProfile
import os
import sys

PREFIX = os.environ["HGWB_PROFILE_PREFIX"]


def _patch_worker():
    from ansible.executor.process import worker

    original = worker.WorkerProcess._run

    def _run(self):
        prof = cProfile.Profile()
        prof.enable()
        try:
            return original(self)
        finally:
            prof.disable()
            prof.dump_stats(PREFIX + "-worker.prof")

    worker.WorkerProcess._run = _run


def main():
    _patch_worker()
    from ansible.cli.playbook import main as playbook_main

    sys.argv = ["ansible-playbook"] + sys.argv[1:]
    prof = cProfile.Profile()
    prof.enable()
    try:
        playbook_main()
    finally:
        prof.disable()
        prof.dump_stats(PREFIX + "-main.prof")


if __name__ == "__main__":
    main()

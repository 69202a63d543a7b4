"""Shared harness for the module-level unit tests.

``run_module`` runs a module's ``main()`` with the given module args and a
fake ``run_command``, and hands back what it passed to ``exit_json`` or
``fail_json``.  Each test file keeps its own fake of the commands the module
runs (FakeIp, FakeHost, ...); this is only the plumbing around it.
"""

import collections

import pytest
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.lock import LOCK_PATH_ENV


@pytest.fixture(autouse=True)
def host_lock_path(tmp_path_factory, monkeypatch):
    """The modules take the host-wide lock: keep it off the machine's /run/lock
    (and out of tmp_path, which tests compare before and after)."""
    path = str(tmp_path_factory.mktemp("lock") / "podnet-hostgw.lock")
    monkeypatch.setenv(LOCK_PATH_ENV, path)
    return path


class ModuleResult(collections.namedtuple("ModuleResult", "result failed")):
    """``(result, failed)``: the keyword arguments of ``exit_json`` or
    ``fail_json`` (with ``msg``, ``failed=True`` on failure and the
    ``warnings`` the module gave), and whether it failed."""


class _ModuleExit(Exception):
    def __init__(self, result, failed):
        super(_ModuleExit, self).__init__(result.get("msg"))
        self.result = result
        self.failed = failed


def run_module(module, params, run_command, check_mode=False, diff=False, bin_path="/usr/sbin/ip"):
    """Run ``module.main()`` with PARAMS as its module args.

    RUN_COMMAND stands in for ``AnsibleModule.run_command`` (called like it,
    without ``self``).  BIN_PATH is what ``get_bin_path`` answers: a path for
    every name, or a callable from the name to a path or None.  The result's
    ``warnings`` is the list of what the module passed to ``warn``.
    """
    args = dict(params)
    args["_ansible_check_mode"] = check_mode
    args["_ansible_diff"] = diff
    warnings = []

    def exit_json(self, **kw):
        kw["warnings"] = warnings
        raise _ModuleExit(kw, False)

    def fail_json(self, msg, **kw):
        kw["failed"] = True
        kw["msg"] = msg
        kw["warnings"] = warnings
        raise _ModuleExit(kw, True)

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return bin_path(name) if callable(bin_path) else bin_path

    with patch_module_args(args), \
            mock.patch.object(basic.AnsibleModule, "run_command", side_effect=run_command), \
            mock.patch.object(basic.AnsibleModule, "get_bin_path", get_bin_path), \
            mock.patch.object(basic.AnsibleModule, "warn", lambda self, w: warnings.append(w)), \
            mock.patch.object(basic.AnsibleModule, "exit_json", exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", fail_json):
        with pytest.raises(_ModuleExit) as exc:
            module.main()
    return ModuleResult(exc.value.result, exc.value.failed)

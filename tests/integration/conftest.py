"""Throwaway network namespaces and a way to run a module inside one.

Every namespace made here is named ``hgwt-<random>`` and deleted when its test
ends, whatever the outcome.  Nothing is ever added to the root namespace.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

from tests.conftest import COLLECTIONS, REPO

pytestmark = pytest.mark.integration


def _need_root_and_ip():
    if os.geteuid() != 0:
        pytest.skip("namespace tests need root")
    if not shutil.which("ip"):
        pytest.skip("iproute2 is not installed")


def ns_run(ns, argv, data=None, check=True):
    """Run ARGV inside namespace NS (argv list, no shell)."""
    proc = subprocess.run(
        ["ip", "netns", "exec", ns] + list(argv),
        input=data, check=False, capture_output=True, text=True,
        env=dict(os.environ, LC_ALL="C"),
    )
    if check and proc.returncode != 0:
        raise AssertionError("%s failed in %s: %s" % (argv, ns, proc.stderr))
    return proc


def ns_json(ns, args):
    """``ip -json ARGS`` inside NS, parsed."""
    out = ns_run(ns, ["ip", "-json"] + list(args)).stdout.strip()
    return json.loads(out) if out else []


class Netns:
    def __init__(self, name, lock_path=None):
        self.name = name
        # the host lock of the modules run here: never the real /run/lock
        self.lock_path = lock_path

    def run(self, argv, data=None, check=True):
        return ns_run(self.name, argv, data=data, check=check)

    def ip(self, *args, check=True):
        return self.run(["ip"] + list(args), check=check)

    def json(self, *args):
        return ns_json(self.name, args)

    def module(self, name, params, check_mode=False, diff=False):
        """Run ``podnet.hostgw.<name>`` inside this namespace the way Ansible
        runs a module (an args file, the module's JSON on stdout)."""
        args = dict(params)
        args["_ansible_check_mode"] = check_mode
        args["_ansible_diff"] = diff
        path = os.path.join("/tmp", "hgwt-args-%s.json" % uuid.uuid4().hex[:8])
        with open(path, "w") as fh:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, fh)
        try:
            env = dict(os.environ, PYTHONPATH=COLLECTIONS, LC_ALL="C")
            if self.lock_path:
                env["PODNET_HOSTGW_LOCK"] = self.lock_path
            proc = subprocess.run(
                ["ip", "netns", "exec", self.name, sys.executable, "-m",
                 "ansible_collections.podnet.hostgw.plugins.modules.%s" % name, path],
                check=False, capture_output=True, text=True, env=env, cwd=REPO,
            )
        finally:
            os.unlink(path)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(
                "module %s printed no JSON (rc=%s)\nstdout: %s\nstderr: %s"
                % (name, proc.returncode, proc.stdout, proc.stderr))


@pytest.fixture
def netns():
    """A fresh namespace with ``lo`` up; deleted afterwards."""
    _need_root_and_ip()
    made = []
    lock_dir = tempfile.mkdtemp(prefix="hgwt-lock-")

    def make():
        name = "hgwt-%s" % uuid.uuid4().hex[:10]
        subprocess.run(["ip", "netns", "add", name], check=True)
        made.append(name)
        ns_run(name, ["ip", "link", "set", "lo", "up"])
        return Netns(name, os.path.join(lock_dir, "%s.lock" % name))

    first = make()
    first.make_another = make
    try:
        yield first
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(lock_dir, ignore_errors=True)

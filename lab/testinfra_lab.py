"""A testinfra backend that reaches lab hosts and containers directly.

testinfra's ``ansible://`` backend does not know the podnet.hostgw.nsenter
connection and falls back to one ``ansible -m shell`` process per command
(about a second each).  This backend enters the lab's namespaces itself, so
every testinfra helper (``host.interface``, ``host.file``, ``host.sysctl``, ...)
costs one short-lived process.

    import testinfra_lab  # registers the "podnet-lab" connection
    pytest --connection=podnet-lab --hosts=all        # every lab host
    testinfra.get_host("podnet-lab://container1")     # a container

The lab is named by $HOSTGW_LAB (default: hgwlab).
"""

import os
import subprocess

import testinfra.backend
from testinfra.backend import base

import hostgw_lab

NAME = "podnet-lab"


def lab_state():
    lab = os.environ.get("HOSTGW_LAB", hostgw_lab.DEFAULT_LAB)
    state = hostgw_lab.load_state(lab)
    if not state:
        raise RuntimeError("lab %s is not up" % lab)
    return state


class LabBackend(base.BaseBackend):
    NAME = NAME

    def __init__(self, hostname, *args, **kwargs):
        super().__init__(hostname, *args, **kwargs)
        self._prefix = hostgw_lab.enter(lab_state(), hostname)

    @classmethod
    def get_hosts(cls, host, **kwargs):
        if host in (None, "", "all"):
            return sorted(lab_state()["hosts"])
        return [host]

    def get_pytest_id(self):
        return self.hostname

    def run(self, command, *args, **kwargs):
        cmd = self.get_command(command, *args)
        proc = subprocess.run(self._prefix + ["/bin/sh", "-c", cmd], capture_output=True,
                              env=dict(os.environ, LC_ALL="C"), check=False)
        return self.result(proc.returncode, self.encode(cmd), proc.stdout, proc.stderr)


testinfra.backend.BACKENDS[NAME] = "testinfra_lab.LabBackend"


# ---------------------------------------------------------------------------
# pytest fixtures and helpers shared by the molecule scenarios' verifiers
# (their conftest.py imports them).

import json  # noqa: E402

import pytest  # noqa: E402
import testinfra  # noqa: E402

_HOSTS = {}


def lab_host(name):
    """A testinfra host for a lab host or container, by name."""
    if name not in _HOSTS:
        _HOSTS[name] = testinfra.get_host("%s://%s" % (NAME, name))
    return _HOSTS[name]


def record(name):
    """The pod subnet assignment recorded on lab host NAME."""
    return json.loads(lab_host(name).file("/etc/podnet/hostgw.json").content_string)


@pytest.fixture(scope="session")
def lab():
    return lab_state()


# Re-exported for the verifiers.
from udp_probe import source_seen  # noqa: E402,F401 pylint: disable=unused-import

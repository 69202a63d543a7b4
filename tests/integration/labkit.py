"""A throwaway lab for integration tests that run the playbooks end to end.

Builds lab hosts from an inventory written to a temporary directory, runs
ansible-playbook against them, and snapshots every host's kernel state and
the files written under its overlays, so tests can assert "nothing changed"
or "nothing left".
"""

import os
import re
import signal
import subprocess
import sys
import uuid

import yaml

import hostgw_lab  # lab/ (tests/conftest.py puts it on sys.path)
from tests.conftest import REPO

LAB_PY = os.path.join(REPO, "lab", "hostgw_lab.py")
BIN = os.path.dirname(sys.executable)
STATE_ROOT = hostgw_lab.STATE_ROOT
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def base_inventory(lab):
    return {"all": {"children": {
        "hostgw_nodes": {"hosts": {
            "host1": {"hostgw_node_ip": "10.168.0.1", "hostgw_pod_subnet": "192.168.0.0/24"},
            "host2": {"hostgw_node_ip": "10.168.0.2", "hostgw_pod_subnet": "192.168.1.0/24"},
            "host3": {"hostgw_node_ip": "10.168.0.3"},
        }, "vars": {"hostgw_cluster_cidr": "192.168.0.0/16"}},
        "hostgw_lab": {"children": {"hostgw_nodes": None}, "vars": {
            "hostgw_lab_name": lab,
            "hostgw_lab_underlay": "10.168.0.0/24",
            "ansible_connection": "podnet.hostgw.nsenter",
            "ansible_nsenter_pid_file": "%s/{{ hostgw_lab_name }}/{{ inventory_hostname }}.pid" % STATE_ROOT,
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        }},
    }}}


def nodes(inv):
    return inv["all"]["children"]["hostgw_nodes"]


class Lab:
    def __init__(self, lab, tmp, inventory=None):
        self.lab, self.tmp = lab, tmp
        self.good = inventory or base_inventory(lab)
        self.good_path = self.write(self.good)

    def write(self, inv):
        path = os.path.join(self.tmp, "inv-%s.yml" % uuid.uuid4().hex[:8])
        with open(path, "w") as fh:
            yaml.safe_dump(inv, fh)
        return path

    def state(self):
        return hostgw_lab.load_state(self.lab)

    def on(self, host, *argv):
        return subprocess.run(hostgw_lab.enter(self.state(), host) + list(argv),
                              capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))

    def snapshot(self):
        snap = {}
        for host in sorted(self.state()["hosts"]):
            snap[host] = {
                "routes4": self.on(host, "ip", "-4", "route", "show", "table", "all").stdout,
                "routes6": [line for line in self.on(host, "ip", "-6", "route", "show", "table", "all")
                            .stdout.splitlines() if "fe80:" not in line],
                "links": self.on(host, "ip", "-o", "link", "show").stdout,
                # Kernel-managed link-local addresses (and their routes) come
                # and change state (DAD) on their own.
                "addrs": [line for line in self.on(host, "ip", "-o", "addr", "show").stdout.splitlines()
                          if "inet6 fe80:" not in line],
                "nft": self.on(host, "nft", "list", "ruleset").stdout,
                "forward": self.on(host, "cat", "/proc/sys/net/ipv4/ip_forward",
                                   "/proc/sys/net/ipv6/conf/all/forwarding").stdout,
                "files": sorted(os.path.relpath(os.path.join(d, f), STATE_ROOT)
                                for d, _, files in os.walk(os.path.join(STATE_ROOT, self.lab, host))
                                for f in files),
            }
        return snap

    def _ansible(self, tool, inv, args, timeout=None, **extra_env):
        """Run TOOL in a session of its own; after TIMEOUT seconds that whole
        session (the run, its workers and the module processes they started
        in the lab hosts) is killed and the test fails."""
        path = inv if isinstance(inv, str) else self.write(inv)
        env = dict(os.environ, LC_ALL="C.UTF-8", ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                   ANSIBLE_FORCE_COLOR="0", NO_COLOR="1", **extra_env)
        argv = [os.path.join(BIN, tool), "-i", path] + list(args)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                cwd=REPO, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise AssertionError("%s did not end within %s s" % (" ".join(argv), timeout))
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def site(self, inv, *extra, playbook="site.yml", timeout=None, env=None):
        """ansible-playbook PLAYBOOK against inventory INV (a path or a dict),
        with ENV added to the environment."""
        return self._ansible("ansible-playbook", inv, [playbook] + list(extra), timeout=timeout, **(env or {}))

    def adhoc(self, *args):
        """An ad-hoc ``ansible`` command against the lab's own inventory (JSON results)."""
        return self._ansible("ansible", self.good_path, args, ANSIBLE_CALLBACK_RESULT_FORMAT="json")

    def cli(self, *args, check=True):
        """lab/hostgw_lab.py with the lab's own inventory."""
        proc = subprocess.run([sys.executable, LAB_PY, "--inventory", self.good_path] + list(args),
                              capture_output=True, text=True)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def up(self):
        self.cli("up")

    def down(self):
        subprocess.run([sys.executable, LAB_PY, "--lab", self.lab, "down"], capture_output=True)


def recap(proc):
    """{host: changed} from a playbook run's PLAY RECAP; fails on failed/unreachable hosts."""
    rows = RECAP.findall(proc.stdout)
    assert rows, proc.stdout[-2000:]
    for host, _, unreachable, failed in rows:
        assert (unreachable, failed) == ("0", "0"), proc.stdout[-3000:]
    return dict((host, int(changed)) for host, changed, _, _ in rows)



"""What the day-2 tests (issue 11) share: labs with a host that is in the
lab but not (yet) in the pod network, a log of every task result per host
(which tasks changed what), a pinger that runs in a container during a
playbook run, and a point in a run where a host goes away.

The callbacks live in tests/integration/callbacks/ and are enabled only for
the runs that ask for them.
"""

import collections
import copy
import json
import os
import re
import signal
import subprocess
import threading
import uuid

import pytest

from tests.conftest import LAB
from tests.integration.labkit import Lab, base_inventory, nodes, wait_for

CALLBACKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callbacks")
# Generous: two busy cores, other labs running.
TIMEOUT = 900
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
ROUTES_TASK = "podnet.hostgw.routes : Route each peer's pod subnets via the peer"
HOST4 = {"hostgw_node_ip": "10.168.0.4"}


def lab_inventory(name, extra=None, containers=None):
    """labkit's three-host inventory; EXTRA hosts are lab hosts outside
    hostgw_nodes (ready to join); CONTAINERS {host: {name: address or None}}."""
    inv = base_inventory(name)
    lab_group = inv["all"]["children"]["hostgw_lab"]
    if extra:
        lab_group["hosts"] = copy.deepcopy(extra)
    for host, wanted in (containers or {}).items():
        where = nodes(inv)["hosts"] if host in nodes(inv)["hosts"] else lab_group["hosts"]
        where[host]["hostgw_lab_containers"] = wanted
    return inv


def joined(inv, *hosts):
    """INV with HOSTS (lab hosts outside hostgw_nodes) moved into it."""
    inv = copy.deepcopy(inv)
    lab_group = inv["all"]["children"]["hostgw_lab"]
    for host in hosts:
        nodes(inv)["hosts"][host] = lab_group["hosts"].pop(host)
    return inv


def left(inv, *hosts):
    """INV with HOSTS taken out of hostgw_nodes (they stay lab hosts)."""
    inv = copy.deepcopy(inv)
    lab_group = inv["all"]["children"]["hostgw_lab"]
    for host in hosts:
        lab_group.setdefault("hosts", {})[host] = nodes(inv)["hosts"].pop(host)
    return inv


def make_lab(tmp, prefix, inventory_of):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    name = "%s%s" % (prefix, uuid.uuid4().hex[:4])
    return Lab(name, str(tmp), inventory=inventory_of(name))


class Run:
    """One playbook run: its process, the recap and the task log."""

    def __init__(self, proc, log_path):
        self.proc = proc
        self.log = []
        if os.path.exists(log_path):
            with open(log_path) as fh:
                self.log = [json.loads(line) for line in fh if line.strip()]

    @property
    def out(self):
        return self.proc.stdout + self.proc.stderr

    def recap(self):
        """{host: (changed, unreachable, failed)} of the lab hosts (not
        localhost: the playbooks' hostgw_group check runs there)."""
        rows = RECAP.findall(self.proc.stdout)
        assert rows, self.out[-3000:]
        return dict((h, (int(c), int(u), int(f))) for h, c, u, f in rows if h != "localhost")

    def changed(self):
        """{host: changed count} of a run that must have succeeded everywhere."""
        assert self.proc.returncode == 0, self.out[-4000:]
        counts = self.recap()
        assert all(u == 0 and f == 0 for _changed, u, f in counts.values()), self.out[-4000:]
        return dict((h, c) for h, (c, _unreachable, _failed) in counts.items())

    def changed_tasks(self):
        """{host: [task, ...]}: the tasks that reported a change about each
        host (a delegated result counts for the host it was delegated to)."""
        found = collections.defaultdict(list)
        for entry in self.log:
            if entry["changed"] and entry["status"] == "ok":
                found[entry["host"]].append(entry["task"])
        return dict(found)

    def from_read(self, task):
        """{host: whether TASK's result came from the preflight's read, no module run}."""
        found = {}
        for entry in self.log:
            if entry["task"] == task and entry["status"] == "ok":
                found.setdefault(entry["host"], entry["from_read"])
        return found

    def results(self, task):
        """{host: status} of TASK's results (first status per host)."""
        found = {}
        for entry in self.log:
            if entry["task"] == task:
                found.setdefault(entry["host"], entry["status"])
        return found


def run(lab, inv, *extra, playbook="site.yml", fault=None, timeout=TIMEOUT):
    """ansible-playbook PLAYBOOK with INV, logging every task result.
    FAULT (task name, host): HOST's holder stops as that task starts."""
    log_path = os.path.join(lab.tmp, "tasks-%s.jsonl" % uuid.uuid4().hex[:8])
    callbacks = ["task_log"]
    env = {"ANSIBLE_CALLBACK_PLUGINS": CALLBACKS, "PODNET_TASK_LOG": log_path}
    if fault:
        callbacks.append("lab_fault")
        env.update(PODNET_LAB_FAULT_TASK=fault[0], PODNET_LAB_FAULT_HOST=fault[1],
                   PODNET_LAB_FAULT_LAB=lab.lab, PODNET_LAB_DIR=LAB)
    env["ANSIBLE_CALLBACKS_ENABLED"] = ",".join(callbacks)
    return Run(lab.site(inv, *extra, playbook=playbook, timeout=timeout, env=env), log_path)


def our_routes(lab, host, table="main"):
    """HOST's routes with the collection's protocol in TABLE (``ip route`` lines)."""
    out = lab.on(host, "ip", "-4", "route", "show", "table", table).stdout
    return sorted(line.strip() for line in out.splitlines() if " proto hostgw" in line)


def route_table(lab, host):
    """Every IPv4 route of HOST, all tables, as sorted lines."""
    out = lab.on(host, "ip", "-4", "route", "show", "table", "all").stdout
    return sorted(line.strip() for line in out.splitlines())


def container_ip(lab, name):
    return lab.state()["containers"][name]["ips"][0]


def pings(lab, container, address, count=3):
    """True when CONTAINER (a lab container) gets a reply from ADDRESS."""
    netns = lab.state()["containers"][container]["netns"]
    proc = subprocess.run(["ip", "netns", "exec", netns, "ping", "-n", "-q", "-c", str(count), "-W", "2",
                           address], capture_output=True, text=True, check=False)
    return proc.returncode == 0


Stats = collections.namedtuple("Stats", "transmitted received lost during")
REPLY = re.compile(r"icmp_seq=(\d+) ")


class Pinger:
    """``ping -i INTERVAL`` to ADDRESS in network namespace NETNS for the
    length of a ``with`` block (``ip netns exec`` execs ping: the PID we
    hold is ping's; it is stopped by that PID).

    The measurement is a closed window of sequence numbers, so a busy
    machine cannot make a request look lost: it runs from the first request
    answered before the block began to the one sent TAIL requests after the
    last reply seen when the block ended.  Ping goes on until GRACE requests
    after that one are answered (replies that come late or out of order are
    still counted); requests beyond the window, possibly in flight when ping
    is stopped, are not part of it.  A request of the window without a reply is lost; when
    replies stop coming at all, leaving the block fails.  ``stats``:
    (requests in the window, those answered, the sequence numbers lost,
    requests of the window up to the last one answered in the block)."""

    TAIL, GRACE = 10, 5

    def __init__(self, netns, address, interval=0.2, timeout=120):
        self.argv = ["ip", "netns", "exec", netns, "ping", "-n", "-i", str(interval), address]
        self.timeout = timeout
        self.lines, self.replies = [], set()
        self.arrived = threading.Condition()
        self.proc = self.reader = self.stats = None
        self.first = None

    @classmethod
    def from_container(cls, lab, container, address, **kwargs):
        return cls(lab.state()["containers"][container]["netns"], address, **kwargs)

    def _read(self):
        for line in self.proc.stdout:
            with self.arrived:
                self.lines.append(line)
                match = REPLY.search(line)
                if match:
                    self.replies.add(int(match.group(1)))
                    self.arrived.notify_all()

    def __enter__(self):
        self.lines, self.replies, self.stats = [], set(), None
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, LC_ALL="C"))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        wait_for(lambda: self.replies, 30, "the first reply to %s" % " ".join(self.argv))
        with self.arrived:
            self.first = min(self.replies)
        return self

    def __exit__(self, *exc):
        try:
            with self.arrived:
                during = max(self.replies)
                last = during + self.TAIL
                answered = self.arrived.wait_for(lambda: max(self.replies) >= last + self.GRACE, timeout=self.timeout)
        finally:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGINT)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            self.reader.join(timeout=10)
        window = set(range(self.first, last + 1))
        self.stats = Stats(len(window), len(window & self.replies), sorted(window - self.replies),
                           during - self.first + 1)
        if exc[0] is None:
            assert answered, "no reply to icmp_seq=%d (and %d more) within %d s after the block: %s\n%s" % (
                last, self.GRACE, self.timeout, " ".join(self.argv), "".join(self.lines[-10:]))
        return False

"""A throwaway lab for integration tests that run the playbooks end to end.

Builds lab hosts from an inventory written to a temporary directory, runs
ansible-playbook against them, and snapshots every host's kernel state and
the files written under its overlays, so tests can assert "nothing changed"
or "nothing left".  ``Lab.bird()`` runs a real BIRD on a lab host, a routing
daemon whose routes the collection must leave alone.
"""

import contextlib
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
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
            # A directory, not a file named with inventory_hostname: it also names
            # the right file for a task delegated to another lab host.
            "ansible_nsenter_pid_dir": "%s/{{ hostgw_lab_name }}" % STATE_ROOT,
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        }},
    }}}


def seed_inventory(lab):
    """inventories/lab's topology as lab LAB: host1 and host2 with two
    containers each (the seed's 12 pod-to-pod pings)."""
    inv = base_inventory(lab)
    nodes(inv)["hosts"] = {
        "host1": {"hostgw_node_ip": "10.168.0.1", "hostgw_pod_subnet": "192.168.0.0/24",
                  "hostgw_lab_containers": {"container1": "192.168.0.2", "container2": "192.168.0.3"}},
        "host2": {"hostgw_node_ip": "10.168.0.2", "hostgw_pod_subnet": "192.168.1.0/24",
                  "hostgw_lab_containers": {"container3": "192.168.1.2", "container4": "192.168.1.3"}},
    }
    inv["all"]["children"]["hostgw_lab"]["vars"]["hostgw_lab_gateway"] = "10.168.0.254"
    return inv


def nodes(inv):
    return inv["all"]["children"]["hostgw_nodes"]


def written_files(top):
    """{path: mode and content digest} of every file under TOP (a lab host's
    overlays: what the host wrote under its /etc, /var/lib, /opt, /usr/local);
    deletions of the real machine's files show as overlay whiteouts."""
    found = {}
    for d, _dirs, files in os.walk(top):
        for f in files:
            path = os.path.join(d, f)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as fh:
                    what = "file " + hashlib.sha256(fh.read()).hexdigest()[:16]
            elif stat.S_ISLNK(st.st_mode):
                what = "link to " + os.readlink(path)
            else:
                what = "special"
            found[os.path.relpath(path, STATE_ROOT)] = "%o %s" % (st.st_mode, what)
    return found


def in_repo(playbook):
    """A checkout playbook (site.yml, playbooks/x.yml) by its absolute path:
    runs start in the lab's temporary directory, so what a playbook writes
    relative to the working directory (render/) stays out of the checkout."""
    path = os.path.join(REPO, playbook)
    return path if os.path.exists(path) else playbook


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

    def on(self, host, *argv, timeout=120):
        return subprocess.run(hostgw_lab.enter(self.state(), host) + list(argv),
                              check=False, capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"),
                              timeout=timeout)

    def write_file(self, host, path, text):
        """Write PATH on lab host HOST (its own /etc, /run, /usr/local, ...)."""
        hostgw_lab.write_host_file(self.state(), host, path, text)

    @contextlib.contextmanager
    def bird(self, host, routes):
        """A real BIRD on HOST exporting ROUTES into its main table (see Bird);
        stopped by its PID however the block ends."""
        daemon = Bird(self, host, routes)
        try:
            daemon.start()
            yield daemon
        finally:
            daemon.stop()

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
                "files": written_files(os.path.join(STATE_ROOT, self.lab, host)),
            }
        return snap

    def _argv_env(self, tool, inv, args, **extra_env):
        path = inv if isinstance(inv, str) else self.write(inv)
        # PWD too: render.yml's default directory is $PWD/render.
        env = dict(os.environ, LC_ALL="C.UTF-8", ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                   ANSIBLE_FORCE_COLOR="0", NO_COLOR="1", PWD=self.tmp, **extra_env)
        return [os.path.join(BIN, tool), "-i", path] + list(args), env

    def _ansible(self, tool, inv, args, timeout=None, **extra_env):
        """Run TOOL in a session of its own; after TIMEOUT seconds that whole
        session (the run, its workers and the module processes they started
        in the lab hosts) is killed and the test fails."""
        argv, env = self._argv_env(tool, inv, args, **extra_env)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                cwd=self.tmp, start_new_session=True)
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
        return self._ansible("ansible-playbook", inv, [in_repo(playbook)] + list(extra), timeout=timeout,
                             **(env or {}))

    def start_site(self, inv, *extra, playbook="site.yml"):
        """ansible-playbook PLAYBOOK started in the background (its own
        session); finish it with finish_sites()."""
        argv, env = self._argv_env("ansible-playbook", inv, [in_repo(playbook)] + list(extra))
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=self.tmp, start_new_session=True)
        proc.argv = argv
        return proc

    def sites_at_once(self, inv, count, *extra, timeout=900, playbook="site.yml"):
        """COUNT runs of PLAYBOOK started together; their CompletedProcesses."""
        return finish_sites([self.start_site(inv, *extra, playbook=playbook) for _site in range(count)],
                            timeout)

    def adhoc(self, *args):
        """An ad-hoc ``ansible`` command against the lab's own inventory (JSON results)."""
        return self._ansible("ansible", self.good_path, args, ANSIBLE_CALLBACK_RESULT_FORMAT="json")

    def cli(self, *args, check=True):
        """lab/hostgw_lab.py with the lab's own inventory."""
        proc = subprocess.run([sys.executable, LAB_PY, "--inventory", self.good_path] + list(args),
                              check=False, capture_output=True, text=True)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def up(self):
        self.cli("up")

    def down(self):
        subprocess.run([sys.executable, LAB_PY, "--lab", self.lab, "down"], check=False, capture_output=True)


def recap(proc):
    """{host: changed} from a playbook run's PLAY RECAP; fails on failed/unreachable hosts.
    The controller's row (localhost: every playbook's hostgw_group check,
    playbooks/check_group.yml) is checked but left out."""
    rows = RECAP.findall(proc.stdout)
    assert rows, proc.stdout[-2000:]
    for host, _changed, unreachable, failed in rows:
        assert (unreachable, failed) == ("0", "0"), proc.stdout[-3000:]
    return dict((host, int(changed)) for host, changed, _unreachable, _failed in rows if host != "localhost")


def run_bounded(argv, timeout, **popen_kw):
    """Run ARGV in a session of its own and wait at most TIMEOUT seconds; then
    that whole session is killed (its process group, nothing else) and the
    test fails.  POPEN_KW go to Popen (cwd, env, ...)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **popen_kw)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("%s did not end within %s s" % (" ".join(argv), timeout))
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def finish_sites(procs, timeout):
    """Wait for runs from Lab.start_site(); their CompletedProcesses.  Runs
    still going after TIMEOUT seconds are killed (their own process groups)
    and the test fails."""
    deadline = time.monotonic() + timeout
    done = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
            done.append(subprocess.CompletedProcess(proc.argv, proc.returncode, out, err))
    except subprocess.TimeoutExpired:
        raise AssertionError("%d playbook runs did not end within %d s" % (len(procs), timeout))
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
    return done


def warnings(proc):
    """The [WARNING] messages of a playbook run (stderr), each as one string."""
    found, current = [], None
    for line in proc.stderr.splitlines():
        if line.startswith("[WARNING]: "):
            current = [line[len("[WARNING]: "):]]
            found.append(current)
        elif current is not None and line.strip() and not line.startswith("["):
            current.append(line.strip())
        else:
            current = None
    return [" ".join(message) for message in found]


def wait_for(predicate, timeout, what, pause=0.2):
    """Poll PREDICATE until it returns something true (returned), at most
    TIMEOUT seconds; then fail naming WHAT."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not within %d s" % (what, timeout))
        time.sleep(pause)


def sbin_tool(name):
    """The path of an administrator's tool (often outside a test's PATH)."""
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


class Bird:
    """A real BIRD 2 (Debian's bird2) on one lab host.

    Its config is its own file under the host's /etc, its control socket and
    PID file are under the host's /run; it runs in the foreground through
    ``hostgw_lab.enter()``, recorded in the lab's state (``down`` ends it if a
    test dies), and is stopped by its PID.  A static protocol holds ROUTES, a
    list of ``(dest, via)`` or ``(dest, via, metric)``; a kernel protocol
    exports them into the main table, where they show as ``proto bird``.
    """

    CONF = "/etc/bird/podnet-hostgw-lab.conf"
    SOCKET = "/run/bird/podnet-hostgw-lab.ctl"
    PID_FILE = "/run/bird/podnet-hostgw-lab.pid"
    TIMEOUT = 60

    def __init__(self, lab, host, routes):
        self.lab, self.host = lab, host
        self.routes = [tuple(r) + (0,) * (3 - len(r)) for r in routes]
        self.daemon = None

    def config(self):
        lines = ["# podnet.hostgw lab: BIRD on %s, run by a test (tests/integration/labkit.py)" % self.host,
                 "router id %s;" % self.lab.state()["hosts"][self.host]["node_ip"],
                 "log stderr all;",
                 "protocol device {}",
                 "protocol static podnet_lab_static {",
                 "  ipv4;"]
        for dest, via, metric in self.routes:
            lines.append("  route %s via %s%s;" % (dest, via, " { krt_metric = %d; }" % metric if metric else ""))
        lines += ["}",
                  "protocol kernel podnet_lab_kernel {",
                  "  ipv4 { import none; export all; };",
                  # No metric of its own: a route without krt_metric is
                  # exactly what ip_route adds (metric 0).
                  "  metric 0;",
                  # No periodic re-sync during a test: what the kernel shows
                  # after a playbook run is what the run did, not BIRD's repair.
                  "  scan time 3600;",
                  "}", ""]
        return "\n".join(lines)

    def kernel_line(self, route):
        dest, via, metric = route
        return "%s via %s dev eth0 proto bird%s" % (dest, via, " metric %d" % metric if metric else "")

    def kernel_routes(self):
        """The host's main-table routes with protocol bird (``ip route`` lines)."""
        # Not 'show proto bird': ip leaves the filtered-on protocol out of its lines.
        out = self.lab.on(self.host, "ip", "-4", "route", "show").stdout
        return sorted(line.strip() for line in out.splitlines() if " proto bird" in line)

    def birdc(self, *args):
        proc = self.lab.on(self.host, sbin_tool("birdc"), "-s", self.SOCKET, *args, timeout=self.TIMEOUT)
        assert proc.returncode == 0, "birdc %s: %s%s" % (" ".join(args), proc.stdout, proc.stderr)
        return proc.stdout

    def _log(self):
        try:
            with open(self.daemon["log"]) as fh:
                return fh.read()[-2000:]
        except (OSError, TypeError):
            return ""

    def _up(self):
        assert hostgw_lab.daemon_alive(self.daemon), "bird on %s ended:\n%s" % (self.host, self._log())
        proc = self.lab.on(self.host, sbin_tool("birdc"), "-s", self.SOCKET, "show", "status",
                           timeout=self.TIMEOUT)
        return "Daemon is up and running" in proc.stdout

    def start(self):
        bird = sbin_tool("bird")
        assert bird and sbin_tool("birdc"), "BIRD is not installed (Debian's bird2: make deps)"
        self.lab.write_file(self.host, self.CONF, self.config())
        assert self.lab.on(self.host, "mkdir", "-p", os.path.dirname(self.SOCKET)).returncode == 0
        self.daemon = hostgw_lab.start_daemon(self.lab.state(), self.host, "bird",
                                              [bird, "-f", "-c", self.CONF, "-s", self.SOCKET,
                                               "-P", self.PID_FILE])
        wait_for(self._up, self.TIMEOUT, "bird on %s answering on %s" % (self.host, self.SOCKET))
        written = self.lab.on(self.host, "cat", self.PID_FILE).stdout.strip()
        assert written == str(self.daemon["pid"]), "bird wrote PID %r, started as %d" % (
            written, self.daemon["pid"])
        wanted = sorted(self.kernel_line(r) for r in self.routes)
        wait_for(lambda: set(wanted) <= set(self.kernel_routes()), self.TIMEOUT,
                 "bird's routes %s in %s's kernel" % (wanted, self.host))

    def stop(self):
        if self.daemon is not None:
            hostgw_lab.stop_daemon(self.lab.state(), self.host, "bird")
            assert not hostgw_lab.daemon_alive(self.daemon)

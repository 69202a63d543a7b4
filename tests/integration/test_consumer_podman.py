"""A real container runtime on the collection's network.

podman from Debian (CNI backend, the reference plugins in /usr/lib/cni) runs
containers on two lab hosts through the conflist site.yml wrote
(/etc/cni/net.d/10-podnet.conflist), from an image imported offline from a
busybox rootfs built here (no registry).  The containers get their addresses
from the collection's host-local range, ping each other across hosts, reach
each other with their own addresses (no NAT between pods) and leave the
cluster masqueraded behind their node's address.  podman removes its
containers itself; its storage and run directories live in the lab hosts'
own /var/lib and /run and go with the lab.

podman inside a lab host (no systemd, no cgroup tree, no CAP_SYS_RESOURCE)
needs, in the host's own mount namespace and /etc:
  - a tmpfs on /sys/fs/cgroup and ``cgroups = "disabled"``;
  - ``default_ulimits`` no higher than the hard limits it inherits (it
    cannot raise them: crun's setrlimit fails with EPERM);
  - tmpfs on /dev/shm (podman's lock segment) and /var/tmp (its temporary
    files), so nothing lands on the real machine;
  - the vfs storage driver (the host's /var/lib is an overlay already);
  - ``--cap-add NET_RAW`` for busybox's ping.
"""

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid

import pytest

import hostgw_lab  # lab/ (tests/conftest.py puts it on sys.path)
from tests.integration.labkit import Lab, base_inventory, nodes, recap, wait_for

pytestmark = pytest.mark.integration

IMAGE = "localhost/podnet-hostgw-busybox:test"
NETWORK = "podnet"  # hostgw_cni_network_name
CONFLIST = "/etc/cni/net.d/10-podnet.conflist"
LEASES = "/var/lib/cni/networks/%s" % NETWORK  # host-local's state
OUTSIDE = "203.0.113.1"  # the lab switch answers it: outside the cluster
PORT = 47124
TIMEOUT = 180  # seconds, for any one podman command
APPLETS = ("sh", "sleep", "ping", "ip", "nc", "cat")

CONTAINERS_CONF = """\
# podman on a podnet.hostgw lab host (tests/integration/test_consumer_podman.py)
[containers]
# No systemd and no cgroup tree here: a tmpfs on /sys/fs/cgroup.
cgroups = "disabled"
# Without CAP_SYS_RESOURCE podman cannot raise a limit above the hard one.
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "cni"
# The collection's network (hostgw_cni_network_name), not Debian's
# 87-podman-bridge.conflist, is what `podman run` joins.
default_network = "podnet"
cni_plugin_dirs = ["/usr/lib/cni"]
network_config_dir = "/etc/cni/net.d"
"""

STORAGE_CONF = """\
# podman on a podnet.hostgw lab host: storage in the host's own /var/lib and /run
[storage]
# The lab host's /var/lib is an overlay: no overlay on top of it.
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
"""

# Mounted in the lab host's own mount namespace (private: the real machine
# never sees them), gone with the host.
TMPFS = (("/sys/fs/cgroup", "0755"), ("/dev/shm", "1777"), ("/var/tmp", "1777"))

LISTENER = r"""
import socket, sys
addr, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(1)
s.settimeout(timeout)
print("ready", flush=True)
try:
    conn, peer = s.accept()
    print(peer[0], flush=True)
    conn.close()
except socket.timeout:
    print("timeout", flush=True)
"""


def busybox_rootfs_tar(tmp):
    """A tarball of a root file system holding busybox (and, when it is not
    Debian's static build, the libraries it loads) and a few applets."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    assert os.path.exists(busybox), "busybox is not installed (Debian's busybox-static: make deps)"
    root = os.path.join(tmp, "rootfs")
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp"):
        os.makedirs(os.path.join(root, d))
    shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
    for applet in APPLETS:
        os.symlink("busybox", os.path.join(root, "bin", applet))
    ldd = subprocess.run(["ldd", busybox], capture_output=True, text=True, check=False)
    for lib in (word for line in ldd.stdout.splitlines() for word in line.split() if word.startswith("/")):
        target = os.path.join(root, lib.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(lib, target)
    with open(os.path.join(root, "etc", "passwd"), "w") as fh:
        fh.write("root:x:0:0:root:/:/bin/sh\n")

    def as_root(info):
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    path = os.path.join(tmp, "rootfs.tar")
    with tarfile.open(path, "w") as tar:
        tar.add(root, arcname=".", filter=as_root)
    return path


def alive_as(pid, cmdline):
    """True when PID is still the process whose command line was CMDLINE."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read() == cmdline
    except OSError:
        return False


def cmdline_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read()
    except OSError:
        return None


class PodmanHost:
    """podman on one lab host, configured in the host's own /etc."""

    def __init__(self, lab, host):
        self.lab, self.host = lab, host
        self.containers = {}  # name -> {id, ip, pid, conmon_pid, cmdlines}

    def podman(self, *args, data=None, check=True, timeout=TIMEOUT):
        # TMPDIR: the host's own /var/tmp (a tmpfs), never the real machine's.
        argv = hostgw_lab.enter(self.lab.state(), self.host) + ["env", "TMPDIR=/var/tmp", "podman"] + list(args)
        proc = subprocess.run(argv, input=data, capture_output=True, text=True,
                              env=dict(os.environ, LC_ALL="C"), timeout=timeout, check=False)
        if check:
            assert proc.returncode == 0, "%s: podman %s: %s%s" % (self.host, " ".join(args), proc.stdout, proc.stderr)
        return proc

    def prepare(self, rootfs_tar):
        for path, mode in TMPFS:
            proc = self.lab.on(self.host, "mount", "-t", "tmpfs", "-o", "mode=%s,nosuid,nodev" % mode,
                               "podnet-lab", path)
            assert proc.returncode == 0, "%s: mount %s: %s" % (self.host, path, proc.stderr)
        self.lab.write_file(self.host, "/etc/containers/containers.conf", CONTAINERS_CONF)
        self.lab.write_file(self.host, "/etc/containers/storage.conf", STORAGE_CONF)
        self.podman("import", rootfs_tar, IMAGE)

    def run(self, name):
        """A container on podman's default network, sleeping (bounded)."""
        self.containers[name] = None
        cid = self.podman("run", "--detach", "--name", name, "--cap-add", "NET_RAW",
                          IMAGE, "sleep", "900").stdout.strip()
        info = json.loads(self.podman("inspect", cid).stdout)[0]
        # No --network: containers.conf makes the collection's network podman's default.
        assert list(info["NetworkSettings"]["Networks"]) == [NETWORK], info["NetworkSettings"]
        c = {"name": name, "id": info["Id"], "ip": info["NetworkSettings"]["Networks"][NETWORK]["IPAddress"],
             "netns": info["NetworkSettings"]["SandboxKey"],
             "pid": info["State"]["Pid"], "conmon_pid": info["State"]["ConmonPid"]}
        assert info["State"]["Running"], info["State"]
        c["cmdlines"] = dict((pid, cmdline_of(pid)) for pid in (c["pid"], c["conmon_pid"]))
        self.containers[name] = c
        return c

    def remove_all(self, timeout=30):
        """podman rm -f of every container this test started.  Returns the
        PIDs podman reported for them (container, conmon) that were still
        running TIMEOUT seconds later: those, and only those, are then killed."""
        names = list(self.containers)
        if names:
            self.podman("rm", "--force", "--time", "0", *names, check=False)
        ours = [(name, pid, cmdline) for name, c in self.containers.items()
                for pid, cmdline in (c or {}).get("cmdlines", {}).items() if cmdline]
        deadline = time.monotonic() + timeout
        while any(alive_as(pid, cmdline) for name, pid, cmdline in ours) and time.monotonic() < deadline:
            time.sleep(0.2)
        leftovers = []
        for name, pid, cmdline in ours:
            if alive_as(pid, cmdline):
                leftovers.append((name, pid))
                os.kill(pid, signal.SIGKILL)
        self.containers = {}
        return leftovers


def tcp_source_seen(listener_prefix, addr, send, timeout=10):
    """Listen on ADDR:PORT in the namespaces LISTENER_PREFIX enters, call SEND
    (which connects there), return the peer address the listener saw, or
    "timeout".  Only the listener's own PID is ever killed."""
    proc = subprocess.Popen(listener_prefix + [sys.executable, "-c", LISTENER, addr, str(PORT), str(timeout)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = proc.stdout.readline().strip()
        assert ready == "ready", "listener on %s did not start: %s" % (addr, proc.stderr.read())
        send()
        return proc.communicate(timeout=timeout + 5)[0].strip()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def host_processes(lab, host):
    """PIDs in lab host HOST's network namespace (the holder, conmon, ...)."""
    proc = subprocess.run(["ip", "netns", "pids", lab.state()["hosts"][host]["netns"]],
                          capture_output=True, text=True, check=True)
    return set(proc.stdout.split())


def host_local_range(conflist):
    """(subnet, first, last) of the conflist's host-local IPv4 range."""
    bridge = conflist["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["ipam"]["type"] == "host-local"
    (r,) = [r for (r,) in bridge["ipam"]["ranges"] if ":" not in r["subnet"]]
    subnet = ipaddress.ip_network(r["subnet"])
    return subnet, ipaddress.ip_address(r.get("rangeStart", subnet[2])), ipaddress.ip_address(r["rangeEnd"])


@pytest.fixture
def lab(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    assert shutil.which("podman"), "podman is not installed (Debian's podman: make deps)"
    name = "hgwpm%s" % uuid.uuid4().hex[:4]
    inv = base_inventory(name)
    del nodes(inv)["hosts"]["host3"]
    the_lab = Lab(name, str(tmp_path), inventory=inv)
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture
def podman_hosts(lab):
    hosts = dict((h, PodmanHost(lab, h)) for h in ("host1", "host2"))
    try:
        yield hosts
    finally:
        for host in hosts.values():
            host.remove_all()


def test_podman_containers_on_two_hosts_talk_through_the_collections_network(lab, podman_hosts, tmp_path):
    recap(lab.site(lab.good_path, timeout=900))
    rootfs = busybox_rootfs_tar(str(tmp_path))
    state = lab.state()
    processes_before = dict((h, host_processes(lab, h)) for h in podman_hosts)

    ranges, containers = {}, {}
    for host, pm in podman_hosts.items():
        pm.prepare(rootfs)
        ranges[host] = host_local_range(json.loads(lab.on(host, "cat", CONFLIST).stdout))
        # podman reads our conflist as its network.  Debian's podman package
        # ships /etc/cni/net.d/87-podman-bridge.conflist (the lab hosts' /etc
        # is an overlay over the machine's): it sorts after ours, so runtimes
        # that take the first configuration take ours.
        net = json.loads(pm.podman("network", "inspect", NETWORK).stdout)[0]
        assert [s["subnet"] for s in net["subnets"]] == [str(ranges[host][0])], net
        confs = sorted(f for f in lab.on(host, "ls", "/etc/cni/net.d").stdout.split()
                       if f.endswith((".conf", ".conflist", ".json")))
        assert confs[0] == "10-podnet.conflist", confs
        containers[host] = pm.run("podnet-%s-%s" % (host, uuid.uuid4().hex[:6]))

    # Addresses from the collection's host-local range, leased in the host's own /var/lib.
    for host, c in containers.items():
        subnet, first, last = ranges[host]
        assert first <= ipaddress.ip_address(c["ip"]) <= last, (host, c["ip"], ranges[host])
        lease = lab.on(host, "cat", "%s/%s" % (LEASES, c["ip"]))
        assert lease.returncode == 0 and c["id"] in lease.stdout, (host, lease.stdout, lease.stderr)

    # The container's network namespace is podman's (CNI's netns under the host's own /run).
    for host, c in containers.items():
        assert c["netns"].startswith("/run/netns/") and lab.on(host, "test", "-e", c["netns"]).returncode == 0

    pm1, pm2 = podman_hosts["host1"], podman_hosts["host2"]
    c1, c2 = containers["host1"], containers["host2"]
    for pm, c, dst in ((pm1, c1, c2["ip"]), (pm2, c2, c1["ip"])):
        ping = pm.podman("exec", c["name"], "ping", "-c", "3", "-W", "2", dst, check=False, timeout=60)
        assert ping.returncode == 0 and "3 packets received" in ping.stdout, \
            (c["name"], dst, ping.stdout, ping.stderr)

    def send_from_c1(addr):
        return lambda: pm1.podman("exec", "-i", c1["name"], "nc", "-w", "5", addr, str(PORT), data="podnet\n",
                                  check=False, timeout=60)

    # Across hosts a pod is seen with its own address; leaving the cluster,
    # with its node's (the lab switch has no route to the pods: no reply
    # without masquerade).
    in_c2 = ["nsenter", "-t", str(c2["pid"]), "-n", "--"]
    assert tcp_source_seen(in_c2, c2["ip"], send_from_c1(c2["ip"])) == c1["ip"]
    switch = ["ip", "netns", "exec", state["switch"]]
    assert tcp_source_seen(switch, OUTSIDE, send_from_c1(OUTSIDE)) == state["hosts"]["host1"]["node_ip"]

    # podman removes its containers: their processes, leases and namespaces go.
    for host, pm in podman_hosts.items():
        assert pm.remove_all() == [], "podman rm left processes on %s" % host
        assert pm.podman("ps", "--all", "--quiet").stdout.strip() == ""
        assert containers[host]["ip"] not in lab.on(host, "ls", LEASES).stdout.split()
        assert lab.on(host, "test", "-e", containers[host]["netns"]).returncode == 1
        wait_for(lambda: host_processes(lab, host) <= processes_before[host], 30,
                 "podman's processes on %s gone" % host)

"""The podnet.hostgw lab: simulated hosts and containers in network namespaces.

One inventory describes one lab.  Hosts of the group ``hostgw_lab`` become
network namespaces on an "underlay switch" namespace (a bridge), each held
open by a holder process with private mount and UTS namespaces (see
holder.py), reached by Ansible through the ``podnet.hostgw.nsenter``
connection.  Containers listed in ``hostgw_lab_containers`` are network
namespaces wired to their host's ``cni0`` with a veth, the way the CNI bridge
plugin does it.

Everything the lab makes is recorded in ``/run/podnet-hostgw-lab/<lab>/state.json``
as it is made, and ``down`` removes exactly that: no address, route or link is
ever added to the root network namespace.  Daemons a test runs on a lab host
(``start_daemon``, e.g. BIRD) are recorded there too, so ``down`` ends them
even when the test that started them died.

    hostgw_lab.py up      -i INVENTORY   build hosts and the switch
    hostgw_lab.py attach  -i INVENTORY   wire the containers to cni0 (after site.yml)
    hostgw_lab.py detach  -i INVENTORY [CONTAINER...]   delete them again (CNI DEL)
    hostgw_lab.py routes  -i INVENTORY   each host's ``ip route``
    hostgw_lab.py ping    -i INVENTORY   every container pings every other one
    hostgw_lab.py shell   -i INVENTORY HOST
    hostgw_lab.py down    -i INVENTORY   (or --lab NAME)
"""

import argparse
import concurrent.futures
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
STATE_ROOT = os.environ.get("HOSTGW_LAB_STATE_ROOT", "/run/podnet-hostgw-lab")
LAB_GROUP = "hostgw_lab"
DEFAULT_LAB = "hgwlab"
HOLDER_MARKER = "podnet-hostgw-lab-holder"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


class LabError(Exception):
    pass


# --------------------------------------------------------------------------
# running things


def run(argv, data=None, check=True, locale="C"):
    proc = subprocess.run(argv, input=data, capture_output=True, text=True,
                          env=dict(os.environ, LC_ALL=locale), check=False)
    if check and proc.returncode != 0:
        raise LabError("%s: %s" % (" ".join(argv), proc.stderr.strip() or proc.stdout.strip()))
    return proc


def ip(*args, ns=None, check=True):
    argv = ["ip"] + (["-n", ns] if ns else []) + list(args)
    return run(argv, check=check)


def netns_exists(name):
    return os.path.exists(os.path.join("/run/netns", name))


# --------------------------------------------------------------------------
# the lab's description, read from the inventory


def ansible_inventory(inventory):
    exe = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    if not os.path.exists(exe):
        exe = shutil.which("ansible-inventory")
    if not exe:
        raise LabError("ansible-inventory not found (run 'make venv' first)")
    proc = run([exe, "-i", inventory, "--list"], locale="C.UTF-8")
    return json.loads(proc.stdout)


def _group_hosts(inv, group, seen=None):
    seen = seen if seen is not None else set()
    if group in seen or group not in inv:
        return []
    seen.add(group)
    hosts = list(inv[group].get("hosts", []))
    for child in inv[group].get("children", []):
        hosts += [h for h in _group_hosts(inv, child, seen) if h not in hosts]
    return hosts


def _net(value, what):
    try:
        return ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise LabError("%s: %r is not a network: %s" % (what, value, exc))


def _addr(value, what):
    try:
        return ipaddress.ip_address(str(value))
    except ValueError as exc:
        raise LabError("%s: %r is not an address: %s" % (what, value, exc))


def describe(inventory):
    """The lab an inventory describes, validated, as plain data."""
    inv = ansible_inventory(inventory)
    hostvars = inv.get("_meta", {}).get("hostvars", {})
    hosts = _group_hosts(inv, LAB_GROUP)
    if not hosts:
        raise LabError("inventory %s has no hosts in group %r" % (inventory, LAB_GROUP))
    first = hostvars.get(hosts[0], {})
    lab = str(first.get("hostgw_lab_name", DEFAULT_LAB))
    if not NAME_RE.match(lab):
        raise LabError("hostgw_lab_name %r: use lower-case letters, digits and '-'" % lab)
    underlay = _net(first.get("hostgw_lab_underlay", "10.168.0.0/24"), "hostgw_lab_underlay")
    gateway = _addr(first.get("hostgw_lab_gateway", underlay[-2]), "hostgw_lab_gateway")
    if gateway not in underlay:
        raise LabError("hostgw_lab_gateway %s is not in hostgw_lab_underlay %s" % (gateway, underlay))
    underlay6 = first.get("hostgw_lab_underlay_v6")
    underlay6 = _net(underlay6, "hostgw_lab_underlay_v6") if underlay6 else None
    gateway6 = None
    if underlay6 is not None:
        gateway6 = _addr(first.get("hostgw_lab_gateway_v6", underlay6[-2]), "hostgw_lab_gateway_v6")
    outside = [str(_addr(a, "hostgw_lab_outside")) for a in first.get("hostgw_lab_outside", ["203.0.113.1"])]
    desc = {"lab": lab, "inventory": os.path.abspath(inventory), "underlay": str(underlay),
            "gateway": str(gateway), "underlay_v6": str(underlay6) if underlay6 else None,
            "gateway_v6": str(gateway6) if gateway6 else None, "outside": outside,
            "hosts": {}, "containers": {}}
    used = {str(gateway): "the lab gateway"}
    for index, host in enumerate(hosts):
        hv = hostvars.get(host, {})
        if not NAME_RE.match(host):
            raise LabError("lab host name %r: use lower-case letters, digits and '-'" % host)
        if hv.get("hostgw_lab_name", lab) != lab:
            raise LabError("host %s: hostgw_lab_name differs from the rest of the lab" % host)
        node_ip = _addr(hv.get("hostgw_node_ip"), "host %s: hostgw_node_ip" % host)
        if node_ip not in underlay:
            raise LabError("host %s: hostgw_node_ip %s is not in hostgw_lab_underlay %s"
                           % (host, node_ip, underlay))
        if str(node_ip) in used:
            raise LabError("host %s: hostgw_node_ip %s is already %s" % (host, node_ip, used[str(node_ip)]))
        used[str(node_ip)] = "host %s" % host
        node_ip6 = hv.get("hostgw_node_ip_v6")
        if node_ip6:
            node_ip6 = _addr(node_ip6, "host %s: hostgw_node_ip_v6" % host)
            if underlay6 is None or node_ip6 not in underlay6:
                raise LabError("host %s: hostgw_node_ip_v6 %s is not in hostgw_lab_underlay_v6 %s"
                               % (host, node_ip6, underlay6))
        subnet = hv.get("hostgw_pod_subnet")
        desc["hosts"][host] = {
            "netns": "%s-%s" % (lab, host),
            "port": "p%d" % index,
            "node_ip": str(node_ip),
            "node_ip_v6": str(node_ip6) if node_ip6 else None,
            "pod_subnet": str(_net(subnet, "host %s: hostgw_pod_subnet" % host)) if subnet else None,
            "bridge": hv.get("hostgw_bridge", "cni0"),
        }
        for cname, cip in (hv.get("hostgw_lab_containers") or {}).items():
            if not NAME_RE.match(cname):
                raise LabError("host %s: container name %r: use lower-case letters, digits and '-'"
                               % (host, cname))
            if cname in desc["containers"] or cname in desc["hosts"]:
                raise LabError("container name %r is used twice" % cname)
            container = {"host": host, "netns": "%s-%s" % (lab, cname), "ip": None,
                         "veth": "veth" + hashlib.sha1(("%s/%s" % (lab, cname)).encode()).hexdigest()[:8]}
            if cip:  # else CNI's IPAM picks the addresses at attach time
                if not subnet:
                    raise LabError("container %s has an address but host %s has no hostgw_pod_subnet"
                                   % (cname, host))
                pod_net = ipaddress.ip_network(subnet)
                caddr = _addr(cip, "container %s" % cname)
                if caddr not in pod_net or caddr in (pod_net[0], pod_net[1], pod_net[-1]):
                    raise LabError("container %s: %s is not a usable pod address in %s (the first "
                                   "address is the cni0 gateway)" % (cname, caddr, pod_net))
                if str(caddr) in used:
                    raise LabError("container %s: %s is already %s" % (cname, caddr, used[str(caddr)]))
                used[str(caddr)] = "container %s" % cname
                container.update(ip=str(caddr), prefixlen=pod_net.prefixlen, gateway=str(pod_net[1]))
            desc["containers"][cname] = container
    return desc


# --------------------------------------------------------------------------
# state: what this lab made, written as it is made


def state_dir(lab):
    return os.path.join(STATE_ROOT, lab)


def load_state(lab):
    path = os.path.join(state_dir(lab), "state.json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def save_state(state):
    d = state_dir(state["lab"])
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, "state.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(state, fh, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(d, "state.json"))


def pid_file(lab, host):
    return os.path.join(state_dir(lab), "%s.pid" % host)


def enter(state, name):
    """The argv prefix that runs a command "on" lab host or container NAME:
    a host's network, mount and UTS namespaces (its own /etc, hostname and
    links), or a container's network namespace."""
    if name in state["hosts"]:
        return ["nsenter", "-t", str(state["hosts"][name]["pid"]), "-n", "-m", "-u", "--"]
    if name in state.get("containers", {}):
        return ["ip", "netns", "exec", state["containers"][name]["netns"]]
    raise LabError("no host or container %r in lab %s" % (name, state["lab"]))


def holder_alive(pid):
    """True when PID is one of our holders (checked by its command line)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return False
    return HOLDER_MARKER.encode() in argv


def write_host_file(state, host, path, text):
    """Write TEXT to PATH as lab host HOST sees it (its own /etc, /run, ...)."""
    run(enter(state, host) + ["mkdir", "-p", "--", os.path.dirname(path)])
    run(enter(state, host) + ["tee", "--", path], data=text)


# --------------------------------------------------------------------------
# daemons started on lab hosts (by tests): recorded, so 'down' ends them


def _netns_inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def daemon_alive(daemon):
    """True when DAEMON's recorded PID is still that daemon: the same command
    line, in the lab host's network namespace (so a reused PID is never hit)."""
    pid = daemon["pid"]
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            argv = fh.read().split(b"\0")[:-1]
    except OSError:
        return False
    if [a.decode("utf-8", "replace") for a in argv] != daemon["argv"]:
        return False
    own = _netns_inode(os.path.join("/run/netns", daemon["netns"]))
    return own is not None and own == _netns_inode("/proc/%d/ns/net" % pid)


def start_daemon(state, host, name, argv):
    """Run ARGV, a daemon that stays in the foreground, on lab host HOST
    (through enter(): the host's network, mount and UTS namespaces), logging
    to the lab's state directory.  It is recorded as HOST/NAME in the lab's
    state before this returns; returns its record (pid, argv, log)."""
    key = "%s/%s" % (host, name)
    current = load_state(state["lab"])
    old = current.get("daemons", {}).get(key)
    if old and daemon_alive(old):
        raise LabError("%s is already running on %s (pid %d)" % (name, host, old["pid"]))
    log_path = os.path.join(state_dir(state["lab"]), "%s-%s.log" % (host, name))
    with open(log_path, "ab") as log:
        # enter() execs (no fork), so the child's PID is the daemon's.
        proc = subprocess.Popen(enter(current, host) + list(argv), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)
    daemon = {"host": host, "name": name, "pid": proc.pid, "argv": list(argv),
              "netns": current["hosts"][host]["netns"], "log": log_path}
    current.setdefault("daemons", {})[key] = daemon
    save_state(current)
    deadline = time.time() + 15
    while not daemon_alive(daemon) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)  # nsenter has not exec'd the daemon yet
    if not daemon_alive(daemon):
        raise LabError("%s on %s did not start (exit status %s); see %s"
                       % (name, host, proc.poll(), log_path))
    return daemon


def _reap(pid):
    """Collect PID's exit status when it is our own child (else a no-op)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def end_daemon(daemon, timeout=10):
    """SIGTERM DAEMON (by its recorded PID, after daemon_alive), SIGKILL
    after TIMEOUT seconds.  True when it was still running."""
    if not daemon_alive(daemon):
        _reap(daemon["pid"])
        return False
    os.kill(daemon["pid"], signal.SIGTERM)
    deadline = time.time() + timeout
    while time.time() < deadline:
        _reap(daemon["pid"])
        if not daemon_alive(daemon):
            return True
        time.sleep(0.05)
    if daemon_alive(daemon):
        os.kill(daemon["pid"], signal.SIGKILL)
    deadline = time.time() + timeout
    while daemon_alive(daemon) and time.time() < deadline:
        _reap(daemon["pid"])
        time.sleep(0.05)
    if daemon_alive(daemon):
        raise LabError("%s on %s (pid %d) did not end" % (daemon["name"], daemon["host"], daemon["pid"]))
    return True


def stop_daemon(state, host, name, timeout=10):
    """End HOST/NAME (see end_daemon) and drop its record."""
    key = "%s/%s" % (host, name)
    current = load_state(state["lab"])
    daemon = (current or {}).get("daemons", {}).get(key)
    if daemon is None:
        return False
    was_running = end_daemon(daemon, timeout)
    del current["daemons"][key]
    save_state(current)
    return was_running


# --------------------------------------------------------------------------
# up / attach / down


def up(desc):
    lab = desc["lab"]
    state = load_state(lab)
    if state:
        if all(holder_alive(h.get("pid", -1)) for h in state["hosts"].values()) and \
                set(state["hosts"]) == set(desc["hosts"]):
            print("lab %s is already up" % lab)
            return state
        raise LabError("lab %s is partly up (state in %s); run 'down' first" % (lab, state_dir(lab)))
    state = {"lab": lab, "inventory": desc["inventory"], "switch": None, "hosts": {},
             "containers": {}, "outside": desc.get("outside", [])}
    save_state(state)
    underlay = ipaddress.ip_network(desc["underlay"])
    switch = "%s-sw" % lab
    for name in [switch] + [h["netns"] for h in desc["hosts"].values()]:
        if netns_exists(name):
            raise LabError("network namespace %s exists but this lab did not make it; "
                           "not touching it" % name)

    ip("netns", "add", switch)
    state["switch"] = switch
    save_state(state)
    ip("link", "set", "lo", "up", ns=switch)
    ip("link", "add", "br0", "type", "bridge", ns=switch)
    ip("addr", "add", "%s/%d" % (desc["gateway"], underlay.prefixlen), "dev", "br0", ns=switch)
    if desc.get("underlay_v6"):
        ip("addr", "add", "%s/%d" % (desc["gateway_v6"], ipaddress.ip_network(desc["underlay_v6"]).prefixlen),
           "dev", "br0", "nodad", ns=switch)
    # Addresses "outside the cluster" for egress tests: the switch answers them itself.
    for addr in desc.get("outside", []):
        ip("addr", "add", addr, "dev", "lo", ns=switch)
    ip("link", "set", "br0", "up", ns=switch)

    for host, h in desc["hosts"].items():
        ns = h["netns"]
        ip("netns", "add", ns)
        state["hosts"][host] = dict(h)
        save_state(state)
        ip("link", "set", "lo", "up", ns=ns)
        ip("link", "add", h["port"], "type", "veth", "peer", "name", "eth0", "netns", ns, ns=switch)
        ip("link", "set", h["port"], "master", "br0", "up", ns=switch)
        ip("addr", "add", "%s/%d" % (h["node_ip"], underlay.prefixlen), "dev", "eth0", ns=ns)
        ip("link", "set", "eth0", "up", ns=ns)
        ip("route", "add", "default", "via", desc["gateway"], "dev", "eth0", ns=ns)
        if h.get("node_ip_v6"):
            ip("addr", "add", "%s/%d" % (h["node_ip_v6"], ipaddress.ip_network(desc["underlay_v6"]).prefixlen),
               "dev", "eth0", "nodad", ns=ns)
            ip("-6", "route", "add", "default", "via", desc["gateway_v6"], "dev", "eth0", ns=ns)
        state["hosts"][host]["pid"] = start_holder(lab, host, h)
        save_state(state)
    return state


def start_holder(lab, host, h):
    d = state_dir(lab)
    hdir = os.path.join(d, host)
    os.makedirs(hdir, exist_ok=True)
    pf = pid_file(lab, host)
    if os.path.exists(pf):
        os.unlink(pf)
    log = open(os.path.join(d, "%s.log" % host), "ab")
    argv = ["ip", "netns", "exec", h["netns"], "unshare", "--mount", "--uts",
            "--propagation", "private", "--fork", "--",
            sys.executable, os.path.join(HERE, "holder.py"), "--marker", HOLDER_MARKER,
            "--state-dir", hdir, "--pid-file", pf, "--hostname", host, "--address", h["node_ip"]]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    deadline = time.time() + 15
    while time.time() < deadline:
        if os.path.exists(pf):
            with open(pf) as fh:
                return int(fh.read().strip())
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise LabError("holder for %s did not start; see %s" % (host, log.name))


def end_holder(pid, timeout=5):
    """SIGTERM the holder PID (checked by holder_alive), SIGKILL after
    TIMEOUT seconds.  True when it was running."""
    if not pid or not holder_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while holder_alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    if holder_alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def stop_holder(lab, host):
    """Take lab host HOST off the management network: its holder ends (by
    its recorded PID) and its PID file goes, so Ansible finds it unreachable.
    Its network namespace stays with every link, address, route and rule
    in it (the host keeps forwarding); its mount and UTS namespaces end with
    the holder: /run's tmpfs is gone, the overlays' contents stay in the
    lab's state directory.  restart_holder() brings it back."""
    state = load_state(lab)
    if not state or host not in state["hosts"]:
        raise LabError("no host %r in lab %s" % (host, lab))
    end_holder(state["hosts"][host].get("pid"))
    if os.path.exists(pid_file(lab, host)):
        os.unlink(pid_file(lab, host))


def restart_holder(lab, host):
    """A new holder for HOST after stop_holder(): the same network namespace,
    fresh mount and UTS namespaces over the same overlays (what the host
    wrote under /etc, /var/lib, /opt and /usr/local is back; /run starts
    empty, as after a reboot).  Returns its PID."""
    state = load_state(lab)
    if not state or host not in state["hosts"]:
        raise LabError("no host %r in lab %s" % (host, lab))
    h = state["hosts"][host]
    if holder_alive(h.get("pid") or 0):
        raise LabError("host %s of lab %s is running (pid %d)" % (host, lab, h["pid"]))
    h["pid"] = start_holder(lab, host, h)
    save_state(state)
    return h["pid"]


def readdress(lab, host, address):
    """Move lab host HOST's underlay address (eth0) to ADDRESS, a free one of
    the lab's underlay: a node whose IP changes.  The new address comes first
    and the old one goes with promote_secondaries on, so the connected and
    default routes stay; the lab's state follows (BIRD's router id, what a
    restarted holder writes to /etc/hosts)."""
    state = load_state(lab)
    if not state or host not in state["hosts"]:
        raise LabError("no host %r in lab %s" % (host, lab))
    h = state["hosts"][host]
    old = h["node_ip"]
    prefix = _eth0_prefix(h["netns"], old)
    new = _addr(address, "host %s: new address" % host)
    underlay = ipaddress.ip_interface("%s/%d" % (old, prefix)).network
    if new not in underlay or new in (underlay[0], underlay[-1]):
        raise LabError("host %s: %s is not a host address of the underlay %s" % (host, new, underlay))
    if str(new) in {x["node_ip"] for x in state["hosts"].values()}:
        raise LabError("host %s: %s is already a lab host's address" % (host, new))
    ns = h["netns"]
    run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.conf.eth0.promote_secondaries=1"])
    ip("addr", "add", "%s/%d" % (new, prefix), "dev", "eth0", ns=ns)
    ip("addr", "del", "%s/%d" % (old, prefix), "dev", "eth0", ns=ns)
    h["node_ip"] = str(new)
    save_state(state)
    return old


def _eth0_prefix(ns, address):
    """The prefix length of ADDRESS on eth0 in namespace NS."""
    for info in json.loads(ip("-json", "-4", "addr", "show", "dev", "eth0", ns=ns).stdout or "[]"):
        for a in info.get("addr_info", []):
            if a.get("local") == address:
                return int(a["prefixlen"])
    raise LabError("%s has no address %s on eth0" % (ns, address))


CNI_PATH = "/usr/lib/cni"
CNI_CONFLIST = "/etc/cni/net.d/10-podnet.conflist"


def host_file(state, host, path):
    """Read PATH as lab host HOST sees it (its own mount namespace), or None."""
    proc = run(enter(state, host) + ["cat", "--", path], check=False)
    return proc.stdout if proc.returncode == 0 else None


def cni_run(h, c, conflist, command):
    """Run the conflist's plugin chain (CNI ADD, or DEL in reverse order) for
    container C inside host H; ADD's result.

    The plugins run in the host's network and mount namespaces (so host-local
    keeps its leases in the host's /var/lib); the container's namespace is
    handed over as an inherited file descriptor, since the host's private
    /run does not show the controller's /run/netns.
    """
    fd = os.open(os.path.join("/run/netns", c["netns"]), os.O_RDONLY)
    try:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command,
               "CNI_CONTAINERID": "podnet-lab-%s" % c["netns"], "CNI_NETNS": "/proc/self/fd/%d" % fd,
               "CNI_IFNAME": "eth0", "CNI_PATH": CNI_PATH}
        if c.get("ip"):
            env["CNI_ARGS"] = "IgnoreUnknown=1;IP=%s" % c["ip"]
        prev = None
        plugins = conflist["plugins"] if command == "ADD" else list(reversed(conflist["plugins"]))
        for plugin in plugins:
            conf = dict(plugin, cniVersion=conflist["cniVersion"], name=conflist["name"])
            if "portMappings" in (plugin.get("capabilities") or {}):
                conf["runtimeConfig"] = {"portMappings": []}
            if prev is not None:
                conf["prevResult"] = prev
            proc = subprocess.run(
                ["nsenter", "-t", str(h["pid"]), "-n", "-m", "--", os.path.join(CNI_PATH, plugin["type"])],
                input=json.dumps(conf), capture_output=True, text=True, env=env, pass_fds=(fd,), check=False)
            if proc.returncode != 0:
                raise LabError("CNI %s %s plugin failed for %s: %s" % (
                    command, plugin["type"], c["netns"], proc.stdout.strip() or proc.stderr.strip()))
            if command == "ADD":
                prev = json.loads(proc.stdout)
        return prev
    finally:
        os.close(fd)


def attach_by_hand(h, c, bridge, mtu):
    ip("link", "add", c["veth"], "mtu", str(mtu), "type", "veth", "peer", "name", "eth0",
       "netns", c["netns"], ns=h["netns"])
    ip("link", "set", c["veth"], "master", bridge, "up", ns=h["netns"])
    ip("addr", "add", "%s/%d" % (c["ip"], c["prefixlen"]), "dev", "eth0", ns=c["netns"])
    ip("link", "set", "eth0", "up", ns=c["netns"])
    ip("route", "add", "default", "via", c["gateway"], "dev", "eth0", ns=c["netns"])


def attach(desc, state, use_cni="auto"):
    """Wire each container to its host's bridge: with CNI's own plugins and the
    host's podnet conflist when both are there (use_cni auto), else by hand
    the way the bridge plugin does it."""
    for cname, c in desc["containers"].items():
        if cname in state["containers"]:
            continue
        h = state["hosts"].get(c["host"])
        if not h:
            raise LabError("container %s: host %s is not up" % (cname, c["host"]))
        bridge = desc["hosts"][c["host"]]["bridge"]
        link = ip("-json", "link", "show", "dev", bridge, ns=h["netns"], check=False)
        if link.returncode != 0:
            raise LabError("host %s has no %s yet: run site.yml first" % (c["host"], bridge))
        mtu = json.loads(link.stdout)[0]["mtu"]
        conflist = None
        if use_cni != "never":
            text = host_file(state, c["host"], CNI_CONFLIST)
            if text and os.path.exists(os.path.join(CNI_PATH, "bridge")):
                conflist = json.loads(text)
            elif use_cni == "always" or not c.get("ip"):
                raise LabError("container %s needs CNI, and host %s has no %s or there are no CNI plugins in %s"
                               % (cname, c["host"], CNI_CONFLIST, CNI_PATH))
        if netns_exists(c["netns"]):
            raise LabError("network namespace %s exists but this lab did not make it" % c["netns"])
        ip("netns", "add", c["netns"])
        c = dict(c, attached_by="cni" if conflist else "hand")
        state["containers"][cname] = c
        save_state(state)
        ip("link", "set", "lo", "up", ns=c["netns"])
        if conflist:
            # Kept for detach, which must work after reset removed the file.
            c["conflist"] = conflist
            result = cni_run(h, c, conflist, "ADD")
            c["ips"] = [i["address"].split("/")[0] for i in result.get("ips", [])]
        else:
            attach_by_hand(h, c, bridge, mtu)
            c["ips"] = [c["ip"]]
        state["containers"][cname] = c
        save_state(state)
    return state


def detach(state, names):
    """Take containers NAMES (all when empty) off their hosts, the way a
    runtime deletes a container: CNI DEL (releasing its host-local lease)
    for those attached through CNI, then their network namespace."""
    unknown = sorted(set(names) - set(state["containers"]))
    if unknown:
        raise LabError("no container %s in lab %s" % (", ".join(unknown), state["lab"]))
    for cname in sorted(names or state["containers"]):
        c = state["containers"][cname]
        if c.get("attached_by") == "cni" and netns_exists(c["netns"]):
            cni_run(state["hosts"][c["host"]], c, c["conflist"], "DEL")
        if netns_exists(c["netns"]):
            ip("netns", "del", c["netns"])
        del state["containers"][cname]
        save_state(state)
    return state


def down(lab):
    state = load_state(lab)
    if not state:
        print("lab %s is not up" % lab)
        return
    problems = []
    for key, daemon in sorted(state.get("daemons", {}).items()):
        try:
            if end_daemon(daemon):
                print("stopped %s (pid %d), left running by its starter" % (key, daemon["pid"]))
        except LabError as exc:
            problems.append(str(exc))
    for cname, c in sorted(state.get("containers", {}).items()):
        if netns_exists(c["netns"]):
            ip("netns", "del", c["netns"], check=False)
    for host, h in sorted(state.get("hosts", {}).items()):
        end_holder(h.get("pid"))
        left = ip("netns", "pids", h["netns"], check=False).stdout.split() \
            if netns_exists(h["netns"]) else []
        if left:
            problems.append("processes %s not started by the lab are still in %s; "
                            "left running" % (", ".join(left), h["netns"]))
        if netns_exists(h["netns"]):
            ip("netns", "del", h["netns"], check=False)
    if state.get("switch") and netns_exists(state["switch"]):
        ip("netns", "del", state["switch"], check=False)
    # Wait for the unshare parents (they exit with their holder).
    shutil.rmtree(state_dir(lab), ignore_errors=True)
    try:
        os.rmdir(STATE_ROOT)  # only when no other lab is up
    except OSError:
        pass
    for p in problems:
        print("warning: " + p, file=sys.stderr)
    print("lab %s is down" % lab)


# --------------------------------------------------------------------------
# looking at it


def show_routes(state):
    for host in sorted(state["hosts"]):
        print("=== %s: ip route" % host)
        # Inside the host's mount namespace too: route protocol names come
        # from the host's own /etc/iproute2.
        print(run(enter(state, host) + ["ip", "route", "show"]).stdout.rstrip())
        print()


def ping_all(state, count=1, timeout=2):
    names = sorted(state["containers"])
    pairs = [(a, b, dst) for a in names for b in names if a != b
             for dst in state["containers"][b]["ips"]]
    if not pairs:
        raise LabError("no containers are attached: run 'attach' after site.yml")

    def one(pair):
        a, b, dst = pair
        proc = run(["ip", "netns", "exec", state["containers"][a]["netns"], "ping", "-n", "-q",
                    "-c", str(count), "-W", str(timeout), dst], check=False)
        m = re.search(r"= [\d.]+/([\d.]+)/", proc.stdout)
        return pair, proc.returncode == 0, (m.group(1) if m else None)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, pairs))
    ok = 0
    for (a, b, dst), good, rtt in results:
        ca, cb = state["containers"][a], state["containers"][b]
        where = "same host" if ca["host"] == cb["host"] else "%s -> %s" % (ca["host"], cb["host"])
        print("%s %-11s -> %-11s %-24s (%s)%s" % ("ok  " if good else "FAIL", a, b, dst, where,
                                                  " %s ms" % rtt if rtt else ""))
        ok += good
    print("%d/%d pings succeeded" % (ok, len(results)))
    return ok == len(results)


def lab_of(args):
    if args.lab:
        return args.lab, None
    desc = describe(args.inventory)
    return desc["lab"], desc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("command", choices=["up", "attach", "detach", "routes", "ping", "shell", "status",
                                            "down", "exec"])
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.add_argument("-i", "--inventory", default=os.path.join(HERE, "..", "inventories", "lab"))
    parser.add_argument("--lab", help="lab name (down/status without an inventory)")
    parser.add_argument("--cni", choices=["auto", "always", "never"], default="auto",
                        help="attach: use CNI's plugins with the host's podnet conflist (default: when present)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces)")
    try:
        if args.command == "up":
            up(describe(args.inventory))
        elif args.command == "down":
            down(lab_of(args)[0])
        else:
            lab, desc = lab_of(args)
            state = load_state(lab)
            if not state:
                raise LabError("lab %s is not up: run 'up' first" % lab)
            if args.command == "attach":
                attach(desc or describe(args.inventory), state, args.cni)
            elif args.command == "detach":
                detach(state, args.rest)
            elif args.command == "routes":
                show_routes(state)
            elif args.command == "ping":
                return 0 if ping_all(state) else 1
            elif args.command == "status":
                print(json.dumps(state, indent=2, sort_keys=True))
            elif args.command in ("shell", "exec"):
                if not args.rest:
                    raise LabError("name a host (one of %s)" % ", ".join(sorted(state["hosts"])))
                host, cmd = args.rest[0], args.rest[1:]
                if cmd and cmd[0] == "--":
                    cmd = cmd[1:]
                target = enter(state, host)
                cmd = cmd or [os.environ.get("SHELL", "/bin/bash")]
                os.execvp(target[0], target + cmd)
    except LabError as exc:
        print("lab: %s" % exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

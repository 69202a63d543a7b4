"""The reconcile command as site.yml installs it, on the seed topology (two
hosts, four containers; issue 8): its files on the host are the engine's
own, byte for byte; a simulated reboot - the pods stopped, cni0, our
routes and our nftables table gone, /etc kept - is repaired by running
exactly what the installed boot unit's ExecStart= says, inside the host,
and every pod pair pings again; a second run changes and prints nothing.
After reset.yml the command, its engine, the units and the state file are
gone, and the same boot brings back nothing.  The units pass
``systemd-analyze verify``; the opt-in watcher repairs a link flap by
itself.

A lab host has no systemd (its /run is a fresh tmpfs), so the role writes
the links ``systemctl enable`` would make and starts nothing.
"""

import hashlib
import os
import shlex
import shutil
import uuid

import pytest

import hostgw_lab
from tests.conftest import REPO
from tests.integration.labkit import STATE_ROOT, Lab, recap, seed_inventory, wait_for

pytestmark = pytest.mark.integration

ENGINE = os.path.join(REPO, "plugins", "module_utils", "_hostgw")
COMMAND = "/usr/local/sbin/podnet-hostgw-reconcile"
WATCH_COMMAND = "/usr/local/sbin/podnet-hostgw-reconcile-watch"
LIB = "/usr/local/lib/podnet-hostgw"
UNIT_DIR = "/etc/systemd/system"
SERVICE = "podnet-hostgw-reconcile.service"
TIMER = "podnet-hostgw-reconcile.timer"
WATCH = "podnet-hostgw-reconcile-watch.service"
LINKS = {SERVICE: "multi-user.target.wants", TIMER: "timers.target.wants", WATCH: "multi-user.target.wants"}
STATE_FILE = "/etc/podnet/hostgw-state.json"
RESET = ("-e", "hostgw_reset_confirmed=true")
HOSTS = ("host1", "host2")
TIMEOUT = 900


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    name = "hgwri%s" % uuid.uuid4().hex[:4]
    the_lab = Lab(name, str(tmp_path_factory.mktemp("install")), inventory=seed_inventory(name))
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


def converge(lab, *extra):
    changed = recap(lab.site(lab.good_path, *extra, timeout=TIMEOUT))
    assert set(recap(lab.site(lab.good_path, *extra, timeout=TIMEOUT)).values()) == {0}
    return changed


def cat(lab, host, path):
    proc = lab.on(host, "cat", "--", path)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def exists(lab, host, path):
    return lab.on(host, "test", "-e", path).returncode == 0 or lab.on(host, "test", "-L", path).returncode == 0


def exec_start(unit_text):
    """The argv of a unit's ExecStart= line, as systemd splits it (our
    values have no quotes or specifiers: the module refuses them)."""
    lines = [line for line in unit_text.splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1, unit_text
    return shlex.split(lines[0][len("ExecStart="):])


def boot(lab, host):
    """What the boot unit runs, run inside HOST as systemd would: the argv
    of the installed unit's ExecStart= line."""
    argv = exec_start(cat(lab, host, os.path.join(UNIT_DIR, SERVICE)))
    return lab.on(host, *argv)


def power_cycle(lab, host):
    """A reboot as the kernel sees it, keeping /etc, /var/lib and /usr/local:
    the pods are stopped (CNI DEL, as a runtime does at shutdown), then cni0,
    the routes tagged hostgw and the nftables table go, and /run's lock file."""
    state = lab.state()
    hostgw_lab.detach(state, [name for name, c in state["containers"].items() if c["host"] == host])
    for argv in (("ip", "link", "del", "cni0"),
                 ("ip", "-4", "route", "flush", "proto", "hostgw"),
                 ("ip", "-6", "route", "flush", "proto", "hostgw"),
                 ("nft", "delete", "table", "inet", "podnet_hostgw"),
                 ("rm", "-f", "/run/lock/podnet-hostgw.lock")):
        proc = lab.on(host, *argv)
        assert proc.returncode == 0, (argv, proc.stderr)
    out = lab.on(host, "ip", "route", "show", "proto", "hostgw").stdout
    assert out == "" and "cni0" not in lab.on(host, "ip", "-o", "link").stdout
    assert "podnet_hostgw" not in lab.on(host, "nft", "list", "tables").stdout


def pings(lab):
    proc = lab.cli("ping", check=False)
    return proc.returncode, proc.stdout


def children(pid):
    """The command lines of PID's child processes."""
    out = []
    with open("/proc/%d/task/%d/children" % (pid, pid)) as fh:
        for child in fh.read().split():
            try:
                with open("/proc/%s/cmdline" % child, "rb") as cmd:
                    out.append(cmd.read().split(b"\0"))
            except OSError:
                continue
    return out


def test_installed_files_are_the_engines_own_and_enabled_the_systemctl_way(lab):
    converge(lab)
    for host in HOSTS:
        record = cat(lab, host, os.path.join(LIB, "installed")).splitlines()
        assert record[0].startswith("# Managed by podnet.hostgw: ")
        installed = sorted(line.split(" ", 1)[1] for line in record if line.startswith("file "))
        package = os.path.join(LIB, "podnet_hostgw") + "/"
        assert installed and all(path.startswith(package) for path in installed)
        rel = [path[len(package):] for path in installed]
        for needed in ("__init__.py", "reconcile.py", "state.py", "routes/plan.py", "watch.py"):
            assert needed in rel
        for name in rel:
            with open(os.path.join(ENGINE, name), "rb") as fh:
                want = fh.read()
            got = lab.on(host, "sha256sum", package + name).stdout.split()[0]
            assert got == hashlib.sha256(want).hexdigest(), name
        script = cat(lab, host, COMMAND)
        interpreter = script.splitlines()[0]
        assert interpreter.startswith("#!/") and interpreter.endswith(" -I")
        assert lab.on(host, "test", "-x", COMMAND).returncode == 0
        for unit, target in LINKS.items():
            link = os.path.join(UNIT_DIR, target, unit)
            if unit == WATCH:
                assert not exists(lab, host, link) and not exists(lab, host, os.path.join(UNIT_DIR, WATCH))
                continue
            assert lab.on(host, "readlink", link).stdout.strip() == os.path.join(UNIT_DIR, unit)
        assert "OnUnitActiveSec=10s" in cat(lab, host, os.path.join(UNIT_DIR, TIMER))
        # By hand: --check on a converged host says nothing.
        proc = lab.on(host, COMMAND, "--check")
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_simulated_reboot_is_repaired_by_the_boot_unit_and_every_pod_pair_pings(lab):
    converge(lab)
    lab.cli("attach")
    rc, out = pings(lab)
    assert rc == 0 and "12/12 pings succeeded" in out, out
    converged = lab.snapshot()

    for host in HOSTS:
        power_cycle(lab, host)
    assert lab.state()["containers"] == {}, "the pods are gone before the boot"

    for host in HOSTS:
        proc = boot(lab, host)
        assert proc.returncode == 0, (host, proc.stdout, proc.stderr)
        assert proc.stderr == ""
        lines = proc.stdout.splitlines()
        assert "bridge cni0: created" in lines
        assert "bridge cni0: address %s added" % ("192.168.0.1/24" if host == "host1" else "192.168.1.1/24") in lines
        peer = "192.168.1.0/24 via 10.168.0.2" if host == "host1" else "192.168.0.0/24 via 10.168.0.1"
        assert [line for line in lines if line.startswith("route %s dev eth0" % peer)], lines
        assert "nftables table inet podnet_hostgw: re-created" in lines

    lab.cli("attach")                      # the runtime starts the pods again
    rc, out = pings(lab)
    assert rc == 0 and "12/12 pings succeeded" in out, out

    after = lab.snapshot()
    for host in HOSTS:
        again = boot(lab, host)
        assert (again.returncode, again.stdout, again.stderr) == (0, "", ""), host
    assert lab.snapshot() == after, "a second boot run changed something"
    for host in HOSTS:
        assert after[host]["nft"] == converged[host]["nft"]
        assert sorted(after[host]["routes4"].splitlines()) == sorted(converged[host]["routes4"].splitlines())
    assert set(recap(lab.site(lab.good_path, timeout=TIMEOUT)).values()) == {0}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (Debian's systemd package has it)")
def test_units_pass_systemd_analyze_verify(lab, tmp_path):
    converge(lab, "-e", "hostgw_reconcile_watch=true")
    units = [os.path.join(UNIT_DIR, name) for name in (SERVICE, TIMER, WATCH)]
    # Inside the host, where the ExecStart= commands exist (verify checks them).
    proc = lab.on("host1", "systemd-analyze", "verify", *units)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    # The check can fail: a unit with a bad value is reported.
    broken = cat(lab, "host1", units[1]).replace("OnUnitActiveSec=10s", "OnUnitActiveSec=ten")
    lab.write_file("host1", "/etc/systemd/system/podnet-hostgw-broken.timer", broken)
    try:
        proc = lab.on("host1", "systemd-analyze", "verify", "/etc/systemd/system/podnet-hostgw-broken.timer")
        assert "Failed to parse" in proc.stderr
    finally:
        lab.on("host1", "rm", "-f", "/etc/systemd/system/podnet-hostgw-broken.timer")
    converge(lab)
    assert not exists(lab, "host1", units[2]) and not exists(lab, "host1", WATCH_COMMAND)


def test_the_watcher_repairs_a_link_flap_by_itself(lab):
    converge(lab, "-e", "hostgw_reconcile_watch=true")
    argv = exec_start(cat(lab, "host1", os.path.join(UNIT_DIR, WATCH)))
    # The kernel runs the script with its #! line; so does the daemon here.
    shebang = shlex.split(cat(lab, "host1", argv[0]).splitlines()[0][2:])
    route = "192.168.1.0/24 via 10.168.0.2 dev eth0 proto hostgw"
    daemon = hostgw_lab.start_daemon(lab.state(), "host1", "watch", shebang + argv)
    try:
        wait_for(lambda: any(b"monitor" in argv for argv in children(daemon["pid"])), 60,
                 "the watcher's ip monitor")
        assert lab.on("host1", "ip", "link", "set", "eth0", "down").returncode == 0
        assert route not in lab.on("host1", "ip", "route", "show").stdout
        assert lab.on("host1", "ip", "link", "set", "eth0", "up").returncode == 0
        wait_for(lambda: route in lab.on("host1", "ip", "route", "show").stdout, 60,
                 "the watcher putting back %s" % route)
    finally:
        hostgw_lab.stop_daemon(lab.state(), "host1", "watch")
    log = open(os.path.join(hostgw_lab.state_dir(lab.lab), "host1-watch.log")).read()
    assert "route 192.168.1.0/24 via 10.168.0.2 dev eth0" in log, log
    converge(lab)


def test_hostgw_reconcile_false_removes_it_and_reset_leaves_nothing_a_boot_could_run(lab):
    converge(lab)
    unit_text = cat(lab, "host1", os.path.join(UNIT_DIR, SERVICE))
    off = converge(lab, "-e", "hostgw_reconcile=false")
    assert off == {"host1": 1, "host2": 1}
    for host in HOSTS:
        for path in (COMMAND, LIB, os.path.join(UNIT_DIR, SERVICE), os.path.join(UNIT_DIR, TIMER),
                     os.path.join(UNIT_DIR, LINKS[TIMER], TIMER)):
            assert not exists(lab, host, path), (host, path)
        assert exists(lab, host, STATE_FILE)
    converge(lab)

    recap(lab.site(lab.good_path, *RESET, playbook="playbooks/reset.yml", timeout=TIMEOUT))
    before_boot = lab.snapshot()
    for host in HOSTS:
        for path in (COMMAND, LIB, STATE_FILE, os.path.join(UNIT_DIR, SERVICE),
                     os.path.join(UNIT_DIR, TIMER), os.path.join(UNIT_DIR, LINKS[SERVICE], SERVICE),
                     os.path.join(UNIT_DIR, LINKS[TIMER], TIMER)):
            assert not exists(lab, host, path), (host, path)
        left = [path for path in before_boot[host]["files"]
                if "podnet" in path and ("usr_local" in path or "systemd" in path)]
        assert left == [], left
        upper = os.path.join(STATE_ROOT, lab.lab, host, "usr_local", "upper")
        assert not [d for d, _dirs, _files in os.walk(upper) if "podnet" in os.path.relpath(d, upper)], \
            "a directory of ours is left"
    argv = exec_start(unit_text)
    for host in HOSTS:
        proc = lab.on(host, *argv)
        assert proc.returncode != 0 and "No such file" in proc.stderr, (proc.returncode, proc.stderr)
    assert lab.snapshot() == before_boot


def test_a_file_of_someone_else_at_the_commands_path_stops_the_preflight(lab):
    converge(lab)
    foreign = "#!/bin/sh\n# the admin's own podnet-hostgw-reconcile\nexit 0\n"
    lab.write_file("host2", COMMAND, foreign)
    try:
        before = lab.snapshot()
        proc = lab.site(lab.good_path, timeout=TIMEOUT)
        assert proc.returncode != 0
        assert ("host2: %s is not the collection's (no '# Managed by podnet.hostgw' line at its top): the "
                "reconcile role would install its own there; move it away, or set hostgw_reconcile: false"
                % COMMAND) in proc.stdout, proc.stdout[-3000:]
        assert lab.snapshot() == before, "a host was changed"
        assert cat(lab, "host2", COMMAND) == foreign
    finally:
        lab.on("host2", "rm", "-f", COMMAND)
    converge(lab)

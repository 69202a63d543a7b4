"""The reconcile command on a real lab (issue 8): site.yml converges the
lab and writes each host's state file; then the host loses things the way
hosts do, and one run of the command, inside the lab host, from the
checkout's engine, puts back exactly what was there.

Every repair case compares the host with the snapshot of the converged
host (labkit's: routes of every table, links, addresses, nftables,
forwarding, the files under the host's overlays) and checks that a second
run prints nothing and changes nothing.  A re-created ``cni0`` gets a new
ifindex and MAC address; those comparisons leave both out.

The command runs as ``python -c "... reconcile import main; sys.exit(main())"``
through ``Lab.on`` (the host's network, mount and UTS namespaces: its own
/etc, /run and host lock).
"""

import difflib
import json
import os
import re
import sys
import time
import uuid

import pytest

import hostgw_lab
from tests.conftest import COLLECTIONS
from tests.integration.labkit import Lab, recap, wait_for

pytestmark = pytest.mark.integration

STATE_FILE = "/etc/podnet/hostgw-state.json"      # hostgw_state_path's default
RESET = ("-e", "hostgw_reset_confirmed=true")
RECONCILE = ("import sys; sys.path.insert(0, %r); from ansible_collections.podnet.hostgw.plugins."
             "module_utils._hostgw.reconcile import main; sys.exit(main())" % COLLECTIONS)
# The loop of the concurrency test: the command again and again, one JSON
# line per run on standard output, until SIGTERM (then after the current run).
LOOP = """
import json, signal, subprocess, sys, time
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
while not stop:
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", sys.argv[1]], capture_output=True, text=True)
    print(json.dumps({"start": start, "end": time.time(), "rc": proc.returncode,
                      "out": proc.stdout, "err": proc.stderr}), flush=True)
    time.sleep(0.05)
"""
HOSTS = ("host1", "host2", "host3")
DEFAULT_ROUTE = ("ip", "route", "add", "default", "via", "10.168.0.254", "dev", "eth0")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    the_lab = Lab("hgwrc%s" % uuid.uuid4().hex[:4], str(tmp_path_factory.mktemp("reconcile")))
    the_lab.up()
    try:
        recap(the_lab.site(the_lab.good_path))
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture(scope="module")
def converged(lab):
    return lab.snapshot()


@pytest.fixture(autouse=True)
def starts_converged(lab, converged):
    """Every test starts on the converged lab (site.yml again if an earlier
    test left it otherwise)."""
    if comparable(lab.snapshot()) != comparable(converged):
        recap(lab.site(lab.good_path))
    assert_same(comparable(lab.snapshot()), comparable(converged))


def reconcile(lab, host, *args):
    return lab.on(host, sys.executable, "-c", RECONCILE, *args)


def ok(lab, host, *args):
    proc = reconcile(lab, host, *args)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr == ""
    return proc.stdout.splitlines()


def comparable(snap):
    """SNAP in an order of its own: the lines of every listing sorted (a
    link that goes down and up gets its kernel routes back in another
    order), without what a re-created link changes by itself: its ifindex
    and MAC address."""
    out = {}
    for host, s in snap.items():
        s = dict(s)
        s["routes4"] = sorted(s["routes4"].splitlines())
        s["links"] = sorted(re.sub(r"link/ether \S+ brd \S+", "link/ether -",
                                   re.sub(r"^\d+: ", "", line))
                            for line in s["links"].splitlines())
        s["addrs"] = sorted(re.sub(r"^\d+: ", "", line) for line in s["addrs"])
        s["routes6"] = sorted(s["routes6"])
        out[host] = s
    return out


def _lines(value):
    if isinstance(value, dict):
        return ["%s %s" % item for item in sorted(value.items())]
    return [str(x) for x in value] if isinstance(value, list) else str(value).splitlines()


def differences(now, expected):
    """Where two snapshots differ, as unified diffs per host and key."""
    out = []
    for host in sorted(set(now) | set(expected)):
        for key in sorted(set(now.get(host, {})) | set(expected.get(host, {}))):
            a, b = expected.get(host, {}).get(key), now.get(host, {}).get(key)
            if a != b:
                out.append("%s %s:\n%s" % (host, key, "\n".join(difflib.unified_diff(
                    _lines(a), _lines(b), "expected", "now", lineterm=""))))
    return "\n".join(out)


def assert_same(now, expected):
    assert now == expected, differences(now, expected)


def assert_restored(lab, host, converged):
    """The lab is as converged; a second run on HOST prints nothing and
    changes nothing."""
    now = lab.snapshot()
    assert_same(comparable(now), comparable(converged))
    assert ok(lab, host) == []
    assert_same(lab.snapshot(), now)


def run_on(lab, host, *argv):
    proc = lab.on(host, *argv)
    assert proc.returncode == 0, (argv, proc.stderr)
    return proc.stdout


# ------------------------------------------------------------------ repairs --

def test_converged_host_prints_nothing_and_changes_nothing(lab, converged):
    for host in HOSTS:
        assert ok(lab, host) == []
    assert_same(lab.snapshot(), converged)
    assert "routes: 2 as wanted (proto 252/hostgw)" in ok(lab, "host1", "--verbose")


def test_link_flap_on_the_underlay_is_restored_by_one_run(lab, converged):
    run_on(lab, "host1", "ip", "link", "set", "eth0", "down")
    run_on(lab, "host1", "ip", "link", "set", "eth0", "up")
    assert "proto hostgw" not in run_on(lab, "host1", "ip", "route", "show")
    run_on(lab, "host1", *DEFAULT_ROUTE)          # the host's own network config does this part
    assert ok(lab, "host1") == [
        "route 192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0: added",
        "route 192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0: added"]
    assert_restored(lab, "host1", converged)


def test_underlay_address_removed_and_readded_is_restored_by_one_run(lab, converged):
    run_on(lab, "host2", "ip", "addr", "del", "10.168.0.2/24", "dev", "eth0")
    run_on(lab, "host2", "ip", "addr", "add", "10.168.0.2/24", "dev", "eth0")
    run_on(lab, "host2", *DEFAULT_ROUTE)
    assert ok(lab, "host2") == [
        "route 192.168.0.0/24 via 10.168.0.1 dev eth0 table main metric 0: added",
        "route 192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0: added"]
    assert_restored(lab, "host2", converged)


def test_cni0_address_removed_by_hand_is_restored_by_one_run(lab, converged):
    run_on(lab, "host3", "ip", "addr", "del", "192.168.2.1/24", "dev", "cni0")
    assert ok(lab, "host3") == ["bridge cni0: address 192.168.2.1/24 added"]
    assert_restored(lab, "host3", converged)


def test_cni0_deleted_is_restored(lab, converged):
    run_on(lab, "host1", "ip", "link", "del", "cni0")
    assert ok(lab, "host1") == ["bridge cni0: created", "bridge cni0: address 192.168.0.1/24 added"]
    assert_restored(lab, "host1", converged)


def test_our_nft_table_dropped_is_restored(lab, converged):
    run_on(lab, "host2", "nft", "delete", "table", "inet", "podnet_hostgw")
    assert ok(lab, "host2") == ["nftables table inet podnet_hostgw: re-created"]
    assert_restored(lab, "host2", converged)


def test_simulated_reboot_of_everything_of_ours(lab, converged):
    """No cni0, none of our routes, no table: all of it back in one run."""
    run_on(lab, "host1", "ip", "link", "del", "cni0")
    run_on(lab, "host1", "ip", "route", "flush", "proto", "hostgw")
    run_on(lab, "host1", "nft", "delete", "table", "inet", "podnet_hostgw")
    assert ok(lab, "host1") == [
        "bridge cni0: created", "bridge cni0: address 192.168.0.1/24 added",
        "route 192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0: added",
        "route 192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0: added",
        "nftables table inet podnet_hostgw: re-created"]
    assert_restored(lab, "host1", converged)


# ------------------------------------------------------------- foreign state --

FOREIGN_ROUTES = (
    [("ip", "route", "add", "198.51.100.%d/32" % i, "via", "10.168.0.254", "dev", "eth0",
      "proto", proto) for i, proto in enumerate(["static", "bird", "boot", "dhcp", "zebra"] * 4)]
    + [("ip", "route", "add", "203.0.113.%d/32" % i, "via", "10.168.0.%d" % (i + 2), "dev", "eth0",
        "table", str(100 + i % 3), "proto", "static") for i in range(12)]
    # our own tag, in another table: not ours to touch either
    + [("ip", "route", "add", "192.168.%d.0/24" % i, "via", "10.168.0.2", "dev", "eth0",
        "table", "100", "proto", "252") for i in range(1, 4)]
    # the same prefix as a peer route, with another metric
    + [("ip", "route", "add", "192.168.1.0/24", "via", "10.168.0.3", "dev", "eth0", "metric", "100",
        "proto", "static"),
       ("ip", "route", "add", "192.168.2.0/24", "dev", "eth0", "metric", "200", "proto", "bird")]
    + [("ip", "-6", "route", "add", "fd00:99:%d::/64" % i, "dev", "eth0", "proto", "static")
       for i in range(11)]
    # inside the cluster CIDR, and one of our tag the state file does not list
    + [("ip", "route", "add", "192.168.200.0/24", "via", "10.168.0.254", "dev", "eth0", "proto", "static"),
       ("ip", "route", "add", "192.168.250.0/24", "via", "10.168.0.3", "dev", "eth0", "proto", "252")]
)
FOREIGN_NFT = """table inet foreign_fw {
\tchain input {
\t\ttype filter hook input priority 10; policy accept;
\t\tip saddr 198.51.100.0/24 counter drop
\t}
}
"""
FOREIGN_IPT = [("iptables", "-N", "FOREIGN-CHAIN"),
               ("iptables", "-A", "FOREIGN-CHAIN", "-s", "203.0.113.0/24", "-j", "DROP"),
               ("iptables", "-A", "INPUT", "-j", "FOREIGN-CHAIN"),
               ("iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "172.31.0.0/16", "-j", "MASQUERADE")]


def foreign_view(lab, host):
    """What is not ours on HOST: every route of every table (ours are put
    back by the runs below, so all of it), nft ruleset without our table,
    iptables-save without comments and counters."""
    routes = run_on(lab, host, "ip", "-4", "route", "show", "table", "all") + "".join(
        line + "\n" for line in run_on(lab, host, "ip", "-6", "route", "show", "table", "all").splitlines()
        if "fe80:" not in line)
    nft = run_on(lab, host, "nft", "list", "ruleset")
    ours = nft.find("table inet podnet_hostgw {")
    if ours >= 0:
        nft = nft[:ours] + nft[nft.index("\n}\n", ours) + 3:]
    ipt = [line for line in run_on(lab, host, "iptables-save").splitlines() if not line.startswith("#")]
    ipt = [re.sub(r" \[\d+:\d+\]$", "", line) for line in ipt]
    return routes, nft, ipt


def test_foreign_state_is_byte_identical_after_every_run(lab, converged):
    assert len(FOREIGN_ROUTES) == 50
    tables = set(run_on(lab, "host1", "nft", "list", "tables").splitlines())
    for argv in FOREIGN_ROUTES:
        run_on(lab, "host1", *argv)
    hostgw_lab.run(hostgw_lab.enter(lab.state(), "host1") + ["nft", "-f", "-"], data=FOREIGN_NFT)
    for argv in FOREIGN_IPT:
        run_on(lab, "host1", *argv)
    before = foreign_view(lab, "host1")
    try:
        assert ok(lab, "host1") == []
        assert foreign_view(lab, "host1") == before
        # break ours, repair, compare; then converged again
        run_on(lab, "host1", "ip", "route", "del", "192.168.1.0/24", "proto", "hostgw")
        run_on(lab, "host1", "nft", "delete", "table", "inet", "podnet_hostgw")
        assert ok(lab, "host1") == [
            "route 192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0: added",
            "nftables table inet podnet_hostgw: re-created"]
        assert foreign_view(lab, "host1") == before
        assert ok(lab, "host1") == []
        assert foreign_view(lab, "host1") == before
    finally:
        for argv in reversed(FOREIGN_IPT):
            undo = list(argv)
            if "-N" in undo:
                undo[undo.index("-N")] = "-X"
            else:
                undo[undo.index("-A")] = "-D"
            lab.on("host1", *undo)
        # iptables-nft left its (empty) tables behind
        for table in set(run_on(lab, "host1", "nft", "list", "tables").splitlines()) - tables:
            lab.on("host1", "nft", "delete", *table.split())
        for argv in FOREIGN_ROUTES:
            lab.on("host1", *[("del" if word == "add" else word) for word in argv])
    assert_same(comparable(lab.snapshot()), comparable(converged))


# ---------------------------------------------------------- netlink writes --

class Monitor:
    """``ip monitor all`` on a lab host, recorded and stopped by its PID;
    ``events(between)`` runs BETWEEN and returns what the monitor saw
    during it, fenced by two marker links created and deleted around it."""

    def __init__(self, lab, host):
        self.lab, self.host = lab, host
        self.daemon = hostgw_lab.start_daemon(lab.state(), host, "ip-monitor", ["ip", "monitor", "all"])

    def stop(self):
        hostgw_lab.stop_daemon(self.lab.state(), self.host, "ip-monitor")

    def log(self):
        with open(self.daemon["log"]) as fh:
            return fh.read()

    def mark(self, name):
        run_on(self.lab, self.host, "ip", "link", "add", name, "type", "veth", "peer", "name", name + "p")
        run_on(self.lab, self.host, "ip", "link", "del", name)
        wait_for(lambda: all(re.search(r"\[LINK\]Deleted \d+: %s@" % n, self.log())
                             for n in (name, name + "p")),
                 30, "the monitor on %s seeing marker %s" % (self.host, name))

    def events(self, between):
        tag = uuid.uuid4().hex[:5]
        self.mark("hgwmb" + tag)
        start = len(self.log())
        between()
        self.mark("hgwme" + tag)
        seen = self.log()[start:]
        seen = seen[:seen.index("hgwme" + tag)]
        seen = seen[:seen.rfind("\n") + 1]
        # Neighbour entries change state on the kernel's own timers: not a write.
        return [line for line in seen.splitlines() if line.strip() and not line.startswith("[NEIGH]")]


def test_zero_netlink_writes_when_converged_and_the_repairs_seen(lab, converged):
    monitor = Monitor(lab, "host2")
    try:
        assert monitor.events(lambda: ok(lab, "host2")) == []
        run_on(lab, "host2", "ip", "route", "del", "192.168.0.0/24", "proto", "hostgw")
        seen = monitor.events(lambda: ok(lab, "host2"))
        assert any(line.startswith("[ROUTE]192.168.0.0/24 via 10.168.0.1 dev eth0 proto hostgw")
                   for line in seen), seen
        assert all("Deleted" not in line for line in seen), seen
        assert monitor.events(lambda: ok(lab, "host2")) == []
    finally:
        monitor.stop()
    assert_same(comparable(lab.snapshot()), comparable(converged))


# ------------------------------------------------------------- concurrency --

def loop_runs(loop):
    """The runs a reconcile loop (a start_daemon record) logged so far."""
    with open(loop["log"]) as fh:
        return [json.loads(line) for line in fh if line.startswith("{")]


def test_runs_in_a_loop_while_site_runs_and_both_finish_exactly(lab, converged):
    recap(lab.site(lab.good_path, *RESET, playbook="playbooks/reset.yml"))
    loops = {}
    try:
        for host in HOSTS:
            assert lab.on(host, "test", "-e", STATE_FILE).returncode == 1     # reset removed it
            loops[host] = hostgw_lab.start_daemon(lab.state(), host, "reconcile-loop",
                                                  [sys.executable, "-c", LOOP, RECONCILE])
        site_start = time.time()
        proc = lab.site(lab.good_path)
        site_end = time.time()
        wait_for(lambda: all(runs and runs[-1]["start"] > site_end
                             for runs in map(loop_runs, loops.values())),
                 120, "a reconcile run on every host after site.yml ended")
    finally:
        for host in loops:
            hostgw_lab.stop_daemon(lab.state(), host, "reconcile-loop", timeout=60)
    changed = recap(proc)
    assert all(count > 0 for count in changed.values()), changed
    for host in HOSTS:
        runs = loop_runs(loops[host])
        during = [r for r in runs if r["start"] < site_end and r["end"] > site_start]
        assert len(during) >= 3, (host, len(during))
        # missing state file (before the bridge task wrote it), or a repair;
        # never a failed one
        assert set(r["rc"] for r in runs) <= {0, 2}, [r for r in runs if r["rc"] not in (0, 2)]
        last = runs[-1]
        assert (last["rc"], last["out"], last["err"]) == (0, "", "")
    assert_same(comparable(lab.snapshot()), comparable(converged))
    assert set(recap(lab.site(lab.good_path)).values()) == {0}


# ---------------------------------------------------------- bad state file --

def broken_state_file(lab, host, how):
    text = run_on(lab, host, "cat", STATE_FILE)
    if how == "missing":
        run_on(lab, host, "rm", STATE_FILE)
    elif how == "truncated":
        lab.write_file(host, STATE_FILE, text[:len(text) // 2])
    else:
        lab.write_file(host, STATE_FILE, text.replace("10.168.0.2", "10.168.0.9"))
    return text


@pytest.mark.parametrize("how, problem", [
    ("missing", "does not exist"),
    ("truncated", "is not valid JSON: truncated or damaged"),
    ("corrupt", "its checksum does not match its sections: edited by hand or damaged"),
])
def test_bad_state_file_gives_the_clear_message_and_changes_nothing(lab, converged, how, problem):
    good = broken_state_file(lab, "host3", how)
    run_on(lab, "host3", "nft", "delete", "table", "inet", "podnet_hostgw")     # something to repair
    broken = lab.snapshot()
    try:
        proc = reconcile(lab, "host3")
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.startswith(
            "podnet-hostgw-reconcile: state file %s unusable, nothing was changed (1):\n  - %s"
            % (STATE_FILE, problem))
        assert "run site.yml for this host" in proc.stderr
        assert_same(lab.snapshot(), broken)
    finally:
        lab.write_file("host3", STATE_FILE, good)
    assert ok(lab, "host3") == ["nftables table inet podnet_hostgw: re-created"]
    assert_same(comparable(lab.snapshot()), comparable(converged))


def test_check_on_a_broken_host_prints_the_repairs_and_changes_nothing(lab, converged):
    run_on(lab, "host2", "ip", "addr", "del", "192.168.1.1/24", "dev", "cni0")
    run_on(lab, "host2", "ip", "route", "del", "192.168.2.0/24", "proto", "hostgw")
    run_on(lab, "host2", "nft", "delete", "table", "inet", "podnet_hostgw")
    broken = lab.snapshot()
    would = ok(lab, "host2", "--check")
    assert would == ["bridge cni0: would add address 192.168.1.1/24",
                     "route 192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0: would add",
                     "nftables table inet podnet_hostgw: would re-create"]
    assert_same(lab.snapshot(), broken)
    assert ok(lab, "host2") == ["bridge cni0: address 192.168.1.1/24 added",
                                "route 192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0: added",
                                "nftables table inet podnet_hostgw: re-created"]
    assert_same(comparable(lab.snapshot()), comparable(converged))

"""The reconcile command (_hostgw/reconcile.py) with a fake host behind the
engine's Runner: what it repairs, what it prints, its exit status, that a
converged host costs one read of each source and no write, that no batch
it builds deletes anything, and that a bad state file or a busy lock
changes nothing.  The real kernel: tests/integration/test_reconcile_lab.py.
"""

import json
import os

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import reconcile, state
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.command import Runner
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.lock import LOCK_PATH_ENV, HostLock
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.routes import desired
from tests.conftest import REPO

FIXTURES = os.path.join(REPO, "tests", "fixtures")
NAME = "podnet_hostgw"
ROUTES = [  # the own (252) routes of the ip_route_v4_main fixture
    "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0",
    "192.168.2.0/24 via 10.168.0.2 dev eth0 table main metric 100",
    "192.168.5.0/24 via 1.2.3.4 dev eth0 onlink table main metric 0",
    "192.168.6.0/24 dev eth0 table main metric 0",
    "192.168.11.5/32 via 10.168.0.2 dev eth0 table main metric 0",
]
SECTIONS = {
    # what the bridge fixtures show: cni0 up, mtu 1500, these two addresses
    "bridge": state.bridge_section("cni0", 1500, ["192.168.1.1/24", "fd00:1::1/64"]),
    "routes": state.routes_section("hostgw", 252, False, ["main"], ROUTES),
    "netfilter": state.netfilter_section(NAME, "auto", "auto", ["192.168.0.0/16"], True, True),
}

ADDR_SHOW = ("ip", "-json", "-details", "addr", "show", "dev", "cni0")
ROUTE_SHOW = ("ip", "-json", "-4", "route", "show", "table", "main")
ROUTE_SHOW6 = ("ip", "-json", "-6", "route", "show", "table", "main")
NFT_TABLE = ("nft", "-j", "list", "table", "inet", NAME)
IPT_FILTER = ("iptables", "-w", "10", "-t", "filter", "-S")
NO_CNI0 = (1, "", 'Device "cni0" does not exist.\n')


def text(name):
    with open(os.path.join(FIXTURES, name)) as fh:
        return fh.read()


def recorded(name):
    """(rc, stdout, stderr) of a recorded command fixture."""
    data = json.loads(text(name + ".json"))
    return data["rc"], data["stdout"], data["stderr"]


def bridge_dual():
    link = json.loads(text("ip_link_bridge_up.json"))
    link[0]["addr_info"] = json.loads(text("ip_addr_bridge_dual.json"))[0]["addr_info"]
    return 0, json.dumps(link), ""


def converged():
    return {ADDR_SHOW: bridge_dual(), ROUTE_SHOW: recorded("ip_route_v4_main"), ROUTE_SHOW6: (0, "[]", ""),
            NFT_TABLE: recorded("nft_own_v4"), IPT_FILTER: recorded("iptables_empty_filter"),
            ("nft", "-j", "list", "tables"): recorded("nft_tables")}


def merged(answers, changes):
    out = dict(answers)
    out.update(changes)
    return out


def main_table(keep):
    """The ip_route_v4_main fixture's routes for which KEEP(route) is true."""
    routes = [r for r in json.loads(recorded("ip_route_v4_main")[1]) if keep(r)]
    return 0, json.dumps(routes), ""


def broken():
    """No bridge, only the connected and default routes, no table."""
    return merged(converged(), {
        ADDR_SHOW: NO_CNI0, NFT_TABLE: recorded("nft_missing"),
        ROUTE_SHOW: main_table(lambda r: r.get("protocol", "boot") in ("kernel", "boot"))})


def fixed():
    """What each write makes the host answer afterwards: the converged state
    of the part it wrote."""
    now = converged()
    return {"bridge": {ADDR_SHOW: now[ADDR_SHOW]}, "routes": {ROUTE_SHOW: now[ROUTE_SHOW]},
            "nftables": {NFT_TABLE: now[NFT_TABLE]}}


class FakeHost(Runner):
    """Answers every command from ANSWERS (argv with the tool's bare name, as
    a tuple); a write (ip -batch, nft -f, *-restore) is recorded and
    answered by WRITE (a function of the argv and stdin, default success),
    after which the host answers as AFTER[part] says, part being bridge,
    routes, nftables or iptables (see fixed())."""

    WRITES = ("-batch", "-f", "--noflush")

    def __init__(self, answers, after=None, write=None):
        self.answers = dict(answers)
        self.after = after or {}
        self.write = write
        self.calls = []
        self.writes = []

    @staticmethod
    def part(args, data):
        if args[0] == "ip":
            return "routes" if data.startswith("route ") else "bridge"
        return "nftables" if args[0] == "nft" else "iptables"

    def which(self, name):
        return "/usr/sbin/" + name

    def run(self, argv, data=None):
        args = (os.path.basename(argv[0]),) + tuple(argv[1:])
        self.calls.append(args)
        if any(w in args for w in self.WRITES):
            self.writes.append((args, data))
            answer = self.write(args, data) if self.write else (0, "", "")
            self.answers.update(self.after.get(self.part(args, data), {}))
            return answer
        if args not in self.answers:
            raise AssertionError("unexpected command %r" % (args,))
        return self.answers[args]


@pytest.fixture
def host(tmp_path, monkeypatch):
    """Run the command against a fake host: ``host.run(fake, *args)`` ->
    (exit status, stdout, stderr); the state file is ``host.path``."""
    lock = str(tmp_path / "lock")
    monkeypatch.setenv(LOCK_PATH_ENV, lock)

    class Host:
        path = str(tmp_path / "hostgw-state.json")
        lock_path = lock

        def run(self, fake, *args, capsys=None):
            monkeypatch.setattr(reconcile, "SubprocessRunner", lambda: fake)
            return reconcile.main(["--state-file", self.path] + list(args))

    h = Host()
    state.write(h.path, SECTIONS)
    return h


def outputs(capsys):
    captured = capsys.readouterr()
    return captured.out, captured.err


def ip_batches(fake):
    return [data for args, data in fake.writes if args[0] == "ip"]


def assert_no_deletion(fake):
    """No batch line deletes, flushes or takes down anything; an nft script
    names only our table; iptables input only our chains."""
    for line in "".join(ip_batches(fake)).splitlines():
        words = line.split()
        assert words[1] in ("add", "replace", "set"), line
        assert "down" not in words and "flush" not in words, line
    for args, data in fake.writes:
        if args[0] == "nft":
            for line in data.splitlines():
                words = line.split()
                if words and words[0] == "delete":
                    words = words[1:]
                if words and words[0] == "table":
                    assert words[1:3] == ["inet", NAME], data
        elif args[0] != "ip":
            assert "PODNET-HOSTGW" in data, data


# ------------------------------------------------------------ converged --

def test_converged_host_reads_each_source_once_and_writes_nothing(host, capsys):
    fake = FakeHost(converged())
    assert host.run(fake) == 0
    assert outputs(capsys) == ("", "")
    assert fake.writes == []
    assert sorted(fake.calls) == sorted([ADDR_SHOW, ROUTE_SHOW, ROUTE_SHOW6, NFT_TABLE, IPT_FILTER])


def test_converged_verbose_says_what_was_checked(host, capsys):
    assert host.run(FakeHost(converged()), "--verbose") == 0
    out, err = outputs(capsys)
    assert "bridge cni0: as wanted" in out
    assert "routes: 5 as wanted" in out
    assert "netfilter podnet_hostgw: as wanted (auto: nft works)" in out
    # the fixture's identical proto static route at a wanted identity is not ours: named, left
    assert err == ""


# ------------------------------------------------------------- repairing --

REPAIRED = [
    "bridge cni0: created",
    "bridge cni0: address 192.168.1.1/24 added",
    "bridge cni0: address fd00:1::1/64 added",
] + ["route %s: added" % line for line in sorted(ROUTES)] + [
    "nftables table inet podnet_hostgw: re-created",
]


def test_broken_host_is_repaired_one_line_each_and_nothing_deleted(host, capsys):
    fake = FakeHost(broken(), after=fixed())
    assert host.run(fake) == 0
    out, err = outputs(capsys)
    assert (out.splitlines(), err) == (REPAIRED, "")
    bridge_batch, route_batch = ip_batches(fake)
    assert bridge_batch.splitlines() == [
        "link add name cni0 mtu 1501 type bridge", "link set dev cni0 mtu 1500",
        "addr add 192.168.1.1/24 brd + dev cni0", "addr add fd00:1::1/64 dev cni0",
        "link set dev cni0 up"]
    assert len(route_batch.splitlines()) == len(ROUTES)
    assert all(line.startswith("route replace ") and line.endswith(" proto 252")
               for line in route_batch.splitlines())
    assert_no_deletion(fake)


def test_check_prints_the_would_be_repairs_and_writes_nothing(host, capsys):
    fake = FakeHost(broken())
    assert host.run(fake, "--check") == 0
    out, err = outputs(capsys)
    assert err == ""
    assert out.splitlines() == [
        "bridge cni0: would create",
        "bridge cni0: would add address 192.168.1.1/24",
        "bridge cni0: would add address fd00:1::1/64",
    ] + ["route %s: would add" % line for line in sorted(ROUTES)] + [
        "nftables table inet podnet_hostgw: would re-create"]
    assert fake.writes == []


def test_altered_route_and_drifted_bits_are_repaired(host, capsys):
    answers = converged()
    routes = json.loads(answers[ROUTE_SHOW][1])
    for r in routes:
        if r["dst"] == "192.168.1.0/24" and r.get("protocol") == "252":
            r["gateway"] = "10.168.0.7"
    link = json.loads(answers[ADDR_SHOW][1])
    link[0]["mtu"] = 1400
    link[0]["addr_info"] = [a for a in link[0]["addr_info"] if a["local"] != "192.168.1.1"]
    answers.update({ROUTE_SHOW: (0, json.dumps(routes), ""), ADDR_SHOW: (0, json.dumps(link), "")})
    fake = FakeHost(answers, after=fixed())
    assert host.run(fake) == 0
    out, err = outputs(capsys)
    assert out.splitlines() == [
        "bridge cni0: mtu 1500 set (was 1400)",
        "bridge cni0: address 192.168.1.1/24 added",
        "route 192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0: repaired "
        "(via 10.168.0.7 -> 10.168.0.2)"]
    assert ip_batches(fake)[1] == ("route replace 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 "
                                   "metric 0 proto 252\n")
    assert_no_deletion(fake)


def test_iptables_backend_on_a_docker_host(host, capsys):
    answers = merged(converged(), {IPT_FILTER: recorded("iptables_filter_docker"),
                                   ("iptables", "-w", "10", "-t", "nat", "-S"):
                                   recorded("iptables_empty_nat")})
    fake = FakeHost(answers)
    assert host.run(fake, "--check") == 0
    assert outputs(capsys)[0] == "iptables chains PODNET-HOSTGW-FWD, PODNET-HOSTGW-NAT: would re-create\n"


# --------------------------------------------------------------- failures --

def failing_routes(args, data):
    if data.startswith("route "):
        return 1, "", "Error: Nexthop has invalid gateway.\nCommand failed -:1\n"
    return 0, "", ""


def test_a_failed_repair_is_named_and_the_others_still_happen(host, capsys):
    after = fixed()
    after["routes"] = {ROUTE_SHOW: main_table(lambda r: r["dst"] != "192.168.1.0/24"
                                              or r.get("protocol") != "252")}
    fake = FakeHost(broken(), after=after, write=failing_routes)
    assert host.run(fake) == 1
    out, err = outputs(capsys)
    assert out.splitlines() == [line for line in REPAIRED if "192.168.1.0/24" not in line]
    assert err == ("route 192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0: add failed: "
                   "next hop 10.168.0.2 is not on a network directly connected to dev eth0; host-gw "
                   "needs every node on one L2 segment (check the underlay address of dev eth0, or "
                   "set onlink if the peer really is on that link) (kernel: Nexthop has invalid "
                   "gateway.)\n")


def test_a_route_another_owner_holds_differently_is_left_and_named(host, capsys):
    # the fixture's proto static 192.168.1.0/24 via 10.168.0.3 holds the
    # identity once our route is gone
    fake = FakeHost(merged(converged(), {ROUTE_SHOW: main_table(
        lambda r: r["dst"] != "192.168.1.0/24" or r.get("protocol") != "252")}))
    assert host.run(fake) == 1
    out, err = outputs(capsys)
    assert out == "" and fake.writes == []
    assert err == ("route 192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0: not repaired: "
                   "held by 192.168.1.0/24 via 10.168.0.3 dev eth0 table main metric 0 proto static "
                   "of protocol static, which differs; left to the playbook\n")


def test_a_failing_read_fails_only_its_part(host, capsys):
    no_read = {ROUTE_SHOW: (2, "", "RTNETLINK answers: Operation not permitted\n")}
    fake = FakeHost(merged(converged(), merged(no_read, {ADDR_SHOW: NO_CNI0})), after=fixed())
    assert host.run(fake) == 1
    out, err = outputs(capsys)
    assert out.splitlines() == ["bridge cni0: created", "bridge cni0: address 192.168.1.1/24 added",
                                "bridge cni0: address fd00:1::1/64 added"]
    assert err.startswith("routes: not repaired: ip -json -4 route show table main failed: "
                          "RTNETLINK answers: Operation not permitted")


# ------------------------------------------------ bad state file, busy lock --

def damage(path, how):
    if how == "missing":
        os.unlink(path)
        return
    with open(path) as fh:
        content = fh.read()
    if how == "truncated":
        content = content[:len(content) // 2]
    elif how == "corrupt":
        content = content.replace("10.168.0.2", "10.168.0.3", 1)
    elif how == "newer":
        content = content.replace('"format": 1', '"format": 2')
    with open(path, "w") as fh:
        fh.write(content)


@pytest.mark.parametrize("how, problem", [
    ("missing", "does not exist"),
    ("truncated", "is not valid JSON: truncated or damaged"),
    ("corrupt", "its checksum does not match its sections: edited by hand or damaged"),
    ("newer", "has format 2, written by a newer podnet.hostgw; this one reads format 1"),
])
def test_bad_state_file_exits_2_and_touches_nothing(host, capsys, how, problem):
    damage(host.path, how)
    fake = FakeHost({})
    assert host.run(fake) == 2
    out, err = outputs(capsys)
    assert out == "" and fake.calls == []
    assert err.startswith("podnet-hostgw-reconcile: state file %s unusable, nothing was changed (1):\n"
                          "  - %s" % (host.path, problem))
    assert "run site.yml for this host" in err
    if how == "missing":
        assert not os.path.exists(host.lock_path)     # not even the lock file


def test_invalid_values_in_a_sealed_file_exit_2(host, capsys):
    bad = dict(SECTIONS, bridge=state.bridge_section("cni0", 1500, ["192.168.1.0/24"]),
               netfilter=dict(SECTIONS["netfilter"], backend="pf"))
    state.write(host.path, bad)
    fake = FakeHost({})
    assert host.run(fake) == 2
    err = outputs(capsys)[1]
    assert "  - bridge: addresses[0] '192.168.1.0/24' is the network address" in err
    assert "  - netfilter: backend 'pf' is not one of auto, nftables, iptables" in err
    assert fake.calls == []


def test_busy_lock_exits_75_with_one_line(host, capsys):
    fake = FakeHost(broken())
    with HostLock(owner="podnet.hostgw.ip_route"):
        assert host.run(fake, "--lock-timeout", "0.2") == 75
    out, err = outputs(capsys)
    assert out == "" and fake.calls == []
    assert len(err.splitlines()) == 1
    assert err.startswith("podnet-hostgw-reconcile: another podnet.hostgw change (pid %d, "
                          "podnet.hostgw.ip_route) has held " % os.getpid())
    assert err.rstrip().endswith("nothing was changed")


@pytest.mark.parametrize("args", [["--bogus"], ["--lock-timeout", "-1"], ["--lock-timeout", "x"]])
def test_bad_usage_exits_64(host, capsys, args):
    fake = FakeHost({})
    assert host.run(fake, *args) == 64
    assert fake.calls == []
    assert "(see --help)" in outputs(capsys)[1]


def test_routes_the_kernel_shows_verbatim_are_not_even_validated(host, capsys, monkeypatch):
    """The no-op path at thousands of routes: a line the kernel shows as a
    route of ours, first at its identity, needs no parsing."""
    lines = ["192.168.%d.0/24 via 10.168.0.%d dev eth0 table main metric 0" % (i, i + 1)
             for i in range(1, 4)]
    state.write(host.path, dict(SECTIONS, routes=state.routes_section("hostgw", 252, False, ["main"], lines)))
    kernel = [{"dst": "192.168.%d.0/24" % i, "gateway": "10.168.0.%d" % (i + 1), "dev": "eth0",
               "protocol": "hostgw", "flags": []} for i in range(1, 4)]

    def no_validation(*args, **kwargs):
        raise AssertionError("validate_routes ran on a converged host")

    monkeypatch.setattr(desired.options, "validate_routes", no_validation)
    fake = FakeHost(merged(converged(), {ROUTE_SHOW: (0, json.dumps(kernel), "")}))
    assert host.run(fake, "--verbose") == 0
    assert "routes: 3 as wanted (proto 252/hostgw)" in outputs(capsys)[0]


def test_an_invalid_route_line_exits_2_before_any_repair(host, capsys):
    section = state.routes_section("hostgw", 252, False, ["main"], [
        "192.168.1.5/24 via 10.168.0.2 dev eth0 table main metric 0"])
    state.write(host.path, dict(SECTIONS, routes=section))
    fake = FakeHost(broken())                       # the bridge and the table need repairs
    assert host.run(fake) == 2
    out, err = outputs(capsys)
    assert out == "" and fake.writes == []
    assert ("  - routes.routes[0]: dest '192.168.1.5/24' has host bits set; did you mean "
            "192.168.1.0/24?") in err


def test_runs_as_a_plain_standard_library_package(tmp_path):
    """As installed on a host: the engine copied as a package of its own,
    Python in isolated mode, nothing of Ansible importable or imported."""
    import shutil
    import subprocess
    import sys
    engine = os.path.join(REPO, "plugins", "module_utils", "_hostgw")
    shutil.copytree(engine, str(tmp_path / "podnet_hostgw"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from podnet_hostgw.reconcile import main; "
              "rc = main(['--state-file', sys.argv[2]]); "
              "print(sorted(m for m in sys.modules if 'ansible' in m)); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-I", "-c", script, str(tmp_path),
                           str(tmp_path / "none.json")], check=False, capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (2, "[]\n"), proc.stderr
    assert "state file %s unusable" % (tmp_path / "none.json") in proc.stderr


def test_a_bridge_line_the_kernel_refuses_is_named_the_rest_reported_done(host, capsys):
    link = json.loads(bridge_dual()[1])
    link[0]["addr_info"] = [a for a in link[0]["addr_info"] if a["family"] == "inet"]
    after = fixed()
    after["bridge"] = {ADDR_SHOW: (0, json.dumps(link), "")}

    def no_ipv6(args, data):
        if data.startswith("link add"):
            return 1, "", "Error: ipv6: IPv6 is disabled on this device.\nCommand failed -:4\n"
        return 0, "", ""

    fake = FakeHost(broken(), after=after, write=no_ipv6)
    assert host.run(fake) == 1
    out, err = outputs(capsys)
    assert out.splitlines()[:2] == ["bridge cni0: created", "bridge cni0: address 192.168.1.1/24 added"]
    assert err == ("bridge cni0: add address fd00:1::1/64 failed: ip -batch failed: 'addr add "
                   "fd00:1::1/64 dev cni0' failed: ipv6: IPv6 is disabled on this device. (IPv6 is "
                   "disabled on this link: check the sysctls net.ipv6.conf.cni0.disable_ipv6 and "
                   "net.ipv6.conf.default.disable_ipv6)\n")

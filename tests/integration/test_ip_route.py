"""podnet.hostgw.ip_route against the real kernel, in throwaway namespaces.

Every namespace comes from the ``netns`` fixture (``hgwt-*``, deleted after
the test).  Each one gets a veth pair ``eth0``/``eth0p`` (both ends inside
the namespace) with 10.168.0.1/24 and fd00:10::1/64 on ``eth0``, so next hops
in 10.168.0.0/24 and fd00:10::/64 are directly connected.  Nothing is ever
added to the root namespace.

The fixtures under tests/fixtures/ip_route_*.json carry the commands that made
them; ``test_fixture_matches_live_kernel`` replays them here, and running this
file as a script re-captures them::

    python -m tests.integration.test_ip_route --recapture
"""

import contextlib
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from tests.conftest import REPO
from tests.integration.conftest import ns_run

pytestmark = pytest.mark.integration

FIXTURES = os.path.join(REPO, "tests", "fixtures")
FIXTURE_FILES = sorted(glob.glob(os.path.join(FIXTURES, "ip_route_*.json")))
NEXTHOP_FIXTURE_FILES = sorted(glob.glob(os.path.join(FIXTURES, "ip_nexthop_*.json")))

ETH0 = [
    ["ip", "link", "add", "eth0", "address", "02:00:00:00:00:01", "type", "veth",
     "peer", "name", "eth0p", "address", "02:00:00:00:00:02"],
    ["ip", "link", "set", "eth0", "up"],
    ["ip", "link", "set", "eth0p", "up"],
    ["ip", "addr", "add", "10.168.0.1/24", "dev", "eth0"],
    ["ip", "-6", "addr", "add", "fd00:10::1/64", "dev", "eth0", "nodad"],
]

HOST1 = {"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0"}
HOST2 = {"dest": "192.168.0.0/24", "via": "10.168.0.1", "dev": "eth0"}


# ------------------------------------------------------------------ helpers --

@contextlib.contextmanager
def etc_overlay(ns, conf=None):
    """A private /etc/iproute2 for namespace NS: ``ip netns exec`` bind-mounts
    /etc/netns/NS/iproute2 over /etc/iproute2 for the processes it runs, so
    a protocol name mapping can exist for NS only.  CONF, if given, is
    written as rt_protos.d/hostgw.conf.  Removed afterwards."""
    base = "/etc/netns"
    made_base = not os.path.isdir(base)
    top = os.path.join(base, ns)
    etc = os.path.join(top, "iproute2")
    os.makedirs(top)
    try:
        shutil.copytree("/etc/iproute2", etc, symlinks=True)
        os.makedirs(os.path.join(etc, "rt_protos.d"), exist_ok=True)
        if conf:
            with open(os.path.join(etc, "rt_protos.d", "hostgw.conf"), "w") as fh:
                fh.write(conf)
        yield etc
    finally:
        shutil.rmtree(top, ignore_errors=True)
        if made_base:
            try:
                os.rmdir(base)
            except OSError:
                pass


def replay(ns, spec):
    """Run a fixture's setup and command inside NS; returns (rc, stdout, stderr)."""
    ns_run(ns, ["ip", "link", "set", "lo", "up"])
    for argv in spec["setup"]:
        if argv == ["ip", "link", "set", "lo", "up"]:
            continue
        ns_run(ns, argv)
    proc = ns_run(ns, spec["argv"], data=spec.get("stdin"), check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _norm_json(text):
    data = json.loads(text) if text.strip() else []
    return sorted(json.dumps(x, sort_keys=True) for x in data)


def recapture():
    """Re-run every fixture's commands in a fresh namespace and store the output."""
    for path in FIXTURE_FILES + NEXTHOP_FIXTURE_FILES:
        with open(path) as fh:
            spec = json.load(fh)
        ns = "hgwt-fx-%s" % uuid.uuid4().hex[:8]
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            with etc_overlay(ns, spec.get("protos_conf")) if spec.get("protos_conf") \
                    else contextlib.nullcontext():
                rc, out, err = replay(ns, spec)
        finally:
            subprocess.run(["ip", "netns", "del", ns], check=False)
        spec.update(rc=rc, stdout=out, stderr=err)
        with open(path, "w") as fh:
            json.dump(spec, fh, indent=1)
            fh.write("\n")
        print("%s: rc=%s, %d bytes" % (os.path.basename(path), rc, len(out)))


def warnings_of(res):
    """Warning texts of a raw module result (ansible-core 2.19 sends them as
    WarningSummary objects, older versions as strings)."""
    out = []
    for w in res.get("warnings", []):
        out.append(w["event"]["msg"] if isinstance(w, dict) else w)
    return out


def with_eth0(netns):
    for argv in ETH0:
        netns.run(argv)
    wait_for_dad(netns)
    return netns


def wait_for_dad(netns, timeout=60):
    """Wait until no IPv6 address is tentative: the kernel adds the local
    routes of link-local addresses once their DAD is over (a second or two,
    longer on a busy machine), and tests compare route tables."""
    deadline = time.monotonic() + timeout
    while netns.json("-6", "addr", "show", "tentative"):
        if time.monotonic() > deadline:
            raise AssertionError("IPv6 DAD did not finish in %d s in %s" % (timeout, netns.name))
        time.sleep(0.1)


def tagged(netns, *args):
    """Routes with protocol 252/hostgw (ip -json), as a sorted list of dumps."""
    return sorted(json.dumps(r, sort_keys=True) for r in netns.json(*args)
                  if r.get("protocol") in ("252", "hostgw"))


def foreign(netns, *args):
    return sorted(json.dumps(r, sort_keys=True) for r in netns.json(*args)
                  if r.get("protocol") not in ("252", "hostgw"))


def everything(netns):
    """Every route of every table, both families, as ip -json prints them."""
    return (netns.json("-4", "route", "show", "table", "all"),
            netns.json("-6", "route", "show", "table", "all"))


def not_kernel_made(netns):
    """``everything`` without the kernel's own routes, which a fresh
    namespace keeps adding for a while (IPv6 link-local ones after DAD)."""
    return tuple([r for r in rs if r.get("protocol") != "kernel"] for rs in everything(netns))


@pytest.fixture
def protos_dir():
    d = tempfile.mkdtemp(prefix="hgwt-protos-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def ns(netns, protos_dir):
    """The netns fixture with eth0 and a runner that never writes /etc."""
    with_eth0(netns)

    def run(params, check_mode=False, diff=False):
        params = dict(params)
        params.setdefault("protos_dir", protos_dir)
        return netns.module("ip_route", params, check_mode=check_mode, diff=diff)

    netns.run_module = run
    return netns


# ---------------------------------------------------------------- fixtures --

@pytest.mark.parametrize("path", FIXTURE_FILES + NEXTHOP_FIXTURE_FILES,
                         ids=[os.path.basename(p) for p in FIXTURE_FILES + NEXTHOP_FIXTURE_FILES])
def test_fixture_matches_live_kernel(netns, path):
    """The stored ip outputs are what this kernel and iproute2 print."""
    with open(path) as fh:
        spec = json.load(fh)
    with etc_overlay(netns.name, spec.get("protos_conf")) if spec.get("protos_conf") \
            else contextlib.nullcontext():
        rc, out, err = replay(netns.name, spec)
    assert rc == spec["rc"]
    assert err == spec["stderr"]
    if rc == 0 and spec["argv"][1] == "-json":
        assert _norm_json(out) == _norm_json(spec["stdout"])
    else:
        assert out == spec["stdout"]


# ------------------------------------------------------------ behaviour --

def test_apply_seed_routes(ns):
    res = ns.run_module({"routes": [HOST1]})
    assert res.get("failed") is not True, res
    assert res["changed"] is True
    assert res["added"] == ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0"]
    assert res["commands"] == ["route replace 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252"]
    live = ns.json("-4", "route", "show", "192.168.1.0/24")
    assert live == [{"dst": "192.168.1.0/24", "gateway": "10.168.0.2", "dev": "eth0",
                     "protocol": "252", "flags": []}]


def test_route_lines_apply_like_dicts_and_mix_with_them(ns):
    lines = ["192.168.1.0/24 via 10.168.0.2 dev eth0", "fd00:1:1::/64 via fd00:10::2 dev eth0 metric 7"]
    res = ns.run_module({"routes": lines})
    assert res.get("failed") is not True, res
    assert res["commands"] == [
        "route replace 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252",
        "route replace fd00:1:1::/64 via fd00:10::2 dev eth0 table 254 metric 7 proto 252"]
    again = ns.run_module({"routes": [HOST1, {"dest": "fd00:1:1::/64", "via": "fd00:10::2", "dev": "eth0",
                                              "metric": 7}]})
    assert again["changed"] is False and again["commands"] == []
    before = everything(ns)
    bad = ns.run_module({"routes": ["192.168.2.0/24 via 10.168.0.2 dev eth0 proto static"], "purge": True})
    assert bad["failed"] is True and "routes[0]: unknown word 'proto'" in bad["msg"]
    assert everything(ns) == before


def test_reapply_changes_nothing(ns):
    params = {"routes": [HOST1, {"dest": "fd00:1:1::/64", "via": "fd00:10::2", "dev": "eth0"}]}
    first = ns.run_module(params)
    assert first["changed"] is True
    before = everything(ns)
    again = ns.run_module(params)
    assert again["changed"] is False
    assert again["commands"] == [] and again["added"] == [] and again["modified"] == []
    assert everything(ns) == before


def test_gateway_change_is_replaced_in_place(ns):
    ns.run_module({"routes": [HOST1]})
    res = ns.run_module({"routes": [dict(HOST1, via="10.168.0.3")]})
    assert res["commands"] == ["route replace 192.168.1.0/24 via 10.168.0.3 dev eth0 table 254 metric 0 proto 252"]
    assert res["modified"] == [{"before": "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0",
                                "after": "192.168.1.0/24 via 10.168.0.3 dev eth0 table main metric 0",
                                "reason": "via 10.168.0.2 -> 10.168.0.3"}]
    assert res["added"] == [] and res["removed"] == []
    live = ns.json("-4", "route", "show", "192.168.1.0/24")
    assert [(r["gateway"], r["protocol"]) for r in live] == [("10.168.0.3", "252")]


def test_drift_is_restored(ns):
    routes = [HOST1, {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "eth0"}]
    ns.run_module({"routes": routes})
    ns.ip("route", "del", "192.168.2.0/24")
    ns.ip("route", "replace", "192.168.1.0/24", "via", "10.168.0.7", "dev", "eth0", "proto", "252")
    res = ns.run_module({"routes": routes})
    assert res["added"] == ["192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0"]
    assert [m["reason"] for m in res["modified"]] == ["via 10.168.0.7 -> 10.168.0.2"]
    assert tagged(ns, "-4", "route") == sorted(json.dumps(r, sort_keys=True) for r in [
        {"dst": "192.168.1.0/24", "gateway": "10.168.0.2", "dev": "eth0", "protocol": "252", "flags": []},
        {"dst": "192.168.2.0/24", "gateway": "10.168.0.3", "dev": "eth0", "protocol": "252", "flags": []}])


def test_metric_change_adds_new_then_removes_old(ns):
    ns.run_module({"routes": [HOST1]})
    res = ns.run_module({"routes": [dict(HOST1, metric=100)]})
    assert res["commands"] == [
        "route replace 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 100 proto 252",
        "route del 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252"]
    assert res["modified"][0]["reason"] == "metric 0 -> 100"
    live = ns.json("-4", "route", "show", "192.168.1.0/24")
    assert [(r["gateway"], r.get("metric", 0)) for r in live] == [("10.168.0.2", 100)]
    assert ns.run_module({"routes": [dict(HOST1, metric=100)]})["changed"] is False


def test_state_absent(ns):
    ns.run_module({"routes": [HOST1, {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "eth0"}]})
    ns.ip("route", "add", "192.168.9.0/24", "via", "10.168.0.9", "proto", "static")
    res = ns.run_module({"routes": [{"dest": "192.168.1.0/24", "state": "absent"},
                                    {"dest": "192.168.9.0/24", "state": "absent"}]})
    assert res["removed"] == ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0"]
    assert res["commands"] == ["route del 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252"]
    assert any("192.168.9.0/24" in w and "proto static" in w for w in warnings_of(res))
    dsts = [r["dst"] for r in ns.json("-4", "route")]
    assert "192.168.1.0/24" not in dsts
    assert "192.168.2.0/24" in dsts and "192.168.9.0/24" in dsts
    again = ns.run_module({"routes": [{"dest": "192.168.1.0/24", "state": "absent"}]})
    assert again["changed"] is False


def _add_foreign_routes(ns):
    """50 routes the module must never touch."""
    ns.run(["ip", "link", "add", "eth2", "type", "veth", "peer", "name", "eth2p"])
    ns.ip("link", "set", "eth2", "up")
    ns.ip("addr", "add", "10.170.0.1/24", "dev", "eth2")   # eth2p down: linkdown routes
    # Numeric protocols only: in one ip -batch run, iproute2 6.1 stores a
    # protocol *name* that follows a numeric protocol as that number.
    lines = ["route add default via 10.168.0.254 dev eth0",
             "route add ::/0 via fd00:10::fe dev eth0",
             # same destination as an own route, other metric, foreign
             "route add 192.168.1.0/24 via 10.168.0.5 dev eth0 metric 50 proto 4",
             # same destination as an own route in another table
             "route add 192.168.1.0/24 via 10.168.0.6 dev eth0 table 100 proto 4",
             "route add 192.168.2.0/24 via 10.168.0.6 dev eth0 table 100 proto 252",
             "route add fd00:1:1::/64 via fd00:10::9 dev eth0 table 100 proto 252",
             "route add 172.31.0.0/16 via 10.170.0.2 dev eth2 proto 4",
             "route add blackhole 192.168.250.0/24 proto 4",
             "route add 192.168.251.0/24 dev eth0 proto 2 scope link",
             "route add 192.168.252.0/24 via 10.168.0.8 proto 16 metric 600",
             "route add 192.168.253.0/24 via 10.168.0.8 proto 12"]
    # static, boot, kernel, bird, dhcp, zebra, babel, ra, and two unnamed
    protos = [4, 3, 2, 12, 16, 11, 42, 9, 253, 251]
    for i in range(39):
        p = protos[i % len(protos)]
        if i % 3 == 2:
            lines.append("route add fd00:%x::/64 via fd00:10::%x dev eth0 proto %d" % (0x100 + i, 2 + i, p))
        else:
            lines.append("route add 192.168.%d.0/24 via 10.168.0.%d dev eth0 proto %d table %s"
                         % (100 + i, 2 + i, p, "254" if i % 2 else "200"))
    assert len(lines) == 50
    ns.run(["ip", "-batch", "-"], data="\n".join(lines) + "\n")


def test_purge_keeps_every_foreign_route_byte_for_byte(ns):
    # own routes: two to keep, three to purge, one in table 100 and one IPv6
    ns.run_module({"routes": [HOST1,
                              {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "eth0"},
                              {"dest": "192.168.3.0/24", "via": "10.168.0.3", "dev": "eth0", "metric": 5},
                              {"dest": "192.168.4.0/24", "dev": "eth0"},
                              {"dest": "fd00:1:1::/64", "via": "fd00:10::2", "dev": "eth0"}]})
    _add_foreign_routes(ns)
    v4_before, v6_before = everything(ns)
    res = ns.run_module({"routes": [HOST1], "purge": True, "tables": ["main", 100]})
    assert res.get("failed") is not True, res
    assert sorted(res["removed"]) == sorted([
        "192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0",
        "192.168.3.0/24 via 10.168.0.3 dev eth0 table main metric 5",
        "192.168.4.0/24 dev eth0 table main metric 0",
        "fd00:1:1::/64 via fd00:10::2 dev eth0 table main metric 1024",
        "192.168.2.0/24 via 10.168.0.6 dev eth0 table 100 metric 0",
        "fd00:1:1::/64 via fd00:10::9 dev eth0 table 100 metric 1024"])
    v4_after, v6_after = everything(ns)

    def not_ours(rs):
        return [r for r in rs if r.get("protocol") not in ("252", "hostgw")]
    assert not_ours(v4_after) == not_ours(v4_before)
    assert not_ours(v6_after) == not_ours(v6_before)
    assert len(not_ours(v4_before)) + len(not_ours(v6_before)) >= 50
    assert [r["dst"] for r in v4_after + v6_after if r.get("protocol") in ("252", "hostgw")] == ["192.168.1.0/24"]
    assert ns.run_module({"routes": [HOST1], "purge": True, "tables": ["main", 100]})["changed"] is False


def test_purge_can_empty_a_table(ns):
    ns.run_module({"routes": [{"dest": "192.168.1.0/24", "via": "10.168.0.2", "table": 100},
                              {"dest": "fd00:1:1::/64", "via": "fd00:10::2", "table": 100},
                              HOST1]})
    ns.ip("route", "add", "192.168.9.0/24", "via", "10.168.0.9", "table", "100", "proto", "static")
    res = ns.run_module({"routes": [], "tables": [100], "purge": True})
    assert len(res["removed"]) == 2
    assert [r["dst"] for r in ns.json("-4", "route", "show", "table", "100")] == ["192.168.9.0/24"]
    assert ns.json("-6", "route", "show", "table", "100") == []
    assert "192.168.1.0/24" in [r["dst"] for r in ns.json("-4", "route")]    # main untouched


def test_check_mode_changes_nothing_and_predicts_the_real_run(ns):
    ns.run_module({"routes": [HOST1, {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "eth0"},
                              {"dest": "192.168.3.0/24", "via": "10.168.0.3", "dev": "eth0"}]})
    ns.ip("route", "add", "192.168.5.0/24", "via", "10.168.0.5", "proto", "static")
    params = {"routes": [dict(HOST1, via="10.168.0.4"),                              # changed
                         {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "eth0", "metric": 7},
                         {"dest": "192.168.5.0/24", "via": "10.168.0.5"},          # left (static)
                         {"dest": "fd00:1:1::/64", "via": "fd00:10::2"}],          # added
              "purge": True}
    before = everything(ns)
    check = ns.run_module(params, check_mode=True, diff=True)
    assert everything(ns) == before
    real = ns.run_module(params, diff=True)
    for key in ("changed", "added", "removed", "modified", "commands", "routes", "diff", "foreign"):
        assert check[key] == real[key], key
    assert check["changed"] is True and len(check["commands"]) == 5
    assert real["foreign"] == ["192.168.5.0/24 via 10.168.0.5 dev eth0 table main metric 0 proto static"]
    assert everything(ns) != before
    assert ns.run_module(params)["changed"] is False


def test_diff_output(ns):
    ns.run_module({"routes": [HOST1, {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "eth0"}]})
    res = ns.run_module({"routes": [dict(HOST1, via="10.168.0.4"),
                                    {"dest": "192.168.9.0/24", "via": "10.168.0.9", "dev": "eth0"}],
                         "purge": True}, diff=True)
    assert res["diff"]["before"] == ("192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0\n"
                                     "192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0\n")
    assert res["diff"]["after"] == ("192.168.1.0/24 via 10.168.0.4 dev eth0 table main metric 0\n"
                                    "192.168.9.0/24 via 10.168.0.9 dev eth0 table main metric 0\n")


def test_ipv6_routes(ns):
    routes = [{"dest": "fd00:1:1::/64", "via": "fd00:10::2", "dev": "eth0"},
              {"dest": "fd00:1:2::/64", "via": "fd00:10::3", "metric": 2048},
              {"dest": "default", "via": "fd00:10::fe", "dev": "eth0"},
              {"dest": "FD00:1:3:0::1", "via": "fd00:10::4", "dev": "eth0"}]
    res = ns.run_module({"routes": routes})
    assert res["added"] == sorted([
        "fd00:1:1::/64 via fd00:10::2 dev eth0 table main metric 1024",
        "fd00:1:2::/64 via fd00:10::3 table main metric 2048",
        "::/0 via fd00:10::fe dev eth0 table main metric 1024",
        "fd00:1:3::1/128 via fd00:10::4 dev eth0 table main metric 1024"])
    live = dict((r["dst"], r) for r in ns.json("-6", "route") if r.get("protocol") == "252")
    assert live["default"]["gateway"] == "fd00:10::fe"
    assert live["fd00:1:2::/64"]["metric"] == 2048
    assert live["fd00:1:3::1"]["gateway"] == "fd00:10::4"
    assert ns.run_module({"routes": routes})["changed"] is False
    res = ns.run_module({"routes": [dict(routes[0], via="fd00:10::9")] + routes[1:]})
    assert res["commands"] == ["route replace fd00:1:1::/64 via fd00:10::9 dev eth0 table 254 metric 1024 proto 252"]


def test_default_route_ipv4(ns):
    res = ns.run_module({"routes": [{"dest": "default", "via": "10.168.0.254", "table": 100, "metric": 100}]})
    assert res["added"] == ["0.0.0.0/0 via 10.168.0.254 table 100 metric 100"]
    live = ns.json("-4", "route", "show", "table", "100")
    assert [(r["dst"], r["gateway"], r["metric"]) for r in live] == [("default", "10.168.0.254", 100)]
    res = ns.run_module({"routes": [{"dest": "0.0.0.0/0", "via": "10.168.0.254", "table": 100, "metric": 100}]})
    assert res["changed"] is False


def test_onlink_and_src(ns):
    routes = [{"dest": "192.168.1.0/24", "via": "10.200.0.2", "dev": "eth0", "onlink": True},
              {"dest": "192.168.2.0/24", "via": "10.168.0.2", "src": "10.168.0.1"}]
    assert ns.run_module({"routes": routes}).get("failed") is not True
    live = dict((r["dst"], r) for r in ns.json("-4", "route"))
    assert live["192.168.1.0/24"]["flags"] == ["onlink"]
    assert live["192.168.2.0/24"]["prefsrc"] == "10.168.0.1"
    assert ns.run_module({"routes": routes})["changed"] is False


@pytest.mark.parametrize("routes,extra,text", [
    ([{"dest": "192.168.1.5/24", "via": "10.168.0.2"}], {},
     "routes[0]: dest '192.168.1.5/24' has host bits set; did you mean 192.168.1.0/24?"),
    ([HOST1, {"dest": "192.168.1.0/24", "via": "10.168.0.3"}], {},
     "routes[0] and routes[1] both define 192.168.1.0/24 table main metric 0"),
    ([{"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0\nroute flush table main"}], {},
     "routes[0]: dev 'eth0\\nroute flush table main' contains a control character"),
    ([{"dest": "192.168.1.0/24", "via": "fd00:10::2"}], {},
     "routes[0]: via 'fd00:10::2' is an IPv6 address, but dest '192.168.1.0/24' is an IPv4 prefix"),
    ([{"dest": "default", "dev": "eth0"}], {}, "routes[0]: dest 'default' needs a family"),
    ([{"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth#0"}], {},
     "routes[0]: dev 'eth#0' must not contain '#'"),
    ([{"dest": "192.168.1.0/24", "via": "10.168.0.2", "metric": 4294967296}], {},
     "routes[0]: metric 4294967296 is out of range 0..4294967295"),
    ([{"dest": "192.168.1.0/24", "via": "10.168.0.2", "table": 0}], {}, "routes[0]: table 0 is out of range"),
    ([{"dest": "192.168.1.0/24", "via": "10.168.0.2"}], {"protocol_number": 3},
     "protocol_number 3 is the well-known protocol boot"),
    ([{"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "nosuch0"}], {},
     "routes[0]: dev 'nosuch0' does not exist on this host"),
    ([{"dest": "10.168.0.0/24", "via": "10.168.0.2", "dev": "eth0"}], {},
     "the kernel's own route 10.168.0.0/24 dev eth0 src 10.168.0.1 table main metric 0 proto kernel"),
])
def test_bad_inputs_fail_clearly_and_change_nothing(ns, routes, extra, text):
    ns.run_module({"routes": [{"dest": "192.168.7.0/24", "via": "10.168.0.7"}]})
    before = everything(ns)
    res = ns.run_module(dict({"routes": routes + [{"dest": "192.168.8.0/24", "via": "10.168.0.8"}]}, **extra))
    assert res.get("failed") is True
    assert text in res["msg"], res["msg"]
    assert res["changed"] is False
    assert everything(ns) == before


def test_foreign_route_conflict_adopt_and_takeover(ns):
    ns.ip("route", "add", "192.168.1.0/24", "via", "10.168.0.2", "dev", "eth0", "proto", "static")
    ns.ip("route", "add", "192.168.2.0/24", "via", "10.168.0.2", "dev", "eth0", "proto", "static")
    before = everything(ns)
    # different from the foreign route: refused, naming it
    res = ns.run_module({"routes": [HOST1, {"dest": "192.168.2.0/24", "via": "10.168.0.9", "dev": "eth0"}]})
    assert res["failed"] is True
    assert ("192.168.2.0/24 via 10.168.0.2 dev eth0 table main metric 0 proto static" in res["msg"])
    assert "takeover: true" in res["msg"]
    assert everything(ns) == before
    # identical: left in place by default, adopted with takeover; the other left alone
    res = ns.run_module({"routes": [HOST1], "protos_dir": ""})
    assert res["changed"] is False and res["foreign"] == [
        "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0 proto static"]
    assert ns.json("-4", "route", "show", "table", "all") == before[0]
    res = ns.run_module({"routes": [HOST1], "takeover": True})
    assert res["modified"][0]["reason"] == "adopted identical route from protocol static"
    live = dict((r["dst"], r["protocol"]) for r in ns.json("-4", "route"))
    assert live["192.168.1.0/24"] == "252" and live["192.168.2.0/24"] == "static"
    # takeover
    res = ns.run_module({"routes": [HOST1, {"dest": "192.168.2.0/24", "via": "10.168.0.9", "dev": "eth0"}],
                         "takeover": True})
    assert res["modified"][0]["reason"].startswith("taken over from protocol static")
    live = dict((r["dst"], r) for r in ns.json("-4", "route"))
    assert (live["192.168.2.0/24"]["gateway"], live["192.168.2.0/24"]["protocol"]) == ("10.168.0.9", "252")


REPORT_KEYS = ("changed", "added", "removed", "modified", "commands", "routes", "foreign")
HOST1_V6 = {"dest": "fd00:1:1::/64", "via": "fd00:10::2", "dev": "eth0"}


@pytest.mark.parametrize("proto", ["static", "bird"])
def test_identical_route_of_another_owner_is_left_in_place(ns, proto):
    """Issue 7: a route of another protocol identical to a wanted one carries
    the traffic; it is never re-tagged or deleted unless takeover."""
    ns.ip("route", "add", "192.168.1.0/24", "via", "10.168.0.2", "dev", "eth0", "proto", proto)
    ns.ip("-6", "route", "add", "fd00:1:1::/64", "via", "fd00:10::2", "dev", "eth0", "proto", proto)
    lines = ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0 proto %s" % proto,
             "fd00:1:1::/64 via fd00:10::2 dev eth0 table main metric 1024 proto %s" % proto]
    before = not_kernel_made(ns)
    params = {"routes": [HOST1, HOST1_V6], "purge": True, "protos_dir": ""}

    check = ns.run_module(params, check_mode=True, diff=True)
    assert not_kernel_made(ns) == before
    first = ns.run_module(params, diff=True)
    assert first.get("failed") is not True, first
    for key in REPORT_KEYS + ("diff",):
        assert check[key] == first[key], key
    assert first["changed"] is False and first["commands"] == [] and first["modified"] == []
    assert first["foreign"] == sorted(lines)
    for line in lines:
        assert any(line in w and "takeover: true adopts it" in w for w in warnings_of(first)), line
    assert first["diff"]["before"] == first["diff"]["after"] == ""
    assert not_kernel_made(ns) == before
    assert [(r["gateway"], r["protocol"]) for r in ns.json("-4", "route", "show", "192.168.1.0/24")] == \
        [("10.168.0.2", proto)]

    again = ns.run_module(params)
    assert dict((k, again[k]) for k in REPORT_KEYS) == dict((k, first[k]) for k in REPORT_KEYS)
    assert not_kernel_made(ns) == before

    # purge removes only what is ours: these are not
    res = ns.run_module({"routes": [], "purge": True, "protos_dir": ""})
    assert res["changed"] is False and res["removed"] == [] and res["foreign"] == []
    assert not_kernel_made(ns) == before

    # takeover: true adopts them (re-tagged); from then on they are ours
    res = ns.run_module({"routes": [HOST1, HOST1_V6], "takeover": True})
    assert res["changed"] is True and res["foreign"] == []
    assert sorted((m["before"], m["reason"]) for m in res["modified"]) == sorted(
        (line, "adopted identical route from protocol %s" % proto) for line in lines)
    assert [r["protocol"] for r in ns.json("-4", "route", "show", "192.168.1.0/24")] == ["252"]
    assert [r["protocol"] for r in ns.json("-6", "route", "show", "fd00:1:1::/64")] == ["252"]
    res = ns.run_module({"routes": [], "purge": True})
    assert len(res["removed"]) == 2


def test_identical_foreign_route_beside_routes_of_ours(ns):
    """The other routes still converge around a route left to its owner,
    and check mode predicts that run."""
    ns.run_module({"routes": [{"dest": "192.168.3.0/24", "via": "10.168.0.3", "dev": "eth0"}]})
    ns.ip("route", "add", "192.168.1.0/24", "via", "10.168.0.2", "dev", "eth0", "proto", "bird")
    params = {"routes": [HOST1, {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "eth0"}],
              "purge": True}
    before = not_kernel_made(ns)
    check = ns.run_module(params, check_mode=True, diff=True)
    assert not_kernel_made(ns) == before
    real = ns.run_module(params, diff=True)
    for key in REPORT_KEYS + ("diff",):
        assert check[key] == real[key], key
    assert real["commands"] == [
        "route replace 192.168.2.0/24 via 10.168.0.3 dev eth0 table 254 metric 0 proto 252",
        "route del 192.168.3.0/24 via 10.168.0.3 dev eth0 table 254 metric 0 proto 252"]
    assert real["foreign"] == ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0 proto bird"]
    assert real["routes"] == ["192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0"]
    live = dict((r["dst"], r["protocol"]) for r in ns.json("-4", "route") if r["dst"].startswith("192.168."))
    assert live == {"192.168.1.0/24": "bird", "192.168.2.0/24": "252"}
    again = ns.run_module(params)
    assert again["changed"] is False and again["foreign"] == real["foreign"]


def test_one_batch_across_tables_lands_in_the_right_tables(ns):
    ns.ip("route", "add", "192.168.50.0/24", "via", "10.168.0.5", "table", "100", "proto", "252")
    ns.ip("route", "add", "192.168.51.0/24", "via", "10.168.0.5", "table", "main", "proto", "252")
    res = ns.run_module({"routes": [{"dest": "192.168.40.0/24", "via": "10.168.0.2"},
                                    {"dest": "192.168.41.0/24", "via": "10.168.0.2", "table": 100},
                                    {"dest": "192.168.42.0/24", "via": "10.168.0.2", "table": "main"},
                                    {"dest": "192.168.43.0/24", "via": "10.168.0.2", "table": "default"},
                                    {"dest": "192.168.44.0/24", "via": "10.168.0.2", "table": 100}],
                         "purge": True})
    assert len(res["commands"]) == 7
    where = {}
    for table in ("main", "100", "default"):
        for r in ns.json("-4", "route", "show", "table", table):
            if r["dst"].startswith("192.168."):
                where[r["dst"]] = (table, r["protocol"])
    assert where == {"192.168.40.0/24": ("main", "252"), "192.168.41.0/24": ("100", "252"),
                     "192.168.42.0/24": ("main", "252"), "192.168.43.0/24": ("default", "252"),
                     "192.168.44.0/24": ("100", "252")}


def test_partly_failing_batch_reports_and_rerun_converges(ns):
    routes = [HOST1,
              {"dest": "192.168.2.0/24", "via": "10.99.0.2", "dev": "eth0"},   # not connected
              {"dest": "192.168.3.0/24", "via": "10.168.0.3", "dev": "eth0"},
              {"dest": "fd00:1:1::/64", "via": "fd00:99::2", "dev": "eth0"}]  # not connected
    res = ns.run_module({"routes": routes})
    assert res["failed"] is True and res["changed"] is True
    assert res["applied"] == [
        "route replace 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252",
        "route replace 192.168.3.0/24 via 10.168.0.3 dev eth0 table 254 metric 0 proto 252"]
    bad = dict((x["command"].split()[2], x["error"]) for x in res["not_applied"])
    assert sorted(bad) == ["192.168.2.0/24", "fd00:1:1::/64"]
    assert bad["192.168.2.0/24"].startswith(
        "next hop 10.99.0.2 is not on a network directly connected to dev eth0; "
        "host-gw needs every node on one L2 segment")
    assert "(kernel: Nexthop has invalid gateway.)" in bad["192.168.2.0/24"]
    assert bad["fd00:1:1::/64"].startswith("next hop fd00:99::2 is not on a network directly connected")
    assert res["msg"].startswith("applied 2 of 4 route changes; ")
    assert "not applied (2):\n" in res["msg"]
    assert res["routes"] == ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0",
                             "192.168.3.0/24 via 10.168.0.3 dev eth0 table main metric 0"]
    # fix the underlay, run again: only the missing two are applied
    ns.ip("addr", "add", "10.99.0.1/24", "dev", "eth0")
    ns.ip("-6", "addr", "add", "fd00:99::1/64", "dev", "eth0", "nodad")
    res = ns.run_module({"routes": routes})
    assert res.get("failed") is not True, res
    assert sorted(res["added"]) == ["192.168.2.0/24 via 10.99.0.2 dev eth0 table main metric 0",
                                    "fd00:1:1::/64 via fd00:99::2 dev eth0 table main metric 1024"]
    assert ns.run_module({"routes": routes})["changed"] is False


def test_protos_file_written_in_temp_dir(ns, protos_dir):
    path = os.path.join(protos_dir, "sub", "hostgw.conf")
    params = {"routes": [HOST1], "protos_dir": os.path.join(protos_dir, "sub")}
    res = ns.run_module(params, check_mode=True)
    assert res["protos_file"] == {"path": path, "changed": True}
    assert not os.path.exists(path)
    res = ns.run_module(params)
    assert res["protos_file"] == {"path": path, "changed": True}
    with open(path) as fh:
        assert "252 hostgw" in fh.read().splitlines()
    res = ns.run_module(params)
    assert res["protos_file"]["changed"] is False and res["changed"] is False


def test_name_mapping_makes_ip_print_the_name_and_still_matches(netns):
    """With the default protos_dir inside a private /etc (see etc_overlay),
    the module writes rt_protos.d/hostgw.conf, ip then prints 'hostgw', and
    the module still recognises its routes by name."""
    with etc_overlay(netns.name) as etc:
        with_eth0(netns)
        res = netns.module("ip_route", {"routes": [HOST1]})
        assert res["protos_file"] == {"path": "/etc/iproute2/rt_protos.d/hostgw.conf", "changed": True}
        with open(os.path.join(etc, "rt_protos.d", "hostgw.conf")) as fh:
            assert "252 hostgw" in fh.read()
        live = netns.json("-4", "route", "show", "192.168.1.0/24")
        assert live[0]["protocol"] == "hostgw"
        res = netns.module("ip_route", {"routes": [HOST1], "purge": True})
        assert res["changed"] is False
        res = netns.module("ip_route", {"routes": [], "purge": True})
        assert res["removed"] == ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0"]
        assert netns.json("-4", "route", "show", "192.168.1.0/24") == []
    assert not os.path.exists(os.path.join("/etc/netns", netns.name))


def test_second_namespace_is_independent(ns):
    other = ns.make_another()
    with_eth0(other)
    ns.run_module({"routes": [HOST1]})
    res = other.module("ip_route", {"routes": [HOST2], "protos_dir": ""})
    assert res["added"] == ["192.168.0.0/24 via 10.168.0.1 dev eth0 table main metric 0"]
    assert [r["dst"] for r in tagged_routes(ns)] == ["192.168.1.0/24"]
    assert [r["dst"] for r in tagged_routes(other)] == ["192.168.0.0/24"]


def tagged_routes(netns):
    return [r for r in netns.json("-4", "route") if r.get("protocol") in ("252", "hostgw")]


# ------------------------------------------------------- nexthop objects --

NH_BASE = 264241152     # 252 << 20


def nexthops(netns):
    return netns.json("nexthop", "show")


def our_nexthops(netns):
    return dict((n["id"], (n.get("gateway"), n.get("dev"))) for n in nexthops(netns)
                if n.get("protocol") in ("252", "hostgw"))


def test_nexthop_mode_apply_rerun_and_gateway_change(ns):
    routes = [HOST1, {"dest": "192.168.2.0/24", "via": "10.168.0.2", "dev": "eth0"},
              {"dest": "192.168.3.0/24", "via": "10.168.0.3", "dev": "eth0"},
              {"dest": "192.168.4.0/24", "dev": "eth0"}]
    res = ns.run_module({"routes": routes, "nexthop_objects": True})
    assert res.get("failed") is not True, res
    assert res["commands"] == [
        "nexthop add id %d via 10.168.0.2 dev eth0 proto 252" % NH_BASE,
        "nexthop add id %d via 10.168.0.3 dev eth0 proto 252" % (NH_BASE + 1),
        "route replace 192.168.1.0/24 nhid %d table 254 metric 0 proto 252" % NH_BASE,
        "route replace 192.168.2.0/24 nhid %d table 254 metric 0 proto 252" % NH_BASE,
        "route replace 192.168.3.0/24 nhid %d table 254 metric 0 proto 252" % (NH_BASE + 1),
        "route replace 192.168.4.0/24 dev eth0 table 254 metric 0 proto 252"]
    assert our_nexthops(ns) == {NH_BASE: ("10.168.0.2", "eth0"), NH_BASE + 1: ("10.168.0.3", "eth0")}
    live = dict((r["dst"], r) for r in ns.json("-4", "route"))
    assert live["192.168.1.0/24"] == {"dst": "192.168.1.0/24", "nhid": NH_BASE, "gateway": "10.168.0.2",
                                      "dev": "eth0", "protocol": "252", "flags": []}
    assert "nhid" not in live["192.168.4.0/24"]
    assert "192.168.1.0/24 nhid %d via 10.168.0.2 dev eth0 proto 252" % NH_BASE in \
        ns.ip("route", "show").stdout
    before = everything(ns), nexthops(ns)
    again = ns.run_module({"routes": routes, "nexthop_objects": True})
    assert again["changed"] is False and again["commands"] == []
    assert again["routes"] == sorted(res["routes"])
    assert (everything(ns), nexthops(ns)) == before
    # gateway change of the only user of an object: a new object, the old one goes
    routes[2] = dict(routes[2], via="10.168.0.4")
    res = ns.run_module({"routes": routes, "nexthop_objects": True})
    assert res["commands"] == [
        "nexthop add id %d via 10.168.0.4 dev eth0 proto 252" % (NH_BASE + 2),
        "route replace 192.168.3.0/24 nhid %d table 254 metric 0 proto 252" % (NH_BASE + 2),
        "nexthop del id %d" % (NH_BASE + 1)]
    assert res["nexthops"] == {"added": ["id %d via 10.168.0.4 dev eth0 proto 252" % (NH_BASE + 2)],
                               "removed": ["id %d via 10.168.0.3 dev eth0 proto 252" % (NH_BASE + 1)]}
    assert our_nexthops(ns) == {NH_BASE: ("10.168.0.2", "eth0"), NH_BASE + 2: ("10.168.0.4", "eth0")}
    assert ns.run_module({"routes": routes, "nexthop_objects": True})["changed"] is False


def test_nexthop_mode_switch_on_off_on_converges(ns):
    routes = [HOST1, {"dest": "192.168.2.0/24", "via": "10.200.0.2", "dev": "eth0", "onlink": True},
              {"dest": "fd00:1:1::/64", "via": "fd00:10::2", "dev": "eth0"},
              {"dest": "192.168.4.0/24", "dev": "eth0"}]

    def own():
        return (tagged(ns, "-4", "route", "show", "table", "all"),
                tagged(ns, "-6", "route", "show", "table", "all"))
    plain = ns.run_module({"routes": routes})
    plain_state = own()
    for mode in (True, False, True, False):
        res = ns.run_module({"routes": routes, "nexthop_objects": mode, "purge": True})
        assert res.get("failed") is not True, res
        assert res["changed"] is True and res["added"] == [] and res["removed"] == []
        assert len(res["modified"]) == 3
        live = [r for r in ns.json("-4", "route") + ns.json("-6", "route") if r.get("protocol") == "252"]
        assert len(live) == 4
        gw = [r for r in live if "gateway" in r]
        if mode:
            assert all("nhid" in r for r in gw) and len(our_nexthops(ns)) == 3
            assert sorted(res["nexthops"]["added"]) == res["nexthops"]["added"]
        else:
            assert not any("nhid" in r for r in live)
            assert our_nexthops(ns) == {}
            assert own() == plain_state
        state = own(), nexthops(ns)
        again = ns.run_module({"routes": routes, "nexthop_objects": mode, "purge": True})
        assert again["changed"] is False and again["commands"] == [], again
        assert (own(), nexthops(ns)) == state
    assert plain["changed"] is True


def _foreign_nexthop_setup(ns):
    ns.run(["ip", "link", "add", "eth2", "type", "veth", "peer", "name", "eth2p"])
    ns.ip("link", "set", "eth2", "up")
    ns.ip("link", "set", "eth2p", "up")
    ns.ip("addr", "add", "10.170.0.1/24", "dev", "eth2")
    wait_for_dad(ns)
    lines = [
        # foreign objects, one inside our id block
        "nexthop add id 7 via 10.168.0.9 dev eth0 proto 4",
        "nexthop add id %d via 10.170.0.2 dev eth2 proto 4" % (NH_BASE + 1),
        "nexthop add id 8 group 7/%d proto 4" % (NH_BASE + 1),
        "route add 192.168.9.0/24 nhid 7 proto 4",
        "route add 192.168.10.0/24 nhid %d table 100 proto 4" % (NH_BASE + 1),
        "route add 192.168.11.0/24 nhid 8 proto 4",
        "route add 192.168.12.0/24 via 10.168.0.12 dev eth0 proto 4",
    ]
    ns.run(["ip", "-batch", "-"], data="\n".join(lines) + "\n")


def test_nexthop_mode_purge_leaves_foreign_objects_and_routes_byte_for_byte(ns):
    _foreign_nexthop_setup(ns)
    ns.ip("route", "add", "192.168.2.0/24", "via", "10.168.0.3", "dev", "eth0", "proto", "252")  # legacy
    routes = [HOST1, {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "eth0"},
              {"dest": "192.168.3.0/24", "via": "10.168.0.9", "dev": "eth0", "table": 100},
              {"dest": "fd00:1:1::/64", "via": "fd00:10::2", "dev": "eth0"}]
    res = ns.run_module({"routes": routes, "nexthop_objects": True})
    assert res.get("failed") is not True, res
    # NH_BASE + 1 is foreign: skipped; foreign object 7 has the same next hop
    # as routes[2] but is not ours
    assert sorted(our_nexthops(ns)) == [NH_BASE, NH_BASE + 2, NH_BASE + 3, NH_BASE + 4]
    assert res["modified"][0]["reason"] == "nhid (none) -> %d" % (NH_BASE + 2)

    def foreign_state():
        return ([n for n in nexthops(ns) if n.get("protocol") not in ("252", "hostgw")],
                foreign(ns, "-4", "route", "show", "table", "all"),
                foreign(ns, "-6", "route", "show", "table", "all"))
    before = foreign_state()
    assert len(before[0]) == 3
    # a foreign route in table 200 uses one of our objects: it must survive
    ns.ip("route", "add", "192.168.13.0/24", "nhid", str(NH_BASE + 3), "table", "200", "proto", "4")
    before = foreign_state()
    res = ns.run_module({"routes": [], "purge": True, "tables": ["main", 100],
                         "nexthop_objects": True})
    assert res.get("failed") is not True, res
    assert len(res["removed"]) == 4
    assert foreign_state() == before
    assert sorted(our_nexthops(ns)) == [NH_BASE + 3]    # still used by the table 200 route
    assert tagged(ns, "-4", "route", "show", "table", "all") == []
    assert tagged(ns, "-6", "route", "show", "table", "all") == []
    again = ns.run_module({"routes": [], "purge": True, "tables": ["main", 100], "nexthop_objects": True})
    assert again["changed"] is False
    # once the foreign route is gone, our unused object is cleaned up
    ns.ip("route", "del", "192.168.13.0/24", "table", "200")
    res = ns.run_module({"routes": [], "nexthop_objects": True})
    assert res["commands"] == ["nexthop del id %d" % (NH_BASE + 3)]
    assert our_nexthops(ns) == {} and foreign_state()[0] == before[0]


def test_nexthop_mode_ipv6(ns):
    routes = [{"dest": "fd00:1:1::/64", "via": "fd00:10::2", "dev": "eth0"},
              {"dest": "fd00:1:2::/64", "via": "fd00:10::2", "dev": "eth0", "metric": 2048},
              {"dest": "default", "via": "fd00:10::fe", "dev": "eth0"}]
    res = ns.run_module({"routes": routes, "nexthop_objects": True})
    assert res.get("failed") is not True, res
    assert res["commands"][:2] == ["nexthop add id %d via fd00:10::2 dev eth0 proto 252" % NH_BASE,
                                   "nexthop add id %d via fd00:10::fe dev eth0 proto 252" % (NH_BASE + 1)]
    live = dict((r["dst"], r) for r in ns.json("-6", "route") if r.get("protocol") == "252")
    assert (live["fd00:1:1::/64"]["nhid"], live["fd00:1:2::/64"]["nhid"], live["default"]["nhid"]) == \
        (NH_BASE, NH_BASE, NH_BASE + 1)
    assert live["fd00:1:2::/64"]["metric"] == 2048
    assert ns.run_module({"routes": routes, "nexthop_objects": True})["changed"] is False
    res = ns.run_module({"routes": routes[:1], "nexthop_objects": True, "purge": True})
    assert res["commands"][-1] == "nexthop del id %d" % (NH_BASE + 1)
    assert sorted(our_nexthops(ns)) == [NH_BASE]


def test_nexthop_mode_check_mode_changes_nothing_and_predicts(ns):
    ns.run_module({"routes": [HOST1, {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "eth0"}]})
    _foreign_nexthop_setup(ns)
    params = {"routes": [dict(HOST1, via="10.168.0.4"),
                         {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "eth0", "metric": 7},
                         {"dest": "192.168.12.0/24", "via": "10.168.0.12", "dev": "eth0"},   # adopted
                         {"dest": "fd00:1:1::/64", "via": "fd00:10::2", "dev": "eth0"}],
              "purge": True, "nexthop_objects": True, "takeover": True}
    before = everything(ns), nexthops(ns)
    check = ns.run_module(params, check_mode=True, diff=True)
    assert check.get("failed") is not True, check
    assert (everything(ns), nexthops(ns)) == before
    real = ns.run_module(params, diff=True)
    for key in ("changed", "added", "removed", "modified", "commands", "routes", "diff", "nexthops"):
        assert check[key] == real[key], key
    assert (everything(ns), nexthops(ns)) != before
    live = [r for r in ns.json("-4", "route") + ns.json("-6", "route") if r.get("protocol") == "252"]
    assert real["routes"] == sorted("%s via %s dev eth0 table main metric %s nhid %d" % (
        r["dst"].replace("default", "::/0"), r["gateway"], r.get("metric", 0), r["nhid"]) for r in live)
    assert len(live) == 4
    switch_back = dict(params, nexthop_objects=False)
    before = everything(ns), nexthops(ns)
    check = ns.run_module(switch_back, check_mode=True, diff=True)
    assert (everything(ns), nexthops(ns)) == before
    real = ns.run_module(switch_back, diff=True)
    for key in ("changed", "added", "removed", "modified", "commands", "routes", "diff", "nexthops"):
        assert check[key] == real[key], key
    assert ns.run_module(switch_back)["changed"] is False


def test_nexthop_mode_ten_thousand_routes(ns):
    n = 10000
    # 10 000 peers, each its own gateway in 10.168.0.0/16 (a /16 on eth0 here)
    ns.ip("addr", "add", "10.169.0.1/16", "dev", "eth0")
    routes = ["10.%d.%d.0/24 via 10.169.%d.%d dev eth0"
              % (100 + i // 256, i % 256, 1 + i // 250, 1 + i % 250) for i in range(n)]
    res = ns.run_module({"routes": routes, "nexthop_objects": True})
    assert res.get("failed") is not True, res.get("msg")
    assert len(res["added"]) == n and len(res["nexthops"]["added"]) == n
    live = [r for r in ns.json("-4", "route") if r.get("protocol") == "252"]
    assert len(live) == n and all("nhid" in r for r in live)
    assert len(our_nexthops(ns)) == n
    again = ns.run_module({"routes": routes, "nexthop_objects": True})
    assert again["changed"] is False


if __name__ == "__main__":
    if "--recapture" in sys.argv:
        recapture()
    else:
        print(__doc__)

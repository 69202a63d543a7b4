"""Module-level unit tests for podnet.hostgw.ip_route.

``run_command`` is mocked: it answers ``ip -json route show`` and ``ip -json
link show`` with outputs captured from the real kernel (tests/fixtures), and
records ``ip -batch`` input.  These tests cover the module's plumbing - check
mode, diff, what is read, error translation and reporting; the kernel's own
behaviour is covered by tests/integration/test_ip_route.py.
"""

import fcntl
import json
import os

import pytest

from ansible_collections.podnet.hostgw.plugins.modules import ip_route
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.lock import LOCK_PATH_ENV
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.routes import protos
from tests.conftest import REPO
from tests.unit.plugins.modules.conftest import run_module

FIXTURES = os.path.join(REPO, "tests", "fixtures")
IP = "/usr/sbin/ip"
MISSING_TABLE = None  # filled from the fixture below


def fixture(name):
    with open(os.path.join(FIXTURES, "ip_route_%s.json" % name)) as fh:
        return json.load(fh)


_missing = fixture("missing_table")
MISSING_TABLE = (_missing["rc"], _missing["stdout"], _missing["stderr"])


class FakeIp(object):
    """Plays ``ip`` for run_command from captured outputs.

    TABLES maps ("-4"|"-6", table) to ip's stdout (or a (rc, out, err)
    tuple); a table not listed answers like a table that does not exist.
    AFTER, if given, replaces TABLES once a batch ran (the re-read after a
    failure)."""

    def __init__(self, tables=None, link=None, batch=(0, "", ""), after=None):
        self.tables = tables or {}
        self.link = link if link is not None else fixture("link")["stdout"]
        self.batch_answer = batch
        self.after = after
        self.calls = []
        self.batches = []

    def __call__(self, argv, data=None, binary_data=False, environ_update=None, **kw):
        assert isinstance(argv, list), "argv lists only, never a shell string"
        assert argv[0] == IP
        assert environ_update and environ_update.get("LC_ALL") == "C"
        self.calls.append(list(argv[1:]))
        args = argv[1:]
        if args == ["-json", "link", "show"]:
            return 0, self.link, ""
        if "-batch" in args:
            assert args == ["-force", "-batch", "-"]
            self.batches.append(data)
            return self.batch_answer
        if args[0] == "-json" and args[2:5] == ["route", "show", "table"]:
            tables = self.after if (self.batches and self.after is not None) else self.tables
            answer = tables.get((args[1], args[5]), MISSING_TABLE)
            return answer if isinstance(answer, tuple) else (0, answer, "")
        raise AssertionError("unexpected ip call %r" % argv)

    @property
    def route_reads(self):
        return [(c[1], c[5]) for c in self.calls if c[2:4] == ["route", "show"]]


@pytest.fixture(autouse=True)
def no_system_files(monkeypatch, tmp_path):
    """Do not let the host's /etc/iproute2 influence the tests, and keep the
    host lock in the test's directory."""
    monkeypatch.setattr(protos, "PROTOS_FILES", (str(tmp_path / "sys" / "rt_protos"),))
    monkeypatch.setattr(protos, "PROTOS_DIRS", (str(tmp_path / "sys" / "rt_protos.d"),))
    monkeypatch.setenv(LOCK_PATH_ENV, str(tmp_path / "lock" / "podnet-hostgw.lock"))


def run(params, fake, check_mode=False, diff=False):
    return run_module(ip_route, params, fake, check_mode=check_mode, diff=diff, bin_path=IP)


V4_MAIN = fixture("v4_main")["stdout"]
V6_MAIN = fixture("v6_main")["stdout"]
V4_T100 = fixture("v4_table100")["stdout"]
V4_NAMED = fixture("v4_named")["stdout"]

# The own (proto 252) routes of the v4_main fixture, as routes entries.
OWN_V4 = [
    {"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0"},
    {"dest": "192.168.2.0/24", "via": "10.168.0.2", "dev": "eth0", "metric": 100},
    {"dest": "192.168.5.0/24", "via": "1.2.3.4", "dev": "eth0", "onlink": True},
    {"dest": "192.168.6.0/24", "dev": "eth0"},
    {"dest": "192.168.7.0/24", "via": "10.169.0.2", "dev": "eth1"},
    {"dest": "192.168.11.5", "via": "10.168.0.2", "dev": "eth0"},
]
LINK_WITH_ETH1 = json.dumps(json.loads(fixture("link")["stdout"]) + [{"ifindex": 9, "ifname": "eth1"}])


def main_tables():
    return {("-4", "main"): V4_MAIN, ("-6", "main"): V6_MAIN}


def changeset():
    """A change to the v4_main fixture: one next hop changed, one metric
    changed, one added, the rest of the own routes purged."""
    return dict(routes=[
        {"dest": "192.168.1.0/24", "via": "10.168.0.9", "dev": "eth0"},
        {"dest": "192.168.2.0/24", "via": "10.168.0.2", "dev": "eth0", "metric": 300},
        {"dest": "192.168.20.0/24", "via": "10.168.0.20", "dev": "eth0"},
    ], purge=True)


# ------------------------------------------------------------ check mode --

def test_check_mode_runs_nothing_and_predicts_the_real_run(tmp_path):
    params = dict(changeset(), protos_dir=str(tmp_path / "d"))
    fake = FakeIp(main_tables(), link=LINK_WITH_ETH1)
    check = run(params, fake, check_mode=True)
    assert not check.failed
    assert fake.batches == []
    assert not (tmp_path / "d").exists()

    fake = FakeIp(main_tables(), link=LINK_WITH_ETH1)
    real = run(params, fake)
    assert not real.failed
    for key in ("changed", "added", "removed", "modified", "commands", "routes", "protos_file"):
        assert check.result[key] == real.result[key], key
    assert fake.batches == ["\n".join(real.result["commands"]) + "\n"]
    # own routes are purged in both families, foreign ones never appear
    cmds = real.result["commands"]
    assert cmds[:3] == [
        "route replace 192.168.1.0/24 via 10.168.0.9 dev eth0 table 254 metric 0 proto 252",
        "route replace 192.168.2.0/24 via 10.168.0.2 dev eth0 table 254 metric 300 proto 252",
        "route replace 192.168.20.0/24 via 10.168.0.20 dev eth0 table 254 metric 0 proto 252",
    ]
    assert "route del 192.168.2.0/24 via 10.168.0.2 dev eth0 table 254 metric 100 proto 252" in cmds
    assert "route del fd00:20::/64 via fd00:10::2 dev eth0 table 254 metric 1024 proto 252" in cmds
    assert all(c.endswith(" proto 252") for c in cmds)
    assert not any(x in c for c in cmds for x in ("192.168.1.0/24 via 10.168.0.3",
                                                  "192.168.3.0", "192.168.12.0", "192.168.13.0",
                                                  "0.0.0.0/0", "::/0", "fd00:22::"))
    assert real.result["added"] == ["192.168.20.0/24 via 10.168.0.20 dev eth0 table main metric 0"]
    assert [m["reason"] for m in real.result["modified"]] == ["via 10.168.0.2 -> 10.168.0.9", "metric 100 -> 300"]
    assert real.result["changed"] is True


def test_diff_shows_managed_routes_before_and_after():
    fake = FakeIp({("-4", "main"): V4_MAIN})
    res = run(dict(routes=[{"dest": "192.168.1.0/24", "via": "10.168.0.9", "dev": "eth0"},
                           {"dest": "192.168.30.0/24", "via": "10.168.0.3"}],
                   protos_dir=""), fake, check_mode=True, diff=True)
    diff = res.result["diff"]
    before = diff["before"].splitlines()
    after = diff["after"].splitlines()
    assert before == sorted(before) and after == sorted(after)
    assert "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0" in before
    assert "192.168.1.0/24 via 10.168.0.9 dev eth0 table main metric 0" in after
    assert "192.168.30.0/24 via 10.168.0.3 table main metric 0" in after
    assert "192.168.30.0/24 via 10.168.0.3 table main metric 0" not in before
    # unchanged own routes are on both sides; foreign routes on neither
    assert "blackhole 192.168.8.0/24 table main metric 0" in before and \
        "blackhole 192.168.8.0/24 table main metric 0" in after
    assert not any("192.168.3.0/24" in line for line in before + after)
    assert diff["before_header"] == "routes proto hostgw (252) in table main"


def test_no_diff_key_without_diff_mode():
    res = run(dict(routes=OWN_V4, protos_dir=""), FakeIp({("-4", "main"): V4_MAIN}, link=LINK_WITH_ETH1))
    assert "diff" not in res.result


# ------------------------------------------------------------- reading --

def test_noop_runs_no_batch_and_reads_once():
    fake = FakeIp({("-4", "main"): V4_MAIN}, link=LINK_WITH_ETH1)
    res = run(dict(routes=OWN_V4, protos_dir=""), fake)
    assert res.result["changed"] is False and res.result["commands"] == []
    assert fake.batches == []
    assert fake.route_reads == [("-4", "main")]


def test_reads_each_family_and_table_once():
    fake = FakeIp({("-4", "main"): V4_MAIN, ("-6", "main"): V6_MAIN, ("-4", "100"): V4_T100})
    res = run(dict(routes=[{"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0"},
                           {"dest": "192.168.2.0/24", "via": "10.168.0.2", "dev": "eth0", "metric": 100},
                           {"dest": "fd00:20::/64", "via": "fd00:10::2", "dev": "eth0"}],
                   tables=["100", "main"], purge=True, protos_dir=""), fake, check_mode=True)
    assert not res.failed
    assert sorted(fake.route_reads) == sorted([("-4", "main"), ("-6", "main"), ("-4", "100"), ("-6", "100")])
    # table 100 (named only in tables) is purged of own routes, IPv6 table 100 does not exist
    assert "route del 192.168.4.0/24 via 10.168.0.3 dev eth0 table 100 metric 5 proto 252" in \
        res.result["commands"]


def test_missing_table_is_empty():
    fake = FakeIp({})
    res = run(dict(routes=[{"dest": "192.168.1.0/24", "via": "10.168.0.2", "table": 200}],
                   protos_dir=""), fake, check_mode=True)
    assert res.result["commands"] == [
        "route replace 192.168.1.0/24 via 10.168.0.2 table 200 metric 0 proto 252"]


def test_other_read_errors_fail():
    fake = FakeIp({("-4", "main"): (1, "", "Error: something else broke.\n")})
    res = run(dict(routes=[{"dest": "192.168.1.0/24", "via": "10.168.0.2"}], protos_dir=""), fake)
    assert res.failed and "something else broke" in res.result["msg"]
    assert fake.batches == []


def test_protocol_name_in_output_is_matched():
    fake = FakeIp({("-4", "main"): V4_NAMED})
    res = run(dict(routes=[{"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0"},
                           {"dest": "192.168.2.0/24", "via": "10.168.0.2", "dev": "eth0", "metric": 100}],
                   purge=True, protos_dir=""), fake)
    assert res.result["changed"] is False and fake.batches == []


# --------------------------------------------------- validation failures --

def test_bad_input_fails_before_running_anything():
    fake = FakeIp(main_tables())
    res = run(dict(routes=[{"dest": "192.168.1.5/24", "via": "10.168.0.2"},
                           {"dest": "192.168.2.0/24", "via": "10.168.0.2", "dev": "eth0\n"},
                           {"dest": "192.168.3.0/24", "via": "10.168.0.2", "metric": -1},
                           {"dest": "192.168.3.0/24", "via": "10.168.0.2", "table": "foo"}],
                   tables=["0"]), fake)
    assert res.failed and res.result["changed"] is False
    assert fake.calls == []
    msg = res.result["msg"]
    assert msg.startswith("invalid parameters, nothing was changed (5):")
    assert "routes[0]: dest '192.168.1.5/24' has host bits set; did you mean 192.168.1.0/24?" in msg
    assert "routes[1]: dev 'eth0\\n' contains a control character" in msg
    assert "routes[2]: metric -1 is out of range" in msg
    assert "routes[3]: table 'foo' must be a number" in msg
    assert "tables[0]: table '0' is out of range" in msg
    assert len(res.result["errors"]) == 5


@pytest.mark.parametrize("params,text", [
    (dict(protocol_number=4), "protocol_number 4 is the well-known protocol static"),
    (dict(protocol="kernel"), "protocol 'kernel' is the well-known protocol number 2"),
    (dict(protocol_number=300), "protocol_number 300 must be an integer 1..255"),
])
def test_bad_protocol_fails_before_running_anything(params, text):
    fake = FakeIp(main_tables())
    res = run(dict(params, routes=[{"dest": "192.168.1.0/24", "via": "10.168.0.2"}]), fake)
    assert res.failed and text in res.result["msg"]
    assert fake.calls == []


def test_conflicting_protocol_mapping_file(tmp_path, monkeypatch):
    d = tmp_path / "sys" / "rt_protos.d"
    d.mkdir(parents=True)
    (d / "other.conf").write_text("252 calico\n")
    fake = FakeIp(main_tables())
    res = run(dict(routes=[{"dest": "192.168.1.0/24", "via": "10.168.0.2"}],
                   protos_dir=str(tmp_path / "mine")), fake)
    assert res.failed
    assert "protocol_number 252 is already named 'calico' in %s" % (d / "other.conf") in res.result["msg"]
    assert fake.calls == [] and not (tmp_path / "mine").exists()


def test_foreign_conflict_fails_without_changes():
    fake = FakeIp(main_tables())
    res = run(dict(routes=[{"dest": "192.168.3.0/24", "via": "10.168.0.9", "dev": "eth0"},
                           {"dest": "192.168.40.0/24", "via": "10.168.0.9", "dev": "eth0"}],
                   protos_dir=""), fake)
    assert res.failed and fake.batches == []
    assert "routes held by another protocol, nothing was changed (1)" in res.result["msg"]
    assert "192.168.3.0/24 via 10.168.0.3 dev eth0 table main metric 0 proto static" in res.result["msg"]


def test_missing_device_fails_without_changes():
    fake = FakeIp(main_tables())
    res = run(dict(routes=[{"dest": "192.168.40.0/24", "via": "10.168.0.9", "dev": "eth0"},
                           {"dest": "192.168.41.0/24", "via": "10.168.0.9", "dev": "cni9"}],
                   protos_dir=""), fake)
    assert res.failed and fake.batches == []
    assert "routes[1]: dev 'cni9' does not exist on this host (dest 192.168.41.0/24)" in res.result["msg"]


def test_altname_is_resolved_to_the_interface_name():
    fake = FakeIp({("-4", "main"): V4_MAIN})
    res = run(dict(routes=[{"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "underlay0"}],
                   protos_dir=""), fake)
    assert not res.failed and res.result["changed"] is False


# -------------------------------------------------------- batch failures --

def _json_route(dst, gw, dev="eth0", proto="252"):
    return {"dst": dst, "gateway": gw, "dev": dev, "protocol": proto, "flags": []}


def test_partial_failure_reports_applied_and_translated_errors():
    routes = [{"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0"},
              {"dest": "192.168.2.0/24", "via": "10.99.0.2", "dev": "eth0"},
              {"dest": "192.168.4.0/24", "via": "10.168.0.2", "dev": "eth0", "src": "10.1.1.1"},
              {"dest": "fd00:30::/64", "via": "fd00:99::1", "dev": "eth0"}]
    # the kernel's messages as in tests/fixtures/ip_route_batch_errors.json
    stderr = ("Error: Nexthop has invalid gateway.\nCommand failed -:2\n"
              "Error: Invalid prefsrc address.\nCommand failed -:3\n"
              "RTNETLINK answers: No route to host\nCommand failed -:4\n")
    after = {("-4", "main"): json.dumps([_json_route("192.168.1.0/24", "10.168.0.2")]),
             ("-6", "main"): "[]"}
    fake = FakeIp({}, batch=(1, "", stderr), after=after)
    res = run(dict(routes=routes, protos_dir=""), fake)
    assert res.failed and res.result["changed"] is True
    assert res.result["applied"] == [
        "route replace 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252"]
    errors = dict((x["command"].split()[2], x["error"]) for x in res.result["not_applied"])
    assert errors["192.168.2.0/24"].startswith(
        "next hop 10.99.0.2 is not on a network directly connected to dev eth0; "
        "host-gw needs every node on one L2 segment")
    assert errors["192.168.4.0/24"].startswith("src 10.1.1.1 is not an address of this host")
    assert errors["fd00:30::/64"].startswith("next hop fd00:99::1 is not on a network directly connected")
    msg = res.result["msg"]
    assert msg.startswith("applied 1 of 4 route changes; ")
    assert "not applied (3):\n" in msg
    assert "routes[1] 192.168.2.0/24 via 10.99.0.2 dev eth0 table main metric 0: next hop 10.99.0.2" in msg
    assert res.result["routes"] == ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0"]
    # re-read after the failure: one more read per table/family
    assert fake.route_reads == [("-4", "main"), ("-6", "main")] * 2


def test_parse_error_stops_ip_and_later_lines_are_reported_not_run():
    routes = [{"dest": "192.168.%d.0/24" % i, "via": "10.168.0.2", "dev": "eth0"} for i in (1, 2, 3)]
    stderr = 'Error: inet address is expected rather than "nonsense".\n'
    after = {("-4", "main"): json.dumps([_json_route("192.168.1.0/24", "10.168.0.2")])}
    res = run(dict(routes=routes, protos_dir=""), FakeIp({}, batch=(255, "", stderr), after=after))
    assert res.failed
    errs = [x["error"] for x in res.result["not_applied"]]
    assert errs == ['inet address is expected rather than "nonsense".',
                    "not run: ip -batch stopped at an earlier line"]


def test_errors_but_everything_in_effect_is_success():
    # a route we meant to delete was removed by someone else meanwhile
    fake = FakeIp({("-4", "main"): V4_MAIN}, link=LINK_WITH_ETH1,
                  batch=(1, "", "RTNETLINK answers: No such process\nCommand failed -:1\n"),
                  after={("-4", "main"): "[]"})
    res = run(dict(routes=[{"dest": "192.168.2.0/24", "metric": 100, "state": "absent"}], protos_dir=""), fake)
    assert not res.failed and res.result["changed"] is True
    assert any("every change is in effect" in w for w in res.result["warnings"])


# ------------------------------------------------------ state and purge --

def test_module_state_absent_with_per_route_override():
    fake = FakeIp({("-4", "main"): V4_MAIN}, link=LINK_WITH_ETH1)
    res = run(dict(state="absent", protos_dir="",
                   routes=[{"dest": "192.168.1.0/24"},
                           {"dest": "192.168.6.0/24", "dev": "eth0", "state": "present"}]), fake, check_mode=True)
    assert res.result["commands"] == [
        "route del 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252"]


def test_absent_on_foreign_route_warns():
    res = run(dict(protos_dir="", routes=[{"dest": "192.168.3.0/24", "state": "absent"}]),
              FakeIp({("-4", "main"): V4_MAIN}), check_mode=True)
    assert res.result["commands"] == []
    assert "left in place 192.168.3.0/24 via 10.168.0.3 dev eth0 table main metric 0 proto static" in \
        res.result["warnings"][0]


STATIC_3 = "192.168.3.0/24 via 10.168.0.3 dev eth0 table main metric 0 proto static"


@pytest.mark.parametrize("check_mode", [False, True])
def test_identical_foreign_route_is_left_reported_and_no_change(check_mode):
    fake = FakeIp({("-4", "main"): V4_MAIN, ("-6", "main"): V6_MAIN}, link=LINK_WITH_ETH1)
    res = run(dict(routes=OWN_V4 + ["192.168.3.0/24 via 10.168.0.3 dev eth0"], protos_dir=""),
              fake, check_mode=check_mode, diff=True)
    assert not res.failed
    assert res.result["changed"] is False and res.result["commands"] == [] and fake.batches == []
    assert res.result["foreign"] == [STATIC_3] and res.result["modified"] == []
    assert any(STATIC_3 in w and "takeover: true adopts it" in w for w in res.result["warnings"])
    assert "192.168.3.0/24" not in res.result["diff"]["before"] + res.result["diff"]["after"]


def test_identical_foreign_route_is_adopted_only_with_takeover():
    fake = FakeIp({("-4", "main"): V4_MAIN}, link=LINK_WITH_ETH1)
    res = run(dict(routes=OWN_V4 + ["192.168.3.0/24 via 10.168.0.3 dev eth0"], protos_dir="",
                   takeover=True), fake)
    assert res.result["commands"] == [
        "route replace 192.168.3.0/24 via 10.168.0.3 dev eth0 table 254 metric 0 proto 252"]
    assert res.result["modified"][0]["reason"] == "adopted identical route from protocol static"
    assert res.result["foreign"] == []


class LockProbe(FakeIp):
    """FakeIp that records, at every ip call, whether another open of the
    host lock could take it (it must not: the module holds it)."""

    def __init__(self, path, *args, **kw):
        super(LockProbe, self).__init__(*args, **kw)
        self.path = path
        self.free = []

    def __call__(self, argv, data=None, **kw):
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.free.append(True)
        except OSError:
            self.free.append(False)
        finally:
            os.close(fd)
        return super(LockProbe, self).__call__(argv, data=data, **kw)


@pytest.mark.parametrize("check_mode", [False, True])
def test_reads_plans_and_applies_under_the_host_lock(tmp_path, check_mode):
    path = os.environ[LOCK_PATH_ENV]
    fake = LockProbe(path, {("-4", "main"): V4_MAIN}, link=LINK_WITH_ETH1)
    res = run(dict(changeset(), protos_dir=""), fake, check_mode=check_mode)
    assert not res.failed and res.result["changed"] is True
    assert fake.free and not any(fake.free)
    assert len(fake.batches) == (0 if check_mode else 1)
    # released afterwards
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_purge_with_empty_routes_defaults_to_main_both_families():
    fake = FakeIp(main_tables())
    res = run(dict(routes=[], purge=True, protos_dir=""), fake, check_mode=True)
    assert sorted(fake.route_reads) == [("-4", "main"), ("-6", "main")]
    assert len(res.result["removed"]) == 9 + 4
    assert all(c.startswith("route del ") for c in res.result["commands"])


# ---------------------------------------------------------- protos file --

def test_protos_file_written_and_idempotent(tmp_path):
    d = tmp_path / "rt_protos.d"
    params = dict(routes=OWN_V4, protos_dir=str(d))
    fake = FakeIp({("-4", "main"): V4_MAIN}, link=LINK_WITH_ETH1)
    res = run(params, fake, check_mode=True)
    assert res.result["changed"] is True and res.result["protos_file"] == {
        "path": str(d / "hostgw.conf"), "changed": True}
    assert not d.exists()
    res = run(params, fake)
    assert res.result["changed"] is True and fake.batches == []
    text = (d / "hostgw.conf").read_text()
    assert "\n252 hostgw\n" in text
    assert oct((d / "hostgw.conf").stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in d.iterdir()] == ["hostgw.conf"]      # no temp file left
    res = run(params, fake)
    assert res.result["changed"] is False
    assert res.result["protos_file"]["changed"] is False


def test_protos_file_with_wrong_mapping_is_rewritten(tmp_path):
    d = tmp_path / "rt_protos.d"
    d.mkdir()
    (d / "hostgw.conf").write_text("253 hostgw\n")
    res = run(dict(routes=OWN_V4, protos_dir=str(d)), FakeIp({("-4", "main"): V4_MAIN}, link=LINK_WITH_ETH1))
    assert res.result["protos_file"]["changed"] is True
    assert "252 hostgw" in (d / "hostgw.conf").read_text()


def test_protos_file_custom_name_and_number(tmp_path):
    fake = FakeIp({})
    res = run(dict(routes=[{"dest": "192.168.1.0/24", "via": "10.168.0.2"}], protocol="podnet",
                   protocol_number=201, protos_dir=str(tmp_path)), fake)
    assert "201 podnet" in (tmp_path / "podnet.conf").read_text()
    assert res.result["commands"] == ["route replace 192.168.1.0/24 via 10.168.0.2 table 254 metric 0 proto 201"]
    assert res.result["protocol"] == {"name": "podnet", "number": 201}


def test_empty_protos_dir_writes_nothing():
    res = run(dict(routes=[], protos_dir=""), FakeIp({}))
    assert "protos_file" not in res.result and res.result["changed"] is False


# ---------------------------------------------------------- large sets --

def test_invocation_not_echoed_for_large_sets():
    many = [{"dest": "10.1.%d.0/24" % i, "via": "10.168.0.2"} for i in range(250)]
    res = run(dict(routes=many, protos_dir=""), FakeIp({}), check_mode=True)
    assert res.result["invocation"]["module_args"]["routes"] == "(250 routes, not echoed back)"
    assert len(res.result["commands"]) == 250
    res = run(dict(routes=many[:3], protos_dir=""), FakeIp({}), check_mode=True)
    assert "invocation" not in res.result        # AnsibleModule adds the full one itself


# ------------------------------------------------------ nexthop objects --

def nh_fixture(name):
    with open(os.path.join(FIXTURES, "ip_nexthop_%s.json" % name)) as fh:
        return json.load(fh)


NH_SHOW = nh_fixture("show")["stdout"]
NH_EMPTY = nh_fixture("empty")["stdout"]
NH_V4_MAIN = nh_fixture("route_v4_main")["stdout"]
NH_V6_MAIN = nh_fixture("route_v6_main")["stdout"]
NH_V4_ALL = nh_fixture("route_v4_all")["stdout"]
NH_V6_ALL = nh_fixture("route_v6_all")["stdout"]
NH_ROUTES = ["192.168.1.0/24 via 10.168.0.2 dev eth0",
             "192.168.2.0/24 via 10.168.0.3 dev eth0",
             "192.168.3.0/24 via 10.200.0.2 dev eth0 onlink metric 5",
             "fd00:1:1::/64 via fd00:10::2 dev eth0",
             "fd00:1:2::/64 via fd00:10::3 dev eth0"]


class FakeNhIp(FakeIp):
    """FakeIp that also answers ``ip -json nexthop show`` (NEXTHOPS: stdout
    or an (rc, out, err) tuple) and ``route show table all``."""

    def __init__(self, tables, nexthops=NH_SHOW, all_tables=None, **kw):
        super(FakeNhIp, self).__init__(tables, **kw)
        self.nexthops = nexthops
        self.all_tables = all_tables or {"-4": NH_V4_ALL, "-6": NH_V6_ALL}

    def __call__(self, argv, data=None, **kw):
        args = argv[1:]
        if args == ["-json", "nexthop", "show"]:
            self.calls.append(list(args))
            return self.nexthops if isinstance(self.nexthops, tuple) else (0, self.nexthops, "")
        if args[0] == "-json" and args[2:] == ["route", "show", "table", "all"]:
            self.calls.append(list(args))
            return 0, self.all_tables[args[1]], ""
        return super(FakeNhIp, self).__call__(argv, data=data, **kw)


def nh_tables():
    return {("-4", "main"): NH_V4_MAIN, ("-6", "main"): NH_V6_MAIN}


def test_nexthop_mode_check_mode_predicts_the_real_run():
    params = dict(routes=NH_ROUTES + ["192.168.5.0/24 via 10.168.0.5 dev eth0"],
                  nexthop_objects=True, purge=True, protos_dir="")
    fake = FakeNhIp(nh_tables())
    check = run(params, fake, check_mode=True, diff=True)
    assert not check.failed, check.result["msg"]
    assert fake.batches == []
    fake = FakeNhIp(nh_tables())
    real = run(params, fake, diff=True)
    for key in ("changed", "added", "removed", "modified", "commands", "routes", "diff", "nexthops"):
        assert check.result[key] == real.result[key], key
    assert fake.batches == ["\n".join(real.result["commands"]) + "\n"]
    assert real.result["commands"] == [
        "nexthop add id 264241155 via 10.168.0.5 dev eth0 proto 252",
        "nexthop add id 264241160 via fd00:10::3 dev eth0 proto 252",
        "route replace 192.168.2.0/24 nhid 264241154 table 254 metric 0 proto 252",
        "route replace fd00:1:2::/64 nhid 264241160 table 254 metric 1024 proto 252",
        "route replace 192.168.5.0/24 nhid 264241155 table 254 metric 0 proto 252"]
    assert real.result["nexthops"]["removed"] == []
    assert "192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0 nhid 264241154\n" in \
        real.result["diff"]["after"]
    # the table-all reads happen only when an object of ours could go
    assert ["-json", "-4", "route", "show", "table", "all"] in fake.calls


def test_nexthop_mode_off_does_not_read_nexthops_without_nhid_routes():
    fake = FakeNhIp({("-4", "main"): V4_MAIN}, link=LINK_WITH_ETH1)
    res = run(dict(routes=OWN_V4, protos_dir=""), fake)
    assert res.result["commands"] == [] and "nexthops" not in res.result
    assert ["-json", "nexthop", "show"] not in fake.calls


def test_nexthop_mode_off_converts_our_nhid_routes_back():
    fake = FakeNhIp(nh_tables())
    res = run(dict(routes=NH_ROUTES, protos_dir=""), fake)
    assert not res.failed
    cmds = res.result["commands"]
    assert "route replace 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252" in cmds
    assert cmds[-4:] == ["nexthop del id 264241152", "nexthop del id 264241154",
                         "nexthop del id 264241156", "nexthop del id 264241159"]
    assert res.result["nexthops"]["removed"][0] == "id 264241152 via 10.168.0.2 dev eth0 proto 252"


def test_nexthop_mode_on_empty_host_from_scratch():
    fake = FakeNhIp({}, nexthops=NH_EMPTY)
    res = run(dict(routes=["192.168.1.0/24 via 10.168.0.2 dev eth0",
                           "192.168.2.0/24 via 10.168.0.2 dev eth0",
                           "192.168.3.0/24 dev eth0"], nexthop_objects=True, protos_dir=""), fake)
    assert res.result["commands"] == [
        "nexthop add id 264241152 via 10.168.0.2 dev eth0 proto 252",
        "route replace 192.168.1.0/24 nhid 264241152 table 254 metric 0 proto 252",
        "route replace 192.168.2.0/24 nhid 264241152 table 254 metric 0 proto 252",
        "route replace 192.168.3.0/24 dev eth0 table 254 metric 0 proto 252"]
    assert res.result["added"][0] == "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0 nhid 264241152"


@pytest.mark.parametrize("answer", [
    # iproute2 older than 5.3 (synthetic: this host has 6.1)
    (255, "", 'Object "nexthop" is unknown, try "ip help".\n'),
    # kernel older than 5.3 (synthetic: this host runs 6.18)
    (2, "", "Error: Operation not supported.\nDump terminated\n"),
])
def test_nexthop_mode_without_kernel_support_fails_clearly(answer):
    fake = FakeNhIp({}, nexthops=answer)
    res = run(dict(routes=["192.168.1.0/24 via 10.168.0.2 dev eth0"], nexthop_objects=True,
                   protos_dir=""), fake)
    assert res.failed and fake.batches == []
    assert res.result["msg"].startswith("nexthop_objects: true needs nexthop objects (Linux 5.3 or later")
    assert answer[2].splitlines()[0] in res.result["msg"]


def test_nexthop_mode_needs_dev():
    fake = FakeNhIp({})
    res = run(dict(routes=["192.168.1.0/24 via 10.168.0.2"], nexthop_objects=True, protos_dir=""), fake)
    assert res.failed and "routes[0]: dest '192.168.1.0/24' has via but no dev" in res.result["msg"]
    assert fake.calls == []


def test_nexthop_mode_failed_batch_reports_per_line():
    err = ("Error: Nexthop has invalid gateway.\nCommand failed -:1\n"
           "Error: Nexthop id does not exist.\nCommand failed -:2\n")
    fake = FakeNhIp({}, nexthops=NH_EMPTY, batch=(1, "", err), after={})
    res = run(dict(routes=["192.168.1.0/24 via 10.99.0.2 dev eth0"], nexthop_objects=True,
                   protos_dir=""), fake)
    assert res.failed
    na = res.result["not_applied"]
    assert [x["command"] for x in na] == [
        "nexthop add id 264241152 via 10.99.0.2 dev eth0 proto 252",
        "route replace 192.168.1.0/24 nhid 264241152 table 254 metric 0 proto 252"]
    assert na[0]["route"] == "nexthop id 264241152 via 10.99.0.2 dev eth0 proto 252"
    assert na[0]["error"].startswith("next hop 10.99.0.2 is not on a network directly connected")
    assert na[1]["error"].startswith("its nexthop object 264241152 was not created")

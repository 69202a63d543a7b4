"""Module-level unit tests for podnet.hostgw.netfilter.

``run_command`` is mocked: it answers ``nft -j list ...`` and ``iptables -S``
with listings captured from the real kernel (tests/fixtures/nft_*.json,
iptables_*.json), and records what would be applied.  These tests cover the
module's plumbing - backend choice, check mode, diff, errors, what runs and
in which order; the kernel's behaviour is covered by
tests/integration/test_netfilter.py.
"""

import json
import os

import pytest

from ansible_collections.podnet.hostgw.plugins.modules import netfilter
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import netfilter as nf
from tests.conftest import REPO
from tests.unit.plugins.modules.conftest import run_module

FIXTURES = os.path.join(REPO, "tests", "fixtures")
SBIN = "/usr/sbin/"
NAME = nf.DEFAULT_NAME
ALL_TOOLS = ("nft", "iptables", "iptables-restore", "ip6tables", "ip6tables-restore",
             "iptables-legacy", "iptables-legacy-restore", "ip6tables-legacy",
             "ip6tables-legacy-restore")


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".json")) as fh:
        return json.load(fh)


def out(name):
    return fixture(name)["stdout"]


NO_TABLES = json.dumps({"nftables": [{"metainfo": {"json_schema_version": 1}}]})
OUR_TABLES = out("nft_tables")
OWN_V4 = out("nft_own_v4")
EMPTY_FILTER = out("iptables_empty_filter")
EMPTY_NAT = out("iptables_empty_nat")
MISSING = (fixture("nft_missing")["rc"], "", fixture("nft_missing")["stderr"])


class FakeHost(object):
    """Plays nft and iptables for run_command.

    LISTINGS maps an argv (without the /usr/sbin/ prefix, as a tuple) to
    stdout or an (rc, out, err) tuple; AFTER replaces entries once something
    was applied (the re-read).  APPLY maps the applying command's name to its
    (rc, out, err)."""

    def __init__(self, listings=None, after=None, apply=None):
        self.listings = {
            ("nft", "-j", "list", "tables"): NO_TABLES,
            ("nft", "-j", "list", "table", "inet", NAME): MISSING,
        }
        for cmd in ("iptables", "ip6tables", "iptables-legacy", "ip6tables-legacy"):
            self.listings[(cmd, "-w", "10", "-t", "filter", "-S")] = EMPTY_FILTER
            self.listings[(cmd, "-w", "10", "-t", "nat", "-S")] = EMPTY_NAT
        self.listings.update(listings or {})
        self.after = after or {}
        self.apply = apply or {}
        self.calls = []
        self.applied = []

    def __call__(self, argv, data=None, binary_data=False, environ_update=None, **kw):
        assert isinstance(argv, list), "argv lists only, never a shell string"
        assert all(a.startswith(SBIN) for a in argv[:1])
        assert environ_update and environ_update.get("LC_ALL") == "C"
        assert binary_data is True          # the script goes in unchanged
        args = tuple([argv[0][len(SBIN):]] + argv[1:])
        self.calls.append((args, data))
        if args[-1] == "-" or "--noflush" in args:
            if "--check" not in args and "--test" not in args:
                self.applied.append((args, data))
            return self.apply.get(args[0], (0, "", ""))
        table = self.after if self.applied and args in self.after else self.listings
        answer = table.get(args)
        if answer is None:
            raise AssertionError("unexpected call %r" % (argv,))
        return answer if isinstance(answer, tuple) else (0, answer, "")

    @property
    def writes(self):
        """Every applying or checking command, as (name, flags, stdin)."""
        return [(a[0], a[1:], d) for a, d in self.calls if a[-1] == "-" or "--noflush" in a]


def run(params, host, check_mode=False, diff=False, tools=ALL_TOOLS):
    return run_module(netfilter, params, host, check_mode=check_mode, diff=diff,
                      bin_path=lambda name: SBIN + name if name in tools else None)


def wanted(cidrs, **kw):
    params = dict(name=NAME, state="present", cluster_cidrs=cidrs)
    params.update(kw)
    return nf.nft_wanted_text(nf.validate(params)[0])


def in_sync_v4():
    return {("nft", "-j", "list", "tables"): OUR_TABLES,
            ("nft", "-j", "list", "table", "inet", NAME): OWN_V4}


V4 = {"cluster_cidrs": ["192.168.0.0/16"]}


# -------------------------------------------------------------- validation --

def test_bad_input_runs_nothing():
    host = FakeHost()
    res = run({"cluster_cidrs": ["192.168.1.0/16", "x"], "name": "nat"}, host)
    assert res.failed
    assert res.result["errors"] == [
        "name 'nat' is the name of a standard table; pick a name of the collection's own "
        "such as podnet_hostgw",
        "cluster_cidrs[0] '192.168.1.0/16' has host bits set; did you mean 192.168.0.0/16?",
        "cluster_cidrs[1] 'x' is not an IPv4 or IPv6 network",
    ]
    assert res.result["msg"].startswith("invalid parameters, nothing was changed (3):")
    assert host.calls == []


def test_present_without_cidrs_fails():
    host = FakeHost()
    res = run({}, host)
    assert res.failed and "cluster_cidrs is required" in res.result["msg"]
    assert host.calls == []


# ------------------------------------------------------------- idempotence --

def test_in_sync_runs_only_reads():
    host = FakeHost(in_sync_v4())
    res = run(V4, host)
    assert not res.failed
    assert res.result["changed"] is False
    assert res.result["commands"] == [] and res.result["drift"] == []
    assert res.result["backend"] == "nftables"
    assert res.result["ruleset"] == wanted(["192.168.0.0/16"])
    assert host.writes == []
    # nft: tables + our table; iptables and ip6tables: filter + nat each
    assert len(host.calls) == 6
    assert res.result["warnings"] == []


def test_missing_table_is_created_with_the_script():
    host = FakeHost(after=in_sync_v4())
    res = run(V4, host)
    assert not res.failed and res.result["changed"] is True
    script = nf.nft_script(NAME, wanted(["192.168.0.0/16"]))
    assert res.result["commands"] == [{"argv": [SBIN + "nft", "-f", "-"], "stdin": script}]
    assert host.applied == [(("nft", "-f", "-"), script)]
    assert res.result["drift"] == ["missing: table inet podnet_hostgw"]
    assert res.result["warnings"] == []        # the re-read matched


def test_a_listing_that_does_not_read_back_is_reported():
    drifted = dict(in_sync_v4())
    drifted[("nft", "-j", "list", "table", "inet", NAME)] = out("nft_own_drift")
    host = FakeHost(after=drifted)
    res = run(V4, host)
    assert not res.failed and res.result["changed"] is True
    assert len(res.result["warnings"]) == 1
    assert "the next run will report a change again" in res.result["warnings"][0]


# -------------------------------------------------------------- check mode --

def test_check_mode_checks_with_the_kernel_and_predicts_the_real_run():
    listings = {("iptables", "-w", "10", "-t", "filter", "-S"): out("iptables_filter_docker")}
    check_host = FakeHost(dict(listings))
    check = run(dict(V4, backend="nftables"), check_host, check_mode=True, diff=True)
    assert not check.failed and check.result["changed"] is True
    assert check_host.applied == []
    # the same stdin is given to the kernel's own dry runs
    assert [(n, f) for n, f, _d in check_host.writes] == [
        ("nft", ("--check", "-f", "-")),
        ("iptables-restore", ("-w", "10", "--noflush", "--test"))]
    assert [d for _n, _f, d in check_host.writes] == [c["stdin"] for c in check.result["commands"]]

    real_host = FakeHost(dict(listings))
    real = run(dict(V4, backend="nftables"), real_host, diff=True)
    for key in ("changed", "commands", "drift", "ruleset", "diff", "backend", "backend_reason"):
        assert check.result[key] == real.result[key], key
    assert list(real_host.applied) == [
        (tuple([c["argv"][0][len(SBIN):]] + c["argv"][1:]), c["stdin"])
        for c in real.result["commands"]]


def test_check_mode_fails_when_the_kernel_would_reject_the_change():
    host = FakeHost(apply={"nft": (1, "", "Error: Could not process rule: No such file")})
    res = run(V4, host, check_mode=True)
    assert res.failed
    assert res.result["msg"] == ("the change would fail: /usr/sbin/nft --check -f - rejects it: "
                                 "Error: Could not process rule: No such file")
    assert host.applied == []


# ------------------------------------------------------------------ diff --

def test_diff_shows_our_objects_before_and_after():
    listings = in_sync_v4()
    listings[("iptables", "-w", "10", "-t", "nat", "-S")] = out("iptables_nat_own")
    host = FakeHost(listings)
    res = run({"cluster_cidrs": ["192.168.0.0/16", "fd00:1::/56"]}, host, check_mode=True,
              diff=True)
    diff = res.result["diff"]
    assert diff["before"] == wanted(["192.168.0.0/16"]) + (
        "# iptables -t nat\n"
        "-N PODNET-HOSTGW-NAT\n"
        "-A POSTROUTING -m comment --comment podnet-hostgw -j PODNET-HOSTGW-NAT\n"
        "-A PODNET-HOSTGW-NAT -d 10.244.0.0/16 -j RETURN\n"
        "-A PODNET-HOSTGW-NAT -d 192.168.0.0/16 -j RETURN\n"
        "-A PODNET-HOSTGW-NAT -s 10.244.0.0/16 -j MASQUERADE\n"
        "-A PODNET-HOSTGW-NAT -s 192.168.0.0/16 -j MASQUERADE\n")
    assert diff["after"] == wanted(["192.168.0.0/16", "fd00:1::/56"])
    assert diff["after"] == res.result["ruleset"]
    assert "PODNET-HOSTGW-FWD" in diff["before_header"] and "inet podnet_hostgw" in \
        diff["after_header"]
    assert res.result["drift"] == [
        "table inet podnet_hostgw chain forward: missing: ip6 saddr fd00:1::/56 accept",
        "table inet podnet_hostgw chain forward: missing: ip6 daddr fd00:1::/56 accept",
        "table inet podnet_hostgw chain postrouting: missing: ip6 saddr fd00:1::/56 ip6 daddr "
        "!= fd00:1::/56 masquerade",
        "iptables -t nat: unexpected: -N PODNET-HOSTGW-NAT",
        "iptables -t nat: unexpected: -A POSTROUTING -m comment --comment podnet-hostgw -j "
        "PODNET-HOSTGW-NAT",
        "iptables -t nat: unexpected: -A PODNET-HOSTGW-NAT -d 10.244.0.0/16 -j RETURN",
        "iptables -t nat: unexpected: -A PODNET-HOSTGW-NAT -d 192.168.0.0/16 -j RETURN",
        "iptables -t nat: unexpected: -A PODNET-HOSTGW-NAT -s 10.244.0.0/16 -j MASQUERADE",
        "iptables -t nat: unexpected: -A PODNET-HOSTGW-NAT -s 192.168.0.0/16 -j MASQUERADE",
    ]


def test_no_diff_key_without_diff_mode():
    res = run(V4, FakeHost(in_sync_v4()))
    assert "diff" not in res.result


# -------------------------------------------------------- backend choice --

def test_auto_uses_iptables_behind_a_forward_drop_policy():
    listings = in_sync_v4()
    listings[("iptables", "-w", "10", "-t", "filter", "-S")] = out("iptables_filter_docker")
    host = FakeHost(listings)
    res = run(V4, host, check_mode=True)
    assert res.result["backend"] == "iptables"
    assert res.result["backend_reason"] == (
        "auto: the iptables FORWARD policy is DROP; an nftables accept cannot override it, "
        "the jump at the top of that chain can")
    # iptables first (the rules must be in place before the nft table goes)
    assert [c["argv"] for c in res.result["commands"]] == [
        [SBIN + "iptables-restore", "-w", "10", "--noflush"], [SBIN + "nft", "-f", "-"]]
    assert res.result["commands"][0]["stdin"] == (
        "*filter\n"
        ":PODNET-HOSTGW-FWD - [0:0]\n"
        "-A PODNET-HOSTGW-FWD -s 192.168.0.0/16 -j ACCEPT\n"
        "-A PODNET-HOSTGW-FWD -d 192.168.0.0/16 -j ACCEPT\n"
        "-D FORWARD -i eth9 -j PODNET-HOSTGW-FWD\n"
        "COMMIT\n"
        "*nat\n"
        ":PODNET-HOSTGW-NAT - [0:0]\n"
        "-A PODNET-HOSTGW-NAT -d 192.168.0.0/16 -j RETURN\n"
        "-A PODNET-HOSTGW-NAT -s 192.168.0.0/16 -j MASQUERADE\n"
        "-I POSTROUTING 1 -m comment --comment podnet-hostgw -j PODNET-HOSTGW-NAT\n"
        "COMMIT\n")
    assert res.result["commands"][1]["stdin"] == nf.nft_script(NAME, None)
    assert res.result["warnings"] == []


def test_forward_drop_of_an_unused_family_does_not_matter():
    listings = in_sync_v4()
    listings[("ip6tables", "-w", "10", "-t", "filter", "-S")] = \
        "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n"
    res = run(V4, FakeHost(listings))
    assert res.result["backend"] == "nftables" and res.result["changed"] is False


def test_explicit_nftables_warns_about_a_forward_drop_policy():
    listings = in_sync_v4()
    listings[("iptables", "-w", "10", "-t", "filter", "-S")] = \
        "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n"
    res = run(dict(V4, backend="nftables"), FakeHost(listings))
    assert res.result["changed"] is False
    assert res.result["warnings"] == [
        "the iptables FORWARD chain has policy DROP (a Docker-style host): the accept rules "
        "in table inet podnet_hostgw cannot override it, so forwarded pod traffic is dropped "
        "there; use backend=iptables or backend=auto"]
    # without accept rules there is nothing to warn about
    res = run(dict(V4, backend="nftables", forward=False), FakeHost(listings), check_mode=True)
    assert res.result["changed"] is True and res.result["warnings"] == []


def test_auto_falls_back_to_iptables_when_nft_does_not_work():
    host = FakeHost({("nft", "-j", "list", "tables"): (1, "", "Error: Operation not permitted")})
    res = run(V4, host, check_mode=True)
    assert res.result["backend"] == "iptables"
    assert res.result["backend_reason"] == (
        "auto: nftables is not usable (/usr/sbin/nft -j list tables failed (rc=1): "
        "Error: Operation not permitted)")
    assert [c["argv"][0] for c in res.result["commands"]] == [SBIN + "iptables-restore"]


def test_auto_without_nft_binary():
    host = FakeHost()
    res = run(V4, host, check_mode=True, tools=ALL_TOOLS[1:])
    assert res.result["backend"] == "iptables"
    assert "install the nftables package" in res.result["backend_reason"]
    assert not any(a[0] == "nft" for a, _d in host.calls)


@pytest.mark.parametrize("params,tools,message", [
    (dict(V4, backend="nftables"), ALL_TOOLS[1:],
     "backend=nftables: the nft command was not found (install the nftables package)"),
    (dict(V4, backend="iptables"), ("nft", "iptables"),
     "backend=iptables: iptables-restore not found (install the iptables package)"),
    ({"cluster_cidrs": ["fd00:1::/56"], "backend": "iptables"},
     ("nft", "iptables", "iptables-restore"),
     "backend=iptables: ip6tables and ip6tables-restore not found (install the iptables "
     "package)"),
    (V4, (), "no usable backend: nftables: the nft command was not found (install the "
             "nftables package); iptables: iptables and iptables-restore not found (install "
             "the iptables package) (install the nftables or the iptables package)"),
])
def test_missing_tools_are_named_with_their_package(params, tools, message):
    host = FakeHost()
    res = run(params, host, tools=tools)
    assert res.failed and res.result["msg"] == message
    assert host.applied == []


def test_an_ipv6_only_cluster_does_not_need_iptables_for_ipv4():
    host = FakeHost()
    res = run({"cluster_cidrs": ["fd00:1::/56"], "backend": "iptables"}, host, check_mode=True,
              tools=("ip6tables", "ip6tables-restore"))
    assert not res.failed
    assert [c["argv"][0] for c in res.result["commands"]] == [SBIN + "ip6tables-restore"]


def test_legacy_variant_runs_the_legacy_commands():
    host = FakeHost()
    res = run(dict(V4, backend="iptables", iptables_variant="legacy"), host, check_mode=True)
    assert [c["argv"][0] for c in res.result["commands"]] == [SBIN + "iptables-legacy-restore"]
    assert all(a[0] in ("nft", "iptables-legacy", "ip6tables-legacy",
                        "iptables-legacy-restore") for a, _d in host.calls)


def test_unreadable_iptables_of_an_unused_family_is_ignored():
    host = FakeHost({("ip6tables", "-w", "10", "-t", "filter", "-S"):
                     (3, "", "ip6tables: can't initialize ip6tables table `filter'")})
    res = run(dict(V4, backend="iptables"), host, check_mode=True)
    assert not res.failed and res.result["backend"] == "iptables"
    res = run({"cluster_cidrs": ["fd00:1::/56"], "backend": "iptables"}, host)
    assert res.failed and "can't initialize ip6tables table" in res.result["msg"]


# ------------------------------------------------------------------ absent --

def test_absent_removes_from_both_backends():
    listings = in_sync_v4()
    listings[("iptables", "-w", "10", "-t", "filter", "-S")] = out("iptables_filter_docker")
    host = FakeHost(listings)
    res = run({"state": "absent"}, host)
    assert res.result["changed"] is True and res.result["backend"] is None
    assert [(a[0], d) for a, d in host.applied] == [
        ("nft", nf.nft_script(NAME, None)),
        ("iptables-restore",
         "*filter\n"
         "-D FORWARD -m comment --comment podnet-hostgw -j PODNET-HOSTGW-FWD\n"
         "-D FORWARD -i eth9 -j PODNET-HOSTGW-FWD\n"
         ":PODNET-HOSTGW-FWD - [0:0]\n"
         "-X PODNET-HOSTGW-FWD\n"
         "COMMIT\n")]
    assert res.result["ruleset"] == ""


def test_absent_when_nothing_is_there():
    host = FakeHost()
    res = run({"state": "absent"}, host)
    assert res.result["changed"] is False and res.result["commands"] == []
    res = run({"state": "absent"}, FakeHost(), tools=())
    assert res.result["changed"] is False


# ---------------------------------------------------------------- failures --

def test_a_failing_apply_reports_what_was_applied():
    listings = {("iptables", "-w", "10", "-t", "filter", "-S"): out("iptables_filter_docker"),
                ("nft", "-j", "list", "tables"): OUR_TABLES,
                ("nft", "-j", "list", "table", "inet", NAME): OWN_V4}
    host = FakeHost(listings, apply={"nft": (1, "", "Error: Could not process rule: "
                                                    "Device or resource busy")})
    res = run(V4, host)
    assert res.failed
    assert res.result["changed"] is True
    assert [c["argv"][0] for c in res.result["applied"]] == [SBIN + "iptables-restore"]
    assert res.result["msg"] == (
        "/usr/sbin/nft -f - failed: Error: Could not process rule: Device or resource busy "
        "(the commands before it were applied; run again after fixing the cause)")


def test_first_command_failing_changes_nothing():
    host = FakeHost(apply={"nft": (1, "", "Error: syntax error")})
    res = run(V4, host)
    assert res.failed and res.result["changed"] is False and res.result["applied"] == []
    assert res.result["stderr"] == "Error: syntax error"


def test_nft_without_json_support():
    host = FakeHost({("nft", "-j", "list", "tables"): "table inet filter\n"})
    res = run(dict(V4, backend="nftables"), host)
    assert res.failed
    assert "nft must be built with JSON support" in res.result["msg"]

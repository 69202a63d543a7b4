"""podnet.hostgw.netfilter against the real kernel, in throwaway namespaces.

Every namespace comes from the ``netns`` fixture (``hgwt-*``, deleted after
the test); every rule, address and route is made inside one.  Nothing is
ever added to the root namespace, and no traffic leaves a namespace.

The fixtures under tests/fixtures/nft_*.json and iptables_*.json /
ip6tables_*.json carry the commands that made them;
``test_fixture_matches_live_kernel`` replays them here, and running this file
as a script re-captures them (the specs are FIXTURE_SPECS below)::

    python -m tests.integration.test_netfilter --recapture
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import REPO  # noqa: I100 (puts the collection on sys.path)
from tests.integration.conftest import ns_run
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import netfilter as nf
import udp_probe  # lab/udp_probe.py (tests/conftest.py puts lab/ on sys.path)

pytestmark = pytest.mark.integration

FIXTURES = os.path.join(REPO, "tests", "fixtures")
FIXTURE_FILES = sorted(glob.glob(os.path.join(FIXTURES, "nft_*.json"))
                       + glob.glob(os.path.join(FIXTURES, "iptables_*.json"))
                       + glob.glob(os.path.join(FIXTURES, "ip6tables_*.json")))

CIDR4 = "192.168.0.0/16"
CIDR6 = "fd00:a::/48"
NAME = nf.DEFAULT_NAME
FWD, NAT = nf.ipt_chain(NAME, "filter"), nf.ipt_chain(NAME, "nat")
VARIANT_CMDS = {"auto": ("iptables", "ip6tables"), "nft": ("iptables-nft", "ip6tables-nft"),
                "legacy": ("iptables-legacy", "ip6tables-legacy")}

# (backend, iptables_variant) combinations every behaviour test runs with
BACKENDS = [("nftables", "auto"), ("iptables", "auto"), ("iptables", "legacy")]
BACKEND_IDS = ["nftables", "iptables-nft", "iptables-legacy"]


def _need(*tools):
    for tool in tools:
        if not shutil.which(tool):
            pytest.skip("%s is not installed" % tool)


# ------------------------------------------------------------------ fixtures --

FOREIGN_NFT = """table inet filter {
    chain input {
        type filter hook input priority 0; policy accept;
        ct state established,related accept
        iifname "lo" accept
    }
    chain forward {
        type filter hook forward priority 0; policy accept;
        ip saddr 198.51.100.0/24 counter drop
    }
}
table ip sidecar_nat {
    chain postrouting {
        type nat hook postrouting priority 100; policy accept;
        oifname "eth0" ip saddr 172.17.0.0/16 masquerade
    }
}
"""

FOREIGN_IPT_FILTER = [
    ["-N", "DOCKER-USER"],
    ["-A", "DOCKER-USER", "-j", "RETURN"],
    ["-A", "FORWARD", "-j", "DOCKER-USER"],
    ["-A", "FORWARD", "-o", "docker0", "-m", "conntrack", "--ctstate",
     "RELATED,ESTABLISHED", "-j", "ACCEPT"],
    ["-A", "FORWARD", "-i", "docker0", "!", "-o", "docker0", "-m", "comment", "--comment",
     "docker out", "-j", "ACCEPT"],
]
FOREIGN_IPT_NAT = [
    ["-A", "POSTROUTING", "-s", "172.17.0.0/16", "!", "-o", "docker0", "-j", "MASQUERADE"],
]


def _cfg(cidrs, **kw):
    config, errors = nf.validate(dict(dict(name=NAME, state="present", forward=True,
                                           masquerade=True), cluster_cidrs=cidrs, **kw))
    assert errors == [], errors
    return config


def _nft_setup(cidrs, **kw):
    config = _cfg(cidrs, **kw)
    return {"argv": ["nft", "-f", "-"],
            "stdin": nf.nft_script(NAME, nf.nft_wanted_text(config))}


def _ipt_setup(cmd, family, cidrs, **kw):
    config = _cfg(cidrs, **kw)
    sections = []
    for table, _b, _s in nf.IPT_TABLES:
        own = nf.IptOwn(nf.ipt_chain(NAME, table))
        sections.append((table, nf.ipt_plan_table(
            config, table, own, nf.ipt_wanted_rules(config, family, table))))
    return {"argv": [cmd + "-restore", "-w", "10", "--noflush"],
            "stdin": nf.restore_input(sections)}


def _foreign_ipt(cmd):
    nat = FOREIGN_IPT_NAT
    if cmd.startswith("ip6"):
        nat = [[x.replace("172.17.0.0/16", "fd00:17::/64") for x in r] for r in nat]
    return ([[cmd, "-t", "filter"] + r for r in FOREIGN_IPT_FILTER]
            + [[cmd, "-t", "nat"] + r for r in nat])


def fixture_specs():
    """name -> spec (description, setup, argv); made into files by recapture()."""
    list_own = ["nft", "-j", "list", "table", "inet", NAME]
    v4 = [CIDR4]
    dual = ["10.244.0.0/16", CIDR4, "fd00:1::/56"]
    return {
        "nft_tables": dict(
            description="nft -j list tables with two foreign tables and the module's own",
            setup=[{"argv": ["nft", "-f", "-"], "stdin": FOREIGN_NFT}, _nft_setup(v4)],
            argv=["nft", "-j", "list", "tables"]),
        "nft_missing": dict(
            description="nft -j list table of a table that does not exist",
            setup=[], argv=list_own),
        "nft_own_v4": dict(
            description="the module's table for cluster_cidrs [192.168.0.0/16], as the "
                        "module writes it, next to a foreign inet filter table",
            setup=[{"argv": ["nft", "-f", "-"], "stdin": FOREIGN_NFT}, _nft_setup(v4)],
            argv=list_own),
        "nft_own_dual": dict(
            description="the module's table for two IPv4 and one IPv6 cluster CIDR "
                        "(anonymous sets)",
            setup=[_nft_setup(dual)], argv=list_own),
        "nft_own_forward_only": dict(
            description="the module's table with masquerade=false, IPv6 only",
            setup=[_nft_setup(["fd00:1::/56"], masquerade=False)], argv=list_own),
        "nft_own_merged": dict(
            description="adjacent networks and a single address written by hand: nft merges "
                        "10.0.0.0/24 and 10.0.1.0/24 into 10.0.0.0/23 and prints the address "
                        "without /32",
            setup=[{"argv": ["nft", "-f", "-"], "stdin": (
                "table inet %s {\n\tchain forward {\n\t\ttype filter hook forward priority "
                "filter; policy accept;\n\t\tip saddr { 10.0.1.0/24, 10.0.0.0/24 } accept\n"
                "\t\tip daddr { 10.0.0.0/24, 10.0.1.0/24, 10.0.3.7 } accept\n\t}\n}\n" % NAME)}],
            argv=list_own),
        "nft_own_drift": dict(
            description="the module's table after hand edits: postrouting flushed, rules "
                        "added to forward (counter drop, a meta match), a set, flag dormant",
            setup=[_nft_setup(v4),
                   ["nft", "flush", "chain", "inet", NAME, "postrouting"],
                   ["nft", "add", "rule", "inet", NAME, "forward", "ip", "saddr", "10.9.9.9",
                    "counter", "drop"],
                   ["nft", "add", "rule", "inet", NAME, "forward", "meta", "l4proto", "tcp",
                    "accept"],
                   ["nft", "add", "set", "inet", NAME, "s", "{ type ipv4_addr; }"],
                   ["nft", "add", "table", "inet", NAME, "{ flags dormant; }"]],
            argv=list_own),
        "iptables_empty_filter": dict(
            description="iptables (nf_tables variant) -S of the filter table in a fresh "
                        "namespace",
            setup=[], argv=["iptables", "-w", "10", "-t", "filter", "-S"]),
        "iptables_empty_nat": dict(
            description="iptables (nf_tables variant) -S of the nat table in a fresh namespace",
            setup=[], argv=["iptables", "-w", "10", "-t", "nat", "-S"]),
        "iptables_filter_docker": dict(
            description="Docker-like filter table (FORWARD policy DROP, DOCKER-USER) with the "
                        "module's chain, a second hand-made jump to it and a hand-added rule in "
                        "it",
            setup=_foreign_ipt("iptables") + [
                ["iptables", "-P", "FORWARD", "DROP"],
                _ipt_setup("iptables", 4, v4),
                ["iptables", "-A", "FORWARD", "-i", "eth9", "-j", FWD],
                ["iptables", "-A", FWD, "-s", "10.9.9.9", "-j", "DROP"]],
            argv=["iptables", "-w", "10", "-t", "filter", "-S"]),
        "iptables_nat_own": dict(
            description="nat table with a foreign MASQUERADE and the module's chain for two "
                        "IPv4 cluster CIDRs",
            setup=_foreign_ipt("iptables") + [_ipt_setup("iptables", 4, dual)],
            argv=["iptables", "-w", "10", "-t", "nat", "-S"]),
        "ip6tables_filter_own": dict(
            description="ip6tables filter table with the module's chain",
            setup=[_ipt_setup("ip6tables", 6, dual)],
            argv=["ip6tables", "-w", "10", "-t", "filter", "-S"]),
        "ip6tables_nat_own": dict(
            description="ip6tables nat table with the module's chain",
            setup=[_ipt_setup("ip6tables", 6, dual)],
            argv=["ip6tables", "-w", "10", "-t", "nat", "-S"]),
        "iptables_legacy_filter_own": dict(
            description="iptables-legacy filter table with foreign rules (one with a quoted "
                        "comment) and the module's chain",
            setup=_foreign_ipt("iptables-legacy") + [_ipt_setup("iptables-legacy", 4, v4)],
            argv=["iptables-legacy", "-w", "10", "-t", "filter", "-S"]),
        "iptables_legacy_nat_own": dict(
            description="iptables-legacy nat table with a foreign MASQUERADE and the "
                        "module's chain",
            setup=_foreign_ipt("iptables-legacy") + [_ipt_setup("iptables-legacy", 4, v4)],
            argv=["iptables-legacy", "-w", "10", "-t", "nat", "-S"]),
    }


def replay(ns, spec):
    """Run a fixture's setup and command inside NS; returns (rc, stdout, stderr)."""
    for step in spec["setup"]:
        if isinstance(step, dict):
            ns_run(ns, step["argv"], data=step.get("stdin"))
        else:
            ns_run(ns, step)
    proc = ns_run(ns, spec["argv"], data=spec.get("stdin"), check=False)
    return proc.returncode, proc.stdout, proc.stderr


def recapture():
    for fname, spec in sorted(fixture_specs().items()):
        ns = "hgwt-fx-%s" % uuid.uuid4().hex[:8]
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            ns_run(ns, ["ip", "link", "set", "lo", "up"])
            rc, out, err = replay(ns, spec)
        finally:
            subprocess.run(["ip", "netns", "del", ns], check=False)
        spec.update(rc=rc, stdout=out, stderr=err)
        path = os.path.join(FIXTURES, fname + ".json")
        with open(path, "w") as fh:
            json.dump(spec, fh, indent=1)
            fh.write("\n")
        print("%s: rc=%s, %d bytes" % (os.path.basename(path), rc, len(out)))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[os.path.basename(p) for p in FIXTURE_FILES])
def test_fixture_matches_live_kernel(netns, path):
    """The stored listings are what this kernel, nft and iptables print."""
    with open(path) as fh:
        spec = json.load(fh)
    _need(spec["argv"][0])
    rc, out, err = replay(netns.name, spec)
    assert (rc, err) == (spec["rc"], spec["stderr"])
    if spec["argv"][:2] == ["nft", "-j"] and rc == 0:
        assert json.loads(out) == json.loads(spec["stdout"])
    else:
        assert out == spec["stdout"]


def test_fixture_specs_are_stored():
    """Every spec has its file, and no stored file lost its spec."""
    names = set(os.path.basename(p)[:-5] for p in FIXTURE_FILES)
    assert names == set(fixture_specs())


# ------------------------------------------------------------------ helpers --

def warnings_of(res):
    out = []
    for w in res.get("warnings", []):
        out.append(w["event"]["msg"] if isinstance(w, dict) else w)
    return out


def ok(res):
    assert res.get("failed") is not True, res
    return res


def nft_ruleset(ns):
    return ns.run(["nft", "list", "ruleset"]).stdout


def nft_table(ns, family, name):
    proc = ns.run(["nft", "list", "table", family, name], check=False)
    return proc.stdout if proc.returncode == 0 else None


def ipt_save(ns, cmd, table):
    """``CMD -t TABLE -S`` lines."""
    return ns.run([cmd, "-w", "10", "-t", table, "-S"]).stdout.splitlines()


def not_ours(lines):
    return [x for x in lines if FWD not in x and NAT not in x]


def ours(lines):
    return [x for x in lines if FWD in x or NAT in x]


def snapshot(ns, variant="auto"):
    """Everything the module could touch, as text: the whole nft ruleset
    (which shows iptables-nft rules too) and every iptables listing."""
    out = {"nft": nft_ruleset(ns)}
    for cmd in VARIANT_CMDS[variant]:
        for table in ("filter", "nat"):
            out[(cmd, table)] = ipt_save(ns, cmd, table)
    return out


def add_foreign(ns, variant="auto"):
    """A foreign nft table and foreign iptables rules (of VARIANT) to keep."""
    ns.run(["nft", "-f", "-"], data=FOREIGN_NFT)
    for cmd in VARIANT_CMDS[variant]:
        for argv in _foreign_ipt(cmd):
            ns.run(argv)


def run(ns, backend, variant, check_mode=False, diff=False, **params):
    params.setdefault("backend", backend)
    params.setdefault("iptables_variant", variant)
    return ns.module("netfilter", params, check_mode=check_mode, diff=diff)


def live_ruleset(ns, backend, variant):
    """Our objects as the module's ``ruleset`` shows them, read independently."""
    if backend == "nftables":
        proc = ns.run(["nft", "-j", "list", "table", "inet", NAME], check=False)
        return nf.nft_live_text(json.loads(proc.stdout), NAME) if proc.returncode == 0 else None
    parts = []
    for family, cmd in zip((4, 6), VARIANT_CMDS[variant]):
        for table, _b, _s in nf.IPT_TABLES:
            own = nf.ipt_own(nf.parse_ipt_listing("\n".join(ipt_save(ns, cmd, table))),
                             nf.ipt_chain(NAME, table))
            if own.lines():
                parts.append("\n".join(["# %s -t %s" % (nf.IPT_CMD[family], table)]
                                       + own.lines()) + "\n")
    return "".join(parts) or None


# -------------------------------------------------------------- behaviour --

@pytest.mark.parametrize("backend,variant", BACKENDS, ids=BACKEND_IDS)
def test_apply_then_second_run_is_a_noop(netns, backend, variant):
    _need("nft", *VARIANT_CMDS[variant])
    cidrs = [CIDR4, "10.244.0.0/16", "fd00:1::/56"]
    first = ok(run(netns, backend, variant, cluster_cidrs=cidrs))
    assert first["changed"] is True and first["backend"] == backend
    assert first["commands"] and first["drift"]
    assert warnings_of(first) == []
    assert first["ruleset"] == live_ruleset(netns, backend, variant)
    second = ok(run(netns, backend, variant, cluster_cidrs=cidrs))
    assert second["changed"] is False
    assert second["commands"] == [] and second["drift"] == []
    assert second["ruleset"] == first["ruleset"]
    # input order and adjacent networks do not matter either
    third = ok(run(netns, backend, variant, cluster_cidrs=list(reversed(cidrs))))
    assert third["changed"] is False


def test_nftables_listing_is_the_rendered_table(netns):
    """What nft lists after the module's script, normalised, is exactly
    the canonical text the module renders - so no run after the first one
    can differ (this is what makes idempotence hold on this nft)."""
    _need("nft")
    for cidrs, kw in (([CIDR4], {}), (["10.244.0.0/16", CIDR4, "fd00:1::/56"], {}),
                      (["fd00:1::/56"], {"masquerade": False}), ([CIDR4], {"forward": False}),
                      (["10.0.0.0/24", "10.0.1.0/24", "10.0.3.0/24"], {})):
        res = ok(run(netns, "nftables", "auto", cluster_cidrs=cidrs, **kw))
        assert res["ruleset"] == nf.nft_wanted_text(_cfg(cidrs, **kw))
        assert live_ruleset(netns, "nftables", "auto") == res["ruleset"]
        assert ok(run(netns, "nftables", "auto", cluster_cidrs=cidrs, **kw))["changed"] is False


@pytest.mark.parametrize("backend,variant", BACKENDS, ids=BACKEND_IDS)
def test_drift_is_repaired(netns, backend, variant):
    _need("nft", *VARIANT_CMDS[variant])
    cidrs = [CIDR4, "fd00:1::/56"]
    ok(run(netns, backend, variant, cluster_cidrs=cidrs))
    wanted = live_ruleset(netns, backend, variant)
    ipt, ip6t = VARIANT_CMDS[variant]
    if backend == "nftables":
        edits = [
            [["nft", "flush", "chain", "inet", NAME, "postrouting"]],
            [["nft", "add", "rule", "inet", NAME, "forward", "ip", "saddr", "10.9.9.9", "drop"]],
            [["nft", "insert", "rule", "inet", NAME, "forward", "counter"]],
            [["nft", "delete", "table", "inet", NAME]],
            [["nft", "delete", "chain", "inet", NAME, "forward"]],
            [["nft", "add", "table", "inet", NAME, "{ flags dormant; }"]],
            [["nft", "add", "chain", "inet", NAME, "extra"]],
        ]
    else:
        edits = [
            [[ipt, "-D", FWD, "-d", CIDR4, "-j", "ACCEPT"]],
            [[ipt, "-A", FWD, "-s", "10.9.9.9", "-j", "DROP"]],
            [[ip6t, "-t", "nat", "-D", "POSTROUTING", "-m", "comment", "--comment",
              nf.ipt_comment(NAME), "-j", NAT]],
            [[ipt, "-A", "FORWARD", "-i", "eth9", "-j", FWD]],
            [[ipt, "-A", "FORWARD", "-m", "comment", "--comment", nf.ipt_comment(NAME),
              "-j", FWD]],
            [[ipt, "-t", "nat", "-D", "POSTROUTING", "-m", "comment", "--comment",
              nf.ipt_comment(NAME), "-j", NAT],
             [ipt, "-t", "nat", "-F", NAT], [ipt, "-t", "nat", "-X", NAT]],
            [[ip6t, "-F", FWD]],
        ]
    for edit in edits:
        for argv in edit:
            netns.run(argv)
        assert live_ruleset(netns, backend, variant) != wanted, edit
        check = ok(run(netns, backend, variant, check_mode=True, cluster_cidrs=cidrs))
        assert check["changed"] is True and check["drift"], edit
        res = ok(run(netns, backend, variant, cluster_cidrs=cidrs))
        assert res["changed"] is True, edit
        assert res["drift"] == check["drift"] and res["commands"] == check["commands"]
        assert warnings_of(res) == []
        assert live_ruleset(netns, backend, variant) == wanted, edit
        assert ok(run(netns, backend, variant, cluster_cidrs=cidrs))["changed"] is False, edit


def test_nft_drift_report_names_the_lines(netns):
    _need("nft")
    ok(run(netns, "nftables", "auto", cluster_cidrs=[CIDR4]))
    netns.run(["nft", "flush", "chain", "inet", NAME, "postrouting"])
    netns.run(["nft", "add", "rule", "inet", NAME, "forward", "ip", "saddr", "10.9.9.9",
               "counter", "drop"])
    res = ok(run(netns, "nftables", "auto", cluster_cidrs=[CIDR4], diff=True))
    assert res["drift"] == [
        "table inet %s chain forward: unexpected: ip saddr 10.9.9.9/32 counter drop" % NAME,
        "table inet %s chain postrouting: missing: ip saddr %s ip daddr != %s masquerade"
        % (NAME, CIDR4, CIDR4)]
    assert "ip saddr 10.9.9.9/32 counter drop" in res["diff"]["before"]
    assert "ip saddr 10.9.9.9/32 counter drop" not in res["diff"]["after"]


@pytest.mark.parametrize("backend,variant", BACKENDS, ids=BACKEND_IDS)
def test_foreign_rules_survive_and_absent_removes_only_ours(netns, backend, variant):
    _need("nft", *VARIANT_CMDS[variant])
    add_foreign(netns, variant)
    before = snapshot(netns, variant)
    foreign_nft = (nft_table(netns, "inet", "filter"), nft_table(netns, "ip", "sidecar_nat"))
    cidrs = [CIDR4, "fd00:1::/56"]
    ok(run(netns, backend, variant, cluster_cidrs=cidrs))
    during = snapshot(netns, variant)
    assert (nft_table(netns, "inet", "filter"), nft_table(netns, "ip", "sidecar_nat")) == foreign_nft
    for key in before:
        if key != "nft":
            assert not_ours(during[key]) == before[key], key
    if backend == "iptables":
        cmd = VARIANT_CMDS[variant][0]
        # the jumps went to the top, everything else kept its order
        first = [x for x in during[(cmd, "filter")] if x.startswith("-A FORWARD ")][0]
        assert first == "-A FORWARD -m comment --comment %s -j %s" % (nf.ipt_comment(NAME), FWD)
        first = [x for x in during[(cmd, "nat")] if x.startswith("-A POSTROUTING ")][0]
        assert first == "-A POSTROUTING -m comment --comment %s -j %s" % (
            nf.ipt_comment(NAME), NAT)
    # drift repair leaves the foreign rules alone too
    if backend == "nftables":
        netns.run(["nft", "delete", "table", "inet", NAME])
    else:
        netns.run([VARIANT_CMDS[variant][0], "-F", FWD])
    assert ok(run(netns, backend, variant, cluster_cidrs=cidrs))["changed"] is True
    assert snapshot(netns, variant) == during

    res = ok(run(netns, backend, variant, state="absent"))
    assert res["changed"] is True and res["backend"] is None
    after = snapshot(netns, variant)
    if backend == "nftables" or variant == "legacy":
        assert after == before
    else:
        # iptables-nft made the ip/ip6 filter and nat tables for our chains
        # where there were none (ip6): they stay, empty, as iptables leaves them
        for key in before:
            if key != "nft":
                assert after[key] == before[key], key
    assert nft_table(netns, "inet", NAME) is None
    again = ok(run(netns, backend, variant, state="absent"))
    assert again["changed"] is False and again["commands"] == []


@pytest.mark.parametrize("backend,variant", BACKENDS, ids=BACKEND_IDS)
def test_check_mode_changes_nothing_and_predicts_the_real_run(netns, backend, variant):
    _need("nft", *VARIANT_CMDS[variant])
    add_foreign(netns, variant)
    steps = [dict(cluster_cidrs=[CIDR4]),
             dict(cluster_cidrs=[CIDR4, "10.244.0.0/16", "fd00:1::/56"]),
             dict(cluster_cidrs=["fd00:1::/56"], masquerade=False),
             dict(state="absent")]
    for params in steps:
        before = snapshot(netns, variant)
        check = ok(run(netns, backend, variant, check_mode=True, diff=True, **params))
        assert snapshot(netns, variant) == before, params
        real = ok(run(netns, backend, variant, diff=True, **params))
        for key in ("changed", "commands", "drift", "ruleset", "diff", "backend"):
            assert check[key] == real[key], (params, key)
        assert real["changed"] is True
        assert real["diff"]["after"] == (live_ruleset(netns, backend, variant) or "")


@pytest.mark.parametrize("backend,variant", BACKENDS, ids=BACKEND_IDS)
def test_bad_input_fails_and_changes_nothing(netns, backend, variant):
    _need("nft", *VARIANT_CMDS[variant])
    ok(run(netns, backend, variant, cluster_cidrs=[CIDR4]))
    before = snapshot(netns, variant)
    res = run(netns, backend, variant,
              cluster_cidrs=["192.168.1.0/16", "nonsense", "10.0.0.1", "fd00::/8", "fd00:1::/64"],
              name="Bad-Name")
    assert res["failed"] is True
    assert res["errors"] == [
        "name 'Bad-Name' must be lower-case letters, digits and '_', starting with a letter",
        "cluster_cidrs[0] '192.168.1.0/16' has host bits set; did you mean 192.168.0.0/16?",
        "cluster_cidrs[1] 'nonsense' is not an IPv4 or IPv6 network",
        "cluster_cidrs[2] '10.0.0.1' has no prefix length; write the network as "
        "ADDRESS/LENGTH",
        "cluster_cidrs[4] 'fd00:1::/64' is inside cluster_cidrs[3] fd00::/8",
    ]
    assert "nothing was changed" in res["msg"]
    assert snapshot(netns, variant) == before


def test_auto_prefers_nftables(netns):
    _need("nft", "iptables")
    res = ok(run(netns, "auto", "auto", cluster_cidrs=[CIDR4]))
    assert res["backend"] == "nftables" and res["backend_reason"] == "auto: nft works"
    assert nft_table(netns, "inet", NAME)


def test_auto_uses_iptables_behind_a_forward_drop_policy_and_switches_back(netns):
    _need("nft", "iptables")
    ok(run(netns, "auto", "auto", cluster_cidrs=[CIDR4]))
    netns.run(["iptables", "-P", "FORWARD", "DROP"])        # Docker does this
    res = ok(run(netns, "auto", "auto", cluster_cidrs=[CIDR4]))
    assert res["changed"] is True and res["backend"] == "iptables"
    assert "policy is DROP" in res["backend_reason"]
    # the iptables rules went in first, then the nft table was removed
    assert [c["argv"][0].rsplit("/", 1)[-1] for c in res["commands"]] == \
        ["iptables-restore", "nft"]
    assert "unexpected: table inet %s" % NAME in res["drift"]
    assert nft_table(netns, "inet", NAME) is None
    assert ours(ipt_save(netns, "iptables", "filter"))
    assert ok(run(netns, "auto", "auto", cluster_cidrs=[CIDR4]))["changed"] is False
    # an IPv6-only cluster does not care about the IPv4 policy
    res = ok(run(netns, "auto", "auto", cluster_cidrs=["fd00:1::/56"]))
    assert res["backend"] == "nftables"
    # policy back to ACCEPT: back to nftables, iptables chains cleaned up
    ok(run(netns, "auto", "auto", cluster_cidrs=[CIDR4]))
    netns.run(["iptables", "-P", "FORWARD", "ACCEPT"])
    res = ok(run(netns, "auto", "auto", cluster_cidrs=[CIDR4]))
    assert res["backend"] == "nftables" and res["changed"] is True
    assert ours(ipt_save(netns, "iptables", "filter")) == []
    assert ours(ipt_save(netns, "iptables", "nat")) == []


def test_explicit_nftables_warns_about_a_forward_drop_policy(netns):
    _need("nft", "iptables")
    netns.run(["iptables", "-P", "FORWARD", "DROP"])
    res = ok(run(netns, "nftables", "auto", cluster_cidrs=[CIDR4]))
    assert res["backend"] == "nftables"
    assert any("policy DROP" in w for w in warnings_of(res))
    # masquerade only: nothing to accept, no warning and auto keeps nftables
    res = ok(run(netns, "auto", "auto", cluster_cidrs=[CIDR4], forward=False))
    assert res["backend"] == "nftables" and warnings_of(res) == []


def test_changing_cidrs_and_options_converges(netns):
    _need("nft")
    for params in (dict(cluster_cidrs=[CIDR4]),
                   dict(cluster_cidrs=[CIDR4, "fd00:1::/56"]),
                   dict(cluster_cidrs=["10.244.0.0/16"], forward=False),
                   dict(cluster_cidrs=["10.244.0.0/16"], masquerade=False)):
        res = ok(run(netns, "nftables", "auto", **params))
        assert res["changed"] is True
        assert ok(run(netns, "nftables", "auto", **params))["changed"] is False
    assert "masquerade" not in nft_table(netns, "inet", NAME)


def test_other_names_are_independent(netns):
    _need("nft", "iptables")
    ok(run(netns, "nftables", "auto", cluster_cidrs=[CIDR4]))
    ok(run(netns, "iptables", "auto", cluster_cidrs=["10.244.0.0/16"], name="other_net"))
    assert nft_table(netns, "inet", NAME)
    assert "-N OTHER-NET-FWD" in ipt_save(netns, "iptables", "filter")
    assert ok(run(netns, "nftables", "auto", cluster_cidrs=[CIDR4]))["changed"] is False
    ok(run(netns, "auto", "auto", state="absent"))
    assert nft_table(netns, "inet", NAME) is None
    assert "-N OTHER-NET-FWD" in ipt_save(netns, "iptables", "filter")


# ---------------------------------------------------------------- traffic --
#
#   pod1 (192.168.0.2, fd00:a::2)          pod2 (192.168.1.2, fd00:a:0:1::2)
#     |  veth                                 |  veth
#   host1 cni0 192.168.0.1 / fd00:a::1      host2 cni0 192.168.1.1 / fd00:a:0:1::1
#   host1 eth0 10.168.0.1 / fd00:10::1      host2 eth0 10.168.0.2 / fd00:10::2
#     |                                       |
#     +------------ switch (bridge) ----------+---- outside eth0 10.168.0.254 / fd00:10::fe
#                                                   outside lo 203.0.113.1 / 2001:db8::1
#
# host1 routes 192.168.1.0/24 via 10.168.0.2 (host-gw) and everything else
# via 10.168.0.254.  The module runs on host1 with cluster 192.168.0.0/16
# (fd00:a::/48).

TOPO = {
    4: dict(pod1="192.168.0.2/24", host1_cni="192.168.0.1/24", pod1_gw="192.168.0.1",
            pod2="192.168.1.2/24", host2_cni="192.168.1.1/24", pod2_gw="192.168.1.1",
            host1="10.168.0.1/24", host2="10.168.0.2/24", outside="10.168.0.254/24",
            target="203.0.113.1", target_plen="32", h1_to_pods2="192.168.1.0/24",
            h2_to_pods1="192.168.0.0/24", cluster=CIDR4),
    6: dict(pod1="fd00:a::2/64", host1_cni="fd00:a::1/64", pod1_gw="fd00:a::1",
            pod2="fd00:a:0:1::2/64", host2_cni="fd00:a:0:1::1/64", pod2_gw="fd00:a:0:1::1",
            host1="fd00:10::1/64", host2="fd00:10::2/64", outside="fd00:10::fe/64",
            target="2001:db8::1", target_plen="128", h1_to_pods2="fd00:a:0:1::/64",
            h2_to_pods1="fd00:a::/64", cluster=CIDR6),
}


def _addr(ns, family, cidr, dev):
    extra = ["nodad"] if family == 6 else []
    ns.ip("-%d" % family, "addr", "add", cidr, "dev", dev, *extra)


def _veth(a, a_name, b, b_name):
    """A veth pair from namespace A (A_NAME) to namespace B (B_NAME)."""
    tmp = "v%s" % uuid.uuid4().hex[:8]
    a.ip("link", "add", a_name, "type", "veth", "peer", "name", tmp)
    a.ip("link", "set", tmp, "netns", b.name)
    b.ip("link", "set", tmp, "name", b_name)
    a.ip("link", "set", a_name, "up")
    b.ip("link", "set", b_name, "up")


def build_topology(netns, family):
    t = TOPO[family]
    host1 = netns
    pod1, host2, pod2, outside, switch = (netns.make_another() for _ns in range(5))
    switch.ip("link", "add", "br0", "type", "bridge")
    switch.ip("link", "set", "br0", "up")
    for ns, cidr in ((host1, t["host1"]), (host2, t["host2"]), (outside, t["outside"])):
        port = "p%s" % uuid.uuid4().hex[:6]
        _veth(ns, "eth0", switch, port)
        switch.ip("link", "set", port, "master", "br0")
        _addr(ns, family, cidr, "eth0")
    for host, pod, cni, podaddr, gw in ((host1, pod1, t["host1_cni"], t["pod1"], t["pod1_gw"]),
                                        (host2, pod2, t["host2_cni"], t["pod2"], t["pod2_gw"])):
        host.ip("link", "add", "cni0", "type", "bridge")
        host.ip("link", "set", "cni0", "up")
        _veth(host, "veth0", pod, "eth0")
        host.ip("link", "set", "veth0", "master", "cni0")
        _addr(host, family, cni, "cni0")
        _addr(pod, family, podaddr, "eth0")
        pod.ip("-%d" % family, "route", "add", "default", "via", gw)
        key = "net.ipv4.ip_forward" if family == 4 else "net.ipv6.conf.all.forwarding"
        host.run(["sysctl", "-q", "-w", "%s=1" % key])
    host1.ip("-%d" % family, "route", "add", t["h1_to_pods2"], "via", t["host2"].split("/")[0])
    host1.ip("-%d" % family, "route", "add", "default", "via", t["outside"].split("/")[0])
    host2.ip("-%d" % family, "route", "add", t["h2_to_pods1"], "via", t["host1"].split("/")[0])
    outside.ip("-%d" % family, "addr", "add", "%s/%s" % (t["target"], t["target_plen"]),
               "dev", "lo")
    return dict(host1=host1, pod1=pod1, host2=host2, pod2=pod2, outside=outside)


def source_seen(receiver, addr, sender, timeout=3.0):
    """The source address a UDP listener on ADDR in RECEIVER saw from SENDER."""
    return udp_probe.source_seen(receiver.name, addr, sender.name, timeout=timeout)


def wait_reachable(topo, family):
    """Let neighbour discovery settle (IPv6 router advertisements are off
    without radvd; the first packets may be queued)."""
    t = TOPO[family]
    deadline = time.time() + 5
    while time.time() < deadline:
        proc = topo["host1"].run(["ping", "-%d" % family, "-c", "1", "-W", "1",
                                  t["host2"].split("/")[0]], check=False) \
            if shutil.which("ping") else None
        if proc is None or proc.returncode == 0:
            return
        time.sleep(0.2)


TRAFFIC = [("nftables", "auto", 4), ("iptables", "auto", 4), ("iptables", "legacy", 4),
           ("nftables", "auto", 6), ("iptables", "auto", 6)]


@pytest.mark.parametrize("backend,variant,family", TRAFFIC,
                         ids=["%s-%s-v%d" % x for x in TRAFFIC])
def test_traffic_pod_to_pod_is_not_natted_and_leaving_the_cluster_is(netns, backend, variant, family):
    _need("nft", "sysctl", *VARIANT_CMDS[variant])
    topo = build_topology(netns, family)
    t = TOPO[family]
    pod1_ip = t["pod1"].split("/")[0]
    pod2_ip = t["pod2"].split("/")[0]
    host1_ip = t["host1"].split("/")[0]
    wait_reachable(topo, family)

    # without the module: routed, but nothing is masqueraded
    assert source_seen(topo["outside"], t["target"], topo["pod1"]) == pod1_ip
    assert source_seen(topo["pod2"], pod2_ip, topo["pod1"]) == pod1_ip

    res = ok(run(topo["host1"], backend, variant, cluster_cidrs=[t["cluster"]]))
    assert res["changed"] is True and res["backend"] == backend
    # pod -> pod on another host: the receiving pod sees the sending pod
    assert source_seen(topo["pod2"], pod2_ip, topo["pod1"]) == pod1_ip
    # pod -> outside the cluster: masqueraded to host1's underlay address
    assert source_seen(topo["outside"], t["target"], topo["pod1"]) == host1_ip
    # the host's own traffic is not pod traffic: not touched
    assert source_seen(topo["outside"], t["target"], topo["host1"]) == host1_ip

    ok(run(topo["host1"], backend, variant, state="absent"))
    assert source_seen(topo["outside"], t["target"], topo["pod1"]) == pod1_ip


def test_traffic_behind_a_forward_drop_policy(netns):
    """Docker-style host: iptables FORWARD policy DROP.  backend=auto picks
    iptables and pod traffic flows; an nftables accept alone would not do."""
    _need("nft", "iptables", "sysctl")
    topo = build_topology(netns, 4)
    t = TOPO[4]
    host1 = topo["host1"]
    wait_reachable(topo, 4)
    host1.run(["iptables", "-P", "FORWARD", "DROP"])
    res = ok(run(host1, "nftables", "auto", cluster_cidrs=[CIDR4]))
    assert any("policy DROP" in w for w in warnings_of(res))
    assert source_seen(topo["pod2"], "192.168.1.2", topo["pod1"], timeout=1.5) == "timeout"
    res = ok(run(host1, "auto", "auto", cluster_cidrs=[CIDR4]))
    assert res["backend"] == "iptables"
    assert source_seen(topo["pod2"], "192.168.1.2", topo["pod1"]) == "192.168.0.2"
    assert source_seen(topo["outside"], t["target"], topo["pod1"]) == "10.168.0.1"


if __name__ == "__main__":
    if "--recapture" in sys.argv:
        recapture()
    else:
        print(__doc__)

"""Unit tests for plugins/module_utils/_hostgw/netfilter.py, driven by real nft and
iptables listings captured in namespaces on this machine
(tests/fixtures/nft_*.json, iptables_*.json, ip6tables_*.json; each with
the commands that made it, replayed by tests/integration/test_netfilter.py)."""

import ipaddress
import json
import os

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import netfilter as nf
from tests.conftest import REPO

FIXTURES = os.path.join(REPO, "tests", "fixtures")
NAME = "podnet_hostgw"


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".json")) as fh:
        return json.load(fh)


def cfg(cidrs, **kw):
    params = dict(name=NAME, state="present", forward=True, masquerade=True,
                  cluster_cidrs=cidrs)
    params.update(kw)
    config, errors = nf.validate(params)
    assert errors == []
    return config


def errors_of(**kw):
    params = dict(name=NAME, state="present", forward=True, masquerade=True,
                  cluster_cidrs=["192.168.0.0/16"])
    params.update(kw)
    config, errors = nf.validate(params)
    assert config is None
    return errors


def nft_live(name):
    return nf.nft_live_text(json.loads(fixture(name)["stdout"]), NAME)


def ipt(name):
    return nf.parse_ipt_listing(fixture(name)["stdout"])


# ------------------------------------------------------------ validation --

def test_valid_input_is_collapsed_per_family():
    c = cfg(["192.168.0.0/16", "fd00:1::/56", "10.0.1.0/24", "10.0.0.0/24"])
    assert c.cidrs[4] == [ipaddress.ip_network("10.0.0.0/23"),
                          ipaddress.ip_network("192.168.0.0/16")]
    assert c.cidrs[6] == [ipaddress.ip_network("fd00:1::/56")]
    assert c.families() == [4, 6]
    assert cfg(["fd00:1::/56"]).families() == [6]


def test_every_bad_cidr_is_named():
    assert errors_of(cluster_cidrs=[
        "192.168.1.0/16", "bogus", "10.1.2.3", "0.0.0.0/0", "127.0.0.0/8", "224.0.0.0/4",
        "fe80::/64", "10.0.0.0/8", "10.5.0.0/16", "10.0.0.0/8", 42, "::/0"]) == [
        "cluster_cidrs[0] '192.168.1.0/16' has host bits set; did you mean 192.168.0.0/16?",
        "cluster_cidrs[1] 'bogus' is not an IPv4 or IPv6 network",
        "cluster_cidrs[2] '10.1.2.3' has no prefix length; write the network as "
        "ADDRESS/LENGTH",
        "cluster_cidrs[3] '0.0.0.0/0' is every address; a cluster CIDR must be the pod "
        "network only",
        "cluster_cidrs[4] '127.0.0.0/8' is a loopback network, not a pod network",
        "cluster_cidrs[5] '224.0.0.0/4' is a multicast network, not a pod network",
        "cluster_cidrs[6] 'fe80::/64' is a link-local network, not a pod network",
        "cluster_cidrs[10] 42 is not a string (a prefix such as 192.168.1.0/24)",
        "cluster_cidrs[11] '::/0' is every address; a cluster CIDR must be the pod network only",
        "cluster_cidrs[8] '10.5.0.0/16' is inside cluster_cidrs[7] 10.0.0.0/8",
        "cluster_cidrs[9] '10.0.0.0/8' is listed twice (also cluster_cidrs[7])",
    ]


def test_cidr_with_a_line_break_is_quoted_escaped():
    assert errors_of(cluster_cidrs=["192.168.0.0/16\n"]) == [
        "cluster_cidrs[0] '192.168.0.0/16\\n' is not an IPv4 or IPv6 network"]


def test_overlap_is_named_whichever_comes_first():
    assert errors_of(cluster_cidrs=["fd00:1:0:2::/64", "fd00:1::/48"]) == [
        "cluster_cidrs[1] 'fd00:1::/48' contains cluster_cidrs[0] fd00:1:0:2::/64"]
    # the same addresses in two families are not an overlap
    cfg(["10.0.0.0/8", "::ffff:10.0.0.0/104"])


def test_present_needs_cidrs_and_something_to_do():
    assert errors_of(cluster_cidrs=None) == [
        "cluster_cidrs is required with state=present (the pod network, for example "
        "[192.168.0.0/16])"]
    assert errors_of(forward=False, masquerade=False) == [
        "forward and masquerade are both false: nothing to manage; use state=absent to "
        "remove the rules"]
    # absent needs nothing, but validates what it is given
    config, errors = nf.validate(dict(name=NAME, state="absent", cluster_cidrs=None))
    assert errors == [] and not config.present
    assert nf.validate(dict(name=NAME, state="absent", cluster_cidrs=["x"]))[1] == [
        "cluster_cidrs[0] 'x' is not an IPv4 or IPv6 network"]


@pytest.mark.parametrize("name,message", [
    ("Podnet", "name 'Podnet' must be lower-case letters, digits and '_', starting with a letter"),
    ("pod-net", "name 'pod-net' must be lower-case letters, digits and '_', starting with a letter"),
    ("1pod", "name '1pod' must be lower-case letters, digits and '_', starting with a letter"),
    ("a" * 25, "name '%s' is 25 characters; at most 24 (its iptables chains, NAME-FWD and "
               "NAME-NAT upper-cased, must fit in 28)" % ("a" * 25)),
    ("podnet_hostgw\n", "name 'podnet_hostgw\\n' must be lower-case letters, digits and '_', "
                        "starting with a letter"),
    ("filter", "name 'filter' is the name of a standard table; pick a name of the "
               "collection's own such as podnet_hostgw"),
    ("", "name '' must be a non-empty string"),
])
def test_bad_names(name, message):
    assert errors_of(name=name) == [message]


def test_names_derive_from_name():
    assert nf.ipt_chain("podnet_hostgw", "filter") == "PODNET-HOSTGW-FWD"
    assert nf.ipt_chain("podnet_hostgw", "nat") == "PODNET-HOSTGW-NAT"
    assert nf.ipt_comment("podnet_hostgw") == "podnet-hostgw"
    assert len(nf.ipt_chain("a" * 24, "filter")) == 28
    cfg(["10.0.0.0/8"], name="a" * 24)


# ------------------------------------------------------- nft rendering --

def test_wanted_table_v4():
    assert nf.nft_wanted_text(cfg(["192.168.0.0/16"])) == (
        "table inet podnet_hostgw {\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority 0; policy accept;\n"
        "\t\tip saddr 192.168.0.0/16 accept\n"
        "\t\tip daddr 192.168.0.0/16 accept\n"
        "\t}\n"
        "\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority 100; policy accept;\n"
        "\t\tip saddr 192.168.0.0/16 ip daddr != 192.168.0.0/16 masquerade\n"
        "\t}\n"
        "}\n")


def test_wanted_table_uses_one_set_for_all_cidrs_of_a_family():
    text = nf.nft_wanted_text(cfg(["192.168.0.0/16", "10.244.0.0/16", "fd00:1::/56"]))
    # pod traffic between any two cluster CIDRs is never masqueraded
    assert ("\t\tip saddr { 10.244.0.0/16, 192.168.0.0/16 } ip daddr != "
            "{ 10.244.0.0/16, 192.168.0.0/16 } masquerade\n") in text
    assert "\t\tip6 saddr fd00:1::/56 ip6 daddr != fd00:1::/56 masquerade\n" in text
    assert "\t\tip6 daddr fd00:1::/56 accept\n" in text


def test_wanted_table_without_forward_or_masquerade():
    assert "chain forward" not in nf.nft_wanted_text(cfg(["10.0.0.0/8"], forward=False))
    assert "chain postrouting" not in nf.nft_wanted_text(cfg(["10.0.0.0/8"], masquerade=False))
    assert nf.nft_wanted_text(nf.validate(dict(name=NAME, state="absent"))[0]) is None


def test_script_replaces_the_table_in_one_transaction():
    wanted = nf.nft_wanted_text(cfg(["10.0.0.0/8"]))
    assert nf.nft_script(NAME, wanted) == (
        "table inet podnet_hostgw {}\ndelete table inet podnet_hostgw\n" + wanted)
    assert nf.nft_script(NAME, None) == (
        "table inet podnet_hostgw {}\ndelete table inet podnet_hostgw\n")


# ------------------------------------------- nft listings (real captures) --

@pytest.mark.parametrize("fixture_name,cidrs,kw", [
    ("nft_own_v4", ["192.168.0.0/16"], {}),
    ("nft_own_dual", ["10.244.0.0/16", "192.168.0.0/16", "fd00:1::/56"], {}),
    ("nft_own_forward_only", ["fd00:1::/56"], {"masquerade": False}),
])
def test_listing_of_the_applied_script_is_the_wanted_text(fixture_name, cidrs, kw):
    """The fixture's setup is the module's own script; what nft lists after
    it normalises back to exactly the wanted text: no second-run change."""
    spec = fixture(fixture_name)
    wanted = nf.nft_wanted_text(cfg(cidrs, **kw))
    assert spec["setup"][-1]["stdin"] == nf.nft_script(NAME, wanted)
    assert nft_live(fixture_name) == wanted
    assert nf.nft_drift(NAME, nft_live(fixture_name), wanted) == []


def test_nft_merges_sets_and_both_sides_collapse_the_same():
    spec = fixture("nft_own_merged")
    # nft merged 10.0.0.0/24 and 10.0.1.0/24
    assert '{"prefix": {"addr": "10.0.0.0", "len": 23}}' in spec["stdout"]
    assert nft_live("nft_own_merged") == (
        "table inet podnet_hostgw {\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority 0; policy accept;\n"
        "\t\tip saddr 10.0.0.0/23 accept\n"
        "\t\tip daddr { 10.0.0.0/23, 10.0.3.7/32 } accept\n"
        "\t}\n"
        "}\n")
    wanted = nf.nft_wanted_text(cfg(["10.0.0.0/24", "10.0.1.0/24"], masquerade=False))
    assert "ip saddr 10.0.0.0/23 accept" in wanted


def test_hand_edits_are_drift():
    live = nft_live("nft_own_drift")
    wanted = nf.nft_wanted_text(cfg(["192.168.0.0/16"]))
    assert live != wanted
    # nft 1.0.6 prints the dormant flag as "inet" in JSON; either way it shows
    assert "\tflags inet;\n" in live
    assert "\t# set s (not made by this module)\n" in live
    assert "\t\tip saddr 10.9.9.9/32 counter drop\n" in live
    assert ('\t\t<unrecognised {"match":{"left":{"meta":{"key":"l4proto"}},"op":"==",'
            '"right":"tcp"}}> accept\n') in live
    assert nf.nft_drift(NAME, live, wanted) == [
        "table inet podnet_hostgw chain forward: unexpected: ip saddr 10.9.9.9/32 counter drop",
        'table inet podnet_hostgw chain forward: unexpected: <unrecognised {"match":{"left":'
        '{"meta":{"key":"l4proto"}},"op":"==","right":"tcp"}}> accept',
        "table inet podnet_hostgw chain postrouting: missing: ip saddr 192.168.0.0/16 ip daddr "
        "!= 192.168.0.0/16 masquerade",
        "table inet podnet_hostgw table: unexpected: flags inet;",
        "table inet podnet_hostgw table: unexpected: # set s (not made by this module)",
    ]
    # a whole chain less or more is named as such
    assert nf.nft_drift(NAME, live.replace("\tchain postrouting", "\tchain other"), wanted)[2:4] \
        == ["unexpected: table inet podnet_hostgw chain other",
            "missing: table inet podnet_hostgw chain postrouting"]


def test_missing_table_and_table_list():
    assert fixture("nft_missing")["rc"] == 1
    assert "No such file or directory" in fixture("nft_missing")["stderr"]
    tables = nf.nft_tables(json.loads(fixture("nft_tables")["stdout"]))
    assert tables == {("inet", "filter"), ("ip", "sidecar_nat"), ("inet", NAME)}
    # a listing without our table (another name) is "no table"
    assert nf.nft_live_text(json.loads(fixture("nft_own_v4")["stdout"]), "other") is None


def test_nft_drift_of_whole_tables():
    wanted = nf.nft_wanted_text(cfg(["10.0.0.0/8"]))
    assert nf.nft_drift(NAME, None, wanted) == ["missing: table inet podnet_hostgw"]
    assert nf.nft_drift(NAME, wanted, None) == ["unexpected: table inet podnet_hostgw"]
    assert nf.nft_drift(NAME, None, None) == []
    no_nat = nf.nft_wanted_text(cfg(["10.0.0.0/8"], masquerade=False))
    assert nf.nft_drift(NAME, wanted, no_nat) == [
        "unexpected: table inet podnet_hostgw chain postrouting"]
    swapped = wanted.replace("\t\tip saddr 10.0.0.0/8 accept\n\t\tip daddr 10.0.0.0/8 accept\n",
                             "\t\tip daddr 10.0.0.0/8 accept\n\t\tip saddr 10.0.0.0/8 accept\n")
    assert nf.nft_drift(NAME, swapped, wanted) == [
        "table inet podnet_hostgw chain forward: rules are in another order or repeated"]


@pytest.mark.parametrize("expr,text", [
    ({"match": {"op": "!=", "left": {"payload": {"protocol": "ip6", "field": "daddr"}},
                "right": {"set": [{"prefix": {"addr": "fd00:1::", "len": 56}},
                                  {"range": ["fd00:2::", "fd00:2::ff"]}]}}},
     "ip6 daddr != { fd00:1::/56, fd00:2::/120 }"),
    ({"match": {"op": "in", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                "right": {"set": [{"elem": {"val": {"prefix": {"addr": "10.0.0.0", "len": 8}},
                                            "comment": "x"}}]}}},
     "ip saddr 10.0.0.0/8"),
    ({"jump": {"target": "x"}}, "jump x"),
    ({"masquerade": {"flags": "fully-random"}}, '<unrecognised {"masquerade":{"flags":"fully-random"}}>'),
    # an IPv6 address in an "ip" match is not ours
    ({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                "right": "fd00::1"}},
     '<unrecognised {"match":{"left":{"payload":{"field":"saddr","protocol":"ip"}},"op":"==",'
     '"right":"fd00::1"}}>'),
])
def test_expression_rendering(expr, text):
    assert nf.render_nft_rule({"expr": [expr]}) == text


def test_rule_comment_is_shown():
    assert nf.render_nft_rule({"expr": [{"accept": None}], "comment": "hi"}) == 'accept comment "hi"'


# -------------------------------------------------------------- iptables --

def test_parse_iptables_listing_docker():
    listing = ipt("iptables_filter_docker")
    assert listing.policies == {"INPUT": "ACCEPT", "FORWARD": "DROP", "OUTPUT": "ACCEPT"}
    assert listing.chains == ["DOCKER-USER", "PODNET-HOSTGW-FWD"]
    assert ("FORWARD", ("-i", "docker0", "!", "-o", "docker0", "-m", "comment", "--comment",
                        "docker out", "-j", "ACCEPT"),
            '-A FORWARD -i docker0 ! -o docker0 -m comment --comment "docker out" -j ACCEPT') \
        in listing.rules
    own = nf.ipt_own(listing, "PODNET-HOSTGW-FWD")
    assert own.exists
    assert own.lines() == [
        "-N PODNET-HOSTGW-FWD",
        "-A FORWARD -m comment --comment podnet-hostgw -j PODNET-HOSTGW-FWD",
        "-A FORWARD -i eth9 -j PODNET-HOSTGW-FWD",
        "-A PODNET-HOSTGW-FWD -s 192.168.0.0/16 -j ACCEPT",
        "-A PODNET-HOSTGW-FWD -d 192.168.0.0/16 -j ACCEPT",
        "-A PODNET-HOSTGW-FWD -s 10.9.9.9/32 -j DROP",
    ]


def test_plan_repairs_drift_and_keeps_the_good_jump():
    c = cfg(["192.168.0.0/16"])
    own = nf.ipt_own(ipt("iptables_filter_docker"), "PODNET-HOSTGW-FWD")
    assert nf.ipt_plan_table(c, "filter", own, nf.ipt_wanted_rules(c, 4, "filter")) == [
        ":PODNET-HOSTGW-FWD - [0:0]",
        "-A PODNET-HOSTGW-FWD -s 192.168.0.0/16 -j ACCEPT",
        "-A PODNET-HOSTGW-FWD -d 192.168.0.0/16 -j ACCEPT",
        "-D FORWARD -i eth9 -j PODNET-HOSTGW-FWD",
    ]


@pytest.mark.parametrize("fixture_name,family,table,cidrs", [
    ("iptables_nat_own", 4, "nat", ["10.244.0.0/16", "192.168.0.0/16", "fd00:1::/56"]),
    ("ip6tables_filter_own", 6, "filter", ["10.244.0.0/16", "192.168.0.0/16", "fd00:1::/56"]),
    ("ip6tables_nat_own", 6, "nat", ["10.244.0.0/16", "192.168.0.0/16", "fd00:1::/56"]),
    ("iptables_legacy_filter_own", 4, "filter", ["192.168.0.0/16"]),
    ("iptables_legacy_nat_own", 4, "nat", ["192.168.0.0/16"]),
])
def test_listing_of_applied_chains_is_in_sync(fixture_name, family, table, cidrs):
    c = cfg(cidrs)
    own = nf.ipt_own(ipt(fixture_name), nf.ipt_chain(NAME, table))
    assert nf.ipt_plan_table(c, table, own, nf.ipt_wanted_rules(c, family, table)) == []
    # the canonical lines are what iptables -S prints
    assert own.lines() == nf.ipt_wanted_lines(c, family, table)
    assert nf.ipt_drift("x", own.lines(), nf.ipt_wanted_lines(c, family, table)) == []


def test_wanted_nat_rules_return_pod_to_pod_before_masquerade():
    c = cfg(["10.244.0.0/16", "192.168.0.0/16"])
    assert nf.ipt_wanted_lines(c, 4, "nat") == [
        "-N PODNET-HOSTGW-NAT",
        "-A POSTROUTING -m comment --comment podnet-hostgw -j PODNET-HOSTGW-NAT",
        "-A PODNET-HOSTGW-NAT -d 10.244.0.0/16 -j RETURN",
        "-A PODNET-HOSTGW-NAT -d 192.168.0.0/16 -j RETURN",
        "-A PODNET-HOSTGW-NAT -s 10.244.0.0/16 -j MASQUERADE",
        "-A PODNET-HOSTGW-NAT -s 192.168.0.0/16 -j MASQUERADE",
    ]
    assert nf.ipt_wanted_rules(c, 6, "nat") is None          # no IPv6 CIDR
    assert nf.ipt_wanted_rules(cfg(["10.0.0.0/8"], masquerade=False), 4, "nat") is None
    assert nf.ipt_wanted_rules(cfg(["10.0.0.0/8"], forward=False), 4, "filter") is None


def test_plan_from_empty_creates_chain_then_inserts_jump():
    c = cfg(["192.168.0.0/16"])
    own = nf.ipt_own(ipt("iptables_empty_filter"), "PODNET-HOSTGW-FWD")
    assert not own.exists and own.lines() == []
    lines = nf.ipt_plan_table(c, "filter", own, nf.ipt_wanted_rules(c, 4, "filter"))
    assert lines == [
        ":PODNET-HOSTGW-FWD - [0:0]",
        "-A PODNET-HOSTGW-FWD -s 192.168.0.0/16 -j ACCEPT",
        "-A PODNET-HOSTGW-FWD -d 192.168.0.0/16 -j ACCEPT",
        "-I FORWARD 1 -m comment --comment podnet-hostgw -j PODNET-HOSTGW-FWD",
    ]
    assert nf.restore_input([("filter", lines), ("nat", [])]) == (
        "*filter\n" + "\n".join(lines) + "\nCOMMIT\n")
    assert nf.restore_input([("filter", []), ("nat", [])]) == ""


def test_plan_absent_removes_every_jump_then_the_chain():
    own = nf.ipt_own(ipt("iptables_filter_docker"), "PODNET-HOSTGW-FWD")
    c = nf.validate(dict(name=NAME, state="absent"))[0]
    assert nf.ipt_plan_table(c, "filter", own, None) == [
        "-D FORWARD -m comment --comment podnet-hostgw -j PODNET-HOSTGW-FWD",
        "-D FORWARD -i eth9 -j PODNET-HOSTGW-FWD",
        ":PODNET-HOSTGW-FWD - [0:0]",
        "-X PODNET-HOSTGW-FWD",
    ]
    empty = nf.ipt_own(ipt("iptables_empty_filter"), "PODNET-HOSTGW-FWD")
    assert nf.ipt_plan_table(c, "filter", empty, None) == []


def test_duplicate_jumps_are_reduced_to_one():
    listing = nf.parse_ipt_listing(
        "-P FORWARD ACCEPT\n-N PODNET-HOSTGW-FWD\n"
        "-A FORWARD -m comment --comment podnet-hostgw -j PODNET-HOSTGW-FWD\n"
        "-A FORWARD -m comment --comment \"podnet-hostgw\" -j PODNET-HOSTGW-FWD\n"
        "-A PODNET-HOSTGW-FWD -s 10.0.0.0/8 -j ACCEPT\n"
        "-A PODNET-HOSTGW-FWD -d 10.0.0.0/8 -j ACCEPT\n")
    c = cfg(["10.0.0.0/8"])
    own = nf.ipt_own(listing, "PODNET-HOSTGW-FWD")
    assert nf.ipt_plan_table(c, "filter", own, nf.ipt_wanted_rules(c, 4, "filter")) == [
        '-D FORWARD -m comment --comment "podnet-hostgw" -j PODNET-HOSTGW-FWD']


def test_a_jump_in_another_chain_or_by_goto_is_ours_too():
    listing = nf.parse_ipt_listing(
        "-N PODNET-HOSTGW-FWD\n-A INPUT -g PODNET-HOSTGW-FWD\n"
        "-A FORWARD -j PODNET-HOSTGW-FWD-OTHER\n# Warning: iptables-legacy tables present\n")
    own = nf.ipt_own(listing, "PODNET-HOSTGW-FWD")
    assert [raw for _c, _t, raw in own.jumps] == ["-A INPUT -g PODNET-HOSTGW-FWD"]


def test_restore_input_refuses_line_breaks():
    with pytest.raises(ValueError):
        nf.restore_input([("filter", ["-A X -j ACCEPT\n-F FORWARD"])])


def test_ipt_drift_lines():
    assert nf.ipt_drift("iptables -t filter", ["-N A", "-A A -j DROP"], ["-N A"]) == [
        "iptables -t filter: unexpected: -A A -j DROP"]

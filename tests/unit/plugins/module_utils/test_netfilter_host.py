"""The netfilter host side of the engine (_hostgw/netfilter_host.py) on a
plain command.Runner, as the reconcile command uses it: the tools found on
the runner's path, reading, and the repair-only plan.  Backend choice, check
mode and applying are covered through the module in
tests/unit/plugins/modules/test_netfilter.py; the kernel in
tests/integration/test_netfilter.py and test_engine_repair.py."""

import json
import os

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import netfilter as nf
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import netfilter_host as host
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.command import Runner
from tests.conftest import REPO

FIXTURES = os.path.join(REPO, "tests", "fixtures")
NAME = nf.DEFAULT_NAME
V4 = ["192.168.0.0/16"]


def out(name):
    with open(os.path.join(FIXTURES, name + ".json")) as fh:
        return json.load(fh)["stdout"]


class FakeRunner(Runner):
    """Answers listings from LISTINGS (argv without /usr/sbin/, as a tuple);
    TOOLS are the commands on the path."""

    def __init__(self, listings, tools=("nft", "iptables", "iptables-restore", "ip6tables",
                                        "ip6tables-restore")):
        self.listings = listings
        self.tools = tools
        self.calls = []

    def which(self, name):
        return "/usr/sbin/" + name if name in self.tools else None

    def run(self, argv, data=None):
        args = tuple([argv[0][len("/usr/sbin/"):]] + list(argv[1:]))
        self.calls.append((args, data))
        answer = self.listings.get(args, (0, "", ""))
        return answer if isinstance(answer, tuple) else (0, answer, "")


def host_with(nft_table=None, v4_filter="iptables_empty_filter", v4_nat="iptables_empty_nat"):
    listings = {("nft", "-j", "list", "tables"): out("nft_tables") if nft_table else
                json.dumps({"nftables": [{"metainfo": {"json_schema_version": 1}}]})}
    if nft_table:
        listings[("nft", "-j", "list", "table", "inet", NAME)] = out(nft_table)
    for cmd, filter_, nat in (("iptables", v4_filter, v4_nat),
                              ("ip6tables", "iptables_empty_filter", "iptables_empty_nat")):
        listings[(cmd, "-w", "10", "-t", "filter", "-S")] = out(filter_)
        listings[(cmd, "-w", "10", "-t", "nat", "-S")] = out(nat)
    return FakeRunner(listings)


def config(cidrs=None):
    cfg, problems = nf.validate(dict(name=NAME, state="present", cluster_cidrs=V4 if cidrs is None else cidrs))
    assert problems == []
    return cfg


def test_tools_are_found_on_the_runners_path_and_missing_ones_named():
    tools = host.Tools(FakeRunner({}, tools=("nft", "iptables-legacy", "iptables-legacy-restore",
                                             "ip6tables-legacy")), "legacy")
    assert tools.nft == "/usr/sbin/nft"
    assert tools.ipt == {4: ("/usr/sbin/iptables-legacy", "/usr/sbin/iptables-legacy-restore")}
    assert tools.missing_ipt == {6: ["ip6tables-legacy-restore"]}
    live = host.read(tools, NAME)
    assert live.ipt_errors == {6: "ip6tables-legacy-restore not found (install the iptables "
                                  "package)"}


def test_read_reports_a_missing_nft_without_failing():
    live = host.read(host.Tools(FakeRunner({}, tools=()), "auto"), NAME)
    assert (live.nft_ok, live.nft_text, live.ipt) == (False, None, {})
    assert live.nft_error == "the nft command was not found (install the nftables package)"


def test_repair_only_converged_plans_nothing():
    runner = host_with(nft_table="nft_own_v4")
    live = host.read(host.Tools(runner), NAME)
    change = host.plan(config(), live, "nftables", repair_only=True)
    assert change.steps == [] and change.drift == []
    assert all(data is None for _args, data in runner.calls)      # reads only


def test_repair_only_recreates_the_table_and_leaves_the_other_backend_alone():
    live = host.read(host.Tools(host_with(v4_nat="iptables_nat_own")), NAME)
    repair = host.plan(config(), live, "nftables", repair_only=True)
    assert repair.steps == [host.Step("nftables", None,
                                      nf.nft_script(NAME, nf.nft_wanted_text(config())))]
    assert repair.drift == ["missing: table inet %s" % NAME]
    # the module's run (not repair-only) also removes the iptables chains
    full = host.plan(config(), live, "nftables")
    assert [s.kind for s in full.steps] == ["nftables", "iptables"]
    assert "-X PODNET-HOSTGW-NAT" in full.steps[1].stdin


def test_repair_only_repairs_drift_of_the_chosen_iptables_backend_only():
    live = host.read(host.Tools(host_with(nft_table="nft_own_v4", v4_nat="iptables_nat_own")), NAME)
    repair = host.plan(config(), live, "iptables", repair_only=True)
    assert [s.kind for s in repair.steps] == ["iptables"]          # the nft table stays
    assert repair.steps[0].stdin == (
        "*filter\n"
        ":PODNET-HOSTGW-FWD - [0:0]\n"
        "-A PODNET-HOSTGW-FWD -s 192.168.0.0/16 -j ACCEPT\n"
        "-A PODNET-HOSTGW-FWD -d 192.168.0.0/16 -j ACCEPT\n"
        "-I FORWARD 1 -m comment --comment podnet-hostgw -j PODNET-HOSTGW-FWD\n"
        "COMMIT\n"
        "*nat\n"
        ":PODNET-HOSTGW-NAT - [0:0]\n"
        "-A PODNET-HOSTGW-NAT -d 192.168.0.0/16 -j RETURN\n"
        "-A PODNET-HOSTGW-NAT -s 192.168.0.0/16 -j MASQUERADE\n"
        "COMMIT\n")


def _same_live(a, b):
    def shape(live):
        ipt = dict((f, dict((t, (l.policies, l.chains, l.rules)) for t, l in tables.items()))
                   for f, tables in live.ipt.items())
        return (live.nft_ok, live.nft_error, live.nft_text, ipt, live.ipt_errors)
    return shape(a) == shape(b)


def test_the_raw_read_is_json_and_makes_the_same_live_state():
    """What node_info hands the controller (read_raw, through JSON) is the
    Live the module reads: the same backend choice and plan follow."""
    for runner in (host_with("nft_own_v4"), host_with(v4_filter="iptables_filter_docker"),
                   host_with("nft_own_drift"), FakeRunner({}, tools=("nft",))):
        tools = host.Tools(runner, "auto")
        raw = json.loads(json.dumps(host.read_raw(tools, NAME)))
        assert _same_live(host.live_from_raw(raw), host.read(tools, NAME))

"""The engine's bridge and netfilter functions as a host-side reconcile
command calls them: the engine package copied as a plain package
(``podnet_hostgw``, standard library only, no Ansible on the path), run
inside a throwaway namespace with ``command.SubprocessRunner``, in
repair-only mode: create what is missing, repair what drifted, never delete.

The scripts below are what the reconcile command does for these two parts;
they use exactly the functions the bridge and netfilter modules use.
"""

import json
import os
import shutil
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

ENGINE = os.path.join(REPO, "plugins", "module_utils", "_hostgw")
CIDR4 = "192.168.0.0/16"
NAME = "podnet_hostgw"

BRIDGE_SCRIPT = """
import json, sys
from podnet_hostgw import bridge, bridge_host
from podnet_hostgw.command import SubprocessRunner
from podnet_hostgw.iproute import IpCommand

name, mtu, addresses = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
ifaces, problems = bridge.validate_params(name, mtu, addresses)
assert not problems, problems
ipc = IpCommand(SubprocessRunner())
current = bridge_host.read(ipc, name)
change = bridge.plan(name, current.link, current.addrs, mtu=mtu, addresses=ifaces,
                     repair_only=True)
error = bridge_host.apply(ipc, name, change).error if change["commands"] else None
print(json.dumps({"commands": change["commands"], "conflicts": change["conflicts"],
                  "error": error, "modules": sorted(m for m in sys.modules if "ansible" in m)}))
"""

NETFILTER_SCRIPT = """
import json, sys
from podnet_hostgw import netfilter, netfilter_host as host
from podnet_hostgw.command import SubprocessRunner

backend, cidrs = sys.argv[1], sys.argv[2:]
config, problems = netfilter.validate({"name": "%s", "state": "present", "cluster_cidrs": cidrs})
assert not problems, problems
tools = host.Tools(SubprocessRunner(), "auto")
live = host.read(tools, config.name)
choice = host.choose_backend(config, live, backend)
change = host.plan(config, live, choice.backend, repair_only=True)
applied, failure = host.apply(tools, change)
print(json.dumps({"backend": choice.backend, "drift": change.drift,
                  "steps": [s.kind for s in change.steps],
                  "failure": failure.message if failure else None,
                  "verify": host.verify(tools, config, change, choice.backend),
                  "modules": sorted(m for m in sys.modules if "ansible" in m)}))
""" % NAME


@pytest.fixture
def engine(tmp_path):
    """The engine installed as a plain package; a runner of scripts with it."""
    shutil.copytree(ENGINE, str(tmp_path / "podnet_hostgw"),
                    ignore=shutil.ignore_patterns("__pycache__"))

    def run(ns, script, *args):
        proc = ns.run(["env", "PYTHONPATH=%s" % tmp_path, sys.executable, "-s",
                       "-c", script] + list(args))
        out = json.loads(proc.stdout)
        assert out.pop("modules") == []         # nothing of Ansible was imported
        return out

    return run


def addresses(ns, dev):
    return sorted("%s/%s" % (a["local"], a["prefixlen"]) for entry in ns.json("addr", "show", "dev", dev)
                  for a in entry["addr_info"] if a.get("scope") != "link")


def test_bridge_is_created_then_repaired_and_nothing_else_is_touched(netns, engine):
    args = ("cni0", "1450", "192.168.1.1/24")
    first = engine(netns, BRIDGE_SCRIPT, *args)
    assert first["error"] is None
    assert first["commands"][0] == "link add name cni0 mtu 1451 type bridge"
    link = netns.json("-details", "link", "show", "dev", "cni0")[0]
    assert (link["mtu"], "UP" in link["flags"]) == (1450, True)
    assert addresses(netns, "cni0") == ["192.168.1.1/24"]
    assert engine(netns, BRIDGE_SCRIPT, *args)["commands"] == []     # converged: no writes

    # the gateway address removed by hand, an address of someone else added, the link down
    netns.ip("addr", "del", "192.168.1.1/24", "dev", "cni0")
    netns.ip("addr", "add", "192.168.5.7/24", "dev", "cni0")
    netns.ip("link", "set", "dev", "cni0", "down")
    repair = engine(netns, BRIDGE_SCRIPT, *args)
    assert repair["error"] is None
    assert repair["commands"] == ["addr add 192.168.1.1/24 brd + dev cni0", "link set dev cni0 up"]
    assert addresses(netns, "cni0") == ["192.168.1.1/24", "192.168.5.7/24"]
    assert engine(netns, BRIDGE_SCRIPT, *args)["commands"] == []

    # the same IP with another prefix is reported and left alone
    conflict = engine(netns, BRIDGE_SCRIPT, "cni0", "1450", "192.168.5.7/16")
    assert conflict["commands"] == []
    assert conflict["conflicts"] == ["cni0 holds 192.168.5.7/24, not 192.168.5.7/16; "
                                     "left alone (repair only)"]
    assert addresses(netns, "cni0") == ["192.168.1.1/24", "192.168.5.7/24"]


FOREIGN_NFT = ("table inet filter {\n"
               "  chain forward {\n"
               "    type filter hook forward priority 0; policy accept;\n"
               "    ip saddr 198.51.100.0/24 counter drop\n"
               "  }\n"
               "}\n")


def test_netfilter_table_is_recreated_when_missing_or_drifted_and_nothing_removed(netns, engine):
    for tool in ("nft", "iptables"):
        if not shutil.which(tool):
            pytest.skip("%s is not installed" % tool)
    netns.run(["nft", "-f", "-"], data=FOREIGN_NFT)
    # the collection's iptables chains, as an iptables run of the module left them
    made = netns.module("netfilter", {"cluster_cidrs": [CIDR4], "backend": "iptables"})
    assert made.get("failed") is not True, made
    iptables_before = [netns.run(["iptables", "-w", "10", "-t", t, "-S"]).stdout
                       for t in ("filter", "nat")]
    foreign_before = netns.run(["nft", "list", "table", "inet", "filter"]).stdout

    first = engine(netns, NETFILTER_SCRIPT, "nftables", CIDR4)
    assert (first["backend"], first["steps"], first["failure"], first["verify"]) == \
        ("nftables", ["nftables"], None, [])
    assert first["drift"] == ["missing: table inet %s" % NAME]
    # repair only: the other backend's chains stay (removal is the playbook's purge)
    assert [netns.run(["iptables", "-w", "10", "-t", t, "-S"]).stdout
            for t in ("filter", "nat")] == iptables_before
    wanted = netns.run(["nft", "list", "table", "inet", NAME]).stdout
    assert engine(netns, NETFILTER_SCRIPT, "nftables", CIDR4)["steps"] == []

    netns.run(["nft", "add", "rule", "inet", NAME, "forward", "ip", "saddr", "10.9.9.9", "drop"])
    repair = engine(netns, NETFILTER_SCRIPT, "nftables", CIDR4)
    assert repair["steps"] == ["nftables"] and repair["failure"] is None
    assert repair["drift"] == ["table inet %s chain forward: unexpected: ip saddr 10.9.9.9/32 drop"
                               % NAME]
    assert netns.run(["nft", "list", "table", "inet", NAME]).stdout == wanted
    assert netns.run(["nft", "list", "table", "inet", "filter"]).stdout == foreign_before
    # the module agrees that nothing is left to do for nftables
    again = netns.module("netfilter", {"cluster_cidrs": [CIDR4], "backend": "nftables"},
                         check_mode=True)
    assert [d for d in again["drift"] if not d.startswith("iptables")] == []

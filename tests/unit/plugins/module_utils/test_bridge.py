# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the bridge logic in the engine (_hostgw/bridge.py, and the
error translation of _hostgw/bridge_host.py), driven by real ``ip -json`` output.

The fixtures in tests/fixtures/ip_link_*.json and ip_addr_*.json were captured
from Linux 6.18 / iproute2 6.1 inside a throwaway namespace:

* ip_link_bridge_up / ip_addr_bridge_dual: cni0 up, 192.168.1.1/24 (brd +),
  fd00:1::1/64 and the kernel's fe80:: link-local, DAD settled;
* ip_addr_bridge_secondary: the same cni0 after adding 192.168.1.2/24 (an
  IPv4 secondary), 192.168.1.1/16 (same IP, other prefix) and fd00:2::1/64
  (still tentative);
* ip_link_bridge_down / ip_addr_bridge_down: br-down, never up, mtu 9000,
  192.168.9.1/24, no link-local;
* ip_addr_bridge_empty: a fresh bridge without addresses;
* ip_link_bridge_port: br-port admin-up with a down veth port of mtu 1400
  (NO-CARRIER, operstate DOWN, mtu lowered to 1400 by the kernel);
* ip_link_veth / ip_addr_veth: veth0 (this kernel has no dummy driver);
* ip_link_altname: ``ip link show dev cni1`` where cni1 is veth0's altname;
* ip_link_lo: loopback, no linkinfo at all.
"""

import ipaddress
import json
import os

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import bridge
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import bridge_host
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.bridge import PlanError
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.iproute import BatchResult, parse_batch_errors

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures")

# Real stderr of ``ip -force -batch -`` on this machine with four failing lines.
BATCH_STDERR = (
    "Error: ipv4: Address already assigned.\n"
    "Command failed -:1\n"
    "Error: ipv4: Address not found.\n"
    "Command failed -:2\n"
    "Cannot find device \"nope\"\n"
    "Command failed -:3\n"
    "Error: mtu greater than device maximum.\n"
    "Command failed -:4\n"
)


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as fh:
        return json.load(fh)


def link_of(name):
    return bridge.parse_link(fixture("ip_link_%s.json" % name))


def addrs_of(name):
    return bridge.parse_addr_info(fixture("ip_addr_%s.json" % name))


def ifaces(*values):
    return [ipaddress.ip_interface(v) for v in values]


# --------------------------------------------------------------------------
# the name: the one interface-name rule (names.ifname_problem, tested in
# test_names.py), applied with the one sentence shape


@pytest.mark.parametrize("name", ["cni0", "a", "br-pods_1.100", "x" * 15, "@weird+name"])
def test_valid_ifnames(name):
    assert bridge.validate_params(name)[1] == []


@pytest.mark.parametrize("name, fragment", [
    ("", "is empty"),
    ("x" * 16, "at most 15"),
    ("\u00e9" * 8, "16 bytes long"),
    (".", "reserved"),
    ("..", "reserved"),
    ("a/b", "'/'"),
    ("cni0:1", "':'"),
    ("a b", "whitespace"),
    ("a\tb", "whitespace"),
    ("a\nb", "whitespace"),
    ("a\x01b", "control characters"),
    ("a\x7fb", "control characters"),
    ("br#1", "'#'"),
    ('br"1', "double quote"),
    ("br'1", "single quote"),
    ("br\\1", "backslash"),
])
def test_invalid_ifnames_name_the_value(name, fragment):
    _ifaces, problems = bridge.validate_params(name)
    assert len(problems) == 1
    assert problems[0].startswith("name %r " % name)
    assert fragment in problems[0]


def test_ifname_must_be_a_string():
    assert bridge.validate_params(5)[1] == ["name 5 is not a string (an interface name)"]


# --------------------------------------------------------------------------
# MTU


@pytest.mark.parametrize("mtu", [68, 1280, 1500, 9000, 65535])
def test_valid_mtu(mtu):
    assert bridge.mtu_problem(mtu) is None
    assert bridge.validate_params("cni0", mtu)[1] == []


@pytest.mark.parametrize("mtu", [0, 67, 65536, -1, 100000])
def test_mtu_out_of_range_names_value(mtu):
    assert bridge.validate_params("cni0", mtu)[1] == [
        "mtu %d is out of range: a bridge accepts 68..65535" % mtu]


@pytest.mark.parametrize("mtu", [True, "1500", 1500.0])
def test_mtu_must_be_int(mtu):
    assert bridge.validate_params("cni0", mtu)[1] == ["mtu %r is not an integer" % (mtu,)]


# --------------------------------------------------------------------------
# addresses


@pytest.mark.parametrize("value, normalised", [
    ("192.168.1.1/24", "192.168.1.1/24"),
    ("192.168.0.1/24", "192.168.0.1/24"),
    ("192.168.1.0/31", "192.168.1.0/31"),
    ("192.168.1.1/31", "192.168.1.1/31"),
    ("192.168.1.7/32", "192.168.1.7/32"),
    ("fd00:1::1/64", "fd00:1::1/64"),
    ("FD00:0001:0000::1/64", "fd00:1::1/64"),
    ("fd00:1::/127", "fd00:1::/127"),
    ("2001:db8::1/128", "2001:db8::1/128"),
    ("169.254.3.1/16", "169.254.3.1/16"),
])
def test_parse_valid_addresses(value, normalised):
    iface, problem = bridge.parse_address(value)
    assert problem is None
    assert str(iface) == normalised


@pytest.mark.parametrize("value, fragment", [
    ("192.168.1.1", "has no prefix length"),
    ("fd00:1::1", "has no prefix length"),
    ("192.168.1.1/255.255.255.0", "must be a number"),
    ("192.168.1.1/", "must be a number"),
    ("192.168.1.1/24 ", "must be a number"),
    ("192.168.1.1/33", "not a valid IPv4 or IPv6 address"),
    ("fd00::1/129", "not a valid IPv4 or IPv6 address"),
    ("192.168.1.300/24", "not a valid IPv4 or IPv6 address"),
    ("cni0/24", "not a valid IPv4 or IPv6 address"),
    (" 192.168.1.1/24", "not a valid IPv4 or IPv6 address"),
    ("192.168.1.0/24", "is the network address of 192.168.1.0/24; use a host address such as 192.168.1.1/24"),
    ("192.168.1.255/24", "is the broadcast address of 192.168.1.0/24"),
    ("192.168.0.0/16", "is the network address of 192.168.0.0/16"),
    ("fd00:1::/64", "subnet-router anycast address of fd00:1::/64; use a host address such as fd00:1::1/64"),
    ("fe80::1/64", "IPv6 link-local"),
    ("fe80::6047:d0ff:fe09:c9d2/64", "the kernel manages link-local"),
    ("0.0.0.0/8", "unspecified"),
    ("::/0", "unspecified"),
    ("127.0.0.2/8", "loopback"),
    ("::1/128", "loopback"),
    ("224.0.0.5/24", "multicast"),
    ("ff02::1/64", "multicast"),
    ("::ffff:192.168.1.1/120", "IPv4-mapped"),
    ("fe80::1%eth0/64", "zone index"),
])
def test_parse_invalid_addresses_name_the_value(value, fragment):
    iface, problem = bridge.parse_address(value)
    assert iface is None
    assert fragment in problem
    _ifaces, problems = bridge.parse_addresses(["192.168.9.1/24", value])
    assert problems == ["addresses[1] %r %s" % (value, problem)]


def test_address_must_be_a_string():
    assert bridge.parse_address(24) == (None, "is not a string (an address such as 192.168.1.1/24)")


def test_parse_addresses_keeps_order_and_reports_duplicates():
    result, errors = bridge.parse_addresses(
        ["fd00:1::1/64", "192.168.1.1/24", "192.168.1.1/24", "FD00:1:0::1/64", "192.168.1.1/16", "x/1"])
    assert [str(i) for i in result] == ["fd00:1::1/64", "192.168.1.1/24"]
    assert errors == [
        "addresses[2] '192.168.1.1/24' is listed twice (also addresses[1])",
        "addresses[3] 'FD00:1:0::1/64' names the same IP fd00:1::1 as addresses[0] 'fd00:1::1/64'; "
        "list it once",
        "addresses[4] '192.168.1.1/16' names the same IP 192.168.1.1 as addresses[1] "
        "'192.168.1.1/24'; list it once",
        "addresses[5] 'x/1' is not a valid IPv4 or IPv6 address with prefix",
    ]


def test_validate_params_collects_every_error():
    result, errors = bridge.validate_params("bad name", 70000, ["192.168.1.0/24", "fd00::1"])
    assert result == []
    assert len(errors) == 4
    assert errors[0] == "name 'bad name' must not contain whitespace"
    assert "mtu 70000" in errors[1]
    assert "'192.168.1.0/24'" in errors[2]
    assert "'fd00::1'" in errors[3]


def test_validate_params_refuses_ipv6_below_1280():
    result, errors = bridge.validate_params("cni0", 1200, ["192.168.1.1/24", "fd00:1::1/64"])
    assert len(result) == 2
    assert errors == ["mtu 1200 is below IPv6's minimum of 1280, so the kernel disables IPv6 on the "
                      "bridge and cannot hold fd00:1::1/64"]
    assert bridge.validate_params("cni0", 1200, ["192.168.1.1/24"])[1] == []
    assert bridge.validate_params("cni0", 1280, ["fd00:1::1/64"])[1] == []


# --------------------------------------------------------------------------
# parsing real ip -json output


def test_parse_link_up_bridge():
    link = link_of("bridge_up")
    assert link == {"ifname": "cni0", "ifindex": 2, "kind": "bridge", "mtu": 1500, "up": True,
                    "operstate": "UNKNOWN", "altnames": []}


def test_parse_link_admin_up_without_carrier_counts_as_up():
    link = link_of("bridge_port")
    raw = fixture("ip_link_bridge_port.json")[0]
    assert raw["operstate"] == "DOWN" and "NO-CARRIER" in raw["flags"]
    assert link["up"] is True
    assert link["kind"] == "bridge"
    assert link["mtu"] == 1400   # lowered by the kernel to the port's MTU


def test_parse_link_down_bridge():
    link = link_of("bridge_down")
    assert (link["ifname"], link["kind"], link["up"], link["mtu"]) == ("br-down", "bridge", False, 9000)


def test_parse_link_non_bridges():
    assert link_of("veth")["kind"] == "veth"
    lo = link_of("lo")
    assert lo["kind"] is None
    assert "without a link kind" in bridge.describe_kind(lo["kind"])


def test_parse_link_altname_answer():
    link = link_of("altname")
    assert link["ifname"] == "veth0"
    assert link["altnames"] == ["cni1"]


def test_parse_link_empty():
    assert bridge.parse_link([]) is None


def test_parse_addr_info_dual_stack_with_link_local():
    addrs = addrs_of("bridge_dual")
    assert [(a["cidr"], a["scope"], a["kernel_managed"]) for a in addrs] == [
        ("192.168.1.1/24", "global", False),
        ("fd00:1::1/64", "global", False),
        ("fe80::6047:d0ff:fe09:c9d2/64", "link", True),
    ]


def test_parse_addr_info_secondary_and_tentative():
    addrs = {a["cidr"]: a for a in addrs_of("bridge_secondary")}
    assert sorted(addrs) == sorted(["192.168.1.1/24", "192.168.1.1/16", "192.168.1.2/24", "fd00:2::1/64",
                                    "fd00:1::1/64", "fe80::6047:d0ff:fe09:c9d2/64"])
    assert addrs["192.168.1.2/24"]["secondary"] is True
    assert addrs["192.168.1.1/24"]["secondary"] is False
    assert addrs["192.168.1.1/16"]["secondary"] is False
    assert addrs["fd00:2::1/64"]["tentative"] is True


def test_parse_addr_info_empty_and_veth():
    assert addrs_of("bridge_empty") == []
    assert [a["cidr"] for a in addrs_of("veth")] == ["192.168.50.1/24"]


def test_managed_state_leaves_out_link_local_and_sorts():
    state = bridge.managed_state("cni0", link_of("bridge_up"), addrs_of("bridge_secondary"))
    assert state == {"name": "cni0", "exists": True, "mtu": 1500, "up": True,
                     "addresses": ["192.168.1.1/16", "192.168.1.1/24", "192.168.1.2/24",
                                   "fd00:1::1/64", "fd00:2::1/64"]}
    assert bridge.managed_state("cni0", None, []) == {
        "name": "cni0", "exists": False, "mtu": None, "up": False, "addresses": []}


def test_render_state():
    present = bridge.managed_state("cni0", link_of("bridge_up"), addrs_of("bridge_dual"))
    assert bridge.render_state(present) == (
        "bridge: cni0\nstate: present\nkind: bridge\nlink: up\nmtu: 1500\n"
        "addresses:\n  - 192.168.1.1/24\n  - fd00:1::1/64\n")
    down = bridge.managed_state("br-down", link_of("bridge_down"), addrs_of("bridge_empty"))
    assert bridge.render_state(down) == (
        "bridge: br-down\nstate: present\nkind: bridge\nlink: down\nmtu: 9000\naddresses: []\n")
    assert bridge.render_state(bridge.managed_state("cni0", None, [])) == "bridge: cni0\nstate: absent\n"


# --------------------------------------------------------------------------
# plans: creation


def test_plan_create_plain():
    change = bridge.plan("cni0", None, [], addresses=ifaces("192.168.0.1/24"))
    assert change["commands"] == [
        "link add name cni0 type bridge",
        "addr add 192.168.0.1/24 brd + dev cni0",
        "link set dev cni0 up",
    ]
    assert change["added"] == ["192.168.0.1/24"]
    assert change["removed"] == []
    assert change["before"]["exists"] is False
    assert change["after"] == {"name": "cni0", "exists": True, "mtu": 1500, "up": True,
                               "addresses": ["192.168.0.1/24"]}


def test_plan_create_with_mtu_changes_it_so_the_kernel_pins_it():
    change = bridge.plan("cni0", None, [], mtu=1500, addresses=ifaces("fd00:1::1/64", "192.168.1.1/24"))
    assert change["commands"] == [
        "link add name cni0 mtu 1501 type bridge",
        "link set dev cni0 mtu 1500",
        "addr add fd00:1::1/64 dev cni0",
        "addr add 192.168.1.1/24 brd + dev cni0",
        "link set dev cni0 up",
    ]
    assert change["after"]["mtu"] == 1500
    assert change["after"]["addresses"] == ["192.168.1.1/24", "fd00:1::1/64"]


def test_plan_create_with_max_mtu_starts_below():
    change = bridge.plan("cni0", None, [], mtu=65535)
    assert change["commands"][:2] == ["link add name cni0 mtu 65534 type bridge", "link set dev cni0 mtu 65535"]


def test_plan_create_down_with_small_prefixes():
    change = bridge.plan("br1", None, [], up=False, addresses=ifaces("192.168.3.0/31", "192.168.4.1/32"))
    assert change["commands"] == [
        "link add name br1 type bridge",
        "addr add 192.168.3.0/31 dev br1",
        "addr add 192.168.4.1/32 dev br1",
    ]
    assert change["after"]["up"] is False


# --------------------------------------------------------------------------
# plans: existing bridge


def test_plan_no_change_when_state_matches():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"),
                         addresses=ifaces("fd00:1:0::1/64", "192.168.1.1/24"), exclusive=True)
    assert change["commands"] == []
    assert change["added"] == change["removed"] == []
    assert change["after"] == change["before"]


def test_plan_no_change_with_same_mtu_and_admin_up_without_carrier():
    link = link_of("bridge_port")
    change = bridge.plan("br-port", link, [], mtu=1400)
    assert change["commands"] == []


def test_plan_add_address_keeps_others_without_exclusive():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"),
                         addresses=ifaces("192.168.2.1/24"))
    assert change["commands"] == ["addr add 192.168.2.1/24 brd + dev cni0"]
    assert change["removed"] == []
    assert change["after"]["addresses"] == ["192.168.1.1/24", "192.168.2.1/24", "fd00:1::1/64"]


def test_plan_exclusive_readdressing_adds_before_deleting_and_spares_link_local():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"),
                         addresses=ifaces("192.168.7.1/24", "fd00:7::1/64"), exclusive=True)
    assert change["commands"] == [
        "addr add 192.168.7.1/24 brd + dev cni0",
        "addr add fd00:7::1/64 dev cni0",
        "addr del 192.168.1.1/24 dev cni0",
        "addr del fd00:1::1/64 dev cni0",
    ]
    assert change["added"] == ["192.168.7.1/24", "fd00:7::1/64"]
    assert change["removed"] == ["192.168.1.1/24", "fd00:1::1/64"]
    assert not any("fe80" in line for line in change["commands"])
    assert change["after"]["addresses"] == ["192.168.7.1/24", "fd00:7::1/64"]


def test_plan_exclusive_with_no_addresses_removes_all_but_link_local():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"), exclusive=True)
    assert change["commands"] == ["addr del 192.168.1.1/24 dev cni0", "addr del fd00:1::1/64 dev cni0"]
    assert change["after"]["addresses"] == []


def test_plan_same_ip_other_prefix_is_replaced_even_without_exclusive():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"),
                         addresses=ifaces("192.168.1.1/23", "fd00:1::1/56"))
    # IPv4 accepts the same IP twice, so the new one goes first; IPv6 does
    # not ("address already assigned"), so the old one is deleted first.
    assert change["commands"] == [
        "addr add 192.168.1.1/23 brd + dev cni0",
        "addr del 192.168.1.1/24 dev cni0",
        "addr del fd00:1::1/64 dev cni0",
        "addr add fd00:1::1/56 dev cni0",
    ]
    assert change["added"] == ["192.168.1.1/23", "fd00:1::1/56"]
    assert change["removed"] == ["192.168.1.1/24", "fd00:1::1/64"]
    assert change["after"]["addresses"] == ["192.168.1.1/23", "fd00:1::1/56"]


def test_plan_new_ipv4_in_same_subnet_follows_the_deletion():
    # Added first, 192.168.1.254/24 would be a secondary of 192.168.1.1/24
    # and go away with it.
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"),
                         addresses=ifaces("192.168.1.254/24", "fd00:1::1/64"), exclusive=True)
    assert change["commands"] == [
        "addr del 192.168.1.1/24 dev cni0",
        "addr add 192.168.1.254/24 brd + dev cni0",
    ]


def test_plan_restores_kept_secondary_of_a_deleted_primary():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_secondary"),
                         addresses=ifaces("192.168.1.2/24"), exclusive=True)
    assert change["commands"] == [
        "addr del 192.168.1.1/24 dev cni0",
        "addr del 192.168.1.1/16 dev cni0",
        "addr del fd00:2::1/64 dev cni0",
        "addr del fd00:1::1/64 dev cni0",
        "addr replace 192.168.1.2/24 brd + dev cni0",
    ]
    assert change["added"] == []
    assert change["after"]["addresses"] == ["192.168.1.2/24"]


def test_plan_deletes_secondaries_before_their_primary():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_secondary"),
                         addresses=ifaces("192.168.1.1/16", "fd00:1::1/64", "fd00:2::1/64"), exclusive=True)
    assert change["commands"] == [
        "addr del 192.168.1.2/24 dev cni0",
        "addr del 192.168.1.1/24 dev cni0",
    ]
    assert change["removed"] == ["192.168.1.2/24", "192.168.1.1/24"]


def test_plan_mtu_change_and_bring_up():
    change = bridge.plan("br-down", link_of("bridge_down"), addrs_of("bridge_down"), mtu=1450,
                         addresses=ifaces("192.168.9.1/24"))
    assert change["commands"] == ["link set dev br-down mtu 1450", "link set dev br-down up"]
    assert change["before"]["mtu"] == 9000
    assert change["after"] == {"name": "br-down", "exists": True, "mtu": 1450, "up": True,
                               "addresses": ["192.168.9.1/24"]}


def test_plan_without_mtu_leaves_mtu_alone():
    change = bridge.plan("br-down", link_of("bridge_down"), addrs_of("bridge_down"), up=False)
    assert change["commands"] == []
    assert change["after"]["mtu"] == 9000


def test_plan_bring_down_accounts_for_the_ipv6_flush():
    # unlisted IPv6 addresses are flushed by the kernel: reported as removed
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"), up=False)
    assert change["commands"] == ["link set dev cni0 down"]
    assert change["removed"] == ["fd00:1::1/64"]
    assert change["added"] == []
    assert change["after"] == {"name": "cni0", "exists": True, "mtu": 1500, "up": False,
                               "addresses": ["192.168.1.1/24"]}


def test_plan_bring_down_re_adds_listed_ipv6_after_the_down():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"), up=False,
                         addresses=ifaces("192.168.1.1/24", "fd00:1::1/64", "fd00:5::1/64"))
    assert change["commands"] == [
        "link set dev cni0 down",
        "addr add fd00:1::1/64 dev cni0",
        "addr add fd00:5::1/64 dev cni0",
    ]
    assert change["added"] == ["fd00:5::1/64"]      # net difference only
    assert change["removed"] == []
    assert change["after"]["addresses"] == ["192.168.1.1/24", "fd00:1::1/64", "fd00:5::1/64"]


def test_plan_bring_down_with_keep_addr_on_down():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"), up=False,
                         addresses=ifaces("fd00:1::1/56"), keep_v6_on_down=True)
    assert change["commands"] == [
        "link set dev cni0 down",
        "addr del fd00:1::1/64 dev cni0",
        "addr add fd00:1::1/56 dev cni0",
    ]
    assert change["removed"] == ["fd00:1::1/64"]
    assert change["after"]["addresses"] == ["192.168.1.1/24", "fd00:1::1/56"]


def test_plan_exclusive_while_going_down_does_not_delete_flushed_ipv6():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"), up=False,
                         addresses=ifaces("192.168.1.1/24"), exclusive=True)
    assert change["commands"] == ["link set dev cni0 down"]
    assert change["removed"] == ["fd00:1::1/64"]


def test_plan_mtu_below_1280_refused_while_ipv6_stays():
    with pytest.raises(PlanError) as err:
        bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"), mtu=1200)
    assert "mtu 1200 is below IPv6's minimum of 1280: the kernel would drop fd00:1::1/64 from cni0" in str(err.value)


def test_plan_mtu_below_1280_set_after_ipv6_is_deleted():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"), mtu=1200,
                         addresses=ifaces("192.168.1.1/24"), exclusive=True)
    assert change["commands"] == ["addr del fd00:1::1/64 dev cni0", "link set dev cni0 mtu 1200"]


def test_plan_raising_mtu_comes_before_ipv6_addresses():
    link = dict(link_of("bridge_down"), mtu=1200)
    change = bridge.plan("br-down", link, addrs_of("bridge_down"), mtu=1500, up=False,
                         addresses=ifaces("fd00:9::1/64"))
    assert change["commands"] == ["link set dev br-down mtu 1500", "addr add fd00:9::1/64 dev br-down"]


def test_plan_ipv6_on_small_mtu_bridge_refused():
    link = dict(link_of("bridge_down"), mtu=1200)
    with pytest.raises(PlanError) as err:
        bridge.plan("br-down", link, addrs_of("bridge_down"), addresses=ifaces("fd00:9::1/64"))
    assert "br-down has mtu 1200, below IPv6's minimum of 1280, so the kernel cannot hold fd00:9::1/64" in str(err.value)


# --------------------------------------------------------------------------
# plans: absent, non-bridges, altnames


def test_plan_absent_deletes_bridge_and_reports_its_addresses():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"), state="absent",
                         addresses=ifaces("192.168.1.1/24"))
    assert change["commands"] == ["link del dev cni0"]
    assert change["removed"] == ["192.168.1.1/24", "fd00:1::1/64"]
    assert change["after"] == {"name": "cni0", "exists": False, "mtu": None, "up": False, "addresses": []}


def test_plan_absent_when_missing_is_noop():
    change = bridge.plan("cni0", None, [], state="absent")
    assert change["commands"] == []
    assert change["before"] == change["after"]


# --------------------------------------------------------------------------
# repair-only mode (the reconcile command): create, add, set; never delete


def test_repair_only_creates_a_missing_bridge_like_the_module():
    wanted = dict(mtu=1500, addresses=ifaces("192.168.1.1/24", "fd00:1::1/64"))
    repair = bridge.plan("cni0", None, [], repair_only=True, **wanted)
    assert repair == bridge.plan("cni0", None, [], **wanted)
    assert repair["conflicts"] == []


def test_repair_only_converged_is_a_noop():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"), repair_only=True,
                         addresses=ifaces("192.168.1.1/24", "fd00:1::1/64"))
    assert change["commands"] == [] and change["conflicts"] == []


def test_repair_only_adds_and_never_deletes_or_takes_down():
    # state, up and exclusive are ignored: nothing is deleted, the link stays up
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"), repair_only=True,
                         state="absent", up=False, exclusive=True, mtu=1450,
                         addresses=ifaces("192.168.1.1/24", "192.168.5.1/24"))
    assert change["commands"] == [
        "link set dev cni0 mtu 1450",
        "addr add 192.168.5.1/24 brd + dev cni0",
    ]
    assert change["added"] == ["192.168.5.1/24"] and change["removed"] == []
    assert change["after"]["addresses"] == ["192.168.1.1/24", "192.168.5.1/24", "fd00:1::1/64"]


def test_repair_only_brings_a_down_bridge_up():
    change = bridge.plan("br-down", link_of("bridge_down"), addrs_of("bridge_down"), repair_only=True,
                         addresses=ifaces("192.168.9.1/24"))
    assert change["commands"] == ["link set dev br-down up"]


def test_repair_only_reports_the_same_ip_with_another_prefix_and_leaves_it():
    change = bridge.plan("cni0", link_of("bridge_up"), addrs_of("bridge_dual"), repair_only=True,
                         addresses=ifaces("192.168.1.1/16", "fd00:1::1/56"))
    assert change["commands"] == []
    assert change["conflicts"] == [
        "cni0 holds 192.168.1.1/24, not 192.168.1.1/16; left alone (repair only)",
        "cni0 holds fd00:1::1/64, not fd00:1::1/56; left alone (repair only)",
    ]
    assert change["after"] == change["before"]


def test_repair_only_still_refuses_a_non_bridge():
    with pytest.raises(PlanError, match="refusing to convert it"):
        bridge.plan("cni0", dict(link_of("veth"), ifname="cni0"), [], repair_only=True)


@pytest.mark.parametrize("state, verb", [("present", "convert"), ("absent", "delete")])
def test_plan_refuses_non_bridge(state, verb):
    veth = dict(link_of("veth"), ifname="cni0")
    with pytest.raises(PlanError) as err:
        bridge.plan("cni0", veth, [], state=state)
    assert str(err.value).startswith("cni0 exists but is a veth link, not a bridge; refusing to %s it" % verb)


def test_plan_refuses_device_without_kind():
    with pytest.raises(PlanError, match="lo exists but is a device without a link kind"):
        bridge.plan("lo", link_of("lo"), [], state="absent")


@pytest.mark.parametrize("state", ["present", "absent"])
def test_plan_refuses_altname_of_another_link(state):
    with pytest.raises(PlanError) as err:
        bridge.plan("cni1", link_of("altname"), [], state=state)
    assert str(err.value) == "cni1 is an alternative name of veth0 (a veth link); refusing to manage or delete it"


def test_plan_has_no_line_breaks_and_uses_name_keyword():
    change = bridge.plan("mtu", None, [], mtu=9000, addresses=ifaces("192.168.0.1/24"))
    assert change["commands"][0] == "link add name mtu mtu 9001 type bridge"
    assert all("\n" not in line for line in change["commands"])


# --------------------------------------------------------------------------
# verification and errors


def test_mismatches():
    planned = {"name": "cni0", "exists": True, "mtu": 1500, "up": True, "addresses": ["192.168.1.1/24"]}
    assert bridge.mismatches(planned, dict(planned)) == []
    assert bridge.mismatches(planned, dict(planned, addresses=[], mtu=1400)) == [
        "mtu: expected 1500, the kernel reports 1400",
        "addresses: expected ['192.168.1.1/24'], the kernel reports []",
    ]


def batch_result(stderr, rc=1):
    errors, unattributed = parse_batch_errors(stderr)
    return BatchResult(rc, "", stderr, errors, unattributed)


def test_batch_errors_from_real_link_and_addr_output():
    assert parse_batch_errors(BATCH_STDERR) == ({
        1: "ipv4: Address already assigned.",
        2: "ipv4: Address not found.",
        3: 'Cannot find device "nope"',
        4: "mtu greater than device maximum.",
    }, [])
    assert parse_batch_errors("") == ({}, [])


def test_describe_batch_failure_names_commands_and_hints():
    commands = ["addr add 192.168.1.1/16 dev cni0", "addr del 10.9.9.9/8 dev cni0",
                "link set dev nope up", "link set dev cni0 mtu 70000", "addr add 192.168.7.1/24 dev cni0"]
    msg, failures = bridge_host.describe_batch_failure(commands, batch_result(BATCH_STDERR))
    assert [f["line"] for f in failures] == [1, 2, 3, 4]
    assert failures[0]["command"] == "addr add 192.168.1.1/16 dev cni0"
    assert failures[0]["hint"] == "the address appeared while the batch ran (changed concurrently?)"
    assert failures[1]["hint"] == "the address was already gone (changed concurrently?)"
    assert failures[2]["hint"] == "the link disappeared while the batch ran (changed concurrently?)"
    assert failures[3]["hint"] is None
    assert msg.startswith("ip -batch failed: 'addr add 192.168.1.1/16 dev cni0' failed: "
                          "ipv4: Address already assigned. (the address appeared")
    assert "'link set dev cni0 mtu 70000' failed: mtu greater than device maximum." in msg
    assert "192.168.7.1" not in msg


def test_describe_batch_failure_without_markers():
    msg, failures = bridge_host.describe_batch_failure(["link add name cni0 type bridge"], batch_result("boom\n"))
    assert msg == "ip -batch failed: boom"
    assert failures == []


@pytest.mark.parametrize("command, error, hint", [
    ("addr add fd00:1::1/64 dev cni0", "RTNETLINK answers: Permission denied", "net.ipv6.conf.cni0.disable_ipv6"),
    ("addr add fd00:1::1/64 dev cni0", "Error: ipv6: IPv6 is disabled on this device.",
     "net.ipv6.conf.default.disable_ipv6"),
    ("addr add fd00:1::1/64 dev cni0", "RTNETLINK answers: Invalid argument", "MTU below 1280"),
    ("link add name cni0 type bridge", "Error: Unknown device type.", "modprobe bridge"),
    ("link add name cni0 type bridge", "RTNETLINK answers: Operation not permitted", "become: true"),
    ("addr add fd00:1::1/56 dev cni0", "Error: ipv6: address already assigned.", "appeared"),
])
def test_explain(command, error, hint):
    assert hint in bridge_host.explain(command, error)


def test_fixture_files_are_real_ip_output():
    # a guard against hand-edited fixtures: every file is what ip -json prints
    names = sorted(n for n in os.listdir(FIXTURES) if n.startswith(("ip_link_", "ip_addr_")))
    assert set(names) >= {
        "ip_link_bridge_up.json", "ip_link_bridge_down.json", "ip_link_bridge_port.json",
        "ip_link_veth.json", "ip_link_altname.json", "ip_link_lo.json",
        "ip_addr_bridge_dual.json", "ip_addr_bridge_secondary.json", "ip_addr_bridge_down.json",
        "ip_addr_bridge_empty.json", "ip_addr_veth.json"}
    for name in names:
        data = fixture(name)
        assert isinstance(data, list) and len(data) == 1
        assert "ifname" in data[0] and "flags" in data[0]
        if name.startswith("ip_addr_"):
            assert "addr_info" in data[0]
        else:
            assert "promiscuity" in data[0]   # -details output

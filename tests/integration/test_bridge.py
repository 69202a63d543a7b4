# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""podnet.hostgw.bridge against the real kernel, inside throwaway namespaces.

Every test runs in a fresh ``hgwt-*`` namespace from the ``netns`` fixture;
nothing touches the root namespace.
"""

import json
import os
import time

import pytest

pytestmark = pytest.mark.integration

HOST1 = ["192.168.0.1/24"]


# --------------------------------------------------------------------------
# helpers


def run(netns, check_mode=False, diff=False, **params):
    params.setdefault("name", "cni0")
    result = netns.module("bridge", params, check_mode=check_mode, diff=diff)
    result.pop("invocation", None)
    return result


def ok(netns, **params):
    result = run(netns, **params)
    assert not result.get("failed"), result
    return result


def link(netns, name="cni0"):
    """``ip -json -details link show dev NAME`` entry, or None."""
    proc = netns.ip("-json", "-details", "link", "show", "dev", name, check=False)
    if proc.returncode != 0:
        assert "does not exist" in proc.stderr
        return None
    return json.loads(proc.stdout)[0]


def addrs(netns, name="cni0", link_local=True):
    """Addresses of NAME as 'ip/prefix' in kernel order."""
    out = []
    for entry in netns.json("addr", "show", "dev", name):
        for info in entry.get("addr_info", []):
            if not link_local and info["local"].startswith("fe80:"):
                continue
            out.append("%s/%s" % (info["local"], info["prefixlen"]))
    return out


def link_locals(netns, name="cni0"):
    return [a for a in addrs(netns, name) if a.startswith("fe80:")]


def wait_for_link_local(netns, name="cni0"):
    for _attempt in range(50):
        found = link_locals(netns, name)
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("no IPv6 link-local address appeared on %s" % name)


def snapshot(netns):
    """Everything the module could change in the namespace, normalised
    (no counters, no DAD flags)."""
    links = set()
    for entry in netns.json("-details", "link", "show"):
        kind = (entry.get("linkinfo") or {}).get("info_kind")
        links.add((entry["ifindex"], entry["ifname"], kind, entry["mtu"],
                   "UP" in entry["flags"], entry.get("master")))
    addresses = set()
    for entry in netns.json("addr", "show"):
        for info in entry.get("addr_info", []):
            addresses.add((entry["ifname"], info["local"], info["prefixlen"], info.get("broadcast")))
    return links, addresses


def add_port(netns, port, mtu, bridge="cni0"):
    netns.ip("link", "add", port, "mtu", str(mtu), "type", "veth", "peer", "name", port + "p", "mtu", str(mtu))
    netns.ip("link", "set", "dev", port, "master", bridge)
    netns.ip("link", "set", "dev", port, "up")
    netns.ip("link", "set", "dev", port + "p", "up")


def assert_noop(result):
    assert result["changed"] is False, result
    assert result["commands"] == []
    assert result["added_addresses"] == []
    assert result["removed_addresses"] == []


# --------------------------------------------------------------------------
# create, re-run, change


def test_create_host1_bridge(netns):
    result = ok(netns, addresses=HOST1)
    assert result["changed"] is True
    assert result["commands"] == [
        "link add name cni0 type bridge",
        "addr add 192.168.0.1/24 brd + dev cni0",
        "link set dev cni0 up",
    ]
    assert result["added_addresses"] == HOST1
    assert result["bridge"] == {"name": "cni0", "exists": True, "mtu": 1500, "up": True, "addresses": HOST1}
    entry = link(netns)
    assert entry["linkinfo"]["info_kind"] == "bridge"
    assert "UP" in entry["flags"]
    assert entry["mtu"] == 1500
    info = [i for i in netns.json("addr", "show", "dev", "cni0")[0]["addr_info"] if i["family"] == "inet"]
    assert [(i["local"], i["prefixlen"], i["broadcast"]) for i in info] == [("192.168.0.1", 24, "192.168.0.255")]


def test_rerun_makes_no_change(netns):
    ok(netns, addresses=HOST1, mtu=1450)
    before = snapshot(netns)
    again = ok(netns, addresses=HOST1, mtu=1450)
    assert_noop(again)
    assert again["bridge"] == {"name": "cni0", "exists": True, "mtu": 1450, "up": True, "addresses": HOST1}
    assert snapshot(netns) == before


def test_mtu_change(netns):
    ok(netns, addresses=HOST1, mtu=1450)
    result = ok(netns, addresses=HOST1, mtu=9000)
    assert result["changed"] is True
    assert result["commands"] == ["link set dev cni0 mtu 9000"]
    assert link(netns)["mtu"] == 9000
    assert result["bridge"]["mtu"] == 9000
    assert_noop(ok(netns, addresses=HOST1, mtu=9000))


def test_without_mtu_the_mtu_is_left_alone(netns):
    netns.ip("link", "add", "name", "cni0", "mtu", "1400", "type", "bridge")
    result = ok(netns, addresses=HOST1)
    assert result["commands"] == ["addr add 192.168.0.1/24 brd + dev cni0", "link set dev cni0 up"]
    assert link(netns)["mtu"] == 1400
    assert result["bridge"]["mtu"] == 1400


def test_add_address(netns):
    ok(netns, addresses=HOST1)
    result = ok(netns, addresses=HOST1 + ["192.168.100.1/24"])
    assert result["changed"] is True
    assert result["commands"] == ["addr add 192.168.100.1/24 brd + dev cni0"]
    assert result["added_addresses"] == ["192.168.100.1/24"]
    assert result["removed_addresses"] == []
    assert addrs(netns, link_local=False) == ["192.168.0.1/24", "192.168.100.1/24"]


def test_dual_stack(netns):
    wanted = ["192.168.0.1/24", "fd00:10:244:0::1/64"]
    result = ok(netns, addresses=wanted)
    assert result["changed"] is True
    assert result["added_addresses"] == ["192.168.0.1/24", "fd00:10:244::1/64"]
    families = set(i["family"] for i in netns.json("addr", "show", "dev", "cni0")[0]["addr_info"])
    assert families == {"inet", "inet6"}
    assert addrs(netns, link_local=False) == ["192.168.0.1/24", "fd00:10:244::1/64"]
    assert result["bridge"]["addresses"] == ["192.168.0.1/24", "fd00:10:244::1/64"]
    assert_noop(ok(netns, addresses=wanted))


def test_up_false_and_back(netns):
    ok(netns, addresses=HOST1)
    down = ok(netns, addresses=HOST1, up=False)
    assert down["commands"] == ["link set dev cni0 down"]
    assert "UP" not in link(netns)["flags"]
    assert down["bridge"]["up"] is False
    assert_noop(ok(netns, addresses=HOST1, up=False))
    up = ok(netns, addresses=HOST1)
    assert up["commands"] == ["link set dev cni0 up"]
    assert "UP" in link(netns)["flags"]


@pytest.mark.parametrize("keep", ["0", "1"])
def test_going_down_keeps_listed_ipv6_whatever_keep_addr_on_down(netns, keep):
    ok(netns, addresses=["192.168.1.1/24", "fd00:1::1/64"])
    netns.ip("addr", "add", "fd00:9::1/64", "dev", "cni0")     # unlisted extra
    netns.run(["sysctl", "-q", "-w", "net.ipv6.conf.cni0.keep_addr_on_down=%s" % keep])
    params = dict(addresses=["192.168.1.1/24", "fd00:1::1/64"], up=False)
    predicted = run(netns, check_mode=True, **params)
    result = ok(netns, **params)
    assert predicted == result
    assert "UP" not in link(netns)["flags"]
    if keep == "1":
        assert result["commands"] == ["link set dev cni0 down"]
        assert result["removed_addresses"] == []
        assert sorted(addrs(netns, link_local=False)) == ["192.168.1.1/24", "fd00:1::1/64", "fd00:9::1/64"]
    else:
        # the kernel flushed IPv6 on the down; the listed address is back
        assert result["commands"] == ["link set dev cni0 down", "addr add fd00:1::1/64 dev cni0"]
        assert result["removed_addresses"] == ["fd00:9::1/64"]
        assert addrs(netns, link_local=False) == ["192.168.1.1/24", "fd00:1::1/64"]
    assert_noop(ok(netns, **params))
    back_up = ok(netns, addresses=["192.168.1.1/24", "fd00:1::1/64"])
    assert back_up["commands"] == ["link set dev cni0 up"]


# --------------------------------------------------------------------------
# exclusive and prefixes


def test_exclusive_readdressing_removes_old_gateway_and_spares_link_local(netns):
    ok(netns, addresses=["192.168.1.1/24", "fd00:1::1/64"])
    before_ll = wait_for_link_local(netns)
    result = ok(netns, addresses=["192.168.2.1/24", "fd00:2::1/64"], exclusive=True)
    assert result["changed"] is True
    # new before old, in one batch
    assert result["commands"] == [
        "addr add 192.168.2.1/24 brd + dev cni0",
        "addr add fd00:2::1/64 dev cni0",
        "addr del 192.168.1.1/24 dev cni0",
        "addr del fd00:1::1/64 dev cni0",
    ]
    assert result["added_addresses"] == ["192.168.2.1/24", "fd00:2::1/64"]
    assert result["removed_addresses"] == ["192.168.1.1/24", "fd00:1::1/64"]
    assert addrs(netns, link_local=False) == ["192.168.2.1/24", "fd00:2::1/64"]
    assert link_locals(netns) == before_ll
    assert result["bridge"]["addresses"] == ["192.168.2.1/24", "fd00:2::1/64"]
    assert_noop(ok(netns, addresses=["192.168.2.1/24", "fd00:2::1/64"], exclusive=True))


def test_exclusive_removes_addresses_of_any_scope(netns):
    ok(netns, addresses=HOST1)
    netns.ip("addr", "add", "169.254.7.7/16", "scope", "link", "dev", "cni0")
    netns.ip("addr", "add", "192.168.77.1/24", "scope", "host", "dev", "cni0")
    netns.ip("addr", "add", "fd00:77::1/64", "scope", "site", "dev", "cni0")
    result = ok(netns, addresses=HOST1, exclusive=True)
    assert sorted(result["removed_addresses"]) == ["169.254.7.7/16", "192.168.77.1/24", "fd00:77::1/64"]
    assert addrs(netns, link_local=False) == HOST1


def test_exclusive_with_empty_list_keeps_only_link_local(netns):
    ok(netns, addresses=["192.168.1.1/24", "fd00:1::1/64"])
    wait_for_link_local(netns)
    result = ok(netns, exclusive=True)
    assert result["removed_addresses"] == ["192.168.1.1/24", "fd00:1::1/64"]
    assert addrs(netns, link_local=False) == []
    assert len(link_locals(netns)) == 1


def test_non_exclusive_keeps_extra_addresses(netns):
    ok(netns, addresses=HOST1)
    netns.ip("addr", "add", "192.168.3.1/24", "dev", "cni0")
    netns.ip("addr", "add", "fd00:3::1/64", "dev", "cni0")
    result = ok(netns, addresses=HOST1)
    assert_noop(result)
    assert addrs(netns, link_local=False) == ["192.168.0.1/24", "192.168.3.1/24", "fd00:3::1/64"]
    assert result["bridge"]["addresses"] == ["192.168.0.1/24", "192.168.3.1/24", "fd00:3::1/64"]


def test_prefix_change_replaces_same_ip_even_without_exclusive(netns):
    ok(netns, addresses=["192.168.1.1/24", "fd00:1::1/64"])
    netns.ip("addr", "add", "192.168.50.1/24", "dev", "cni0")   # unrelated, must stay
    result = ok(netns, addresses=["192.168.1.1/23", "fd00:1::1/56"])
    assert result["commands"] == [
        "addr add 192.168.1.1/23 brd + dev cni0",
        "addr del 192.168.1.1/24 dev cni0",
        "addr del fd00:1::1/64 dev cni0",
        "addr add fd00:1::1/56 dev cni0",
    ]
    assert sorted(addrs(netns, link_local=False)) == ["192.168.1.1/23", "192.168.50.1/24", "fd00:1::1/56"]
    local = netns.json("route", "show", "table", "local", "192.168.1.1")
    assert [r["type"] for r in local] == ["local"]   # the IP stayed local throughout
    assert_noop(ok(netns, addresses=["192.168.1.1/23", "fd00:1::1/56"]))


@pytest.mark.parametrize("promote", ["0", "1"])
def test_gateway_change_within_the_same_subnet(netns, promote):
    ok(netns, addresses=["192.168.1.1/24"])
    netns.run(["sysctl", "-q", "-w", "net.ipv4.conf.cni0.promote_secondaries=%s" % promote])
    result = ok(netns, addresses=["192.168.1.254/24"], exclusive=True)
    # added after the deletion, or it would go away with the old primary
    assert result["commands"] == ["addr del 192.168.1.1/24 dev cni0", "addr add 192.168.1.254/24 brd + dev cni0"]
    assert addrs(netns, link_local=False) == ["192.168.1.254/24"]


@pytest.mark.parametrize("promote", ["0", "1"])
def test_kept_secondary_survives_removal_of_its_primary(netns, promote):
    ok(netns, addresses=["192.168.1.1/24", "192.168.1.2/24"])
    secondary = [i for i in netns.json("addr", "show", "dev", "cni0")[0]["addr_info"]
                 if i["local"] == "192.168.1.2"]
    assert secondary[0].get("secondary") is True
    netns.run(["sysctl", "-q", "-w", "net.ipv4.conf.cni0.promote_secondaries=%s" % promote])
    result = ok(netns, addresses=["192.168.1.2/24"], exclusive=True)
    assert result["commands"] == ["addr del 192.168.1.1/24 dev cni0", "addr replace 192.168.1.2/24 brd + dev cni0"]
    assert result["removed_addresses"] == ["192.168.1.1/24"]
    assert addrs(netns, link_local=False) == ["192.168.1.2/24"]
    assert_noop(ok(netns, addresses=["192.168.1.2/24"], exclusive=True))


# --------------------------------------------------------------------------
# absent, non-bridges


def test_absent_removes_bridge_and_second_absent_is_noop(netns):
    ok(netns, addresses=HOST1)
    add_port(netns, "vp0", 1500)
    result = ok(netns, state="absent")
    assert result["changed"] is True
    assert result["commands"] == ["link del dev cni0"]
    assert result["removed_addresses"] == HOST1
    assert result["bridge"] == {"name": "cni0", "exists": False, "mtu": None, "up": False, "addresses": []}
    assert link(netns) is None
    port = link(netns, "vp0")
    assert port is not None and "master" not in port   # ports are detached, not deleted
    assert_noop(ok(netns, state="absent"))


@pytest.mark.parametrize("state", ["present", "absent"])
def test_refuses_to_touch_a_non_bridge_of_the_same_name(netns, state):
    # this kernel has no dummy driver; a veth is the non-bridge at hand
    netns.ip("link", "add", "cni0", "type", "veth", "peer", "name", "cni0p")
    netns.ip("addr", "add", "192.168.9.9/24", "dev", "cni0")
    before = snapshot(netns)
    ifindex = link(netns)["ifindex"]
    result = run(netns, state=state, addresses=HOST1, exclusive=True, mtu=9000)
    assert result["failed"] is True
    verb = "convert" if state == "present" else "delete"
    assert "cni0 exists but is a veth link, not a bridge; refusing to %s it" % verb in result["msg"]
    assert result["changed"] is False
    assert result["commands"] == []
    entry = link(netns)
    assert entry["ifindex"] == ifindex and entry["linkinfo"]["info_kind"] == "veth"
    assert addrs(netns, link_local=False) == ["192.168.9.9/24"]
    assert snapshot(netns) == before


def test_refuses_an_altname_of_another_link(netns):
    netns.ip("link", "add", "vx0", "type", "veth", "peer", "name", "vx1")
    netns.ip("link", "property", "add", "dev", "vx0", "altname", "cni0")
    before = snapshot(netns)
    for state in ("present", "absent"):
        result = run(netns, state=state, addresses=HOST1)
        assert result["failed"] is True
        assert result["msg"] == "cni0 is an alternative name of vx0 (a veth link); refusing to manage or delete it"
    assert snapshot(netns) == before


# --------------------------------------------------------------------------
# check mode


def _nothing(netns):
    pass


def _dual(netns):
    ok(netns, addresses=["192.168.1.1/24", "fd00:1::1/64"])
    wait_for_link_local(netns)


def _secondaries(netns):
    ok(netns, addresses=["192.168.1.1/24", "192.168.1.2/24", "fd00:1::1/64"], mtu=1500)


CHECK_SCENARIOS = {
    "create-dual-stack-pinned-mtu": (_nothing, dict(addresses=["192.168.0.1/24", "fd00:0::1/64"], mtu=1500)),
    "create-down": (_nothing, dict(addresses=HOST1, up=False)),
    "exclusive-readdress": (_dual, dict(addresses=["192.168.2.1/24", "fd00:2::1/64"], exclusive=True)),
    "prefix-change": (_dual, dict(addresses=["192.168.1.1/23", "fd00:1::1/56"])),
    "same-subnet-and-secondary": (_secondaries, dict(addresses=["192.168.1.2/24", "192.168.1.3/24"],
                                                     exclusive=True, mtu=1400)),
    "mtu-and-down": (_dual, dict(addresses=["192.168.1.1/24"], mtu=9000, up=False)),
    "absent": (_dual, dict(state="absent")),
    "no-op": (_dual, dict(addresses=["192.168.1.1/24"])),
}


@pytest.mark.parametrize("scenario", sorted(CHECK_SCENARIOS))
def test_check_mode_changes_nothing_and_predicts_the_real_run(netns, scenario):
    setup, params = CHECK_SCENARIOS[scenario]
    setup(netns)
    before = snapshot(netns)
    predicted = run(netns, check_mode=True, diff=True, **params)
    assert not predicted.get("failed"), predicted
    assert snapshot(netns) == before, "check mode changed the kernel state"
    real = run(netns, diff=True, **params)
    assert not real.get("failed"), real
    assert predicted == real
    assert predicted["changed"] is (scenario != "no-op")
    if predicted["changed"]:
        assert snapshot(netns) != before
    assert predicted["diff"]["after"] == real["diff"]["after"]


# --------------------------------------------------------------------------
# MTU with ports


@pytest.mark.parametrize("mtu, expected", [(None, 1400), (1500, 1500), (9000, 9000)])
def test_idempotent_after_a_port_is_attached(netns, mtu, expected):
    params = dict(addresses=HOST1)
    if mtu is not None:
        params["mtu"] = mtu
    ok(netns, **params)
    add_port(netns, "vp0", 1400)
    # without mtu the kernel follows the port; with mtu it keeps the bridge's
    assert link(netns)["mtu"] == expected
    result = ok(netns, **params)
    assert_noop(result)
    assert result["bridge"]["mtu"] == expected
    # a bridge with an inactive port is admin-up but operstate DOWN / NO-CARRIER
    netns.ip("link", "set", "dev", "vp0p", "down")
    assert_noop(ok(netns, **params))


def test_unpinned_bridge_mtu_is_set_back_once_then_kept(netns):
    # created elsewhere (as the CNI plugin would): mtu 1500 never "set by user"
    netns.ip("link", "add", "name", "cni0", "type", "bridge")
    assert_noop(run(netns, addresses=[], mtu=1500, up=False))
    add_port(netns, "vp0", 1400)
    assert link(netns)["mtu"] == 1400            # the kernel followed the port
    fix = ok(netns, mtu=1500, up=False)
    assert fix["commands"] == ["link set dev cni0 mtu 1500"]
    add_port(netns, "vp1", 1300)
    assert link(netns)["mtu"] == 1500            # now pinned
    assert_noop(ok(netns, mtu=1500, up=False))


# --------------------------------------------------------------------------
# errors


BAD_INPUTS = [
    (dict(name="cni0/x"), ["'cni0/x'", "must not contain '/'"]),
    (dict(name="cni0-way-too-long"), ["'cni0-way-too-long'", "at most 15"]),
    (dict(name="cni 0"), ["'cni 0'", "whitespace"]),
    (dict(name=".."), ["'..'", "reserved"]),
    (dict(name="cni0:1"), ["'cni0:1'", "':'"]),
    (dict(name="cni#0"), ["'cni#0'", "'#'"]),
    (dict(mtu=67), ["mtu 67 is out of range", "68..65535"]),
    (dict(mtu=65536), ["mtu 65536 is out of range"]),
    (dict(addresses=["192.168.0.1"]), ["'192.168.0.1' has no prefix length"]),
    (dict(addresses=["192.168.0.0/24"]), ["'192.168.0.0/24' is the network address of 192.168.0.0/24"]),
    (dict(addresses=["192.168.0.255/24"]), ["'192.168.0.255/24' is the broadcast address"]),
    (dict(addresses=["192.168.0.1/24", "192.168.0.1/24"]), ["'192.168.0.1/24' is listed twice"]),
    (dict(addresses=["192.168.0.1/24", "192.168.0.1/16"]), ["names the same IP 192.168.0.1"]),
    (dict(addresses=["fe80::1/64"]), ["'fe80::1/64' is IPv6 link-local"]),
    (dict(addresses=["192.168.0.1/33"]), ["'192.168.0.1/33' is not a valid"]),
    (dict(addresses=["fd00::1/64"], mtu=1200), ["mtu 1200 is below IPv6's minimum"]),
    (dict(addresses=["$(touch /tmp/hgwt-pwned)/24"]), ["'$(touch /tmp/hgwt-pwned)/24' is not a valid"]),
]


@pytest.mark.parametrize("params, fragments", BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_inputs_give_a_clear_error_and_change_nothing(netns, params, fragments):
    ok(netns, addresses=["192.168.1.1/24"])
    before = snapshot(netns)
    result = run(netns, **dict(params, exclusive=True))
    assert result["failed"] is True
    assert result["msg"].startswith("invalid parameters, nothing was changed (")
    for fragment in fragments:
        assert fragment in result["msg"]
    assert result["changed"] is False
    assert snapshot(netns) == before
    assert not os.path.exists("/tmp/hgwt-pwned")


def test_bad_inputs_report_every_problem_at_once(netns):
    result = run(netns, name="bad name", mtu=0, addresses=["x", "192.168.0.0/24"])
    assert result["failed"] is True
    assert len(result["errors"]) == 4
    assert link(netns, "bad") is None


def test_low_mtu_refused_while_ipv6_would_be_dropped(netns):
    ok(netns, addresses=["192.168.1.1/24", "fd00:1::1/64"])
    before = snapshot(netns)
    result = run(netns, addresses=["192.168.1.1/24"], mtu=1200)
    assert result["failed"] is True
    assert result["msg"] == ("mtu 1200 is below IPv6's minimum of 1280: the kernel would drop fd00:1::1/64 from "
                             "cni0; keep mtu at 1280 or more, or remove those addresses (exclusive: true)")
    assert snapshot(netns) == before
    # with exclusive the IPv6 address goes first, then the MTU
    done = ok(netns, addresses=["192.168.1.1/24"], mtu=1200, exclusive=True)
    assert done["commands"] == ["addr del fd00:1::1/64 dev cni0", "link set dev cni0 mtu 1200"]
    assert link(netns)["mtu"] == 1200
    assert addrs(netns) == ["192.168.1.1/24"]


def test_kernel_error_names_the_command_and_translates_it(netns):
    netns.run(["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"])
    result = run(netns, addresses=["192.168.1.1/24", "fd00:1::1/64"])
    assert result["failed"] is True
    assert result["msg"].startswith("ip -batch failed: 'addr add fd00:1::1/64 dev cni0' failed: ")
    assert "net.ipv6.conf.cni0.disable_ipv6" in result["msg"]
    assert [f["line"] for f in result["failed_commands"]] == [3]
    assert result["failed_commands"][0]["command"] == "addr add fd00:1::1/64 dev cni0"
    # the other lines ran (ip -force -batch); the result says so
    assert result["changed"] is True
    assert result["bridge"] == {"name": "cni0", "exists": True, "mtu": 1500, "up": True,
                                "addresses": ["192.168.1.1/24"]}
    assert addrs(netns) == ["192.168.1.1/24"]

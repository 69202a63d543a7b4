"""The modules' ``state_file`` option against the real kernel, in throwaway
namespaces (the ``netns`` fixture); the state file always lies in a
temporary directory (a bare namespace shares the machine's /etc).

Each of bridge, ip_route and netfilter keeps its own section of one file:
written with the change (changed, and a second diff entry), untouched in
check mode (diff shown), untouched on a second run (changed=false), removed
with state=absent (reset), the file deleted with its last section; a file
that is not the collection's is never overwritten.
"""

import json
import os

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import state

pytestmark = pytest.mark.integration

UNDERLAY = [
    ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"],
    ["ip", "link", "set", "eth0", "up"],
    ["ip", "link", "set", "eth0p", "up"],
    ["ip", "addr", "add", "10.168.0.1/24", "dev", "eth0"],
]
BRIDGE = {"name": "cni0", "addresses": ["192.168.0.1/24"], "mtu": 1500, "exclusive": True}
ROUTE1 = "192.168.1.0/24 via 10.168.0.2 dev eth0"
ROUTE2 = "192.168.2.0/24 via 10.168.0.3 dev eth0"
ROUTES = {"routes": [ROUTE1, ROUTE2], "purge": True, "protos_dir": ""}
NETFILTER = {"cluster_cidrs": ["192.168.0.0/16"], "backend": "nftables"}


@pytest.fixture
def host(netns, tmp_path):
    """The namespace with an underlay; ``host.path`` is its state file."""
    for argv in UNDERLAY:
        netns.run(argv)
    netns.path = str(tmp_path / "podnet" / "hostgw-state.json")
    return netns


def run(host, module, params, check_mode=False, diff=True, fails=False):
    params = dict(params, state_file=host.path)
    result = host.module(module, params, check_mode=check_mode, diff=diff)
    assert bool(result.get("failed")) is fails, result
    return result


def sections(host):
    loaded = state.read(host.path)
    assert loaded.problems == [], loaded
    return loaded.sections


def file_id(host):
    """What tells a rewrite: inode, mtime and content."""
    st = os.stat(host.path)
    with open(host.path) as fh:
        return st.st_ino, st.st_mtime_ns, fh.read()


def state_diff(result, name):
    entries = result["diff"]
    assert isinstance(entries, list) and len(entries) == 2, entries
    assert entries[1]["before_header"] == "%s (section %s)" % (result["state_file"]["path"], name)
    return entries[1]


def test_bridge_section_written_with_the_change_then_stable(host):
    predicted = run(host, "bridge", BRIDGE, check_mode=True)
    assert predicted["changed"] and not os.path.exists(host.path)
    entry = state_diff(predicted, "bridge")
    assert (entry["before"], entry["after"]) == (
        "", "addresses: 192.168.0.1/24\nmtu: 1500\nname: cni0\n")
    assert predicted["state_file"] == {"path": host.path, "changed": True}

    first = run(host, "bridge", BRIDGE)
    assert first["changed"] and first["diff"][1] == entry
    assert sections(host) == {"bridge": state.bridge_section("cni0", 1500, ["192.168.0.1/24"])}
    written = file_id(host)

    again = run(host, "bridge", BRIDGE)
    assert again["changed"] is False and again["state_file"]["changed"] is False
    assert not isinstance(again.get("diff"), list)       # no state entry when nothing changes
    assert file_id(host) == written


def test_a_section_change_alone_is_a_change(host):
    run(host, "bridge", BRIDGE)
    os.unlink(host.path)                     # the kernel is as wanted, the file is not
    result = run(host, "bridge", BRIDGE)
    assert result["changed"] and result["commands"] == []
    assert "bridge" in sections(host)


def test_check_mode_leaves_the_file_untouched_and_shows_the_diff(host):
    run(host, "bridge", BRIDGE)
    run(host, "ip_route", ROUTES)
    written = file_id(host)
    moved = dict(ROUTES, routes=[ROUTE1, "192.168.2.0/24 via 10.168.0.4 dev eth0"])
    predicted = run(host, "ip_route", moved, check_mode=True)
    assert predicted["changed"] and file_id(host) == written
    entry = state_diff(predicted, "routes")
    assert "routes: 192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0\n" in entry["before"]
    assert "routes: 192.168.2.0/24 via 10.168.0.4 dev eth0 table main metric 0\n" in entry["after"]
    assert run(host, "ip_route", moved)["state_file"]["changed"] is True
    assert file_id(host) != written


def test_routes_section_follows_purge_and_reset(host):
    run(host, "ip_route", ROUTES)
    assert sections(host)["routes"] == state.routes_section("hostgw", 252, False, ["main"], [
        ROUTE1 + " table main metric 0", ROUTE2 + " table main metric 0"])
    assert run(host, "ip_route", ROUTES)["changed"] is False
    # a peer left: purged from the kernel and from the section, in one run
    result = run(host, "ip_route", dict(ROUTES, routes=[ROUTE1]))
    assert result["changed"] and sections(host)["routes"]["routes"] == [ROUTE1 + " table main metric 0"]
    # reset: no routes, purge over main: the section goes, and with it the file
    result = run(host, "ip_route", {"routes": [], "purge": True, "tables": ["main"], "protos_dir": ""})
    assert result["changed"] and not os.path.exists(host.path)
    assert host.ip("-4", "route", "show", "proto", "252").stdout == ""


def test_netfilter_section_and_absent(host):
    result = run(host, "netfilter", NETFILTER)
    assert result["changed"]
    assert sections(host) == {"netfilter": state.netfilter_section(
        "podnet_hostgw", "nftables", "auto", ["192.168.0.0/16"], True, True)}
    assert run(host, "netfilter", NETFILTER)["changed"] is False
    run(host, "bridge", BRIDGE)
    result = run(host, "netfilter", {"state": "absent"})
    assert result["changed"] and list(sections(host)) == ["bridge"]
    assert run(host, "netfilter", {"state": "absent"})["changed"] is False
    result = run(host, "bridge", {"name": "cni0", "state": "absent"})
    assert result["changed"] and not os.path.exists(host.path)
    assert run(host, "bridge", {"name": "cni0", "state": "absent"})["changed"] is False


def test_three_modules_share_one_file(host):
    run(host, "bridge", BRIDGE)
    run(host, "ip_route", ROUTES)
    run(host, "netfilter", NETFILTER)
    assert sorted(sections(host)) == ["bridge", "netfilter", "routes"]
    text = file_id(host)[2]
    assert text.splitlines()[1] == '  "managed_by": "podnet.hostgw",'
    for module, params in (("bridge", BRIDGE), ("ip_route", ROUTES), ("netfilter", NETFILTER)):
        assert run(host, module, params)["changed"] is False
    assert file_id(host)[2] == text


def test_the_section_is_written_before_the_kernel_change(host):
    """A route the kernel then refuses is already recorded: the state file
    never lags behind a kernel change (the reconcile command retries it)."""
    bad = dict(ROUTES, routes=[ROUTE1, "192.168.9.0/24 via 10.99.0.9 dev eth0"])
    result = run(host, "ip_route", bad, fails=True)
    assert result["state_file"]["changed"] is True
    assert "192.168.9.0/24 via 10.99.0.9 dev eth0 table main metric 0" in sections(host)["routes"]["routes"]


def test_a_file_of_someone_else_is_never_overwritten(host):
    os.makedirs(os.path.dirname(host.path))
    with open(host.path, "w") as fh:
        fh.write('{"cni0": "mine"}\n')
    result = run(host, "bridge", BRIDGE, fails=True)
    assert "is not podnet.hostgw's state file" in result["msg"]
    assert "refusing to overwrite it" in result["msg"]
    with open(host.path) as fh:
        assert fh.read() == '{"cni0": "mine"}\n'
    assert host.ip("link", "show", "cni0", check=False).returncode != 0     # nothing changed


def test_a_damaged_file_of_ours_is_replaced_with_a_warning(host):
    run(host, "bridge", BRIDGE)
    run(host, "ip_route", ROUTES)
    with open(host.path) as fh:
        text = fh.read()
    with open(host.path, "w") as fh:
        fh.write(text[:len(text) // 2])
    result = run(host, "bridge", BRIDGE)
    assert result["changed"] and result["commands"] == []
    warnings = [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]
    assert any("is not valid JSON: truncated or damaged" in w and "is replaced" in w for w in warnings)
    assert list(sections(host)) == ["bridge"]
    assert run(host, "ip_route", ROUTES)["changed"] is True        # its section written again
    assert sorted(sections(host)) == ["bridge", "routes"]


def test_up_false_with_state_file_is_refused(host):
    result = run(host, "bridge", dict(BRIDGE, up=False), fails=True)
    assert "up is false, but the reconcile command" in result["msg"]
    assert not os.path.exists(host.path)
    assert host.ip("link", "show", "cni0", check=False).returncode != 0


def test_a_file_written_by_the_module_is_json_with_a_valid_checksum(host):
    run(host, "ip_route", ROUTES)
    with open(host.path) as fh:
        doc = json.load(fh)
    assert doc["format"] == state.FORMAT and doc["checksum"] == state.checksum(doc["sections"])

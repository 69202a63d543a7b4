# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module-level tests of podnet.hostgw.bridge with a fake ``ip``.

``AnsibleModule.run_command`` is replaced by a small fake kernel that answers
``ip -json -details addr show dev NAME`` from the captured link and address
fixtures and records what ``ip -force -batch -`` gets.
"""

import json
import os

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import bridge_host
from ansible_collections.podnet.hostgw.plugins.modules import bridge
from tests.unit.plugins.modules.conftest import run_module

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures")


def fixture_text(name):
    with open(os.path.join(FIXTURES, name)) as fh:
        return fh.read()


class FakeIp:
    """Links by name -> (link json text, addr json text); ``after`` is the
    state the kernel shows once a batch ran."""

    def __init__(self, links, after=None, batch_result=(0, "", "")):
        self.links = dict(links)
        self.after = after
        self.batch_result = batch_result
        self.calls = []
        self.batches = []

    def run_command(self, argv, data=None, binary_data=False, environ_update=None, **kwargs):
        assert isinstance(argv, list), "argv must be a list, never a shell string"
        assert environ_update and environ_update.get("LC_ALL") == "C"
        self.calls.append(list(argv))
        args = argv[1:]
        if args == ["-force", "-batch", "-"]:
            self.batches.append(data)
            if self.after is not None:
                self.links = dict(self.after)
            return self.batch_result
        if args[:5] == ["-json", "-details", "addr", "show", "dev"] and len(args) == 6:
            name = args[5]
            if name not in self.links:
                return 1, "", 'Device "%s" does not exist.\n' % name
            return 0, link_with_addresses(*self.links[name]), ""
        raise AssertionError("unexpected ip call: %r" % (argv,))


def link_with_addresses(link_text, addr_text):
    """What ``ip -json -details addr show dev NAME`` prints: the link's
    details with its ``addr_info``."""
    link = json.loads(link_text)
    for entry, addrs in zip(link, json.loads(addr_text)):
        entry["addr_info"] = addrs.get("addr_info", [])
    return json.dumps(link)


def cni0_dual():
    """cni0 up, mtu 1500, 192.168.1.1/24 + fd00:1::1/64 + link-local."""
    return ("cni0", (fixture_text("ip_link_bridge_up.json"), fixture_text("ip_addr_bridge_dual.json")))


def cni0_as_veth():
    link = json.loads(fixture_text("ip_link_veth.json"))
    link[0]["ifname"] = "cni0"
    addr = json.loads(fixture_text("ip_addr_veth.json"))
    addr[0]["ifname"] = "cni0"
    return ("cni0", (json.dumps(link), json.dumps(addr)))


@pytest.fixture
def run():
    def _run(fake, params, check_mode=False, diff=False):
        return run_module(bridge, params, fake.run_command, check_mode=check_mode, diff=diff).result

    return _run


CREATE_LINES = [
    "link add name cni0 type bridge",
    "addr add 192.168.1.1/24 brd + dev cni0",
    "addr add fd00:1::1/64 dev cni0",
    "link set dev cni0 up",
]


def test_check_mode_create_predicts_and_runs_nothing(run):
    fake = FakeIp({})
    result = run(fake, {"name": "cni0", "addresses": ["192.168.1.1/24", "fd00:1::1/64"]},
                 check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["commands"] == CREATE_LINES
    assert result["added_addresses"] == ["192.168.1.1/24", "fd00:1::1/64"]
    assert result["removed_addresses"] == []
    assert result["bridge"] == {"name": "cni0", "exists": True, "mtu": 1500, "up": True,
                                "addresses": ["192.168.1.1/24", "fd00:1::1/64"]}
    assert result["diff"]["before"] == "bridge: cni0\nstate: absent\n"
    assert result["diff"]["after"] == (
        "bridge: cni0\nstate: present\nkind: bridge\nlink: up\nmtu: 1500\n"
        "addresses:\n  - 192.168.1.1/24\n  - fd00:1::1/64\n")
    assert fake.batches == []
    assert all("-batch" not in call for call in fake.calls)


def test_real_create_runs_one_batch_and_reports_the_read_back_state(run):
    name, texts = cni0_dual()
    fake = FakeIp({}, after={name: texts})
    result = run(fake, {"name": "cni0", "addresses": ["192.168.1.1/24", "fd00:1::1/64"]})
    assert result["changed"] is True
    assert fake.batches == ["\n".join(CREATE_LINES) + "\n"]
    assert result["commands"] == CREATE_LINES
    assert result["bridge"] == {"name": "cni0", "exists": True, "mtu": 1500, "up": True,
                                "addresses": ["192.168.1.1/24", "fd00:1::1/64"]}
    assert "diff" not in result


def test_check_mode_result_equals_real_result(run):
    name, texts = cni0_dual()
    params = {"name": "cni0", "addresses": ["192.168.1.1/24", "fd00:1::1/64"]}
    predicted = run(FakeIp({}), params, check_mode=True, diff=True)
    real = run(FakeIp({}, after={name: texts}), params, diff=True)
    assert predicted == real


def test_no_change_runs_no_batch(run):
    fake = FakeIp(dict([cni0_dual()]))
    result = run(fake, {"name": "cni0", "addresses": ["fd00:1::1/64", "192.168.1.1/24"], "exclusive": True},
                 diff=True)
    assert result["changed"] is False
    assert result["commands"] == []
    assert fake.batches == []
    assert result["diff"]["before"] == result["diff"]["after"]


def test_check_mode_exclusive_readdressing(run):
    fake = FakeIp(dict([cni0_dual()]))
    result = run(fake, {"name": "cni0", "addresses": ["192.168.7.1/24"], "exclusive": True},
                 check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["commands"] == [
        "addr add 192.168.7.1/24 brd + dev cni0",
        "addr del 192.168.1.1/24 dev cni0",
        "addr del fd00:1::1/64 dev cni0",
    ]
    assert result["removed_addresses"] == ["192.168.1.1/24", "fd00:1::1/64"]
    assert "192.168.1.1/24" in result["diff"]["before"]
    assert "fe80" not in result["diff"]["before"]
    assert result["diff"]["after"].endswith("addresses:\n  - 192.168.7.1/24\n")
    assert fake.batches == []


def test_absent_deletes_and_second_absent_is_noop(run):
    fake = FakeIp(dict([cni0_dual()]), after={})
    result = run(fake, {"name": "cni0", "state": "absent"})
    assert result["changed"] is True
    assert fake.batches == ["link del dev cni0\n"]
    assert result["bridge"]["exists"] is False
    again = run(FakeIp({}), {"name": "cni0", "state": "absent"})
    assert again["changed"] is False
    assert again["commands"] == []


@pytest.mark.parametrize("state, verb", [("present", "convert"), ("absent", "delete")])
def test_non_bridge_refused_without_batch(run, state, verb):
    fake = FakeIp(dict([cni0_as_veth()]))
    result = run(fake, {"name": "cni0", "state": state, "addresses": ["192.168.1.1/24"]})
    assert result["failed"] is True
    assert "cni0 exists but is a veth link, not a bridge; refusing to %s it" % verb in result["msg"]
    assert fake.batches == []
    assert result["changed"] is False


def test_altname_refused(run):
    fake = FakeIp({"cni1": (fixture_text("ip_link_altname.json"), "[]")})
    result = run(fake, {"name": "cni1"})
    assert result["failed"] is True
    assert result["msg"] == "cni1 is an alternative name of veth0 (a veth link); refusing to manage or delete it"
    assert fake.batches == []


@pytest.mark.parametrize("params, fragments", [
    ({"name": "cni0/x"}, ["'cni0/x'", "'/'"]),
    ({"name": "averyveryverylongname"}, ["'averyveryverylongname'", "at most 15"]),
    ({"name": "cni0", "mtu": 67}, ["mtu 67 is out of range"]),
    ({"name": "cni0", "mtu": 65536}, ["mtu 65536 is out of range"]),
    ({"name": "cni0", "addresses": ["192.168.1.1"]}, ["'192.168.1.1' has no prefix length"]),
    ({"name": "cni0", "addresses": ["192.168.1.0/24"]}, ["'192.168.1.0/24' is the network address"]),
    ({"name": "cni0", "addresses": ["192.168.1.255/24"]}, ["'192.168.1.255/24' is the broadcast address"]),
    ({"name": "cni0", "addresses": ["192.168.1.1/24", "192.168.1.1/24"]}, ["'192.168.1.1/24' is listed twice"]),
    ({"name": "cni0", "mtu": 1000, "addresses": ["fd00:1::1/64"]}, ["mtu 1000 is below IPv6's minimum"]),
    ({"name": "cni0", "addresses": ["fe80::1/64"]}, ["'fe80::1/64' is IPv6 link-local"]),
])
def test_invalid_input_fails_before_any_ip_call(run, params, fragments):
    fake = FakeIp(dict([cni0_dual()]))
    result = run(fake, params)
    assert result["failed"] is True
    assert result["msg"].startswith("invalid parameters, nothing was changed (")
    for fragment in fragments:
        assert fragment in result["msg"]
    assert fake.calls == []


def test_kernel_error_names_the_command_and_translates(run):
    # what ip -force -batch prints on 6.18 when IPv6 is disabled on the new bridge
    stderr = "Error: ipv6: IPv6 is disabled on this device.\nCommand failed -:3\n"
    after = {"cni0": (fixture_text("ip_link_bridge_up.json"),
                      json.dumps([{"ifname": "cni0", "addr_info": [
                          {"family": "inet", "local": "192.168.1.1", "prefixlen": 24, "scope": "global"}]}]))}
    fake = FakeIp({}, after=after, batch_result=(1, "", stderr))
    result = run(fake, {"name": "cni0", "addresses": ["192.168.1.1/24", "fd00:1::1/64"]})
    assert result["failed"] is True
    hint = ("IPv6 is disabled on this link: check the sysctls net.ipv6.conf.cni0.disable_ipv6 "
            "and net.ipv6.conf.default.disable_ipv6")
    assert result["msg"] == (
        "ip -batch failed: 'addr add fd00:1::1/64 dev cni0' failed: ipv6: IPv6 is disabled on this device. "
        "(%s)" % hint)
    assert result["failed_commands"] == [{
        "line": 3, "command": "addr add fd00:1::1/64 dev cni0",
        "error": "ipv6: IPv6 is disabled on this device.", "hint": hint}]
    assert result["changed"] is True          # the other three lines ran
    assert result["bridge"]["addresses"] == ["192.168.1.1/24"]


def test_state_not_as_planned_fails(run):
    # the batch "succeeds" but the kernel still shows the old state
    fake = FakeIp(dict([cni0_dual()]))
    result = run(fake, {"name": "cni0", "addresses": ["192.168.7.1/24"], "exclusive": True})
    assert result["failed"] is True
    assert result["msg"].startswith("after the changes cni0 is not as planned: addresses: expected ['192.168.7.1/24']")


def test_read_error_other_than_missing_fails(run):
    class Broken(FakeIp):
        def run_command(self, argv, **kwargs):
            self.calls.append(argv)
            return 255, "", "Cannot open netlink socket: Operation not permitted\n"

    result = run(Broken({}), {"name": "cni0"})
    assert result["failed"] is True
    assert result["msg"].startswith("cannot read the state of cni0: ip -json -details addr show dev cni0 failed: "
                                    "Cannot open netlink socket")


def test_mtu_pinning_lines_in_check_mode(run):
    result = run(FakeIp({}), {"name": "cni0", "mtu": 1500}, check_mode=True)
    assert result["commands"] == ["link add name cni0 mtu 1501 type bridge", "link set dev cni0 mtu 1500",
                                  "link set dev cni0 up"]
    assert result["bridge"]["mtu"] == 1500


@pytest.mark.parametrize("keep, commands, removed", [
    (False, ["link set dev cni0 down"], ["fd00:1::1/64"]),
    (True, ["link set dev cni0 down"], []),
])
def test_going_down_reads_keep_addr_on_down(run, monkeypatch, keep, commands, removed):
    seen = []

    def fake_keep(name):
        seen.append(name)
        return keep

    monkeypatch.setattr(bridge_host, "keeps_ipv6_on_down", fake_keep)
    result = run(FakeIp(dict([cni0_dual()])), {"name": "cni0", "up": False}, check_mode=True)
    assert seen == ["cni0"]
    assert result["commands"] == commands
    assert result["removed_addresses"] == removed
    assert result["bridge"]["up"] is False


def test_keep_addr_on_down_not_read_when_staying_up(run, monkeypatch):
    monkeypatch.setattr(bridge_host, "keeps_ipv6_on_down", lambda name: pytest.fail("read"))
    result = run(FakeIp(dict([cni0_dual()])), {"name": "cni0"}, check_mode=True)
    assert result["changed"] is False


def test_keeps_ipv6_on_down_reads_the_sysctls(monkeypatch, tmp_path):
    values = {"all": "0\n", "cni0": "1\n"}
    real_open = open

    def fake_open(path, *args, **kwargs):
        prefix = "/proc/sys/net/ipv6/conf/"
        if path.startswith(prefix):
            conf = path[len(prefix):].split("/")[0]
            if conf not in values:
                raise IOError(2, "No such file")
            target = tmp_path / conf
            target.write_text(values[conf])
            return real_open(str(target), *args, **kwargs)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    assert bridge_host.keeps_ipv6_on_down("cni0") is True
    values["cni0"] = "0\n"
    assert bridge_host.keeps_ipv6_on_down("cni0") is False
    values["all"] = "-1\n"      # a non-zero "all" wins, and -1 means flush
    values["cni0"] = "1\n"
    assert bridge_host.keeps_ipv6_on_down("cni0") is False
    values["all"] = "1\n"
    values["cni0"] = "0\n"
    assert bridge_host.keeps_ipv6_on_down("cni0") is True
    del values["cni0"]
    del values["all"]
    assert bridge_host.keeps_ipv6_on_down("cni0") is False

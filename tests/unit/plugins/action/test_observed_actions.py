"""The files, sysctl and bridge actions: no module run when the preflight's
read of this play shows nothing to change; the module runs otherwise."""

from unittest import mock

import pytest

from ansible_collections.podnet.hostgw.plugins.action import bridge as bridge_action
from ansible_collections.podnet.hostgw.plugins.action import files as files_action
from ansible_collections.podnet.hostgw.plugins.action import netfilter as netfilter_action
from ansible_collections.podnet.hostgw.plugins.action import sysctl as sysctl_action
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import state, sysctl

PLAY = "play-1"
MODULE_RESULT = {"changed": True, "ran": "module"}


def make(action, args, play=PLAY):
    task = mock.MagicMock()
    task.args = args
    task.async_val = 0
    task.get_play.return_value._uuid = PLAY
    module = action.ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=None, templar=None,
                                 shared_loader_obj=None)
    module._execute_module = mock.MagicMock(return_value=dict(MODULE_RESULT))
    return module, {"hostgw_plan": {"play": play}}


def run(action, args, play=PLAY):
    module, task_vars = make(action, args, play)
    with mock.patch("ansible.plugins.action.ActionBase.run", return_value={}):
        result = module.run(task_vars=task_vars)
    return result, module._execute_module


# --------------------------------------------------------------- sysctl --

SYSCTL_FILE = "/etc/sysctl.d/60-podnet-hostgw.conf"


def sysctl_read(running="1", text=None):
    if text is None:
        text = sysctl.render({"net.ipv4.ip_forward": "1"}, {"net.ipv4.ip_forward": "0"})
    return {"sysctl": {"net.ipv4.ip_forward": running},
            "paths": {SYSCTL_FILE: {"kind": "file", "mode": 0o644, "content": text}},
            "dirs": {"/etc/sysctl.d": {"kind": "dir", "mode": 0o755}}}


def sysctl_args(found):
    return {"values": {"net.ipv4.ip_forward": 1}, "path": SYSCTL_FILE, "observed": found}


def test_sysctl_as_wanted_runs_no_module():
    result, module = run(sysctl_action, sysctl_args(sysctl_read()))
    assert result == {"changed": False, "applied": {}, "file_changed": False, "from_read": True}
    module.assert_not_called()


@pytest.mark.parametrize("found", [
    sysctl_read(running="0"),                                   # the running value drifted
    sysctl_read(text="# podnet.hostgw\nnet.ipv4.ip_forward = 1\n"),  # the file differs
    sysctl_read(text="someone else's\n"),                       # not the collection's: the module fails
    {"sysctl": {}},                                             # not read
])
def test_sysctl_runs_the_module_when_the_read_shows_a_change_or_cannot_tell(found):
    result, module = run(sysctl_action, sysctl_args(found))
    assert result == MODULE_RESULT
    args = module.call_args.kwargs["module_args"]
    assert "observed" not in args and args["path"] == SYSCTL_FILE


def test_a_read_of_another_play_is_never_used():
    result, module = run(sysctl_action, sysctl_args(sysctl_read()), play="play-0")
    assert result == MODULE_RESULT


def test_invalid_arguments_go_to_the_module_to_be_reported():
    args = sysctl_args(sysctl_read())
    args["values"] = {"net.ipv4.ip_forward": True}
    assert run(sysctl_action, args)[0] == MODULE_RESULT


# ---------------------------------------------------------------- files --

def test_files_as_wanted_runs_no_module_and_a_drift_runs_it():
    found = {"paths": {"/etc/podnet/hostgw.json": {"kind": "file", "mode": 0o644, "content": "{}\n"}},
             "dirs": {"/etc/podnet": {"kind": "dir", "mode": 0o755}}}
    args = {"files": [{"path": "/etc/podnet/hostgw.json", "content": "{}\n"}], "observed": found}
    result, module = run(files_action, args)
    assert result == {"changed": False, "changes": [], "from_read": True}
    module.assert_not_called()
    args["files"][0]["mode"] = "0600"
    assert run(files_action, args)[0] == MODULE_RESULT


# --------------------------------------------------------------- bridge --

def bridge_read(addresses=("192.168.0.1/24",), kind="bridge", section=None):
    addr_info = [{"family": "inet", "local": a.partition("/")[0], "prefixlen": int(a.partition("/")[2]),
                  "scope": "global"} for a in addresses]
    data = [{"ifname": "cni0", "ifindex": 4, "flags": ["BROADCAST", "MULTICAST", "UP"], "mtu": 1500,
             "operstate": "UP", "linkinfo": {"info_kind": kind}, "addr_info": addr_info}]
    wanted = state.bridge_section("cni0", 1500, ["192.168.0.1/24"])
    return {"bridge": {"name": "cni0", "data": data},
            "state_file": {"path": "/etc/podnet/hostgw-state.json", "valid": True,
                           "sections": {"bridge": wanted if section is None else section}}}


def bridge_args(found):
    return {"name": "cni0", "addresses": ["192.168.0.1/24"], "mtu": 1500, "exclusive": True,
            "state_file": "/etc/podnet/hostgw-state.json", "observed": found}


def test_a_bridge_as_wanted_runs_no_module():
    result, module = run(bridge_action, bridge_args(bridge_read()))
    module.assert_not_called()
    assert result["from_read"] and not result["changed"] and result["commands"] == []
    assert result["state_file"] == {"path": "/etc/podnet/hostgw-state.json", "changed": False}


@pytest.mark.parametrize("found", [
    bridge_read(addresses=()),                                    # its address is gone
    bridge_read(addresses=("192.168.0.1/24", "192.168.9.1/24")),  # a stray address (exclusive)
    bridge_read(kind="dummy"),                                    # not a bridge: the module fails
    bridge_read(section={"name": "cni0", "mtu": None, "addresses": []}),  # the state file differs
    {"bridge": {"name": "cni1", "data": None}},                   # another bridge was read
])
def test_a_bridge_that_drifted_runs_the_module(found):
    assert run(bridge_action, bridge_args(found))[0] == MODULE_RESULT


# ------------------------------------------------------------ netfilter --

def netfilter_read(nft_text, variant="auto", section_backend="auto"):
    from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import netfilter as nf

    config, _problems = nf.validate({"name": "podnet_hostgw", "cluster_cidrs": ["192.168.0.0/16"]})
    live = {"nft_ok": True, "nft_error": None, "nft_text": nft_text, "ipt": {}, "ipt_errors": {}}
    section = state.netfilter_section("podnet_hostgw", section_backend, "auto", ["192.168.0.0/16"], True, True)
    wanted = nf.nft_wanted_text(config)
    return wanted, {"netfilter": {"name": "podnet_hostgw", "iptables_variant": variant, "live": live},
                    "state_file": {"path": "/s.json", "valid": True, "sections": {"netfilter": section}}}


def netfilter_args(found):
    return {"name": "podnet_hostgw", "cluster_cidrs": ["192.168.0.0/16"], "state_file": "/s.json",
            "observed": found}


def test_a_rule_set_as_wanted_runs_no_module_and_any_drift_runs_it():
    wanted, _found = netfilter_read(None)
    _wanted, found = netfilter_read(wanted)
    result, module = run(netfilter_action, netfilter_args(found))
    module.assert_not_called()
    assert result["from_read"] and result["backend"] == "nftables" and result["commands"] == []
    for drifted in (netfilter_read(None)[1],                               # the table is gone
                    netfilter_read(wanted.replace("accept", "drop"))[1],   # a rule changed
                    netfilter_read(wanted, variant="legacy")[1],           # read with other tools
                    netfilter_read(wanted, section_backend="iptables")[1]):  # the state file differs
        assert run(netfilter_action, netfilter_args(drifted))[0] == MODULE_RESULT

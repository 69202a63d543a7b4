"""cni_ipam_state on a temporary data directory: removes bookkeeping-only
state, keeps leased state with a warning naming the files and containers,
predicts in check mode, refuses bad names before touching anything."""

import os

from ansible_collections.podnet.hostgw.plugins.modules import cni_ipam_state

from .conftest import run_module


def no_commands(*args, **kwargs):
    raise AssertionError("cni_ipam_state runs no command")


def make(tmp_path, **entries):
    path = tmp_path / "podnet"
    path.mkdir()
    for name, text in dict({"lock": "", "last_reserved_ip.0": "192.168.0.3"}, **entries).items():
        (path / name).write_text(text)
    return path


def run(tmp_path, check_mode=False, diff=False, **params):
    return run_module(cni_ipam_state, dict({"network": "podnet", "data_dir": str(tmp_path)}, **params),
                      no_commands, check_mode=check_mode, diff=diff)


def test_bookkeeping_only_is_removed_and_check_mode_predicts_it(tmp_path):
    path = make(tmp_path)
    predicted = run(tmp_path, check_mode=True, diff=True)
    assert path.is_dir()
    assert not predicted.failed and predicted.result["changed"] and predicted.result["removed"]
    assert predicted.result["diff"]["before"] == "last_reserved_ip.0\nlock\n"
    assert predicted.result["diff"]["after"] == ""
    done = run(tmp_path)
    assert (done.result["changed"], done.result["removed"], done.result["path"]) == (True, True, str(path))
    assert not path.exists() and tmp_path.is_dir()
    again = run(tmp_path)
    assert (again.result["changed"], again.result["warnings"]) == (False, [])


def test_leased_state_stays_with_a_warning_naming_files_and_containers(tmp_path):
    path = make(tmp_path, **{"192.168.0.2": "podnet-lab-c1\r\neth0", "notes": "mine"})
    for check_mode in (True, False):
        result = run(tmp_path, check_mode=check_mode).result
        assert (result["changed"], result["removed"]) == (False, False)
        assert result["leases"] == [{"address": "192.168.0.2", "container_id": "podnet-lab-c1", "ifname": "eth0"}]
        assert result["others"] == ["notes"]
        warning, = result["warnings"]
        assert warning.startswith("%s (host-local IPAM state of CNI network podnet) was kept, " % path)
        assert "addresses still leased: 192.168.0.2 (container podnet-lab-c1)" in warning
        assert "entries host-local does not make: notes" in warning
    assert sorted(os.listdir(str(path))) == ["192.168.0.2", "last_reserved_ip.0", "lock", "notes"]


def test_many_leases_are_counted(tmp_path):
    make(tmp_path, **{"192.168.0.%d" % i: "c%d" % i for i in range(10, 30)})
    warning, = run(tmp_path).result["warnings"]
    assert "and 10 more" in warning


def test_bad_parameters_change_nothing(tmp_path):
    path = make(tmp_path)
    result = run(tmp_path, network="../etc", data_dir="var/lib").result
    assert result["failed"] and result["msg"].startswith("invalid parameters, nothing was changed (2):")
    assert "network '../etc' must be letters" in result["msg"]
    assert "data_dir 'var/lib' is not an absolute path" in result["msg"]
    assert path.is_dir()

"""podnet.hostgw.sysctl on a real kernel, inside a throwaway namespace."""

import os
import pathlib

import pytest

pytestmark = pytest.mark.integration

FORWARD = "net.ipv4.ip_forward"


def forward(ns):
    return ns.run(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip()


def test_applies_persists_and_is_idempotent(netns, tmp_path):
    path = str(tmp_path / "sysctl.d" / "60-test.conf")
    assert forward(netns) == "0"
    first = netns.module("sysctl", {"values": {FORWARD: 1}, "path": path}, diff=True)
    assert first["changed"] is True
    assert first["applied"] == {FORWARD: "1"}
    assert forward(netns) == "1"
    assert "net.ipv4.ip_forward = 1\n" in pathlib.Path(path).read_text()
    assert os.stat(path).st_mode & 0o777 == 0o644
    running = first["diff"][0]
    assert (running["before"], running["after"]) == ("net.ipv4.ip_forward = 0\n", "net.ipv4.ip_forward = 1\n")
    again = netns.module("sysctl", {"values": {FORWARD: 1}, "path": path})
    assert again["changed"] is False
    assert again["applied"] == {}


def test_check_mode_predicts_and_changes_nothing(netns, tmp_path):
    path = str(tmp_path / "60-test.conf")
    check = netns.module("sysctl", {"values": {FORWARD: "1"}, "path": path}, check_mode=True)
    assert check["changed"] is True and check["file_changed"] is True
    assert forward(netns) == "0"
    assert not os.path.exists(path)
    real = netns.module("sysctl", {"values": {FORWARD: "1"}, "path": path})
    assert (real["changed"], real["applied"], real["file_changed"]) == \
        (check["changed"], check["applied"], check["file_changed"])


def test_drift_is_repaired(netns, tmp_path):
    path = str(tmp_path / "60-test.conf")
    netns.module("sysctl", {"values": {FORWARD: 1}, "path": path})
    netns.run(["sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"])
    res = netns.module("sysctl", {"values": {FORWARD: 1}, "path": path})
    assert res["changed"] is True and res["applied"] == {FORWARD: "1"} and res["file_changed"] is False
    assert forward(netns) == "1"


def test_bad_keys_fail_and_change_nothing(netns, tmp_path):
    path = str(tmp_path / "60-test.conf")
    res = netns.module("sysctl", {"values": {FORWARD: 1, "net.ipv4.no_such_knob": 1,
                                             "../../etc/passwd": 1}, "path": path})
    assert res["failed"] is True
    assert "net.ipv4.no_such_knob does not exist" in res["msg"]
    assert "'../../etc/passwd' is not a sysctl name" in res["msg"]
    assert forward(netns) == "0"
    assert not os.path.exists(path)


def test_absent_restores_the_value_from_before_and_removes_the_file(netns, tmp_path):
    path = str(tmp_path / "60-test.conf")
    netns.module("sysctl", {"values": {FORWARD: 1}, "path": path})
    assert "# previous: net.ipv4.ip_forward = 0\n" in pathlib.Path(path).read_text()
    # A later run keeps the value from before the first change, not its own.
    netns.module("sysctl", {"values": {FORWARD: 1}, "path": path})
    assert "# previous: net.ipv4.ip_forward = 0\n" in pathlib.Path(path).read_text()
    check = netns.module("sysctl", {"path": path, "state": "absent"}, check_mode=True)
    assert check["changed"] is True and check["applied"] == {FORWARD: "0"}
    assert forward(netns) == "1" and os.path.exists(path)
    gone = netns.module("sysctl", {"path": path, "state": "absent"})
    assert gone["changed"] is True and gone["applied"] == {FORWARD: "0"} and not os.path.exists(path)
    assert forward(netns) == "0"
    again = netns.module("sysctl", {"path": path, "state": "absent"})
    assert again["changed"] is False


def test_absent_without_restore_leaves_running_values(netns, tmp_path):
    path = str(tmp_path / "60-test.conf")
    netns.module("sysctl", {"values": {FORWARD: 1}, "path": path})
    gone = netns.module("sysctl", {"path": path, "state": "absent", "restore": False})
    assert gone["changed"] is True and gone["applied"] == {}
    assert forward(netns) == "1" and not os.path.exists(path)


def test_value_already_set_is_remembered_as_is(netns, tmp_path):
    path = str(tmp_path / "60-test.conf")
    netns.run(["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
    netns.module("sysctl", {"values": {FORWARD: 1}, "path": path})
    gone = netns.module("sysctl", {"path": path, "state": "absent"})
    assert gone["applied"] == {}
    assert forward(netns) == "1"

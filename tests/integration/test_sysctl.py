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
    assert "'net.ipv4.no_such_knob' does not exist on this kernel" in res["msg"]
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


# ------------------------------------------------------- only its own file --

FORWARD_V6 = "net.ipv6.conf.all.forwarding"
OLD_HEADER = "# Managed by podnet.hostgw (Ansible). Local edits are overwritten.\n"


def forward_v6(ns):
    return ns.run(["cat", "/proc/sys/net/ipv6/conf/all/forwarding"]).stdout.strip()


def foreign_sysctl_conf():
    """A system's /etc/sysctl.conf: 68 lines, no marker, and a line that looks
    like one of the module's records (it must not be restored from)."""
    lines = ["#", "# /etc/sysctl.conf - Configuration file for setting system variables",
             "# See /etc/sysctl.d/ for additional system variables.", "#", ""]
    lines += ["#kernel.domainname = example.com", "#kernel.printk = 3 4 1 3", "",
              "# previous: net.ipv4.ip_forward = 1", "net.ipv4.conf.all.rp_filter = 1"]
    n = 0
    while len(lines) < 68:
        n += 1
        lines.append("# setting %d of the system, kept as it is" % n)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("state", ["present", "absent"])
@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_a_file_without_the_marker_is_refused_and_nothing_changes(
        netns, tmp_path, state, check_mode):
    path = tmp_path / "sysctl.conf"
    text = foreign_sysctl_conf()
    assert len(text.splitlines()) == 68
    path.write_text(text)
    before = path.read_bytes()
    res = netns.module("sysctl", {"values": {FORWARD: 1}, "path": str(path), "state": state},
                       check_mode=check_mode)
    assert res["failed"] is True
    assert res["msg"].startswith("path %r exists and was not created by podnet.hostgw (no "
                                 "'# Managed by podnet.hostgw' line at its top)" % str(path))
    assert "nothing was changed" in res["msg"]
    assert res["changed"] is False
    assert path.read_bytes() == before
    assert forward(netns) == "0"


def test_a_symbolic_link_is_refused_and_its_target_kept(netns, tmp_path):
    target = tmp_path / "sysctl.conf"
    target.write_text(OLD_HEADER + "net.ipv4.ip_forward = 1\n")
    link = tmp_path / "99-sysctl.conf"
    link.symlink_to(target)
    for state in ("present", "absent"):
        res = netns.module("sysctl", {"values": {FORWARD: 1}, "path": str(link), "state": state})
        assert res["failed"] is True
        assert res["msg"] == ("path %r is a symbolic link; the collection only writes or removes a "
                              "regular file of its own, so nothing was changed" % str(link))
        assert link.is_symlink() and target.read_text() == OLD_HEADER + "net.ipv4.ip_forward = 1\n"
        assert forward(netns) == "0"


def test_the_earlier_value_is_on_disk_before_the_running_value_changes(netns, tmp_path):
    # the file cannot be written (its directory is a file): no running value may change
    blocker = tmp_path / "sysctl.d"
    blocker.write_text("not a directory\n")
    path = str(blocker / "60-test.conf")
    res = netns.module("sysctl", {"values": {FORWARD: 1}, "path": path})
    assert res["failed"] is True
    assert res["msg"].startswith("cannot write %s, so no running value was changed: " % path)
    assert res["changed"] is False and res["applied"] == {}
    assert forward(netns) == "0"


def test_a_recorded_earlier_value_is_never_overwritten(netns, tmp_path):
    path = tmp_path / "60-test.conf"
    # Written by an earlier version (its header still counts as the marker):
    # ip_forward was 0 before; something set it to 1 since.
    path.write_text(OLD_HEADER + "# previous: net.ipv4.ip_forward = 0\nnet.ipv4.ip_forward = 1\n")
    netns.run(["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
    res = netns.module("sysctl", {"values": {FORWARD: 1, FORWARD_V6: 1}, "path": str(path)})
    assert res["changed"] is True and res["applied"] == {FORWARD_V6: "1"}
    text = path.read_text()
    assert "# previous: net.ipv4.ip_forward = 0\n" in text
    assert "# previous: net.ipv6.conf.all.forwarding = 0\n" in text
    # A parameter that leaves the values keeps its record, so reset restores it too.
    res = netns.module("sysctl", {"values": {FORWARD: 1}, "path": str(path)})
    assert res["applied"] == {}
    text = path.read_text()
    assert "# previous: net.ipv4.ip_forward = 0\n" in text
    assert "# previous: net.ipv6.conf.all.forwarding = 0\n" in text
    assert "net.ipv6.conf.all.forwarding = 1" not in text.replace("# previous: ", "#")
    assert text.startswith("# Managed by podnet.hostgw: ")     # the marker of ownership.header()
    gone = netns.module("sysctl", {"path": str(path), "state": "absent"})
    assert gone["applied"] == {FORWARD: "0", FORWARD_V6: "0"}
    assert (forward(netns), forward_v6(netns)) == ("0", "0")
    assert not path.exists()

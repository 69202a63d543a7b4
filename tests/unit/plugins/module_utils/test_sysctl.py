"""The sysctl logic of the engine (_hostgw/sysctl.py): the owned file, its
record of earlier values, validation.  The module's behaviour on a real
kernel is in tests/integration/test_sysctl.py."""

import os

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import ownership, sysctl

OLD_HEADER = "# Managed by podnet.hostgw (Ansible). Local edits are overwritten.\n"


def test_render_and_parse_round_trip():
    text = sysctl.render({"net.ipv4.ip_forward": "1"}, {"net.ipv4.ip_forward": "0",
                                                        "net.ipv6.conf.all.forwarding": "0"})
    assert text == (ownership.header(sysctl.PURPOSE)
                    + "# previous: net.ipv4.ip_forward = 0\n"
                    + "# previous: net.ipv6.conf.all.forwarding = 0\n"
                    + "net.ipv4.ip_forward = 1\n")
    assert ownership.is_ours(text)
    assert sysctl.parse_previous(text) == {"net.ipv4.ip_forward": "0",
                                           "net.ipv6.conf.all.forwarding": "0"}


def test_a_recorded_value_is_never_replaced_nor_dropped():
    recorded = {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"}
    running = {"net.ipv4.ip_forward": "1", "net.ipv4.tcp_rmem": "4096 131072 6291456"}
    assert sysctl.record_previous(recorded, running) == {
        "net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0",
        "net.ipv4.tcp_rmem": "4096 131072 6291456"}


@pytest.mark.parametrize("text", [
    OLD_HEADER + "net.ipv4.ip_forward = 1\n",              # written by 0.1.0
    ownership.header(sysctl.PURPOSE),
])
def test_the_collections_files_are_ours(text):
    assert sysctl.ownership_problem(text) is None


@pytest.mark.parametrize("text", [
    "", "net.ipv4.ip_forward = 1\n", "# previous: net.ipv4.ip_forward = 0\n",
    "#\n#\n#\n#\n#\n" + OLD_HEADER,                         # the marker must be at the top
])
def test_other_files_are_not(text):
    assert sysctl.ownership_problem(text).startswith(
        "exists and was not created by podnet.hostgw (no '# Managed by podnet.hostgw' line")


def test_read_owned(tmp_path):
    path = tmp_path / "60.conf"
    assert sysctl.read_owned(str(path)) is None
    assert sysctl.read_owned(str(tmp_path / "no-dir" / "60.conf")) is None
    path.write_text(OLD_HEADER)
    assert sysctl.read_owned(str(path)) == OLD_HEADER
    path.write_text("kernel.printk = 3 4 1 3\n")
    with pytest.raises(sysctl.NotOurs) as exc:
        sysctl.read_owned(str(path), key="hostgw_sysctl_file")
    assert str(exc.value).startswith("hostgw_sysctl_file %r exists and was not created" % str(path))
    path.write_text(OLD_HEADER + "#" * sysctl.MAX_FILE_BYTES)
    with pytest.raises(sysctl.NotOurs, match="is larger than any file the collection writes"):
        sysctl.read_owned(str(path))
    os.mkfifo(str(tmp_path / "fifo"))
    with pytest.raises(sysctl.NotOurs, match="is not a regular file"):
        sysctl.read_owned(str(tmp_path / "fifo"))     # never opened, so it cannot block


def test_validate_names_every_value(tmp_path):
    (tmp_path / "net" / "ipv4").mkdir(parents=True)
    (tmp_path / "net" / "ipv4" / "ip_forward").write_text("0\n")
    problems = sysctl.validate({"net.ipv4.ip_forward": True, "net.ipv4.nope": 1,
                                "../../etc/passwd": 1, "net.ipv4": "1\x1b"}, root=str(tmp_path))
    assert problems == [
        "values key '../../etc/passwd' is not a sysctl name (dotted words such as "
        "net.ipv4.ip_forward)",
        "values key 'net.ipv4' is a group of parameters (%s/net/ipv4 is a directory), not one "
        "parameter" % tmp_path,
        "values['net.ipv4.ip_forward'] True is a boolean; write 0 or 1",
        "values key 'net.ipv4.nope' does not exist on this kernel (no %s/net/ipv4/nope)" % tmp_path,
    ]
    assert sysctl.validate({"net.ipv4.ip_forward": "1\x1b"}, root=str(tmp_path)) == [
        "values['net.ipv4.ip_forward'] '1\\x1b' contains a control character"]
    assert sysctl.validate({"net.ipv4.ip_forward": 1}, root=str(tmp_path)) == []


def test_validate_without_a_kernel_checks_names_and_values_only():
    """The controller (the sysctl action) cannot see the host's kernel."""
    assert sysctl.validate({"net.ipv4.surely_not_on_this_kernel": 1}, root=None) == []
    assert sysctl.validate({"net.ipv4.ip_forward": True, "../x": 1}, root=None) == [
        "values key '../x' is not a sysctl name (dotted words such as net.ipv4.ip_forward)",
        "values['net.ipv4.ip_forward'] True is a boolean; write 0 or 1",
    ]


def test_running_values_restorable_and_written(tmp_path):
    (tmp_path / "net" / "ipv4").mkdir(parents=True)
    knob = tmp_path / "net" / "ipv4" / "ip_forward"
    knob.write_text("1\n")
    root = str(tmp_path)
    assert sysctl.read_running("net.ipv4.ip_forward", root) == "1"
    assert sysctl.restorable({"net.ipv4.ip_forward": "0", "net.ipv4.gone": "0", "../x": "0"},
                             root) == {"net.ipv4.ip_forward": "0"}
    assert sysctl.write_running({"net.ipv4.ip_forward": "0"}, root) == {"net.ipv4.ip_forward": "0"}
    assert knob.read_text() == "0\n"
    with pytest.raises(sysctl.WriteFailed) as exc:
        sysctl.write_running({"net.ipv4.ip_forward": "1", "net.zz.missing": "1"}, root)
    assert exc.value.done == {"net.ipv4.ip_forward": "1"}
    assert str(exc.value).startswith("cannot set net.zz.missing to 1: ")

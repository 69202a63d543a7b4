"""Three hosts: host1 keeps its explicit subnet, host2/host3 are allocated in name order."""

from testinfra_lab import lab_host


def test_initial_cluster(check_cluster):
    check_cluster(["host1", "host2", "host3"])


def test_host4_is_not_touched_yet():
    h = lab_host("host4")
    assert not h.file("/etc/podnet/hostgw.json").exists
    assert not h.interface("cni0").exists
    assert h.check_output("ip route show proto 252") == ""  # no name file there either

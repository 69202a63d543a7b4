"""node_info: the compact route evidence from real ``ip -json`` outputs, and
the safe reads of the record and of owned files."""

import json
import os

import pytest

from ansible_collections.podnet.hostgw.plugins.modules import node_info
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import files, ownership

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures")


def routes(name):
    with open(os.path.join(FIXTURES, name)) as fh:
        return json.loads(json.load(fh)["stdout"])


def test_cluster_routes_are_grouped_and_only_inside_the_cluster_cidrs():
    got = node_info.cluster_routes(routes("ip_route_v4_main.json"), routes("ip_route_v6_main.json"),
                                   ["192.168.0.0/16"])
    by_key = dict(((g["proto"], g["dev"], g["metric"], g["type"]), g["to"]) for g in got)
    assert by_key[("252", "eth0", 0, "unicast")] == [
        "192.168.1.0/24 10.168.0.2", "192.168.5.0/24 1.2.3.4", "192.168.6.0/24",
        "192.168.10.0/24 10.168.0.2", "192.168.11.5/32 10.168.0.2"]
    assert by_key[("static", "eth0", 0, "unicast")] == ["192.168.1.0/24 10.168.0.3", "192.168.3.0/24 10.168.0.3"]
    assert by_key[("252", "", 0, "blackhole")] == ["192.168.8.0/24"]
    assert by_key[("252", "", 0, "multipath")] == ["192.168.9.0/24"]
    assert by_key[("252", "eth1", 0, "unicast")] == ["192.168.7.0/24 10.169.0.2"]
    assert by_key[("dhcp", "eth0", 50, "unicast")] == ["192.168.13.0/24 10.168.0.4"]
    everything = [t for g in got for t in g["to"]]
    assert not [t for t in everything if not t.startswith("192.168.")]  # no default, no underlay, no IPv6


def test_routes_through_nexthop_objects_show_their_gateway():
    got = node_info.cluster_routes(routes("ip_nexthop_route_v4_main.json"), [], ["192.168.0.0/16"])
    ours = [g for g in got if g["proto"] == "252" and g["metric"] == 0][0]
    assert ours["to"] == ["192.168.1.0/24 10.168.0.2", "192.168.2.0/24 10.168.0.3"]


def test_no_cluster_cidrs_no_routes():
    assert node_info.cluster_routes(routes("ip_route_v4_main.json"), [], []) == []
    assert node_info.cluster_routes(routes("ip_route_v4_main.json"), [], ["not a cidr"]) == []


def test_ipv6_cluster_routes():
    got = node_info.cluster_routes([], routes("ip_route_v6_main.json"), ["fd00::/8"])
    assert got and all(":" in t for g in got for t in g["to"])
    assert all(g["metric"] != 0 or g["type"] != "unicast" for g in got)  # the kernel's 1024, never 0


def test_record_is_read_when_small_regular_json_object(tmp_path):
    path = tmp_path / "hostgw.json"
    path.write_text('{"pod_subnet": "192.168.1.0/24"}\n')
    assert node_info.read_record(str(path)) == ({"pod_subnet": "192.168.1.0/24"}, "")
    assert node_info.read_record(str(tmp_path / "absent.json")) == ({}, "")


@pytest.mark.parametrize("content,problem", [
    ("[1, 2]", "does not hold a JSON object"),
    ('"192.168.1.0/24"', "does not hold a JSON object"),
    ("{", "is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    ("x" * 5000, "is larger than 4096 bytes"),
])
def test_bad_records_say_why(tmp_path, content, problem):
    path = tmp_path / "hostgw.json"
    path.write_text(content)
    assert node_info.read_record(str(path)) == ({}, problem)


def test_a_fifo_record_is_refused_without_blocking(tmp_path):
    path = str(tmp_path / "hostgw.json")
    os.mkfifo(path)
    assert node_info.read_record(path) == ({}, "is a FIFO, not a regular file")
    assert files.status(path) == {"exists": True, "regular": False, "ours": False}


def test_a_directory_record_is_refused(tmp_path):
    assert node_info.read_record(str(tmp_path)) == ({}, "is a directory, not a regular file")


def test_a_huge_record_is_not_read_whole(tmp_path, monkeypatch):
    path = tmp_path / "hostgw.json"
    with open(path, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    read = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: read.append(n) or real_read(fd, n))
    assert node_info.read_record(str(path)) == ({}, "is larger than 4096 bytes")
    assert sum(read) <= 4097


def test_a_relative_record_path_is_not_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rec.json").write_text('{"pod_subnet": "192.168.1.0/24"}')
    assert node_info.read_record("rec.json") == ({}, "")


def test_file_status_finds_the_marker_in_the_first_lines(tmp_path):
    ours = tmp_path / "ours.conf"
    ours.write_text(ownership.header("kernel parameters") + "net.ipv4.ip_forward = 1\n")
    theirs = tmp_path / "sysctl.conf"
    theirs.write_text("# /etc/sysctl.conf - Configuration file\n" + "#\n" * 60)
    link = tmp_path / "link.conf"
    link.symlink_to(theirs)
    got = node_info.file_status([str(ours), str(theirs), str(link), str(tmp_path / "absent"), "relative"])
    assert got == {
        str(ours): {"exists": True, "regular": True, "ours": True},
        str(theirs): {"exists": True, "regular": True, "ours": False},
        str(link): {"exists": True, "regular": True, "ours": False},
        str(tmp_path / "absent"): {"exists": False, "regular": False, "ours": False},
    }


def test_connected_routes_and_the_lowest_metric_default_per_family():
    extra = [{"dst": "default", "gateway": "10.168.0.253", "dev": "eth1", "metric": 50, "prefsrc": "10.169.0.1"}]
    connected, default = node_info.parse_routes(routes("ip_route_v4_main.json") + extra,
                                                routes("ip_route_v6_main.json"))
    # The fixture's default has no metric (0): it beats the extra one's 50.
    assert default == {"4": {"dev": "eth0", "gateway": "10.168.0.254", "src": ""},
                       "6": {"dev": "eth0", "gateway": "fd00:10::fe", "src": ""}}
    worse = dict(extra[0], gateway="10.168.0.252", metric=100)
    assert node_info.parse_routes([worse] + extra, [])[1] == {
        "4": {"dev": "eth1", "gateway": "10.168.0.253", "src": "10.169.0.1"}}
    assert {"dest": "10.168.0.0/24", "dev": "eth0"} in connected
    assert {"dest": "fd00:10::/64", "dev": "eth0"} in connected
    # A blackhole, a multipath route and routes via a gateway are not connected.
    assert not [c for c in connected if c["dest"] in ("192.168.8.0/24", "192.168.9.0/24")]
    assert all(c["dest"] != "0.0.0.0/0" for c in connected)

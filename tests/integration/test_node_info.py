"""node_info against a real kernel, in a throwaway namespace: the routes
inside the cluster CIDRs in their compact form, and the record and owned
files read only when they are small regular files (paths in a temporary
directory)."""

import json
import os

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils.reconcile_files import DEFAULT_LAYOUT

pytestmark = pytest.mark.integration


@pytest.fixture
def host(netns):
    netns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
    netns.ip("link", "set", "eth0", "up")
    netns.ip("link", "set", "eth0p", "up")
    netns.ip("addr", "add", "10.168.0.1/24", "dev", "eth0")
    netns.ip("-6", "addr", "add", "fd00:168::1/64", "dev", "eth0", "nodad")
    return netns


def test_cluster_routes_from_the_kernel(host, tmp_path):
    host.ip("route", "add", "192.168.1.0/24", "via", "10.168.0.2", "dev", "eth0", "proto", "252")
    host.ip("nexthop", "add", "id", "77", "via", "10.168.0.3", "dev", "eth0", "proto", "252")
    host.ip("route", "add", "192.168.2.0/24", "nhid", "77", "proto", "252")
    host.ip("route", "add", "192.168.3.0/24", "via", "10.168.0.9", "dev", "eth0", "proto", "static")
    host.ip("route", "add", "blackhole", "192.168.4.0/24", "proto", "static")
    host.ip("route", "add", "10.99.0.0/24", "via", "10.168.0.9", "proto", "static")  # outside the cluster
    host.ip("-6", "route", "add", "fd00:10::/64", "via", "fd00:168::2", "dev", "eth0", "proto", "252")
    res = host.module("node_info", {"cluster_cidrs": ["192.168.0.0/16", "fd00:10::/56"],
                                    "record_path": str(tmp_path / "absent.json")})
    assert not res.get("failed"), res
    groups = dict(((g["proto"], g["dev"], g["metric"], g["type"]), g["to"]) for g in res["cluster_routes"])
    assert groups == {
        ("252", "eth0", 0, "unicast"): ["192.168.1.0/24 10.168.0.2", "192.168.2.0/24 10.168.0.3"],
        ("252", "eth0", 1024, "unicast"): ["fd00:10::/64 fd00:168::2"],
        ("static", "eth0", 0, "unicast"): ["192.168.3.0/24 10.168.0.9"],
        ("static", "", 0, "blackhole"): ["192.168.4.0/24"],
    }
    assert res["recorded"] == {} and res["record_problem"] == ""
    assert {"dest": "10.168.0.0/24", "dev": "eth0"} in res["connected"]


def test_record_and_owned_files(host, tmp_path):
    record = tmp_path / "hostgw.json"
    record.write_text(json.dumps({"pod_subnet": "192.168.1.0/24"}))
    fifo = str(tmp_path / "sysctl.conf")
    os.mkfifo(fifo)
    res = host.module("node_info", {"record_path": str(record), "files": [fifo, str(record)]})
    assert res["recorded"] == {"pod_subnet": "192.168.1.0/24"} and res["record_problem"] == ""
    assert res["files"] == {fifo: {"exists": True, "regular": False, "ours": False},
                            str(record): {"exists": True, "regular": True, "ours": False}}
    res = host.module("node_info", {"record_path": fifo})
    assert (res["recorded"], res["record_problem"]) == ({}, "is a FIFO, not a regular file")
    # Whether systemd runs, and the reconcile command's files (read only).
    assert res["systemd"] is os.path.isdir("/run/systemd/system")
    assert sorted(res["reconcile_files"]) == sorted(DEFAULT_LAYOUT.marked_files())

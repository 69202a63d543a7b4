"""Helpers for the allocation scenario's stage checks."""

import json

import pytest

from testinfra_lab import lab_host, record

EXPECTED = {
    # host1 is explicit; the others get the lowest free /24s in name order.
    "host1": "192.168.9.0/24",
    "host2": "192.168.0.0/24",
    "host3": "192.168.1.0/24",
    "host4": "192.168.2.0/24",
}
NODE_IP = {"host1": "10.168.0.1", "host2": "10.168.0.2", "host3": "10.168.0.3", "host4": "10.168.0.4"}


def tagged_routes(name):
    out = lab_host(name).check_output("ip -json route show table main proto hostgw")
    return sorted((r["dst"], r.get("gateway")) for r in (json.loads(out) if out.strip() else []))


def bridge_addresses(name):
    out = lab_host(name).check_output("ip -4 -json addr show dev cni0")
    return [("%s/%d" % (a["local"], a["prefixlen"])) for a in json.loads(out)[0]["addr_info"]]


@pytest.fixture
def check_cluster():
    def check(members):
        for name in members:
            assert record(name)["pod_subnet"] == EXPECTED[name], name
            subnet = EXPECTED[name]
            assert bridge_addresses(name) == [subnet.replace(".0/24", ".1/24")]
            want = sorted((EXPECTED[p], NODE_IP[p]) for p in members if p != name)
            assert tagged_routes(name) == want, name
    return check

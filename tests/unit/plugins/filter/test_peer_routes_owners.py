"""hostgw_peer_routes / hostgw_peer_route_lines with owners: only the routes
to some hosts (playbooks/scale.yml gives each existing host its routes to
the new ones)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.hostgw.plugins.filter import hostgw as f
from tests.unit.plugins.filter.test_hostgw import PLAN


def test_owners_keep_only_the_routes_to_those_hosts():
    assert f.hostgw_peer_route_lines(PLAN, "host1", owners=["host3"]) == ["192.168.2.0/24 via 10.168.0.3 dev eth0"]
    assert f.hostgw_peer_routes(PLAN, "host2", owners=["host1", "host3"]) == f.hostgw_peer_routes(PLAN, "host2")
    assert f.hostgw_peer_route_lines(PLAN, "host3", owners=["host3"]) == []
    assert f.hostgw_peer_route_lines(PLAN, "host3", owners=[]) == []


def test_owners_must_be_hosts_of_the_plan():
    with pytest.raises(AnsibleFilterError, match="host9 is not in the cluster plan"):
        f.hostgw_peer_route_lines(PLAN, "host1", owners=["host9"])
    with pytest.raises(AnsibleFilterError, match="owners must be a list of host names"):
        f.hostgw_peer_route_lines(PLAN, "host1", owners="host3")

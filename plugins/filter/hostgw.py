# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Views of the cluster plan (module_utils/cluster.py) for templates and roles.

Address math lives on Python's ipaddress: the controller needs nothing beyond
ansible-core (no netaddr, no ansible.utils).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.hostgw.plugins.module_utils import cluster


def _check_plan(plan):
    if not isinstance(plan, dict) or "nodes" not in plan or "routes" not in plan:
        raise AnsibleFilterError("expected the cluster plan (__hostgw_plan), got %r" % type(plan).__name__)


def hostgw_peer_routes(plan, name):
    """NAME's peer routes ``[{dest, via, dev}]``, both families, from the plan."""
    _check_plan(plan)
    if name not in plan["nodes"]:
        raise AnsibleFilterError("host %s is not in the cluster plan" % name)
    return cluster.peer_routes(plan, name)


def hostgw_route_map(plan):
    """Every node's peer routes: ``{name: [{dest, via, dev}, ...]}``."""
    _check_plan(plan)
    return dict((name, cluster.peer_routes(plan, name)) for name in sorted(plan["nodes"]))


def hostgw_route_lines(routes, protocol="hostgw"):
    """``ip route`` lines for ROUTES, as an operator would type them."""
    return ["%s via %s dev %s proto %s" % (r["dest"], r["via"], r["dev"], protocol) for r in routes]


class FilterModule(object):
    def filters(self):
        return {
            "hostgw_peer_routes": hostgw_peer_routes,
            "hostgw_route_map": hostgw_route_map,
            "hostgw_route_lines": hostgw_route_lines,
        }

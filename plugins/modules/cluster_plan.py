#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cluster_plan
short_description: Allocate pod subnets and validate the whole cluster, once, before any change
version_added: 0.1.0
description:
  - An action that runs on the controller only. Run it with C(run_once) after
    M(podnet.hostgw.node_info) has been registered on every host.
  - Gives every host a pod subnet per family, explicit C(hostgw_pod_subnet)
    first, then the assignment recorded on the host, then the lowest free
    block of the cluster CIDR (hosts in name order, so a new cluster's
    assignment is deterministic and C(--check) shows it).
  - Fails with one message listing every problem, naming the hosts and
    quoting the values, when anything would make the pod network wrong -
    subnets outside the cluster CIDR or overlapping each other or an
    underlay network, duplicate or foreign node IPs, peers not reachable
    on one L2 segment, MTU out of range, an exhausted cluster CIDR.
  - On success returns the plan (cluster settings, every node, the route
    list) as RV(plan). It sets no fact; the P(podnet.hostgw.preflight#role)
    role publishes it as the variable C(hostgw_plan).
author: podnet.hostgw developers
attributes:
  check_mode:
    support: full
    description: Computes only.
  diff_mode:
    support: none
    description: Changes nothing.
  platform:
    platforms: all
    description: Runs on the controller.
options:
  hosts:
    description: The inventory hosts of the pod network.
    type: list
    elements: str
    required: true
  info_var:
    description: Name of the variable each host registered M(podnet.hostgw.node_info) into.
    type: str
    default: __hostgw_info
  cluster_cidr:
    description: The IPv4 pod network.
    type: str
  cluster_cidr_v6:
    description: The IPv6 pod network.
    type: str
  subnet_prefix:
    description: Prefix length of allocated IPv4 pod subnets.
    type: int
    default: 24
  subnet_prefix_v6:
    description: Prefix length of allocated IPv6 pod subnets.
    type: int
    default: 64
  bridge:
    description: Name of the pod bridge.
    type: str
    default: cni0
  bridge_mtu:
    description: Bridge MTU; V(0) means the underlay interface's.
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Plan the cluster
  podnet.hostgw.cluster_plan:
    hosts: "{{ ansible_play_hosts_all }}"
    cluster_cidr: 192.168.0.0/16
  run_once: true
  register: planned
"""

RETURN = r"""
plan:
  description: The whole plan - C(cluster) settings, C(nodes) by host name, the C(routes) list and C(complete).
  returned: success
  type: dict
summary:
  description: The plan's cluster settings, whether it is complete, and its node and route counts.
  returned: success
  type: dict
"""

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
    subnets outside the cluster CIDR, too small for pods or overlapping each
    other or an underlay network, duplicate or foreign node IPs, peers not
    reachable on one L2 segment, MTU out of range, an exhausted cluster CIDR,
    a name, path, choice or boolean setting the modules would refuse, an
    unreadable record, a O(sysctl_file) that is not the collection's, a file
    in the place of the reconcile command or its units that is not the
    collection's (with O(reconcile)), a route
    of another owner holding the place of a planned peer route (unless
    O(route_takeover)).
  - A recorded subnet passes the same checks as an explicit one, and must
    have the prefix O(subnet_prefix); the message says how to keep or
    replace it.
  - A record is evidence about its own host only. A subnet that readable
    peers route with the collection's protocol (O(route_protocol)) to a node
    that could not be read, or that has no subnet of its own on record, is
    never given to another host in that run (the message names both hosts
    and the subnet), and allocation skips it; a route via an address of no
    known host counts too while some host could not be read. A node that was
    read and claims a subnet of its own speaks for itself. When every host
    was read, a route via an address of no host is a stale one of a removed
    or re-addressed node.
  - Linear in the number of routes the hosts report, O(N log N) in hosts.
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
  settings_var:
    description:
      - Name of the variable in which each host set its own C(hostgw_pod_subnet),
        C(hostgw_pod_subnet_v6), C(hostgw_node_ip), C(hostgw_node_ip_v6) and
        C(hostgw_interface) (a dict by those names), templated in its own play
        so that play variables (an imported playbook's C(vars), a play's
        C(vars)) count.
      - A host without it - what the P(podnet.hostgw.preflight#role) role does -
        the C(settings) that M(podnet.hostgw.node_info) returned into O(info_var).
      - A host without either, and C(ansible_host), are read from C(hostvars),
        which hold inventory variables, facts and extra vars, but never play
        variables.
    type: str
    default: __hostgw_host_settings
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
  route_protocol:
    description: The route protocol tag of the collection's routes (C(hostgw_route_protocol)).
    type: str
    default: hostgw
  route_takeover:
    description: Routes of another owner may be replaced (C(hostgw_route_takeover)); no takeover conflict is reported.
    type: raw
    default: false
  record_path:
    description: Where each host's record lives (C(hostgw_record_path)); messages quote it.
    type: str
  sysctl_file:
    description: The kernel parameter file the collection owns whole (C(hostgw_sysctl_file)).
    type: str
  netfilter_name:
    description: The netfilter table name (C(hostgw_netfilter_name)).
    type: str
  netfilter_backend:
    description: C(hostgw_netfilter_backend), one of V(auto), V(nftables), V(iptables).
    type: str
  cni_conf_dir:
    description: C(hostgw_cni_conf_dir), an absolute path.
    type: str
  cni_conf_file:
    description: C(hostgw_cni_conf_file), a file name ending in C(.conflist).
    type: str
  cni_network_name:
    description: C(hostgw_cni_network_name).
    type: str
  cni_version:
    description: C(hostgw_cni_version).
    type: str
  flannel_subnet_env_path:
    description: C(hostgw_flannel_subnet_env_path), an absolute path.
    type: str
  masquerade:
    description: C(hostgw_masquerade), checked to be a boolean as Ansible reads one.
    type: raw
  route_purge:
    description: C(hostgw_route_purge), checked to be a boolean.
    type: raw
  route_nexthop_objects:
    description: C(hostgw_route_nexthop_objects), checked to be a boolean.
    type: raw
  local_fact:
    description: C(hostgw_local_fact), checked to be a boolean.
    type: raw
  cni_default_route:
    description: C(hostgw_cni_default_route), checked to be a boolean.
    type: raw
  cni_hairpin:
    description: C(hostgw_cni_hairpin), checked to be a boolean.
    type: raw
  cni_portmap:
    description: C(hostgw_cni_portmap), checked to be a boolean.
    type: raw
  flannel_subnet_env:
    description: C(hostgw_flannel_subnet_env), checked to be a boolean.
    type: raw
  reconcile:
    description:
      - C(hostgw_reconcile), checked to be a boolean. When true, a file at one of the paths the
        M(podnet.hostgw.reconcile_command) module installs that is not the collection's stops the run.
    type: raw
  reconcile_interval:
    description: C(hostgw_reconcile_interval), a whole number of seconds from 1 to 86400.
    type: raw
  reconcile_watch:
    description: C(hostgw_reconcile_watch), checked to be a boolean.
    type: raw
notes:
  - Every setting is optional here and only checked when given; the
    P(podnet.hostgw.preflight#role) role passes them all.
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

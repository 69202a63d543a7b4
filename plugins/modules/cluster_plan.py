#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

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
  - Linear in the number of routes the hosts report, N log N in the number of hosts.
  - On success returns the plan (cluster settings, every node, the route
    list) as RV(plan). It sets no fact; the P(podnet.hostgw.preflight#role)
    role publishes it as the variable C(hostgw_plan).
  - A host's own M(podnet.hostgw.node_info) result (O(info_var)) counts only
    when the host is in the play; the hosts the play does not read itself
    are read by delegation and passed as O(read_var). With O(prepare) it
    plans nothing and says which hosts those are, or hands back the plan an
    earlier C(serial) batch of the same play made - one plan per play, made
    from the whole group, whatever the batches.
author: podnet.hostgw developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Computes only.
  diff_mode:
    support: none
    description: Changes nothing.
  platform:
    support: full
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
  read_var:
    description:
      - Name of the variable a loop of M(podnet.hostgw.node_info) with C(delegate_to) over RV(read)
        registered into (C(run_once)). Each item's result stands for the host named by its C(item). An
        unreachable host is not read this run; a failed read is a problem.
    type: str
    default: __hostgw_info_read
  planned_var:
    description: Name of the variable this action's plan was registered into (O(prepare) looks for an earlier batch's).
    type: str
    default: __hostgw_planned
  prepare:
    description:
      - Plan nothing. Return RV(plan), the plan an earlier C(serial) batch of the same play made, when
        every host of this batch was read for it; else RV(read), the hosts of O(hosts) outside this batch
        that the play does not read itself (hosts of its later batches, and with O(read_group) the hosts
        outside C(--limit)).
      - Run it before any host is read, so the batch is whole.
    type: bool
    default: false
  read_group:
    description:
      - With O(prepare), also list the hosts of O(hosts) outside the play (C(--limit)), so the plan is made
        from a complete view though only the play's hosts are changed (C(hostgw_read_whole_group)).
    type: bool
    default: false
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
        variables. So are the hosts read by delegation (a later C(serial)
        batch, or outside C(--limit)), which have not run the role yet.
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
  cni_plugins_install:
    description: C(hostgw_cni_plugins_install), checked to be a boolean.
    type: raw
  cni_plugins_package:
    description: C(hostgw_cni_plugins_package), checked to be a package name.
    type: str
  cni_plugins_dir:
    description: C(hostgw_cni_plugins_dir), an absolute path.
    type: str
  cni_bin_dir:
    description: C(hostgw_cni_bin_dir), an absolute path other than O(cni_plugins_dir).
    type: str
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

# In a play with serial, or to plan from hosts outside --limit (as the
# preflight role does): which hosts to read, or an earlier batch's plan.
- name: Take an earlier batch's plan, or list the hosts to read by delegation
  podnet.hostgw.cluster_plan:
    hosts: "{{ groups['hostgw_nodes'] }}"
    prepare: true
  run_once: true
  register: __hostgw_prepared
"""

RETURN = r"""
plan:
  description:
    - The whole plan - C(cluster) settings, C(nodes) by host name, the C(routes) list and C(complete).
    - With O(prepare), the plan of an earlier batch of the play, or V(null).
  returned: success
  type: dict
read:
  description: With O(prepare), the hosts to read by delegation before planning (none when RV(plan) is given).
  returned: when O(prepare)
  type: list
  elements: str
play:
  description: The play the plan was made in (an earlier batch's plan is taken only within the same play).
  returned: success, without O(prepare)
  type: str
summary:
  description: The plan's cluster settings, whether it is complete, and its node and route counts.
  returned: success
  type: dict
"""

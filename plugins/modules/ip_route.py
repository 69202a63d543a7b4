#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: ip_route
short_description: Manage a set of kernel routes tagged with a dedicated protocol, with iproute2
version_added: 0.1.0
description:
  - Adds, changes and removes IPv4 and IPv6 routes with C(ip route), the way host-gw pod
    networking needs them, for example C(192.168.1.0/24 via 10.168.0.2 dev eth0) on every peer.
  - Every route the module writes carries a dedicated routing protocol tag (O(protocol),
    number O(protocol_number)). That tag is how the module knows which routes are its own.
    With O(purge=true) it removes its own routes that are not in O(routes), and never a route
    with any other protocol (C(kernel), C(boot), C(static), C(dhcp), C(bird), ...).
  - Reads the kernel state once per table and address family with C(ip -json route show),
    compares normalised values, and applies every difference in one C(ip -batch -) run.
    A changed next hop is one C(ip route replace) (no moment without a route); removals use
    C(ip route del) with the full route including the protocol, so the kernel itself refuses
    to delete a route of another owner.
  - A route is identified by its address family, O(routes[].table), O(routes[].dest) and
    O(routes[].metric) (what C(ip route replace) keys on). A route of this module with the
    same identity but another O(routes[].via), O(routes[].dev), O(routes[].onlink) or
    O(routes[].src) is changed in place.
  - A new O(routes[].metric) for a destination is a new identity, so the module adds the route
    with the new metric first and then deletes its own route with the old metric (reported
    in RV(modified)), with or without O(purge).
  - If the identity of a wanted route is held by a route of another protocol (a routing daemon
    such as BIRD, a C(proto static) route added by hand, ...), the module never re-tags or
    deletes it by default. When that route is identical to the wanted one (same via, dev,
    onlink, src) it already carries the traffic - it is left in place, named in a warning and
    in RV(foreign), and is not a change. When it differs the module fails naming it. Only with
    O(takeover=true) does the module replace it with its own route (an identical one is then
    adopted, re-tagged with the module's protocol, reported in RV(modified)). Routes the
    kernel made itself (C(proto kernel), such as the connected route of an address, and
    C(proto redirect)) are never adopted or taken over.
  - Everything is validated before anything runs, and every bad entry is reported with its
    index and value. Nothing is ever fixed silently (for example a O(routes[].dest) with host
    bits set is an error that names the corrected prefix). No value ever reaches a shell.
  - Runs wherever C(ip) (iproute2 with C(-json) support) runs.
author:
  - podnet.hostgw developers (!UNKNOWN)
extends_documentation_fragment:
  - podnet.hostgw.attributes
  - podnet.hostgw.attributes.platform
attributes:
  check_mode:
    support: full
    details:
      - Check mode computes the same plan, batch lines and results as a real run. It cannot
        know which lines the kernel would reject (for example an unreachable next hop).
  diff_mode:
    support: full
    details:
      - The diff shows the routes carrying the module's protocol in the tables read, one
        C(ip route) style line each, sorted.
      - With O(state_file), a second diff entry shows the file's C(routes) section before and
        after.
  platform:
    platforms: linux
requirements:
  - iproute2 with C(-json) support (C(ip -json route)), for example iproute2 4.14 or later.
options:
  routes:
    description:
      - The routes to manage.
      - With O(purge=false) routes not listed here are left alone.
      - Each entry is a dict with the keys below, or the same route as one line in
        C(ip route) syntax, V(DEST [via GW] [dev DEV] [metric N] [table T] [src S] [onlink]),
        for example V(192.168.1.0/24 via 10.168.0.2 dev eth0). The line form is parsed
        and validated exactly like the dict form (an unknown word is an error); it is
        much cheaper for Ansible to pass along at thousands of routes.
    type: list
    elements: raw
    default: []
    suboptions:
      dest:
        description:
          - Destination prefix, IPv4 or IPv6; the address family of the route follows from it.
          - Must be the network address of the prefix (V(192.168.1.0/24), not V(192.168.1.5/24)).
          - An address without a prefix length is a host route (V(/32) or V(/128)).
          - V(default) is accepted together with O(routes[].via), which tells the family;
            otherwise write V(0.0.0.0/0) or V(::/0).
        type: str
        required: true
      via:
        description:
          - Next hop (gateway) address, in the same family as O(routes[].dest).
          - For host-gw this is the peer's underlay address; it must be on a network directly
            connected to O(routes[].dev) unless O(routes[].onlink=true).
          - Omit for a direct route, then O(routes[].dev) is required.
          - An IPv6 link-local next hop needs O(routes[].dev).
        type: str
      dev:
        description:
          - Output interface. Without it the kernel picks the device, as C(ip route) does,
            and the module does not compare the device.
          - 1 to 15 bytes, no whitespace and none of C(/), C(:), C(#), quotes or backslash;
            not V(.) or V(..). An alternative name (C(altname)) is resolved to the
            interface's name.
        type: str
      metric:
        description:
          - Route metric (priority), 0 to 4294967295. Part of the route's identity.
          - Defaults to V(0) for IPv4 and V(1024) for IPv6 (the kernel stores an IPv6 metric
            0 as 1024, so V(0) is read as V(1024) for IPv6).
          - With O(routes[].state=absent) and no metric, the module's routes to
            O(routes[].dest) in that table are removed whatever their metric.
        type: int
      table:
        description:
          - Routing table, a number 1 to 4294967295 or V(main), V(local), V(default).
            Names from C(rt_tables) are not resolved.
          - Defaults to V(main).
        type: str
      onlink:
        description:
          - Pretend the next hop is directly attached to O(routes[].dev) (C(ip route ... onlink)).
        type: bool
        default: false
      src:
        description:
          - Preferred source address (C(ip route ... src)), same family as O(routes[].dest).
          - Only compared when set; a route's C(prefsrc) and C(scope) are otherwise ignored.
        type: str
      state:
        description:
          - Whether this route should exist. Defaults to O(state).
          - V(absent) removes only routes carrying the module's protocol; a route of another
            protocol with the same identity is left in place with a warning.
        type: str
        choices: [present, absent]
  state:
    description:
      - Default for O(routes[].state).
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - Remove every route carrying the module's protocol (O(protocol), O(protocol_number)) that
        is not in O(routes), in both address families, in the tables the module was given -
        the tables of O(routes) plus O(tables) (V(main) if neither names one).
      - Never removes a route of another protocol (not even one identical to a wanted route,
        see RV(foreign)), nor anything in other tables.
    type: bool
    default: false
  tables:
    description:
      - More tables for O(purge), so that O(purge=true) can empty a table no route in
        O(routes) refers to. Same values as O(routes[].table).
    type: list
    elements: str
    default: []
  takeover:
    description:
      - Replace a route of another protocol that holds the identity of a wanted route with the
        module's own route. An identical one is adopted (re-tagged with the module's protocol,
        so the module manages and may later purge it); a different one is replaced.
      - By default (V(false)) such a route is never changed or deleted. An identical one is
        left in place, reported in a warning and in RV(foreign), and is not a change; a
        different one makes the module fail naming it.
      - Routes of protocol C(kernel) or C(redirect) are never adopted or taken over.
    type: bool
    default: false
  protocol:
    description:
      - Name of the routing protocol tag of the module's routes (what C(ip route) shows
        after C(proto)). Letters, digits, C(_), C(.), C(-), starting with a letter.
      - Must not be a well-known protocol name (C(kernel), C(boot), C(static), C(dhcp),
        C(bird), ...) nor mapped to another number in C(rt_protos) files.
      - Routes are matched by both the name and the number, because C(ip -json route) prints
        the name only where the mapping file exists.
    type: str
    default: hostgw
  protocol_number:
    description:
      - Number of the protocol tag, 1 to 255. Must not be a number the kernel or iproute2
        already names (0-4 are the kernel's own, 8-18, 42, 99, 186-192 belong to routing
        daemons) nor mapped to another name in C(rt_protos) files.
      - The default V(252) is not used by the kernel, iproute2, FRR, BIRD, keepalived or
        systemd-networkd.
      - Changing it on a host with existing routes makes the old routes foreign to the module.
    type: int
    default: 252
  protos_dir:
    description:
      - Directory where the module makes sure C(<protocol>.conf) maps O(protocol_number) to
        O(protocol) (content C(252 hostgw)), so C(ip route) shows the name. The file is
        written when missing or wrong (reported as changed; not written in check mode).
      - Set to an empty string to never write the file.
      - The mapping files of C(/etc/iproute2) and C(/usr/share/iproute2) are always read to
        detect a conflicting mapping.
    type: path
    default: /etc/iproute2/rt_protos.d
  nexthop_objects:
    description:
      - Write every gateway route (one with O(routes[].via)) through a nexthop object
        (C(ip nexthop)) of the module instead of with its own next hop. C(ip route) then shows
        C(192.168.1.0/24 nhid 264241152 via 10.168.0.2 dev eth0 proto 252) and
        C(ip nexthop) shows C(id 264241152 via 10.168.0.2 dev eth0 scope link proto 252).
        Direct routes (no O(routes[].via)) are written as before.
      - Use it for large clusters (thousands of peers). Each host-gw route has its own gateway,
        and the kernel's IPv4 C(fib_info) hash leaves the gateway out, so adding or replacing
        N plain routes costs time quadratic in N (about 1.6 s of kernel time for 10 000 routes
        in one C(ip -batch)); the same routes through nexthop objects cost about 0.14 s.
        Below a few hundred peers there is no gain.
      - One object per distinct address family, O(routes[].via), O(routes[].dev) and
        O(routes[].onlink), carrying the module's protocol (C(proto 252)); routes sharing a
        next hop share the object. O(routes[].dev) is required on every gateway route.
        O(routes[].onlink) goes to the object, O(routes[].src) stays on the route.
      - Ids are deterministic and never collide - an object of the module with the same
        next hop keeps its id; a new one gets the lowest id no object (of any owner) uses in
        the module's block O(protocol_number) * 2^20 to (O(protocol_number) + 1) * 2^20 - 1
        (264241152 to 265289727 for 252).
      - The module's objects are those with its protocol. They are created before the routes
        that use them, and every object of the module that no route uses afterwards is deleted
        at the end of the same run (in any table and either family - the module reads all
        tables before deleting one; with or without O(purge), since they are the module's
        implementation and not part of O(routes)). An object of another protocol is never
        changed or deleted, and neither is an object of the module a route outside the module's
        reach still uses.
      - Switching the option either way converges in one run. With V(true) a route of the
        module written with a plain next hop is replaced in place by one through an object;
        with V(false) a route of the module through an object is replaced by a plain one and
        the objects left unused are deleted. The next run is a no-op.
      - Needs nexthop object support (Linux 5.3 and iproute2 5.3 or later); the module fails
        with a clear message otherwise.
      - RV(added), RV(removed), RV(routes) and the diff end such routes with C(nhid ID);
        RV(commands) starts with C(nexthop add) lines and ends with C(nexthop del) lines.
    type: bool
    default: false
  state_file:
    description:
      - The host's desired-state file (the roles use C(/etc/podnet/hostgw-state.json)), which
        the C(podnet-hostgw-reconcile) command reads to re-add missing routes and repair
        altered ones between playbook runs (after a link flap, say). Unset, no state is written.
      - The module keeps its C(routes) section there - O(protocol), O(protocol_number),
        O(nexthop_objects), the tables it manages and the routes - updated inside the
        host-wide lock before the kernel is changed, so the command never sees a kernel and a
        file that do not belong together (a purged route is never re-added from an older
        file). The file is written atomically (a temporary file in the same directory, then a
        rename).
      - The section follows what the run leaves in the kernel - present routes are recorded,
        routes O(routes[].state=absent) names are dropped, a route moved to a new metric is
        recorded at the new one, and with O(purge) every recorded route of the tables read that
        is not in O(routes) is dropped. Routes a run does not touch stay recorded. A new
        O(protocol) or O(protocol_number) starts the section afresh.
      - A section left without routes is removed; removing the file's last section deletes the
        file.
      - A change of the section is a change of the task (and in check mode is only reported);
        the diff shows it as a second entry.
      - A file at this path that is not the collection's state file is never overwritten - the
        module fails. A damaged one of the collection's (truncated, edited by hand, bad
        checksum) is replaced, with a warning.
    type: path
notes:
  - All commands run as argument vectors with C(LC_ALL=C); route lines go to C(ip -batch -) on
    standard input and control characters are rejected before that.
  - A failing batch line does not stop the others (C(ip -force)). After a failure the module
    reads the tables again and reports which changes were applied and which were not, with
    the kernel's error translated (for example an unreachable next hop). Running it again
    converges.
  - Fast for large sets (10 000 routes) - one C(ip -json) read per table and family, dict
    lookups, one C(ip -batch). For that reason RV(added), RV(removed) and RV(routes) are lists
    of lines, not dicts.
  - Reads, plans and applies while holding the collection's host-wide lock
    (C(/run/lock/podnet-hostgw.lock), an C(flock)), in check mode too, so two runs on a host
    never interleave. It waits up to 300 s for another holder.
seealso:
  - name: ip-route(8)
    description: The C(ip route) manual page.
    link: https://man7.org/linux/man-pages/man8/ip-route.8.html
"""

EXAMPLES = r"""
# Host1 (underlay 10.168.0.1, pod subnet 192.168.0.0/24) reaches Host2's pods:
- name: Host1 routes to its peers' pod subnets
  podnet.hostgw.ip_route:
    routes:
      - dest: 192.168.1.0/24
        via: 10.168.0.2
        dev: eth0

# Host2 (underlay 10.168.0.2, pod subnet 192.168.1.0/24) reaches Host1's pods:
- name: Host2 routes to its peers' pod subnets
  podnet.hostgw.ip_route:
    routes:
      - dest: 192.168.0.0/24
        via: 10.168.0.1
        dev: eth0

- name: Exactly these pod routes; remove routes of this module to nodes that left the cluster
  podnet.hostgw.ip_route:
    routes: "{{ groups['nodes'] | difference([inventory_hostname])
                | map('extract', hostvars)
                | map(attribute='pod_route') | list }}"
    purge: true

- name: Dual stack, with the IPv6 pod subnet too
  podnet.hostgw.ip_route:
    routes:
      - {dest: 192.168.1.0/24, via: 10.168.0.2, dev: eth0}
      - {dest: "fd00:1:1::/64", via: "fd00:10::2", dev: eth0}

- name: A default route in a separate table, kept at metric 100
  podnet.hostgw.ip_route:
    routes:
      - dest: default
        via: 10.168.0.254
        table: 100
        metric: 100

- name: Remove one peer's route (only if this module made it)
  podnet.hostgw.ip_route:
    routes:
      - dest: 192.168.1.0/24
        state: absent

- name: Empty table 100 of every route of this module, leave everything else
  podnet.hostgw.ip_route:
    routes: []
    tables: [100]
    purge: true

- name: Thousands of peers - routes through nexthop objects (needs Linux 5.3 or later)
  podnet.hostgw.ip_route:
    routes: "{{ peer_route_lines }}"    # ["192.168.1.0/24 via 10.168.0.2 dev eth0", ...]
    nexthop_objects: true
    purge: true

- name: Preview the change with the route diff
  podnet.hostgw.ip_route:
    routes:
      - {dest: 192.168.1.0/24, via: 10.168.0.3, dev: eth0}
  check_mode: true
  diff: true
"""

RETURN = r"""
added:
  description: Routes added, as C(ip route) arguments (C(DEST [via GW] [dev DEV] [src SRC] [onlink] table TABLE metric METRIC)), sorted.
  returned: success
  type: list
  elements: str
  sample: ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0"]
removed:
  description: Routes of the module removed (purged or O(routes[].state=absent)), same format as RV(added).
  returned: success
  type: list
  elements: str
  sample: ["192.168.7.0/24 via 10.168.0.7 dev eth0 table main metric 0"]
modified:
  description:
    - Routes replaced in place (next hop, device, onlink, src), given a new metric, or (with
      O(takeover=true)) adopted from / taken over from another protocol. Named C(modified)
      because C(changed) is the task's changed flag.
  returned: success
  type: list
  elements: dict
  contains:
    before:
      description: The route before; ends with C(proto NAME) when it belonged to another protocol.
      type: str
    after:
      description: The route after.
      type: str
    reason:
      description: What differs, for example C(via 10.168.0.2 -> 10.168.0.3) or C(metric 0 -> 100).
      type: str
  sample: [{before: "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0",
            after: "192.168.1.0/24 via 10.168.0.3 dev eth0 table main metric 0",
            reason: "via 10.168.0.2 -> 10.168.0.3"}]
foreign:
  description:
    - Routes of another protocol identical to a wanted route (same destination, next hop,
      metric, table), left in place because they already carry the traffic; same format as
      RV(added), ending with C(proto NAME). Sorted.
    - They are not the module's - not changed, not purged, not in the diff. O(takeover=true)
      adopts the ones not made by the kernel itself.
  returned: success
  type: list
  elements: str
  sample: ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0 proto bird"]
routes:
  description:
    - The routes carrying the module's protocol afterwards, in the tables and families the module
      read, sorted; same format as RV(added). After a failed batch, what the kernel holds.
  returned: always, unless validation failed
  type: list
  elements: str
  sample: ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0"]
commands:
  description:
    - The C(ip -batch) lines run, or that would run in check mode; empty when nothing changes.
    - Replacements and additions come first, deletions last. With O(nexthop_objects), new
      nexthop objects come before all of them and deletions of unused ones after all of them.
    - Tables and protocols are given as numbers (C(table 254), C(proto 252)) - iproute2 caches
      name lookups, and in one batch a name that follows a number can resolve to that number.
  returned: success
  type: list
  elements: str
  sample: ["route replace 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252"]
nexthops:
  description:
    - The module's nexthop objects created and deleted, as C(ip nexthop) lines
      (C(id ID via GW dev DEV [onlink] proto NUMBER)), in batch order.
    - Only when nexthop objects were read - with O(nexthop_objects=true), or when a route of the
      module uses one.
  returned: success, when nexthop objects were read
  type: dict
  contains:
    added:
      description: Objects created.
      type: list
      elements: str
    removed:
      description: Objects of the module deleted because no route uses them any more.
      type: list
      elements: str
  sample: {added: ["id 264241153 via 10.168.0.3 dev eth0 proto 252"],
           removed: ["id 264241152 via 10.168.0.2 dev eth0 proto 252"]}
protocol:
  description: The protocol tag used.
  returned: always
  type: dict
  contains:
    name:
      description: O(protocol).
      type: str
    number:
      description: O(protocol_number).
      type: int
  sample: {name: hostgw, number: 252}
protos_file:
  description: The protocol mapping file, and whether it was (or in check mode would be) written.
  returned: when O(protos_dir) is set
  type: dict
  contains:
    path:
      description: Its path.
      type: str
    changed:
      description: Whether it was written.
      type: bool
  sample: {path: /etc/iproute2/rt_protos.d/hostgw.conf, changed: false}
errors:
  description:
    - On failure, one message per problem, as listed in C(msg) - each bad value with the entry
      it belongs to (C(routes[INDEX])), each conflicting route of another protocol, or each batch
      line not applied.
  returned: failure
  type: list
  elements: str
  sample: ["routes[0]: dest '192.168.1.5/24' has host bits set; did you mean 192.168.1.0/24?"]
applied:
  description: After a failed batch, the batch lines whose effect is now in the kernel.
  returned: failure
  type: list
  elements: str
not_applied:
  description: After a failed batch, the lines whose effect is not in the kernel, each with the (translated) error.
  returned: failure
  type: list
  elements: dict
  contains:
    command:
      description: The batch line.
      type: str
    route:
      description: The route, prefixed with C(routes[INDEX]) when it comes from O(routes).
      type: str
    error:
      description: Why it failed, in ops terms, with the kernel's message.
      type: str
  sample: [{command: "route replace 192.168.2.0/24 via 10.99.0.2 dev eth0 table 254 metric 0 proto 252",
            route: "routes[1] 192.168.2.0/24 via 10.99.0.2 dev eth0 table main metric 0",
            error: "next hop 10.99.0.2 is not on a network directly connected to dev eth0; host-gw needs every
              node on one L2 segment (...) (kernel: Nexthop has invalid gateway.)"}]
stderr:
  description: After a failed batch, what C(ip -batch) printed on standard error.
  returned: failure
  type: str
state_file:
  description: The state file, and whether its C(routes) section was (or in check mode would be) changed.
  returned: when O(state_file) is set
  type: dict
  contains:
    path:
      description: Its path.
      type: str
    changed:
      description: Whether the section changed.
      type: bool
  sample: {path: /etc/podnet/hostgw-state.json, changed: false}
"""

import contextlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.hostgw.plugins.module_utils.module_support import (
    fail_problems,
    host_lock,
    ip_command,
    open_state,
    record_state,
)
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import names, state
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.errors import Problems
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.iproute import IpCommandError
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.routes import (
    batch,
    desired,
    kernel,
    nexthops,
    options,
    plan as planner,
    protos,
)
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.routes.model import table_name

# Above this many routes the module does not echo its arguments back: for
# 10 000 routes that alone costs more than the whole ip -batch.
ECHO_ROUTES_MAX = 200


def argument_spec():
    return dict(
        # routes[] entries are validated by options.validate_routes (every bad
        # entry reported with its index; cheaper than Ansible's per-element
        # suboption validation at 10 000 routes).
        routes=dict(type="list", elements="raw", default=[]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        purge=dict(type="bool", default=False),
        tables=dict(type="list", elements="str", default=[]),
        takeover=dict(type="bool", default=False),
        protocol=dict(type="str", default=names.DEFAULT_PROTOCOL_NAME),
        protocol_number=dict(type="int", default=names.DEFAULT_PROTOCOL_NUMBER),
        protos_dir=dict(type="path", default="/etc/iproute2/rt_protos.d"),
        nexthop_objects=dict(type="bool", default=False),
        state_file=dict(type="path"),
    )


class IpRoute(object):
    """One run of the module: validate everything, then read the kernel,
    plan and apply under the host-wide lock (in check mode too, so the
    prediction is made from a state no other run is changing)."""

    def __init__(self, module):
        self.module = module
        p = module.params
        self.name = p["protocol"]
        self.number = p["protocol_number"]
        self.ours = frozenset((str(self.number), self.name))
        self.own_file = os.path.join(p["protos_dir"], "%s.conf" % self.name) \
            if p["protos_dir"] else None
        self.result = dict(changed=False, protocol=dict(name=self.name, number=self.number))
        if len(p["routes"] or ()) > ECHO_ROUTES_MAX:
            self.result["invocation"] = dict(module_args=dict(
                p, routes="(%d routes, not echoed back)" % len(p["routes"])))
        self.ip = None

    def run(self):
        wanted, reads = self.validate()
        with host_lock(self.module, **self.result):
            self.ip = ip_command(self.module)
            wanted = self.resolve_devices(wanted)
            seen = self.read(reads)
            plan = self.plan(wanted, seen)
            file_changed = self.ensure_protos_file()
            self.report(plan, reads, file_changed)
            if self.module.params["state_file"]:
                self.record(wanted, reads)
            if plan.commands and not self.module.check_mode:
                self.apply(plan, reads, file_changed)
        self.module.exit_json(**self.result)

    def validate(self):
        """The wanted routes and the tables to read, or a failure naming
        every bad value; nothing on the host is read but the rt_protos files."""
        p = self.module.params
        problems = Problems(names.route_protocol_problems(self.name, self.number))
        if not problems:
            problems.extend(protos.protocol_conflicts(
                self.name, self.number, protos.read_mappings(p["protos_dir"], self.own_file)))
        wanted, route_problems = options.validate_routes(p["routes"], p["state"])
        tables, table_problems = options.validate_tables(p["tables"])
        problems.extend(route_problems)
        problems.extend(table_problems)
        if p["nexthop_objects"] and not route_problems:
            problems.extend(nexthops.mode_problems(wanted))
        if problems:
            fail_problems(self.module, "invalid parameters, nothing was changed", problems,
                          **self.result)
        return wanted, kernel.tables_to_read(wanted, tables, p["purge"])

    @contextlib.contextmanager
    def ip_errors(self):
        try:
            yield
        except IpCommandError as exc:
            self.module.fail_json(msg=str(exc), rc=exc.rc, stderr=exc.stderr, **self.result)

    def resolve_devices(self, wanted):
        with self.ip_errors():
            wanted, problems = kernel.resolve_devices(self.ip, wanted)
        if problems:
            fail_problems(self.module, "missing devices, nothing was changed", problems,
                          **self.result)
        return wanted

    def read(self, reads):
        with self.ip_errors():
            return kernel.read_state(self.ip, reads, self.ours,
                                     nexthop_objects=self.module.params["nexthop_objects"])

    def plan(self, wanted, seen):
        p = self.module.params
        with self.ip_errors():      # other_refs reads the other tables
            plan = planner.plan(wanted, seen.routes, self.ours, self.number, purge=p["purge"],
                                takeover=p["takeover"], nexthop_objects=p["nexthop_objects"],
                                nexthops=seen.nexthops, other_refs=seen.other_refs)
        if plan.conflicts:
            fail_problems(self.module, "routes held by another protocol, nothing was changed",
                          plan.conflicts, **self.result)
        for w in plan.warnings:
            self.module.warn(w)
        return plan

    def ensure_protos_file(self):
        """Make the protos file map our number to our name.  True if it was
        (or, in check mode, would be) written."""
        path = self.own_file
        if not path:
            return False
        try:
            with open(path) as fh:
                current = fh.read()
        except (OSError, UnicodeDecodeError):
            current = None
        changed = current is None or not protos.maps_only(current, self.name, self.number)
        self.result["protos_file"] = dict(path=path, changed=changed)
        if not changed or self.module.check_mode:
            return changed
        directory = os.path.dirname(path)
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + self.name + ".", suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                fh.write(protos.mapping_text(self.name, self.number))
            os.chmod(tmp, 0o644)
        except OSError as exc:
            self.module.fail_json(msg="cannot write %s: %s (set protos_dir to another directory, "
                                      "or to an empty string to skip it)" % (path, exc),
                                  **self.result)
        self.module.atomic_move(tmp, path)
        return True

    def report(self, plan, reads, file_changed):
        self.result.update(plan.result())
        self.result["changed"] = plan.changed or file_changed
        if self.module._diff:
            header = "routes proto %s (%s) in table %s" % (
                self.name, self.number,
                ", ".join(sorted(set(table_name(t) for _f, t in reads))) or "-")
            self.result["diff"] = dict(
                before="".join(line + "\n" for line in plan.before),
                after="".join(line + "\n" for line in plan.after),
                before_header=header, after_header=header)

    def record(self, wanted, reads):
        """The state file's routes section: the routes this host keeps after
        the run (see routes.desired), or none when there are none."""
        p = self.module.params
        doc = open_state(self.module, p["state_file"], **self.result)
        old = doc.section("routes")
        same_tag = old is not None and (old["protocol"], old["protocol_number"]) == (
            self.name, self.number)
        lines, tables = desired.merge(old["routes"] if same_tag else (), wanted, reads, p["purge"])
        section = None
        if lines:
            section = state.routes_section(self.name, self.number, p["nexthop_objects"], tables,
                                           lines)
        record_state(self.module, doc, "routes", section, self.result)

    def apply(self, plan, reads, file_changed):
        """One batch; after a failure, what is and is not in effect."""
        try:
            outcome = batch.apply(self.ip, plan, reads, self.ours)
        except batch.RereadError as exc:
            self.module.fail_json(msg=str(exc), rc=exc.rc, stderr=exc.stderr, **self.result)
        except IpCommandError as exc:
            self.module.fail_json(msg=str(exc), **self.result)
        if outcome.rc == 0:
            return
        self.result["routes"] = outcome.routes
        self.result["changed"] = (bool(outcome.applied) or file_changed
                                  or self.result.get("state_file", {}).get("changed", False))
        if outcome.ok:
            self.module.warn("ip -batch reported errors but every change is in effect: %s"
                             % outcome.stderr.strip())
            return
        self.result.update(applied=outcome.applied, not_applied=outcome.not_applied,
                           rc=outcome.rc, stderr=outcome.stderr)
        fail_problems(self.module, "applied %d of %d route changes; fix the cause and run again, "
                                   "the module converges; not applied"
                      % (len(outcome.applied), len(plan.commands)),
                      outcome.problems(), **self.result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    IpRoute(module).run()


if __name__ == "__main__":
    main()

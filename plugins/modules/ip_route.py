#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
  - If the identity of a wanted route is held by a route of another protocol, the module
    adopts it (re-tags it with its protocol, reported in RV(modified)) only when it is
    identical (same via, dev, onlink, src); otherwise it fails naming that route unless
    O(takeover=true). Routes the kernel made itself (C(proto kernel), such as the connected
    route of an address, and C(proto redirect)) are never adopted or taken over.
  - Everything is validated before anything runs, and every bad entry is reported with its
    index and value. Nothing is ever fixed silently (for example a O(routes[].dest) with host
    bits set is an error that names the corrected prefix). No value ever reaches a shell.
  - Runs wherever C(ip) (iproute2 with C(-json) support) runs.
author:
  - podnet.hostgw contributors
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
      - Never removes a route of another protocol, nor anything in other tables.
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
      - Replace a route of another protocol that holds the identity of a wanted route and
        differs from it. By default the module fails and names that route instead.
      - An identical route of another protocol is adopted either way. Routes of protocol
        C(kernel) or C(redirect) are never taken over.
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
    - Routes replaced in place (next hop, device, onlink, src), given a new metric, or adopted
      from / taken over from another protocol. Named C(modified) because C(changed) is the
      task's changed flag.
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
  description: On a validation failure, one message per problem, each naming the entry (C(routes[INDEX])) and value.
  returned: failure
  type: list
  elements: str
  sample: ["routes[0]: dest 192.168.1.5/24 has host bits set; did you mean 192.168.1.0/24?"]
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
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.hostgw.plugins.module_utils.module_support import ip_command
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.iproute import (
    IpCommand,
    IpCommandError,
)
from ansible_collections.podnet.hostgw.plugins.module_utils import routes as rt

# Files that may name protocols (iproute2 reads the first that exists of each
# pair, plus every *.conf in the .d directories).
PROTOS_FILES = ("/etc/iproute2/rt_protos", "/usr/share/iproute2/rt_protos",
                "/usr/lib/iproute2/rt_protos")
ECHO_ROUTES_MAX = 200
PROTOS_DIRS = ("/etc/iproute2/rt_protos.d", "/usr/share/iproute2/rt_protos.d",
               "/usr/lib/iproute2/rt_protos.d")


def read_mappings(extra_dir, own_file):
    """``[(path, number, name)]`` from every rt_protos file, except OWN_FILE
    (which the module rewrites if it is wrong)."""
    paths = list(PROTOS_FILES)
    dirs = list(PROTOS_DIRS)
    if extra_dir and extra_dir not in dirs:
        dirs.append(extra_dir)
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        paths.extend(os.path.join(d, n) for n in names if n.endswith(".conf"))
    out = []
    own = os.path.realpath(own_file) if own_file else None
    for path in paths:
        if own and os.path.realpath(path) == own:
            continue
        try:
            with open(path) as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError):
            continue
        out.extend((path, num, name) for num, name in rt.parse_protos_text(text))
    return out


def ensure_protos_file(module, path, name, number):
    """Make PATH map NUMBER to NAME.  Returns True if it was (or, in check
    mode, would be) written."""
    try:
        with open(path) as fh:
            current = fh.read()
    except (OSError, UnicodeDecodeError):
        current = None
    if current is not None:
        maps = rt.parse_protos_text(current)
        if (number, name) in maps and all(
                n == number and nm == name for n, nm in maps if n == number or nm == name):
            return False
    if module.check_mode:
        return True
    directory = os.path.dirname(path)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + name + ".", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write("# Written by podnet.hostgw.ip_route: the protocol tag of its routes.\n"
                     "%d %s\n" % (number, name))
        os.chmod(tmp, 0o644)
    except OSError as exc:
        module.fail_json(msg="cannot write %s: %s (set protos_dir to another directory, or "
                             "to an empty string to skip it)" % (path, exc))
    module.atomic_move(tmp, path)
    return True


def read_table(ip, family, table):
    try:
        return ip.json([rt.FAMILY_FLAG[family], "route", "show", "table", rt.table_name(table)])
    except IpCommandError as exc:
        # A table that was never used does not exist yet: it is empty.
        if "table does not exist" in (exc.stderr or ""):
            return []
        raise


def read_kernel(ip, reads):
    return dict(((f, t), rt.parse_kernel_routes(read_table(ip, f, t), f, t)) for f, t in reads)


NEXTHOP_SUPPORT = ("nexthop_objects: true needs nexthop objects (Linux 5.3 or later and iproute2 "
                   "5.3 or later); 'ip -json nexthop show' failed: %s. Set nexthop_objects: false "
                   "on this host")


def read_nexthops(ip):
    return rt.parse_kernel_nexthops(ip.json(["nexthop", "show"]))


def other_refs_reader(ip, reads):
    """A callable returning the nexthop ids used by routes outside READS (all
    tables, both families): an object of ours one of them uses is kept."""
    skip = frozenset(reads)

    def other_refs():
        refs = set()
        for f in rt.FAMILIES:
            refs |= rt.nexthop_refs(ip.json([rt.FAMILY_FLAG[f], "route", "show", "table", "all"]),
                                    f, skip)
        return refs
    return other_refs


def uses_nexthops(kernel, ours):
    """Whether a route of ours in KERNEL uses a nexthop object (only then does
    the module read them with nexthop_objects off)."""
    for routes in kernel.values():
        for r in routes:
            if r.nhid is not None and r.proto in ours:
                return True
    return False


def resolve_devices(ip, wanted):
    """Map alternative names to interface names; errors for missing ones."""
    devs = set(w.dev for w in wanted if w.state == "present" and w.dev is not None)
    if not devs:
        return []
    names = {}
    for link in ip.json(["link", "show"]):
        ifname = link.get("ifname")
        if not ifname:
            continue
        names[ifname] = ifname
        for alt in link.get("altnames") or ():
            names.setdefault(alt, ifname)
    errors = []
    for w in wanted:
        if w.state != "present" or w.dev is None:
            continue
        real = names.get(w.dev)
        if real is None:
            errors.append("routes[%d]: dev %s does not exist on this host (dest %s)"
                          % (w.index, w.dev, w.dest))
        elif real != w.dev:
            w.dev = real
    return errors


def _fail_list(module, what, errors, **extra):
    shown = errors[:50]
    more = "" if len(errors) <= 50 else "\n  ... and %d more" % (len(errors) - 50)
    module.fail_json(msg="%s (%d):\n  %s%s" % (what, len(errors), "\n  ".join(shown), more),
                     errors=errors, **extra)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            # routes[] entries are validated by routes.validate_routes (every
            # bad entry reported with its index; cheaper than Ansible's
            # per-element suboption validation at 10 000 routes).
            routes=dict(type="list", elements="raw", default=[]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            purge=dict(type="bool", default=False),
            tables=dict(type="list", elements="str", default=[]),
            takeover=dict(type="bool", default=False),
            protocol=dict(type="str", default=rt.DEFAULT_PROTOCOL_NAME),
            protocol_number=dict(type="int", default=rt.DEFAULT_PROTOCOL_NUMBER),
            protos_dir=dict(type="path", default="/etc/iproute2/rt_protos.d"),
            nexthop_objects=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name = p["protocol"]
    number = p["protocol_number"]
    protos_dir = p["protos_dir"]
    result = dict(changed=False, protocol=dict(name=name, number=number))
    if len(p["routes"] or ()) > ECHO_ROUTES_MAX:
        # AnsibleModule echoes all parameters back as invocation.module_args;
        # for 10 000 routes that alone costs more than the whole ip -batch.
        result["invocation"] = dict(module_args=dict(
            p, routes="(%d routes, not echoed back)" % len(p["routes"])))

    # 1. validate everything before touching anything
    own_file = os.path.join(protos_dir, "%s.conf" % name) if protos_dir else None
    errors = rt.validate_protocol(name, number)
    if not errors:
        errors = rt.protocol_conflicts(name, number, read_mappings(protos_dir, own_file))
    wanted, route_errors = rt.validate_routes(p["routes"], p["state"])
    tables, table_errors = rt.validate_tables(p["tables"])
    errors.extend(route_errors)
    errors.extend(table_errors)
    nh_mode = p["nexthop_objects"]
    if nh_mode and not route_errors:
        errors.extend(rt.nexthop_mode_errors(wanted))
    if errors:
        _fail_list(module, "invalid parameters, nothing was changed", errors, **result)

    ours = frozenset((str(number), name))

    # 2. which tables/families to read: once each
    reads = set()
    for w in wanted:
        reads.add((w.family, w.table))
    all_tables = set(w.table for w in wanted) | tables
    if not all_tables:
        all_tables.add(rt.MAIN_TABLE)
    if p["purge"]:
        for t in all_tables:
            for f in rt.FAMILIES:
                reads.add((f, t))
    reads = sorted(reads)

    ip = ip_command(module)
    try:
        dev_errors = resolve_devices(ip, wanted)
        if dev_errors:
            _fail_list(module, "missing devices, nothing was changed", dev_errors, **result)
        kernel = read_kernel(ip, reads)
    except IpCommandError as exc:
        module.fail_json(msg=str(exc), rc=exc.rc, stderr=exc.stderr, **result)
    nexthops = None
    if nh_mode or uses_nexthops(kernel, ours):
        try:
            nexthops = read_nexthops(ip)
        except IpCommandError as exc:
            module.fail_json(msg=NEXTHOP_SUPPORT % ((exc.stderr or "").strip() or exc)
                             if nh_mode else str(exc), rc=exc.rc, stderr=exc.stderr, **result)

    # 3. plan
    try:
        plan = rt.plan(wanted, kernel, ours, number, purge=p["purge"], takeover=p["takeover"],
                       nexthop_objects=nh_mode, nexthops=nexthops,
                       other_refs=other_refs_reader(ip, reads))
    except IpCommandError as exc:
        module.fail_json(msg=str(exc), rc=exc.rc, stderr=exc.stderr, **result)
    if plan.conflicts:
        _fail_list(module, "routes held by another protocol, nothing was changed",
                   plan.conflicts, **result)
    for w in plan.warnings:
        module.warn(w)

    file_changed = False
    if own_file:
        file_changed = ensure_protos_file(module, own_file, name, number)
        result["protos_file"] = dict(path=own_file, changed=file_changed)

    result.update(plan.result())
    result["changed"] = plan.changed or file_changed
    if module._diff:
        header = "routes proto %s (%s) in table %s" % (
            name, number, ", ".join(sorted(set(rt.table_name(t) for _f, t in reads))) or "-")
        result["diff"] = dict(
            before="".join(line + "\n" for line in plan.before),
            after="".join(line + "\n" for line in plan.after),
            before_header=header, after_header=header)

    if module.check_mode or not plan.commands:
        module.exit_json(**result)

    # 4. apply, all in one batch
    try:
        batch = ip.batch(plan.commands, force=True)
    except IpCommandError as exc:
        module.fail_json(msg=str(exc), **result)
    rc, err = batch.rc, batch.err
    if rc == 0:
        module.exit_json(**result)

    # 5. a failed batch: re-read and report what is and is not in effect
    by_line, loose = batch.errors, batch.unattributed
    try:
        now = read_kernel(ip, reads)
        now_nh = read_nexthops(ip) if nexthops is not None else None
    except IpCommandError as exc:
        module.fail_json(msg="ip -batch failed (%s) and re-reading the routes failed too: %s"
                         % (err.strip(), exc), rc=rc, stderr=err, **result)
    done = rt.verify(plan.ops, now, ours, now_nh)
    applied = []
    not_applied = []
    for n, ((op, r), ok) in enumerate(zip(plan.ops, done), 1):
        cmd = plan.commands[n - 1]
        if ok:
            applied.append(cmd)
            continue
        msg = by_line.get(n)
        if msg is None and loose:
            msg = loose.pop(0)
        if msg is None:
            msg = "not run: ip -batch stopped at an earlier line"
        else:
            msg = rt.translate_error(msg, op, r)
        not_applied.append(dict(command=cmd, route=r.describe(), error=msg))
    result["routes"] = rt.managed_lines(now, ours)
    result["changed"] = bool(applied) or file_changed
    if not not_applied:
        module.warn("ip -batch reported errors but every change is in effect: %s" % err.strip())
        module.exit_json(**result)
    lines = ["%s: %s" % (x["route"], x["error"]) for x in not_applied[:50]]
    if len(not_applied) > 50:
        lines.append("... and %d more" % (len(not_applied) - 50))
    result.update(applied=applied, not_applied=not_applied, rc=rc, stderr=err)
    module.fail_json(
        msg="applied %d of %d route changes; %d not applied:\n  %s\nRun again after fixing "
            "the cause; the module converges." % (len(applied), len(plan.commands),
                                                  len(not_applied), "\n  ".join(lines)),
        **result)


if __name__ == "__main__":
    main()

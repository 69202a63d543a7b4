#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: bridge
short_description: Manage the Linux bridge that holds a host's pod subnet gateway
version_added: 0.1.0
description:
  - Ensures a Linux bridge (for example C(cni0)) exists with the wanted MTU, link state and addresses, or that it is absent.
  - This is the bridge a host-gw pod network hangs its pods on; it holds the first address of the host's pod subnet,
    for example V(192.168.1.1/24), which the pods use as their gateway.
  - Reads the current state with one C(ip -json -details addr show dev NAME) and applies all changes with
    one C(ip -batch -) run, so a change costs one process and the kernel applies it within milliseconds.
  - New addresses are added before old ones are deleted, so the bridge keeps a gateway address throughout a change.
    Two cases follow the deletion instead, because the kernel would refuse or drop the new address otherwise - an
    IPv6 address whose IP stays and whose prefix length changes, and an IPv4 address in the same subnet with the
    same prefix length as one being removed. Both still happen within the same C(ip -batch) run.
  - IPv6 link-local addresses (V(fe80::/10)) belong to the kernel. The module never adds, removes or reports them.
  - A link named O(name) that is not a bridge is never converted or deleted; the module fails instead and changes nothing.
  - Holds the host-wide lock of podnet.hostgw (C(flock) on C(/run/lock/podnet-hostgw.lock)) from its first read of the
    bridge until its change is applied, in check mode too, so two playbook runs, or a playbook run and the reconcile
    command, never interleave. A run that waits for the lock longer than 300 seconds fails and changes nothing.
  - Every parameter is validated before the lock is taken, and every bad value is named.
author:
  - podnet.hostgw developers (!UNKNOWN)
extends_documentation_fragment:
  - podnet.hostgw.observed
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
    support: full
    details:
      - Check mode returns exactly the RV(commands), RV(added_addresses), RV(removed_addresses) and RV(bridge)
        a real run would produce.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
    support: full
    details:
      - The diff is a readable text of the bridge before and after - state, link state, MTU and addresses.
        With O(state_file), a second diff entry shows the file's C(bridge) section before and after.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: linux
options:
  name:
    description:
      - Name of the bridge, for example V(cni0).
      - A valid Linux interface name - 1 to 15 bytes, not V(.) or V(..), no whitespace, V(/), V(:), V(%) or control
        characters. V(#), quotes and backslashes are refused too because C(ip -batch) cannot carry them.
      - An alternative name (C(altname)) of another link is refused.
    type: str
    required: true
  state:
    description:
      - V(present) creates the bridge if needed and configures it.
      - V(absent) deletes the bridge if it exists; its ports are detached, not deleted.
      - With V(absent) the other options except O(name) have no effect (they are still validated).
    type: str
    choices: [present, absent]
    default: present
  mtu:
    description:
      - MTU of the bridge, V(68) to V(65535).
      - When set, the kernel keeps this MTU when ports join. A bridge created by this module with O(mtu) is created
        one byte off and then set to O(mtu), because the kernel pins a bridge's MTU only after a real MTU change.
      - When omitted, the MTU is not managed - a new bridge starts at V(1500) and the kernel then follows its ports'
        smallest MTU, so runs stay idempotent as pods come and go.
      - An existing bridge that already has this MTU but was never changed to it (for example one created by the CNI
        plugin) is left alone; should a port with a smaller MTU lower it later, the next run sets it back, and from
        then on the kernel keeps it.
      - Below V(1280) the kernel disables IPv6 on the bridge, so IPv6 addresses cannot be combined with such an MTU.
    type: int
  up:
    description:
      - Whether the bridge is administratively up (C(ip link set dev NAME up)).
      - This is the admin C(UP) flag, not the operational state - a bridge without active ports reports
        C(NO-CARRIER) / operstate C(DOWN) while being up.
      - Taking the bridge down makes the kernel flush its IPv6 addresses unless
        C(net.ipv6.conf.all.keep_addr_on_down) or C(net.ipv6.conf.NAME.keep_addr_on_down) is positive. The module
        then takes it down first and adds the listed IPv6 addresses again afterwards, so they stay configured
        (inactive) while the bridge is down. Unlisted IPv6 addresses are gone and reported in RV(removed_addresses).
    type: bool
    default: true
  addresses:
    description:
      - Addresses of the bridge as V(ADDRESS/PREFIX), IPv4 or IPv6, for example V(192.168.1.1/24) or V(fd00:1::1/64).
      - Missing addresses are added. IPv4 addresses with a prefix up to V(30) get the broadcast address of their
        subnet (C(brd +)), as the CNI bridge plugin does.
      - The prefix length is part of the address - V(192.168.1.1/24) on a bridge that has V(192.168.1.1/16) replaces
        it, whatever O(exclusive) says.
      - Refused with an error naming the value - no prefix length, the same IP twice, IPv4 network or broadcast
        addresses (prefix below V(31)), the IPv6 subnet-router anycast address, IPv6 link-local, loopback,
        multicast, unspecified and IPv4-mapped addresses.
    type: list
    elements: str
    default: []
  exclusive:
    description:
      - If V(true), every address of the bridge that is not listed in O(addresses) is removed, IPv4 and IPv6,
        whatever its scope - except IPv6 link-local addresses, which the kernel manages.
      - Use it when a host's pod subnet changes - otherwise the old gateway address stays, and the CNI bridge plugin
        fails with C(already has an IP address different from).
      - With V(true) and an empty O(addresses) list, all addresses except IPv6 link-local are removed.
      - If V(false), addresses not listed are kept (except the same IP with another prefix length, see O(addresses)).
    type: bool
    default: false
  state_file:
    description:
      - The host's desired-state file (the roles use C(/etc/podnet/hostgw-state.json)), which the
        C(podnet-hostgw-reconcile) command reads to re-create the bridge and its addresses between playbook
        runs. Unset, no state is written.
      - The module keeps its C(bridge) section there - O(name), O(mtu) and O(addresses) - updated inside the
        host-wide lock before the kernel is changed, so the command never sees a kernel and a file that do not
        belong together. The file is written atomically (a temporary file in the same directory, then a rename).
      - A change of the section is a change of the task (and in check mode is only reported); the diff shows
        it as a second entry.
      - O(state=absent) removes the section when it names this bridge; removing the file's last section
        deletes the file.
      - A file at this path that is not the collection's state file is never overwritten - the module fails.
        A damaged one of the collection's (truncated, edited by hand, bad checksum) is replaced, with a warning.
      - The reconcile command brings the bridge up, so O(up=false) cannot be combined with it.
    type: path
requirements:
  - iproute2 with JSON output (C(ip -json)) on the target
  - the C(bridge) kernel module
notes:
  - Run with C(become) - changing links needs C(CAP_NET_ADMIN).
  - Bridge ports are not managed here; the CNI bridge plugin attaches the pods' veth devices.
  - Errors from the kernel name the failing C(ip -batch) line. The other lines still run (C(ip -force -batch)), and
    the result reports the state read back afterwards.
seealso:
  - name: ip-link(8)
    description: Manual page of C(ip link).
    link: https://man7.org/linux/man-pages/man8/ip-link.8.html
  - name: ip-address(8)
    description: Manual page of C(ip address).
    link: https://man7.org/linux/man-pages/man8/ip-address.8.html
"""

EXAMPLES = r"""
- name: Host1's pod bridge with the gateway of its pod subnet 192.168.0.0/24
  podnet.hostgw.bridge:
    name: cni0
    addresses:
      - 192.168.0.1/24
  become: true

- name: Re-address after the pod subnet moved to 192.168.7.0/24 (the old gateway is removed)
  podnet.hostgw.bridge:
    name: cni0
    addresses:
      - 192.168.7.1/24
    exclusive: true
  become: true

- name: Dual stack with a pinned MTU
  podnet.hostgw.bridge:
    name: cni0
    mtu: 1500
    addresses:
      - 192.168.0.1/24
      - fd00:10:244:0::1/64
    exclusive: true
  become: true

- name: Preview what would change
  podnet.hostgw.bridge:
    name: cni0
    addresses:
      - 192.168.0.1/24
  check_mode: true
  diff: true
  register: preview

- name: Remove the bridge (fails, changing nothing, if cni0 is not a bridge)
  podnet.hostgw.bridge:
    name: cni0
    state: absent
  become: true
"""

RETURN = r"""
from_read:
  description:
    - V(true) when the action plugin found in O(observed) that nothing would change, and did not
      run the module on the host.
  returned: when true
  type: bool
  sample: true
commands:
  description:
    - The C(ip -batch) lines that ran, or in check mode would run. Empty when nothing changes.
  returned: always
  type: list
  elements: str
  sample:
    - link add name cni0 type bridge
    - addr add 192.168.0.1/24 brd + dev cni0
    - link set dev cni0 up
added_addresses:
  description: Addresses added (or in check mode to be added), as V(ADDRESS/PREFIX).
  returned: always
  type: list
  elements: str
  sample: [192.168.7.1/24]
removed_addresses:
  description:
    - Addresses removed (or in check mode to be removed), as V(ADDRESS/PREFIX).
    - With O(state=absent) the addresses that went away with the bridge; with O(up=false) also IPv6 addresses the
      kernel flushed when the bridge went down.
  returned: always
  type: list
  elements: str
  sample: [192.168.0.1/24]
bridge:
  description:
    - The bridge after the run. After a real run this is read back from the kernel; in check mode it is the
      prediction.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the bridge.
      type: str
      sample: cni0
    exists:
      description: Whether the bridge exists.
      type: bool
      sample: true
    mtu:
      description: MTU of the bridge; V(null) when it does not exist.
      type: int
      sample: 1500
    up:
      description: Whether the bridge is administratively up; V(false) when it does not exist.
      type: bool
      sample: true
    addresses:
      description: Its addresses, IPv4 then IPv6, sorted; IPv6 link-local addresses are left out.
      type: list
      elements: str
      sample: [192.168.0.1/24, fd00:10:244::1/64]
errors:
  description: Every problem found in the parameters, each naming the offending value.
  returned: when the parameters are invalid
  type: list
  elements: str
  sample: ["addresses[0] '192.168.0.0/24' is the network address of 192.168.0.0/24; use a host address such as 192.168.0.1/24"]
failed_commands:
  description: The C(ip -batch) lines the kernel refused, with its error and a hint where one helps.
  returned: when the batch failed
  type: list
  elements: dict
  sample:
    - line: 2
      command: addr add fd00:1::1/64 dev cni0
      error: "Error: ipv6: IPv6 is disabled on this device."
      hint: "IPv6 is disabled on this link: check the sysctls net.ipv6.conf.cni0.disable_ipv6 and net.ipv6.conf.default.disable_ipv6"
state_file:
  description: The state file, and whether its C(bridge) section was (or in check mode would be) changed.
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.hostgw.plugins.module_utils.module_support import (
    fail_problems,
    host_lock,
    ip_command,
    open_state,
    record_state,
)
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import bridge, bridge_host, state
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.iproute import IpCommandError

ARGUMENT_SPEC = dict(
    observed=dict(type="dict"),  # the action plugin's; the module ignores it
    name=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    mtu=dict(type="int"),
    up=dict(type="bool", default=True),
    addresses=dict(type="list", elements="str", default=[]),
    exclusive=dict(type="bool", default=False),
    state_file=dict(type="path"),
)


def wanted_section(name, mtu, ifaces):
    """The state file's bridge section for bridge NAME with MTU and IFACES (validated)."""
    return state.bridge_section(name, mtu, bridge.sort_cidrs(ifaces))


class Bridge(object):
    """Validate, then under the host-wide lock read, plan and apply."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.name = module.params["name"]
        self.result = dict(changed=False, commands=[], added_addresses=[], removed_addresses=[])

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **dict(self.result, **extra))

    def run(self):
        p = self.params
        ifaces, problems = bridge.validate_params(self.name, p["mtu"], p["addresses"])
        if p["state_file"] and p["state"] == "present" and not p["up"]:
            problems.append("up is false, but the reconcile command reading state_file brings "
                            "the bridge up; leave state_file unset for a bridge kept down")
        if problems:
            fail_problems(self.module, "invalid parameters, nothing was changed", problems,
                          **self.result)
        ipc = ip_command(self.module)
        with host_lock(self.module, **self.result):
            change = self.plan(ipc, ifaces)
            if p["state_file"]:
                self.record(ifaces)
            if change["commands"] and not self.module.check_mode:
                self.apply(ipc, change)
        return self.result

    def record(self, ifaces):
        """The state file's bridge section: this bridge, or none with state=absent
        (a section naming another bridge stays)."""
        p = self.params
        doc = open_state(self.module, p["state_file"], **self.result)
        if p["state"] == "present":
            section = wanted_section(self.name, p["mtu"], ifaces)
        else:
            section = doc.section("bridge")
            if section is not None and section.get("name") == self.name:
                section = None
        record_state(self.module, doc, "bridge", section, self.result)

    def plan(self, ipc, ifaces):
        p = self.params
        try:
            current = bridge_host.read(ipc, self.name, up=p["up"])
        except IpCommandError as exc:
            self.fail("cannot read the state of %s: %s" % (self.name, exc))
        try:
            change = bridge.plan(self.name, current.link, current.addrs, state=p["state"],
                                 mtu=p["mtu"], up=p["up"], addresses=ifaces,
                                 exclusive=p["exclusive"], keep_v6_on_down=current.keep_v6_on_down)
        except bridge.PlanError as exc:
            self.fail(str(exc))
        self.result.update(
            changed=bool(change["commands"]),
            commands=change["commands"],
            added_addresses=change["added"],
            removed_addresses=change["removed"],
            bridge=change["after"],
        )
        if self.module._diff:
            self.result["diff"] = dict(
                before_header=self.name, after_header=self.name,
                before=bridge.render_state(change["before"]),
                after=bridge.render_state(change["after"]),
            )
        return change

    def apply(self, ipc, change):
        try:
            outcome = bridge_host.apply(ipc, self.name, change)
        except IpCommandError as exc:
            self.fail(str(exc))
        self.result["bridge"] = outcome.bridge
        if outcome.batch_failed:
            self.result["changed"] = (len(outcome.failures) < len(change["commands"])
                                      or self.result.get("state_file", {}).get("changed", False))
            self.fail(outcome.error, failed_commands=outcome.failures, stderr=outcome.batch.err)
        if outcome.error:
            self.fail(outcome.error)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = Bridge(module).run()
    module.exit_json(**result)


if __name__ == "__main__":
    main()

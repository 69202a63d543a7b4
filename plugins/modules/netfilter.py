#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: netfilter
short_description: Forwarding and masquerade rules for the pod network, with nftables or iptables
version_added: 0.1.0
description:
  - Manages the packet filter rules host-gw pod networking needs on every host, like flannel's
    C(--ip-masq) and its C(FORWARD) rules.
    Forwarded traffic from or to the cluster CIDRs (O(cluster_cidrs)) is accepted
    (O(forward)), and pod traffic that leaves the cluster CIDRs is masqueraded to the host's
    address (O(masquerade)).
  - Pod to pod traffic, also between two hosts, is never NATed, so the receiving pod sees the
    sending pod's address. With several cluster CIDRs, traffic between any two of them is pod to
    pod traffic. Only pod traffic is matched (source or destination in a cluster CIDR).
  - IPv4 and IPv6, also together (dual stack). IPv6 pod traffic is masqueraded the same way.
  - The rules live in objects of the module's own, named after O(name), and nothing else is
    changed.
  - With nftables, that is the table C(inet podnet_hostgw) with chain C(forward)
    (C(type filter hook forward priority 0)) and chain C(postrouting)
    (C(type nat hook postrouting priority 100)). The module replaces the whole table
    atomically with one C(nft -f -) transaction (create if missing, delete, create), so there
    is never a moment without rules.
  - With iptables, those are the chains C(PODNET-HOSTGW-FWD) in table C(filter) and
    C(PODNET-HOSTGW-NAT) in table C(nat), for IPv4 (C(iptables)) and IPv6 (C(ip6tables)),
    each with one jump rule from C(FORWARD) or C(POSTROUTING) that carries the comment
    C(podnet-hostgw) (C(-m comment --comment podnet-hostgw)), inserted at the top when it is
    missing. Changes go through C(iptables-restore --noflush), which flushes and refills only
    these chains (atomic per table). Any other rule that jumps to these chains counts as the
    module's own and is removed.
  - The module reads the current state, compares it with the wanted one and changes nothing
    when they are equal. Rules added, removed or changed by hand in the module's
    table or chains, and a deleted table or chain, are drift and are repaired.
  - Rules of the other backend under the same O(name) are removed. This cleans up when
    O(backend=auto) switches backends, or after you change O(backend). Only one set of
    the module's rules is active at a time.
  - Everything is validated before anything runs, and each bad value is named. No value
    ever reaches a shell.
  - Holds the host-wide lock of podnet.hostgw (C(flock) on C(/run/lock/podnet-hostgw.lock))
    from its first read of the rules until its change is applied and read back, in check mode
    too, so two playbook runs, or a playbook run and the reconcile command, never interleave.
    A run that waits for the lock longer than 300 seconds fails and changes nothing.
author:
  - podnet.hostgw developers (!UNKNOWN)
extends_documentation_fragment:
  - podnet.hostgw.observed
  - podnet.hostgw.attributes
  - podnet.hostgw.attributes.platform
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads the same state, reports the same C(changed), RV(drift), RV(commands)
        and RV(ruleset) as a real run, and has the kernel check the change without committing
        it (C(nft --check), C(iptables-restore --test)).
  diff_mode:
    support: full
    details:
      - The diff shows the module's table and chains (and the jump rules) before and after, as
        text; nftables in the module's own normalised form (see RV(ruleset)), iptables as
        C(iptables -S) lines under a C(# iptables -t TABLE) header.
      - With O(state_file), a second diff entry shows the file's C(netfilter) section before
        and after.
  platform:
    platforms: linux
requirements:
  - For O(backend=nftables), C(nft) with JSON support (C(nft -j)); package C(nftables). The
    kernel must support NAT in C(inet) tables (Linux 5.2 or later).
  - For O(backend=iptables), C(iptables), C(iptables-restore), and for IPv6 C(ip6tables),
    C(ip6tables-restore); package C(iptables), version 1.6.2 or later (C(iptables-restore -w)).
    Both the nf_tables and the legacy variants work.
options:
  cluster_cidrs:
    description:
      - The cluster CIDRs, meaning the whole pod network (not one host's pod subnet), for
        example V(192.168.0.0/16), or V(192.168.0.0/16) and V(fd00:1::/56) for dual stack.
        Any number of IPv4 and IPv6 networks.
      - Each must be a network address with a prefix length. Host bits, duplicates, overlapping
        networks, V(/0), loopback, link-local and multicast networks are errors.
      - Required with O(state=present). With O(state=absent) the list is validated when given,
        but not used.
    type: list
    elements: str
  masquerade:
    description:
      - Masquerade pod traffic to destinations outside the cluster CIDRs to the address of the
        outgoing interface.
    type: bool
    default: true
  forward:
    description:
      - Accept forwarded traffic from or to the cluster CIDRs.
      - Pointless when the forward path accepts everything. Needed when a firewall's
        forward policy is drop (see O(backend)).
      - O(forward) and O(masquerade) cannot both be V(false) with O(state=present).
    type: bool
    default: true
  backend:
    description:
      - Which packet filter to use.
      - V(nftables) uses the table C(inet NAME) through C(nft).
      - V(iptables) uses own chains through C(iptables) / C(ip6tables) (see O(iptables_variant)).
      - V(auto) uses V(nftables) when C(nft) exists and works, and V(iptables) otherwise.
        One exception is O(forward=true) on a host where the iptables C(FORWARD) chain has
        policy C(DROP) for a family in O(cluster_cidrs), as Docker sets it. There V(auto) uses
        V(iptables). In nftables, every base chain on a hook sees the packet, and an accept in
        one table does not override a drop in another. An accept in the module's nftables table
        could not stop iptables' C(FORWARD) policy from dropping pod traffic. The iptables jump
        rule at the top of that same C(FORWARD) chain can.
      - With O(backend=nftables) on such a host, the module warns.
      - Other firewalls with a forward drop policy or drop rules (firewalld, a hand-written
        C(inet filter) table) must allow the cluster CIDRs themselves. The module does not
        change them.
      - Ignored with O(state=absent), which removes the module's rules from both backends,
        as far as their tools are installed.
    type: str
    choices: [auto, nftables, iptables]
    default: auto
  iptables_variant:
    description:
      - Which iptables commands the iptables backend runs.
      - V(auto) runs C(iptables), C(iptables-restore), C(ip6tables), C(ip6tables-restore), as
        the host's alternatives choose. That is the variant Docker and kube-proxy use too.
      - V(nft) runs C(iptables-nft) and its siblings. V(legacy) runs C(iptables-legacy) and
        its siblings.
      - Rules of one variant are invisible to the other. Use the variant the host's other
        iptables users use.
    type: str
    choices: [auto, nft, legacy]
    default: auto
  name:
    description:
      - Name of the module's objects. The nftables table is C(inet NAME). The iptables chains
        are NAME upper-cased, with C(_) replaced by C(-), and C(-FWD) (filter) or C(-NAT)
        (nat) appended. The iptables jump comment is NAME with C(_) replaced by C(-).
      - Lower-case letters, digits and C(_), starting with a letter, at most 24 characters,
        not the name of a standard table (V(filter), V(nat), ...).
      - Changing it makes the objects under the old name foreign to the module. Remove them
        first with O(state=absent).
    type: str
    default: podnet_hostgw
  state:
    description:
      - V(present) makes the rules exactly as wanted.
      - V(absent) removes the module's table, chains and jump rules, and nothing else.
    type: str
    choices: [present, absent]
    default: present
  state_file:
    description:
      - The host's desired-state file (the roles use C(/etc/podnet/hostgw-state.json)), which
        the C(podnet-hostgw-reconcile) command reads to re-create the rules between playbook
        runs when they are missing or drifted. Unset, no state is written.
      - The module keeps its C(netfilter) section there - O(name), O(backend),
        O(iptables_variant), O(cluster_cidrs), O(forward) and O(masquerade) - updated inside
        the host-wide lock before the rules are changed, so the command never sees rules and a
        file that do not belong together. The file is written atomically (a temporary file in
        the same directory, then a rename).
      - A change of the section is a change of the task (and in check mode is only reported);
        the diff shows it as a second entry.
      - O(state=absent) removes the section when it names O(name); removing the file's last
        section deletes the file.
      - A file at this path that is not the collection's state file is never overwritten - the
        module fails. A damaged one of the collection's (truncated, edited by hand, bad
        checksum) is replaced, with a warning.
    type: path
notes:
  - "Pod to pod traffic between hosts is not NATed by this module's rules. A broader
    masquerade rule of someone else (for example C(-o eth0 -j MASQUERADE) in another chain or
    table) can still NAT it. The iptables backend inserts its jump at the top of
    C(POSTROUTING) and, for pod to pod traffic, C(RETURN)s only from its own chain."
  - The jump rules are inserted at the top once. When other software later inserts rules
    above them, the module leaves them where they are. Their position is not compared.
  - With O(iptables_variant=legacy), reading a table makes the kernel create it (empty) in
    that network namespace. Reading with the nf_tables variant creates nothing.
  - All commands run as argument vectors with C(LC_ALL=C). Scripts go to C(nft -f -) and
    C(iptables-restore) on standard input.
seealso:
  - module: podnet.hostgw.ip_route
  - module: podnet.hostgw.bridge
  - name: nft(8)
    description: The nftables manual page.
    link: https://www.netfilter.org/projects/nftables/manpage.html
  - name: Flannel's iptables rules
    description: The rules flannel installs with C(--ip-masq), which this module follows.
    link: https://github.com/flannel-io/flannel/blob/master/Documentation/configuration.md
"""

EXAMPLES = r"""
- name: Forward and masquerade the pod network
  podnet.hostgw.netfilter:
    cluster_cidrs:
      - 192.168.0.0/16

- name: Dual stack
  podnet.hostgw.netfilter:
    cluster_cidrs:
      - 192.168.0.0/16
      - fd00:1::/56

- name: Use iptables even where nftables works (for example next to kube-proxy in iptables mode)
  podnet.hostgw.netfilter:
    cluster_cidrs: ["{{ hostgw_cluster_cidr }}"]
    backend: iptables

- name: Only the accept rules; masquerading is done elsewhere
  podnet.hostgw.netfilter:
    cluster_cidrs: [192.168.0.0/16]
    masquerade: false

- name: Preview the change
  podnet.hostgw.netfilter:
    cluster_cidrs: [192.168.0.0/16, 10.244.0.0/16]
  check_mode: true
  diff: true

- name: Remove the module's rules (both backends), nothing else
  podnet.hostgw.netfilter:
    state: absent
"""

RETURN = r"""
from_read:
  description:
    - V(true) when the action plugin found in O(observed) that nothing would change, and did not
      run the module on the host.
  returned: when true
  type: bool
  sample: true
backend:
  description: The backend that holds the rules now. V(null) with O(state=absent).
  returned: success
  type: str
  sample: nftables
backend_reason:
  description: Why that backend was chosen.
  returned: success
  type: str
  sample: "auto: nft works"
ruleset:
  description:
    - The module's objects afterwards, as text. This is also the C(after) side of the diff.
    - For nftables, the table in the module's normalised form, which is valid C(nft) input.
      Chains are sorted by name, priorities are numbers, address sets are collapsed and
      sorted. An expression the module does not know is shown as C(<unrecognised JSON>).
    - For iptables, C(iptables -S) lines (C(-N) own chain, jump rules, own rules) under a
      C(# iptables -t TABLE) or C(# ip6tables -t TABLE) header.
  returned: success
  type: str
  sample: "table inet podnet_hostgw {\n\
    \tchain forward {\n\
    \t\ttype filter hook forward priority 0; policy accept;\n\
    \t\tip saddr 192.168.0.0/16 accept\n\
    \t\tip daddr 192.168.0.0/16 accept\n\
    \t}\n\
    \tchain postrouting {\n\
    \t\ttype nat hook postrouting priority 100; policy accept;\n\
    \t\tip saddr 192.168.0.0/16 ip daddr != 192.168.0.0/16 masquerade\n\
    \t}\n\
    }\n"
drift:
  description:
    - What differed from the wanted state before the run, one line each. C(unexpected) lines
      were there and should not be, and C(missing) lines were wanted and absent. Empty when
      nothing changes.
  returned: success
  type: list
  elements: str
  sample: ["missing: ip daddr 192.168.0.0/16 accept"]
commands:
  description:
    - The commands run, or that would run in check mode, in order. Empty when nothing
      changes.
  returned: success
  type: list
  elements: dict
  contains:
    argv:
      description: The argument vector.
      type: list
      elements: str
    stdin:
      description: The script given on standard input.
      type: str
  sample: [{argv: [/usr/sbin/nft, -f, "-"],
            stdin: "table inet podnet_hostgw {}\ndelete table inet podnet_hostgw\ntable inet podnet_hostgw {\n..."}]
errors:
  description: On a validation failure, one message per problem, each naming the value.
  returned: failure
  type: list
  elements: str
  sample: ["cluster_cidrs[0] '192.168.1.0/16' has host bits set; did you mean 192.168.0.0/16?"]
applied:
  description: When a command failed, the commands that did run successfully before it.
  returned: failure
  type: list
  elements: dict
state_file:
  description: The state file, and whether its C(netfilter) section was (or in check mode would be) changed.
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
    ModuleRunner,
    fail_problems,
    host_lock,
    open_state,
    record_state,
)
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import netfilter as nf
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import netfilter_host as host
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import state

ARGUMENT_SPEC = dict(
    observed=dict(type="dict"),  # the action plugin's; the module ignores it
    cluster_cidrs=dict(type="list", elements="str"),
    masquerade=dict(type="bool", default=True),
    forward=dict(type="bool", default=True),
    backend=dict(type="str", choices=list(nf.BACKENDS), default="auto"),
    iptables_variant=dict(type="str", choices=list(nf.IPTABLES_VARIANTS), default="auto"),
    name=dict(type="str", default=nf.DEFAULT_NAME),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    state_file=dict(type="path"),
)


def wanted_section(config, params):
    """The state file's netfilter section for CONFIG (present) and PARAMS."""
    return state.netfilter_section(config.name, params["backend"], params["iptables_variant"],
                                   [str(n) for f in nf.FAMILIES for n in config.cidrs[f]],
                                   config.forward, config.masquerade)


class Netfilter(object):
    """Validate, then under the host-wide lock read, choose the backend, plan,
    and check or apply and verify."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = dict(changed=False)

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **dict(self.result, **extra))

    def run(self):
        config, problems = nf.validate(self.params)
        if problems:
            fail_problems(self.module, "invalid parameters, nothing was changed", problems,
                          **self.result)
        tools = host.Tools(ModuleRunner(self.module), self.params["iptables_variant"])
        with host_lock(self.module, **self.result):
            live = self.read(tools, config)
            choice = self.choose(config, live)
            change = host.plan(config, live, choice.backend)
            self.report(tools, config, change)
            if self.params["state_file"]:
                self.record(config)
            if change.steps and self.module.check_mode:
                self.check(tools, change)
            elif change.steps:
                self.apply(tools, change)
                self.verify(tools, config, change, choice.backend)
        return self.result

    def read(self, tools, config):
        try:
            return host.read(tools, config.name)
        except host.CommandFailed as exc:
            self.fail("cannot read the nftables table: %s" % exc)

    def choose(self, config, live):
        try:
            choice = host.choose_backend(config, live, self.params["backend"])
        except host.BackendError as exc:
            self.fail(str(exc))
        if choice.warning:
            self.module.warn(choice.warning)
        self.result.update(backend=choice.backend, backend_reason=choice.reason)
        return choice

    def report(self, tools, config, change):
        self.result.update(changed=bool(change.steps), commands=host.commands(tools, change),
                           ruleset=change.after, drift=change.drift)
        if self.module._diff:
            header = "nftables table inet %s, iptables chains %s" % (
                config.name, ", ".join(nf.ipt_chain(config.name, t) for t, _b, _s in nf.IPT_TABLES))
            self.result["diff"] = dict(before=change.before, after=change.after,
                                       before_header=header, after_header=header)

    def record(self, config):
        """The state file's netfilter section: this rule set, or none with
        state=absent (a section naming another rule set stays)."""
        p = self.params
        doc = open_state(self.module, p["state_file"], **self.result)
        if config.present:
            section = wanted_section(config, p)
        else:
            section = doc.section("netfilter")
            if section is not None and section.get("name") == config.name:
                section = None
        record_state(self.module, doc, "netfilter", section, self.result)

    def check(self, tools, change):
        problem = host.check(tools, change)
        if problem:
            self.fail(problem)

    def apply(self, tools, change):
        applied, failure = host.apply(tools, change)
        if failure:
            self.result.update(applied=applied, rc=failure.rc, stderr=failure.stderr,
                               changed=bool(applied) or self.result.get("state_file", {}).get(
                                   "changed", False))
            self.fail(failure.message)

    def verify(self, tools, config, change, backend):
        # What the tools list now must be what was wanted, or the next run
        # would report a change again.
        problems = host.verify(tools, config, change, backend)
        if problems:
            self.module.warn("the rules were applied, but reading them back does not give the "
                             "wanted state, so the next run will report a change again (please "
                             "report this with the nft/iptables version): %s" % "; ".join(problems))


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = Netfilter(module).run()
    module.exit_json(**result)


if __name__ == "__main__":
    main()

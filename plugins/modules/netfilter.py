#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
author:
  - podnet.hostgw contributors
extends_documentation_fragment:
  - podnet.hostgw.attributes
  - podnet.hostgw.attributes.platform
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads the same state, reports the same RV(changed), RV(drift), RV(commands)
        and RV(ruleset) as a real run, and has the kernel check the change without committing
        it (C(nft --check), C(iptables-restore --test)).
  diff_mode:
    support: full
    details:
      - The diff shows the module's table and chains (and the jump rules) before and after, as
        text; nftables in the module's own normalised form (see RV(ruleset)), iptables as
        C(iptables -S) lines under a C(# iptables -t TABLE) header.
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
  sample: |
    table inet podnet_hostgw {
    	chain forward {
    		type filter hook forward priority 0; policy accept;
    		ip saddr 192.168.0.0/16 accept
    		ip daddr 192.168.0.0/16 accept
    	}
    	chain postrouting {
    		type nat hook postrouting priority 100; policy accept;
    		ip saddr 192.168.0.0/16 ip daddr != 192.168.0.0/16 masquerade
    	}
    }
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
  sample: ["cluster_cidrs[0]: 192.168.1.0/16 has host bits set; did you mean 192.168.0.0/16?"]
applied:
  description: When a command failed, the commands that did run successfully before it.
  returned: failure
  type: list
  elements: dict
"""

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.command import C_LOCALE
from ansible_collections.podnet.hostgw.plugins.module_utils import netfilter as nf

IPT_BINARIES = {
    "auto": {4: ("iptables", "iptables-restore"), 6: ("ip6tables", "ip6tables-restore")},
    "nft": {4: ("iptables-nft", "iptables-nft-restore"),
            6: ("ip6tables-nft", "ip6tables-nft-restore")},
    "legacy": {4: ("iptables-legacy", "iptables-legacy-restore"),
               6: ("ip6tables-legacy", "ip6tables-legacy-restore")},
}
WAIT = ["-w", "10"]          # the xtables lock (legacy); accepted and ignored by -nft


class CommandFailed(Exception):
    def __init__(self, argv, rc, out, err):
        super(CommandFailed, self).__init__(
            "%s failed (rc=%s): %s" % (" ".join(argv), rc, (err or out).strip()))
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, out, err


class Netfilter(object):
    """Runs nft / iptables for the module (argv lists, LC_ALL=C, no shell)."""

    def __init__(self, module, variant):
        self.module = module
        self.nft = module.get_bin_path("nft")
        self.ipt = {}
        self.missing_ipt = {}
        for family, names in IPT_BINARIES[variant].items():
            paths = [module.get_bin_path(n) for n in names]
            if all(paths):
                self.ipt[family] = tuple(paths)
            else:
                self.missing_ipt[family] = [n for n, p in zip(names, paths) if not p]

    def run(self, argv, stdin=None):
        return self.module.run_command(argv, data=stdin, binary_data=True,
                                       environ_update=C_LOCALE)

    def checked(self, argv, stdin=None):
        rc, out, err = self.run(argv, stdin)
        if rc != 0:
            raise CommandFailed(argv, rc, out, err)
        return out

    # nftables -------------------------------------------------------------

    def nft_json(self, args):
        out = self.checked([self.nft, "-j"] + args)
        try:
            return json.loads(out) if out.strip() else {}
        except ValueError as exc:
            raise CommandFailed([self.nft, "-j"] + args, 0, out,
                                "output is not JSON (%s); nft must be built with JSON "
                                "support" % exc)

    def nft_probe(self):
        """``(usable, error)``: nft exists and lists tables as JSON."""
        if not self.nft:
            return False, "the nft command was not found (install the nftables package)"
        try:
            self.tables = nf.nft_tables(self.nft_json(["list", "tables"]))
        except CommandFailed as exc:
            return False, str(exc)
        return True, None

    def nft_read(self, name):
        if (nf.NFT_FAMILY, nf.nft_table(name)) not in self.tables:
            return None
        data = self.nft_json(["list", "table", nf.NFT_FAMILY, nf.nft_table(name)])
        return nf.nft_live_text(data, nf.nft_table(name))

    def nft_reread(self, name):
        self.nft_probe()
        return self.nft_read(name)

    def nft_apply_argv(self, check=False):
        return [self.nft] + (["--check"] if check else []) + ["-f", "-"]

    # iptables -------------------------------------------------------------

    def ipt_read(self, family):
        """``{table: IptListing}`` of one family."""
        listing, restore = self.ipt[family]
        out = {}
        for table, _builtin, _suffix in nf.IPT_TABLES:
            text = self.checked([listing] + WAIT + ["-t", table, "-S"])
            out[table] = nf.parse_ipt_listing(text)
        return out

    def ipt_apply_argv(self, family, check=False):
        return ([self.ipt[family][1]] + WAIT + ["--noflush"]
                + (["--test"] if check else []))


def ipt_section_header(family, table):
    return "# %s -t %s" % (nf.IPT_CMD[family], table)


def text_of(nft_text, ipt_lines):
    """The ruleset text: nft table, then iptables sections with content."""
    parts = [nft_text] if nft_text else []
    for (family, table), lines in sorted(ipt_lines.items()):
        if lines:
            parts.append("\n".join([ipt_section_header(family, table)] + lines) + "\n")
    return "".join(parts)


def fail_list(module, what, errors, **extra):
    module.fail_json(msg="%s (%d):\n  %s" % (what, len(errors), "\n  ".join(errors)),
                     errors=errors, **extra)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cluster_cidrs=dict(type="list", elements="str"),
            masquerade=dict(type="bool", default=True),
            forward=dict(type="bool", default=True),
            backend=dict(type="str", choices=list(nf.BACKENDS), default="auto"),
            iptables_variant=dict(type="str", choices=list(nf.IPTABLES_VARIANTS),
                                  default="auto"),
            name=dict(type="str", default=nf.DEFAULT_NAME),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False)

    # 1. validate everything before anything runs
    config, errors = nf.validate(p)
    if errors:
        fail_list(module, "invalid parameters, nothing was changed", errors, **result)
    name = config.name

    # 2. read what is there
    tools = Netfilter(module, p["iptables_variant"])
    nft_ok, nft_error = tools.nft_probe()
    try:
        nft_live = tools.nft_read(name) if nft_ok else None
    except CommandFailed as exc:
        module.fail_json(msg="cannot read the nftables table: %s" % exc, **result)

    ipt_live = {}               # family -> {table: IptListing}
    ipt_errors = {}
    for family in nf.FAMILIES:
        if family not in tools.ipt:
            ipt_errors[family] = ("%s not found (install the iptables package)"
                                  % " and ".join(tools.missing_ipt[family]))
            continue
        try:
            ipt_live[family] = tools.ipt_read(family)
        except CommandFailed as exc:
            ipt_errors[family] = str(exc)

    # 3. choose the backend
    backend = None
    if config.present:
        needed = config.families()
        ipt_ready = all(f in ipt_live for f in needed)
        ipt_problem = "; ".join(ipt_errors[f] for f in needed if f in ipt_errors)
        forward_drop = [f for f in needed if f in ipt_live
                        and ipt_live[f]["filter"].policies.get("FORWARD") == "DROP"]
        drop_text = " and ".join("%s FORWARD" % nf.IPT_CMD[f] for f in forward_drop)
        if p["backend"] == "nftables":
            if not nft_ok:
                module.fail_json(msg="backend=nftables: %s" % nft_error, **result)
            backend, reason = "nftables", "backend=nftables"
            if config.forward and forward_drop:
                module.warn(
                    "the %s chain has policy DROP (a Docker-style host): the accept rules in "
                    "table inet %s cannot override it, so forwarded pod traffic is dropped "
                    "there; use backend=iptables or backend=auto" % (drop_text, name))
        elif p["backend"] == "iptables":
            if not ipt_ready:
                module.fail_json(msg="backend=iptables: %s" % ipt_problem, **result)
            backend, reason = "iptables", "backend=iptables"
        elif config.forward and forward_drop and ipt_ready:
            backend = "iptables"
            reason = ("auto: the %s policy is DROP; an nftables accept cannot override it, "
                      "the jump at the top of that chain can" % drop_text)
        elif nft_ok:
            backend, reason = "nftables", "auto: nft works"
        elif ipt_ready:
            backend, reason = "iptables", "auto: nftables is not usable (%s)" % nft_error
        else:
            module.fail_json(msg="no usable backend: nftables: %s; iptables: %s (install the "
                                 "nftables or the iptables package)" % (nft_error, ipt_problem),
                             **result)
    else:
        reason = "state=absent: removed from every backend whose tools are installed"
    result.update(backend=backend, backend_reason=reason)

    # 4. plan: wanted state per backend, the chosen one first
    steps = []                  # (kind, family or None, argv, stdin)
    nft_wanted = nf.nft_wanted_text(config) if backend == "nftables" else None
    nft_after = nft_live
    if nft_ok and nft_live != nft_wanted:
        steps.append(("nftables", None, nf.nft_script(nf.nft_table(name), nft_wanted)))
        nft_after = nft_wanted
    before_ipt, after_ipt = {}, {}
    for family in sorted(ipt_live):
        sections = []
        for table, _b, _s in nf.IPT_TABLES:
            own = nf.ipt_own(ipt_live[family][table], nf.ipt_chain(name, table))
            wanted = nf.ipt_wanted_rules(config, family, table) if backend == "iptables" \
                else None
            lines = nf.ipt_plan_table(config, table, own, wanted)
            before_ipt[(family, table)] = own.lines()
            if not lines:
                after_ipt[(family, table)] = own.lines()
            elif wanted is None:
                after_ipt[(family, table)] = []
            else:
                after_ipt[(family, table)] = nf.ipt_wanted_lines(config, family, table)
            sections.append((table, lines))
        stdin = nf.restore_input(sections)
        if stdin:
            steps.append(("iptables", family, stdin))
    if backend == "iptables":
        steps.sort(key=lambda s: s[0] != "iptables")
    commands = []
    for kind, family, stdin in steps:
        argv = tools.nft_apply_argv() if kind == "nftables" else tools.ipt_apply_argv(family)
        commands.append(dict(argv=argv, stdin=stdin))

    before = text_of(nft_live, before_ipt)
    after = text_of(nft_after, after_ipt)
    drift = []
    if commands:
        drift = nf.nft_drift(name, nft_live, nft_after)
        for key in sorted(before_ipt):
            drift.extend(nf.ipt_drift(ipt_section_header(*key)[2:], before_ipt[key],
                                      after_ipt[key]))
    result.update(changed=bool(commands), commands=commands, ruleset=after, drift=drift)
    if module._diff:
        header = "nftables table inet %s, iptables chains %s" % (
            name, ", ".join(nf.ipt_chain(name, t) for t, _b, _s in nf.IPT_TABLES))
        result["diff"] = dict(before=before, after=after,
                              before_header=header, after_header=header)

    if not commands:
        module.exit_json(**result)

    # 5. check mode: let the kernel check the change without committing it
    if module.check_mode:
        for (kind, family, stdin), cmd in zip(steps, commands):
            argv = tools.nft_apply_argv(check=True) if kind == "nftables" \
                else tools.ipt_apply_argv(family, check=True)
            rc, out, err = tools.run(argv, stdin)
            if rc != 0:
                module.fail_json(msg="the change would fail: %s rejects it: %s"
                                     % (" ".join(argv), (err or out).strip()), **result)
        module.exit_json(**result)

    # 6. apply, chosen backend first (no moment without rules), then clean-up
    applied = []
    for cmd in commands:
        rc, out, err = tools.run(cmd["argv"], cmd["stdin"])
        if rc != 0:
            result.update(applied=applied, rc=rc, stderr=err, changed=bool(applied))
            module.fail_json(msg="%s failed: %s%s" % (
                " ".join(cmd["argv"]), (err or out).strip(),
                "" if not applied else " (the commands before it were applied; run again "
                "after fixing the cause)"), **result)
        applied.append(cmd)

    # 7. verify: what the tools list now must be what was wanted, or the next
    # run would report a change again
    problems = []
    try:
        if any(kind == "nftables" for kind, _f, _s in steps):
            now = tools.nft_reread(name)
            if now != nft_wanted:
                problems.append("nftables lists\n%s\ninstead of\n%s" % (now, nft_wanted))
        for kind, family, _s in steps:
            if kind != "iptables":
                continue
            now = tools.ipt_read(family)
            for table, _b, _s2 in nf.IPT_TABLES:
                own = nf.ipt_own(now[table], nf.ipt_chain(name, table))
                wanted = nf.ipt_wanted_rules(config, family, table) if backend == "iptables" \
                    else None
                if nf.ipt_plan_table(config, table, own, wanted):
                    problems.append("%s -t %s lists %s" % (nf.IPT_CMD[family], table,
                                                           own.lines()))
    except CommandFailed as exc:
        problems.append(str(exc))
    if problems:
        module.warn("the rules were applied, but reading them back does not give the wanted "
                    "state, so the next run will report a change again (please report this "
                    "with the nft/iptables version): %s" % "; ".join(problems))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

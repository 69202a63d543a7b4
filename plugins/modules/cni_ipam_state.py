#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cni_ipam_state
short_description: Remove a CNI network's host-local IPAM state once no container holds an address
version_added: 0.1.0
description:
  - CNI's host-local IPAM plugin keeps each network's leases in
    C(O(data_dir)/O(network)) - one file per leased address, named after the
    address and holding the container ID, plus C(last_reserved_ip.N) and
    C(lock), its bookkeeping - and never removes that directory itself.
  - With O(state=absent) the module removes the directory when it holds
    nothing but that bookkeeping, that is when every container of the network
    was deleted through its runtime (whose CNI DEL releases the address).
  - When an address is still leased, or the directory holds anything
    host-local does not make, the directory and everything in it stay, and a
    warning names the files (and the containers holding the addresses). So
    does a path that is not a directory.
  - The removal runs under host-local's own lock (C(flock) on the C(lock)
    file), reads the directory again, unlinks only the bookkeeping files it
    listed and then removes the directory with C(rmdir), which fails rather
    than delete an entry that appeared meanwhile. The parent O(data_dir) is
    never removed; other networks and runtimes keep their state there.
  - Holds the host-wide lock of podnet.hostgw (C(flock) on
    C(/run/lock/podnet-hostgw.lock)) meanwhile, in check mode too.
author: podnet.hostgw developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports whether the directory would be removed, without removing it.
  diff_mode:
    support: full
    description: Shows the directory's entries before and after.
  platform:
    support: full
    platforms: linux
    description: Needs C(flock), as host-local uses it.
options:
  network:
    description:
      - The CNI network name, the C(name) of the configuration list
        (C(hostgw_cni_network_name) in the roles).
    type: str
    required: true
  data_dir:
    description:
      - host-local's C(dataDir), an absolute path. The collection's
        configuration list does not set one, so host-local uses its default.
    type: path
    default: /var/lib/cni/networks
  state:
    description:
      - V(absent) removes the directory once no container holds an address in it.
    type: str
    choices: [absent]
    default: absent
seealso:
  - plugin: podnet.hostgw.hostgw_cni_conflist
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Remove the pod network's IPAM state once no container holds an address
  podnet.hostgw.cni_ipam_state:
    network: podnet
    state: absent
"""

RETURN = r"""
path:
  description: The network's state directory.
  returned: always
  type: str
  sample: /var/lib/cni/networks/podnet
removed:
  description: Whether the directory was (or in check mode would be) removed.
  returned: always
  type: bool
leases:
  description: The addresses still leased in the directory, which kept it.
  returned: always
  type: list
  elements: dict
  contains:
    address:
      description: The leased address (the file's name).
      type: str
    container_id:
      description: The container ID host-local recorded.
      type: str
    ifname:
      description: The container's interface name, when host-local recorded it.
      type: str
  sample: [{"address": "192.168.0.2", "container_id": "4f0c...", "ifname": "eth0"}]
others:
  description: Entries of the directory that host-local does not make, which kept it.
  returned: always
  type: list
  elements: str
errors:
  description: Every problem found in the parameters, each naming the offending value.
  returned: when the parameters are invalid
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.hostgw.plugins.module_utils.module_support import (
    fail_problems,
    host_lock,
)
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import errors, ipam, names

ARGUMENT_SPEC = dict(
    network=dict(type="str", required=True),
    data_dir=dict(type="path", default=ipam.DATA_DIR),
    state=dict(type="str", choices=["absent"], default="absent"),
)
# How many files a warning lists before it counts the rest.
SHOWN = 10


def _some(items):
    items = [str(item) for item in items]
    more = len(items) - SHOWN
    return ", ".join(items[:SHOWN]) + (" and %d more" % more if more > 0 else "")


class CniIpamState(object):
    """Validate, then under the host-wide lock remove the network's state
    directory if it holds bookkeeping only, else say why it stays."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.path = ipam.network_dir(module.params["data_dir"], module.params["network"])
        self.result = dict(changed=False, path=self.path, removed=False, leases=[], others=[])

    def run(self):
        self.validate()
        with host_lock(self.module, **self.result):
            state = ipam.read(self.path)
            if state.unused and not self.module.check_mode:
                state = self.remove()
            self.report(state)
        return self.result

    def validate(self):
        problems = errors.Problems()
        for key, check in (("network", names.cni_name_problem), ("data_dir", names.abs_path_problem)):
            bad = check(self.params[key])
            if bad:
                problems.append(names.problem(key, self.params[key], bad))
        if problems:
            fail_problems(self.module, "invalid parameters, nothing was changed", problems, **self.result)

    def remove(self):
        """The state as read under host-local's lock: unused when it was removed."""
        try:
            return ipam.remove_unused(self.path)[1]
        except ipam.LockTimeout as exc:
            self.module.fail_json(msg=str(exc), **self.result)
        except OSError as exc:
            self.module.fail_json(msg="cannot remove %s: %s" % (self.path, exc), **self.result)

    def report(self, state):
        removed = state.unused
        self.result.update(changed=removed, removed=removed,
                           leases=[lease.as_dict() for lease in state.leases], others=state.others)
        if self.module._diff and state.exists and not state.problem:
            self.result["diff"] = dict(before_header=self.path, after_header=self.path,
                                       before=state.listing(), after="" if removed else state.listing())
        if state.problem:
            self.module.warn("%s %s; it was left alone" % (self.path, state.problem))
        elif state.exists and not removed:
            self.module.warn(self.kept(state))

    def kept(self, state):
        why = []
        if state.leases:
            why.append("addresses still leased: %s" % _some(state.leases))
        if state.others:
            why.append("entries host-local does not make: %s" % _some(state.others))
        return ("%s (host-local IPAM state of CNI network %s) was kept, %s. Delete the containers through their "
                "runtime (CNI DEL releases their addresses), or remove the directory by hand once they are "
                "gone, and reset again" % (self.path, self.params["network"], "; ".join(why)))


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = CniIpamState(module).run()
    module.exit_json(**result)


if __name__ == "__main__":
    main()

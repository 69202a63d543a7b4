# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The check every playbook runs first: do the plays target the group the
inventory means by hostgw_group? (playbooks/check_group.yml)"""

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import errors, names

# What a message lists of the hosts that set a value, at most.
SHOWN_HOSTS = 5


def _hosts_text(hosts):
    shown = ", ".join(hosts[:SHOWN_HOSTS])
    more = len(hosts) - SHOWN_HOSTS
    return shown + (" and %d more" % more if more > 0 else "")


def hostgw_group_problems(group, groups, hostvars, sources=None):
    """Sentences, empty when the plays' group is the inventory's.

    GROUP is what the plays' ``hosts:`` resolved ``hostgw_group`` to (extra
    vars, the play's vars, else the default); GROUPS and HOSTVARS are
    Ansible's; SOURCES its ``ansible_inventory_sources``.  A host whose
    inventory variables set ``hostgw_group`` to another group is a problem:
    ``hosts:`` never sees inventory variables, so the plays would run on
    GROUP while the roles read the other.  So is a GROUP without hosts.
    """
    problems = errors.Problems()
    elsewhere = {}
    for host in groups.get("all", []):
        value = hostvars[host].get("hostgw_group")
        if value is not None and value != group:
            elsewhere.setdefault(names.show(value), (value, []))[1].append(host)
    for _shown, (value, hosts) in sorted(elsewhere.items()):
        problems.append(names.problem(
            "hostgw_group", value,
            "is set in the inventory (group_vars or host_vars of %s), but a play's hosts: never sees "
            "inventory variables: the playbooks target the group %s. Set hostgw_group where hosts: "
            "sees it, with -e hostgw_group=%s or in the vars: of the import_playbook, "
            "or remove it from the inventory" % (_hosts_text(hosts), names.show(group), value)))
    if not isinstance(group, str) or not groups.get(group):
        where = ", ".join(sources or []) or "none given; pass one with -i"
        problems.append(names.problem("hostgw_group", group,
                                      "names no group with hosts in the inventory (%s)" % where))
    return problems


class FilterModule(object):
    def filters(self):
        return {"hostgw_group_problems": hostgw_group_problems}

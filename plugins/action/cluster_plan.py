# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compute the cluster plan once, on the controller (see module_utils/cluster.py)."""

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.podnet.hostgw.plugins.module_utils import cluster
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import names
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.errors import report

# Each host's own settings: what the host set in its settings_var, else what
# its node_info result returned as its settings (both templated in its own
# play, so an import's or a play's vars count), else its hostvars (inventory
# variables, facts and extra vars: never play vars).
HOST_KEYS = {
    "pod_subnet": "hostgw_pod_subnet",
    "pod_subnet_v6": "hostgw_pod_subnet_v6",
    "node_ip": "hostgw_node_ip",
    "node_ip_v6": "hostgw_node_ip_v6",
    "interface": "hostgw_interface",
    "ansible_host": "ansible_host",
}
INFO_KEYS = ("interfaces", "connected", "default", "recorded", "record_problem", "cluster_routes", "files",
             "systemd", "reconcile_files")
REPORT = "podnet.hostgw preflight, no host was changed"
VARS = {"info_var": "__hostgw_info", "read_var": "__hostgw_info_read", "planned_var": "__hostgw_planned",
        "settings_var": "__hostgw_host_settings"}


def _info(result):
    """A node_info result, or None when the host could not be read."""
    if not isinstance(result, dict) or result.get("failed") or result.get("unreachable") \
            or result.get("skipped") or "interfaces" not in result:
        return None
    return {k: result.get(k) for k in INFO_KEYS}


def _read_by_delegation(registered):
    """{host: node_info result} from the loop that read hosts outside the
    batch (delegate_to: item), and the problems of the reads that failed
    (an unreachable host is not a problem: it is unknown this run)."""
    found, problems = {}, []
    for result in (registered or {}).get("results") or ():
        if not isinstance(result, dict) or not isinstance(result.get("item"), str):
            continue
        found[result["item"]] = result
        if result.get("failed") and not result.get("unreachable"):
            problems.append("%s: reading the host (podnet.hostgw.node_info, delegated) failed: %s"
                            % (result["item"], names.show(result.get("msg") or "no message")))
    return found, problems


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("hosts", "prepare", "read_group") + tuple(VARS) + cluster.SETTINGS)

    def _play_id(self):
        return self._task.get_play()._uuid

    def _earlier_plan(self, task_vars, var, batch):
        """The plan an earlier serial batch of this play made, when it read
        every host of this batch; else None."""
        play = self._play_id()
        for name in task_vars.get("ansible_play_hosts_all") or ():
            if name in batch:
                continue
            planned = task_vars["hostvars"][name].get(var)
            if isinstance(planned, dict) and isinstance(planned.get("plan"), dict) \
                    and planned["plan"].get("play") == play:
                nodes = planned["plan"]["nodes"]
                if all(nodes.get(host, {}).get("known") for host in batch):
                    return planned["plan"]
                return None
        return None

    def prepare(self, group, task_vars, args):
        """Before any host is read: the plan of an earlier batch of this play
        (serial), else the hosts of the group this batch does not read itself
        (in the play's other batches; with read_group, outside --limit too)."""
        batch = set(task_vars.get("ansible_play_batch") or ())
        plan = self._earlier_plan(task_vars, args.get("planned_var", VARS["planned_var"]), batch)
        if plan is not None:
            return {"changed": False, "plan": plan, "read": []}
        read_group = boolean(args.get("read_group", False), strict=False)
        play = set(task_vars.get("ansible_play_hosts_all") or ())
        read = [name for name in group if name not in batch and (read_group or name in play)]
        return {"changed": False, "plan": None, "read": read}

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        hostvars = task_vars["hostvars"]
        group = args.get("hosts")
        if not isinstance(group, list) or not group:
            raise AnsibleActionFail("cluster_plan: 'hosts' must be a non-empty list of inventory hosts")
        if boolean(args.get("prepare", False), strict=False):
            result.update(self.prepare(group, task_vars, args))
            return result

        info_var = args.get("info_var", VARS["info_var"])
        settings_var = args.get("settings_var", VARS["settings_var"])
        read, read_problems = _read_by_delegation(task_vars.get(args.get("read_var", VARS["read_var"])))
        # A host's own read of this play, or the delegated one; a host outside
        # the play was not read this run (a value left by an earlier play is stale).
        play = set(task_vars.get("ansible_play_hosts_all") or ())
        hosts = []
        for name in group:
            hv = hostvars[name]
            info = read.get(name, hv.get(info_var) if name in play else None)
            host = {"name": name, "info": _info(info)}
            own = hv.get(settings_var)
            if own is None and isinstance(info, dict):
                own = info.get("settings")
            for key, var in HOST_KEYS.items():
                host[key] = own[var] if isinstance(own, dict) and var in own else hv.get(var)
            hosts.append(host)
        settings = {k: args[k] for k in cluster.SETTINGS if k in args}

        the_plan, problems = cluster.plan(hosts, settings)
        problems = read_problems + list(problems or ())
        if problems:
            result["failed"] = True
            result["msg"] = report(REPORT, problems)
            result["errors"] = list(problems)
            return result
        result["changed"] = False
        # The play the plan (and the preflight's read) belongs to: a later
        # serial batch takes only its own play's plan, and the observed
        # actions trust a read only in its own play.
        the_plan["play"] = self._play_id()
        result["plan"] = the_plan
        result["summary"] = {"cluster": the_plan["cluster"], "complete": the_plan["complete"],
                             "nodes": len(the_plan["nodes"]), "routes": len(the_plan["routes"])}
        return result

# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compute the cluster plan once, on the controller (see module_utils/cluster.py)."""

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.podnet.hostgw.plugins.module_utils import cluster
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


def _info(result):
    """A node_info result, or None when the host could not be read."""
    if not isinstance(result, dict) or result.get("failed") or result.get("unreachable") \
            or result.get("skipped") or "interfaces" not in result:
        return None
    return {k: result.get(k) for k in INFO_KEYS}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("hosts", "info_var", "settings_var") + cluster.SETTINGS)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        hostvars = task_vars["hostvars"]
        info_var = args.get("info_var", "__hostgw_info")
        settings_var = args.get("settings_var", "__hostgw_host_settings")
        names = args.get("hosts")
        if not isinstance(names, list) or not names:
            raise AnsibleActionFail("cluster_plan: 'hosts' must be a non-empty list of inventory hosts")

        hosts = []
        for name in names:
            hv = hostvars[name]
            info = hv.get(info_var)
            host = {"name": name, "info": _info(info)}
            own = hv.get(settings_var)
            if own is None and isinstance(info, dict):
                own = info.get("settings")
            for key, var in HOST_KEYS.items():
                host[key] = own[var] if isinstance(own, dict) and var in own else hv.get(var)
            hosts.append(host)
        settings = {k: args[k] for k in cluster.SETTINGS if k in args}

        the_plan, problems = cluster.plan(hosts, settings)
        if problems:
            result["failed"] = True
            result["msg"] = report(REPORT, problems)
            result["errors"] = list(problems)
            return result
        result["changed"] = False
        result["plan"] = the_plan
        result["summary"] = {"cluster": the_plan["cluster"], "complete": the_plan["complete"],
                             "nodes": len(the_plan["nodes"]), "routes": len(the_plan["routes"])}
        return result

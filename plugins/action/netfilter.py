# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""podnet.hostgw.netfilter: no module run when the preflight's read shows the
rule set and its state file section as wanted (plugin_utils/observed_action.py)."""

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import netfilter as nf
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import netfilter_host as host
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import observed
from ansible_collections.podnet.hostgw.plugins.modules.netfilter import ARGUMENT_SPEC, wanted_section
from ansible_collections.podnet.hostgw.plugins.plugin_utils.observed_action import ObservedAction


class ActionModule(ObservedAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def unchanged(self, params, found):
        config, problems = nf.validate(params)
        if problems or not config.present:
            return None
        live = observed.netfilter_live(found, config.name, params["iptables_variant"])
        try:
            choice = host.choose_backend(config, live, params["backend"])
        except host.BackendError:
            return None
        if choice.warning:
            return None  # the module warns
        change = host.plan(config, live, choice.backend)
        if change.steps:
            return None
        result = dict(commands=[], ruleset=change.after, drift=change.drift, backend=choice.backend,
                      backend_reason=choice.reason)
        if params["state_file"]:
            if not observed.section_unchanged(found, params["state_file"], "netfilter",
                                              wanted_section(config, params)):
                return None
            result["state_file"] = dict(path=params["state_file"], changed=False)
        return result

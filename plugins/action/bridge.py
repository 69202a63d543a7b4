# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""podnet.hostgw.bridge: no module run when the preflight's read shows the
bridge and its state file section as wanted (plugin_utils/observed_action.py)."""

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import bridge, observed
from ansible_collections.podnet.hostgw.plugins.modules.bridge import ARGUMENT_SPEC, wanted_section
from ansible_collections.podnet.hostgw.plugins.plugin_utils.observed_action import ObservedAction


class ActionModule(ObservedAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def unchanged(self, params, found):
        name, mtu = params["name"], params["mtu"]
        # Taking a bridge down depends on keep_addr_on_down, which the read leaves out.
        if params["state"] != "present" or not params["up"]:
            return None
        ifaces, problems = bridge.validate_params(name, mtu, params["addresses"])
        if problems:
            return None
        link, addrs = observed.bridge_state(found, name)
        try:
            change = bridge.plan(name, link, addrs, state="present", mtu=mtu, up=True,
                                 addresses=ifaces, exclusive=params["exclusive"])
        except bridge.PlanError:
            return None
        if change["commands"]:
            return None
        result = dict(commands=[], added_addresses=[], removed_addresses=[], bridge=change["after"])
        if params["state_file"]:
            section = wanted_section(name, mtu, ifaces)
            if not observed.section_unchanged(found, params["state_file"], "bridge", section):
                return None
            result["state_file"] = dict(path=params["state_file"], changed=False)
        return result

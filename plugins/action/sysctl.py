# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""podnet.hostgw.sysctl: no module run when the preflight's read shows the
running values and the file as wanted (plugin_utils/observed_action.py)."""

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import names, observed, sysctl
from ansible_collections.podnet.hostgw.plugins.modules.sysctl import ARGUMENT_SPEC
from ansible_collections.podnet.hostgw.plugins.plugin_utils.observed_action import ObservedAction


class ActionModule(ObservedAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def unchanged(self, params, found):
        if params["state"] != "present" or names.abs_path_problem(params["path"]) \
                or sysctl.validate(params["values"], root=None):
            return None  # the module reports the problems
        values = dict((k, sysctl.normalise(v)) for k, v in params["values"].items())
        running = observed.running_values(found, sorted(values))
        current = observed.file_text(found, params["path"])
        if current is not None and sysctl.ownership_problem(current):
            return None
        applied, wanted = sysctl.persist_plan(values, running, current, params["apply"])
        return None if applied or current != wanted else dict(applied={}, file_changed=False)

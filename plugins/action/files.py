# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""podnet.hostgw.files: no module run when the preflight's read shows every
file, link and directory as wanted (plugin_utils/observed_action.py)."""

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import observed, textfiles
from ansible_collections.podnet.hostgw.plugins.modules.files import ARGUMENT_SPEC
from ansible_collections.podnet.hostgw.plugins.plugin_utils.observed_action import ObservedAction


class ActionModule(ObservedAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def unchanged(self, params, found):
        entries, dir_mode, problems = textfiles.entries(params)
        if problems:
            return None
        steps, problems = textfiles.plan(entries, dir_mode, observed.PathsView(found))
        return None if steps or problems else dict(changes=[])

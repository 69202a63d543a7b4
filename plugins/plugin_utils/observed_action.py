# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action of a module that can tell from the preflight's read that it
would change nothing (module_utils/_hostgw/observed.py says why and how).

A task's ``observed`` option holds that read.  The action validates the
task's arguments with the module's own argument spec, plans with the
module's own engine over the read and, when the plan is empty, returns the
module's no-change result with ``from_read: true`` instead of running it.
Anything else (no read, an argument the module would reject, a read that
does not tell, a plan with steps) runs the module on the host, which then
reads, plans and reports itself.

A read is only taken in the play that made it: the play of ``hostgw_plan``
(the cluster_plan action stamps it), so a later play that imports a role
without the preflight never plans from an old read.
"""

from collections.abc import Mapping

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.observed import Unknown


class ObservedAction(ActionBase):
    """Subclasses set ARGUMENT_SPEC (the module's) and define unchanged()."""

    ARGUMENT_SPEC = None

    def unchanged(self, params, found):
        """The module's result when PARAMS change nothing on a host as FOUND (the read),
        or None when they would change something; Unknown when the read
        cannot tell."""
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super(ObservedAction, self).run(tmp, task_vars)
        args = dict(self._task.args)
        observed = args.pop("observed", None)
        quiet = self._quiet(args, observed) if observed and self._this_plays(task_vars) else None
        if quiet is not None:
            result.update(quiet, changed=False, from_read=True)
            return result
        result.update(self._execute_module(module_args=args, task_vars=task_vars))
        return result

    def _this_plays(self, task_vars):
        plan = (task_vars or {}).get("hostgw_plan")
        return isinstance(plan, Mapping) and plan.get("play") == self._task.get_play()._uuid

    def _quiet(self, args, observed):
        validated = ArgumentSpecValidator(self.ARGUMENT_SPEC).validate(args)
        if validated.error_messages:
            return None  # the module reports them
        try:
            return self.unchanged(validated.validated_parameters, observed)
        except Unknown:
            return None

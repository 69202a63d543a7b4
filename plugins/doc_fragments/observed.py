# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    # The observed option of the modules whose action plugin can skip the module run.
    DOCUMENTATION = r"""
options:
  observed:
    description:
      - What M(podnet.hostgw.node_info) read on this host a moment earlier (its RV(podnet.hostgw.node_info#module:observed)
        result, as the P(podnet.hostgw.preflight#role) role reads it).
      - The action plugin validates the options and plans the change on the controller with the
        module's own engine over that read. When nothing would change, it reports so (RV(from_read)
        is V(true)) without running the module on the host; otherwise, or when the read does not
        show everything the plan needs, the module runs, reads the host itself and reports.
        C(--check) predicts the same either way.
      - Only pass a read made in the same play, before any task that changes what it shows.
    type: dict
attributes:
  action:
    description: Has an action plugin that runs on the controller first.
    support: full
"""

# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pictures of the cluster plan for render.yml, and verify.yml's results in
the shape those pictures read.  Documented in the .yml files of the same
names next to this file; the drawing lives in plugins/plugin_utils/topology_*."""

from ansible.errors import AnsibleFilterError

from ansible_collections.podnet.hostgw.plugins.plugin_utils import topology_model as tm
from ansible_collections.podnet.hostgw.plugins.plugin_utils.topology_mermaid import mermaid
from ansible_collections.podnet.hostgw.plugins.plugin_utils.topology_svg import svg


def _topology(plan, results):
    try:
        return tm.build(plan, results)
    except tm.TopologyError as exc:
        raise AnsibleFilterError(str(exc))


def hostgw_topology_svg(plan, results=None):
    """The cluster as an SVG document (text)."""
    return svg(_topology(plan, results))


def hostgw_topology_mermaid(plan, results=None):
    """The cluster as a Mermaid flowchart (text, without the Markdown fence)."""
    return mermaid(_topology(plan, results))


def hostgw_reachability(hosts, ping_results, time=""):
    """verify.yml's ping loops as the reachability document the pictures colour by."""
    if len(hosts) != len(ping_results):
        raise AnsibleFilterError("hostgw_reachability: %d hosts but %d ping results" % (len(hosts), len(ping_results)))
    return tm.reachability(hosts, ping_results, time)


class FilterModule:
    def filters(self):
        return {
            "hostgw_topology_svg": hostgw_topology_svg,
            "hostgw_topology_mermaid": hostgw_topology_mermaid,
            "hostgw_reachability": hostgw_reachability,
        }

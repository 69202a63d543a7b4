# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the preflight's read (``node_info``'s ``observe``) found of the
things the record, cni, forwarding (sysctl, netfilter) and bridge roles
make, and a controller-side view of it.

On a converged host, each of those roles' tasks would run its module only to
learn that nothing changes: one module run a task on every host.  Instead its
action plugin plans on the controller with the module's own engine
(``textfiles.plan``, ``sysctl.persist_plan``, ``bridge.plan``,
``netfilter_host.plan``) over this read, and runs the module only when that
plan is not empty or the read does not tell (any Unknown).  So a converged
host costs no module run for them, and ``--check`` still predicts exactly:
an empty plan is what the module would report, anything else is the
module's own answer.  The host side reads through the same textfiles.DISK
view the files module plans with.

``read(...)`` runs on the host (inside node_info); the result is plain JSON.
Everything else runs on the controller.
"""

import os

from . import bridge_host, files, netfilter_host, state, sysctl
from .iproute import IpCommandError
from .textfiles import DISK, Unknown

LIMIT = 16384  # larger files are read as "too large": their tasks run the module

# The keys of ``ip -json -details addr show`` that bridge.parse_link and
# bridge.parse_addr_info read; the rest (statistics, bridge options) is dropped.
_LINK_KEYS = ("ifname", "ifindex", "flags", "mtu", "operstate", "altnames")
_ADDR_KEYS = ("family", "local", "prefixlen", "scope", "secondary", "tentative")


# ------------------------------------------------------------ on the host --

def _path(path):
    kind, mode = DISK.look(path)
    found = {"kind": kind, "mode": mode}
    if kind == "link":
        found["target"] = DISK.readlink(path)
    elif kind == "file":
        data, bad = files.read_small(path, LIMIT)
        try:
            found["content"] = None if bad or data is None else data.decode("utf-8")
        except UnicodeDecodeError:
            found["content"] = None
    return found


def _directory(directory):
    if DISK.missing_dirs(directory):
        return {"kind": "missing", "mode": None}
    kind, mode = DISK.look_dir(directory)
    return {"kind": kind, "mode": mode}


def _bridge(ipc, name):
    data = bridge_host.read_raw(ipc, name)
    if data is None:
        return None
    if not data:
        return []
    link = dict((k, data[0][k]) for k in _LINK_KEYS if k in data[0])
    if "linkinfo" in data[0]:
        link["linkinfo"] = {"info_kind": (data[0]["linkinfo"] or {}).get("info_kind")}
    link["addr_info"] = [dict((k, a[k]) for k in _ADDR_KEYS if k in a)
                         for entry in data for a in entry.get("addr_info") or []]
    return [link]


def _running(key):
    try:
        return sysctl.read_running(key)
    except (IOError, OSError):
        return None


def read(ipc, paths=(), sysctls=(), bridge_name=None, state_file=None, netfilter=None):
    """The observation: PATHS (each with its directory), SYSCTLS' running
    values, BRIDGE_NAME's link and addresses, STATE_FILE's sections and, with
    NETFILTER ``(tools, name, iptables_variant)``, what the netfilter module
    reads of rule set NAME."""
    found = {
        "paths": dict((p, _path(p)) for p in paths),
        "dirs": dict((d, _directory(d)) for d in sorted(set(os.path.dirname(p) for p in paths))),
        "sysctl": dict((k, _running(k)) for k in sysctls if sysctl.key_problem(k) is None),
    }
    if bridge_name:
        try:
            found["bridge"] = {"name": bridge_name, "data": _bridge(ipc, bridge_name)}
        except IpCommandError:
            pass  # unknown: the bridge task runs its module and reports
    if netfilter:
        tools, name, variant = netfilter
        try:
            found["netfilter"] = {"name": name, "iptables_variant": variant,
                                  "live": netfilter_host.read_raw(tools, name)}
        except netfilter_host.CommandFailed:
            pass  # unknown: the netfilter task runs its module and reports
    if state_file:
        loaded = state.read(state_file)
        found["state_file"] = {"path": state_file, "valid": loaded.status == state.OURS and not loaded.problems,
                               "sections": loaded.sections}
    return found


# ------------------------------------------------------ on the controller --

class PathsView(object):
    """A textfiles host view of the read: raises Unknown for anything not read."""

    def __init__(self, observed):
        self.paths = (observed or {}).get("paths") or {}
        self.dirs = (observed or {}).get("dirs") or {}

    def _entry(self, table, path):
        entry = table.get(path)
        if not isinstance(entry, dict):
            raise Unknown(path)
        return entry

    def missing_dirs(self, directory):
        if self._entry(self.dirs, directory)["kind"] == "missing":
            raise Unknown(directory)  # a new directory: the module makes it
        return []

    def look_dir(self, directory):
        entry = self._entry(self.dirs, directory)
        return entry["kind"], entry["mode"]

    def look(self, path):
        entry = self._entry(self.paths, path)
        return entry["kind"], entry["mode"]

    def readlink(self, path):
        return self._entry(self.paths, path)["target"]

    def read(self, path):
        content = self._entry(self.paths, path).get("content")
        if content is None:
            raise Unknown(path)
        return content.encode("utf-8")


def running_values(observed, keys):
    """{key: running value} for KEYS from the read; Unknown if one was not read."""
    read_values = (observed or {}).get("sysctl") or {}
    if any(read_values.get(k) is None for k in keys):
        raise Unknown("sysctl")
    return dict((k, read_values[k]) for k in keys)


def file_text(observed, path):
    """The text of the regular file at PATH, None when nothing is there;
    Unknown when the read cannot tell."""
    view = PathsView(observed)
    kind, _mode = view.look(path)
    if kind == "missing":
        return None
    if kind != "file":
        raise Unknown(path)
    return view.read(path).decode("utf-8")


def bridge_state(observed, name):
    """``(link, addrs)`` of bridge NAME as bridge_host.read_state gives them."""
    found = (observed or {}).get("bridge")
    if not isinstance(found, dict) or found.get("name") != name:
        raise Unknown(name)
    return bridge_host.parse_state(name, found.get("data"))


def netfilter_live(observed, name, variant):
    """The netfilter_host.Live of rule set NAME read with iptables VARIANT."""
    found = (observed or {}).get("netfilter")
    if not isinstance(found, dict) or (found.get("name"), found.get("iptables_variant")) != (name, variant):
        raise Unknown(name)
    return netfilter_host.live_from_raw(found["live"])


def section_unchanged(observed, path, name, section):
    """Whether writing SECTION as section NAME of the state file at PATH
    would leave the file as it is."""
    found = (observed or {}).get("state_file")
    if not isinstance(found, dict) or found.get("path") != path:
        raise Unknown(path)
    if not found.get("valid"):
        return False  # missing, damaged or not the collection's: the module decides
    return (found.get("sections") or {}).get(name) == section

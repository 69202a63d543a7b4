# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the reconcile role installs on a host, as text: the layout (where
each file goes), the command scripts, the systemd units, and the rules
their settings follow.

    /usr/local/sbin/podnet-hostgw-reconcile             the command (a script)
    /usr/local/sbin/podnet-hostgw-reconcile-watch       the event watcher (opt-in)
    /usr/local/lib/podnet-hostgw/podnet_hostgw/...      the engine, the collection's
                                                        own files byte for byte
    /usr/local/lib/podnet-hostgw/installed              the install record
    /etc/systemd/system/podnet-hostgw-reconcile.service the boot run (oneshot)
    /etc/systemd/system/podnet-hostgw-reconcile.timer   every INTERVAL seconds
    /etc/systemd/system/podnet-hostgw-reconcile-watch.service  (opt-in)

The scripts run the host's Python (the one that runs the modules) in
isolated mode and import the engine as the plain package ``podnet_hostgw``.
Standard library only; nothing here touches the host.
"""

import os
import re
from collections import namedtuple

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import ownership

PACKAGE = "podnet_hostgw"
COMMAND = "podnet-hostgw-reconcile"
WATCH_COMMAND = COMMAND + "-watch"
SERVICE = COMMAND + ".service"
TIMER = COMMAND + ".timer"
WATCH_SERVICE = WATCH_COMMAND + ".service"
RECORD = "installed"
# The target each unit's [Install] WantedBy= names: where `systemctl enable`
# puts its link.
WANTED_BY = {SERVICE: "multi-user.target", TIMER: "timers.target",
             WATCH_SERVICE: "multi-user.target"}
UNITS = (SERVICE, TIMER, WATCH_SERVICE)
# Where a host shows that systemd runs (sd_booted()).
SYSTEMD_RUNNING = "/run/systemd/system"

DEFAULT_COMMAND = "/usr/local/sbin/" + COMMAND
DEFAULT_LIB_DIR = "/usr/local/lib/podnet-hostgw"
DEFAULT_UNIT_DIR = "/etc/systemd/system"
DEFAULT_INTERVAL = 10
MAX_INTERVAL = 86400
# A path on a unit's ExecStart= line or after a script's "#!": systemd and
# the kernel split at white space; systemd expands '%' and '$', and reads
# quotes and backslashes.
UNSAFE = re.compile(r"[\s\"'\\%$;]")


class Layout(namedtuple("Layout", "command lib_dir unit_dir")):
    """Where the install's files go."""

    @property
    def watch_command(self):
        return os.path.join(os.path.dirname(self.command), WATCH_COMMAND)

    @property
    def package_dir(self):
        return os.path.join(self.lib_dir, PACKAGE)

    @property
    def record(self):
        return os.path.join(self.lib_dir, RECORD)

    def unit(self, name):
        return os.path.join(self.unit_dir, name)

    def wants(self, name):
        """Where ``systemctl enable NAME`` makes its link."""
        return os.path.join(self.unit_dir, WANTED_BY[name] + ".wants", name)

    def marked_files(self):
        """The paths of the files that carry the marker line: the scripts,
        the units and the install record."""
        return [self.command, self.watch_command] + [self.unit(n) for n in UNITS] + [self.record]

    def owns(self, path):
        """Whether PATH can be part of the install (see installer.Installer)."""
        if path == self.lib_dir or path.startswith(self.lib_dir + os.sep):
            return True
        known = set([self.command, self.watch_command, self.lib_dir])
        for name in UNITS:
            known.update((self.unit(name), self.wants(name)))
        if path in known:
            return True
        # A directory the install created above one of its files.
        return any(k.startswith(path + os.sep) for k in known)


DEFAULT_LAYOUT = Layout(DEFAULT_COMMAND, DEFAULT_LIB_DIR, DEFAULT_UNIT_DIR)


# ------------------------------------------------------------------- rules --

def interval_problem(value):
    """The end of a sentence when VALUE is no whole number of seconds from 1
    to a day, else None."""
    if isinstance(value, bool):
        return "is not a whole number of seconds"
    try:
        number = int(str(value).strip())
    except ValueError:
        return "is not a whole number of seconds"
    if not 1 <= number <= MAX_INTERVAL:
        return "is out of range (1 to %d seconds)" % MAX_INTERVAL
    return None


def exec_path_problem(value):
    """An absolute path that can stand after "#!" and on ExecStart=."""
    if not isinstance(value, str) or not value.startswith("/"):
        return "is not an absolute path"
    if UNSAFE.search(value):
        return ("must not contain white space, quotes, backslashes, ';', '%' or '$' (it is "
                "written on a systemd ExecStart= line or after a script's #!)")
    if os.path.normpath(value) != value:
        return "is not a normalised path; did you mean %s?" % os.path.normpath(value)
    return None


# ------------------------------------------------------------------- texts --

def command_script(python, layout, state_file, entry="reconcile"):
    """The command: the engine's ENTRY module's ``main`` with the state file
    as its default (a ``--state-file`` given by hand comes later and wins)."""
    name = COMMAND if entry == "reconcile" else WATCH_COMMAND
    return "".join([
        "#!%s -I\n" % python,
        ownership.header("%s, installed by the reconcile role; reset.yml removes it" % name),
        '"""%s: see --help.  The engine is the collection\'s own, installed\n'
        'as the package %s in %s."""\n' % (name, PACKAGE, layout.lib_dir),
        "import sys\n",
        "\n",
        "sys.path.insert(0, %r)\n" % layout.lib_dir,
        "from %s.%s import main  # noqa: E402\n" % (PACKAGE, entry),
        "\n",
        "sys.exit(main([\"--state-file\", %r] + sys.argv[1:]))\n" % state_file,
    ])


def service_unit(layout):
    return "".join([
        ownership.header("runs %s at boot and for the timer; reset.yml removes it" % COMMAND),
        "[Unit]\n",
        "Description=Repair the host-gw pod network from its desired state (podnet.hostgw)\n",
        "Wants=network-online.target\n",
        "After=network-online.target\n",
        "# The timer starts it every few seconds: no start rate limit.\n",
        "StartLimitIntervalSec=0\n",
        "\n",
        "[Service]\n",
        "Type=oneshot\n",
        "ExecStart=%s\n" % layout.command,
        "\n",
        "[Install]\n",
        "WantedBy=%s\n" % WANTED_BY[SERVICE],
    ])


def timer_unit(interval):
    return "".join([
        ownership.header("runs %s every %d s; reset.yml removes it" % (SERVICE, interval)),
        "[Unit]\n",
        "Description=Repair the host-gw pod network every %d s (podnet.hostgw)\n" % interval,
        "\n",
        "[Timer]\n",
        "OnActiveSec=%ds\n" % interval,
        "OnUnitActiveSec=%ds\n" % interval,
        "# The default accuracy is a minute.\n",
        "AccuracySec=1s\n",
        "Unit=%s\n" % SERVICE,
        "\n",
        "[Install]\n",
        "WantedBy=%s\n" % WANTED_BY[TIMER],
    ])


def watch_unit(layout):
    return "".join([
        ownership.header("runs %s, which repairs within a second of a link, address or "
                         "route change; reset.yml removes it" % WATCH_COMMAND),
        "[Unit]\n",
        "Description=Repair the host-gw pod network on link, address and route events (podnet.hostgw)\n",
        "Wants=network-online.target\n",
        "After=network-online.target\n",
        "\n",
        "[Service]\n",
        "Type=simple\n",
        "ExecStart=%s\n" % layout.watch_command,
        "Restart=always\n",
        "RestartSec=2\n",
        "\n",
        "[Install]\n",
        "WantedBy=%s\n" % WANTED_BY[WATCH_SERVICE],
    ])

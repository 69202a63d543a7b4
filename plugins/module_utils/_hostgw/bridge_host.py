# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bridge on the host: reading it from the kernel and applying a plan of
bridge.py, through iproute.IpCommand, for the bridge module and the
reconcile command alike::

    current = read(ipc, "cni0")
    change = bridge.plan("cni0", current.link, current.addrs, mtu=1500,
                         addresses=ifaces, repair_only=True)
    outcome = apply(ipc, "cni0", change)   # outcome.error is None on success

Also here: the translation of ``ip -batch`` errors into sentences with a hint.
"""

from collections import namedtuple

from .bridge import managed_state, mismatches, parse_addr_info, parse_link
from .iproute import IpCommandError

# What ip prints when the device does not exist (iproute2 versions differ).
_MISSING = ("does not exist", "Cannot find device")
KEEP_ADDR_ON_DOWN = "/proc/sys/net/ipv6/conf/%s/keep_addr_on_down"

Current = namedtuple("Current", "link addrs keep_v6_on_down")
Current.__doc__ = """The bridge as the kernel shows it: ``link`` (bridge.parse_link,
None when there is no such link), ``addrs`` (bridge.parse_addr_info) and
``keep_v6_on_down`` (whether taking it down keeps its IPv6 addresses; only
read when the wanted state takes it down)."""

Outcome = namedtuple("Outcome", "batch batch_failed failures bridge error")
Outcome.__doc__ = """What applying a plan did: the iproute.BatchResult, whether
ip reported a failure, the failed lines (dicts ``line``, ``command``, ``error``,
``hint``), the bridge's managed state read back afterwards (None when that
read failed) and ``error``: None, or one message saying what went wrong."""


def read_raw(ipc, name):
    """``ip -json -details addr show dev NAME`` as read (the link with its
    details and its addresses), or None when there is no such link."""
    try:
        return ipc.json(["-details", "addr", "show", "dev", name])
    except IpCommandError as exc:
        if any(text in (exc.stderr or "") for text in _MISSING):
            return None
        raise


def parse_state(name, data):
    """``(link, addrs)`` of NAME from DATA (read_raw); link None when there
    is no such link, addrs only for a bridge really named NAME."""
    link = parse_link(data) if data is not None else None
    if link is None or link["ifname"] != name or link["kind"] != "bridge":
        return link, []
    return link, parse_addr_info(data)


def read_state(ipc, name):
    """``(link, addrs)`` of NAME as the kernel reports them, from one read_raw."""
    return parse_state(name, read_raw(ipc, name))


def keeps_ipv6_on_down(name):
    """Whether the kernel keeps NAME's IPv6 addresses when it goes down:
    ``net.ipv6.conf.all.keep_addr_on_down`` if non-zero, else NAME's own
    setting; positive means keep."""
    def setting(conf):
        try:
            with open(KEEP_ADDR_ON_DOWN % conf) as fh:
                return int(fh.read().strip())
        except (IOError, OSError, ValueError):
            return 0
    return (setting("all") or setting(name)) > 0


def read(ipc, name, up=True):
    """The Current state of bridge NAME; UP is the wanted admin state (taking
    the bridge down is the only change that needs keep_addr_on_down)."""
    link, addrs = read_state(ipc, name)
    keep_v6 = False
    if link is not None and link["up"] and not up and any(a["iface"].version == 6 for a in addrs):
        keep_v6 = keeps_ipv6_on_down(name)
    return Current(link, addrs, keep_v6)


def apply(ipc, name, change):
    """Run CHANGE's commands (a bridge.plan) in one ``ip -force -batch`` and
    read NAME back: an Outcome.  Raises IpCommandError only when ip could not
    run at all."""
    commands = change["commands"]
    batch = ipc.batch(commands)
    try:
        link, addrs = read_state(ipc, name)
        actual = managed_state(name, link if link and link["kind"] == "bridge" else None, addrs)
        read_error = None
    except IpCommandError as exc:
        actual, read_error = None, str(exc)
    failed = batch.rc != 0 or bool(batch.errors)
    failures = []
    if failed:
        error, failures = describe_batch_failure(commands, batch)
    elif actual is None:
        error = "the changes were applied but reading %s back failed: %s" % (name, read_error)
    else:
        problems = mismatches(change["after"], actual)
        error = ("after the changes %s is not as planned: %s" % (name, "; ".join(problems))
                 if problems else None)
    return Outcome(batch, failed, failures, actual, error)


# ------------------------------------------------------- errors from ip -batch --

_HINTS = (
    ("Operation not permitted",
     "changing links needs CAP_NET_ADMIN; run the task with become: true"),
    ("Unknown device type",
     "the kernel has no bridge support; load the bridge module (modprobe bridge)"),
    ("Cannot find device",
     "the link disappeared while the batch ran (changed concurrently?)"),
    ("address already assigned",
     "the address appeared while the batch ran (changed concurrently?)"),
    ("address not found",
     "the address was already gone (changed concurrently?)"),
    ("cannot assign requested address",
     "the address was already gone (changed concurrently?)"),
    ("File exists",
     "a link or address with that name already exists (changed concurrently?)"),
)


def explain(command, message):
    """A hint for a failed batch line, or None."""
    words = command.split()
    if len(words) > 2 and words[0] == "addr" and words[1] in ("add", "replace") and ":" in words[2]:
        if "Permission denied" in message or "IPv6 is disabled" in message:
            return ("IPv6 is disabled on this link: check the sysctls net.ipv6.conf.%s.disable_ipv6 "
                    "and net.ipv6.conf.default.disable_ipv6" % words[-1])
        if "Invalid argument" in message:
            return "IPv6 is not available on this link (MTU below 1280 or IPv6 disabled)"
    lowered = message.lower()
    for needle, hint in _HINTS:
        if needle.lower() in lowered:
            return hint
    return None


def describe_batch_failure(commands, batch):
    """``(message, failures)`` for a failed ``ip -batch`` run (an
    iproute.BatchResult); FAILURES is a list of dicts ``line``,
    ``command``, ``error``, ``hint`` (hint may be None)."""
    failures = []
    parts = []
    for number in sorted(batch.errors):
        command = commands[number - 1] if 0 < number <= len(commands) else "?"
        error = batch.errors[number]
        hint = explain(command, error)
        failures.append({"line": number, "command": command, "error": error, "hint": hint})
        parts.append("'%s' failed: %s%s" % (command, error, " (%s)" % hint if hint else ""))
    if not parts:
        detail = "; ".join(batch.unattributed) or (batch.err or "").strip() or "no error output"
        return "ip -batch failed: %s" % detail, failures
    return "ip -batch failed: " + "; ".join(parts), failures

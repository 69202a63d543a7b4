# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kernel parameters: their running values under /proc/sys and the one file
that persists them, which the collection owns.

The file is the collection's only when it carries the ownership marker
(``ownership.is_ours``) among its first lines; any other file at that path
belongs to someone else and is never written or removed.  Besides the
values it records, as ``# previous: KEY = VALUE`` comments, what each
parameter was before the collection first changed it: that record is
written before a running value changes, and never overwritten, so a reset
can put every parameter back.
"""

import errno
import os
import re
import stat

from . import names, ownership
from .errors import Problems

PROC_SYS = "/proc/sys"
DEFAULT_PATH = "/etc/sysctl.d/60-podnet-hostgw.conf"
PURPOSE = "kernel parameters; local edits are overwritten"
PREVIOUS = "# previous: "
# Larger than any file the collection writes: a bigger file is not read whole.
MAX_FILE_BYTES = 64 * 1024

_KEY = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9_.\-]*")


class NotOurs(Exception):
    """The path holds something the collection did not create; the message
    is a whole sentence that names the path and says what to do."""


class WriteFailed(Exception):
    """Writing a running value failed; ``done`` holds the values written before."""

    def __init__(self, message, done):
        super(WriteFailed, self).__init__(message)
        self.done = done


def normalise(value):
    """A value as the kernel prints it, runs of white space folded."""
    return " ".join(str(value).split())


def proc_path(key, root=PROC_SYS):
    return os.path.join(root, key.replace(".", "/"))


# --------------------------------------------------------------- validation --

def key_problem(key):
    if not isinstance(key, str) or not _KEY.fullmatch(key) or ".." in key:
        return "is not a sysctl name (dotted words such as net.ipv4.ip_forward)"
    return None


def value_problem(value):
    if isinstance(value, bool):
        return "is a boolean; write 0 or 1"
    if not isinstance(value, (str, int)):
        return "is not a number or a string"
    if names.CONTROL.search(normalise(value)):
        return "contains a control character"
    return None


def kernel_problem(key, root=PROC_SYS):
    """None when this kernel has the parameter KEY (a file under ROOT)."""
    path = proc_path(key, root)
    if os.path.isdir(path):
        return "is a group of parameters (%s is a directory), not one parameter" % path
    if not os.path.isfile(path):
        return "does not exist on this kernel (no %s)" % path
    return None


def validate(values, root=PROC_SYS):
    """Problems of VALUES (``{key: value}``), each parameter checked against
    this kernel too (it must exist under ROOT); ROOT None checks the names
    and values only (on the controller, which cannot see the host's kernel)."""
    problems = Problems()
    for key in sorted(values, key=str):
        bad = key_problem(key) or (root is not None and kernel_problem(key, root))
        if bad:
            problems.append(names.problem("values key", key, bad))
            continue
        bad = value_problem(values[key])
        if bad:
            problems.append(names.problem("values[%s]" % names.show(key), values[key], bad))
    return problems


# --------------------------------------------------------- the owned file --

def ownership_problem(text):
    """None when TEXT, the content of an existing file at the path, is the
    collection's; else the end of a sentence that starts with the path's
    setting and value (``names.problem``).  The preflight applies the same
    rule to the text it reads."""
    if ownership.is_ours(text):
        return None
    return ("exists and was not created by podnet.hostgw (no %s line at its top); the "
            "collection only writes or removes a file of its own, so nothing was changed: "
            "point the setting at a new file such as %s, or move that file away"
            % (names.show(ownership.MARKER), DEFAULT_PATH))


def read_owned(path, key="path"):
    """The text of the collection's file at PATH, or None when nothing is
    there.  Raises NotOurs when PATH is anything else: not a regular file,
    or a file without the marker.  KEY names the setting in the message."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    if not stat.S_ISREG(info.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise NotOurs(names.problem(key, path, "is %s; the collection only writes or removes "
                                               "a regular file of its own, so nothing was "
                                               "changed" % what))
    with open(path, "rb") as fh:
        raw = fh.read(MAX_FILE_BYTES + 1)
    text = raw.decode("utf-8", "replace")
    bad = ownership_problem(text)
    if bad is None and len(raw) > MAX_FILE_BYTES:
        bad = "is larger than any file the collection writes (%d bytes)" % MAX_FILE_BYTES
    if bad:
        raise NotOurs(names.problem(key, path, bad))
    return text


def render(values, previous):
    """The file: the marker, the recorded earlier values, the values."""
    return (ownership.header(PURPOSE)
            + "".join("%s%s = %s\n" % (PREVIOUS, k, previous[k]) for k in sorted(previous))
            + "".join("%s = %s\n" % (k, values[k]) for k in sorted(values)))


def parse_previous(text):
    """The earlier values recorded in the collection's file."""
    previous = {}
    for line in (text or "").splitlines():
        if line.startswith(PREVIOUS) and "=" in line:
            key, value = line[len(PREVIOUS):].split("=", 1)
            previous[key.strip()] = normalise(value)
    return previous


def record_previous(recorded, running):
    """The record to write: every value RECORDED already (never overwritten,
    also for a parameter no longer managed), plus the RUNNING value of each
    parameter not recorded yet."""
    out = dict(running)
    out.update(recorded)
    return out


def persist_plan(values, running, current_file, apply=True):
    """``(applied, wanted_file)`` for VALUES (normalised) given the RUNNING
    values and the CURRENT_FILE text (None: no file): the running values to
    change (none unless APPLY) and the file's text, earlier values kept."""
    applied = dict((k, v) for k, v in values.items() if running[k] != v) if apply else {}
    previous = record_previous(parse_previous(current_file), running)
    return applied, render(values, previous)


# ----------------------------------------------------------- running values --

def read_running(key, root=PROC_SYS):
    with open(proc_path(key, root)) as fh:
        return normalise(fh.read())


def restorable(previous, root=PROC_SYS):
    """The recorded earlier values that differ from the running ones (keys
    that are not sysctl names or not on this kernel are left out)."""
    out = {}
    for key, value in previous.items():
        if key_problem(key) is None and kernel_problem(key, root) is None \
                and read_running(key, root) != value:
            out[key] = value
    return out


def write_running(changes, root=PROC_SYS):
    """Write CHANGES (``{key: value}``) in key order; WriteFailed names the
    first that fails."""
    done = {}
    for key in sorted(changes):
        try:
            with open(proc_path(key, root), "w") as fh:
                fh.write(changes[key] + "\n")
        except (IOError, OSError) as exc:
            raise WriteFailed("cannot set %s to %s: %s" % (key, changes[key], exc), done)
        done[key] = changes[key]
    return done

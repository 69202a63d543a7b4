# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A role's few small files, their directories and symbolic links, made to
match in one pass: what used to be a ``file`` task per directory, a ``copy``
or ``template`` task per file and a ``file`` task per link (one worker and
two or three module runs each on every host).

The same rules as those tasks: each entry's directory gets DIR_MODE
(created with its missing parents, or its mode set); a file gets exactly its
content and mode, written atomically (a temporary file in the same
directory, then a rename); a link points at its target, replacing a file or
another link at its path (``force``).  Something else at a path (a directory
at a file's path, a file at a directory's) is a problem, and then nothing is
changed.

``plan`` only reads and returns the steps; ``apply`` makes them in order.
``plan`` reads through a view of the host: DISK on the host itself, or on
the controller a view of what the preflight's read found
(``observed.PathsView``), so a role's task can skip its module run when
nothing would change.  Standard library only.
"""

import os
import stat
import tempfile
from collections import namedtuple

from . import files, names

File = namedtuple("File", "path content mode")
File.__doc__ = "A regular file: PATH, its CONTENT (bytes) and MODE (an int)."
Link = namedtuple("Link", "path target")
Link.__doc__ = "A symbolic link at PATH pointing at TARGET."

Step = namedtuple("Step", "action path before after")
Step.__doc__ = """One change: ``mkdir`` (AFTER: the mode), ``chmod`` (BEFORE
and AFTER: modes), ``write`` (BEFORE: the old content or None, AFTER: the
File) or ``link`` (BEFORE: the old target, REGULAR_FILE or None;
AFTER: the Link)."""

REGULAR_FILE = object()  # a link step's BEFORE: a regular file is at the path


def _parse_mode(key, value, problems):
    try:
        mode = int(value, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        problems.append(names.problem(key, value, "is not an octal mode such as '0644'"))
    return mode


def entries(params):
    """``(entries, dir_mode, problems)`` from the files module's PARAMS
    (files, links, directory_mode, with their defaults)."""
    problems, found, paths = [], [], set()
    dir_mode = _parse_mode("directory_mode", params["directory_mode"], problems)
    for index, item in enumerate(params["files"]):
        mode = _parse_mode("files[%d].mode" % index, item["mode"], problems)
        found.append(File(item["path"], item["content"].encode("utf-8"), mode))
    found += [Link(item["path"], item["target"]) for item in params["links"]]
    for entry in found:
        bad = names.abs_path_problem(entry.path)
        if bad:
            problems.append(names.problem("path", entry.path, bad))
        elif entry.path in paths:
            problems.append(names.problem("path", entry.path, "is given twice"))
        paths.add(entry.path)
    return found, dir_mode, problems


class Unknown(Exception):
    """A view cannot tell (the path was not read): plan on the host instead."""


class Disk(object):
    """The host's files as ``plan`` looks at them."""

    @staticmethod
    def missing_dirs(directory):
        """DIRECTORY and its missing parents, outermost first, that do not exist."""
        missing = []
        while directory and directory != os.path.dirname(directory) and not os.path.lexists(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        return list(reversed(missing))

    @staticmethod
    def look_dir(directory):
        """``(kind, mode)`` of DIRECTORY with every link on its way resolved."""
        kind, st = files.look(os.path.realpath(directory))
        return kind, st and stat.S_IMODE(st.st_mode)

    @staticmethod
    def look(path):
        """``(kind, mode)`` of PATH itself (see files.look); mode None when missing."""
        kind, st = files.look(path)
        return kind, st and stat.S_IMODE(st.st_mode)

    readlink = staticmethod(os.readlink)

    @staticmethod
    def read(path):
        with open(path, "rb") as fh:
            return fh.read()


DISK = Disk()


def plan(entries, dir_mode, host=DISK):
    """``(steps, problems)`` that make ENTRIES (File and Link) so, as HOST
    (DISK, or a view of an earlier read that raises Unknown) shows them."""
    steps, problems, seen = [], [], set()
    for entry in entries:
        directory = os.path.dirname(entry.path)
        if directory in seen:
            continue
        seen.add(directory)
        missing = host.missing_dirs(directory)
        if missing:
            steps.extend(Step("mkdir", d, None, dir_mode) for d in missing)
            continue
        kind, mode = host.look_dir(directory)
        if kind != "dir":
            problems.append("%s is not a directory" % directory)
        elif mode != dir_mode:
            steps.append(Step("chmod", directory, mode, dir_mode))
    for entry in entries:
        kind, mode = host.look(entry.path)
        if kind in ("dir", "other"):
            problems.append("%s is %s, not a %s" % (entry.path, "a directory" if kind == "dir" else
                                                    "a special file", "file" if isinstance(entry, File)
                                                    else "symbolic link"))
        elif isinstance(entry, Link):
            current = host.readlink(entry.path) if kind == "link" else None
            if current != entry.target:
                before = current if kind == "link" else (REGULAR_FILE if kind == "file" else None)
                steps.append(Step("link", entry.path, before, entry))
        else:
            old = host.read(entry.path) if kind == "file" else None
            if kind == "link" or old != entry.content:
                steps.append(Step("write", entry.path, old, entry))
            elif mode != entry.mode:
                steps.append(Step("chmod", entry.path, mode, entry.mode))
    return ([], problems) if problems else (steps, [])


def _write(entry):
    directory = os.path.dirname(entry.path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".podnet-hostgw-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(entry.content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, entry.mode)
        os.replace(tmp, entry.path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _link(entry):
    tmp = os.path.join(os.path.dirname(entry.path), ".podnet-hostgw-link-%d" % os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(entry.target, tmp)
    os.replace(tmp, entry.path)


def apply(steps):
    """Make STEPS, in order (raises OSError on the first that fails)."""
    for step in steps:
        if step.action == "mkdir":
            os.mkdir(step.path, step.after)
            os.chmod(step.path, step.after)  # whatever the umask
        elif step.action == "chmod":
            os.chmod(step.path, step.after)
        elif step.action == "write":
            _write(step.after)
        else:
            _link(step.after)


def describe(step):
    """The step as one line: ``write /etc/x``, ``mkdir /etc/y (0755)``."""
    if step.action in ("mkdir", "chmod"):
        return "%s %s (%04o)" % (step.action, step.path, step.after)
    if step.action == "link":
        return "link %s -> %s" % (step.path, step.after.target)
    return "write %s (%04o)" % (step.path, step.after.mode)


def diff(step):
    """An Ansible diff entry for STEP: the file's text, a link's target, a mode."""
    if step.action == "write":
        before = "" if step.before is None else step.before.decode("utf-8", "replace")
        return dict(before_header=step.path, after_header=step.path, before=before,
                    after=step.after.content.decode("utf-8", "replace"))
    if step.action == "link":
        before = "" if step.before is None else (
            "a regular file\n" if step.before is REGULAR_FILE else "link to %s\n" % step.before)
        return dict(before_header=step.path, after_header=step.path, before=before,
                    after="link to %s\n" % step.after.target)
    before = "" if step.before is None else "mode %04o\n" % step.before
    what = "directory, " if step.action == "mkdir" else ""
    return dict(before_header=step.path, after_header=step.path, before=before,
                after="%smode %04o\n" % (what, step.after))

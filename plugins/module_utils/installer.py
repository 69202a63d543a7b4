# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files a module installs on a host and removes again, owned the
collection's way: never overwrite or delete what is not the collection's,
and remove exactly what was installed.

An install is a list of entries - ``File`` (content, mode) and ``Link``
(a symbolic link and its target) - and the directories above them, created
where missing.  Its *record* (a text file, the collection's marker line
first) lists every file and link it installed and every directory it
created, one ``KIND PATH`` line each.  Ownership:

* a ``File`` that is ``marked`` (its content carries ownership.MARKER) is
  the collection's when the file at its path carries the marker;
* any other file is the collection's when the record lists it;
* a link is the collection's when it points at the entry's target;
* a directory is removed only when the record says it was created, and only
  when it is empty.

Anything else at an entry's path is a problem: ``plan`` reports it and the
caller changes nothing.  The record is written before the files it adds
(the union of before and after), so a run that dies half way still lists
everything it may have created; the final record follows the changes.

A Python file's byte-code cache (``__pycache__/NAME.*.pyc``, which the
interpreter writes when it runs an installed module) goes with the file, and
a ``__pycache__`` directory inside a created directory goes when empty.

``plan`` only reads; ``apply`` makes the plan's steps, in order: create
directories, write the intent record, write files and links, remove what
is no longer wanted, remove empty created directories, write the final
record (or remove it with the rest).  Files are written atomically: a
temporary file in the same directory, fsync, rename, fsync of the directory.
Standard library only.
"""

import os
import re
import stat
import tempfile
from collections import namedtuple

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import files, ownership

File = namedtuple("File", "path content mode marked")
File.__doc__ = "A regular file: its bytes, its mode, and whether it carries the marker."
Link = namedtuple("Link", "path target")
Link.__doc__ = "A symbolic link at PATH pointing at TARGET."

Step = namedtuple("Step", "action path before after mode")
Step.__doc__ = """One change: ``mkdir``, ``write`` (BEFORE/AFTER bytes, None
when missing), ``chmod``, ``link`` (AFTER the target), ``remove``, ``rmdir``;
``uncache`` removes PATH, a byte-code cache file."""

Plan = namedtuple("Plan", "steps problems record_before record_after intent notes")
Plan.__doc__ = """What ``plan`` found: STEPS (in apply order, records apart),
PROBLEMS (sentences; then no steps), the record's text before and after
(None: no record), INTENT (the record written before the changes, or None)
and NOTES (what was left alone, as sentences)."""

KINDS = ("dir", "file", "marked", "link")
CACHE_DIR = "__pycache__"


class InstallError(Exception):
    """A step failed; ``done`` lists the steps made before it."""

    def __init__(self, message, done):
        super(InstallError, self).__init__(message)
        self.done = done


# ------------------------------------------------------------------ reading --

def look(path):
    """``(kind, data)`` of PATH without following a link: ``missing``,
    ``file`` (data: (bytes, mode)), ``link`` (data: its target), ``dir`` or
    ``other``."""
    kind, st = files.look(path)
    if kind == "link":
        return kind, os.readlink(path)
    if kind == "file":
        with open(path, "rb") as fh:
            return kind, (fh.read(), stat.S_IMODE(st.st_mode))
    return kind, None


def parse_record(text):
    """``({kind: set of paths}, problems)`` of a record's text."""
    entries = dict((kind, set()) for kind in KINDS)
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        kind, _sep, path = line.partition(" ")
        if kind not in KINDS or not os.path.isabs(path):
            problems.append("line %d %r is not 'dir|file|marked|link /absolute/path'" % (number, line))
            continue
        entries[kind].add(os.path.normpath(path))
    return entries, problems


def render_record(purpose, entries):
    lines = [ownership.header(purpose).rstrip("\n")]
    for kind in KINDS:
        lines.extend("%s %s" % (kind, path) for path in sorted(entries[kind]))
    return "\n".join(lines) + "\n"


def cache_files(path):
    """The byte-code caches of the Python file PATH that exist."""
    stem, ext = os.path.splitext(os.path.basename(path))
    if ext != ".py":
        return []
    cache = os.path.join(os.path.dirname(path), CACHE_DIR)
    try:
        names = os.listdir(cache)
    except OSError:
        return []
    pattern = re.compile(r"^%s\.[A-Za-z0-9_-]+(\.opt-[12])?\.pyc$" % re.escape(stem))
    return sorted(os.path.join(cache, n) for n in names if pattern.match(n))


# ----------------------------------------------------------------- planning --

def _kind_of(entry):
    if isinstance(entry, Link):
        return "link"
    return "marked" if entry.marked else "file"


def _ancestors(path):
    out = []
    parent = os.path.dirname(path)
    while parent != os.path.dirname(parent):
        out.append(parent)
        parent = os.path.dirname(parent)
    return out


class Installer(object):
    """Plans and applies one install whose record lives at RECORD_PATH.

    ALLOWED(path) says whether a path may belong to this install at all: a
    record line outside it is never acted on (a hand-edited record cannot
    make the removal delete another file)."""

    def __init__(self, record_path, purpose, allowed):
        self.record_path = record_path
        self.purpose = purpose
        self.allowed = allowed

    def read_record(self):
        """``(entries or None, problems)``: None when there is no record."""
        kind, data = look(self.record_path)
        if kind == "missing":
            return None, []
        if kind != "file":
            return None, ["%s is %s, not a regular file; move it away"
                          % (self.record_path, _describe(kind, data))]
        text = data[0].decode("utf-8", "replace")
        if not ownership.is_ours(text):
            return None, ["%s is not the collection's (no '%s' line at its top): move it away"
                          % (self.record_path, ownership.MARKER)]
        entries, bad = parse_record(text)
        return entries, ["%s: %s" % (self.record_path, b) for b in bad]

    def plan(self, wanted, leftovers=()):
        """The Plan that makes WANTED (File and Link entries) the install;
        ``wanted=[]`` removes it.  LEFTOVERS: entries an install whose record
        is lost may have left; removed when the collection's by their own
        rule (a marked file with the marker, a link to its target)."""
        recorded, problems = self.read_record()
        notes = []
        if problems and not wanted:
            # Removing: a record that is not ours is left alone, like the
            # files it would vouch for; the marked files and links still go.
            notes, problems, recorded = ["%s; left alone" % p for p in problems], [], None
        had_record = recorded is not None
        recorded = recorded or dict((kind, set()) for kind in KINDS)
        for kind in KINDS:
            for path in sorted(recorded[kind]):
                if not self.allowed(path):
                    notes.append("%s lists %s, which is not a path of this install; left alone"
                                 % (self.record_path, path))
                    recorded[kind].discard(path)

        wanted_paths = set(e.path for e in wanted)
        new_dirs = self._missing_dirs(list(wanted_paths) + ([self.record_path] if wanted else []))
        steps = [Step("mkdir", d, None, None, 0o755) for d in new_dirs]
        for entry in wanted:
            problems.extend(self._want(entry, recorded, steps))

        old = [(path, kind, None) for kind in ("file", "marked", "link")
               for path in sorted(recorded[kind] - wanted_paths)]
        known = set(path for path, _k, _e in old) | wanted_paths
        old.extend((e.path, _kind_of(e), e) for e in leftovers if e.path not in known)
        for path, kind, leftover in old:
            step, note = self._removal(path, kind, leftover)
            if step is not None:
                steps.extend(self._uncache(path))
                steps.append(step)
            if note:
                notes.append(note)
        if problems:
            return Plan([], problems, None, None, None, notes)

        gone = set(s.path for s in steps if s.action in ("remove", "uncache"))
        if not wanted and had_record:
            gone.add(self.record_path)
        keep = set(d for p in wanted_paths | ({self.record_path} if wanted else set())
                   for d in _ancestors(p))
        created = set(recorded["dir"]) | set(new_dirs)
        rmdirs = self._rmdirs(created - keep - set(new_dirs), gone)
        steps.extend(rmdirs)
        created -= set(s.path for s in rmdirs)

        record_before = render_record(self.purpose, recorded) if had_record else None
        record_after = intent = None
        if wanted:
            after = dict((kind, set()) for kind in KINDS)
            after["dir"] = created
            for entry in wanted:
                after[_kind_of(entry)].add(entry.path)
            record_after = render_record(self.purpose, after)
            if any(s.action in ("mkdir", "write", "link") for s in steps):
                union = dict((kind, recorded[kind] | after[kind]) for kind in KINDS)
                intent = render_record(self.purpose, union)
                if intent == record_before:
                    intent = None
        return Plan(steps, [], record_before, record_after, intent, notes)

    @staticmethod
    def _missing_dirs(paths):
        """The directories above PATHS that do not exist, shallowest first."""
        missing = set()
        for path in paths:
            for parent in _ancestors(path):
                if parent in missing:
                    continue
                if os.path.lexists(parent):
                    break
                missing.add(parent)
        return sorted(missing, key=lambda p: (p.count(os.sep), p))

    def _want(self, entry, recorded, steps):
        """Add the steps that make ENTRY so; its problems."""
        try:
            kind, data = look(entry.path)
        except OSError as exc:
            return ["%s cannot be read (%s)" % (entry.path, exc.strerror)]
        if isinstance(entry, Link):
            if kind == "missing":
                steps.append(Step("link", entry.path, None, entry.target, None))
                return []
            if kind == "link" and _same_target(entry.path, data, entry.target):
                return []
            return ["%s is %s, not a link to %s; not the collection's: move it away"
                    % (entry.path, _describe(kind, data), entry.target)]
        if kind == "missing":
            steps.append(Step("write", entry.path, None, entry.content, entry.mode))
            return []
        if kind != "file":
            return ["%s is %s, not a regular file: move it away" % (entry.path, _describe(kind, data))]
        content, mode = data
        if entry.marked:
            ours = _marked(content)
            why = "no '%s' line at its top" % ownership.MARKER
        else:
            ours = entry.path in recorded["file"]
            why = "not in the collection's install record %s" % self.record_path
        if not ours:
            return ["%s is not the collection's (%s): move it away" % (entry.path, why)]
        if content != entry.content:
            steps.extend(self._uncache(entry.path))
            steps.append(Step("write", entry.path, content, entry.content, entry.mode))
        elif mode != entry.mode:
            steps.append(Step("chmod", entry.path, mode, entry.mode, entry.mode))
        return []

    @staticmethod
    def _removal(path, kind, leftover):
        """``(Step or None, note)`` for PATH of record KIND (or a LEFTOVER
        entry), no longer wanted: removed when still the collection's."""
        try:
            now, data = look(path)
        except OSError as exc:
            return None, "%s cannot be read (%s); left alone" % (path, exc.strerror)
        if now == "missing":
            return None, None
        if kind == "link" and now == "link":
            if leftover is None or _same_target(path, data, leftover.target):
                return Step("remove", path, data, None, None), None
        elif kind == "file" and now == "file" and leftover is None:
            return Step("remove", path, data[0], None, None), None
        elif kind == "marked" and now == "file" and _marked(data[0]):
            return Step("remove", path, data[0], None, None), None
        if leftover is not None:
            return None, None       # found, but not the collection's: nothing to say
        return None, "%s is %s now, not what the collection installed; left alone" % (
            path, _describe(now, data))

    @staticmethod
    def _uncache(path):
        return [Step("uncache", p, None, None, None) for p in cache_files(path)]

    @staticmethod
    def _rmdirs(dirs, gone):
        """rmdir steps for the created DIRS that are empty once GONE (paths)
        are removed, deepest first; an emptied ``__pycache__`` in them too."""
        steps = []
        emptied = set(gone)

        def empty_after(d):
            try:
                names = os.listdir(d)
            except OSError:
                return False
            return all(os.path.join(d, n) in emptied for n in names)

        for d in sorted(dirs, key=lambda p: (-p.count(os.sep), p)):
            cache = os.path.join(d, CACHE_DIR)
            if os.path.isdir(cache) and not os.path.islink(cache) and empty_after(cache):
                steps.append(Step("rmdir", cache, None, None, None))
                emptied.add(cache)
            if os.path.isdir(d) and empty_after(d):
                steps.append(Step("rmdir", d, None, None, None))
                emptied.add(d)
        return steps

    # -- applying

    def apply(self, plan, move=os.replace):
        """Make PLAN's changes.  MOVE(tmp, path) puts a written temporary
        file in place (the module passes one that also sets the SELinux
        context).  Raises InstallError naming the step that failed."""
        done = []
        on_disk = plan.record_before
        by_action = {}
        for step in plan.steps:
            by_action.setdefault(step.action, []).append(step)
        try:
            for step in by_action.get("mkdir", []):
                os.mkdir(step.path, 0o755)
                done.append(step)
            if plan.intent is not None:
                self._write(self.record_path, plan.intent.encode("utf-8"), 0o644, move)
                on_disk = plan.intent
            for step in plan.steps:
                if step.action in ("write", "chmod", "link", "remove", "uncache"):
                    self._step(step, move)
                    done.append(step)
            if plan.record_after is None and on_disk is not None:
                os.unlink(self.record_path)
                on_disk = None
            for step in by_action.get("rmdir", []):
                os.rmdir(step.path)
                done.append(step)
            if plan.record_after is not None and plan.record_after != on_disk:
                self._write(self.record_path, plan.record_after.encode("utf-8"), 0o644, move)
        except OSError as exc:
            raise InstallError("%s: %s" % (exc.filename or self.record_path, exc.strerror or exc), done)
        return done

    def _step(self, step, move):
        if step.action == "write":
            self._write(step.path, step.after, step.mode, move)
        elif step.action == "chmod":
            os.chmod(step.path, step.mode)
        elif step.action == "link":
            os.symlink(step.after, step.path)
            _fsync_dir(os.path.dirname(step.path))
        else:                                   # remove, uncache
            os.unlink(step.path)

    @staticmethod
    def _write(path, content, mode, move):
        directory = os.path.dirname(path)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            move(tmp, path)
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise
        os.chmod(path, mode)
        _fsync_dir(directory)


def _marked(content):
    return ownership.is_ours(content[:4096].decode("utf-8", "replace"))


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_target(path, current, target):
    """Whether the link at PATH reading CURRENT points where TARGET does."""
    here = os.path.dirname(path)
    return os.path.normpath(os.path.join(here, current)) == os.path.normpath(os.path.join(here, target))


def _describe(kind, data):
    if kind == "link":
        return "a link to %s" % data
    return {"dir": "a directory", "other": "a special file", "file": "a regular file"}.get(kind, kind)

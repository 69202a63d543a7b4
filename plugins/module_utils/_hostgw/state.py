# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host's desired state: one JSON file (by default
``/etc/podnet/hostgw-state.json``) that the bridge, ip_route and netfilter
modules write and the reconcile command reads.

Each of those modules owns one *section* and updates it (read, modify,
write) inside the host lock, before it applies its kernel change, so a
reconcile run (which takes the same lock) always finds a file and a kernel
that belong together.  The file::

    {
      "managed_by": "podnet.hostgw",
      "format": 1,
      "note": "...",
      "checksum": "sha256:<hex of the canonical sections>",
      "sections": {
        "bridge": {"addresses": [...], "mtu": 1500, "name": "cni0"},
        "netfilter": {"backend": "auto", "cluster_cidrs": [...], "forward": true,
                      "iptables_variant": "auto", "masquerade": true,
                      "name": "podnet_hostgw"},
        "routes": {"nexthop_objects": false, "protocol": "hostgw",
                   "protocol_number": 252, "routes": ["192.168.1.0/24 via ..."],
                   "tables": ["main"]}
      }
    }

The canonical sections are ``json.dumps(sections, sort_keys=True,
separators=(",", ":"))``: a file that was truncated, damaged or edited by
hand no longer matches its checksum.  A file is the collection's when
``"managed_by": "podnet.hostgw"`` stands at its start; any other file at
that path is never overwritten or deleted.  It is written atomically: a
temporary file in the same directory, fsync, rename, fsync of the
directory.  Removing the last section deletes the file.

This module checks the file and the shape of each section (keys and
types); what the values mean is checked by the engine part that uses them
(``bridge.validate_params``, ``routes.options.validate_routes``,
``netfilter.validate``).
"""

import hashlib
import json
import os
from collections import namedtuple

DEFAULT_PATH = "/etc/podnet/hostgw-state.json"
MANAGED_BY = "podnet.hostgw"
FORMAT = 1
NOTE = ("The desired pod network state of this host, written by podnet.hostgw's modules and "
        "read by podnet-hostgw-reconcile. Do not edit it (the checksum catches edits): change "
        "the inventory and run site.yml.")
# Where the marker must stand: the writer puts it on the second line.
MARKER = '"managed_by": "%s"' % MANAGED_BY
MARKER_WITHIN = 200

# Each section's keys and their types: str, int, int? (int or null), bool, [str].
SHAPES = {
    "bridge": (("name", "str"), ("mtu", "int?"), ("addresses", "[str]")),
    "routes": (("protocol", "str"), ("protocol_number", "int"), ("nexthop_objects", "bool"),
               ("tables", "[str]"), ("routes", "[str]")),
    "netfilter": (("name", "str"), ("backend", "str"), ("iptables_variant", "str"),
                  ("cluster_cidrs", "[str]"), ("forward", "bool"), ("masquerade", "bool")),
}

# What read() found at the path.
MISSING = "missing"
EMPTY = "empty"            # zero bytes or only white space: nothing to lose
FOREIGN = "foreign"        # not the collection's: never overwritten or deleted
UNREADABLE = "unreadable"  # open/read failed (permissions, a directory, ...)
OURS = "ours"              # the collection's; valid unless problems

Loaded = namedtuple("Loaded", "path status sections problems")
Loaded.__doc__ = """What ``read`` found: ``status`` (MISSING, EMPTY, FOREIGN,
UNREADABLE or OURS), ``sections`` (only when the file is valid, else {})
and ``problems`` (sentences; empty when the file is valid)."""


class StateFileError(Exception):
    """The state file cannot be updated (not the collection's, unreadable)."""


# ------------------------------------------------------------- sections --

def bridge_section(name, mtu, addresses):
    """The bridge section: NAME, MTU (None: not managed), ADDRESSES (CIDR text)."""
    return {"name": name, "mtu": mtu, "addresses": list(addresses)}


def routes_section(protocol, protocol_number, nexthop_objects, tables, routes):
    """The routes section: the protocol tag, the nexthop mode, the tables the
    module manages and the routes as ``ip route`` lines, both sorted."""
    return {"protocol": protocol, "protocol_number": protocol_number,
            "nexthop_objects": bool(nexthop_objects), "tables": sorted(tables),
            "routes": sorted(routes)}


def netfilter_section(name, backend, iptables_variant, cluster_cidrs, forward, masquerade):
    """The netfilter section: the rule set's name, the requested backend and
    iptables variant, the cluster CIDRs and what is done with them."""
    return {"name": name, "backend": backend, "iptables_variant": iptables_variant,
            "cluster_cidrs": list(cluster_cidrs), "forward": bool(forward),
            "masquerade": bool(masquerade)}


def _type_problem(value, kind):
    if kind == "str":
        ok = isinstance(value, str)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind in ("int", "int?"):
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            kind == "int?" and value is None)
    else:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    if ok:
        return None
    return {"str": "is not a string", "bool": "is not true or false", "int": "is not an integer",
            "int?": "is not an integer or null", "[str]": "is not a list of strings"}[kind]


def section_problems(name, section):
    """Sentences on the shape of one section (unknown name, missing or
    unknown keys, wrong types); empty when it is well formed."""
    where = "sections.%s" % name
    if name not in SHAPES:
        return ["%s is not a section this version knows (%s)" % (where, ", ".join(sorted(SHAPES)))]
    if not isinstance(section, dict):
        return ["%s is not an object" % where]
    problems = []
    keys = dict(SHAPES[name])
    for key, kind in SHAPES[name]:
        if key not in section:
            problems.append("%s.%s is missing" % (where, key))
            continue
        bad = _type_problem(section[key], kind)
        if bad:
            problems.append("%s.%s %r %s" % (where, key, section[key], bad))
    for key in sorted(set(section) - set(keys), key=str):
        problems.append("%s has the unknown key %r" % (where, key))
    return problems


def render_section(section):
    """SECTION as sorted lines for a diff: ``key: value``, one line per list
    item; empty for no section."""
    if section is None:
        return ""
    lines = []
    for key in sorted(section):
        value = section[key]
        if isinstance(value, list):
            if not value:
                lines.append("%s: []" % key)
            lines.extend("%s: %s" % (key, item) for item in sorted(value))
        elif isinstance(value, str):
            lines.append("%s: %s" % (key, value))
        else:
            lines.append("%s: %s" % (key, json.dumps(value)))
    return "".join(line + "\n" for line in lines)


# ----------------------------------------------------------------- file --

def canonical(sections):
    return json.dumps(sections, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def checksum(sections):
    return "sha256:" + hashlib.sha256(canonical(sections).encode("ascii")).hexdigest()


def render(sections):
    """The file's text for SECTIONS: the marker first, keys sorted, one list
    item a line."""
    ordered = dict((name, dict(sorted(sections[name].items()))) for name in sorted(sections))
    document = {"managed_by": MANAGED_BY, "format": FORMAT, "note": NOTE,
                "checksum": checksum(sections), "sections": ordered}
    return json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def parse(text):
    """``(sections, problems)`` of the collection's file TEXT; sections is
    {} unless the file is valid."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return {}, ["is not valid JSON: truncated or damaged (%s)" % exc]
    if not isinstance(data, dict):
        return {}, ["is not a JSON object"]
    if data.get("managed_by") != MANAGED_BY:
        return {}, ["managed_by is %r, not %r" % (data.get("managed_by"), MANAGED_BY)]
    fmt = data.get("format")
    if fmt != FORMAT:
        if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
            return {}, ["has format %d, written by a newer podnet.hostgw; this one reads format %d"
                        % (fmt, FORMAT)]
        return {}, ["has format %r; this podnet.hostgw reads format %d" % (fmt, FORMAT)]
    sections = data.get("sections")
    if not isinstance(sections, dict):
        return {}, ["sections is missing or not an object"]
    if data.get("checksum") != checksum(sections):
        return {}, ["its checksum does not match its sections: edited by hand or damaged"]
    problems = []
    for name in sorted(sections):
        problems.extend(section_problems(name, sections[name]))
    return ({} if problems else sections), problems


def read(path):
    """The Loaded state file at PATH."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return Loaded(path, MISSING, {}, ["does not exist"])
    except (IOError, OSError) as exc:
        return Loaded(path, UNREADABLE, {}, ["cannot be read: %s" % (exc.strerror or exc)])
    text = raw.decode("utf-8", "replace")
    if not text.strip():
        return Loaded(path, EMPTY, {}, ["is empty"])
    if MARKER not in text[:MARKER_WITHIN]:
        return Loaded(path, FOREIGN, {}, [
            "is not podnet.hostgw's state file (%s is not at its start)" % MARKER])
    sections, problems = parse(text)
    return Loaded(path, OURS, sections, problems)


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(path, sections):
    """Make PATH hold SECTIONS, atomically; no sections: delete PATH.
    Raises OSError."""
    directory = os.path.dirname(path) or "."
    if not sections:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        _fsync_dir(directory)
        return
    import tempfile     # here: the reconcile command only reads the file
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(render(sections))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


# --------------------------------------------------------------- update --

SectionChange = namedtuple("SectionChange", "name before after changed")
SectionChange.__doc__ = """One section's update: the section before and after
(None: absent) and whether the file changes."""


class Document(object):
    """The state file as one module updates it, inside the host lock::

        doc = Document.open(path)            # StateFileError: not ours
        change = doc.set("bridge", section)  # None removes the section
        if change.changed and not check_mode:
            doc.save()

    A file of the collection that is damaged (bad JSON, checksum, shape) or
    empty is replaced: ``damage`` says what was wrong, and its sections are
    not trusted (the other modules of the same run write theirs again)."""

    def __init__(self, path, sections, damage=None, empty=False):
        self.path = path
        self.sections = dict(sections)
        self.damage = damage
        self._empty = empty          # an empty file is replaced, never deleted
        self._loaded = dict(sections)

    @classmethod
    def open(cls, path):
        loaded = read(path)
        if loaded.status == FOREIGN:
            raise StateFileError(
                "%s %s; refusing to overwrite it: move it away, or set state_file (the roles: "
                "hostgw_state_path) to another path" % (path, loaded.problems[0]))
        if loaded.status == UNREADABLE:
            raise StateFileError("%s %s" % (path, loaded.problems[0]))
        damage = None
        if loaded.status in (EMPTY, OURS) and loaded.problems:
            damage = "; ".join(loaded.problems)
        return cls(path, loaded.sections, damage, empty=loaded.status == EMPTY)

    def section(self, name):
        return self.sections.get(name)

    def set(self, name, section):
        before = self._loaded.get(name)
        if section is None:
            self.sections.pop(name, None)
        else:
            self.sections[name] = section
        return SectionChange(name, before, section, self.changed)

    @property
    def changed(self):
        if self.damage is not None:
            return bool(self.sections) or not self._empty
        return self.sections != self._loaded

    def save(self):
        """Write (or delete) the file; raises OSError."""
        write(self.path, self.sections)
        self._loaded = dict(self.sections)
        self.damage = None

    def diff(self, change):
        """A diff entry (Ansible's before/after dict) for CHANGE."""
        header = "%s (section %s)" % (self.path, change.name)
        return {"before_header": header, "after_header": header,
                "before": render_section(change.before), "after": render_section(change.after)}

# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The route protocol tag's name mapping: iproute2's ``rt_protos`` files.

The tag itself (a name and a number) follows ``names.route_protocol_problems``;
this module reads the mapping files, finds one that gives the tag's number
another name (or its name another number), and writes the collection's own
mapping line.
"""

import os

from .. import names

# Files that may name protocols (iproute2 reads the first that exists of each
# pair, plus every *.conf in the .d directories).
PROTOS_FILES = ("/etc/iproute2/rt_protos", "/usr/share/iproute2/rt_protos",
                "/usr/lib/iproute2/rt_protos")
PROTOS_DIRS = ("/etc/iproute2/rt_protos.d", "/usr/share/iproute2/rt_protos.d",
               "/usr/lib/iproute2/rt_protos.d")


def parse_protos_text(text):
    """``[(number, name), ...]`` from an rt_protos style file."""
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        try:
            num = int(parts[0], 0)
        except ValueError:
            continue
        out.append((num, parts[1]))
    return out


def read_mappings(extra_dir, own_file):
    """``[(path, number, name)]`` from every rt_protos file, and from
    EXTRA_DIR's, except OWN_FILE (which the caller rewrites if it is wrong)."""
    paths = list(PROTOS_FILES)
    dirs = list(PROTOS_DIRS)
    if extra_dir and extra_dir not in dirs:
        dirs.append(extra_dir)
    for d in dirs:
        try:
            entries = sorted(os.listdir(d))
        except OSError:
            continue
        paths.extend(os.path.join(d, n) for n in entries if n.endswith(".conf"))
    out = []
    own = os.path.realpath(own_file) if own_file else None
    for path in paths:
        if own and os.path.realpath(path) == own:
            continue
        try:
            with open(path) as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError):
            continue
        out.extend((path, num, name) for num, name in parse_protos_text(text))
    return out


def protocol_conflicts(name, number, mappings):
    """MAPPINGS is ``[(path, number, name), ...]`` (``read_mappings``); one
    that gives NUMBER another name, or NAME another number, is a problem (ip
    would print the other name, and the tag would be ambiguous)."""
    out = []
    for path, num, nm in mappings:
        if num == number and nm != name:
            out.append(names.problem("protocol_number", number, "is already named %s in %s; pick "
                                     "another protocol_number or use protocol: %s"
                                     % (names.show(nm), path, nm)))
        elif nm == name and num != number:
            out.append(names.problem("protocol", name, "is already number %d in %s; pick another "
                                     "name or use protocol_number: %d" % (num, path, num)))
    return out


def mapping_text(name, number):
    """The content of the collection's mapping file for the tag."""
    return ("# Written by podnet.hostgw.ip_route: the protocol tag of its routes.\n"
            "%d %s\n" % (number, name))


def maps_only(text, name, number):
    """True when TEXT maps NUMBER to NAME and neither to anything else."""
    maps = parse_protos_text(text)
    return (number, name) in maps and all(
        n == number and nm == name for n, nm in maps if n == number or nm == name)

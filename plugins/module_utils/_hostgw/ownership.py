# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How the collection knows a text file is its own: a marker line among the
first lines it writes.  A file at one of the collection's paths without it
belongs to someone else, and is never overwritten or deleted."""

MARKER = "# Managed by podnet.hostgw"
HEAD_LINES = 5


def header(purpose):
    """The first line of every text file the collection writes."""
    return "%s: %s\n" % (MARKER, purpose)


def is_ours(text):
    """True when TEXT (a file's content) carries the collection's marker."""
    return any(line.startswith(MARKER) for line in text.splitlines()[:HEAD_LINES])

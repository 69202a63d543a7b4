# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading the small files the collection inspects on a host, safely.

Only a regular file is ever read: a FIFO at the path would block the reader
forever, a device could have side effects.  The type is checked before the
file is opened (non-blocking) and again on the open descriptor, and no more
than a few KiB are read, so a huge file never reaches the controller.

Problems are the end of a sentence (``is a FIFO, not a regular file``) that
the caller starts with the setting's name and value (``names.problem``).
"""

import os
import stat

from .ownership import is_ours

SMALL = 4096

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)


def look(path):
    """``(kind, st)`` of PATH without following a link: ``missing`` (st
    None), ``file``, ``link``, ``dir`` or ``other``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing", None
    if stat.S_ISLNK(st.st_mode):
        return "link", st
    if stat.S_ISDIR(st.st_mode):
        return "dir", st
    if stat.S_ISREG(st.st_mode):
        return "file", st
    return "other", st


def _not_regular(mode):
    for test, what in _KINDS:
        if test(mode):
            return "is %s, not a regular file" % what
    return "is not a regular file"


def _read_head(path, limit):
    """``(data, problem)``: at most LIMIT + 1 bytes of the regular file PATH.
    ``(None, None)`` when PATH does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, "cannot be read (%s)" % exc.strerror
    if not stat.S_ISREG(st.st_mode):
        return None, _not_regular(st.st_mode)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        return None, "cannot be read (%s)" % exc.strerror
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced since the first look
            return None, _not_regular(st.st_mode)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), None
    except OSError as exc:
        return None, "cannot be read (%s)" % exc.strerror
    finally:
        os.close(fd)


def read_small(path, limit=SMALL):
    """``(data, problem)`` for a small regular file read whole: ``(None, None)``
    when it does not exist, a problem when it is not a regular file or is
    larger than LIMIT bytes."""
    data, bad = _read_head(path, limit)
    if data is not None and len(data) > limit:
        return None, "is larger than %d bytes" % limit
    return data, bad


def status(path, limit=SMALL):
    """``{exists, regular, ours}`` for PATH; ``ours`` when its first lines
    carry the collection's marker (at most LIMIT bytes are read)."""
    data, bad = _read_head(path, limit)
    if data is None:
        return {"exists": bad is not None, "regular": False, "ours": False}
    return {"exists": True, "regular": True, "ours": is_ours(data[:limit].decode("utf-8", "replace"))}

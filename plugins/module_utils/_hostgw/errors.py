# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one way the collection collects and reports problems.

A problem is one sentence that names what is wrong and quotes the value
(``names.show``).  Code that validates appends sentences to a ``Problems``
list and never stops at the first one; whoever reports them calls
``report`` so every message has the same shape::

    invalid parameters, nothing was changed (2):
      - routes[0]: dest '10.0.0.1/24' has host bits set; did you mean 10.0.0.0/24?
      - protocol 'bird' is the well-known protocol number 12; ...
"""

REPORT_LIMIT = 50


class Problems(list):
    """Problem sentences, in the order they were found."""

    def add(self, text, *args):
        self.append(text % args if args else text)

    def extend_prefixed(self, prefix, sentences):
        """Add SENTENCES, each starting with ``PREFIX: ``."""
        self.extend("%s: %s" % (prefix, s) for s in sentences)


def report(what, problems, limit=REPORT_LIMIT):
    """``WHAT (N):`` and one ``  - problem`` line each (at most LIMIT)."""
    problems = list(problems)
    lines = ["%s (%d):" % (what, len(problems))]
    lines.extend("  - %s" % p for p in problems[:limit])
    if len(problems) > limit:
        lines.append("  ... and %d more" % (len(problems) - limit))
    return "\n".join(lines)

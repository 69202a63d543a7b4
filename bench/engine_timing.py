# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CPU time of the route engine's per-route work at N routes (default
10 000), without ip or Ansible: validating the ``routes`` input (dicts and
lines), parsing ``ip -json route``, and planning a no-op and a full apply,
plain and through nexthop objects.  Prints the best of R repeats in ms.

    python bench/engine_timing.py [N] [R]
"""

import os
import sys
import time
import timeit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "plugins", "module_utils"))

from _hostgw.routes import kernel, nexthops, options, plan  # noqa: E402

OURS = frozenset(("252", "hostgw"))


def cases(n):
    dicts = [{"dest": "10.%d.%d.0/24" % (100 + i // 256, i % 256),
              "via": "10.169.%d.%d" % (1 + i // 250, 1 + i % 250), "dev": "eth0"} for i in range(n)]
    lines = ["%s via %s dev eth0" % (d["dest"], d["via"]) for d in dicts]
    raw = [{"dst": d["dest"], "gateway": d["via"], "dev": "eth0", "protocol": "252", "flags": []}
           for d in dicts]
    first = nexthops.nexthop_id_range(252)[0]
    raw_nh = [dict(r, nhid=first + i) for i, r in enumerate(raw)]
    objects = nexthops.parse_kernel_nexthops([
        {"id": first + i, "gateway": d["via"], "dev": "eth0", "scope": "link", "protocol": "252",
         "flags": []} for i, d in enumerate(dicts)])
    wanted, problems = options.validate_routes(dicts)
    assert not problems
    full = {("ipv4", 254): kernel.parse_kernel_routes(raw, "ipv4", 254)}
    full_nh = {("ipv4", 254): kernel.parse_kernel_routes(raw_nh, "ipv4", 254)}
    empty = {("ipv4", 254): []}

    def noop():
        assert not plan.plan(wanted, full, OURS, 252, purge=True).commands

    def apply_all():
        assert len(plan.plan(wanted, empty, OURS, 252, purge=True).commands) == n

    def noop_nh():
        assert not plan.plan(wanted, full_nh, OURS, 252, purge=True, nexthop_objects=True,
                             nexthops=objects).commands

    def apply_all_nh():
        assert len(plan.plan(wanted, empty, OURS, 252, purge=True, nexthop_objects=True,
                             nexthops=[]).commands) == 2 * n

    def repair_noop():
        assert not plan.plan(wanted, full, OURS, 252, repair_only=True).commands

    return [
        ("validate_routes, dicts", lambda: options.validate_routes(dicts)),
        ("validate_routes, lines", lambda: options.validate_routes(lines)),
        ("parse_kernel_routes", lambda: kernel.parse_kernel_routes(raw, "ipv4", 254)),
        ("plan, no-op (purge)", noop),
        ("plan, full apply (purge)", apply_all),
        ("plan, no-op, nexthop objects", noop_nh),
        ("plan, full apply, nexthop objects", apply_all_nh),
        ("plan, no-op, repair only", repair_noop),
    ]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    for name, fn in cases(n):
        best = min(timeit.repeat(fn, number=3, repeat=repeat, timer=time.process_time)) / 3
        print("%-36s %8.1f ms" % (name, best * 1000))


if __name__ == "__main__":
    main()

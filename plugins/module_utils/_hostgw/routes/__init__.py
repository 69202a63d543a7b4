# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The route engine: everything between a list of wanted routes and one
``ip -batch`` run, for the ``ip_route`` module and the host-side reconcile
command alike.

* ``model``    - ``Route``, its one formatter, identity and comparisons;
* ``options``  - the ``routes``/``tables`` input (dicts or ``ip route``
  lines) validated into ``Route`` objects, or problem sentences;
* ``protos``   - the ``rt_protos`` mapping files (name <-> number);
* ``kernel``   - reading the kernel through ``iproute.IpCommand``: route
  tables, devices, nexthop objects;
* ``nexthops`` - nexthop objects (``ip nexthop``): the one module that knows
  them;
* ``plan``     - wanted vs kernel: the ops, the batch lines and the report,
  with a repair-only mode;
* ``batch``    - batch lines, running them, checking a failed batch and
  translating kernel errors.

A reconcile run (repair only: adds and repairs, never deletes) is::

    ip = IpCommand(SubprocessRunner())
    ours = frozenset((str(number), name))
    wanted, problems = options.validate_routes(entries)
    reads = kernel.tables_to_read(wanted)
    with HostLock(owner="podnet-hostgw-reconcile"):
        wanted, problems = kernel.resolve_devices(ip, wanted)
        seen = kernel.read_state(ip, reads, ours, nexthop_objects=nh_mode)
        p = plan.plan(wanted, seen.routes, ours, number, repair_only=True,
                      nexthop_objects=nh_mode, nexthops=seen.nexthops)
        if p.commands:
            outcome = batch.apply(ip, p, reads, ours)    # outcome.problems()

``p.commands`` is empty when the host is converged (no netlink write), and
each op in ``p.ops`` is one repair.
"""

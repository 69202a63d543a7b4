# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The podnet.hostgw engine: standard library only, no Ansible.

The collection's modules import it (Ansible ships it to the host inside the
module's payload), and the host-side reconcile command runs the very same
files, installed under /usr/local.  Nothing in this package may import
Ansible or anything outside the standard library, and every import inside
it is relative, so it works under either package name.
"""

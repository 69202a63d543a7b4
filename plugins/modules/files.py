#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: files
short_description: Write a role's small files, their directories and symbolic links in one call
version_added: 0.2.0
description:
  - Makes a few small text files, the directories they live in and symbolic
    links exactly as given, in one module run. It does what a C(file) task per
    directory, a C(copy) or C(template) task per file and a C(file) task per
    link do, at a fraction of the round trips (those take a worker and one to
    three module runs each, on every host).
  - The directory of every entry gets O(directory_mode); missing directories
    are created with their missing parents, an existing one gets its mode set.
  - A file gets exactly its O(files[].content) and O(files[].mode), written
    atomically (a temporary file in the same directory, then a rename). A link
    points at O(links[].target), replacing a file or another link at its path.
  - A directory or a special file at an entry's path, or something other than a
    directory at a directory's, is an error that names the path; then nothing
    is changed.
  - Holds the host-wide lock of podnet.hostgw (C(flock) on
    C(/run/lock/podnet-hostgw.lock)) from its first look until the last change.
author: podnet.hostgw developers (!UNKNOWN)
extends_documentation_fragment:
  - podnet.hostgw.observed
attributes:
  check_mode:
    support: full
    description: Reports what would change without writing anything.
  diff_mode:
    support: full
    description: Shows each file's text, each link's target and each mode before and after.
  platform:
    support: full
    platforms: posix
    description: Any POSIX host.
options:
  files:
    description: The regular files.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file's absolute path.
        type: path
        required: true
      content:
        description: Its whole text (UTF-8).
        type: str
        required: true
      mode:
        description: Its permissions, an octal string such as V('0644').
        type: str
        default: "0644"
  links:
    description: The symbolic links.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The link's absolute path.
        type: path
        required: true
      target:
        description: What it points at.
        type: str
        required: true
  directory_mode:
    description: The permissions of each entry's directory (and of the parents created with it).
    type: str
    default: "0755"
"""

EXAMPLES = r"""
- name: Record the assignment and link it as a local fact
  podnet.hostgw.files:
    files:
      - path: /etc/podnet/hostgw.json
        content: "{{ record | to_nice_json }}\n"
    links:
      - path: /etc/ansible/facts.d/podnet_hostgw.fact
        target: /etc/podnet/hostgw.json
"""

RETURN = r"""
from_read:
  description:
    - V(true) when the action plugin found in O(observed) that nothing would change, and did not
      run the module on the host.
  returned: when true
  type: bool
  sample: true
changes:
  description: What was (or in check mode would be) done, one line a step, in order.
  returned: always
  type: list
  elements: str
  sample: ["mkdir /etc/podnet (0755)", "write /etc/podnet/hostgw.json (0644)",
           "link /etc/ansible/facts.d/podnet_hostgw.fact -> /etc/podnet/hostgw.json"]
errors:
  description: Every problem found, each naming the path.
  returned: when something is in the way or an option is invalid
  type: list
  elements: str
  sample: ["/etc/cni/net.d/10-podnet.conflist is a directory, not a file"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.hostgw.plugins.module_utils.module_support import (
    fail_problems,
    host_lock,
)
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import textfiles

ARGUMENT_SPEC = dict(
    observed=dict(type="dict"),  # the action plugin's; the module ignores it
    files=dict(type="list", elements="dict", default=[], options=dict(
        path=dict(type="path", required=True),
        content=dict(type="str", required=True),
        mode=dict(type="str", default="0644"),
    )),
    links=dict(type="list", elements="dict", default=[], options=dict(
        path=dict(type="path", required=True),
        target=dict(type="str", required=True),
    )),
    directory_mode=dict(type="str", default="0755"),
)


class Files(object):
    """Validate, then under the host-wide lock look, plan and apply."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = dict(changed=False, changes=[])

    def run(self):
        entries, dir_mode, problems = textfiles.entries(self.params)
        if problems:
            fail_problems(self.module, "invalid files, nothing was changed", problems, **self.result)
        with host_lock(self.module, **self.result):
            steps, problems = textfiles.plan(entries, dir_mode)
            if problems:
                fail_problems(self.module, "something is in the way, nothing was changed", problems,
                              **self.result)
            self.result.update(changed=bool(steps), changes=[textfiles.describe(s) for s in steps])
            if self.module._diff:
                self.result["diff"] = [textfiles.diff(s) for s in steps]
            if steps and not self.module.check_mode:
                try:
                    textfiles.apply(steps)
                except OSError as exc:
                    self.module.fail_json(msg="cannot write %s: %s" % (exc.filename, exc.strerror),
                                          **self.result)
        return self.result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = Files(module).run()
    module.exit_json(**result)


if __name__ == "__main__":
    main()

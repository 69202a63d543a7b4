#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: cni_plugin_links
short_description: Make a package's CNI plugin binaries reachable where container runtimes look for them
version_added: 0.2.0
description:
  - Links every plugin binary a distribution package put in O(source_dir) (Debian's and Ubuntu's
    C(containernetworking-plugins) use C(/usr/lib/cni)) into O(bin_dir), where containerd, CRI-O
    and the kubelet look for them by default (C(/opt/cni/bin)). A plugin is an executable regular
    file of O(source_dir); the link is C(O(bin_dir)/NAME -> O(source_dir)/NAME).
  - Never replaces or deletes a file that is not a link the collection made. Anything else at a
    link's path - a binary of another installation, a link elsewhere - is left alone, named in a
    warning and in RV(foreign); runtimes then use that file. A link to the same plugin that the
    collection did not make is left as it is, counted in RV(others), and never removed.
  - The O(record) (a small text file, the collection's marker line first) lists every link made
    and every directory created, so O(state=absent), and a plugin that left the package, remove
    exactly those links (each only while it still points where it was made to), and the
    directories only when empty.
  - In check mode before the package is installed, O(source_dir) holds no plugin yet; the module
    then changes nothing and says so in a warning; the real run links what the package brings.
    Otherwise check mode reports exactly the changes a real run makes.
author: podnet.hostgw developers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports exactly the changes a real run makes, once the plugins are in O(source_dir).
  diff_mode:
    support: full
    description: The collection's links and created directories, before and after.
  platform:
    support: full
    platforms: posix
    description: Any POSIX host with symbolic links.
options:
  state:
    description:
      - V(present) links the plugins; V(absent) removes the links and directories the record lists.
    type: str
    choices: [present, absent]
    default: present
  source_dir:
    description: Where the package put the plugin binaries.
    type: path
    default: /usr/lib/cni
  bin_dir:
    description: Where the runtimes look for plugins; the links go here.
    type: path
    default: /opt/cni/bin
  record:
    description: The list of what this module made (the roles keep it beside C(hostgw_record_path)).
    type: path
    default: /etc/podnet/cni-plugin-links
"""

EXAMPLES = r"""
- name: Install Debian's CNI plugins
  ansible.builtin.package:
    name: containernetworking-plugins
    state: present

- name: Link them where runtimes look
  podnet.hostgw.cni_plugin_links:
    source_dir: /usr/lib/cni
    bin_dir: /opt/cni/bin

- name: Remove the links again
  podnet.hostgw.cni_plugin_links:
    state: absent
"""

RETURN = r"""
changes:
  description: What was (in check mode, would be) changed, one C(ACTION PATH) line each.
  returned: always
  type: list
  elements: str
  sample: ["mkdir /opt/cni", "mkdir /opt/cni/bin", "link /opt/cni/bin/bridge -> /usr/lib/cni/bridge"]
links:
  description: The collection's links after the run, C(PATH -> TARGET) each.
  returned: always
  type: list
  elements: str
  sample: ["/opt/cni/bin/bridge -> /usr/lib/cni/bridge"]
others:
  description: Links to a plugin of O(source_dir) that someone else made; left as they are.
  returned: always
  type: list
  elements: str
foreign:
  description: Paths of O(bin_dir) where a plugin's link would go but something else is; left alone.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path.
      type: str
    found:
      description: What is there (C(a regular file), C(a link to /somewhere), C(a directory)).
      type: str
plugins:
  description: The plugin names found in O(source_dir).
  returned: always
  type: list
  elements: str
"""

import json
import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import files, names, ownership
from ansible_collections.podnet.hostgw.plugins.module_utils.module_support import fail_problems, host_lock

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    source_dir=dict(type="path", default="/usr/lib/cni"),
    bin_dir=dict(type="path", default="/opt/cni/bin"),
    record=dict(type="path", default="/etc/podnet/cni-plugin-links"),
)
RECORD_PURPOSE = ("the CNI plugin links the cni role made and the directories it created; "
                  "reset.yml removes exactly these. Do not edit.")
RECORD_LIMIT = 65536


def look(path):
    """``(kind, target)``: ``missing``, ``link`` (with its target), ``dir``,
    ``file`` or ``other``, without following a link."""
    kind, _st = files.look(path)
    return kind, (os.readlink(path) if kind == "link" else None)


def describe(kind, target):
    if kind == "link":
        return "a link to %s" % target
    return {"dir": "a directory", "file": "a regular file"}.get(kind, "a special file")


def points_at(path, target):
    """Whether PATH is a link that resolves (textually) to TARGET."""
    kind, current = look(path)
    if kind != "link":
        return False
    here = os.path.dirname(path)
    return os.path.normpath(os.path.join(here, current)) == os.path.normpath(target)


def dir_and_parents(path):
    out = [path]
    while os.path.dirname(out[-1]) != out[-1]:
        out.append(os.path.dirname(out[-1]))
    return out[:-1]


class PluginLinks(object):
    """One call: read the plugins and the record, plan, show, apply."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.changes = []
        self.result = dict(changed=False, changes=self.changes, links=[], others=[], foreign=[], plugins=[])

    def fail(self, msg):
        self.module.fail_json(msg=msg + "; nothing was changed", **self.result)

    def problems(self):
        found = []
        for key in ("source_dir", "bin_dir", "record"):
            bad = names.abs_path_problem(self.p[key])
            if bad:
                found.append(names.problem(key, self.p[key], bad))
        if not found and self.p["bin_dir"] == self.p["source_dir"]:
            found.append(names.problem("bin_dir", self.p["bin_dir"], "is source_dir itself"))
        if not found and os.path.dirname(self.p["record"]) == self.p["bin_dir"]:
            found.append(names.problem("record", self.p["record"], "must not lie in bin_dir"))
        return found

    def plugins(self):
        """The executable regular files of source_dir, by name; None when it is missing."""
        source = self.p["source_dir"]
        try:
            entries = sorted(os.listdir(source))
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.fail("source_dir %s cannot be read (%s)" % (source, exc.strerror))
        found = []
        for name in entries:
            try:
                st = os.stat(os.path.join(source, name))
            except OSError:
                continue
            if not name.startswith(".") and stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
                found.append(name)
        return found

    def read_record(self):
        """``{"links": {path: target}, "dirs": [paths]}``: what the record lists."""
        path = self.p["record"]
        data, bad = files.read_small(path, RECORD_LIMIT)
        if bad:
            self.fail(names.problem("record", path, bad))
        if data is None:
            return {"links": {}, "dirs": []}
        text = data.decode("utf-8", "replace")
        head, _sep, body = text.partition("\n")
        if not ownership.is_ours(head):
            self.fail(names.problem("record", path, "is not the collection's (no '%s' line at its top): move it away"
                                    % ownership.MARKER))
        try:
            doc = json.loads(body)
            links = dict((str(k), str(v)) for k, v in doc["links"].items())
            dirs = [str(d) for d in doc["dirs"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            self.fail(names.problem("record", path, "is damaged (not the JSON the collection writes): "
                                    "move it away and check %s by hand" % self.p["bin_dir"]))
        # A hand-edited record never makes the module delete elsewhere: a
        # link is DIR/NAME pointing at SOMEWHERE/NAME, a directory one above
        # such a link or bin_dir.
        for link, target in sorted(links.items()):
            if names.abs_path_problem(link) or names.abs_path_problem(target) \
                    or os.path.basename(link) != os.path.basename(target):
                self.module.warn("%s lists %s -> %s, which is not a plugin link; left alone" % (path, link, target))
                del links[link]
        above = set(dir_and_parents(self.p["bin_dir"]))
        for link in links:
            above.update(dir_and_parents(os.path.dirname(link)))
        dirs = [d for d in dirs if d in above]
        return {"links": links, "dirs": dirs}

    def plan(self, before):
        """``(steps, after)``: steps are ``(action, path, target)`` in apply order."""
        bin_dir, present = self.p["bin_dir"], self.p["state"] == "present"
        steps, links, dirs = [], {}, list(before["dirs"])
        wanted = {}
        if present:
            for name in self.result["plugins"]:
                wanted[os.path.join(bin_dir, name)] = os.path.join(self.p["source_dir"], name)
            for d in reversed(dir_and_parents(bin_dir)):
                if not os.path.lexists(d):
                    steps.append(("mkdir", d, None))
                    dirs.append(d)
        for path, target in sorted(wanted.items()):
            kind, current = look(path)
            if kind == "missing":
                steps.append(("link", path, target))
                links[path] = target
            elif points_at(path, target):
                if before["links"].get(path) == target:
                    links[path] = target
                else:
                    self.result["others"].append(path)
            else:
                self.result["foreign"].append(dict(path=path, found=describe(kind, current)))
                self.module.warn("%s is %s, not a link to %s: not the collection's, left alone (runtimes use it)"
                                 % (path, describe(kind, current), target))
        for path, target in sorted(before["links"].items()):
            if path in wanted:
                continue
            if points_at(path, target):
                steps.append(("remove", path, target))
            elif os.path.lexists(path):
                kind, current = look(path)
                self.module.warn("%s is %s now, not the link to %s the collection made; left alone"
                                 % (path, describe(kind, current), target))
        keep = set(dir_and_parents(bin_dir)) if present else set()
        gone = set(path for action, path, _t in steps if action == "remove")
        for d in sorted(set(before["dirs"]) - keep, key=lambda p: -p.count("/")):
            if self.empty_after(d, gone):
                steps.append(("rmdir", d, None))
                gone.add(d)
                dirs.remove(d)
        return steps, {"links": links, "dirs": sorted(set(dirs), key=lambda p: p.count("/"))}

    @staticmethod
    def empty_after(directory, gone):
        try:
            return all(os.path.join(directory, n) in gone for n in os.listdir(directory))
        except OSError:
            return False

    def run(self):
        problems = self.problems()
        if problems:
            fail_problems(self.module, "invalid parameters, nothing was changed", problems, **self.result)
        # Under the host lock: two runs at once must not both plan from the
        # same reading and then race to create the same links.
        with host_lock(self.module, **self.result):
            return self.converge()

    def converge(self):
        before = self.read_record()
        if self.p["state"] == "present":
            plugins = self.plugins()
            if not plugins:
                if self.module.check_mode:
                    self.module.warn("check mode: source_dir %s holds no CNI plugin yet (the package is not "
                                     "installed); the real run links the plugins it brings" % self.p["source_dir"])
                    self.result["links"] = self.listing(before["links"])
                    return self.result
                self.fail("source_dir %s holds no CNI plugin: install the distribution's package "
                          "(containernetworking-plugins) or point source_dir at the plugins" % self.p["source_dir"])
            self.result["plugins"] = plugins
        steps, after = self.plan(before)
        record_after = after if (after["links"] or after["dirs"]) else None
        record_changed = record_after != (before if (before["links"] or before["dirs"]) else None)
        self.changes.extend(self.describe(step) for step in steps)
        if record_changed:
            self.changes.append("%s %s" % ("write" if record_after else "remove", self.p["record"]))
        self.result.update(changed=bool(self.changes), links=self.listing(after["links"]))
        if self.module._diff:
            self.result["diff"] = dict(before_header=self.p["bin_dir"], after_header=self.p["bin_dir"],
                                       before=self.text(before), after=self.text(after))
        if self.result["changed"] and not self.module.check_mode:
            self.apply(steps, before, after, record_after)
        return self.result

    def apply(self, steps, before, after, record_after):
        # The record first lists everything this run may make, so a run that
        # dies half way never leaves a link or directory nobody answers for.
        union = {"links": dict(before["links"], **after["links"]),
                 "dirs": sorted(set(before["dirs"]) | set(after["dirs"]), key=lambda p: p.count("/"))}
        try:
            for action, path, _target in steps:
                if action == "mkdir":
                    os.mkdir(path, 0o755)
            if any(action in ("mkdir", "link") for action, _p, _t in steps):
                self.write_record(union)
            for action, path, target in steps:
                if action == "link":
                    os.symlink(target, path)
                elif action == "remove":
                    os.unlink(path)
            for action, path, _target in steps:
                if action == "rmdir":
                    os.rmdir(path)
            if record_after is None:
                if os.path.lexists(self.p["record"]):
                    os.unlink(self.p["record"])
            else:
                self.write_record(record_after)
        except OSError as exc:
            self.module.fail_json(msg="linking the CNI plugins failed: %s: %s" % (exc.filename, exc.strerror),
                                  **self.result)

    def write_record(self, doc):
        path = self.p["record"]
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        text = ownership.header(RECORD_PURPOSE) + json.dumps(doc, indent=2, sort_keys=True) + "\n"
        tmp = os.path.join(directory, ".%s.tmp" % os.path.basename(path))
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)

    @staticmethod
    def describe(step):
        action, path, target = step
        return "link %s -> %s" % (path, target) if action == "link" else "%s %s" % (action, path)

    @staticmethod
    def listing(links):
        return ["%s -> %s" % item for item in sorted(links.items())]

    def text(self, doc):
        lines = ["dir %s" % d for d in doc["dirs"]] + ["link " + line for line in self.listing(doc["links"])]
        return "".join(line + "\n" for line in lines)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**PluginLinks(module).run())


if __name__ == "__main__":
    main()

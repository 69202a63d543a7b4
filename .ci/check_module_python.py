"""Compile and import the collection's host-side code on every Python it claims.

    .venv/bin/python .ci/check_module_python.py [--repo DIR]

The claim is tests/config.yml's ``modules.python_requires`` (the one
ansible-test reads), intersected with the Pythons this ansible-core runs
modules on.  For each such Python it finds an interpreter (on PATH, or one
pyenv installed) and runs this file in it, isolated (-I -S -B: no
site-packages, no user site, nothing written), against a sandbox that holds
only the collection's plugins and ansible-core's own ansible.module_utils,
as a managed host has them.  There it

- compiles every file of plugins/modules and plugins/module_utils,
- imports every module_utils module and every module (their main() does not
  run), and every module of the engine package again under the name the
  reconcile command installs it as on hosts (podnet_hostgw),

so syntax, module-level code and imports newer than that Python, or outside
the standard library and ansible.module_utils, fail here.  On the controller
Pythons (3.11 and later) it compiles the rest of plugins/ too.

A claimed Python with no interpreter here gets a syntax-only check with
ast.parse(feature_version=...) (best effort: it catches new grammar, not new
library calls), and the report says so.  ansible-test sanity (make sanity)
runs its full compile and import tests on the controller Python.
"""

import argparse
import ast
import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
import tempfile

HOST_SIDE = ("modules", "module_utils")
ENGINE = "_hostgw"
ENGINE_ON_HOSTS = "podnet_hostgw"
COLLECTION = "ansible_collections.podnet.hostgw"
CONTROLLER_FROM = (3, 11)


# ------------------------------------------------------------ both sides --

def python_files(top):
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(root, name)


def compiled_parts(version):
    """The plugins/ subdirectories code must compile in on Python VERSION."""
    if version >= CONTROLLER_FROM:
        return None  # all of plugins/
    return HOST_SIDE


def files_to_compile(plugins, version):
    parts = compiled_parts(version)
    tops = [plugins] if parts is None else [os.path.join(plugins, part) for part in parts]
    for top in tops:
        yield from python_files(top)


# ---------------------------------------------- in the Python under test --

def compile_problems(plugins):
    problems, count = [], 0
    for path in files_to_compile(plugins, sys.version_info[:2]):
        count += 1
        with open(path, "rb") as source:
            try:
                compile(source.read(), path, "exec", dont_inherit=True)
            except (SyntaxError, ValueError) as e:
                problems.append("%s: does not compile: %s" % (path, e))
    return problems, count


def module_names(package):
    """PACKAGE and every module below it, imported as it goes."""
    names = [package]
    module = importlib.import_module(package)
    names += [m.name for m in pkgutil.walk_packages(module.__path__, package + ".")]
    return names


def import_problems(sandbox):
    sys.path[:0] = [sandbox, os.path.join(sandbox, "lib")]
    problems, count = [], 0
    for package in (COLLECTION + ".plugins.module_utils", COLLECTION + ".plugins.modules", ENGINE_ON_HOSTS):
        try:
            names = module_names(package)
        except Exception as e:  # pylint: disable=broad-exception-caught  # reported, like every other failure
            problems.append("%s: does not import: %s: %s" % (package, type(e).__name__, e))
            continue
        for name in names:
            count += 1
            try:
                importlib.import_module(name)
            except Exception as e:  # pylint: disable=broad-exception-caught  # reported, like every other failure
                problems.append("%s: does not import: %s: %s" % (name, type(e).__name__, e))
    return problems, count


def check_here(sandbox):
    plugins = os.path.join(sandbox, *COLLECTION.split(".")) + os.sep + "plugins"
    problems, compiled = compile_problems(plugins)
    more, imported = import_problems(sandbox)
    problems += more
    return problems, "%d files compile, %d modules import" % (compiled, imported)


# --------------------------------------------------------- the controller --

def claimed_versions(repo):
    """The Pythons tests/config.yml claims for modules, among those this
    ansible-core runs modules on."""
    import yaml  # pylint: disable=import-outside-toplevel  # the controller venv has it; the Pythons under test need not
    from packaging.specifiers import SpecifierSet  # pylint: disable=import-outside-toplevel
    from ansible_test._internal.constants import SUPPORTED_PYTHON_VERSIONS  # pylint: disable=import-outside-toplevel

    with open(os.path.join(repo, "tests", "config.yml")) as fh:
        spec = SpecifierSet(yaml.safe_load(fh)["modules"]["python_requires"])
    return [v for v in SUPPORTED_PYTHON_VERSIONS if spec.contains(v)]


def interpreter(version):
    """A working pythonVERSION: on PATH, else one pyenv installed; or None."""
    candidates = [shutil.which("python" + version)]
    pyenv = os.path.join(os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv")), "versions")
    if os.path.isdir(pyenv):
        candidates += [os.path.join(pyenv, d, "bin", "python" + version)
                       for d in sorted(os.listdir(pyenv)) if d.startswith(version + ".")]
    for path in candidates:
        if not path:
            continue
        # A pyenv shim exists for every installed version but fails unless selected.
        probe = subprocess.run([path, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               check=False, capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return path
    return None


def make_sandbox(repo, top):
    """TOP/ansible_collections/podnet/hostgw/plugins and TOP/ansible/module_utils,
    linked to the checkout and to this ansible-core; TOP/lib/podnet_hostgw, the
    engine under the name the reconcile command installs it as."""
    import ansible.module_utils  # pylint: disable=import-outside-toplevel

    collection = os.path.join(top, *COLLECTION.split("."))
    os.makedirs(collection)
    os.symlink(os.path.join(repo, "plugins"), os.path.join(collection, "plugins"))
    os.makedirs(os.path.join(top, "ansible"))
    # An empty ansible package: only ansible.module_utils reaches a host.
    with open(os.path.join(top, "ansible", "__init__.py"), "w"):
        pass
    os.symlink(os.path.dirname(ansible.module_utils.__file__), os.path.join(top, "ansible", "module_utils"))
    os.makedirs(os.path.join(top, "lib"))
    os.symlink(os.path.join(repo, "plugins", "module_utils", ENGINE), os.path.join(top, "lib", ENGINE_ON_HOSTS))


def syntax_problems(plugins, version):
    """ast.parse with feature_version: the grammar of VERSION, best effort."""
    feature = tuple(int(part) for part in version.split("."))
    problems, count = [], 0
    for path in files_to_compile(plugins, feature):
        count += 1
        with open(path, "rb") as source:
            try:
                ast.parse(source.read(), path, feature_version=feature)
            except (SyntaxError, ValueError) as e:
                problems.append("%s: not Python %s syntax: %s" % (os.path.relpath(path, plugins), version, e))
    return problems, "%d files parse with its grammar (syntax only: no python%s here)" % (count, version)


def check_all(repo):
    versions = claimed_versions(repo)
    failed = []
    with tempfile.TemporaryDirectory(prefix="podnet-hostgw-pythons.") as top:
        make_sandbox(repo, top)
        for version in versions:
            python = interpreter(version)
            if python is None:
                problems, summary = syntax_problems(os.path.join(repo, "plugins"), version)
                lines = problems
            else:
                proc = subprocess.run([python, "-I", "-S", "-B", os.path.abspath(__file__), "--sandbox", top],
                                      check=False, capture_output=True, text=True)
                lines = (proc.stdout + proc.stderr).splitlines()
                problems = lines if proc.returncode else []
                summary = lines[-1] if lines and not proc.returncode else ""
            for line in problems:
                print("Python %s: %s" % (version, line))
            if problems:
                failed.append(version)
            else:
                print("Python %s: %s" % (version, summary))
    if failed:
        print("FAILED on Python %s (claimed: %s, tests/config.yml)" % (", ".join(failed), ", ".join(versions)))
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--sandbox", help="(internal) check the running Python against this sandbox")
    args = parser.parse_args()
    if args.sandbox:
        problems, summary = check_here(args.sandbox)
        for line in problems:
            print(line)
        if problems:
            return 1
        print(summary)
        return 0
    return check_all(os.path.abspath(args.repo))


if __name__ == "__main__":
    sys.exit(main())

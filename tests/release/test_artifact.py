"""The built collection: what the tarball holds, what it declares, and what
ansible-builder makes of it.  Builds the tarball from the checkout with
ansible-galaxy and installs it offline into a temporary collections path."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.conftest import REPO

BIN = os.path.dirname(sys.executable)

# Top-level entries of the artifact: the collection and its documents.
# docs/ holds the picture the README links (docs/topology-lab.svg).
SHIPPED = {"CHANGELOG.md", "FILES.json", "LICENSE", "MANIFEST.json", "README.md",
           "changelogs", "docs", "inventories", "meta", "playbooks", "plugins", "roles"}
# Whole directories of the checkout that are the collection itself.
COLLECTION_DIRS = ("meta", "playbooks", "plugins", "roles")
# What only develops or tests the collection.
DEV_ONLY = ("requirements-dev.txt", "requirements.txt", "Makefile", "ansible.cfg", "pytest.ini",
            "site.yml", "BENCHMARKS.md", "lab/", "bench/", "molecule/", "tests/", "collections/",
            "render/", "inventories/lab/", "changelogs/fragments/", ".ci/", ".config/", ".venv")


def run(argv, **kw):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
    assert proc.returncode == 0, "%s failed:\n%s%s" % (" ".join(argv), proc.stdout, proc.stderr)
    return proc.stdout


def tool(name):
    path = os.path.join(BIN, name)
    assert os.access(path, os.X_OK), "%s is missing: `make venv` installs requirements-dev.txt" % path
    return path


def read_yaml(*parts):
    with open(os.path.join(*parts)) as fh:
        return yaml.safe_load(fh)


def isolated_env(collections_path):
    """ansible-galaxy without the checkout's ansible.cfg (whose collections
    path already holds podnet.hostgw, the checkout itself)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections_path, LC_ALL="C.UTF-8")
    return env


@pytest.fixture(scope="module")
def galaxy():
    return read_yaml(REPO, "galaxy.yml")


@pytest.fixture(scope="module")
def tarball(tmp_path_factory, galaxy):
    out = tmp_path_factory.mktemp("build")
    run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), REPO],
        cwd=str(out), env=isolated_env(str(out)))
    path = out / ("podnet-hostgw-%s.tar.gz" % galaxy["version"])
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def members(tarball):
    with tarfile.open(str(tarball)) as tar:
        return sorted(m.name + ("/" if m.isdir() else "") for m in tar.getmembers())


@pytest.fixture(scope="module")
def installed(tmp_path_factory, tarball):
    """A collections path holding the installed tarball; returns (path, collection dir)."""
    root = tmp_path_factory.mktemp("installed")
    run([tool("ansible-galaxy"), "collection", "install", "--offline", "-p", str(root), str(tarball)],
        cwd=str(root), env=isolated_env(str(root)))
    collection = root / "ansible_collections" / "podnet" / "hostgw"
    assert (collection / "MANIFEST.json").is_file()
    return root, collection


def test_the_artifact_holds_the_collection_and_its_documents(members):
    assert {m.split("/")[0] for m in members} == SHIPPED
    for name in ("LICENSE", "README.md", "CHANGELOG.md", "changelogs/changelog.yaml", "docs/topology-lab.svg",
                 "meta/runtime.yml", "meta/execution-environment.yml", "plugins/connection/nsenter.py"):
        assert name in members


def test_every_file_of_the_collection_directories_is_shipped(members):
    for top in COLLECTION_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(REPO, top)):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                if not name.endswith(".pyc"):
                    assert os.path.relpath(os.path.join(dirpath, name), REPO) in members


@pytest.mark.parametrize("path", DEV_ONLY)
def test_development_files_stay_out(members, path):
    if path.endswith("/"):
        assert not [m for m in members if m.startswith(path)]
    else:
        assert path not in members


def test_no_hidden_or_cached_files(members):
    for member in members:
        assert not any(part.startswith(".") or part == "__pycache__" for part in member.split("/")), member
        assert not member.endswith((".pyc", ".tar.gz")), member


def test_the_license_is_the_gpl3_that_galaxy_yml_names(galaxy, members):
    assert galaxy["license"] == ["GPL-3.0-or-later"]
    with open(os.path.join(REPO, "LICENSE")) as fh:
        head = fh.read(200)
    assert "GNU GENERAL PUBLIC LICENSE" in head and "Version 3, 29 June 2007" in head
    assert "LICENSE" in members


def test_galaxy_yml_names_no_made_up_address(galaxy):
    for key in ("repository", "documentation", "homepage", "issues"):
        assert "example.invalid" not in str(galaxy.get(key, ""))
    with open(os.path.join(REPO, "galaxy.yml")) as fh:
        assert "example.invalid" not in fh.read()


def test_requires_ansible_is_the_tested_ansible_core_series():
    with open(os.path.join(REPO, "requirements-dev.txt")) as fh:
        pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", fh.read(), re.M))
    tested = Version(pins["ansible-core"])
    spec = SpecifierSet(read_yaml(REPO, "meta", "runtime.yml")["requires_ansible"])
    assert spec.contains(tested)
    assert spec.contains("%d.%d.0" % (tested.major, tested.minor))
    assert not spec.contains("%d.%d.0" % (tested.major, tested.minor + 1))
    assert not spec.contains("%d.%d.0" % (tested.major, tested.minor - 1))


def introspect(collections_path):
    out = run([tool("ansible-builder"), "introspect", str(collections_path)])
    return yaml.safe_load(out)


def test_an_execution_environment_gets_no_python_or_system_package_from_the_collection(installed):
    root = installed[0]
    assert introspect(root) == {"python": [], "system": []}


def test_meta_execution_environment_keeps_root_requirement_files_out(tmp_path, installed):
    # ansible-builder reads a collection's root requirements.txt unless
    # meta/execution-environment.yml says otherwise: with the file, a stray
    # root requirements.txt adds nothing; without it, it would.
    collection = tmp_path / "ansible_collections" / "podnet" / "hostgw"
    shutil.copytree(str(installed[1]), str(collection))
    (collection / "requirements.txt").write_text("requests\n")
    assert introspect(tmp_path) == {"python": [], "system": []}
    (collection / "meta" / "execution-environment.yml").unlink()
    assert introspect(tmp_path)["python"] == ["requests  # from collection podnet.hostgw"]


def test_ansible_builder_creates_a_build_context_for_an_ee_with_the_collection(tmp_path, tarball):
    # `ansible-builder create` (schema version 3) runs offline: it validates the
    # definition and writes the build context; building the image needs a
    # registry and is not done here.
    with open(os.path.join(REPO, "requirements-dev.txt")) as fh:
        core = re.search(r"^ansible-core==(\S+)", fh.read(), re.M).group(1)
    shutil.copy(str(tarball), str(tmp_path))
    definition = {
        "version": 3,
        "dependencies": {
            "ansible_core": {"package_pip": "ansible-core==%s" % core},
            "ansible_runner": {"package_pip": "ansible-runner"},
            "galaxy": {"collections": [{"name": "/build/collections/%s" % tarball.name, "type": "file"}]},
        },
        "additional_build_files": [{"src": tarball.name, "dest": "collections"}],
    }
    (tmp_path / "execution-environment.yml").write_text(yaml.safe_dump(definition))
    run([tool("ansible-builder"), "create", "--file", "execution-environment.yml", "--context", "context"],
        cwd=str(tmp_path))
    context = tmp_path / "context"
    assert (context / "_build" / "collections" / tarball.name).is_file()
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"][0]["name"].endswith(tarball.name)
    containerfile = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists())
    assert "ansible-core==%s" % core in containerfile.read_text()


def test_the_manifest_carries_galaxy_yml(tarball, galaxy):
    with tarfile.open(str(tarball)) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    for key in ("namespace", "name", "version", "license", "dependencies"):
        assert manifest[key] == galaxy[key]
    assert not manifest["repository"]

"""cni_plugin_links on a temporary root: links every plugin of the package's
directory, check mode predicts it, a second run changes nothing, a foreign
file at a link's path is left and reported, removal takes exactly what the
record lists (links still pointing where they were made to, directories
only when empty)."""

import os

from ansible_collections.podnet.hostgw.plugins.modules import cni_plugin_links

from .conftest import run_module

PLUGINS = ("bridge", "host-local", "loopback", "portmap")


def no_commands(*args, **kwargs):
    raise AssertionError("cni_plugin_links runs no command")


def package(tmp_path, names=PLUGINS):
    source = tmp_path / "usr" / "lib" / "cni"
    source.mkdir(parents=True, exist_ok=True)
    for name in names:
        (source / name).write_text("#!/bin/sh\n")
        (source / name).chmod(0o755)
    (source / "README").write_text("not a plugin\n")
    return source


def run(tmp_path, check_mode=False, diff=False, **params):
    args = {"source_dir": str(tmp_path / "usr" / "lib" / "cni"), "bin_dir": str(tmp_path / "opt" / "cni" / "bin"),
            "record": str(tmp_path / "etc" / "podnet" / "cni-plugin-links")}
    args.update(params)
    return run_module(cni_plugin_links, args, no_commands, check_mode=check_mode, diff=diff)


def tree(tmp_path):
    """{relative path: 'dir' | 'link to X' | 'file'} under TMP_PATH/opt and the record."""
    found = {}
    for top in ("opt", "etc"):
        for d, dirs, files in os.walk(str(tmp_path / top)):
            for name in dirs + files:
                path = os.path.join(d, name)
                rel = os.path.relpath(path, str(tmp_path))
                found[rel] = ("link to " + os.readlink(path) if os.path.islink(path)
                              else "dir" if os.path.isdir(path) else "file")
    return found


def test_links_every_plugin_check_mode_predicts_and_the_second_run_changes_nothing(tmp_path):
    source = package(tmp_path)
    bin_dir = tmp_path / "opt" / "cni" / "bin"
    predicted = run(tmp_path, check_mode=True, diff=True)
    assert tree(tmp_path) == {}, "check mode changed something"
    done = run(tmp_path, diff=True)
    assert not done.failed, done.result
    assert done.result["changed"] and done.result["changes"] == predicted.result["changes"]
    assert done.result["diff"] == predicted.result["diff"]
    assert done.result["changes"][:3] == ["mkdir %s" % d for d in (bin_dir.parent.parent, bin_dir.parent, bin_dir)]
    assert done.result["plugins"] == sorted(PLUGINS)
    for name in PLUGINS:
        assert os.readlink(str(bin_dir / name)) == str(source / name)
        assert "link %s -> %s\n" % (bin_dir / name, source / name) in done.result["diff"]["after"]
    assert not os.path.lexists(str(bin_dir / "README"))
    assert done.result["diff"]["before"] == ""
    again = run(tmp_path, check_mode=False)
    assert (again.result["changed"], again.result["changes"], again.result["warnings"]) == (False, [], [])


def test_a_foreign_file_and_a_link_elsewhere_are_left_and_reported(tmp_path):
    package(tmp_path)
    bin_dir = tmp_path / "opt" / "cni" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "bridge").write_text("upstream bridge binary\n")
    os.symlink("/somewhere/portmap", str(bin_dir / "portmap"))
    for check_mode in (True, False):
        result = run(tmp_path, check_mode=check_mode).result
        assert result["foreign"] == [{"path": str(bin_dir / "bridge"), "found": "a regular file"},
                                     {"path": str(bin_dir / "portmap"), "found": "a link to /somewhere/portmap"}]
        assert any(w.startswith("%s is a regular file, not a link to " % (bin_dir / "bridge"))
                   for w in result["warnings"]), result["warnings"]
    assert (bin_dir / "bridge").read_text() == "upstream bridge binary\n"
    assert os.readlink(str(bin_dir / "portmap")) == "/somewhere/portmap"
    assert os.path.islink(str(bin_dir / "loopback"))
    gone = run(tmp_path, state="absent")
    assert gone.result["changed"]
    assert sorted(os.listdir(str(bin_dir))) == ["bridge", "portmap"], "removal touched a foreign file"
    assert not os.path.exists(str(tmp_path / "etc" / "podnet" / "cni-plugin-links"))


def test_a_link_someone_else_made_is_kept_by_removal(tmp_path):
    source = package(tmp_path)
    bin_dir = tmp_path / "opt" / "cni" / "bin"
    bin_dir.mkdir(parents=True)
    os.symlink(str(source / "bridge"), str(bin_dir / "bridge"))
    made = run(tmp_path).result
    assert made["others"] == [str(bin_dir / "bridge")]
    assert "link %s -> %s" % (bin_dir / "bridge", source / "bridge") not in made["changes"]
    run(tmp_path, state="absent")
    assert os.listdir(str(bin_dir)) == ["bridge"], "removal took a link the collection did not make"


def test_removal_takes_only_what_was_made_and_empty_created_directories(tmp_path):
    package(tmp_path)
    run(tmp_path)
    bin_dir = tmp_path / "opt" / "cni" / "bin"
    predicted = run(tmp_path, state="absent", check_mode=True)
    assert len(os.listdir(str(bin_dir))) == len(PLUGINS)
    gone = run(tmp_path, state="absent")
    assert gone.result["changes"] == predicted.result["changes"]
    assert tree(tmp_path) == {"etc/podnet": "dir"}
    assert not os.path.exists(str(tmp_path / "opt"))
    assert run(tmp_path, state="absent").result["changed"] is False


def test_a_created_directory_with_someone_elses_file_stays(tmp_path):
    package(tmp_path)
    run(tmp_path)
    bin_dir = tmp_path / "opt" / "cni" / "bin"
    (bin_dir / "calico").write_text("someone else's plugin\n")
    run(tmp_path, state="absent")
    assert os.listdir(str(bin_dir)) == ["calico"]


def test_a_relinked_path_is_not_removed_and_a_plugin_that_left_the_package_goes(tmp_path):
    source = package(tmp_path)
    run(tmp_path)
    bin_dir = tmp_path / "opt" / "cni" / "bin"
    os.unlink(str(bin_dir / "bridge"))
    os.symlink("/elsewhere/bridge", str(bin_dir / "bridge"))
    os.unlink(str(source / "portmap"))          # an upgrade dropped it
    result = run(tmp_path).result
    assert "remove %s" % (bin_dir / "portmap") in result["changes"]
    assert not os.path.lexists(str(bin_dir / "portmap"))
    assert os.readlink(str(bin_dir / "bridge")) == "/elsewhere/bridge"
    run(tmp_path, state="absent")
    assert os.listdir(str(bin_dir)) == ["bridge"]


def test_no_plugins_fails_for_real_and_warns_in_check_mode(tmp_path):
    check = run(tmp_path, check_mode=True)
    assert not check.failed and check.result["changed"] is False
    assert "holds no CNI plugin yet" in check.result["warnings"][0]
    real = run(tmp_path)
    assert real.failed and "holds no CNI plugin: install the distribution's package" in real.result["msg"]
    assert tree(tmp_path) == {}


def test_bad_parameters_change_nothing(tmp_path):
    package(tmp_path)
    bad = run(tmp_path, bin_dir="opt/cni/bin")
    assert bad.failed and "bin_dir 'opt/cni/bin' is not an absolute path" in bad.result["msg"]
    same = run(tmp_path, bin_dir=str(tmp_path / "usr" / "lib" / "cni"))
    assert same.failed and "is source_dir itself" in same.result["msg"]
    assert tree(tmp_path) == {}


def test_a_record_that_is_not_ours_stops_the_module(tmp_path):
    package(tmp_path)
    record = tmp_path / "etc" / "podnet" / "cni-plugin-links"
    record.parent.mkdir(parents=True)
    record.write_text("someone's notes\n")
    result = run(tmp_path)
    assert result.failed and "is not the collection's" in result.result["msg"]
    assert not os.path.exists(str(tmp_path / "opt"))

"""files: a role's small files, directories and links in one run, with check
and diff modes that predict the real run, on a temporary directory."""

import os
import stat

import pytest

from ansible_collections.podnet.hostgw.plugins.modules import files

from .conftest import run_module


@pytest.fixture
def top(tmp_path):
    """The files' root (the host lock lives beside it, in tmp_path)."""
    path = tmp_path / "host"
    path.mkdir()
    return path


def no_commands(*args, **kwargs):
    raise AssertionError("files runs no command")


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def params(top, **extra):
    record = str(top / "etc" / "podnet" / "hostgw.json")
    base = dict(files=[dict(path=record, content='{"a": 1}\n', mode="0644")],
                links=[dict(path=str(top / "facts.d" / "podnet_hostgw.fact"), target=record)])
    base.update(extra)
    return base


def tree(top):
    """Every path under TOP: (kind, mode, content or link target)."""
    found = {}
    for d, dirs, names in os.walk(str(top)):
        for name in dirs + names:
            path = os.path.join(d, name)
            if os.path.islink(path):
                found[path] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                found[path] = ("dir", mode(path))
            else:
                with open(path) as fh:
                    found[path] = ("file", mode(path), fh.read())
    return found


def test_check_predicts_the_run_and_the_second_run_changes_nothing(top):
    p = params(top)
    predicted = run_module(files, p, no_commands, check_mode=True, diff=True)
    assert not predicted.failed
    assert tree(top) == {}
    real = run_module(files, p, no_commands, diff=True)
    assert real.result["changes"] == predicted.result["changes"] == [
        "mkdir %s/etc (0755)" % top, "mkdir %s/etc/podnet (0755)" % top,
        "mkdir %s/facts.d (0755)" % top, "write %s/etc/podnet/hostgw.json (0644)" % top,
        "link %s/facts.d/podnet_hostgw.fact -> %s/etc/podnet/hostgw.json" % (top, top)]
    assert real.result["diff"] == predicted.result["diff"]
    assert {"before_header": "%s/etc/podnet/hostgw.json" % top, "after_header":
            "%s/etc/podnet/hostgw.json" % top, "before": "", "after": '{"a": 1}\n'} in real.result["diff"]
    got = tree(top)
    assert got[str(top / "etc" / "podnet" / "hostgw.json")] == ("file", 0o644, '{"a": 1}\n')
    assert got[str(top / "etc" / "podnet")] == ("dir", 0o755)
    assert got[str(top / "facts.d" / "podnet_hostgw.fact")] == ("link", str(top / "etc/podnet/hostgw.json"))
    again = run_module(files, p, no_commands, diff=True)
    assert again.result["changed"] is False and again.result["changes"] == [] and again.result["diff"] == []
    assert tree(top) == got


def test_content_mode_link_and_directory_mode_are_each_repaired(top):
    p = params(top)
    run_module(files, p, no_commands)
    record = top / "etc" / "podnet" / "hostgw.json"
    link = top / "facts.d" / "podnet_hostgw.fact"
    os.chmod(str(record), 0o600)
    os.chmod(str(top / "etc" / "podnet"), 0o700)
    link.unlink()
    link.write_text("someone's file\n")
    res = run_module(files, p, no_commands, diff=True).result
    assert res["changes"] == ["chmod %s/etc/podnet (0755)" % top, "chmod %s (0644)" % record,
                              "link %s -> %s" % (link, record)]
    assert {"before_header": str(link), "after_header": str(link), "before": "a regular file\n",
            "after": "link to %s\n" % record} in res["diff"]
    assert mode(str(record)) == 0o644 and mode(str(top / "etc" / "podnet")) == 0o755
    assert os.readlink(str(link)) == str(record)
    record.write_text("old\n")
    res = run_module(files, p, no_commands, diff=True).result
    assert res["changes"] == ["write %s (0644)" % record]
    assert res["diff"][0]["before"] == "old\n" and res["diff"][0]["after"] == '{"a": 1}\n'
    assert record.read_text() == '{"a": 1}\n'


def test_a_directory_in_the_way_fails_naming_it_and_changes_nothing(top):
    p = params(top)
    (top / "etc" / "podnet" / "hostgw.json").mkdir(parents=True)
    before = tree(top)
    res = run_module(files, p, no_commands)
    assert res.failed
    assert "%s/etc/podnet/hostgw.json is a directory, not a file" % top in res.result["msg"]
    assert tree(top) == before


def test_bad_input_fails_before_touching_anything(top):
    p = params(top, directory_mode="rwx")
    p["files"].append(dict(path="relative/x", content="", mode="0644"))
    res = run_module(files, p, no_commands)
    assert res.failed
    assert "directory_mode 'rwx' is not an octal mode such as '0644'" in res.result["errors"]
    assert "path 'relative/x' is not an absolute path" in res.result["errors"]
    assert tree(top) == {}

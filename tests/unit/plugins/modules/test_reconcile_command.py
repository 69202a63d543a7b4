"""reconcile_command on a temporary directory standing in for /usr/local and
/etc/systemd/system: what it installs (the engine's own files, byte for
byte; scripts and units with the marker; the links systemctl enable makes),
that check mode predicts the run exactly, that a second run changes
nothing, that it never overwrites or deletes what is not the collection's,
and that removal takes exactly what the install record lists."""

import os
import stat

import pytest
import yaml

from ansible_collections.podnet.hostgw.plugins.module_utils import installer
from ansible_collections.podnet.hostgw.plugins.module_utils import reconcile_files as rf
from ansible_collections.podnet.hostgw.plugins.modules import reconcile_command
from tests.conftest import REPO
from tests.unit.plugins.modules.conftest import run_module

ENGINE = os.path.join(REPO, "plugins", "module_utils", "_hostgw")
PYTHON = "/usr/bin/python3"


def no_command(argv, **kwargs):
    raise AssertionError("reconcile_command ran a command: %r" % (argv,))


class Host(object):
    """A host's /usr/local and /etc/systemd/system under TMP."""

    def __init__(self, tmp):
        self.root = str(tmp)
        self.command = os.path.join(self.root, "usr/local/sbin", rf.COMMAND)
        self.lib = os.path.join(self.root, "usr/local/lib/podnet-hostgw")
        self.units = os.path.join(self.root, "etc/systemd/system")
        os.makedirs(os.path.dirname(self.command))     # as on a host: /usr/local/sbin exists

    def params(self, **extra):
        params = {"command": self.command, "lib_dir": self.lib, "unit_dir": self.units,
                  "python": PYTHON, "state_file": "/etc/podnet/hostgw-state.json", "enable": True}
        params.update(extra)
        return params

    def run(self, check_mode=False, diff=False, **extra):
        return run_module(reconcile_command, self.params(**extra), no_command, check_mode=check_mode,
                          diff=diff)

    def tree(self):
        """{relative path: what it is} of everything under the root."""
        found = {}
        for d, dirs, files in os.walk(self.root):
            for name in dirs + files:
                path = os.path.join(d, name)
                st = os.lstat(path)
                rel = os.path.relpath(path, self.root)
                if stat.S_ISLNK(st.st_mode):
                    found[rel] = "-> " + os.readlink(path)
                elif stat.S_ISDIR(st.st_mode):
                    found[rel] = "dir"
                else:
                    with open(path, "rb") as fh:
                        found[rel] = (oct(stat.S_IMODE(st.st_mode)), fh.read())
        return found

    def unit(self, name):
        return os.path.join(self.units, name)

    def read(self, path):
        with open(path) as fh:
            return fh.read()


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


def engine_sources():
    out = {}
    for d, _dirs, files in os.walk(ENGINE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(d, name)
                with open(path, "rb") as fh:
                    out[os.path.relpath(path, ENGINE)] = fh.read()
    return out


def test_check_mode_predicts_the_install_then_a_second_run_changes_nothing(host):
    before = host.tree()
    predicted = host.run(check_mode=True)
    assert not predicted.failed, predicted.result["msg"]
    assert host.tree() == before, "check mode wrote something"
    done = host.run()
    assert done.result["changes"] == predicted.result["changes"]
    assert done.result["changed"] is predicted.result["changed"] is True
    assert done.result["units"] == [rf.SERVICE, rf.TIMER]
    assert done.result["units_changed"] is True
    installed = host.tree()
    again = host.run()
    assert (again.result["changed"], again.result["changes"], again.result["units_changed"]) == (False, [], False)
    assert host.tree() == installed
    assert host.run(check_mode=True).result["changed"] is False


def test_the_engine_is_installed_byte_for_byte_as_a_plain_package(host):
    host.run()
    package = os.path.join(host.lib, rf.PACKAGE)
    for rel, data in engine_sources().items():
        path = os.path.join(package, rel)
        with open(path, "rb") as fh:
            assert fh.read() == data, rel
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    record = host.read(os.path.join(host.lib, "installed")).splitlines()
    assert record[0].startswith("# Managed by podnet.hostgw: ")
    files = set(line.split(" ", 1)[1] for line in record if line.startswith("file "))
    assert files == set(os.path.join(package, rel) for rel in engine_sources())
    marked = set(line.split(" ", 1)[1] for line in record if line.startswith("marked "))
    assert marked == set([host.command, host.unit(rf.SERVICE), host.unit(rf.TIMER)])
    dirs = set(line.split(" ", 1)[1] for line in record if line.startswith("dir "))
    assert os.path.dirname(host.command) not in dirs, "/usr/local/sbin existed before"
    assert host.lib in dirs and host.units in dirs


def test_the_command_and_units(host):
    host.run(interval=7, state_file="/etc/podnet/other.json")
    script = host.read(host.command)
    assert script.splitlines()[:2] == [
        "#!%s -I" % PYTHON,
        "# Managed by podnet.hostgw: podnet-hostgw-reconcile, installed by the reconcile role; "
        "reset.yml removes it"]
    assert "sys.path.insert(0, %r)" % host.lib in script
    assert "from podnet_hostgw.reconcile import main" in script
    assert "main([\"--state-file\", '/etc/podnet/other.json'] + sys.argv[1:])" in script
    assert stat.S_IMODE(os.stat(host.command).st_mode) == 0o755
    service = host.read(host.unit(rf.SERVICE))
    for line in ("Type=oneshot", "ExecStart=%s" % host.command, "After=network-online.target",
                 "Wants=network-online.target", "WantedBy=multi-user.target"):
        assert line in service.splitlines()
    timer = host.read(host.unit(rf.TIMER)).splitlines()
    for line in ("OnActiveSec=7s", "OnUnitActiveSec=7s", "AccuracySec=1s", "Unit=%s" % rf.SERVICE,
                 "WantedBy=timers.target"):
        assert line in timer
    assert os.readlink(os.path.join(host.units, "multi-user.target.wants", rf.SERVICE)) == host.unit(rf.SERVICE)
    assert os.readlink(os.path.join(host.units, "timers.target.wants", rf.TIMER)) == host.unit(rf.TIMER)


def test_the_installed_command_runs_without_ansible(host, tmp_path):
    import subprocess
    import sys
    host.run(python=sys.executable, state_file=str(tmp_path / "none.json"))
    proc = subprocess.run([host.command, "--check"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"}, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "state file %s unusable, nothing was changed" % (tmp_path / "none.json") in proc.stderr
    # It left byte-code beside the engine: removal takes that too.
    assert installer.cache_files(os.path.join(host.lib, rf.PACKAGE, "reconcile.py"))
    res = host.run(state="absent")
    assert not res.failed
    assert not os.path.exists(host.lib)


def test_diff_shows_units_as_text_and_the_engine_as_paths(host):
    res = host.run(check_mode=True, diff=True)
    diffs = res.result["diff"]
    headers = [d.get("after_header") for d in diffs if "after_header" in d]
    assert headers == [host.command, host.unit(rf.SERVICE), host.unit(rf.TIMER)]
    timer = [d for d in diffs if d.get("after_header") == host.unit(rf.TIMER)][0]
    assert timer["before"] == "" and "OnUnitActiveSec=10s\n" in timer["after"]
    listing = diffs[-1]["prepared"]
    assert "  write %s\n" % os.path.join(host.lib, rf.PACKAGE, "routes", "plan.py") in listing
    assert "  link %s -> %s\n" % (os.path.join(host.units, "timers.target.wants", rf.TIMER),
                                  host.unit(rf.TIMER)) in listing
    host.run()
    changed = host.run(check_mode=True, diff=True, interval=30).result
    assert changed["changes"] == ["write %s" % host.unit(rf.TIMER)]
    assert changed["units_changed"] is True
    texts = [d for d in changed["diff"] if "before" in d]
    assert len(texts) == 1 and "OnUnitActiveSec=10s" in texts[0]["before"] and "30s" in texts[0]["after"]


@pytest.mark.parametrize("where", ["command", "unit", "engine", "link", "record"])
def test_a_file_that_is_not_the_collections_stops_it_before_any_change(host, where):
    targets = {
        "command": host.command,
        "unit": host.unit(rf.TIMER),
        "engine": os.path.join(host.lib, rf.PACKAGE, "reconcile.py"),
        "link": os.path.join(host.units, "timers.target.wants", rf.TIMER),
        "record": os.path.join(host.lib, "installed"),
    }
    path = targets[where]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if where == "link":
        os.symlink("/lib/systemd/system/other.timer", path)
    else:
        with open(path, "w") as fh:
            fh.write("#!/bin/sh\n# someone else's\n")
    before = host.tree()
    for check_mode in (True, False):
        res = host.run(check_mode=check_mode)
        assert res.failed
        assert res.result["msg"].startswith("files in the way of the reconcile command, nothing was changed (1):")
        assert path in res.result["msg"]
        assert host.tree() == before
    removal = host.run(state="absent")
    assert not removal.failed and host.tree() == before, "removal touched a file that is not ours"


def test_removal_takes_exactly_what_the_record_lists(host):
    os.makedirs(host.units)             # existed before: stays
    host.run(watch=True)
    # Something of someone else's in a directory the install created.
    wants = os.path.join(host.units, "timers.target.wants")
    with open(os.path.join(wants, "other.timer"), "w") as fh:
        fh.write("[Timer]\n")
    # Python's byte-code of an engine file, and of a file that is not ours.
    cache = os.path.join(host.lib, rf.PACKAGE, "__pycache__")
    os.makedirs(cache)
    for name in ("state.cpython-311.pyc", "state.cpython-311.opt-1.pyc", "stranger.cpython-311.pyc"):
        open(os.path.join(cache, name), "wb").close()
    predicted = host.run(state="absent", check_mode=True)
    res = host.run(state="absent")
    assert res.result["changes"] == predicted.result["changes"]
    assert res.result["units_found"] == [rf.SERVICE, rf.TIMER, rf.WATCH_SERVICE]
    left = host.tree()
    assert sorted(left) == sorted([
        "etc", "etc/systemd", "etc/systemd/system", "etc/systemd/system/timers.target.wants",
        "etc/systemd/system/timers.target.wants/other.timer",
        "usr", "usr/local", "usr/local/lib", "usr/local/lib/podnet-hostgw",
        "usr/local/lib/podnet-hostgw/podnet_hostgw", "usr/local/lib/podnet-hostgw/podnet_hostgw/__pycache__",
        "usr/local/lib/podnet-hostgw/podnet_hostgw/__pycache__/stranger.cpython-311.pyc",
        "usr/local/sbin"])
    assert "rmdir %s" % os.path.join(host.units, "multi-user.target.wants") in res.result["changes"]
    assert host.run(state="absent").result["changed"] is False


def test_watch_on_and_off(host):
    host.run()
    on = host.run(watch=True).result
    assert on["units"] == [rf.SERVICE, rf.TIMER, rf.WATCH_SERVICE]
    watch_script = os.path.join(os.path.dirname(host.command), rf.WATCH_COMMAND)
    assert "from podnet_hostgw.watch import main" in host.read(watch_script)
    assert "ExecStart=%s" % watch_script in host.read(host.unit(rf.WATCH_SERVICE)).splitlines()
    link = os.path.join(host.units, "multi-user.target.wants", rf.WATCH_SERVICE)
    assert os.readlink(link) == host.unit(rf.WATCH_SERVICE)
    off = host.run().result
    assert sorted(off["changes"]) == sorted(["remove " + watch_script, "remove " + host.unit(rf.WATCH_SERVICE),
                                             "remove " + link, "write " + os.path.join(host.lib, "installed")])
    assert off["units_changed"] is True
    assert not os.path.lexists(watch_script) and not os.path.lexists(link)
    assert os.path.isdir(os.path.dirname(link)), "the service's link is still in it"


def test_without_enable_no_links_and_those_systemctl_made_stay(host):
    host.run(enable=False)
    wants = os.path.join(host.units, "timers.target.wants")
    assert not os.path.exists(wants)
    os.makedirs(wants)                     # systemctl enable, where systemd runs
    os.symlink(host.unit(rf.TIMER), os.path.join(wants, rf.TIMER))
    assert host.run(enable=False).result["changed"] is False
    gone = host.run(state="absent").result["changes"]
    assert "remove %s" % os.path.join(wants, rf.TIMER) in gone, "a link to our unit would dangle"


def test_a_mode_changed_by_hand_is_put_back(host):
    host.run()
    os.chmod(host.command, 0o700)
    res = host.run().result
    assert res["changes"] == ["chmod 755 %s" % host.command]
    assert stat.S_IMODE(os.stat(host.command).st_mode) == 0o755


def test_a_lost_record_removal_takes_only_what_carries_the_marker(host):
    host.run()
    os.unlink(os.path.join(host.lib, "installed"))
    res = host.run(state="absent").result
    assert sorted(res["changes"]) == sorted(
        ["remove %s" % p for p in (host.command, host.unit(rf.SERVICE), host.unit(rf.TIMER),
                                   os.path.join(host.units, "multi-user.target.wants", rf.SERVICE),
                                   os.path.join(host.units, "timers.target.wants", rf.TIMER))])
    assert os.path.exists(os.path.join(host.lib, rf.PACKAGE, "reconcile.py")), "unrecorded: not provably ours"
    again = host.run()
    assert again.failed and "not in the collection's install record" in again.result["msg"]


def test_a_record_edited_to_list_another_file_does_not_remove_it(host, tmp_path):
    host.run()
    victim = tmp_path / "precious"
    victim.write_text("keep me\n")
    record = os.path.join(host.lib, "installed")
    with open(record, "a") as fh:
        fh.write("file %s\n" % victim)
    res = host.run(state="absent")
    assert not res.failed
    assert victim.read_text() == "keep me\n"
    assert any(str(victim) in w and "left alone" in w for w in res.result["warnings"])


def test_a_run_that_dies_half_way_leaves_a_record_of_what_it_may_have_made(host, monkeypatch):
    real = installer.Installer._write
    writes = []

    def dying(path, content, mode, move):
        writes.append(path)
        if len(writes) == 5:
            raise OSError(28, "No space left on device", path)
        return real(path, content, mode, move)

    monkeypatch.setattr(installer.Installer, "_write", staticmethod(dying))
    res = host.run()
    assert res.failed and "No space left on device" in res.result["msg"]
    assert writes[0] == os.path.join(host.lib, "installed"), "the record goes first"
    monkeypatch.setattr(installer.Installer, "_write", staticmethod(real))
    assert not host.run(state="absent").failed
    assert sorted(host.tree()) == ["usr", "usr/local", "usr/local/sbin"]


@pytest.mark.parametrize("params, sentence", [
    ({"python": "/opt/my python/bin/python3"}, "python '/opt/my python/bin/python3' must not contain white space"),
    ({"command": "/usr/local/sbin/a%b"}, "command '/usr/local/sbin/a%b' must not contain white space"),
    ({"interval": 0}, "interval 0 is out of range (1 to 86400 seconds)"),
    ({"lib_dir": "lib"}, "lib_dir 'lib' is not an absolute path"),
])
def test_bad_parameters_are_named_and_nothing_is_written(host, params, sentence):
    before = host.tree()
    res = host.run(**params)
    assert res.failed and sentence in res.result["msg"], res.result["msg"]
    assert host.tree() == before


def test_the_reconcile_roles_unit_names_are_the_modules():
    with open(os.path.join(REPO, "roles", "reconcile", "vars", "main.yml")) as fh:
        role = yaml.safe_load(fh)
    assert [role["__hostgw_reconcile_boot_unit"], role["__hostgw_reconcile_timer_unit"],
            role["__hostgw_reconcile_watch_unit"]] == list(rf.UNITS)

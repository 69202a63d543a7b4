"""host-local IPAM state on a real (temporary) filesystem: what counts as a
lease, what as bookkeeping, and that removal never takes anything else."""

import fcntl
import os

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import ipam


def network(tmp_path, **entries):
    """A network directory holding ENTRIES (name -> text, or None for a subdirectory)."""
    path = tmp_path / "podnet"
    path.mkdir()
    for name, text in entries.items():
        if text is None:
            (path / name).mkdir()
        else:
            (path / name).write_text(text)
    return str(path)


BOOKKEEPING = {"lock": "", "last_reserved_ip.0": "192.168.0.3", "last_reserved_ip.1": "fd00::3"}


def test_bookkeeping_only_is_unused_and_removed(tmp_path):
    path = network(tmp_path, **BOOKKEEPING)
    state = ipam.read(path)
    assert state.unused and state.bookkeeping == ["last_reserved_ip.0", "last_reserved_ip.1", "lock"]
    removed, _state = ipam.remove_unused(path)
    assert removed and not os.path.exists(path)
    assert os.path.isdir(str(tmp_path))  # the data directory stays


def test_address_files_are_leases_with_their_containers(tmp_path):
    path = network(tmp_path, **dict(BOOKKEEPING, **{
        "192.168.0.2": "podnet-lab-c1\r\neth0", "fd00::2": "4f0c1d", "192.168.0.9": ""}))
    state = ipam.read(path)
    assert not state.unused
    assert [lease.as_dict() for lease in state.leases] == [
        {"address": "192.168.0.2", "container_id": "podnet-lab-c1", "ifname": "eth0"},
        {"address": "192.168.0.9", "container_id": "", "ifname": ""},
        {"address": "fd00::2", "container_id": "4f0c1d", "ifname": ""}]
    assert str(state.leases[0]) == "192.168.0.2 (container podnet-lab-c1)"
    assert ipam.remove_unused(path)[0] is False
    assert sorted(os.listdir(path)) == sorted(list(BOOKKEEPING) + ["192.168.0.2", "fd00::2", "192.168.0.9"])


@pytest.mark.parametrize("entry", ["notes.txt", "last_reserved_ip.x", ".hidden", "sub"])
def test_anything_host_local_does_not_make_keeps_the_directory(tmp_path, entry):
    path = network(tmp_path, **dict(BOOKKEEPING, **{entry: None if entry == "sub" else "x"}))
    state = ipam.read(path)
    assert state.others == [entry] and not state.unused
    assert ipam.remove_unused(path)[0] is False and os.path.exists(os.path.join(path, entry))


def test_a_symlinked_bookkeeping_name_is_not_bookkeeping(tmp_path):
    path = network(tmp_path, **{"last_reserved_ip.0": "x"})
    target = tmp_path / "elsewhere"
    target.write_text("keep me")
    os.symlink(str(target), os.path.join(path, "lock"))
    assert ipam.read(path).others == ["lock"]
    assert ipam.remove_unused(path)[0] is False and target.read_text() == "keep me"


def test_a_path_that_is_not_a_directory_is_left_alone(tmp_path):
    real = network(tmp_path, **BOOKKEEPING)
    link = str(tmp_path / "linked")
    os.symlink(real, link)
    state = ipam.read(link)
    assert state.exists and state.problem == "is a symbolic link, not a directory" and not state.unused
    assert ipam.remove_unused(link)[0] is False and os.path.islink(link) and os.listdir(real)
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert ipam.read(str(plain)).problem == "is not a directory"


def test_missing_directory(tmp_path):
    state = ipam.read(str(tmp_path / "podnet"))
    assert not state.exists and not state.unused
    assert ipam.remove_unused(str(tmp_path / "podnet"))[0] is False


def test_removal_waits_for_host_local_s_lock(tmp_path):
    path = network(tmp_path, **BOOKKEEPING)
    fd = os.open(os.path.join(path, "lock"), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # host-local in the middle of an ADD
        with pytest.raises(ipam.LockTimeout, match="host-local IPAM has held .*/podnet/lock for more than 0 s"):
            ipam.remove_unused(path, timeout=0.2)
        assert sorted(os.listdir(path)) == sorted(BOOKKEEPING)
    finally:
        os.close(fd)
    assert ipam.remove_unused(path)[0] is True


def test_a_lease_written_before_the_lock_was_taken_keeps_the_directory(tmp_path, monkeypatch):
    """The first look sees bookkeeping only; host-local leases before the
    lock is taken; the look under the lock sees it and nothing is removed."""
    path = network(tmp_path, **BOOKKEEPING)
    real_lock = ipam._lock

    def lease_then_lock(where, timeout):
        with open(os.path.join(where, "192.168.0.4"), "w") as fh:
            fh.write("late-container")
        return real_lock(where, timeout)

    monkeypatch.setattr(ipam, "_lock", lease_then_lock)
    removed, state = ipam.remove_unused(path)
    assert removed is False and [lease.address for lease in state.leases] == ["192.168.0.4"]
    assert sorted(os.listdir(path)) == sorted(list(BOOKKEEPING) + ["192.168.0.4"])


def test_rmdir_refuses_an_entry_that_appears_after_the_look(tmp_path, monkeypatch):
    """A writer that ignores the lock: the directory stays with its entry."""
    path = network(tmp_path, **BOOKKEEPING)
    real_unlink = os.unlink

    def unlink_then_someone_writes(name):
        real_unlink(name)
        if name.endswith("lock"):
            with open(os.path.join(path, "192.168.0.5"), "w") as fh:
                fh.write("rogue")

    monkeypatch.setattr(ipam.os, "unlink", unlink_then_someone_writes)
    with pytest.raises(OSError):
        ipam.remove_unused(path)
    assert os.listdir(path) == ["192.168.0.5"]

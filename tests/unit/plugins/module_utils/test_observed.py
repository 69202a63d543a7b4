"""observed: the preflight's read of paths (on a temporary directory) and the
controller's view of it, which textfiles.plan reads as it reads the disk."""

import os

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import observed, textfiles


def files_at(top):
    record = str(top / "etc" / "podnet" / "hostgw.json")
    return [textfiles.File(record, b'{"a": 1}\n', 0o644),
            textfiles.Link(str(top / "facts.d" / "podnet_hostgw.fact"), record)]


def read_paths(entries):
    return observed.read(None, [e.path for e in entries])


def test_the_view_plans_what_the_disk_plans(tmp_path):
    entries = files_at(tmp_path)
    # Nothing there: the disk plans mkdirs; the view cannot tell (new directories).
    assert textfiles.plan(entries, 0o755)[0]
    with pytest.raises(textfiles.Unknown):
        textfiles.plan(entries, 0o755, observed.PathsView(read_paths(entries)))
    textfiles.apply(textfiles.plan(entries, 0o755)[0])
    found = read_paths(entries)
    assert textfiles.plan(entries, 0o755, observed.PathsView(found)) == ([], [])
    # Each kind of drift: the view plans the same steps as the disk.
    drifts = [
        lambda: os.chmod(entries[0].path, 0o600),
        lambda: open(entries[0].path, "w").write("other\n"),
        lambda: (os.unlink(entries[1].path), os.symlink("/elsewhere", entries[1].path)),
        lambda: os.chmod(os.path.dirname(entries[0].path), 0o700),
        lambda: os.unlink(entries[0].path),
    ]
    for drift in drifts:
        textfiles.apply(textfiles.plan(entries, 0o755)[0])
        drift()
        on_disk = textfiles.plan(entries, 0o755)
        assert on_disk[0]
        assert textfiles.plan(entries, 0o755, observed.PathsView(read_paths(entries))) == on_disk


def test_a_directory_in_a_files_place_is_a_problem_in_both(tmp_path):
    entries = files_at(tmp_path)
    textfiles.apply(textfiles.plan(entries, 0o755)[0])
    os.unlink(entries[0].path)
    os.mkdir(entries[0].path)
    assert textfiles.plan(entries, 0o755, observed.PathsView(read_paths(entries))) == \
        textfiles.plan(entries, 0o755) == ([], ["%s is a directory, not a file" % entries[0].path])


def test_what_was_not_read_is_unknown(tmp_path):
    entries = files_at(tmp_path)
    textfiles.apply(textfiles.plan(entries, 0o755)[0])
    found = observed.read(None, [entries[0].path])  # the link was not read
    with pytest.raises(textfiles.Unknown):
        textfiles.plan(entries, 0o755, observed.PathsView(found))
    with pytest.raises(textfiles.Unknown):
        textfiles.plan(entries, 0o755, observed.PathsView(None))


def test_a_large_or_binary_file_has_no_content_and_is_unknown(tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"x" * (observed.LIMIT + 1))
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe")
    found = observed.read(None, [str(big), str(binary)])
    assert found["paths"][str(big)]["content"] is None
    assert found["paths"][str(binary)]["content"] is None
    with pytest.raises(textfiles.Unknown):
        observed.file_text(found, str(big))


def test_running_values_and_the_state_file_section():
    found = {"sysctl": {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": None},
             "state_file": {"path": "/s.json", "valid": True, "sections": {"bridge": {"name": "cni0"}}}}
    assert observed.running_values(found, ["net.ipv4.ip_forward"]) == {"net.ipv4.ip_forward": "1"}
    with pytest.raises(textfiles.Unknown):
        observed.running_values(found, ["net.ipv6.conf.all.forwarding"])
    assert observed.section_unchanged(found, "/s.json", "bridge", {"name": "cni0"})
    assert not observed.section_unchanged(found, "/s.json", "bridge", {"name": "cni1"})
    with pytest.raises(textfiles.Unknown):
        observed.section_unchanged(found, "/other.json", "bridge", {"name": "cni0"})
    found["state_file"]["valid"] = False
    assert not observed.section_unchanged(found, "/s.json", "bridge", {"name": "cni0"})

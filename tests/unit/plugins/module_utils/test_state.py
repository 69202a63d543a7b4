"""The desired-state file (_hostgw/state.py) and the routes section's
bookkeeping (_hostgw/routes/desired.py): round trip, checksum, damaged
and foreign files, section updates and removal."""

import json
import os
import stat

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import state
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.routes import desired, options

BRIDGE = state.bridge_section("cni0", 1500, ["192.168.0.1/24", "fd00:10::1/64"])
ROUTES = state.routes_section("hostgw", 252, False, ["main"], [
    "192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0",
    "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0"])
NETFILTER = state.netfilter_section("podnet_hostgw", "auto", "auto", ["192.168.0.0/16"], True, True)
ALL = {"bridge": BRIDGE, "routes": ROUTES, "netfilter": NETFILTER}


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "podnet" / "hostgw-state.json")


def text_of(path):
    with open(path) as fh:
        return fh.read()


def put(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


def with_document(path, edit):
    """Rewrite PATH's JSON through EDIT (a function of the parsed document)."""
    doc = json.loads(text_of(path))
    edit(doc)
    put(path, json.dumps(doc, indent=2))


# ----------------------------------------------------------------- the file --

def test_round_trip_atomic_readable_and_marked(path):
    state.write(path, ALL)
    loaded = state.read(path)
    assert loaded == state.Loaded(path, state.OURS, ALL, [])
    text = text_of(path)
    assert text.splitlines()[1] == '  "managed_by": "podnet.hostgw",'
    assert '      "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0",' in text
    assert json.loads(text)["checksum"] == state.checksum(ALL)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(os.path.dirname(path)) == ["hostgw-state.json"]   # no temporary left
    # the routes are stored sorted
    assert ROUTES["routes"][0].startswith("192.168.1.0/24")


def test_rewrite_replaces_by_rename(path):
    state.write(path, {"bridge": BRIDGE})
    first = os.stat(path).st_ino
    state.write(path, ALL)
    assert os.stat(path).st_ino != first
    assert state.read(path).sections == ALL


def test_checksum_catches_a_hand_edit(path):
    state.write(path, ALL)
    put(path, text_of(path).replace("10.168.0.3", "10.168.0.9"))
    loaded = state.read(path)
    assert loaded.status == state.OURS and loaded.sections == {}
    assert loaded.problems == ["its checksum does not match its sections: edited by hand or damaged"]


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.02])
def test_truncated_file_is_named(path, keep):
    state.write(path, ALL)
    text = text_of(path)
    put(path, text[:int(len(text) * keep)])
    loaded = state.read(path)
    assert loaded.sections == {}
    assert len(loaded.problems) == 1
    if keep > 0.1:
        assert loaded.status == state.OURS
        assert loaded.problems[0].startswith("is not valid JSON: truncated or damaged (")
    else:   # cut before the marker: no longer recognisably ours
        assert loaded.status == state.FOREIGN


@pytest.mark.parametrize("edit, problem", [
    (lambda d: d.update(format=2), "has format 2, written by a newer podnet.hostgw; this one reads format 1"),
    (lambda d: d.update(format="1"), "has format '1'; this podnet.hostgw reads format 1"),
    (lambda d: d.pop("format"), "has format None; this podnet.hostgw reads format 1"),
    (lambda d: d.update(sections=[]), "sections is missing or not an object"),
    (lambda d: d.update(managed_by="someone"), None),
])
def test_wrong_format_is_named(path, edit, problem):
    state.write(path, ALL)
    with_document(path, edit)
    loaded = state.read(path)
    assert loaded.sections == {}
    if problem is None:
        assert loaded.status == state.FOREIGN
    else:
        assert loaded.problems == [problem]


def sealed(path, sections):
    """A file with SECTIONS (any shape) and their right checksum."""
    state.write(path, {"bridge": BRIDGE})
    with_document(path, lambda d: d.update(sections=sections, checksum=state.checksum(sections)))


def test_section_shapes_are_checked_with_a_right_checksum(path):
    bad = {"bridge": dict(BRIDGE, mtu="1500", extra=1),
           "routes": dict((k, v) for k, v in ROUTES.items() if k != "routes"),
           "netfilter": dict(NETFILTER, forward="yes", cluster_cidrs=["192.168.0.0/16", 7]),
           "sysctl": {}}
    sealed(path, bad)
    loaded = state.read(path)
    assert loaded.sections == {}
    assert loaded.problems == [
        "sections.bridge.mtu '1500' is not an integer or null",
        "sections.bridge has the unknown key 'extra'",
        "sections.netfilter.cluster_cidrs ['192.168.0.0/16', 7] is not a list of strings",
        "sections.netfilter.forward 'yes' is not true or false",
        "sections.routes.routes is missing",
        "sections.sysctl is not a section this version knows (bridge, netfilter, routes)"]


def test_missing_empty_foreign_and_unreadable(path, tmp_path):
    assert state.read(path) == state.Loaded(path, state.MISSING, {}, ["does not exist"])
    put(path, "  \n")
    assert state.read(path).status == state.EMPTY
    put(path, '{"bridge": "mine"}\n')
    loaded = state.read(path)
    assert loaded.status == state.FOREIGN
    assert "is not podnet.hostgw's state file" in loaded.problems[0]
    assert state.read(str(tmp_path)).status == state.UNREADABLE      # a directory


def test_render_section_is_sorted_lines():
    assert state.render_section(ROUTES) == (
        "nexthop_objects: false\nprotocol: hostgw\nprotocol_number: 252\n"
        "routes: 192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0\n"
        "routes: 192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0\n"
        "tables: main\n")
    assert state.render_section(state.bridge_section("cni0", None, [])) == (
        "addresses: []\nmtu: null\nname: cni0\n")
    assert state.render_section(None) == ""


# ------------------------------------------------------------- the update --

def test_update_adds_changes_and_keeps_the_other_sections(path):
    doc = state.Document.open(path)
    change = doc.set("bridge", BRIDGE)
    assert change == state.SectionChange("bridge", None, BRIDGE, True)
    assert not os.path.exists(path)          # nothing written until save
    doc.save()
    doc = state.Document.open(path)
    assert doc.set("bridge", BRIDGE).changed is False
    doc.set("routes", ROUTES)
    doc.save()
    doc = state.Document.open(path)
    moved = dict(BRIDGE, addresses=["192.168.7.1/24"])
    change = doc.set("bridge", moved)
    assert (change.before, change.after, change.changed) == (BRIDGE, moved, True)
    entry = doc.diff(change)
    assert entry["before_header"] == "%s (section bridge)" % path
    assert "-addresses" not in entry["before"] and "addresses: 192.168.0.1/24\n" in entry["before"]
    assert "addresses: 192.168.7.1/24\n" in entry["after"]
    doc.save()
    assert state.read(path).sections == {"bridge": moved, "routes": ROUTES}


def test_removing_the_last_section_deletes_the_file(path):
    state.write(path, {"bridge": BRIDGE, "routes": ROUTES})
    doc = state.Document.open(path)
    assert doc.set("routes", None).changed
    doc.save()
    assert state.read(path).sections == {"bridge": BRIDGE}
    doc = state.Document.open(path)
    assert doc.set("netfilter", None).changed is False      # not there: no change
    assert doc.set("bridge", None).changed
    doc.save()
    assert not os.path.exists(path)
    doc = state.Document.open(path)
    assert doc.set("bridge", None).changed is False         # no file, nothing to remove


def test_a_damaged_file_is_replaced_and_a_foreign_one_refused(path):
    state.write(path, ALL)
    put(path, text_of(path)[:100])
    doc = state.Document.open(path)
    assert doc.damage.startswith("is not valid JSON")
    assert doc.section("routes") is None          # its sections are not trusted
    assert doc.set("bridge", BRIDGE).changed
    doc.save()
    assert state.read(path).sections == {"bridge": BRIDGE}
    put(path, "my notes\n")
    with pytest.raises(state.StateFileError) as exc:
        state.Document.open(path)
    assert "refusing to overwrite it" in str(exc.value) and path in str(exc.value)
    assert text_of(path) == "my notes\n"


def test_an_empty_file_is_replaced_but_never_deleted(path):
    put(path, "")
    doc = state.Document.open(path)
    assert doc.set("bridge", None).changed is False
    assert doc.set("bridge", BRIDGE).changed
    doc.save()
    assert state.read(path).sections == {"bridge": BRIDGE}


# ------------------------------------------------------- the routes section --

def wanted(*lines, **kw):
    routes, problems = options.validate_routes(list(lines), **kw)
    assert problems == []
    return routes


R1 = "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0"
R2 = "192.168.2.0/24 via 10.168.0.3 dev eth0 table main metric 0"
R3_T100 = "192.168.3.0/24 via 10.168.0.4 dev eth0 table 100 metric 0"
V6 = "fd00:10:1::/64 via fd00::2 dev eth0 table main metric 1024"
MAIN_BOTH = [("ipv4", 254), ("ipv6", 254)]


def test_merge_records_what_the_run_leaves():
    old = [R1, R2, R3_T100, V6]
    # purge over main: R2 and V6 are purged, R3 in table 100 is untouched
    lines, tables = desired.merge(old, wanted(R1), MAIN_BOTH, purge=True)
    assert lines == [R1, R3_T100]
    assert tables == ["100", "main"]
    # without purge every recorded route stays, a changed next hop replaces
    moved = "192.168.2.0/24 via 10.168.0.9 dev eth0"
    lines, _t = desired.merge(old, wanted(moved), [("ipv4", 254)], purge=False)
    assert lines == sorted([R1, moved + " table main metric 0", R3_T100, V6])
    # a new metric moves the route, absent drops it (by identity, or any metric)
    lines, _t = desired.merge(old, wanted("192.168.1.0/24 via 10.168.0.2 dev eth0 metric 50",
                                          {"dest": "192.168.2.0/24", "state": "absent"},
                                          {"dest": "fd00:10:1::/64", "metric": 1024, "state": "absent"}),
                              MAIN_BOTH, purge=False)
    assert lines == ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 50", R3_T100]


def test_merge_for_reset_and_from_nothing():
    lines, _t = desired.merge([R1, V6], [], MAIN_BOTH, purge=True)
    assert lines == []
    lines, tables = desired.merge((), wanted(V6, R1), MAIN_BOTH, purge=True)
    assert lines == [R1, V6] and tables == ["main"]


def test_recorded_lines_parse_back_to_the_same_routes():
    section = state.routes_section("hostgw", 252, True, ["main"], [
        R1, "192.168.5.0/24 via 1.2.3.4 dev eth0 src 10.168.0.1 onlink table main metric 0", V6])
    routes, ours, problems = desired.wanted(section)
    assert problems == [] and ours == frozenset(("252", "hostgw"))
    assert sorted(r.line() for r in routes) == section["routes"]


def test_routes_section_problems_name_the_key():
    section = state.routes_section("bird", 12, True, ["main"], ["192.168.1.5/24 via 10.168.0.2",
                                                                "192.168.9.0/24 via 10.168.0.2"])
    _r, _o, problems = desired.wanted(section)
    assert problems[0].startswith("routes.protocol_number 12 is the well-known protocol bird")
    assert "routes.routes[0]: dest '192.168.1.5/24' has host bits set" in problems[-1]
    section["routes"] = section["routes"][1:]
    _r, _o, problems = desired.wanted(section)
    assert "routes.routes[0]: dest '192.168.9.0/24' has via but no dev" in problems[-1]


def kernel_of(*entries):
    """``{(family, table): [Route]}`` of main from ``ip -json route`` entries."""
    from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.routes import kernel
    return {("ipv4", 254): kernel.parse_kernel_routes(list(entries), "ipv4", 254)}


OURS = frozenset(("252", "hostgw"))
K1 = {"dst": "192.168.1.0/24", "gateway": "10.168.0.2", "dev": "eth0", "protocol": "hostgw", "flags": []}
K2 = {"dst": "192.168.2.0/24", "gateway": "10.168.0.3", "dev": "eth0", "protocol": "252", "flags": []}


def test_converged_when_every_line_is_ours_and_first_at_its_identity():
    assert desired.converged([R1, R2], kernel_of(K1, K2), OURS)
    assert desired.converged([], kernel_of(), OURS)
    assert not desired.converged([R1, R2], kernel_of(K1), OURS)                   # missing
    assert not desired.converged([R1], kernel_of(dict(K1, gateway="10.168.0.9")), OURS)
    assert not desired.converged([R1], kernel_of(dict(K1, protocol="static")), OURS)
    # a route of another owner first at the identity: the planner decides
    assert not desired.converged([R1], kernel_of(dict(K1, protocol="bird"), K1), OURS)
    assert not desired.converged([R1], kernel_of(dict(K1, nhid=264241152)), OURS)


def test_reads_are_both_families_of_the_sections_tables():
    section = state.routes_section("hostgw", 252, False, ["main", "100"], [R1])
    assert desired.reads(section) == ([("ipv4", 100), ("ipv4", 254), ("ipv6", 100), ("ipv6", 254)], [])
    section["tables"] = ["nope"]
    assert desired.reads(section)[1][0].startswith("routes.tables[0]: table 'nope' must be a number")

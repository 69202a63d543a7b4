"""Unit tests for the route engine (plugins/module_utils/_hostgw/routes/), driven by real ``ip -json``
outputs captured from this machine's kernel (tests/fixtures/ip_route_*.json,
each with the commands that made it)."""

import json
import os

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import names
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.routes import (
    batch,
    kernel as kernel_mod,
    model,
    nexthops,
    options,
    plan as planner,
    protos,
)
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.command import Runner
from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw.iproute import IpCommand, parse_batch_errors
from tests.conftest import REPO

FIXTURES = os.path.join(REPO, "tests", "fixtures")
OURS = frozenset(("252", "hostgw"))


def fixture(name):
    with open(os.path.join(FIXTURES, "ip_route_%s.json" % name)) as fh:
        return json.load(fh)


def kernel(name, family="ipv4", table=254):
    data = json.loads(fixture(name)["stdout"])
    return kernel_mod.parse_kernel_routes(data, family, table)


def by_dest(routes):
    out = {}
    for r in routes:
        out.setdefault(r.dest, []).append(r)
    return out


def want(*entries, **kw):
    routes, errors = options.validate_routes(list(entries), **kw)
    assert errors == []
    return routes


def errors_of(*entries, **kw):
    routes, errors = options.validate_routes(list(entries), **kw)
    assert errors, "expected validation errors"
    return errors


def do_plan(wanted, kern, **kw):
    return planner.plan(wanted, kern, OURS, 252, **kw)


# ------------------------------------------------------- kernel parsing --

class TestParseKernel:
    def test_v4_main_normalisation(self):
        routes = by_dest(kernel("v4_main"))
        default = routes["0.0.0.0/0"][0]
        # ip omits "proto boot" without -d: a missing protocol is boot
        assert default.proto == "boot"
        assert default.via == "10.168.0.254" and default.metric == 0
        assert routes["10.168.0.0/24"][0].proto == "kernel"
        assert routes["192.168.11.5/32"][0].proto == "252"       # host route gets /32
        assert routes["192.168.2.0/24"][0].metric == 100
        assert routes["192.168.5.0/24"][0].onlink is True
        assert routes["192.168.6.0/24"][0].src == "10.168.0.1"   # prefsrc
        assert routes["192.168.6.0/24"][0].via is None
        assert routes["192.168.12.0/24"][0].proto == "bird"
        assert routes["192.168.13.0/24"][0].proto == "dhcp"

    def test_linkdown_is_not_onlink(self):
        r = by_dest(kernel("v4_main"))["192.168.7.0/24"][0]
        assert r.onlink is False and r.dev == "eth1"

    def test_blackhole_multipath_and_tos(self):
        routes = by_dest(kernel("v4_main"))
        assert routes["192.168.8.0/24"][0].rtype == "blackhole"
        mp = routes["192.168.9.0/24"][0]
        assert mp.nexthops == "nexthop via 10.168.0.2 dev eth0 nexthop via 10.168.0.3 dev eth0"
        assert mp.via is None
        tos = routes["192.168.10.0/24"][0]
        assert tos.tos == 0x10
        assert tos.key == ("ipv4", 254, "192.168.10.0/24", 0, 16)

    def test_duplicate_identity_keeps_order(self):
        dup = by_dest(kernel("v4_main"))["192.168.1.0/24"]
        assert [r.proto for r in dup] == ["252", "static"]
        assert dup[0].key == dup[1].key

    def test_v6(self):
        routes = by_dest(kernel("v6_main", "ipv6"))
        assert routes["::/0"][0].metric == 1024 and routes["::/0"][0].proto == "boot"
        assert routes["fd00:24::5/128"][0].proto == "252"
        assert routes["fd00:21::/64"][0].metric == 2048
        assert routes["fd00:23::/64"][0].onlink is True
        assert routes["fd00:20::/64"][0].key == ("ipv6", 254, "fd00:20::/64", 1024, 0)
        assert len(routes["fe80::/64"]) == 2

    def test_other_table_takes_table_from_the_read(self):
        routes = kernel("v4_table100", table=100)
        assert {r.table for r in routes} == {100}
        assert by_dest(routes)["0.0.0.0/0"][0].proto == "252"

    def test_proto_by_name(self):
        routes = by_dest(kernel("v4_named"))
        assert routes["192.168.1.0/24"][0].proto == "hostgw"
        assert routes["192.168.3.0/24"][0].proto == "static"

    def test_line_and_del_spec(self):
        routes = by_dest(kernel("v4_main"))
        assert routes["192.168.5.0/24"][0].line() == \
            "192.168.5.0/24 via 1.2.3.4 dev eth0 onlink table main metric 0"
        assert routes["192.168.3.0/24"][0].line(proto=True) == \
            "192.168.3.0/24 via 10.168.0.3 dev eth0 table main metric 0 proto static"
        assert model.format_route(routes["192.168.8.0/24"][0], model.DELETE) == "blackhole 192.168.8.0/24 table 254 metric 0"
        assert model.format_route(routes["192.168.9.0/24"][0], model.DELETE) == "192.168.9.0/24 table 254 metric 0"
        assert model.format_route(routes["192.168.10.0/24"][0], model.DELETE) == \
            "192.168.10.0/24 tos 0x10 via 10.168.0.2 dev eth0 table 254 metric 0"


# ----------------------------------------------------------- validation --

class TestValidate:
    def test_seed_routes(self):
        r1, r2 = want({"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0"},
                      {"dest": "192.168.0.0/24", "via": "10.168.0.1", "dev": "eth0"})
        assert r1.key == ("ipv4", 254, "192.168.1.0/24", 0, 0)
        assert (r2.via, r2.dev, r2.index) == ("10.168.0.1", "eth0", 1)

    def test_host_bits_named_with_correction(self):
        errs = errors_of({"dest": "192.168.1.5/24", "via": "10.168.0.2"})
        assert errs == ["routes[0]: dest '192.168.1.5/24' has host bits set; did you mean 192.168.1.0/24?"]
        errs = errors_of({"dest": "fd00:1::1/64", "via": "fd00:10::2"})
        assert "did you mean fd00:1::/64?" in errs[0]

    def test_canonical_forms(self):
        r = want({"dest": "FD00:0001:0000::/48", "via": "FD00:10::0002"},
                 {"dest": "192.168.9.7", "dev": "eth0"},
                 {"dest": "10.0.0.0/255.0.0.0", "dev": "eth0"})
        assert (r[0].dest, r[0].via, r[0].family) == ("fd00:1::/48", "fd00:10::2", "ipv6")
        assert r[1].dest == "192.168.9.7/32"
        assert r[2].dest == "10.0.0.0/8"

    def test_default_needs_a_family(self):
        errs = errors_of({"dest": "default", "dev": "eth0"})
        assert "dest 'default' needs a family" in errs[0] and "0.0.0.0/0" in errs[0]
        v4, v6 = want({"dest": "default", "via": "10.168.0.254"},
                      {"dest": "default", "via": "fd00:10::fe"})
        assert (v4.dest, v4.metric) == ("0.0.0.0/0", 0)
        assert (v6.dest, v6.metric) == ("::/0", 1024)
        r, = want({"dest": "::/0", "dev": "eth0"})
        assert r.family == "ipv6"

    def test_ipv6_metric_zero_is_1024(self):
        r, = want({"dest": "fd00:1::/64", "via": "fd00:10::2", "metric": 0})
        assert r.metric == 1024

    def test_family_mismatch(self):
        errs = errors_of({"dest": "fd00:1::/64", "via": "10.168.0.2"},
                         {"dest": "192.168.1.0/24", "via": "10.168.0.2", "src": "fd00::1"})
        assert errs[0] == ("routes[0]: via '10.168.0.2' is an IPv4 address, but dest 'fd00:1::/64' "
                           "is an IPv6 prefix")
        assert errs[1].startswith("routes[1]: src 'fd00::1' is an IPv6 address, but dest "
                                  "'192.168.1.0/24' is an IPv4 prefix")

    @pytest.mark.parametrize("dev,why", [
        ("", "dev '' is empty"),
        ("a" * 16, "is 16 bytes long; Linux allows at most 15"),
        (".", "dev '.' is reserved by the kernel"),
        ("..", "dev '..' is reserved by the kernel"),
        ("eth 0", "dev 'eth 0' must not contain whitespace"),
        ("eth/0", "must not contain '/'"),
        ("eth0:1", "must not contain ':'"),
        ("eth#0", "must not contain '#'"),
        ("eth'0", "dev \"eth'0\" must not contain a single quote"),
        ("eth\\", "dev 'eth\\\\' must not contain a backslash"),
        (5, "dev 5 is not a string"),
    ])
    def test_bad_dev(self, dev, why):
        errs = errors_of({"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": dev})
        assert errs[0].startswith("routes[0]: dev ")
        assert why in errs[0]

    def test_good_dev_names(self):
        r = want({"dest": "192.168.1.0/24", "dev": "a" * 15},
                 {"dest": "192.168.2.0/24", "dev": "br-0.100_x"})
        assert r[0].dev == "a" * 15

    @pytest.mark.parametrize("field,value", [
        ("dest", "192.168.1.0/24\nroute del default"),
        ("via", "10.168.0.2\r"),
        ("dev", "eth0\x00"),
        ("table", "main\n"),
        ("src", "10.168.0.1\t"),
        ("dest", u"192.168.1.0/24\u2028"),
    ])
    def test_control_characters_rejected(self, field, value):
        entry = {"dest": "192.168.1.0/24", "via": "10.168.0.2"}
        entry[field] = value
        errs = errors_of(entry)
        assert any("contains a control character" in e and e.startswith("routes[0]: %s " % field)
                   for e in errs), errs
        assert repr(value) in errs[0]

    @pytest.mark.parametrize("value,ok", [
        (0, True), (4294967295, True), ("100", True), (-1, False), (4294967296, False),
        (True, False), ("1e3", False), (1.5, False),
    ])
    def test_metric_range(self, value, ok):
        routes, errors = options.validate_routes([{"dest": "192.168.1.0/24", "dev": "eth0", "metric": value}])
        assert (errors == []) is ok
        if not ok:
            assert errors[0].startswith("routes[0]: metric")

    @pytest.mark.parametrize("value,expect", [
        ("main", 254), ("local", 255), ("default", 253), (100, 100), ("100", 100),
        (4294967295, 4294967295), (0, None), ("0", None), (4294967296, None), ("mytable", None),
        (True, None), (-5, None),
    ])
    def test_table(self, value, expect):
        routes, errors = options.validate_routes([{"dest": "192.168.1.0/24", "dev": "eth0", "table": value}])
        if expect is None:
            assert errors and errors[0].startswith("routes[0]: table")
        else:
            assert routes[0].table == expect

    def test_duplicate_identities_name_both_entries(self):
        errs = errors_of({"dest": "192.168.1.0/24", "via": "10.168.0.2"},
                         {"dest": "192.168.2.0/24", "via": "10.168.0.2"},
                         {"dest": "192.168.1.0/24", "via": "10.168.0.3", "table": "main", "metric": 0})
        assert errs == ["routes[0] and routes[2] both define 192.168.1.0/24 table main metric 0 "
                        "(present, present); an identity (family, table, dest, metric) may appear only once"]

    def test_same_dest_other_metric_or_table_is_not_a_duplicate(self):
        r = want({"dest": "192.168.1.0/24", "via": "10.168.0.2"},
                 {"dest": "192.168.1.0/24", "via": "10.168.0.3", "metric": 100},
                 {"dest": "192.168.1.0/24", "via": "10.168.0.3", "table": 100})
        assert len(r) == 3

    def test_absent_without_metric_conflicts_with_any_metric(self):
        errs = errors_of({"dest": "192.168.1.0/24", "via": "10.168.0.2", "metric": 100},
                         {"dest": "192.168.1.0/24", "state": "absent"})
        assert errs[0].startswith("routes[0] and routes[1] both define 192.168.1.0/24 table main")

    def test_absent_needs_only_dest(self):
        r, = want({"dest": "192.168.1.0/24", "state": "absent"})
        assert r.state == "absent" and r.any_metric
        r, = want({"dest": "192.168.1.0/24", "metric": 5}, default_state="absent")
        assert r.state == "absent" and not r.any_metric and r.metric == 5

    def test_every_bad_entry_reported_with_index_and_value(self):
        errs = errors_of({"dest": "192.168.1.5/24", "via": "10.168.0.2"},
                         {"dest": "192.168.2.0/24", "via": "10.168.0.2"},
                         {"dest": "192.168.3.0/24", "via": "10.168.0.300"},
                         {"dest": "192.168.4.0/24", "gateway": "10.168.0.2"},
                         {"dest": "192.168.5.0/24"},
                         {"via": "10.168.0.2"},
                         "192.168.6.0/24",
                         {"dest": "192.168.7.0/24", "via": "10.168.0.2", "state": "gone"},
                         {"dest": "fd00:5::/64", "via": "febf::1"},
                         {"dest": "192.168.8.0/24", "dev": "eth0", "onlink": True},
                         {"dest": "192.168.9.0/24", "via": "10.168.0.2", "onlink": "maybe"},
                         7)
        text = "\n".join(errs)
        assert "routes[0]: dest '192.168.1.5/24' has host bits set" in text
        assert "routes[1]" not in text
        assert "routes[2]: via '10.168.0.300' is not an IPv4 or IPv6 address" in text
        assert "routes[3]: unknown key 'gateway'; did you mean via?" in text
        assert "routes[4]: a present route needs via (gateway route) or dev (direct route)" in text
        assert "routes[5]: dest is required" in text
        assert "routes[6]: a present route needs via (gateway route) or dev (direct route)" in text
        assert "routes[7]: state 'gone' must be present or absent" in text
        assert "routes[8]: via 'febf::1' is link-local; give dev too" in text
        assert "routes[9]: onlink needs via" in text
        assert "routes[10]: onlink 'maybe' must be a boolean" in text
        assert "routes[11]: 7 is neither a route dict nor a route line" in text

    def test_not_a_list(self):
        routes, errors = options.validate_routes({"dest": "x"})
        assert errors == ["routes must be a list of route dicts or route lines, got dict"]

    def test_zone_index_and_unspecified_rejected(self):
        errs = errors_of({"dest": "fd00:1::/64", "via": "fe80::1%eth0"},
                         {"dest": "192.168.1.0/24", "via": "0.0.0.0"})
        assert "zone index" in errs[0]
        assert "unspecified address" in errs[1]

    def test_tables_option(self):
        tables, errors = options.validate_tables(["main", 100, "200", "nope", 0, "x\n"])
        assert tables == {254, 100, 200}
        assert [e.split(":")[0] for e in errors] == ["tables[3]", "tables[4]", "tables[5]"]


class TestProtocol:
    def test_default_is_free(self):
        assert names.route_protocol_problems("hostgw", 252) == []
        assert 252 not in names.KNOWN_PROTOCOLS

    @pytest.mark.parametrize("name,number,msg", [
        ("hostgw", 4, "well-known protocol static"),
        ("hostgw", 2, "well-known protocol kernel"),
        ("hostgw", 12, "well-known protocol bird"),
        ("static", 252, "protocol 'static' is the well-known protocol number 4"),
        ("hostgw", 0, "must be an integer 1..255"),
        ("hostgw", 3, "well-known protocol boot"),
        ("hostgw", 256, "must be an integer 1..255"),
        ("hostgw", True, "must be an integer 1..255"),
        ("9lives", 252, "must be a name"),
        ("host gw", 252, "must be a name"),
    ])
    def test_rejected(self, name, number, msg):
        errs = names.route_protocol_problems(name, number)
        assert any(msg in e for e in errs), errs

    def test_mapping_files(self):
        maps = protos.parse_protos_text("# c\n252 other\n 0x10  dhcp # x\nbad line\n253\thostgw\n")
        assert maps == [(252, "other"), (16, "dhcp"), (253, "hostgw")]
        errs = protos.protocol_conflicts("hostgw", 252, [("/etc/x.conf", n, m) for n, m in maps])
        assert errs[0] == ("protocol_number 252 is already named 'other' in /etc/x.conf; pick another "
                           "protocol_number or use protocol: other")
        assert errs[1].startswith("protocol 'hostgw' is already number 253 in /etc/x.conf")
        assert protos.protocol_conflicts("hostgw", 252, [("/a", 252, "hostgw")]) == []


# ----------------------------------------------------------------- plan --

def v4main():
    return {("ipv4", 254): kernel("v4_main")}


OWN_V4_MAIN = [  # what the fixture's own (252) routes are, as wanted routes
    {"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0"},
    {"dest": "192.168.2.0/24", "via": "10.168.0.2", "dev": "eth0", "metric": 100},
    {"dest": "192.168.5.0/24", "via": "1.2.3.4", "dev": "eth0", "onlink": True},
    {"dest": "192.168.6.0/24", "dev": "eth0"},
    {"dest": "192.168.7.0/24", "via": "10.169.0.2", "dev": "eth1"},
    {"dest": "192.168.11.5/32", "via": "10.168.0.2", "dev": "eth0"},
]


class TestPlan:
    def test_noop(self):
        p = do_plan(want(*OWN_V4_MAIN), v4main())
        assert p.commands == [] and not p.changed
        assert p.modified == [] and p.added == [] and p.removed == []
        assert p.before == p.after
        # linkdown (192.168.7.0/24), prefsrc without src (192.168.6.0/24) and a
        # missing dev in the wanted route do not count as differences
        p = do_plan(want({"dest": "192.168.1.0/24", "via": "10.168.0.2"}), v4main())
        assert p.commands == []

    def test_add(self):
        p = do_plan(want({"dest": "192.168.20.0/24", "via": "10.168.0.20", "dev": "eth0"}), v4main())
        assert p.commands == ["route replace 192.168.20.0/24 via 10.168.0.20 dev eth0 table 254 metric 0 proto 252"]
        assert p.result()["added"] == ["192.168.20.0/24 via 10.168.0.20 dev eth0 table main metric 0"]
        assert "192.168.20.0/24 via 10.168.0.20 dev eth0 table main metric 0" in p.after
        assert "192.168.20.0/24 via 10.168.0.20 dev eth0 table main metric 0" not in p.before

    def test_gateway_change_is_one_replace(self):
        p = do_plan(want({"dest": "192.168.1.0/24", "via": "10.168.0.9", "dev": "eth0"}), v4main())
        assert p.commands == ["route replace 192.168.1.0/24 via 10.168.0.9 dev eth0 table 254 metric 0 proto 252"]
        assert p.modified == [{"before": "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0",
                               "after": "192.168.1.0/24 via 10.168.0.9 dev eth0 table main metric 0",
                               "reason": "via 10.168.0.2 -> 10.168.0.9"}]
        assert p.result()["added"] == [] and p.result()["removed"] == []

    @pytest.mark.parametrize("entry,reason", [
        ({"dest": "192.168.5.0/24", "via": "1.2.3.4", "dev": "eth0"}, "onlink True -> False"),
        ({"dest": "192.168.6.0/24", "dev": "eth0", "src": "10.168.0.9"}, "src 10.168.0.1 -> 10.168.0.9"),
        ({"dest": "192.168.7.0/24", "via": "10.169.0.2", "dev": "eth9"}, "dev eth1 -> eth9"),
        ({"dest": "192.168.8.0/24", "via": "10.168.0.2"}, "type blackhole -> unicast"),
        ({"dest": "192.168.9.0/24", "via": "10.168.0.2"}, "multipath -> single next hop"),
    ])
    def test_changes(self, entry, reason):
        p = do_plan(want(entry), v4main())
        assert len(p.commands) == 1 and p.commands[0].startswith("route replace ")
        assert reason in p.modified[0]["reason"]

    def test_metric_change_adds_new_then_deletes_old(self):
        p = do_plan(want({"dest": "192.168.2.0/24", "via": "10.168.0.2", "dev": "eth0", "metric": 200}), v4main())
        assert p.commands == [
            "route replace 192.168.2.0/24 via 10.168.0.2 dev eth0 table 254 metric 200 proto 252",
            "route del 192.168.2.0/24 via 10.168.0.2 dev eth0 table 254 metric 100 proto 252",
        ]
        assert p.modified == [{"before": "192.168.2.0/24 via 10.168.0.2 dev eth0 table main metric 100",
                               "after": "192.168.2.0/24 via 10.168.0.2 dev eth0 table main metric 200",
                               "reason": "metric 100 -> 200"}]
        assert p.result()["added"] == [] and p.result()["removed"] == []

    def test_second_metric_for_same_dest_keeps_first(self):
        p = do_plan(want({"dest": "192.168.2.0/24", "via": "10.168.0.2", "dev": "eth0", "metric": 100},
                         {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "eth0", "metric": 200}),
                    v4main())
        assert p.commands == ["route replace 192.168.2.0/24 via 10.168.0.3 dev eth0 table 254 metric 200 proto 252"]

    def test_purge_removes_only_own_routes(self):
        keep = want(OWN_V4_MAIN[0])
        p = do_plan(keep, v4main(), purge=True)
        assert all(c.startswith("route del ") and c.endswith(" proto 252") for c in p.commands)
        assert sorted(p.commands) == sorted([
            "route del 192.168.2.0/24 via 10.168.0.2 dev eth0 table 254 metric 100 proto 252",
            "route del 192.168.5.0/24 via 1.2.3.4 dev eth0 table 254 metric 0 proto 252",
            "route del 192.168.6.0/24 dev eth0 table 254 metric 0 proto 252",
            "route del 192.168.7.0/24 via 10.169.0.2 dev eth1 table 254 metric 0 proto 252",
            "route del blackhole 192.168.8.0/24 table 254 metric 0 proto 252",
            "route del 192.168.9.0/24 table 254 metric 0 proto 252",
            "route del 192.168.10.0/24 tos 0x10 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252",
            "route del 192.168.11.5/32 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252",
        ])
        assert len(p.result()["removed"]) == 8
        assert p.after == ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0"]

    def test_purge_everything_named_by_protocol_name(self):
        p = do_plan([], {("ipv4", 254): kernel("v4_named")}, purge=True)
        assert p.commands == [
            "route del 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252",
            "route del 192.168.2.0/24 via 10.168.0.2 dev eth0 table 254 metric 100 proto 252"]

    def test_named_routes_are_ours(self):
        p = do_plan(want({"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0"},
                         {"dest": "192.168.2.0/24", "via": "10.168.0.2", "dev": "eth0", "metric": 100}),
                    {("ipv4", 254): kernel("v4_named")})
        assert p.commands == []

    def test_other_protocol_number_sees_everything_as_foreign(self):
        p = planner.plan([], v4main(), frozenset(("253", "other")), 253, purge=True)
        assert p.commands == []

    STATIC_3 = "192.168.3.0/24 via 10.168.0.3 dev eth0 table main metric 0 proto static"

    @pytest.mark.parametrize("purge", [False, True])
    def test_foreign_identical_route_is_left_in_place_and_reported(self, purge):
        p = do_plan(want({"dest": "192.168.3.0/24", "via": "10.168.0.3", "dev": "eth0"}), v4main(),
                    purge=purge)
        assert not any("192.168.3.0/24" in c for c in p.commands)
        assert p.conflicts == [] and p.modified == [] and p.added == []
        assert p.foreign == [self.STATIC_3] and p.result()["foreign"] == [self.STATIC_3]
        assert p.warnings == ["routes[0] 192.168.3.0/24 via 10.168.0.3 dev eth0 table main metric 0: "
                              "an identical route of protocol static carries it: %s; left in place "
                              "and not managed (takeover: true adopts it)" % self.STATIC_3]
        assert not any("192.168.3.0/24" in line for line in p.before + p.after)
        if not purge:
            assert p.commands == [] and not p.changed

    def test_many_identical_foreign_routes_one_warning_each_up_to_a_limit(self):
        raw = [{"dst": "192.168.%d.0/24" % i, "gateway": "10.168.0.2", "dev": "eth0",
                "protocol": "bird", "flags": []} for i in range(8)]
        kern = {("ipv4", 254): kernel_mod.parse_kernel_routes(raw, "ipv4", 254)}
        p = do_plan(want(*["192.168.%d.0/24 via 10.168.0.2 dev eth0" % i for i in range(8)]), kern)
        assert p.commands == [] and len(p.foreign) == 8
        assert len(p.warnings) == planner.FOREIGN_WARNINGS + 1
        assert p.warnings[-1] == ("3 more wanted routes are carried by identical routes of other "
                                  "protocols, left in place (see foreign)")

    def test_foreign_identical_route_is_adopted_with_takeover(self):
        p = do_plan(want({"dest": "192.168.3.0/24", "via": "10.168.0.3", "dev": "eth0"}), v4main(),
                    takeover=True)
        assert p.commands == ["route replace 192.168.3.0/24 via 10.168.0.3 dev eth0 table 254 metric 0 proto 252"]
        assert p.foreign == []
        assert p.modified[0]["before"].endswith(" proto static")
        assert p.modified[0]["reason"] == "adopted identical route from protocol static"
        assert "192.168.3.0/24 via 10.168.0.3 dev eth0 table main metric 0 proto static" in p.before

    def test_foreign_different_route_is_a_conflict(self):
        p = do_plan(want({"dest": "192.168.3.0/24", "via": "10.168.0.9", "dev": "eth0"}), v4main())
        assert len(p.conflicts) == 1
        msg = p.conflicts[0]
        assert msg.startswith("routes[0] 192.168.3.0/24 via 10.168.0.9 dev eth0 table main metric 0:")
        assert "belongs to protocol static" in msg
        assert "192.168.3.0/24 via 10.168.0.3 dev eth0 table main metric 0 proto static" in msg
        assert "takeover: true" in msg

    def test_takeover(self):
        p = do_plan(want({"dest": "192.168.3.0/24", "via": "10.168.0.9", "dev": "eth0"}), v4main(), takeover=True)
        assert p.conflicts == []
        assert p.commands == ["route replace 192.168.3.0/24 via 10.168.0.9 dev eth0 table 254 metric 0 proto 252"]
        assert p.modified[0]["reason"].startswith("taken over from protocol static")

    def test_foreign_default_boot_route_conflicts(self):
        p = do_plan(want({"dest": "default", "via": "10.168.0.1"}), v4main())
        assert "belongs to protocol boot" in p.conflicts[0]

    def test_kernel_routes_are_never_taken(self):
        for takeover in (False, True):
            p = do_plan(want({"dest": "10.168.0.0/24", "via": "10.168.0.1"}), v4main(), takeover=takeover)
            assert p.commands == []
            assert p.conflicts[0].startswith("routes[0] 10.168.0.0/24 via 10.168.0.1 table main metric 0: "
                                             "the kernel's own route 10.168.0.0/24 dev eth0 src 10.168.0.1 "
                                             "table main metric 0 proto kernel holds this identity")

    def test_identical_kernel_route_is_left_alone(self):
        p = do_plan(want({"dest": "10.168.0.0/24", "dev": "eth0"}), v4main(), takeover=True)
        assert p.commands == [] and p.conflicts == []
        assert "already is this route; left as it is" in p.warnings[0]

    def test_same_dest_other_metric_foreign_untouched(self):
        # 192.168.14.0/24 metric 7 is static: a wanted metric 0 route is a new identity
        p = do_plan(want({"dest": "192.168.14.0/24", "via": "10.168.0.5", "dev": "eth0"}), v4main(), purge=True)
        assert "route replace 192.168.14.0/24 via 10.168.0.5 dev eth0 table 254 metric 0 proto 252" in p.commands
        assert not any("192.168.14.0/24" in c for c in p.commands if c.startswith("route del"))
        assert p.conflicts == []

    def test_duplicate_identity_foreign_second_untouched(self):
        p = do_plan(want(OWN_V4_MAIN[0]), v4main(), purge=True)
        assert not any("10.168.0.3" in c and "192.168.1.0/24" in c for c in p.commands)

    def test_absent(self):
        p = do_plan(want({"dest": "192.168.2.0/24", "metric": 100, "state": "absent"},
                         {"dest": "192.168.11.5", "state": "absent"}), v4main())
        assert p.commands == [
            "route del 192.168.2.0/24 via 10.168.0.2 dev eth0 table 254 metric 100 proto 252",
            "route del 192.168.11.5/32 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252"]
        assert p.result()["removed"] == ["192.168.11.5/32 via 10.168.0.2 dev eth0 table main metric 0",
                                         "192.168.2.0/24 via 10.168.0.2 dev eth0 table main metric 100"]

    def test_absent_wrong_metric_is_noop(self):
        p = do_plan(want({"dest": "192.168.2.0/24", "metric": 5, "state": "absent"}), v4main())
        assert p.commands == []

    def test_absent_foreign_left_with_warning(self):
        p = do_plan(want({"dest": "192.168.3.0/24", "state": "absent"}), v4main())
        assert p.commands == []
        assert p.warnings == ["routes[0] 192.168.3.0/24 (state absent): left in place 192.168.3.0/24 via "
                              "10.168.0.3 dev eth0 table main metric 0 proto static, which belongs to protocol static"]

    def test_ipv6(self):
        kern = {("ipv6", 254): kernel("v6_main", "ipv6")}
        same = want({"dest": "fd00:20::/64", "via": "fd00:10::2", "dev": "eth0"},
                    {"dest": "fd00:21::/64", "via": "fd00:10::3", "metric": 2048},
                    {"dest": "fd00:23::/64", "via": "fd00:99::1", "dev": "eth0", "onlink": True},
                    {"dest": "fd00:24::5", "via": "fd00:10::2"})
        assert do_plan(same, kern, purge=True).commands == []
        p = do_plan(want({"dest": "fd00:20::/64", "via": "fd00:10::9", "dev": "eth0"}), kern)
        assert p.commands == ["route replace fd00:20::/64 via fd00:10::9 dev eth0 table 254 metric 1024 proto 252"]
        p = do_plan([], kern, purge=True)
        assert sorted(p.commands) == [
            "route del fd00:20::/64 via fd00:10::2 dev eth0 table 254 metric 1024 proto 252",
            "route del fd00:21::/64 via fd00:10::3 dev eth0 table 254 metric 2048 proto 252",
            "route del fd00:23::/64 via fd00:99::1 dev eth0 table 254 metric 1024 proto 252",
            "route del fd00:24::5/128 via fd00:10::2 dev eth0 table 254 metric 1024 proto 252"]

    def test_tables_are_separate(self):
        kern = v4main()
        kern[("ipv4", 100)] = kernel("v4_table100", table=100)
        p = do_plan(want({"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0", "table": 100}), kern)
        assert p.commands == []
        p = do_plan([], {("ipv4", 100): kern[("ipv4", 100)]}, purge=True)
        assert sorted(p.commands) == [
            "route del 0.0.0.0/0 via 10.168.0.254 dev eth0 table 100 metric 0 proto 252",
            "route del 192.168.1.0/24 via 10.168.0.2 dev eth0 table 100 metric 0 proto 252",
            "route del 192.168.4.0/24 via 10.168.0.3 dev eth0 table 100 metric 5 proto 252"]

    def test_batch_lines_use_numbers_only(self):
        # iproute2 caches name lookups; names after numbers in one batch go wrong
        kern = v4main()
        kern[("ipv4", 100)] = kernel("v4_table100", table=100)
        p = planner.plan(want({"dest": "192.168.40.0/24", "via": "10.168.0.2"},
                              {"dest": "192.168.41.0/24", "via": "10.168.0.2", "table": 100},
                              {"dest": "192.168.42.0/24", "via": "10.168.0.2", "table": "local"},
                              {"dest": "192.168.43.0/24", "via": "10.168.0.2", "table": "default"}),
                         {("ipv4", 254): kernel("v4_named")}, OURS, 252, purge=True)
        assert p.commands == [
            "route replace 192.168.40.0/24 via 10.168.0.2 table 254 metric 0 proto 252",
            "route replace 192.168.41.0/24 via 10.168.0.2 table 100 metric 0 proto 252",
            "route replace 192.168.42.0/24 via 10.168.0.2 table 255 metric 0 proto 252",
            "route replace 192.168.43.0/24 via 10.168.0.2 table 253 metric 0 proto 252",
            "route del 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252",
            "route del 192.168.2.0/24 via 10.168.0.2 dev eth0 table 254 metric 100 proto 252"]
        # the readable lines keep the names
        assert "192.168.42.0/24 via 10.168.0.2 table local metric 0" in p.result()["added"]

    def test_replaces_come_before_deletes(self):
        p = do_plan(want({"dest": "192.168.30.0/24", "via": "10.168.0.2"}), v4main(), purge=True)
        kinds = [c.split()[1] for c in p.commands]
        assert kinds == sorted(kinds, key=lambda k: k != "replace")
        assert [op for op, _r in p.ops] == kinds

    def test_ten_thousand_converged_routes_plan_nothing(self):
        # Correctness at the benchmark's size; speed is measured in bench/.
        n = 10000
        entries = [{"dest": "10.%d.%d.0/24" % (i // 256, i % 256), "via": "10.168.0.%d" % (2 + i % 200),
                    "dev": "eth0"} for i in range(n)]
        raw = [{"dst": e["dest"], "gateway": e["via"], "dev": "eth0", "protocol": "252", "flags": []}
               for e in entries]
        wanted, errors = options.validate_routes(entries)
        kern = {("ipv4", 254): kernel_mod.parse_kernel_routes(raw, "ipv4", 254)}
        p = do_plan(wanted, kern, purge=True)
        assert errors == [] and p.commands == [] and len(p.after) == n


def snapshot(routes):
    """Every attribute of every route, to prove nothing changed them."""
    return [tuple(getattr(r, a) for a in model.Route.__slots__) for r in routes]


def kernel_snapshot(kern):
    return dict((k, snapshot(v)) for k, v in kern.items())


class TestRepairOnly:
    """plan(repair_only=True), for the reconcile command: adds and repairs
    routes of ours, never deletes, never adopts or takes over."""

    WANTED = (
        "192.168.1.0/24 via 10.168.0.9 dev eth0",              # ours, differs: repaired
        "192.168.2.0/24 via 10.168.0.2 dev eth0 metric 200",   # ours at metric 100: new identity
        "192.168.3.0/24 via 10.168.0.3 dev eth0",              # identical static: left
        "192.168.12.0/24 via 10.168.0.9 dev eth0",             # different bird: left, no conflict
        "10.168.0.0/24 via 10.168.0.1",                        # the kernel's own: left
        "192.168.20.0/24 via 10.168.0.20 dev eth0",            # missing: added
        {"dest": "192.168.11.5", "state": "absent"},           # absent: ignored
    )

    def test_adds_and_repairs_and_nothing_else(self):
        p = do_plan(want(*self.WANTED), v4main(), repair_only=True)
        assert p.conflicts == []
        assert p.commands == [
            "route replace 192.168.1.0/24 via 10.168.0.9 dev eth0 table 254 metric 0 proto 252",
            "route replace 192.168.2.0/24 via 10.168.0.2 dev eth0 table 254 metric 200 proto 252",
            "route replace 192.168.20.0/24 via 10.168.0.20 dev eth0 table 254 metric 0 proto 252"]
        assert [op for op, _r in p.ops] == ["replace"] * 3
        assert p.removed == []
        assert [m["reason"] for m in p.modified] == ["via 10.168.0.2 -> 10.168.0.9"]
        assert sorted(p.added_lines) == [
            "192.168.2.0/24 via 10.168.0.2 dev eth0 table main metric 200",
            "192.168.20.0/24 via 10.168.0.20 dev eth0 table main metric 0"]
        # the old metric stays, and so do all our other routes
        assert "192.168.2.0/24 via 10.168.0.2 dev eth0 table main metric 100" in p.after
        assert len(p.after) == len(p.before) + 2
        assert p.foreign == ["192.168.3.0/24 via 10.168.0.3 dev eth0 table main metric 0 proto static"]
        text = "\n".join(p.warnings)
        assert "192.168.12.0/24 via 10.168.0.4 dev eth0 table main metric 0 proto bird of protocol " \
               "bird (repair only never takes over a route)" in text
        assert "the kernel's own route 10.168.0.0/24 dev eth0 src 10.168.0.1 table main metric 0 " \
               "proto kernel holds" not in text
        assert "left in place 10.168.0.0/24 dev eth0 src 10.168.0.1 table main metric 0 proto kernel" in text
        assert "takeover: true" not in text

    def test_converged_is_a_no_op(self):
        p = do_plan(want(*OWN_V4_MAIN), v4main(), repair_only=True)
        assert p.commands == [] and p.warnings == []

    def test_stale_duplicate_of_ours_is_kept(self):
        raw = [{"dst": "192.168.1.0/24", "gateway": "10.168.0.2", "dev": "eth0", "protocol": "252", "flags": []},
               {"dst": "192.168.1.0/24", "gateway": "10.168.0.3", "dev": "eth0", "protocol": "252", "flags": []}]
        kern = {("ipv4", 254): kernel_mod.parse_kernel_routes(raw, "ipv4", 254)}
        wanted = want("192.168.1.0/24 via 10.168.0.2 dev eth0")
        assert do_plan(wanted, kern).commands == [
            "route del 192.168.1.0/24 via 10.168.0.3 dev eth0 table 254 metric 0 proto 252"]
        assert do_plan(wanted, kern, repair_only=True).commands == []

    @pytest.mark.parametrize("kw", [dict(purge=True), dict(takeover=True)])
    def test_refuses_purge_and_takeover(self, kw):
        with pytest.raises(ValueError):
            do_plan([], v4main(), repair_only=True, **kw)

    def test_nexthop_objects_made_never_deleted(self):
        on = nh_plan(repair_only=True)
        assert [c.split()[0] + " " + c.split()[1] for c in on.commands] == [
            "nexthop add", "nexthop add", "route replace", "route replace", "route replace"]
        off = nh_plan(mode=False, repair_only=True, refs=None)
        assert off.commands and all(c.startswith("route replace ") for c in off.commands)
        assert off.nh_removed == [] and off.result()["nexthops"]["removed"] == []
        # the routes through foreign objects are not ours: untouched either way
        assert not any("192.168.9.0/24" in c or "192.168.10.0/24" in c for c in on.commands + off.commands)


class FakeRunner(Runner):
    """The engine's Runner, answering ip from the fixtures: what a
    reconcile command runs instead of Ansible's run_command."""

    def __init__(self, answers, batch=(0, "", "")):
        self.answers = answers
        self.batch_answer = batch
        self.batches = []

    def which(self, name):
        return "/usr/sbin/" + name

    def run(self, argv, data=None):
        args = tuple(argv[1:])
        if "-batch" in args:
            self.batches.append(data)
            return self.batch_answer
        return self.answers.get(args, (0, "[]", ""))


class TestReconcilePath:
    """read_state -> plan(repair_only) -> batch.apply, with no Ansible."""

    def runner(self, **kw):
        return FakeRunner({("-json", "-4", "route", "show", "table", "main"):
                           (0, fixture("v4_main")["stdout"], ""),
                           ("-json", "link", "show"): (0, fixture("link")["stdout"], "")}, **kw)

    def test_repairs_in_one_batch(self):
        runner = self.runner()
        ip = IpCommand(runner)
        wanted = want("192.168.1.0/24 via 10.168.0.9 dev underlay0", *OWN_V4_MAIN[1:4])
        reads = kernel_mod.tables_to_read(wanted)
        assert reads == [("ipv4", 254)]
        wanted, problems = kernel_mod.resolve_devices(ip, wanted)
        assert problems == [] and wanted[0].dev == "eth0"      # the altname resolved (a copy)
        seen = kernel_mod.read_state(ip, reads, OURS)
        assert seen.nexthops is None
        p = planner.plan(wanted, seen.routes, OURS, 252, repair_only=True)
        outcome = batch.apply(ip, p, reads, OURS)
        assert runner.batches == ["route replace 192.168.1.0/24 via 10.168.0.9 dev eth0 table 254 "
                                  "metric 0 proto 252\n"]
        assert outcome.ok and outcome.applied == p.commands and outcome.routes is None

    def test_converged_runs_nothing(self):
        runner = self.runner()
        ip = IpCommand(runner)
        wanted, problems = kernel_mod.resolve_devices(ip, want(*OWN_V4_MAIN[:4]))
        seen = kernel_mod.read_state(ip, kernel_mod.tables_to_read(wanted), OURS)
        assert planner.plan(wanted, seen.routes, OURS, 252, repair_only=True).commands == []

    def test_failed_line_is_reported(self):
        err = "Error: Nexthop has invalid gateway.\nCommand failed -:1\n"
        runner = self.runner(batch=(1, "", err))
        ip = IpCommand(runner)
        wanted = want("192.168.30.0/24 via 10.99.0.2 dev eth0")
        reads = kernel_mod.tables_to_read(wanted)
        seen = kernel_mod.read_state(ip, reads, OURS)
        p = planner.plan(wanted, seen.routes, OURS, 252, repair_only=True)
        outcome = batch.apply(ip, p, reads, OURS)
        assert not outcome.ok and outcome.applied == [] and outcome.rc == 1
        assert outcome.problems()[0].startswith(
            "routes[0] 192.168.30.0/24 via 10.99.0.2 dev eth0 table main metric 0: next hop "
            "10.99.0.2 is not on a network directly connected to dev eth0")
        assert "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0" in outcome.routes

    def test_missing_nexthop_support_is_named(self):
        runner = self.runner()
        runner.answers[("-json", "nexthop", "show")] = (255, "", 'Object "nexthop" is unknown\n')
        with pytest.raises(kernel_mod.NexthopSupportError) as exc:
            kernel_mod.read_state(IpCommand(runner), [("ipv4", 254)], OURS, nexthop_objects=True)
        assert "needs nexthop objects (Linux 5.3 or later" in str(exc.value)


class TestInputsUnchanged:
    def test_plan_changes_neither_wanted_nor_kernel_routes(self):
        wanted = want(*NH_WANTED)
        kern = nh_kernel()
        objs = nh_objects()
        before = snapshot(wanted), kernel_snapshot(kern), [n.line() for n in objs]
        first = do_plan(wanted, kern, nexthop_objects=True, nexthops=objs, other_refs=other_refs,
                        purge=True, takeover=True)
        assert (snapshot(wanted), kernel_snapshot(kern), [n.line() for n in objs]) == before
        # the same inputs plan the same, and planning without objects is not
        # affected by a plan with them (the old planner wrote nhid onto them)
        again = do_plan(wanted, kern, nexthop_objects=True, nexthops=objs, other_refs=other_refs,
                        purge=True, takeover=True)
        assert again.commands == first.commands
        plain = do_plan(wanted, kern, nexthops=objs, other_refs=other_refs)
        assert not any("nhid" in c for c in plain.commands if c.startswith("route replace"))
        assert (snapshot(wanted), kernel_snapshot(kern)) == before[:2]

    def test_route_shown_by_nhid_only_is_seen_through_its_object(self):
        # net.ipv4.nexthop_compat_mode=0: ip prints only the nhid
        raw = [{"dst": "192.168.1.0/24", "nhid": 264241152, "protocol": "252", "flags": []}]
        kern = {("ipv4", 254): kernel_mod.parse_kernel_routes(raw, "ipv4", 254)}
        before = kernel_snapshot(kern)
        p = do_plan(want("192.168.1.0/24 via 10.168.0.2 dev eth0"), kern, nexthop_objects=True,
                    nexthops=nh_objects(), other_refs=set)
        assert not any(c.startswith("route ") for c in p.commands)
        assert p.after == ["192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0 nhid 264241152"]
        assert kernel_snapshot(kern) == before and kern[("ipv4", 254)][0].via is None


# ------------------------------------------------------- failure handling --

class TestBatchErrors:
    def test_parse_batch_errors_from_real_stderr(self):
        fx = fixture("batch_errors")
        by_line, loose = parse_batch_errors(fx["stderr"])
        assert by_line == {2: "Nexthop has invalid gateway.", 3: 'Cannot find device "eth9"',
                           4: "Invalid prefsrc address.", 5: "No route to host", 6: "No such process"}
        # the argument error ends ip without a "Command failed" line
        assert loose == ['inet address is expected rather than "nonsense".']

    def test_translate(self):
        r, = want({"dest": "192.168.2.0/24", "via": "10.99.0.2", "dev": "eth0"})
        msg = batch.translate_error("Nexthop has invalid gateway.", "replace", r)
        assert msg.startswith("next hop 10.99.0.2 is not on a network directly connected to dev eth0; "
                              "host-gw needs every node on one L2 segment")
        assert msg.endswith("(kernel: Nexthop has invalid gateway.)")
        r6, = want({"dest": "fd00:30::/64", "via": "fd00:99::1", "dev": "eth0"})
        assert "next hop fd00:99::1 is not on a network directly connected" in \
            batch.translate_error("No route to host", "replace", r6)
        assert "not on a network directly connected" in \
            batch.translate_error("Network is unreachable", "replace", r)
        r9, = want({"dest": "192.168.3.0/24", "via": "10.168.0.2", "dev": "eth9"})
        assert batch.translate_error('Cannot find device "eth9"', "replace", r9).startswith(
            "device eth9 does not exist on this host")
        rs, = want({"dest": "192.168.4.0/24", "via": "10.168.0.2", "src": "10.1.1.1"})
        assert batch.translate_error("Invalid prefsrc address.", "replace", rs).startswith(
            "src 10.1.1.1 is not an address of this host")
        assert batch.translate_error("File exists", "replace", r).startswith("a conflicting route already exists")
        assert batch.translate_error("Nexthop device is not up", "replace", r).startswith("dev eth0 is down")
        assert batch.translate_error("No such process", "del", r).startswith("route was already gone")
        assert batch.translate_error("Something new", "replace", r) == "Something new"

    def test_verify(self):
        kern = v4main()
        ops = [("replace", want(OWN_V4_MAIN[0])[0]),                                   # in effect
               ("replace", want({"dest": "192.168.1.0/24", "via": "10.168.0.9"})[0]),  # not
               ("replace", want({"dest": "192.168.3.0/24", "via": "10.168.0.3"})[0]),  # foreign holds it
               ("del", by_dest(kern[("ipv4", 254)])["192.168.2.0/24"][0]),            # still there
               ("del", model.Route("ipv4", 254, "192.168.99.0/24", 0, via="10.168.0.2", dev="eth0",
                                   proto="252"))]                                      # gone
        assert batch.verify(ops, kern, OURS) == [True, False, False, False, True]


class TestRouteLines:
    """The compact form: one ``ip route`` style line per entry."""

    def test_line_and_dict_give_the_same_route(self):
        line, _problems = options.validate_routes(["192.168.1.0/24 via 10.168.0.2 dev eth0 metric 5 table 100 src 10.168.0.1 onlink"])
        as_dict, _problems = options.validate_routes([{"dest": "192.168.1.0/24", "via": "10.168.0.2", "dev": "eth0", "metric": 5,
                                                      "table": 100, "src": "10.168.0.1", "onlink": True}])
        a, b = line[0], as_dict[0]
        assert (a.key, a.via, a.dev, a.onlink, a.src) == (b.key, b.via, b.dev, b.onlink, b.src)

    def test_line_values_are_validated_like_dict_values(self):
        errs = errors_of("192.168.1.5/24 via 10.168.0.2", "192.168.2.0/24 via 10.168.0.2 dev eth0",
                         "fd00::/64 via 10.168.0.2")
        text = "\n".join(errs)
        assert "routes[0]: dest '192.168.1.5/24' has host bits set" in text
        assert "routes[1]" not in text
        assert "routes[2]: via '10.168.0.2' is an IPv4 address, but dest 'fd00::/64' is an IPv6 prefix" in text

    @pytest.mark.parametrize("line,message", [
        ("192.168.1.0/24 gw 10.168.0.2", "unknown word 'gw'; write via"),
        ("192.168.1.0/24 via 10.168.0.2 proto static", "unknown word 'proto'; a route line takes via, dev"),
        ("192.168.1.0/24 via", "via needs a value"),
        ("192.168.1.0/24 via 10.168.0.2 via 10.168.0.3", "via given twice"),
        ("   ", "an empty route line"),
        ("192.168.1.0/24 via 10.168.0.2\nip route flush all", "contains a control character"),
    ])
    def test_bad_lines(self, line, message):
        errs = errors_of(line)
        assert len(errs) == 1 and errs[0].startswith("routes[0]: ") and message in errs[0], errs


# ------------------------------------------------------ nexthop objects --
# tests/fixtures/ip_nexthop_*.json: one namespace with objects of ours and
# foreign ones (see the fixtures' description and setup).

def nh_fixture(name):
    with open(os.path.join(FIXTURES, "ip_nexthop_%s.json" % name)) as fh:
        return json.loads(json.load(fh)["stdout"])


def nh_kernel():
    return {("ipv4", 254): kernel_mod.parse_kernel_routes(nh_fixture("route_v4_main"), "ipv4", 254),
            ("ipv6", 254): kernel_mod.parse_kernel_routes(nh_fixture("route_v6_main"), "ipv6", 254)}


def nh_objects():
    return nexthops.parse_kernel_nexthops(nh_fixture("show"))


def other_refs():
    skip = {("ipv4", 254), ("ipv6", 254)}
    return (kernel_mod.nexthop_refs(nh_fixture("route_v4_all"), "ipv4", skip)
            | kernel_mod.nexthop_refs(nh_fixture("route_v6_all"), "ipv6", skip))


NH_WANTED = ("192.168.1.0/24 via 10.168.0.2 dev eth0",           # uses 264241152 already
             "192.168.2.0/24 via 10.168.0.3 dev eth0",           # legacy plain route
             "192.168.3.0/24 via 10.200.0.2 dev eth0 onlink metric 5",   # uses 264241159
             "fd00:1:1::/64 via fd00:10::2 dev eth0",            # uses 264241156
             "fd00:1:2::/64 via fd00:10::3 dev eth0",            # legacy plain route
             "192.168.5.0/24 via 10.168.0.5 dev eth0")           # new


def nh_plan(wanted=NH_WANTED, mode=True, refs=other_refs, nexthops=None, **kw):
    return do_plan(want(*wanted), nh_kernel(), nexthop_objects=mode,
                   nexthops=nh_objects() if nexthops is None else nexthops, other_refs=refs, **kw)


FOREIGN_NH = (5, 9, 10, 11, 264241153)


class TestNexthopParsing:
    def test_objects(self):
        objs = dict((n.id, n) for n in nh_objects())
        assert sorted(objs) == [5, 9, 10, 11, 264241152, 264241153, 264241154, 264241156,
                                264241157, 264241158, 264241159]
        assert objs[264241152].key == ("ipv4", "10.168.0.2", "eth0", False)
        assert objs[264241152].proto == "252"
        assert objs[264241156].key == ("ipv6", "fd00:10::2", "eth0", False)
        assert objs[264241159].key == ("ipv4", "10.200.0.2", "eth0", True)
        assert objs[5].proto == "static" and objs[5].plain
        for i in (9, 10, 11):       # blackhole, group, device only: never managed
            assert objs[i].key is None
        assert objs[10].group == (5, 264241158)
        assert objs[11].proto == "unspec"
        assert objs[264241159].line() == "id 264241159 via 10.200.0.2 dev eth0 onlink proto 252"

    def test_empty(self):
        assert nexthops.parse_kernel_nexthops(nh_fixture("empty")) == []

    def test_routes_carry_nhid_and_compat_next_hop(self):
        k = nh_kernel()
        r = by_dest(k[("ipv4", 254)])
        assert r["192.168.1.0/24"][0].nhid == 264241152
        assert r["192.168.1.0/24"][0].via == "10.168.0.2"
        assert r["192.168.2.0/24"][0].nhid is None
        assert r["192.168.3.0/24"][0].onlink is True
        assert r["192.168.1.0/24"][0].line() == \
            "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0 nhid 264241152"
        assert model.format_route(r["192.168.1.0/24"][0], model.DELETE) == "192.168.1.0/24 nhid 264241152 table 254 metric 0"
        assert by_dest(k[("ipv6", 254)])["fd00:1:1::/64"][0].nhid == 264241156

    def test_refs_outside_the_read_tables(self):
        # the foreign route in table 100 uses our 264241157
        assert other_refs() == {264241157}
        all4 = kernel_mod.nexthop_refs(nh_fixture("route_v4_all"), "ipv4", set())
        assert {264241152, 264241159, 5, 264241153, 10, 264241157} <= all4

    def test_id_range(self):
        assert nexthops.nexthop_id_range(252) == (264241152, 265289728)
        assert nexthops.nexthop_id_range(251)[1] == nexthops.nexthop_id_range(252)[0]

    def test_mode_needs_dev(self):
        errs = nexthops.mode_problems(want("192.168.1.0/24 via 10.168.0.2",
                                           "192.168.2.0/24 dev eth0",
                                           {"dest": "192.168.3.0/24", "state": "absent"}))
        assert errs == ["routes[0]: dest '192.168.1.0/24' has via but no dev; nexthop_objects needs dev "
                        "on every gateway route (a nexthop object names its device)"]


class TestNexthopPlan:
    def test_mode_on_reuses_allocates_and_keeps_foreign(self):
        p = nh_plan()
        assert p.conflicts == []
        assert p.commands == [
            # lowest free ids in our block: 264241155, then (after 156..159) 264241160;
            # new keys in (family, address) order
            "nexthop add id 264241155 via 10.168.0.5 dev eth0 proto 252",
            "nexthop add id 264241160 via fd00:10::3 dev eth0 proto 252",
            # the legacy route reuses our unused object with its next hop
            "route replace 192.168.2.0/24 nhid 264241154 table 254 metric 0 proto 252",
            "route replace fd00:1:2::/64 nhid 264241160 table 254 metric 1024 proto 252",
            "route replace 192.168.5.0/24 nhid 264241155 table 254 metric 0 proto 252"]
        assert [m["reason"] for m in p.modified] == ["nhid (none) -> 264241154",
                                                     "nhid (none) -> 264241160"]
        assert p.added_lines == ["192.168.5.0/24 via 10.168.0.5 dev eth0 table main metric 0 nhid 264241155"]
        assert p.result()["nexthops"] == {
            "added": ["id 264241155 via 10.168.0.5 dev eth0 proto 252",
                      "id 264241160 via fd00:10::3 dev eth0 proto 252"],
            "removed": []}      # 264241157: foreign route in table 100; 264241158: in group 10
        assert "192.168.3.0/24 via 10.200.0.2 dev eth0 onlink table main metric 5 nhid 264241159" in p.after
        assert [op for op, _x in p.ops] == ["nh_add", "nh_add", "replace", "replace", "replace"]

    def test_second_run_is_a_no_op(self):
        k = nh_kernel()
        objs = nh_objects()
        p = nh_plan()
        # apply the plan to the parsed state by hand
        objs += p.nh_added
        for op, w in p.ops:
            if op == "replace":
                lst = k[(w.family, w.table)]
                lst[:] = [r for r in lst if r.key != w.key]
                lst.append(model.Route(w.family, w.table, w.dest, w.metric, via=w.via, dev=w.dev,
                                       onlink=w.onlink, proto="252", nhid=w.nhid))
        again = do_plan(want(*NH_WANTED), k, nexthop_objects=True, nexthops=objs, other_refs=other_refs)
        assert again.commands == [] and again.after == p.after

    def test_new_ids_avoid_foreign_ids_in_our_block(self):
        objs = nh_objects() + [nexthops.Nexthop(264241155, "ipv4", "10.168.0.99", "eth0", proto="static")]
        p = nh_plan(nexthops=objs)
        assert p.commands[0] == "nexthop add id 264241160 via 10.168.0.5 dev eth0 proto 252"
        ids = [n.id for n in p.nh_added]
        assert ids == [264241160, 264241161]
        assert not set(ids) & set(n.id for n in objs)

    def test_foreign_object_with_the_same_next_hop_is_not_used(self):
        # 264241153 (static) is via 10.168.0.7: ours gets its own object
        p = nh_plan(wanted=("192.168.7.0/24 via 10.168.0.7 dev eth0",), takeover=True)
        assert p.commands[0] == "nexthop add id 264241155 via 10.168.0.7 dev eth0 proto 252"
        assert "route replace 192.168.7.0/24 nhid 264241155 table 254 metric 0 proto 252" in p.commands
        # same forwarding: the identical foreign route is adopted (onto our object)
        assert p.modified[0]["reason"] == "adopted identical route from protocol static"
        assert not any(c.startswith("nexthop del id %d" % i) for c in p.commands for i in FOREIGN_NH)

    def test_identical_foreign_route_left_gets_no_object(self):
        # left in place by default: no object of ours is made for it, so the
        # next run has none to clean up (and makes none again)
        p = nh_plan(wanted=("192.168.7.0/24 via 10.168.0.7 dev eth0",
                            "192.168.9.0/24 via 10.168.0.9 dev eth0"))
        assert not any(c.startswith("nexthop add") for c in p.commands)
        assert not any("192.168.7.0/24" in c or "192.168.9.0/24" in c for c in p.commands)
        assert sorted(line.split()[0] for line in p.foreign) == ["192.168.7.0/24", "192.168.9.0/24"]
        assert p.nh_added == []

    def test_duplicate_objects_of_ours_lowest_id_wins(self):
        objs = nh_objects() + [nexthops.Nexthop(264241100, "ipv4", "10.168.0.2", "eth0", proto="252")]
        p = nh_plan(wanted=NH_WANTED[:1], nexthops=objs)
        assert "route replace 192.168.1.0/24 nhid 264241100 table 254 metric 0 proto 252" in p.commands
        assert "nexthop del id 264241152" in p.commands

    def test_gateway_change_new_object_old_one_removed(self):
        p = nh_plan(wanted=("192.168.1.0/24 via 10.168.0.6 dev eth0",) + NH_WANTED[1:])
        assert p.commands[0] == "nexthop add id 264241155 via 10.168.0.5 dev eth0 proto 252"
        assert p.commands[1] == "nexthop add id 264241160 via 10.168.0.6 dev eth0 proto 252"
        assert p.commands[-1] == "nexthop del id 264241152"
        assert p.modified[0] == {
            "before": "192.168.1.0/24 via 10.168.0.2 dev eth0 table main metric 0 nhid 264241152",
            "after": "192.168.1.0/24 via 10.168.0.6 dev eth0 table main metric 0 nhid 264241160",
            "reason": "via 10.168.0.2 -> 10.168.0.6; nhid 264241152 -> 264241160"}

    def test_mode_off_converts_back_and_deletes_unused_objects(self):
        p = nh_plan(mode=False)
        assert p.commands == [
            "route replace 192.168.1.0/24 via 10.168.0.2 dev eth0 table 254 metric 0 proto 252",
            "route replace 192.168.3.0/24 via 10.200.0.2 dev eth0 onlink table 254 metric 5 proto 252",
            "route replace fd00:1:1::/64 via fd00:10::2 dev eth0 table 254 metric 1024 proto 252",
            "route replace 192.168.5.0/24 via 10.168.0.5 dev eth0 table 254 metric 0 proto 252",
            "nexthop del id 264241152",
            "nexthop del id 264241154",
            "nexthop del id 264241156",
            "nexthop del id 264241159"]
        # 264241157 (a foreign route in table 100 uses it) and 264241158 (in
        # foreign group 10) stay; foreign objects are never touched
        assert p.modified[0]["reason"] == "nhid 264241152 -> (none)"
        assert p.after == sorted(p.after) and not any("nhid" in line for line in p.after)

    def test_without_other_tables_read_an_object_used_there_would_go(self):
        # what other_refs protects against: the kernel deletes the routes
        # that use a deleted object
        p = nh_plan(mode=False, refs=None)
        assert "nexthop del id 264241157" in p.commands
        assert "nexthop del id 264241157" not in nh_plan(mode=False).commands

    def test_other_refs_only_read_when_something_could_go(self):
        calls = []

        def refs():
            calls.append(1)
            return set()
        wanted = ("192.168.1.0/24 via 10.168.0.2 dev eth0",)
        objs = [n for n in nh_objects() if n.id in (264241152,) or n.proto != "252"]
        do_plan(want(*wanted), nh_kernel(), nexthop_objects=True, nexthops=objs, other_refs=refs)
        assert calls == []

    def test_purge_removes_our_routes_and_objects_only(self):
        p = nh_plan(wanted=(), purge=True)
        dels = [c for c in p.commands if c.startswith("nexthop del")]
        assert dels == ["nexthop del id 264241152", "nexthop del id 264241154",
                        "nexthop del id 264241156", "nexthop del id 264241159"]
        assert sorted(c for c in p.commands if c.startswith("route del")) == sorted([
            "route del 192.168.1.0/24 nhid 264241152 table 254 metric 0 proto 252",
            "route del 192.168.2.0/24 via 10.168.0.3 dev eth0 table 254 metric 0 proto 252",
            "route del 192.168.3.0/24 nhid 264241159 table 254 metric 5 proto 252",
            "route del fd00:1:1::/64 nhid 264241156 table 254 metric 1024 proto 252",
            "route del fd00:1:2::/64 via fd00:10::3 dev eth0 table 254 metric 1024 proto 252"])
        # object deletes come after every route line
        kinds = [c.split()[0] + c.split()[1] for c in p.commands]
        assert kinds == sorted(kinds, key=lambda k: k == "nexthopdel")
        assert p.after == []

    def test_absent_route_through_object(self):
        p = nh_plan(wanted=({"dest": "192.168.1.0/24", "state": "absent"},))
        assert p.commands[0] == "route del 192.168.1.0/24 nhid 264241152 table 254 metric 0 proto 252"
        assert "nexthop del id 264241152" in p.commands

    def test_direct_routes_are_unaffected(self):
        p = nh_plan(wanted=("192.168.20.0/24 dev eth0",) + NH_WANTED)
        assert "route replace 192.168.20.0/24 dev eth0 table 254 metric 0 proto 252" in p.commands

    def test_src_stays_on_the_route(self):
        p = nh_plan(wanted=("192.168.20.0/24 via 10.168.0.2 dev eth0 src 10.168.0.1",))
        assert "route replace 192.168.20.0/24 nhid 264241152 src 10.168.0.1 table 254 metric 0 proto 252" \
            in p.commands

    def test_adopts_identical_foreign_route_through_foreign_object(self):
        # 192.168.9.0/24 (static) uses foreign object 5 via 10.168.0.9
        p = nh_plan(wanted=("192.168.9.0/24 via 10.168.0.9 dev eth0",), takeover=True)
        assert p.modified[0]["reason"] == "adopted identical route from protocol static"
        assert "route replace 192.168.9.0/24 nhid 264241155 table 254 metric 0 proto 252" in p.commands
        assert "nexthop del id 5" not in p.commands

    def test_id_block_exhausted_is_a_conflict(self, monkeypatch):
        monkeypatch.setattr(nexthops, "NH_RANGE_BITS", 2)     # block of 4 ids: 1008..1011
        objs = [nexthops.Nexthop(1008 + i, "ipv4", "10.168.0.%d" % (100 + i), "eth0", proto="static")
                for i in range(3)]
        p = do_plan(want("192.168.5.0/24 via 10.168.0.5 dev eth0",
                         "192.168.6.0/24 via 10.168.0.6 dev eth0"), {("ipv4", 254): []},
                    nexthop_objects=True, nexthops=objs)
        assert p.conflicts == ["no free nexthop id left in 1008..1011 for 2 new nexthop objects"]

    def test_mode_on_needs_nexthops(self):
        with pytest.raises(ValueError):
            do_plan(want(*NH_WANTED), nh_kernel(), nexthop_objects=True)

    def test_mode_off_without_nexthops_read_is_unchanged(self):
        p = do_plan(want("192.168.2.0/24 via 10.168.0.3 dev eth0"), nh_kernel())
        assert p.commands == [] and "nexthops" not in p.result()

    def test_verify_and_translate(self):
        p = nh_plan(mode=True, wanted=("192.168.1.0/24 via 10.168.0.6 dev eth0",))
        # nothing applied: the kernel as before
        assert p.commands[2:] == ["nexthop del id 264241152", "nexthop del id 264241154"]
        assert batch.verify(p.ops, nh_kernel(), OURS, nh_objects()) == [False, False, False, False]
        k = nh_kernel()
        k[("ipv4", 254)] = [r for r in k[("ipv4", 254)] if r.dest != "192.168.1.0/24"] + [
            model.Route("ipv4", 254, "192.168.1.0/24", 0, via="10.168.0.6", dev="eth0", proto="252",
                        nhid=264241155)]
        objs = [n for n in nh_objects() if n.id != 264241152] + p.nh_added
        assert [op for op, _x in p.ops] == ["nh_add", "replace", "nh_del", "nh_del"]
        assert batch.verify(p.ops, k, OURS, objs) == [True, True, True, False]
        msg = batch.translate_error("Nexthop id does not exist.", "replace", p.ops[1][1])
        assert msg.startswith("its nexthop object 264241155 was not created")
        msg = batch.translate_error("Nexthop has invalid gateway.", "nh_add", p.ops[0][1])
        assert msg.startswith("next hop 10.168.0.6 is not on a network directly connected to dev eth0")

import os

import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import to_nice_json

from ansible_collections.podnet.hostgw.plugins.filter import hostgw as f
from ansible_collections.podnet.hostgw.plugins.module_utils import cluster
from tests.conftest import REPO

PLAN = {
    "cluster": {"cluster_cidr": "192.168.0.0/16", "cluster_cidr_v6": "", "bridge": "cni0"},
    "nodes": {"host1": {"interface": "eth0"}, "host2": {"interface": "ens5"}, "host3": {"interface": "eth0"}},
    "routes": [{"owner": "host1", "dest": "192.168.0.0/24", "via": "10.168.0.1"},
               {"owner": "host2", "dest": "192.168.1.0/24", "via": "10.168.0.2"},
               {"owner": "host3", "dest": "192.168.2.0/24", "via": "10.168.0.3"}],
    "complete": True,
}
PLAN["route_table"] = cluster.route_table(PLAN["routes"])


def test_peer_routes_exclude_own_and_use_own_device():
    assert f.hostgw_peer_routes(PLAN, "host2") == [
        {"dest": "192.168.0.0/24", "via": "10.168.0.1", "dev": "ens5"},
        {"dest": "192.168.2.0/24", "via": "10.168.0.3", "dev": "ens5"},
    ]


def test_peer_route_lines_are_the_compact_ip_route_form():
    assert f.hostgw_peer_route_lines(PLAN, "host2") == [
        "192.168.0.0/24 via 10.168.0.1 dev ens5", "192.168.2.0/24 via 10.168.0.3 dev ens5"]


def test_route_lines_read_like_ip_route():
    lines = f.hostgw_peer_route_lines(PLAN, "host1", "hostgw")
    assert lines[0] == "192.168.1.0/24 via 10.168.0.2 dev eth0 proto hostgw"


def test_unknown_host_and_wrong_input_fail_clearly():
    with pytest.raises(AnsibleFilterError, match="host9 is not in the cluster plan"):
        f.hostgw_peer_routes(PLAN, "host9")
    with pytest.raises(AnsibleFilterError, match="expected the cluster plan"):
        f.hostgw_peer_route_lines({"nodes": {}}, "host1")
    with pytest.raises(AnsibleFilterError, match="with its route_table"):
        f.hostgw_peer_routes(dict((k, v) for k, v in PLAN.items() if k != "route_table"), "host1")


def test_the_route_table_holds_the_route_list_and_owners_with_spaces_survive():
    plan = dict(PLAN, nodes=dict(PLAN["nodes"], **{"host 4": {"interface": "eth1"}}),
                routes=PLAN["routes"] + [{"owner": "host 4", "dest": "fd00:10:0:4::/64", "via": "fd00::4"}])
    plan["route_table"] = cluster.route_table(plan["routes"])
    assert f.hostgw_peer_routes(plan, "host 4") == [dict(dest=r["dest"], via=r["via"], dev="eth1") for r in PLAN["routes"]]
    assert f.hostgw_peer_routes(plan, "host1")[-1] == {"dest": "fd00:10:0:4::/64", "via": "fd00::4", "dev": "eth0"}


NODE = {"pod_subnet": "192.168.1.0/24", "gateway": "192.168.1.1/24",
        "pod_subnet_v6": "fd00:10:0:1::/64", "gateway_v6": "fd00:10:0:1::1/64"}


def test_cni_ranges_end_before_the_verify_address():
    assert f.hostgw_cni_ranges(NODE) == [
        [{"subnet": "192.168.1.0/24", "gateway": "192.168.1.1", "rangeEnd": "192.168.1.253"}],
        [{"subnet": "fd00:10:0:1::/64", "gateway": "fd00:10:0:1::1", "rangeEnd": "fd00:10:0:1:ffff:ffff:ffff:fffd"}],
    ]
    assert f.hostgw_cni_ranges(dict(NODE, pod_subnet_v6="", gateway_v6="")) == \
        [[{"subnet": "192.168.1.0/24", "gateway": "192.168.1.1", "rangeEnd": "192.168.1.253"}]]


def _plan_with(nodes):
    return dict(PLAN, nodes=nodes)


def test_verify_addresses_and_targets():
    plan = _plan_with({"a": dict(NODE, interface="eth0"),
                       "b": {"pod_subnet": "192.168.2.0/24", "gateway": "192.168.2.1/24",
                             "pod_subnet_v6": "", "gateway_v6": "", "interface": "eth0"}})
    assert f.hostgw_verify_address(plan, "a") == {"4": "192.168.1.254", "6": "fd00:10:0:1:ffff:ffff:ffff:fffe"}
    assert f.hostgw_verify_targets(plan, "b") == [
        {"host": "a", "family": "4", "ip": "192.168.1.254"},
        {"host": "a", "family": "6", "ip": "fd00:10:0:1:ffff:ffff:ffff:fffe"},
    ]
    assert f.hostgw_verify_targets(plan, "a", hosts=["a"]) == []
    assert f.hostgw_target_label({"host": "a", "family": "6", "ip": "fd00::1"}) == "a (IPv6 fd00::1)"


def test_ping_matrix_marks_success_latency_and_failure():
    ok = {"rc": 0, "item": {"host": "b", "family": "4"},
          "stdout": "rtt min/avg/max/mdev = 0.050/0.061/0.070/0.010 ms"}
    bad = {"rc": 1, "item": {"host": "a", "family": "4"}, "stdout": "100% packet loss"}
    lines = f.hostgw_ping_matrix(["a", "b"], [{"results": [ok]}, {"results": [bad]}])
    assert lines[0] == "IPv4: row pings column"
    assert lines[2].split() == ["a", "-", "\u2713", "0.061", "ms"]
    assert lines[3].split() == ["b", "\u2717", "-"]


def test_cluster_table_lists_every_node_and_source():
    plan = _plan_with({"a": dict(NODE, name="a", node_ip="10.0.0.1", node_ip_v6="fd00::1", interface="eth0",
                                 mtu=1500, source="allocated", source_v6="recorded")})
    plan["routes"] = []
    text = f.hostgw_cluster_table(plan)
    assert "| a | 10.0.0.1 | eth0 | 192.168.1.0/24 | 192.168.1.1/24 | 1500 | allocated |" in text
    assert "| a | fd00::1 | eth0 | fd00:10:0:1::/64 | fd00:10:0:1::1/64 | 1500 | recorded |" in text


# ------------------------------------------------------------- verify.yml --

GOOD_VERIFY = {"hostgw_verify_netns": "podnet-verify", "hostgw_verify_veth": "podnet-vfy0",
               "hostgw_verify_count": 2, "hostgw_verify_timeout": 2}


def test_verify_settings_good_ones_and_numbers_from_extra_vars():
    assert f.hostgw_verify_problems(GOOD_VERIFY) == []
    assert f.hostgw_verify_problems(dict(GOOD_VERIFY, hostgw_verify_count="100", hostgw_verify_timeout="60")) == []


@pytest.mark.parametrize("key, value, sentence", [
    ("hostgw_verify_netns", "podnet-verify\nroute flush proto 252",
     "hostgw_verify_netns 'podnet-verify\\nroute flush proto 252' must not contain control characters "
     "(a newline would start another ip -batch command)"),
    ("hostgw_verify_netns", "a b", "hostgw_verify_netns 'a b' must not contain whitespace"),
    ("hostgw_verify_netns", "../x", "hostgw_verify_netns '../x' must not contain '/'"),
    ("hostgw_verify_netns", "x#y", "hostgw_verify_netns 'x#y' must not contain '#' (ip -batch cannot carry it)"),
    ("hostgw_verify_netns", "", "hostgw_verify_netns '' is empty"),
    ("hostgw_verify_veth", "v0\nlink del x", "hostgw_verify_veth 'v0\\nlink del x' must not contain whitespace"),
    ("hostgw_verify_veth", "podnet-verify-veth0",
     "hostgw_verify_veth 'podnet-verify-veth0' is 19 bytes long; Linux allows at most 15"),
    ("hostgw_verify_veth", None, "hostgw_verify_veth None is not a string (an interface name)"),
    ("hostgw_verify_count", 0, "hostgw_verify_count 0 must be a whole number from 1 to 100"),
    ("hostgw_verify_count", 101, "hostgw_verify_count 101 must be a whole number from 1 to 100"),
    ("hostgw_verify_count", "2\n", "hostgw_verify_count '2\\n' must be a whole number from 1 to 100"),
    ("hostgw_verify_count", True, "hostgw_verify_count True must be a whole number from 1 to 100"),
    ("hostgw_verify_timeout", "2; reboot", "hostgw_verify_timeout '2; reboot' must be a whole number from 1 to 60"),
    ("hostgw_verify_timeout", -1, "hostgw_verify_timeout -1 must be a whole number from 1 to 60"),
    ("hostgw_verify_timeout", 1.5, "hostgw_verify_timeout 1.5 must be a whole number from 1 to 60"),
])
def test_verify_settings_one_sentence_naming_the_variable_and_value(key, value, sentence):
    assert f.hostgw_verify_problems(dict(GOOD_VERIFY, **{key: value})) == [sentence]


def test_verify_settings_missing_one_is_a_problem():
    settings = dict(GOOD_VERIFY)
    del settings["hostgw_verify_timeout"]
    assert f.hostgw_verify_problems(settings) == [
        "hostgw_verify_timeout None must be a whole number from 1 to 60"]


def test_verify_names_in_use_read_from_the_host():
    listed = '[{"name":"podnet-verify"},{"name":"cni-1234","id":0}]'
    assert f.hostgw_verify_names_in_use(listed, "podnet-verify", "vv0", True) == [
        "hostgw_verify_netns 'podnet-verify' is an existing network namespace",
        "hostgw_verify_veth 'vv0' is an existing link"]
    assert f.hostgw_verify_names_in_use(listed, "podnet-verify2", "vv0", False) == []
    # ip -json netns list prints nothing at all when there is no namespace.
    assert f.hostgw_verify_names_in_use("", "podnet-verify", "vv0", False) == []


DUAL = {"name": "a", "interface": "eth0", "mtu": 1450, "bridge": "cni0",
        "pod_subnet": "192.168.1.0/24", "gateway": "192.168.1.1/24",
        "pod_subnet_v6": "fd00:10:0:1::/64", "gateway_v6": "fd00:10:0:1::1/64"}


def test_verify_batches_build_the_test_container_from_the_plan():
    batches = f.hostgw_verify_batches(_plan_with({"a": DUAL}), "a", "podnet-verify", "podnet-vfy0")
    assert batches == {
        "create": "netns add podnet-verify\n"
                  "link add podnet-vfy0 mtu 1450 type veth peer name eth0 netns podnet-verify\n"
                  "link set dev podnet-vfy0 master cni0 up\n",
        "address": "link set dev lo up\nlink set dev eth0 up\n"
                   "addr add 192.168.1.254/24 dev eth0\nroute add default via 192.168.1.1\n"
                   "addr add fd00:10:0:1:ffff:ffff:ffff:fffe/64 dev eth0 nodad\n"
                   "route add default via fd00:10:0:1::1\n",
        "remove": "link del podnet-vfy0\nnetns del podnet-verify\n",
    }


def test_verify_batches_single_stack():
    v6 = dict(DUAL, pod_subnet="", gateway="", bridge="br-pod", mtu=9000)
    batches = f.hostgw_verify_batches(_plan_with({"a": v6}), "a", "vns", "vv0")
    assert batches["address"] == ("link set dev lo up\nlink set dev eth0 up\n"
                                  "addr add fd00:10:0:1:ffff:ffff:ffff:fffe/64 dev eth0 nodad\n"
                                  "route add default via fd00:10:0:1::1\n")
    assert "link set dev vv0 master br-pod up\n" in batches["create"]
    v4 = dict(DUAL, pod_subnet_v6="", gateway_v6="")
    assert "fd00" not in f.hostgw_verify_batches(_plan_with({"a": v4}), "a", "vns", "vv0")["address"]


@pytest.mark.parametrize("args, node, message", [
    (("podnet-verify\nroute flush proto 252", "vv0"), {},
     "hostgw_verify_netns 'podnet-verify\\nroute flush proto 252' must not contain control characters"),
    (("vns", "vv0 type dummy"), {}, "hostgw_verify_veth 'vv0 type dummy' must not contain whitespace"),
    (("vns", "vv0"), {"bridge": "cni0\nlink del"}, "bridge 'cni0\\nlink del' must not contain whitespace"),
    (("vns", "vv0"), {"mtu": "1500 up"}, "mtu '1500 up' is not a whole number"),
    (("vns", "vv0"), {"pod_subnet": "192.168.1.0/24\nroute flush"},
     "pod_subnet '192.168.1.0/24\\nroute flush' is not an IPv4 network"),
    (("vns", "vv0"), {"gateway_v6": "fd00::1 dev lo/64"},
     "gateway_v6 'fd00::1 dev lo/64' is not an IPv6 address"),
])
def test_verify_batches_refuse_anything_unchecked(args, node, message):
    with pytest.raises(AnsibleFilterError) as err:
        f.hostgw_verify_batches(_plan_with({"a": dict(DUAL, **node)}), "a", *args)
    assert "a: the test container cannot be built (1):\n  - " + message in str(err.value)


def test_verify_batches_unknown_host():
    with pytest.raises(AnsibleFilterError, match="host b is not in the cluster plan"):
        f.hostgw_verify_batches(_plan_with({"a": DUAL}), "b", "vns", "vv0")


# ------------------------------------------------------------- render.yml --

def test_render_problems_host_names_are_file_names():
    assert f.hostgw_render_problems(["host1", "node-2.example.com"], "/srv/render") == []
    assert f.hostgw_render_problems(["host1", "../../../../../../tmp/pwned3"], "/srv/render") == [
        "host '../../../../../../tmp/pwned3' is not a plain file name (no '/', not '.' or '..'); "
        "render.yml names its files after hosts"]
    assert f.hostgw_render_problems([".."], "/srv/render") == [
        "host '..' is not a plain file name (no '/', not '.' or '..'); render.yml names its files after hosts"]
    long_name = "h" * 250
    assert f.hostgw_render_problems([long_name], "/srv/render") == [
        "host %s's file name '%s.routes' is longer than 255 bytes" % (long_name, long_name)]


def test_render_problems_render_dir():
    assert f.hostgw_render_problems(["a"], "render") == ["hostgw_render_dir 'render' is not an absolute path"]
    assert f.hostgw_render_problems(["a"], "/srv/../etc") == [
        "hostgw_render_dir '/srv/../etc' is not a normalised path; did you mean /etc?"]
    assert f.hostgw_render_problems(["a/b"], "/srv/r\n") == [
        "hostgw_render_dir '/srv/r\\n' must not contain control characters",
        "host 'a/b' is not a plain file name (no '/', not '.' or '..'); render.yml names its files after hosts"]


def test_problem_report_is_the_collection_report():
    assert f.hostgw_problem_report(["x 'y' is bad"], "verify settings, nothing was run") == (
        "verify settings, nothing was run (1):\n  - x 'y' is bad")


# ---------------------------------------------------------- CNI conflist --

FIXTURES = os.path.join(REPO, "tests", "fixtures", "cni")
CNI_PLANS = {
    "v4": {"cluster": {"cluster_cidr": "192.168.0.0/16", "cluster_cidr_v6": "", "bridge": "cni0"},
           "node": {"bridge": "cni0", "mtu": 1500, "pod_subnet": "192.168.1.0/24", "gateway": "192.168.1.1/24",
                    "pod_subnet_v6": "", "gateway_v6": ""}},
    "dual": {"cluster": {"cluster_cidr": "192.168.0.0/16", "cluster_cidr_v6": "fd00:10::/56", "bridge": "cni0"},
             "node": DUAL},
    "v6": {"cluster": {"cluster_cidr": "", "cluster_cidr_v6": "fd00:10::/56", "bridge": "br-pod"},
           "node": dict(DUAL, bridge="br-pod", mtu=9000, pod_subnet="", gateway="")},
}


def _conflist(stack, **options):
    plan = {"cluster": CNI_PLANS[stack]["cluster"], "nodes": {"h": CNI_PLANS[stack]["node"]}, "routes": []}
    return f.hostgw_cni_conflist(plan, "h", **options)


def _as_written(conflist):
    """The file the cni role writes: to_nice_json(indent=2) and a newline."""
    return to_nice_json(conflist, indent=2) + "\n"


# The fixtures were written by the cni role's Jinja before it became this
# filter: the same bytes mean a converged host sees no change.
@pytest.mark.parametrize("fixture, stack, options", [
    ("v4-default", "v4", {}),
    ("v4-noportmap", "v4", {"portmap": False}),
    ("v4-nodefault", "v4", {"default_route": False}),
    ("v4-nohairpin", "v4", {"hairpin": False}),
    ("dual-default", "dual", {}),
    ("dual-nodefault-noportmap", "dual", {"default_route": False, "hairpin": False, "portmap": False}),
    ("v6-default", "v6", {}),
])
def test_cni_conflist_is_byte_identical_to_the_template_it_replaces(fixture, stack, options):
    with open(os.path.join(FIXTURES, fixture + ".conflist")) as fh:
        assert _as_written(_conflist(stack, **options)) == fh.read()


def test_cni_conflist_options():
    default = _conflist("dual")
    assert [p["type"] for p in default["plugins"]] == ["bridge", "portmap"]
    assert default["plugins"][1] == {"type": "portmap", "capabilities": {"portMappings": True}}
    assert [p["type"] for p in _conflist("dual", portmap=False)["plugins"]] == ["bridge"]
    assert default["plugins"][0]["ipam"]["routes"] == [
        {"dst": "192.168.0.0/16"}, {"dst": "fd00:10::/56"}, {"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
    assert _conflist("dual", default_route=False)["plugins"][0]["ipam"]["routes"] == [
        {"dst": "192.168.0.0/16"}, {"dst": "fd00:10::/56"}]
    assert _conflist("v4")["plugins"][0]["ipam"]["routes"] == [{"dst": "192.168.0.0/16"}, {"dst": "0.0.0.0/0"}]
    assert default["plugins"][0]["hairpinMode"] is True
    assert _conflist("dual", hairpin=False)["plugins"][0]["hairpinMode"] is False
    assert len(default["plugins"][0]["ipam"]["ranges"]) == 2
    assert _conflist("v6")["plugins"][0]["ipam"]["ranges"] == [[
        {"subnet": "fd00:10:0:1::/64", "gateway": "fd00:10:0:1::1", "rangeEnd": "fd00:10:0:1:ffff:ffff:ffff:fffd"}]]
    named = _conflist("v4", network_name="k8s-pod-network", cni_version="0.4.0")
    assert (named["name"], named["cniVersion"]) == ("k8s-pod-network", "0.4.0")


def test_cni_conflist_refuses_bad_settings():
    with pytest.raises(AnsibleFilterError) as err:
        _conflist("v4", network_name="pod net", portmap="false")
    assert str(err.value) == (
        "h: the CNI configuration cannot be built (2):\n"
        "  - hostgw_cni_network_name 'pod net' must be letters, digits, '_', '.' and '-', starting with a "
        "letter or digit (the CNI specification's network name)\n"
        "  - hostgw_cni_portmap 'false' must be a boolean")
    with pytest.raises(AnsibleFilterError, match="host x is not in the cluster plan"):
        f.hostgw_cni_conflist(PLAN, "x")


def test_cni_confs_before_ours_in_libcni_order():
    files = [{"path": "/etc/cni/net.d/10-podnet.conflist", "isdir": False},
             {"path": "/etc/cni/net.d/87-podman.conflist", "isdir": False},
             {"path": "/etc/cni/net.d/00-other.conflist", "isdir": False},
             {"path": "/etc/cni/net.d/05-old.json", "isdir": False},
             {"path": "/etc/cni/net.d/01-a.conf", "isdir": False},
             {"path": "/etc/cni/net.d/00-notes.txt", "isdir": False},
             {"path": "/etc/cni/net.d/02-dir.conf", "isdir": True},
             {"path": "/etc/cni/net.d/.hidden.conf", "isdir": False},
             {"path": "/etc/cni/net.d/10-podnet.conflist.bak", "isdir": False},
             {"path": "/etc/cni/net.d/10-podmem.conflist", "isdir": False}]
    assert f.hostgw_cni_confs_before(files, "10-podnet.conflist") == [
        ".hidden.conf", "00-other.conflist", "01-a.conf", "05-old.json", "10-podmem.conflist"]
    assert f.hostgw_cni_confs_before(["/x/99-a.conf"], "10-podnet.conflist") == []
    # Upper case sorts before lower case in byte order, as in Go.
    assert f.hostgw_cni_confs_before(["/x/Z.conf"], "a.conflist") == ["Z.conf"]

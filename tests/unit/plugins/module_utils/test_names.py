"""The one rule per kind of name, address and prefix (module_utils/_hostgw/names.py).
The interface-name rule is also checked against the kernel itself in
tests/integration/test_ifname_kernel.py."""

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import names


@pytest.mark.parametrize("value", ["cni0", "a", "x" * 15, "br-pod.10", "eth0@x", "\u00e9th0", "caf\u00e9"])
def test_good_interface_names(value):
    assert names.ifname_problem(value) is None


@pytest.mark.parametrize("value, predicate", [
    ("", "is empty; an interface name has 1 to 15 bytes"),
    ("x" * 16, "is 16 bytes long; Linux allows at most 15"),
    ("\u00e9" * 8, "is 16 bytes long; Linux allows at most 15"),
    (".", "is reserved by the kernel"),
    ("..", "is reserved by the kernel"),
    ("a/b", "must not contain '/'"),
    ("eth0:1", "must not contain ':' (that is IPv4 alias-label syntax)"),
    ("eth%d", "must not contain '%' (the kernel reads it as a name template such as eth%d)"),
    ("cni 0", "must not contain whitespace"),
    ("cni0\n", "must not contain whitespace"),
    ("\u00e0", "must not contain whitespace"),   # UTF-8 c3 a0: 0xa0 is a space to the kernel
    ("cni\x01", "must not contain control characters"),
    ("br#0", "must not contain '#' (ip -batch cannot carry it)"),
    ("br'0", "must not contain a single quote (ip -batch cannot carry it)"),
    ('br"0', "must not contain a double quote (ip -batch cannot carry it)"),
    ("br\\", "must not contain a backslash (ip -batch cannot carry it)"),
    (7, "is not a string (an interface name)"),
])
def test_bad_interface_names(value, predicate):
    assert names.ifname_problem(value) == predicate


def test_problem_quotes_the_value_with_control_characters_escaped():
    assert names.problem("hostgw_bridge", "cni0\n", names.ifname_problem("cni0\n")) == \
        "hostgw_bridge 'cni0\\n' must not contain whitespace"


@pytest.mark.parametrize("value, predicate", [
    ("podnet-verify", None),
    ("podnet-verify\nroute flush proto 252", "must not contain control characters "
                                             "(a newline would start another ip -batch command)"),
    ("a b", "must not contain whitespace"),
    ("a/b", "must not contain '/'"),
    ("..", "is not a name"),
    ("x#y", "must not contain '#' (ip -batch cannot carry it)"),
    ("", "is empty"),
])
def test_netns_names(value, predicate):
    assert names.netns_name_problem(value) == predicate


@pytest.mark.parametrize("value, predicate", [
    ("host1", None),
    ("k8s-node-1.example.com", None),
    ("../../../../tmp/pwned", "is not a plain file name (no '/', not '.' or '..')"),
    ("..", "is not a plain file name (no '/', not '.' or '..')"),
    ("a\nb", "must not contain control characters"),
])
def test_file_names(value, predicate):
    assert names.filename_problem(value) == predicate


@pytest.mark.parametrize("value, predicate", [
    ("/etc/podnet/hostgw.json", None),
    ("etc/podnet", "is not an absolute path"),
    ("/etc/podnet/", "is not a normalised path; did you mean /etc/podnet?"),
    ("/etc/../tmp/x", "is not a normalised path; did you mean /tmp/x?"),
    ("//etc//x", "is not a normalised path; did you mean /etc/x?"),
    ("/etc/x\n", "must not contain control characters"),
    ("/", "is the root directory"),
])
def test_absolute_paths(value, predicate):
    assert names.abs_path_problem(value) == predicate


@pytest.mark.parametrize("value, result", [
    ("192.168.1.0/24", (4, "192.168.1.0/24", None)),
    ("10.0.0.1", (4, "10.0.0.1/32", None)),
    ("192.168.1.5/24", (4, None, "has host bits set; did you mean 192.168.1.0/24?")),
    ("fd00:10::/56", (6, "fd00:10::/56", None)),
    ("FD00:10:0::/56", (6, "fd00:10::/56", None)),
    ("fd00:10::1/56", (6, None, "has host bits set; did you mean fd00:10::/56?")),
    ("192.168.0.300/24", (None, None, "is not an IPv4 or IPv6 network")),
    ("fe80::/64%eth0", (None, None, "has a zone index ('%'), which a prefix cannot have")),
    (24, (None, None, "is not a string (a prefix such as 192.168.1.0/24)")),
])
def test_parse_prefix(value, result):
    assert names.parse_prefix(value) == result


def test_parse_prefix_family_and_bare_hosts():
    assert names.parse_prefix("192.168.0.0/16", 6) == (4, None, "is an IPv4 network, not an IPv6 one")
    assert names.parse_prefix("fd00::/8", 4) == (6, None, "is an IPv6 network, not an IPv4 one")
    assert names.parse_prefix("192.168.0.300/24", 4) == (None, None, "is not an IPv4 network")
    assert names.parse_prefix("10.0.0.1", bare_host=False)[2] == \
        "has no prefix length; write the network as ADDRESS/LENGTH"
    assert names.parse_prefix("fd00::1", bare_host=False)[2] == \
        "has no prefix length; write the network as ADDRESS/LENGTH"


@pytest.mark.parametrize("value, kwargs, result", [
    ("10.168.0.2", {}, (4, "10.168.0.2", None)),
    ("FD00::0001", {}, (6, "fd00::1", None)),
    ("0.0.0.0", {}, (4, None, "is the unspecified address")),
    ("::", {"unspecified": True}, (6, "::", None)),
    ("10.168.0", {"version": 4}, (None, None, "is not an IPv4 address")),
    ("fd00::1", {"version": 4}, (6, None, "is an IPv6 address, not an IPv4 one")),
    ("fe80::1%eth0", {}, (None, None, "has a zone index ('%'); name the interface instead")),
])
def test_parse_ip(value, kwargs, result):
    assert names.parse_ip(value, **kwargs) == result


@pytest.mark.parametrize("value, ok", [("podnet", True), ("k8s-pod-network", True), ("a.b_c", True),
                                       ("-x", False), ("pod net", False), ("", False), ("podnet\n", False)])
def test_cni_network_names(value, ok):
    assert (names.cni_name_problem(value) is None) == ok

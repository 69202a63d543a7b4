"""Preflight on a real lab: every bad input stops site.yml with one clear
message naming the host and value, and no host has changed at all.

Two three-host labs: a fresh one (never converged until the last test) and a
converged one.  Each case runs site.yml with an inventory that differs from
the good one in one place (or with one thing changed on a host), and
compares a snapshot of every host (routes in all tables, links, addresses,
nftables, forwarding sysctls, files written under the host's /etc, /var/lib
and /opt) before and after.
"""

import contextlib
import copy
import json
import os
import uuid

import pytest
import yaml

from tests.integration.labkit import Lab, nodes, recap

pytestmark = pytest.mark.integration

REPORT = "podnet.hostgw preflight, no host was changed ("
RECORD = "/etc/podnet/hostgw.json"
# Long enough for a slow, shared machine; a run that blocks (a FIFO read)
# is killed after it and the test fails.
TIMEOUT = 600


def _lab(tmp_path_factory, prefix):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    tmp = str(tmp_path_factory.mktemp(prefix))
    return Lab("%s%s" % (prefix, uuid.uuid4().hex[:4]), tmp)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    the_lab = _lab(tmp_path_factory, "hgwpf")
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    the_lab = _lab(tmp_path_factory, "hgwpc")
    the_lab.up()
    try:
        recap(the_lab.site(the_lab.good_path, timeout=TIMEOUT))
        yield the_lab
    finally:
        the_lab.down()


def _with(lab, change):
    inv = copy.deepcopy(lab.good)
    change(inv)
    return inv


def host_var(host, key, value):
    def change(inv):
        nodes(inv)["hosts"][host][key] = value
    return change


def cluster_var(key, value):
    def change(inv):
        nodes(inv)["vars"][key] = value
    return change


def changes(*each):
    def change(inv):
        for c in each:
            c(inv)
    return change


def refused(lab, inv, message, *extra, playbook="site.yml"):
    """site.yml (or PLAYBOOK) with INV stops in preflight with MESSAGE; no host changed."""
    before = lab.snapshot()
    proc = lab.site(inv, *extra, playbook=playbook, timeout=TIMEOUT)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert REPORT in out, out[-3000:]
    assert message in out, out[-3000:]
    assert lab.snapshot() == before
    return out


def write_file(lab, host, path, content=None, size=None):
    """Write CONTENT (or a JSON record of about SIZE bytes) to PATH inside lab
    host HOST (its own /etc and /var/lib overlays)."""
    script = ("import json, os, sys; os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True); "
              "size = int(sys.argv[3]); open(sys.argv[1], 'w').write(sys.argv[2] if size < 0 else json.dumps("
              "{'pod_subnet': '192.168.2.0/24', 'junk': 'x' * size}))")
    proc = lab.on(host, "python3", "-c", script, path, content or "", str(size if size is not None else -1))
    assert proc.returncode == 0, proc.stderr


@contextlib.contextmanager
def on_host(lab, host, setup, cleanup):
    """Run SETUP (argv lists) inside HOST, then CLEANUP whatever happens."""
    try:
        for argv in setup:
            proc = lab.on(host, *argv)
            assert proc.returncode == 0, (argv, proc.stderr)
        yield
    finally:
        for argv in cleanup:
            lab.on(host, *argv)


@contextlib.contextmanager
def record_on(lab, host, content=None, path=RECORD, size=None):
    """A record at PATH on HOST for the test's duration (its directory too)."""
    try:
        write_file(lab, host, path, content, size)
        yield
    finally:
        lab.on(host, "rm", "-f", path)
        lab.on(host, "rmdir", os.path.dirname(path))


@contextlib.contextmanager
def forged(lab, host, subnet):
    """HOST's record claims SUBNET for the test's duration; then its own text is back."""
    text = lab.on(host, "cat", RECORD).stdout
    record = json.loads(text)
    try:
        write_file(lab, host, RECORD, json.dumps(dict(record, pod_subnet=subnet)))
        yield record
    finally:
        write_file(lab, host, RECORD, text)


# ---------------------------------------------------------------------------
# the pod network's own values


CASES = [
    ("subnet outside the cluster CIDR", host_var("host2", "hostgw_pod_subnet", "10.99.1.0/24"),
     "host2: hostgw_pod_subnet '10.99.1.0/24' is outside hostgw_cluster_cidr '192.168.0.0/16'"),
    ("overlapping subnets", host_var("host2", "hostgw_pod_subnet", "192.168.0.0/23"),
     "pod subnets overlap: host2 has '192.168.0.0/23' (hostgw_pod_subnet) and host1 has '192.168.0.0/24'"),
    ("host bits set", host_var("host1", "hostgw_pod_subnet", "192.168.0.1/24"),
     "host1: hostgw_pod_subnet '192.168.0.1/24' has host bits set; did you mean 192.168.0.0/24?"),
    ("not an address", host_var("host1", "hostgw_pod_subnet", "192.168.0.300/24"),
     "host1: hostgw_pod_subnet '192.168.0.300/24' is not an IPv4 network"),
    ("subnet too small for pods", host_var("host1", "hostgw_pod_subnet", "192.168.0.0/30"),
     "host1: hostgw_pod_subnet '192.168.0.0/30' is too small: a pod subnet needs at least /29"),
    ("invalid cluster CIDR", cluster_var("hostgw_cluster_cidr", "192.168.0.0/33"),
     "hostgw_cluster_cidr '192.168.0.0/33' is not an IPv4 network"),
    ("cluster CIDR overlapping the underlay", cluster_var("hostgw_cluster_cidr", "10.0.0.0/8"),
     "host1: hostgw_cluster_cidr '10.0.0.0/8' overlaps the underlay network 10.168.0.0/24 on eth0"),
    ("node IP not on the host", host_var("host3", "hostgw_node_ip", "10.168.0.77"),
     "host3: hostgw_node_ip '10.168.0.77' is not an address of this host (it has 10.168.0.3)"),
    ("invalid node IP", host_var("host3", "hostgw_node_ip", "10.168.0"),
     "host3: hostgw_node_ip '10.168.0' is not an IPv4 address"),
    ("missing interface", host_var("host2", "hostgw_interface", "ens9"),
     "host2: hostgw_interface 'ens9' does not exist (the host has eth0, lo)"),
    ("peer off the L2 segment", host_var("host3", "hostgw_interface", "lo"),
     "host3: peer host1's node IP 10.168.0.1 is not directly reachable on lo (connected: none); "
     "host-gw needs every node on one L2 segment"),
    ("MTU out of range", cluster_var("hostgw_bridge_mtu", 40),
     "hostgw_bridge_mtu 40 is out of range (0 = the underlay's MTU, else 68..65535)"),
    ("exhausted cluster CIDR", cluster_var("hostgw_cluster_cidr", "192.168.0.0/23"),
     "hostgw_cluster_cidr '192.168.0.0/23' has no free /24 left for host3 (3 hosts, 2 blocks of /24)"),
    ("subnet prefix out of range", cluster_var("hostgw_subnet_prefix", 31),
     "hostgw_subnet_prefix 31 must lie between the cluster CIDR's /16 and /29 (the smallest pod subnet)"),
    ("subnet prefix leaving pods no address", cluster_var("hostgw_subnet_prefix", 30),
     "hostgw_subnet_prefix 30 must lie between the cluster CIDR's /16 and /29 (the smallest pod subnet)"),
]


@pytest.mark.parametrize("change,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_with_one_message_and_changes_no_host(lab, change, message):
    refused(lab, _with(lab, change), message)


# ---------------------------------------------------------------------------
# every setting the roles use, with the rules the modules apply


def bad(key, value, message, ident=None):
    return pytest.param(cluster_var(key, value), message, id=ident or "%s=%r" % (key, value))


SETTINGS = [
    bad("hostgw_bridge", "cni0\n", "hostgw_bridge 'cni0\\n' must not contain whitespace"),
    bad("hostgw_bridge", "br#0", "hostgw_bridge 'br#0' must not contain '#' (ip -batch cannot carry it)"),
    bad("hostgw_route_protocol", "hostgw\nflush",
        "hostgw_route_protocol 'hostgw\\nflush' must be a name of letters, digits, '_', '.', '-' starting with "
        "a letter (at most 32 characters)"),
    bad("hostgw_route_protocol", "static",
        "hostgw_route_protocol 'static' is the well-known protocol number 4; pick a name of your own"),
    bad("hostgw_netfilter_name", "podnet_hostgw\n",
        "hostgw_netfilter_name 'podnet_hostgw\\n' must be lower-case letters, digits and '_', starting with a "
        "letter"),
    bad("hostgw_netfilter_backend", "pf", "hostgw_netfilter_backend 'pf' must be one of auto, nftables, iptables"),
    bad("hostgw_record_path", "etc/podnet/hostgw.json",
        "hostgw_record_path 'etc/podnet/hostgw.json' is not an absolute path"),
    bad("hostgw_sysctl_file", "/etc/sysctl.d/../60-podnet.conf",
        "hostgw_sysctl_file '/etc/sysctl.d/../60-podnet.conf' is not a normalised path; did you mean "
        "/etc/60-podnet.conf?"),
    bad("hostgw_cni_conf_dir", "/etc/cni/net.d\n", "hostgw_cni_conf_dir '/etc/cni/net.d\\n' must not contain "
                                                   "control characters"),
    bad("hostgw_flannel_subnet_env_path", "run/flannel/subnet.env",
        "hostgw_flannel_subnet_env_path 'run/flannel/subnet.env' is not an absolute path"),
    bad("hostgw_cni_conf_file", "../10-podnet.conflist",
        "hostgw_cni_conf_file '../10-podnet.conflist' is not a plain file name (no '/', not '.' or '..')"),
    bad("hostgw_cni_conf_file", "10-podnet.json",
        "hostgw_cni_conf_file '10-podnet.json' must end in .conflist (the file is a CNI configuration list)"),
    bad("hostgw_cni_network_name", "pod net", "hostgw_cni_network_name 'pod net' must be letters, digits, '_', "
                                              "'.' and '-', starting with a letter or digit"),
    bad("hostgw_cni_version", "2.0.0", "hostgw_cni_version '2.0.0' must be one of 0.3.0, 0.3.1, 0.4.0, 1.0.0, "
                                       "1.1.0"),
] + [bad(key, "maybe", "%s 'maybe' is not a boolean (true or false)" % key)
     for key in ("hostgw_masquerade", "hostgw_route_purge", "hostgw_route_nexthop_objects",
                 "hostgw_route_takeover", "hostgw_local_fact", "hostgw_cni_default_route", "hostgw_cni_hairpin",
                 "hostgw_cni_portmap", "hostgw_flannel_subnet_env")] + [
    pytest.param(host_var("host2", "hostgw_interface", "eth#0"),
                 "host2: hostgw_interface 'eth#0' must not contain '#' (ip -batch cannot carry it)",
                 id="hostgw_interface='eth#0'"),
]


@pytest.mark.parametrize("change,message", SETTINGS)
def test_every_setting_is_checked_before_any_change(lab, change, message):
    refused(lab, _with(lab, change), message)


SYSCTL_CONF = ("hostgw_sysctl_file '/etc/sysctl.conf' is not the collection's (no '# Managed by podnet.hostgw' "
               "line at its top): point hostgw_sysctl_file at a file of its own")


def test_a_system_sysctl_file_is_never_taken(lab):
    with on_host(lab, "host2", [["test", "-f", "/etc/sysctl.conf"]], []):
        out = refused(lab, _with(lab, cluster_var("hostgw_sysctl_file", "/etc/sysctl.conf")),
                      "host2: " + SYSCTL_CONF)
    assert "host1: " + SYSCTL_CONF in out and "host3: " + SYSCTL_CONF in out


TAKEOVER = ("host1: route '192.168.1.0/24 via 10.168.0.3 dev eth0 proto static' has the identity of the peer "
            "route to host2 ('192.168.1.0/24 via 10.168.0.2 dev eth0'): remove it, or set "
            "hostgw_route_takeover: true to replace it")


def test_a_takeover_conflict_stops_the_run_before_any_change(lab):
    route = ["192.168.1.0/24", "via", "10.168.0.3", "dev", "eth0", "proto", "static"]
    with on_host(lab, "host1", [["ip", "route", "add"] + route], [["ip", "route", "del"] + route]):
        refused(lab, lab.good_path, TAKEOVER)


# ---------------------------------------------------------------------------
# a record is checked like an explicit value, and read safely


RESET = "reset host3 (playbooks/reset.yml --limit host3)"


@pytest.mark.parametrize("subnet,message", [
    ("192.168.2.0/32", "host3: recorded pod subnet '192.168.2.0/32' is too small: a pod subnet needs at least /29"),
    ("192.168.2.0/31", "host3: recorded pod subnet '192.168.2.0/31' is too small: a pod subnet needs at least /29"),
    ("192.168.2.0/30", "host3: recorded pod subnet '192.168.2.0/30' is too small: a pod subnet needs at least /29"),
    ("192.168.128.0/17", "host3: recorded pod subnet '192.168.128.0/17' is a /17, not a /24 (hostgw_subnet_prefix): "
                         "to keep it, set hostgw_pod_subnet: 192.168.128.0/17 for host3; to get a /24 instead, "
                         + RESET),
])
def test_a_recorded_subnet_gets_the_checks_of_an_explicit_one(lab, subnet, message):
    with record_on(lab, "host3", json.dumps({"pod_subnet": subnet})):
        out = refused(lab, lab.good_path, message)
    assert RESET in out and "hostgw_record_path '/etc/podnet/hostgw.json'" in out


def test_a_fifo_record_is_refused_without_blocking(lab):
    with on_host(lab, "host3", [["mkdir", "-p", "/etc/podnet"], ["mkfifo", RECORD]],
                 [["rm", "-f", RECORD], ["rmdir", "/etc/podnet"]]):
        refused(lab, lab.good_path,
                "host3: hostgw_record_path '/etc/podnet/hostgw.json' is a FIFO, not a regular file")


def test_a_huge_record_is_refused_and_not_shipped(lab):
    with record_on(lab, "host3", size=50 * 1024 * 1024):
        out = refused(lab, lab.good_path,
                      "host3: hostgw_record_path '/etc/podnet/hostgw.json' is larger than 4096 bytes")
    assert len(out) < 1024 * 1024


@pytest.mark.parametrize("content,problem", [
    ("[]", "does not hold a JSON object"),
    ("{not json", "is not valid JSON"),
])
def test_a_record_that_is_no_json_object_is_refused_at_the_configured_path(lab, content, problem):
    path = "/var/lib/podnet/assignment.json"
    with record_on(lab, "host3", content, path):
        refused(lab, _with(lab, cluster_var("hostgw_record_path", path)),
                "host3: hostgw_record_path '%s' %s" % (path, problem))


# ---------------------------------------------------------------------------
# the lab's own cases


def test_duplicate_node_ips(lab):
    # Give host3 host1's underlay address too: both really hold it.
    with on_host(lab, "host3", [["ip", "addr", "add", "10.168.0.1/32", "dev", "lo"]],
                 [["ip", "addr", "del", "10.168.0.1/32", "dev", "lo"]]):
        refused(lab, _with(lab, host_var("host3", "hostgw_node_ip", "10.168.0.1")),
                "duplicate node IP '10.168.0.1': host1, host3")


def test_pod_subnet_overlapping_an_underlay_network(lab):
    # host2 has another link in host1's pod subnet (a leftover docker-style network).
    with on_host(lab, "host2", [["ip", "link", "add", "extra0", "type", "veth", "peer", "name", "extra1"],
                                ["ip", "addr", "add", "192.168.0.77/24", "dev", "extra0"]],
                 [["ip", "link", "del", "extra0"]]):
        refused(lab, lab.good_path,
                "host2: pod subnet '192.168.0.0/24' of host1 overlaps the underlay network 192.168.0.0/24 on extra0")


def test_zz_good_input_changes_hosts_keeps_foreign_routes_and_takes_over_when_told(lab):
    """The control: the same snapshot does see a real run's changes, a
    route of another owner inside the cluster CIDR is left alone, and with
    hostgw_route_takeover a foreign route in the place of a peer route is
    replaced."""
    assert lab.on("host1", "ip", "route", "add", "192.168.50.0/24", "via", "10.168.0.254",
                  "proto", "static").returncode == 0
    assert lab.on("host1", "ip", "route", "add", "192.168.1.0/24", "via", "10.168.0.3", "dev", "eth0",
                  "proto", "static").returncode == 0
    before = lab.snapshot()
    proc = lab.site(lab.good_path, "-e", "hostgw_route_takeover=true", timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:]
    after = lab.snapshot()
    assert after != before
    assert "192.168.1.0/24 via 10.168.0.2 dev eth0 proto hostgw" in after["host1"]["routes4"]
    assert "192.168.1.0/24 via 10.168.0.3" not in after["host1"]["routes4"]
    assert "192.168.50.0/24 via 10.168.0.254 dev eth0 proto static" in after["host1"]["routes4"]
    # host3 was allocated the lowest free block and recorded it.
    assert "192.168.2.0/24 via 10.168.0.3 dev eth0 proto hostgw" in after["host1"]["routes4"]
    again = lab.site(lab.good_path, "--check", "--diff", timeout=TIMEOUT)
    assert again.returncode == 0
    assert "changed=0" in again.stdout and "changed=1" not in again.stdout


# ---------------------------------------------------------------------------
# on a converged lab


CONVERGED = [
    bad("hostgw_bridge", "cni0\n", "hostgw_bridge 'cni0\\n' must not contain whitespace"),
    bad("hostgw_bridge", "br#0", "hostgw_bridge 'br#0' must not contain '#' (ip -batch cannot carry it)"),
    bad("hostgw_route_protocol", "hostgw\nflush", "hostgw_route_protocol 'hostgw\\nflush' must be a name of "
                                                  "letters, digits"),
    bad("hostgw_netfilter_name", "podnet_hostgw\n", "hostgw_netfilter_name 'podnet_hostgw\\n' must be "
                                                    "lower-case letters"),
    bad("hostgw_sysctl_file", "/etc/sysctl.conf", "host1: " + SYSCTL_CONF),
    bad("hostgw_record_path", "/etc/podnet/../hostgw.json", "hostgw_record_path '/etc/podnet/../hostgw.json' is "
                                                            "not a normalised path; did you mean /etc/hostgw.json?"),
    bad("hostgw_sysctl_file", "sysctl.d/60-podnet-hostgw.conf", "hostgw_sysctl_file "
                                                                "'sysctl.d/60-podnet-hostgw.conf' is not an absolute "
                                                                "path"),
    bad("hostgw_cni_conf_dir", "/etc/cni/net.d/", "hostgw_cni_conf_dir '/etc/cni/net.d/' is not a normalised path; "
                                                  "did you mean /etc/cni/net.d?"),
    bad("hostgw_flannel_subnet_env_path", "/run/flannel/subnet.env\n",
        "hostgw_flannel_subnet_env_path '/run/flannel/subnet.env\\n' must not contain control characters"),
    bad("hostgw_cni_conf_file", "10-podnet.conflist\n", "hostgw_cni_conf_file '10-podnet.conflist\\n' must not "
                                                        "contain control characters"),
]


@pytest.mark.parametrize("change,message", CONVERGED)
def test_a_bad_setting_changes_nothing_on_a_converged_lab(converged, change, message):
    refused(converged, _with(converged, change), message)


def test_a_takeover_conflict_changes_nothing_on_a_converged_lab(converged):
    route = ["192.168.1.0/24", "via", "10.168.0.3", "dev", "eth0", "proto", "static"]
    with on_host(converged, "host1", [["ip", "route", "append"] + route], [["ip", "route", "del"] + route]):
        refused(converged, converged.good_path, TAKEOVER)


HIJACK = ("host2: pod subnet '192.168.2.0/24' (recorded in '/etc/podnet/hostgw.json') is routed by host1 to host3 "
          "(192.168.2.0/24 via 10.168.0.3 proto hostgw), which could not be read this run")


def _host2_by_record(lab):
    """The good inventory with host2's subnet coming from its record only."""
    return _with(lab, host_var("host2", "hostgw_pod_subnet", None))


def test_a_forged_record_cannot_divert_an_unread_hosts_traffic(converged):
    """Issue 7, item 1: host2's record claims host3's subnet; host3 is outside --limit."""
    inv = _host2_by_record(converged)
    assert set(recap(converged.site(inv, timeout=TIMEOUT)).values()) == {0}  # its record says the same
    with forged(converged, "host2", "192.168.2.0/24") as record:
        assert record["pod_subnet"] == "192.168.1.0/24"
        out = refused(converged, inv, HIJACK, "--limit", "host1,host2")
    assert "a host never takes a subnet its peers route to another node" in out
    assert "192.168.2.0/24 via 10.168.0.3 dev eth0 proto hostgw" in converged.on("host1", "ip", "route").stdout


def test_a_forged_record_cannot_divert_an_unreachable_hosts_traffic(converged, tmp_path):
    """The same with host3 unreachable, in a play of the roles without
    any_errors_fatal (site.yml's any_errors_fatal ends the play at the first
    unreachable host)."""
    play = tmp_path / "roles.yml"
    play.write_text(yaml.safe_dump([{
        "name": "The roles, without any_errors_fatal", "hosts": "hostgw_nodes", "gather_facts": False,
        "roles": ["podnet.hostgw.%s" % r for r in ("preflight", "record", "bridge", "forwarding", "routes", "cni")],
    }]))
    inv = _host2_by_record(converged)
    nodes(inv)["hosts"]["host3"]["ansible_nsenter_pid_file"] = "/nonexistent/host3.pid"
    with forged(converged, "host2", "192.168.2.0/24"):
        out = refused(converged, inv, HIJACK, playbook=str(play))
    assert "UNREACHABLE" in out
    assert set(recap(converged.site(converged.good_path, timeout=TIMEOUT)).values()) == {0}

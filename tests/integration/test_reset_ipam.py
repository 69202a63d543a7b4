"""reset.yml and host-local IPAM's state (/var/lib/cni/networks/podnet).

Containers attached through the collection's conflist lease their addresses
there. Once they are deleted (CNI DEL), reset removes the directory; while a
container still holds an address, reset keeps it and warns, naming the files
and the container."""

import os
import uuid

import pytest

from tests.integration.labkit import Lab, base_inventory, nodes, recap, warnings

pytestmark = pytest.mark.integration

IPAM = "/var/lib/cni/networks/podnet"
RESET = ("-e", "hostgw_reset_confirmed=true")


@pytest.fixture
def lab(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    name = "hgwip%s" % uuid.uuid4().hex[:4]
    inv = base_inventory(name)
    hosts = nodes(inv)["hosts"]
    hosts["host1"]["hostgw_lab_containers"] = {"c1a": "192.168.0.2", "c1b": None}
    hosts["host2"]["hostgw_lab_containers"] = {"c2a": "192.168.1.2"}
    the_lab = Lab(name, str(tmp_path), inventory=inv)
    the_lab.up()
    try:
        recap(the_lab.site(the_lab.good_path))
        the_lab.cli("attach")
        yield the_lab
    finally:
        the_lab.down()


def entries(lab, host, path=IPAM):
    """The entries of PATH on HOST, or None when it does not exist."""
    proc = lab.on(host, "ls", "-A", path)
    return sorted(proc.stdout.split()) if proc.returncode == 0 else None


def test_reset_removes_ipam_state_no_container_uses_and_keeps_the_rest(lab):
    assert "192.168.0.2" in entries(lab, "host1") and len(entries(lab, "host1")) == 4  # 2 leases, bookkeeping
    assert entries(lab, "host2") == ["192.168.1.2", "last_reserved_ip.0", "lock"]
    assert lab.state()["containers"]["c1a"]["attached_by"] == "cni"

    lab.cli("detach", "c1a", "c1b")  # host1's containers are deleted; host2's stays
    assert entries(lab, "host1") == ["last_reserved_ip.0", "lock"]

    predicted = recap(lab.site(lab.good_path, "--check", *RESET, playbook="playbooks/reset.yml"))
    assert entries(lab, "host1") == ["last_reserved_ip.0", "lock"]
    proc = lab.site(lab.good_path, *RESET, playbook="playbooks/reset.yml")
    assert recap(proc) == predicted
    assert entries(lab, "host1") is None
    assert entries(lab, "host1", os.path.dirname(IPAM)) == []  # host-local's data directory stays
    assert entries(lab, "host2") == ["192.168.1.2", "last_reserved_ip.0", "lock"]
    kept = [w for w in warnings(proc) if IPAM in w]
    assert len(kept) == 1, warnings(proc)
    assert "addresses still leased: 192.168.1.2 (container podnet-lab-%s-c2a)" % lab.lab in kept[0]

    lab.cli("detach")
    proc = lab.site(lab.good_path, *RESET, playbook="playbooks/reset.yml")
    assert recap(proc) == {"host1": 0, "host2": 1, "host3": 0}
    assert entries(lab, "host2") is None
    assert not [w for w in warnings(proc) if IPAM in w]

"""render.yml draws the lab after verify.yml: the SVG and the Mermaid block
name every host and subnet, and colour each route by what verify.yml saw,
green on a healthy lab, red for a pair broken behind the collection's back."""

import json
import os
import re
import uuid
import xml.etree.ElementTree as ET

import pytest

from tests.integration.labkit import Lab, recap

pytestmark = pytest.mark.integration

SVG = "{http://www.w3.org/2000/svg}"
GREEN = "#2e7d32"
RED = "#c62828"
HOSTS = {"host1": ("10.168.0.1", "192.168.0.0/24"), "host2": ("10.168.0.2", "192.168.1.0/24"),
         "host3": ("10.168.0.3", "192.168.2.0/24")}


@pytest.fixture
def lab(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    the_lab = Lab("hgwtp%s" % uuid.uuid4().hex[:4], str(tmp_path))
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


def routes_drawn(root):
    return dict(((el.get("data-from"), el.get("data-to")), el.get("stroke"))
                for el in root.iter(SVG + "path") if el.get("class") == "route")


def test_render_after_verify_draws_every_host_and_colours_routes_by_reachability(lab, tmp_path):
    out = tmp_path / "render"
    where = ("-e", "hostgw_render_dir=%s" % out)
    recap(lab.site(lab.good_path))
    verify = lab.site(lab.good_path, *where, playbook="playbooks/verify.yml")
    assert verify.returncode == 0, verify.stdout[-3000:]
    assert set(recap(verify).values()) == {0}
    results = json.loads((out / "verify.json").read_text())
    assert sorted((p["from"], p["to"], p["family"], p["reached"]) for p in results["pings"]) == sorted(
        (a, b, 4, True) for a in HOSTS for b in HOSTS if a != b)

    render = lab.site(lab.good_path, *where, playbook="playbooks/render.yml")
    assert render.returncode == 0, render.stdout[-3000:]
    root = ET.fromstring((out / "topology.svg").read_bytes())
    shown = " ".join("".join(el.itertext()) for el in root.iter(SVG + "text"))
    for name, (ip, subnet) in HOSTS.items():
        assert name in shown and ip in shown and subnet in shown
    assert routes_drawn(root) == dict(((a, b), GREEN) for a in HOSTS for b in HOSTS if a != b)

    md = (out / "topology.md").read_text()
    chart = re.search(r"^```mermaid\n(.*?)^```$", md, re.S | re.M).group(1)
    for name, (ip, subnet) in HOSTS.items():
        assert re.search(r'^h\d\["%s<br/>eth0 %s<br/>cni0 %s gw ' % (name, ip, subnet), chart, re.M)
    assert len(re.findall(r'^h\d -->\|"\u2713 192\.168\.\d\.0/24 via 10\.168\.0\.\d"\| h\d$', chart, re.M)) == 6
    assert "linkStyle 0,1,2,3,4,5 stroke:%s" % GREEN in chart

    # Break host3's way to host1's pods: verify fails, and still records why.
    assert lab.on("host3", "ip", "route", "del", "192.168.0.0/24").returncode == 0
    assert lab.site(lab.good_path, *where, playbook="playbooks/verify.yml").returncode != 0
    render = lab.site(lab.good_path, *where, playbook="playbooks/render.yml")
    assert render.returncode == 0, render.stdout[-3000:]
    drawn = routes_drawn(ET.fromstring((out / "topology.svg").read_bytes()))
    # A ping needs both ways: host1's pings to host3 lose their replies too.
    assert sorted(k for k, colour in drawn.items() if colour == RED) == [("host1", "host3"), ("host3", "host1")]
    assert sorted(k for k, colour in drawn.items() if colour == GREEN) == [
        ("host1", "host2"), ("host2", "host1"), ("host2", "host3"), ("host3", "host2")]

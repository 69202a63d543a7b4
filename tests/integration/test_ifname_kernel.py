"""The collection's one interface-name rule (names.ifname_problem) against the
kernel itself: every name the rule accepts, the kernel accepts; every name the
kernel refuses, the rule refuses; and where the rule is stricter than the
kernel, it is for exactly the documented reasons (control characters, and
what ip -batch cannot carry)."""

import subprocess

import pytest

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import names

pytestmark = pytest.mark.integration

STRICTER = ("must not contain control characters", "(ip -batch cannot carry it)")


def candidates():
    out = ["a", "x" * 15, "x" * 16, "\u00e9" * 7, "\u00e9" * 8, ".", "..", "...", "-", "a.",
           "\u00e0", "\u00e9th0", "caf\u00e9", "\u2028", "\u00a0x"]
    # every ASCII byte but NUL (an argv cannot carry it) between two letters
    out += ["a%sb" % chr(c) for c in range(1, 128)]
    # every Latin-1 character (two UTF-8 bytes, the second 0x80..0xbf)
    out += ["a%sb" % chr(c) for c in range(0x80, 0x100)]
    return out


def kernel_accepts(ns, name):
    raw = name.encode("utf-8")
    proc = subprocess.run([b"ip", b"-n", ns.encode(), b"link", b"add", b"name", raw, b"type", b"bridge"],
                          check=False, capture_output=True)
    if proc.returncode == 0:
        subprocess.run([b"ip", b"-n", ns.encode(), b"link", b"del", b"dev", raw], check=True)
    return proc.returncode == 0


def test_the_rule_agrees_with_the_kernel(netns):
    disagreements = []
    for name in candidates():
        ours = names.ifname_problem(name)
        kernel = kernel_accepts(netns.name, name)
        if ours is None and not kernel:
            disagreements.append("%r: accepted by the rule, refused by the kernel" % name)
        elif ours is not None and kernel and not any(s in ours for s in STRICTER):
            disagreements.append("%r: refused by the rule (%s), accepted by the kernel" % (name, ours))
    assert disagreements == [], "\n".join(disagreements)


def test_the_rule_is_stricter_only_where_documented(netns):
    assert kernel_accepts(netns.name, "br#0") and names.ifname_problem("br#0")
    assert kernel_accepts(netns.name, "br\x01") and names.ifname_problem("br\x01")
    assert not kernel_accepts(netns.name, "\u00e0") and names.ifname_problem("\u00e0")
    assert not kernel_accepts(netns.name, "eth0:1") and names.ifname_problem("eth0:1")

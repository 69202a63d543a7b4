"""The day-2 pinger measures loss: requests dropped while its block runs are
counted as lost, and none is when every one is answered (pings to the
loopback address inside a fresh network namespace; nftables drops them)."""

import time

import pytest

from tests.integration.conftest import ns_run
from tests.integration.day2kit import Pinger

pytestmark = pytest.mark.integration

DROP = """table ip hgwt_drop {
    chain input {
        type filter hook input priority 0; policy accept;
        icmp type echo-request drop
    }
}
"""


def test_requests_dropped_during_the_block_are_lost(netns):
    with Pinger(netns.name, "127.0.0.1") as pinger:
        time.sleep(1)
        ns_run(netns.name, ["nft", "-f", "-"], data=DROP)
        time.sleep(1.5)
        ns_run(netns.name, ["nft", "delete", "table", "ip", "hgwt_drop"])
        time.sleep(1)
    stats = pinger.stats
    assert len(stats.lost) >= 4, stats
    assert stats.received == stats.transmitted - len(stats.lost), stats
    assert stats.during >= 10, stats


def test_nothing_is_lost_when_every_request_is_answered(netns):
    with Pinger(netns.name, "127.0.0.1") as pinger:
        time.sleep(2)
    stats = pinger.stats
    assert stats.lost == [] and stats.received == stats.transmitted, stats
    assert stats.during >= 5, stats

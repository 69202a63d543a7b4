"""The watcher's timing: a burst of events ends QUIET seconds after its last
event, at most AT_MOST seconds after its first; one run per burst; it ends
when ip monitor ends."""

import os
import threading
import time

from ansible_collections.podnet.hostgw.plugins.module_utils._hostgw import watch


class Clock(object):
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_burst_ends_when_quiet_or_at_the_latest_after_at_most():
    clock = Clock()
    d = watch.Debounce(0.2, 1.0, clock=clock)
    assert d.timeout() is None and not d.take()
    d.event()
    assert abs(d.timeout() - 0.2) < 1e-9 and not d.take()
    for _event in range(9):                      # an event every 0.15 s keeps it going...
        clock.now += 0.15
        d.event()
    assert d.take(), "...but not past AT_MOST after the first"
    assert d.timeout() is None
    d.event()
    clock.now += 0.19
    assert not d.take()
    clock.now += 0.02
    assert d.take()


def test_one_run_per_burst_and_the_end_of_ip_monitor_ends_the_watch():
    read, write = os.pipe()
    runs = []

    def feed():
        os.write(write, b"1: eth0: <BROADCAST> mtu 1500 state DOWN\n2: route del\n")
        time.sleep(0.5)
        os.write(write, b"3: eth0: <UP,LOWER_UP> state UP\n")
        time.sleep(0.5)
        os.close(write)

    feeder = threading.Thread(target=feed)
    feeder.start()
    with os.fdopen(read, "rb") as monitor:
        watch.watch(monitor, lambda: runs.append(time.monotonic()), watch.Debounce(0.1, 1.0), lambda: False)
    feeder.join()
    assert len(runs) == 2

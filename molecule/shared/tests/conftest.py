"""Verifier fixtures: the lab's hosts through the podnet-lab testinfra backend.

``host`` is parametrised over every lab host by testinfra itself
(``--connection=podnet-lab --hosts=all``); ``lab`` is the lab's recorded
state (hosts with node IPs and pod subnets, attached containers).
"""

import pytest
import testinfra

import testinfra_lab  # noqa: F401  registers the podnet-lab connection


@pytest.fixture(scope="session")
def lab():
    return testinfra_lab.lab_state()


@pytest.fixture(scope="session")
def lab_host():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = testinfra.get_host("%s://%s" % (testinfra_lab.NAME, name))
        return cache[name]

    return get

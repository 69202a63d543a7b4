"""Verifier fixtures: lab hosts through the podnet-lab testinfra backend.

``host`` is parametrised over every lab host by testinfra itself
(``--connection=podnet-lab --hosts=all``).
"""

# The lab fixture, imported for pytest to find here.
from testinfra_lab import lab  # noqa: F401  pylint: disable=unused-import

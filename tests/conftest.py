"""Make ``ansible_collections.podnet.hostgw`` and the lab's helpers importable from the checkout."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, "collections")
LAB = os.path.join(REPO, "lab")
for path in (COLLECTIONS, LAB):
    if path not in sys.path:
        sys.path.insert(0, path)

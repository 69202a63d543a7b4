"""Make ``ansible_collections.podnet.hostgw`` and the lab's helpers importable from the checkout."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collections_root(repo):
    """The directory holding ansible_collections/podnet/hostgw: the checkout's
    collections/ (a symlink back to the checkout), or the directory above the
    checkout when it is itself that tree (ansible-test runs on such a copy)."""
    root, *layout = repo.rsplit(os.sep, 3)
    if layout == ["ansible_collections", "podnet", "hostgw"]:
        return root
    return os.path.join(repo, "collections")


COLLECTIONS = _collections_root(REPO)
LAB = os.path.join(REPO, "lab")
for path in (COLLECTIONS, LAB):
    if path not in sys.path:
        sys.path.insert(0, path)

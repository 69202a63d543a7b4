"""The cluster_plan action's batch logic: which hosts a play must read by
delegation, and when a later serial batch takes the plan an earlier batch of
the same play made (issue 11)."""

from unittest import mock

import pytest

from ansible_collections.podnet.hostgw.plugins.action import cluster_plan as action

GROUP = ["host1", "host2", "host3", "host4"]
PLAN = {"nodes": dict((h, {"name": h, "known": True}) for h in GROUP), "routes": [], "complete": True}


class HostVars(dict):
    def __getitem__(self, name):
        return self.get(name, {})


def make(play_id="play-1"):
    task = mock.MagicMock()
    task.get_play.return_value._uuid = play_id
    return action.ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader=None, templar=None,
                               shared_loader_obj=None)


def task_vars(batch, play=None, hostvars=None):
    return {"ansible_play_batch": list(batch), "ansible_play_hosts_all": list(GROUP if play is None else play),
            "hostvars": HostVars(hostvars or {})}


def test_one_batch_reads_nothing_by_delegation():
    assert make().prepare(GROUP, task_vars(GROUP), {}) == {"changed": False, "plan": None, "read": []}


def test_limit_reads_outside_the_play_only_with_read_group():
    limited = task_vars(["host4"], play=["host4"])
    assert make().prepare(GROUP, limited, {})["read"] == []
    assert make().prepare(GROUP, limited, {"read_group": True})["read"] == ["host1", "host2", "host3"]


def test_the_first_batch_reads_the_later_batches():
    assert make().prepare(GROUP, task_vars(["host1", "host2"]), {})["read"] == ["host3", "host4"]


def test_a_later_batch_takes_the_plan_of_an_earlier_batch_of_the_same_play():
    planned = dict(PLAN, play="play-1")
    earlier = {"host1": {"__hostgw_planned": {"plan": planned}}}
    got = make().prepare(GROUP, task_vars(["host3", "host4"], hostvars=earlier), {})
    assert got == {"changed": False, "plan": planned, "read": []}


def test_a_plan_of_another_play_is_never_taken():
    earlier = dict((h, {"__hostgw_planned": {"plan": dict(PLAN, play="play-0")}}) for h in GROUP)
    got = make("play-1").prepare(GROUP, task_vars(["host3", "host4"], hostvars=earlier), {})
    assert got["plan"] is None and got["read"] == ["host1", "host2"]


def test_a_plan_that_did_not_read_a_host_of_this_batch_is_made_again():
    unread = dict(PLAN, nodes=dict(PLAN["nodes"], host4={"name": "host4", "known": False}))
    earlier = {"host1": {"__hostgw_planned": {"plan": dict(unread, play="play-1")}}}
    got = make().prepare(GROUP, task_vars(["host3", "host4"], hostvars=earlier), {})
    assert got["plan"] is None and got["read"] == ["host1", "host2"]


def test_delegated_reads_by_item_and_failed_reads_are_problems():
    found, problems = action._read_by_delegation({"results": [
        {"item": "host3", "interfaces": {}, "changed": False},
        {"item": "host4", "unreachable": True, "msg": "nsenter: no PID"},
        {"item": "host5", "failed": True, "msg": "python3 not found"},
    ]})
    assert sorted(found) == ["host3", "host4", "host5"]
    assert action._info(found["host3"]) is not None and action._info(found["host4"]) is None
    assert problems == ["host5: reading the host (podnet.hostgw.node_info, delegated) failed: "
                        "'python3 not found'"]


@pytest.mark.parametrize("registered", [None, {"skipped": True, "results": []}, {"results": ["junk"]}])
def test_no_delegated_reads(registered):
    assert action._read_by_delegation(registered) == ({}, [])

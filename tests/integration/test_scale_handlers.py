"""The Scale task handlers under moto, fed the sample events in events/<function>/."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import load_event


@pytest.fixture(scope="module")
def env() -> Iterator[Any]:
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox() as running:
        yield running


def updates(env: Any) -> int:
    return sum(n for (service, op), n in env.state.calls.items() if (service, op) == ("eks", "UpdateNodegroupConfig"))


def test_plan_reads_and_guards_without_side_effects(env: Any) -> None:
    before = updates(env)
    ok, result = env.invoke("PlanScalingFunction", load_event("plan_scaling/nodegroup.json"))
    assert ok, result
    assert result["plan"]["current"] == 3
    assert result["plan"]["desired"] == 5
    assert result["decision"]["allowed"] is True
    assert result["proceed"] is True
    assert updates(env) == before


@pytest.mark.parametrize(
    ("mutate", "error_type"),
    [
        (lambda e: e["input"]["resource"].update(nodegroup="nope"), "InvalidRequest"),  # not in NodegroupNames
        (lambda e: e["input"]["resource"].update(cluster="sip-other"), "ResourceNotFound"),
        (lambda e: e["input"].update(desired=-3), "InvalidRequest"),
        (lambda e: e["input"].pop("requester"), "InvalidRequest"),
        (lambda e: e.update(input="scale it"), "InvalidRequest"),
        (lambda e: e.update(poll_seconds="soon"), "InvalidRequest"),
    ],
)
def test_plan_rejects_bad_input_with_a_named_error(env: Any, mutate: Any, error_type: str) -> None:
    event = copy.deepcopy(load_event("plan_scaling/nodegroup.json"))
    mutate(event)
    before = updates(env)
    ok, error = env.invoke("PlanScalingFunction", event)
    assert not ok
    assert error["errorType"] == error_type
    assert updates(env) == before


def test_task_sequence_is_idempotent_and_leaves_no_lease(env: Any) -> None:
    cluster = "sip-dev"
    ok, lease = env.invoke("AcquireLockFunction", load_event("acquire_lock/nodegroup.json"))
    assert ok, lease
    assert lease["owner"] == "scale/sample-scale-up"
    assert lease["key"] == "eks:nodegroup:sip-dev/general"
    # Re-acquiring one's own lease (a retried task) succeeds; another execution is refused.
    assert env.invoke("AcquireLockFunction", load_event("acquire_lock/nodegroup.json"))[0]
    other = copy.deepcopy(load_event("acquire_lock/nodegroup.json"))
    other["request"]["execution"] = "someone-else"
    ok, error = env.invoke("AcquireLockFunction", other)
    assert not ok
    assert error["errorType"] == "LockHeld"
    assert "sample-scale-up" in error["errorMessage"]

    before = updates(env)
    ok, change = env.invoke("ApplyScalingFunction", load_event("apply_scaling/nodegroup.json"))
    assert ok, change
    assert change["already_applied"] is False
    assert updates(env) == before + 1
    ok, again = env.invoke("ApplyScalingFunction", load_event("apply_scaling/nodegroup.json"))
    assert ok
    assert again["already_applied"] is True
    assert updates(env) == before + 1
    assert env.nodegroup("general")["scalingConfig"]["desiredSize"] == 5

    ok, progress = env.invoke("CheckScalingFunction", load_event("check_scaling/nodegroup.json"))
    assert ok, progress
    assert progress["state"] == "done"
    assert progress["observed"] == 5

    ok, released = env.invoke("ReleaseLockFunction", load_event("release_lock/nodegroup.json"))
    assert ok
    assert released == {"released": True}
    assert env.lock_items() == []
    assert env.invoke("ReleaseLockFunction", load_event("release_lock/nodegroup.json"))[1] == {"released": False}

    env.notifications()
    ok, outcome = env.invoke("RecordOutcomeFunction", load_event("record_outcome/nodegroup.json"))
    assert ok, outcome
    assert outcome["status"] == "Succeeded"
    notes = env.notifications()
    assert len(notes) == 1
    assert "Succeeded" in notes[0]["Subject"]
    assert any(a["execution"] == "sample-scale-up" for a in env.audit_items())
    assert cluster in notes[0]["Subject"]


def test_apply_refuses_a_stale_plan(env: Any) -> None:
    event = copy.deepcopy(load_event("apply_scaling/nodegroup.json"))
    event["plan"]["current"] = 2  # planned when the group was at 2; it is not any more
    event["plan"]["desired"] = 4
    ok, error = env.invoke("ApplyScalingFunction", event)
    assert not ok
    assert error["errorType"] == "PlanStale"

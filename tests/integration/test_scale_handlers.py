"""The Scale task handlers under moto, fed the sample events in events/<function>/."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import load_event

CHANGE, CHECK, RECORD = "ScaleChangeFunction", "CheckScalingFunction", "RecordOutcomeFunction"


@pytest.fixture
def env() -> Iterator[Any]:
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox() as running:
        yield running


def updates(env: Any) -> int:
    return env.state.calls[("eks", "UpdateNodegroupConfig")]


def desired(env: Any) -> int:
    return int(env.nodegroup("general")["scalingConfig"]["desiredSize"])


def test_plan_reads_and_guards_without_side_effects(env: Any) -> None:
    assert desired(env) == 3
    ok, result = env.invoke(CHANGE, load_event("change_scaling/plan.json"))
    assert ok, result
    assert (result["plan"]["current"], result["plan"]["desired"]) == (3, 5)
    assert result["plan"]["lease_key"] == "eks:nodegroup:sip-dev/general"
    assert result["decision"]["allowed"] is True
    assert result["proceed"] is True
    assert updates(env) == 0
    assert env.lock_items() == []


def test_plan_on_a_cluster_it_does_not_manage_is_refused_by_name(env: Any) -> None:
    """The function's role covers node groups of ClusterName only; Plan refuses another cluster by name
    first (MANAGED_CLUSTER), so the operator reads the mistake, not an AccessDenied, and IAM is not asked."""
    event = copy.deepcopy(load_event("change_scaling/plan.json"))
    event["input"]["resource"]["cluster"] = "sip-other"
    ok, error = env.invoke(CHANGE, event)
    assert not ok
    assert error["errorType"] == "InvalidRequest" and "'sip-dev'" in error["errorMessage"], error
    assert env.denials() == []


@pytest.mark.parametrize(
    ("mutate", "error_type"),
    [
        (lambda e: e["input"]["resource"].update(nodegroup="nope"), "InvalidRequest"),  # not in NodegroupNames
        (lambda e: e["input"].update(desired=-3), "InvalidRequest"),
        (lambda e: e["input"].pop("requester"), "InvalidRequest"),
        (lambda e: e.update(input="scale it"), "InvalidRequest"),
        (lambda e: e.update(poll_seconds="soon"), "InvalidRequest"),
        (lambda e: e.update(poll_seconds=0), "InvalidRequest"),
        (lambda e: e.update(execution="x" * 81), "InvalidRequest"),
        (lambda e: e.update(task="destroy"), "InvalidRequest"),
        (lambda e: e.pop("task"), "InvalidRequest"),
    ],
)
def test_change_function_rejects_bad_input_with_a_named_error(env: Any, mutate: Any, error_type: str) -> None:
    event = copy.deepcopy(load_event("change_scaling/plan.json"))
    mutate(event)
    ok, error = env.invoke(CHANGE, event)
    assert not ok
    assert error["errorType"] == error_type
    assert updates(env) == 0


def check_event(change: dict[str, Any]) -> dict[str, Any]:
    """The sample Check event with the change this environment's Apply made (its EKS update id)."""
    event = copy.deepcopy(load_event("check_scaling/check.json"))
    event["state"]["change"] = change
    return event


def test_task_sequence_is_idempotent_and_leaves_no_lease(env: Any) -> None:
    ok, lease = env.invoke(CHANGE, load_event("change_scaling/lock.json"))
    assert ok, lease
    assert lease["owner"] == "scale/sample-scale-up"
    assert lease["key"] == "eks:nodegroup:sip-dev/general"
    # Re-acquiring one's own lease (a retried task) succeeds; another execution is refused.
    assert env.invoke(CHANGE, load_event("change_scaling/lock.json"))[0]
    other = copy.deepcopy(load_event("change_scaling/lock.json"))
    other["state"]["request"]["execution"] = "someone-else"
    ok, error = env.invoke(CHANGE, other)
    assert not ok
    assert error["errorType"] == "LockHeld"
    assert "scale/sample-scale-up" in error["errorMessage"]

    assert env.invoke(CHANGE, load_event("change_scaling/prepare.json")) == (True, {"wait_seconds": 0, "details": {}})
    ok, change = env.invoke(CHANGE, load_event("change_scaling/apply.json"))
    assert ok, change
    assert change["already_applied"] is False
    assert updates(env) == 1
    ok, again = env.invoke(CHANGE, load_event("change_scaling/apply.json"))
    assert ok
    # A retried apply finds the group at the target under its own intent: its own change, not another's.
    assert again["already_applied"] is True and again["applied_by_other"] is False
    assert updates(env) == 1
    assert desired(env) == 5

    ok, progress = env.invoke(CHECK, check_event(change))
    assert ok, progress
    assert (progress["state"], progress["observed"]) == ("done", 5)
    assert env.invoke(CHANGE, load_event("change_scaling/finalize.json")) == (True, {})

    env.notifications()
    ok, outcome = env.invoke(RECORD, load_event("record_outcome/nodegroup.json"))
    assert ok, outcome
    assert outcome["status"] == "Succeeded"
    notes = env.notifications()
    assert len(notes) == 1 and "Succeeded" in notes[0]["Subject"] and "sip-dev" in notes[0]["Subject"]
    # A retried record writes the same audit item (keyed by the execution's start), not a second one.
    assert env.invoke(RECORD, load_event("record_outcome/nodegroup.json"))[0]
    assert [a["execution"] for a in env.audit_items()].count("sample-scale-up") == 1


def test_apply_refuses_a_stale_plan(env: Any) -> None:
    assert env.invoke(CHANGE, load_event("change_scaling/lock.json"))[0]
    event = copy.deepcopy(load_event("change_scaling/apply.json"))
    event["state"]["plan"]["current"] = 2  # planned when the group was at 2; it is not any more
    event["state"]["plan"]["desired"] = 4
    ok, error = env.invoke(CHANGE, event)
    assert not ok
    assert error["errorType"] == "PlanStale"
    assert updates(env) == 0


def test_apply_without_the_lease_changes_nothing(env: Any) -> None:
    """The intent is written under the lease or not at all: a lost lease stops the change before AWS."""
    ok, error = env.invoke(CHANGE, load_event("change_scaling/apply.json"))
    assert not ok
    assert error["errorType"] == "LeaseLost"
    assert updates(env) == 0 and desired(env) == 3


def test_check_renews_the_lease_and_stops_when_it_is_lost(env: Any) -> None:
    assert env.invoke(CHANGE, load_event("change_scaling/lock.json"))[0]
    ok, change = env.invoke(CHANGE, load_event("change_scaling/apply.json"))
    assert ok, change
    before = env.lock_items()[0]["expires_at"]["N"]
    env.advance_clock(120)
    assert env.invoke(CHECK, check_event(change))[0]
    renewed = int(env.lock_items()[0]["expires_at"]["N"])
    assert int(before) + 120 <= renewed <= int(before) + 130  # the clock moved 120 s (and a little real time)
    env.advance_clock(3601)  # past the lease: another execution may have it now
    ok, error = env.invoke(CHECK, check_event(change))
    assert not ok and error["errorType"] == "LeaseLost"


def test_observe_reports_where_the_resource_is_and_whether_the_intent_was_written(env: Any) -> None:
    ok, seen = env.invoke(CHECK, load_event("check_scaling/observe.json"))
    assert ok, seen
    assert seen == {"observed": 3, "status": "ACTIVE", "intent_recorded": False, "detail": ""}
    assert env.invoke(CHANGE, load_event("change_scaling/lock.json"))[0]
    assert env.invoke(CHANGE, load_event("change_scaling/apply.json"))[0]
    ok, seen = env.invoke(CHECK, load_event("check_scaling/observe.json"))
    assert ok and seen["observed"] == 5 and seen["intent_recorded"] is True

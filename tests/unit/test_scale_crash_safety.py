"""Crash safety of the Scale steps: intent before the AWS call, ownership under the lease, honest records.

A fake resource stands in for AWS so each crash window can be hit exactly: after the intent and
before the call, after the call and before its record, and a lease lost in between.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from controlplane import leases, scaling
from controlplane.config import load_policy
from controlplane.leases import InMemoryLeaseStore
from controlplane.models.errors import GuardRefused, LeaseLost, ResourceBusy, TransientAwsError
from controlplane.models.scale import ChangeRecord, ProgressState, ResourceState, ScalePlan, ScaleState, StepError
from controlplane.resources.nodegroup import NodegroupAdapter
from controlplane.store import InMemoryStateStore

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
POLICY = load_policy("dev")
REQUEST = {
    "resource": {"kind": "nodegroup", "cluster": "sip-dev", "nodegroup": "general"},
    "desired": 5,
    "reason": "crash-safety test",
    "requester": {"type": "person", "id": "tester"},
}


class FakeNodegroup(NodegroupAdapter):
    """A node group in memory; ``fail_after_call`` raises once the size has changed (the call's
    answer lost: a timeout, a crash, a throttled record)."""

    def __init__(self, size: int = 3) -> None:
        super().__init__(lambda service: None)
        self.size = size
        self.calls = 0
        self.fail_before_call: Exception | None = None
        self.fail_after_call: Exception | None = None

    def read(self, target: Any) -> ResourceState:
        return ResourceState(
            resource_id=target.resource_id,
            capacity=self.size,
            min_capacity=1,
            max_capacity=10,
            status="ACTIVE",
            ready=True,
        )

    def apply(self, target: Any, plan: ScalePlan, token: str) -> ChangeRecord:
        if self.fail_before_call is not None:
            raise self.fail_before_call
        self.calls += 1
        self.size = plan.desired
        if self.fail_after_call is not None:
            error, self.fail_after_call = self.fail_after_call, None
            raise error
        return ChangeRecord(token=token, applied_at=NOW)

    def progress(self, target: Any, plan: ScalePlan, change: ChangeRecord) -> tuple[ProgressState, int, str, str]:
        return ("done" if self.size == plan.desired else "in_progress"), self.size, "ACTIVE", ""


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeNodegroup, InMemoryStateStore, InMemoryLeaseStore]:
    adapter = FakeNodegroup()
    monkeypatch.setattr(scaling, "adapter_for", lambda kind: adapter)
    lease_store = InMemoryLeaseStore()
    return adapter, InMemoryStateStore(lease_store), lease_store


def planned(store: InMemoryStateStore, execution: str = "first", at: datetime = NOW) -> ScaleState:
    return scaling.plan_step(REQUEST, execution, store, POLICY, at)


def locked(state: ScaleState, lease_store: InMemoryLeaseStore, at: datetime = NOW) -> ScaleState:
    return state.model_copy(update={"lock": scaling.acquire_lock_step(state, lease_store, POLICY, at)})


def test_the_intent_is_written_before_the_call_so_a_crash_leaves_a_mark(world: Any) -> None:
    adapter, store, lease_store = world
    state = locked(planned(store), lease_store)
    adapter.fail_after_call = TimeoutError("the function timed out after its call")
    with pytest.raises(TimeoutError):
        scaling.apply_step(state, store, POLICY, NOW)
    mark = store.change_mark("nodegroup#sip-dev/general")
    assert mark is not None and (mark.execution, mark.status, mark.target) == ("first", "applying", 5)
    # A second request seconds later is refused by the cooldown the intent started.
    second = planned(store, "second", NOW + timedelta(seconds=5))
    assert not second.decision.allowed and "cooldown" in second.decision.reason  # type: ignore[union-attr]


def test_a_retry_after_the_call_recognises_its_own_change(world: Any) -> None:
    adapter, store, lease_store = world
    state = locked(planned(store), lease_store)
    adapter.fail_after_call = TransientAwsError("state table throttled while recording")
    with pytest.raises(TransientAwsError):
        scaling.apply_step(state, store, POLICY, NOW)
    retried = scaling.apply_step(state, store, POLICY, NOW + timedelta(seconds=10))
    assert retried.already_applied and not retried.applied_by_other
    assert adapter.calls == 1
    progress = scaling.check_step(state.model_copy(update={"change": retried}), lease_store, POLICY, NOW)
    outcome = scaling.outcome_of(state.model_copy(update={"change": retried, "progress": progress}), "first", NOW)
    assert outcome.status == "Succeeded"


def test_a_retry_before_the_call_is_not_refused_by_its_own_cooldown(world: Any) -> None:
    adapter, store, lease_store = world
    state = locked(planned(store), lease_store)
    adapter.fail_before_call = TransientAwsError("throttled")
    with pytest.raises(TransientAwsError):
        scaling.apply_step(state, store, POLICY, NOW)
    adapter.fail_before_call = None
    change = scaling.apply_step(state, store, POLICY, NOW + timedelta(seconds=30))
    assert not change.already_applied and adapter.calls == 1


def test_another_executions_change_is_no_change(world: Any) -> None:
    adapter, store, lease_store = world
    state = locked(planned(store), lease_store)
    adapter.size = 5  # someone else got there between plan and apply
    change = scaling.apply_step(state, store, POLICY, NOW)
    assert change.already_applied and change.applied_by_other


def test_a_lost_lease_stops_the_change_before_aws(world: Any) -> None:
    adapter, store, lease_store = world
    state = locked(planned(store), lease_store)
    later = NOW + timedelta(seconds=POLICY.lock_ttl_seconds + 1)
    lease_store.acquire(state.plan.lease_key, "backup/other", 600, later)  # type: ignore[union-attr]
    with pytest.raises(LeaseLost):
        scaling.apply_step(state, store, POLICY, later)
    assert adapter.calls == 0
    assert store.change_mark("nodegroup#sip-dev/general") is None


def test_checks_renew_the_lease_and_a_lost_one_is_named(world: Any) -> None:
    _adapter, store, lease_store = world
    state = locked(planned(store), lease_store)
    change = scaling.apply_step(state, store, POLICY, NOW)
    state = state.model_copy(update={"change": change})
    key, owner = state.plan.lease_key, leases.owner_of("scale", "first")  # type: ignore[union-attr]
    at = NOW + timedelta(seconds=POLICY.lock_ttl_seconds - 10)
    scaling.check_step(state, lease_store, POLICY, at)
    assert lease_store.holder(key).expires_at == int(at.timestamp()) + POLICY.lock_ttl_seconds  # type: ignore[union-attr]
    lease_store.release(key, owner)
    lease_store.acquire(key, "rotation/other", 600, at)
    with pytest.raises(LeaseLost):
        scaling.check_step(state, lease_store, POLICY, at + timedelta(seconds=30))


def test_aws_refusing_as_busy_leaves_no_cooldown_behind(world: Any) -> None:
    adapter, store, lease_store = world
    state = locked(planned(store), lease_store)
    adapter.fail_before_call = ResourceBusy("an update is already in progress")
    with pytest.raises(ResourceBusy):
        scaling.apply_step(state, store, POLICY, NOW)
    assert store.change_mark("nodegroup#sip-dev/general") is None
    assert planned(store, "later", NOW + timedelta(seconds=5)).decision.allowed  # type: ignore[union-attr]


def test_the_cooldown_of_another_execution_still_refuses_under_the_lease(world: Any) -> None:
    adapter, store, lease_store = world
    state = locked(planned(store), lease_store)
    store.mark_change("nodegroup#sip-dev/general", NOW, execution="someone-else")
    with pytest.raises(GuardRefused, match="cooldown"):
        scaling.apply_step(state, store, POLICY, NOW + timedelta(seconds=1))
    assert adapter.calls == 0


def test_a_failure_after_the_call_is_recorded_as_may_have_been_applied(world: Any) -> None:
    adapter, store, lease_store = world
    state = locked(planned(store), lease_store)
    adapter.fail_after_call = TimeoutError("lost")
    with pytest.raises(TimeoutError):
        scaling.apply_step(state, store, POLICY, NOW)
    failed = state.model_copy(update={"error": StepError(Error="Sandbox.Timedout", Cause="Task timed out")})
    seen = scaling.observe_step(failed, store)
    assert (seen.observed, seen.intent_recorded) == (5, True)
    outcome = scaling.outcome_of(failed.model_copy(update={"observation": seen}), "first", NOW)
    assert outcome.status == "Failed" and outcome.observed == 5
    assert "may have been applied" in outcome.reason


def test_a_failure_before_the_intent_says_the_change_was_not_started(world: Any) -> None:
    _adapter, store, lease_store = world
    state = locked(planned(store), lease_store)
    failed = state.model_copy(update={"error": StepError(Error="Lambda.Unknown", Cause="out of memory")})
    outcome = scaling.outcome_of(
        failed.model_copy(update={"observation": scaling.observe_step(failed, store)}), "x", NOW
    )
    assert "was not started" in outcome.reason and outcome.observed == 3


@pytest.mark.parametrize(
    ("polls", "clock_seconds", "state"),
    [(39, 0, "in_progress"), (40, 0, "timed_out"), (1, 1200, "timed_out"), (1, 1199, "in_progress")],
)
def test_verify_times_out_by_the_waits_made_or_the_clock(
    world: Any, polls: int, clock_seconds: int, state: str
) -> None:
    """The budget (policy: nodegroup 1200 s in dev) counts the waits the state machine made (polls x
    interval) or the time since the change, whichever is more: exactly at the budget it is over."""
    adapter, store, lease_store = world
    planned_state = locked(planned(store), lease_store)
    change = ChangeRecord(token="t", applied_at=NOW)
    adapter.size = 4  # not there yet
    from controlplane.models.scale import Progress

    progress = Progress(polls=polls - 1, state="in_progress", observed=4, status="UPDATING")
    current = planned_state.model_copy(update={"change": change, "progress": progress, "poll_seconds": 30})
    result = scaling.check_step(current, lease_store, POLICY, NOW + timedelta(seconds=clock_seconds))
    assert result.state == state

"""Business-hours schedules: bad targets refused by name, and a parked size forgotten only when its
restore really brought it back (Succeeded or NoChange), never when the restore was only started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from controlplane.models.errors import InvalidRequest
from controlplane.models.scale import ResourceState, ResourceTarget
from controlplane.remediation import schedules
from controlplane.remediation.store import InMemoryRemediationStore

from tests.conftest import load_event

EVENING = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:sip-controlplane-scale-dev"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"resource": {"cluster": "sip-dev", "nodegroup": "spot"}}, "resource: resource must be an object"),
        ({"resource": {"kind": "submarine", "id": "x"}}, "unknown resource kind 'submarine'"),
        ({"resource": {"kind": "nodegroup", "cluster": 7, "nodegroup": "spot"}}, "resource: cluster:"),
        ({"resource": {"kind": "nodegroup", "cluster": "c" * 300, "nodegroup": "spot"}}, "resource: cluster:"),
        ({"resource": "nodegroup spot"}, "resource: resource must be an object"),
        ({"action": "scuttle"}, "action: Input should be 'park' or 'restore'"),
        ({"schedule": "s" * 65}, "schedule: String should have at most 64 characters"),
        ({"scheduled_time": ["2026"]}, "scheduled_time: Input should be a valid string"),
        ({"extra": 1}, "extra: Extra inputs are not permitted"),
    ],
)
def test_malformed_targets_are_invalid_requests_that_name_the_problem(change: dict[str, Any], problem: str) -> None:
    event = {**load_event("schedule/park-spot.json"), **change}
    with pytest.raises(InvalidRequest, match="invalid schedule input") as refused:
        schedules.handle_schedule(event)
    assert problem in str(refused.value)


def test_no_input_at_all_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="input: Input should be a valid dictionary"):
        schedules.handle_schedule(None)


class Spot:
    """The spot node group as the adapter would read it, and the Scale executions the schedule starts."""

    def __init__(self, desired: int) -> None:
        self.desired = desired
        self.started: list[tuple[str, int]] = []
        self.outcomes: dict[str, tuple[str, str | None]] = {}

    def read(self, target: ResourceTarget) -> ResourceState:
        return ResourceState(
            resource_id=target.resource_id,
            capacity=self.desired,
            min_capacity=0,
            max_capacity=6,
            status="ACTIVE",
            ready=True,
        )

    def start(self, arn: str, name: str, payload: dict[str, Any]) -> bool:
        self.started.append((name, payload["desired"]))
        return True

    def finish(self, outcome: str) -> None:
        """The last started Scale execution ends with ``outcome`` (and moved the group if it Succeeded)."""
        name, desired = self.started[-1]
        self.outcomes[name] = ("SUCCEEDED", outcome)
        if outcome == "Succeeded":
            self.desired = desired


def fire(spot: Spot, store: InMemoryRemediationStore, action: str, at: datetime) -> schedules.ScheduledOutcome:
    event = {**load_event(f"schedule/{action}-spot.json"), "scheduled_time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    request = schedules.ScheduledScaling.model_validate(event)
    return schedules.run_schedule(request, store, spot.start, ARN, at, spot.outcomes.get, read=spot.read)


def test_a_blocked_restore_keeps_the_parked_size_until_a_restore_succeeds() -> None:
    spot, store = Spot(desired=2), InMemoryRemediationStore()
    parked = fire(spot, store, "park", EVENING)
    assert (parked.status, parked.remembered, parked.desired) == ("Started", 2, 0)
    spot.finish("Succeeded")
    restore = fire(spot, store, "restore", EVENING + timedelta(hours=12))
    assert (restore.status, restore.desired) == ("Started", 2)
    spot.finish("Blocked")  # a freeze window at 07:00: the group stays at 0
    again = fire(spot, store, "park", EVENING + timedelta(days=1))
    assert again.status == "NoChange" and again.remembered == 2
    assert again.previous_restore and again.previous_restore.endswith("SUCCEEDED Blocked")
    retried = fire(spot, store, "restore", EVENING + timedelta(days=1, hours=12))
    assert (retried.status, retried.desired) == ("Started", 2)
    spot.finish("Succeeded")
    assert spot.desired == 2
    # Only now is the size forgotten: the next park remembers the group's size afresh.
    spot.desired = 3
    fresh = fire(spot, store, "park", EVENING + timedelta(days=2))
    assert fresh.remembered == 3 and "SUCCEEDED Succeeded" in (fresh.previous_restore or "")


@pytest.mark.parametrize("outcome", [("FAILED", None), ("TIMED_OUT", None), ("SUCCEEDED", "Failed"), ("RUNNING", None)])
def test_a_restore_that_did_not_end_succeeded_or_no_change_keeps_the_size(outcome: tuple[str, str | None]) -> None:
    spot, store = Spot(desired=4), InMemoryRemediationStore()
    fire(spot, store, "park", EVENING)
    spot.finish("Succeeded")
    fire(spot, store, "restore", EVENING + timedelta(hours=12))
    spot.outcomes[spot.started[-1][0]] = outcome
    assert fire(spot, store, "park", EVENING + timedelta(days=1)).remembered == 4


def test_a_restore_that_found_the_size_already_back_forgets_it() -> None:
    spot, store = Spot(desired=2), InMemoryRemediationStore()
    fire(spot, store, "park", EVENING)
    # Nobody parked it after all (the park was Blocked): at restore time the size is already there.
    spot.outcomes[spot.started[-1][0]] = ("SUCCEEDED", "Blocked")
    restore = fire(spot, store, "restore", EVENING + timedelta(hours=12))
    assert restore.status == "NoChange" and store.parked_size("nodegroup#sip-dev/spot") is None
    assert fire(spot, store, "restore", EVENING + timedelta(days=1, hours=12)).status == "NothingToRestore"


def test_a_restore_execution_step_functions_no_longer_knows_keeps_the_size() -> None:
    spot, store = Spot(desired=2), InMemoryRemediationStore()
    fire(spot, store, "park", EVENING)
    spot.finish("Succeeded")
    fire(spot, store, "restore", EVENING + timedelta(hours=12))
    spot.outcomes.clear()
    again = fire(spot, store, "park", EVENING + timedelta(days=1))
    assert again.remembered == 2 and (again.previous_restore or "").endswith("not found")

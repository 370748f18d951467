"""RDS storage adapter: reading, and the guards RDS imposes (10% growth, no shrink, one change at a time)."""

from __future__ import annotations

from typing import Any

import pytest
from controlplane.config import load_policy
from controlplane.models.scale import ScaleRequest
from controlplane.resources import adapter_for
from controlplane.resources.rds_storage import RdsStorageTarget

TARGET = {"kind": "rds_storage", "db_instance": "sip-dev-postgres"}


class FakeRds:
    def __init__(self, **instance: Any) -> None:
        self.instance = {
            "AllocatedStorage": 100,
            "MaxAllocatedStorage": 500,
            "DBInstanceStatus": "available",
            "PendingModifiedValues": {},
            "TagList": [],
            **instance,
        }

    def describe_db_instances(self, DBInstanceIdentifier: str) -> dict[str, Any]:
        return {"DBInstances": [self.instance]}


def checks(desired: int, **instance: Any) -> dict[str, str]:
    adapter = adapter_for("rds_storage", lambda service: FakeRds(**instance))
    target = RdsStorageTarget.model_validate(TARGET)
    state = adapter.read(target)
    request = ScaleRequest.model_validate(
        {"resource": TARGET, "desired": desired, "reason": "test", "requester": {"type": "alarm", "id": "a"}}
    )
    policy = load_policy("dev")
    plan = adapter.plan(request, state, policy)
    return {c.name: c.reason for c in adapter.guard_checks(state, plan, policy) if not c.passed}


def test_read_maps_storage_to_capacity() -> None:
    state = adapter_for("rds_storage", lambda service: FakeRds()).read(RdsStorageTarget.model_validate(TARGET))
    # MaxAllocatedStorage 500: the ceiling keeps it 10% above the allocated size (RDS refuses less).
    assert (state.capacity, state.min_capacity, state.max_capacity, state.ready) == (100, 100, 454, True)


@pytest.mark.parametrize(("max_allocated", "ceiling"), [(500, 454), (110, 100), (111, 100), (1100, 1000), (100, 100)])
def test_storage_ceiling_stays_ten_percent_below_the_maximum(max_allocated: int, ceiling: int) -> None:
    """USER_PIOPS.Autoscaling: "set the maximum storage threshold to at least 10% more than the current
    allocated storage" - so the control plane never asks for more than MaxAllocatedStorage / 1.1."""
    from controlplane.resources.rds_storage import storage_ceiling

    assert storage_ceiling(max_allocated, 100) == ceiling
    assert storage_ceiling(max_allocated, 100) * 11 <= max(max_allocated, 110) * 10


def test_twenty_percent_growth_passes() -> None:
    assert checks(120) == {}


def test_growth_below_ten_percent_is_refused() -> None:
    assert "minimum growth of 10%" in checks(105)["storage_min_growth"]


def test_shrinking_is_refused() -> None:
    assert "cannot shrink" in checks(90)["storage_grows_only"]


def test_a_pending_storage_change_is_refused() -> None:
    assert "pending" in checks(120, PendingModifiedValues={"AllocatedStorage": 110})["storage_pending"]


def test_no_max_allocated_storage_means_no_headroom() -> None:
    assert "MaxAllocatedStorage" in checks(120, MaxAllocatedStorage=None)["storage_ceiling"]


def test_storage_optimization_is_not_ready() -> None:
    state = adapter_for("rds_storage", lambda s: FakeRds(DBInstanceStatus="storage-optimization")).read(
        RdsStorageTarget.model_validate(TARGET)
    )
    assert not state.ready


def test_the_policy_waits_six_hours_between_storage_changes() -> None:
    for environment in ("dev", "staging", "prod"):
        assert load_policy(environment).for_kind("rds_storage").cooldown_seconds >= 6 * 3600

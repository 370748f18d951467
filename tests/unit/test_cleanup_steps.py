"""Cleanup steps without AWS: plan files, batches and their cursor, time budget, throttling, leases, history bound."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from controlplane import leases
from controlplane.cleanup import steps
from controlplane.cleanup.models import Artifact, CleanupRequest, UnitTask, WorkUnit
from controlplane.cleanup.policy import (
    HISTORY_LIMIT,
    HISTORY_RETRY_RESERVE,
    MAX_UNITS,
    history_events,
    load_cleanup_policy,
)
from controlplane.cleanup.reports import MemoryObjectStore
from controlplane.leases import InMemoryLeaseStore
from controlplane.models.errors import LeaseLost, TransientAwsError

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
POLICY = load_cleanup_policy("dev")


def snapshots(source: str, days: int, region: str = "us-east-1") -> list[Artifact]:
    return [
        Artifact(
            kind="rds_snapshot",
            id=f"cp-{source}-{(NOW - timedelta(days=d)):%Y-%m-%d}",
            region=region,
            source=source,
            created_at=NOW - timedelta(days=d),
            tags={"ManagedBy": "controlplane"},
        )
        for d in range(days)
    ]


def plan(artifacts: list[Artifact], **request: object) -> tuple[steps.CleanupState, MemoryObjectStore]:
    store = MemoryObjectStore()
    state = steps.plan_step(
        CleanupRequest.model_validate({"execution": "run-1", **request}),
        POLICY,
        artifacts,
        InMemoryLeaseStore(),
        store,
        "sip-dev-backups",
        NOW,
        NOW,
    )
    return state, store


def test_one_unit_per_source_lease_across_regions() -> None:
    state, store = plan(
        snapshots("db", 20) + snapshots("db", 20, region="us-west-2") + snapshots("other", 12), allow_deletions=100
    )
    assert state.proceed and state.plan is not None
    units = [
        WorkUnit.model_validate(store.get_json(f"{state.plan.prefix}units/{i:05d}.json")) for i in state.plan.units
    ]
    assert [u.lease_key for u in units] == [leases.db_instance_key("db"), leases.db_instance_key("other")]
    assert {a.region for a in units[0].items} == {"us-east-1", "us-west-2"}
    assert f"{state.plan.prefix}plan.json" in store.objects


def test_dry_run_and_blocked_write_the_plan_but_no_units() -> None:
    for request in ({"dry_run": True}, {}):
        state, store = plan(snapshots("db", 200), **request)
        assert state.plan is not None and not state.proceed and state.plan.units == []
        assert not [k for k in store.objects if "/units/" in k]
    assert state.plan is not None and not state.plan.breaker.allowed  # 200 days of dailies: past the breaker


def unit_task(state: steps.CleanupState, index: int = 0, cursor: int = 0) -> UnitTask:
    assert state.plan is not None
    return UnitTask(index=index, prefix=state.plan.prefix, bucket="b", execution="run-1", cursor=cursor)


class Deleter:
    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[str] = []
        self.fail_at = fail_at
        self.prefetched: list[list[str]] = []

    def prefetch(self, items: list[Artifact]) -> None:
        self.prefetched.append([a.id for a in items])

    def __call__(self, artifact: Artifact, pol: object, now: datetime) -> tuple[str, str]:
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            self.fail_at = None
            raise TransientAwsError("Throttling")
        self.calls.append(artifact.id)
        return "deleted", ""


def test_batches_advance_a_cursor_until_done_under_the_source_lease() -> None:
    state, store = plan(snapshots("db", 140), allow_deletions=1000)
    lease_store = InMemoryLeaseStore()
    progress = steps.lock_unit(unit_task(state), store, lease_store, POLICY, NOW)
    assert lease_store.holder(leases.db_instance_key("db")) is not None
    deleter, rounds = Deleter(), 0
    while not progress.done:
        task = unit_task(state, cursor=progress.cursor)
        progress = steps.delete_batch(task, store, lease_store, POLICY, NOW, deleter)
        rounds += 1
    total = len(WorkUnit.model_validate(store.get_json(f"{task.prefix}units/00000.json")).items)
    assert len(deleter.calls) == total and rounds == -(-total // POLICY.batch_size)
    assert all(len(p) <= POLICY.batch_size for p in deleter.prefetched)
    # every snapshot lease was given back; the source lease stays for the state machine to release
    assert set(lease_store.leases) == {leases.db_instance_key("db")}
    counts, _ = steps.tally(store, task.prefix)
    assert counts == {"deleted": total}


def test_throttling_mid_batch_keeps_what_was_done_and_at_the_start_is_retried() -> None:
    state, store = plan(snapshots("db", 140), allow_deletions=1000)
    lease_store = InMemoryLeaseStore()
    steps.lock_unit(unit_task(state), store, lease_store, POLICY, NOW)
    progress = steps.delete_batch(unit_task(state), store, lease_store, POLICY, NOW, Deleter(fail_at=10))
    assert progress.cursor == 10 and not progress.done
    with pytest.raises(TransientAwsError):
        steps.delete_batch(unit_task(state, cursor=10), store, lease_store, POLICY, NOW, Deleter(fail_at=0))
    assert set(lease_store.leases) == {leases.db_instance_key("db")}  # no snapshot lease left behind


def test_the_time_budget_stops_a_batch_early() -> None:
    state, store = plan(snapshots("db", 140), allow_deletions=1000)
    lease_store = InMemoryLeaseStore()
    steps.lock_unit(unit_task(state), store, lease_store, POLICY, NOW)
    ticks = iter(range(0, 10_000, 40))
    progress = steps.delete_batch(
        unit_task(state), store, lease_store, POLICY, NOW, Deleter(), clock=lambda: float(next(ticks))
    )
    assert 0 < progress.cursor < POLICY.batch_size


def test_a_snapshot_someone_holds_is_skipped_and_their_lease_untouched() -> None:
    state, store = plan(snapshots("db", 140), allow_deletions=1000)
    lease_store = InMemoryLeaseStore()
    unit = WorkUnit.model_validate(store.get_json(f"{unit_task(state).prefix}units/00000.json"))
    held = leases.snapshot_key("rds", unit.items[0].id)
    lease_store.acquire(held, "restore-drill/d-1", 3600, NOW, "restore-drill")
    steps.lock_unit(unit_task(state), store, lease_store, POLICY, NOW)
    deleter = Deleter()
    steps.delete_batch(unit_task(state), store, lease_store, POLICY, NOW, deleter)
    assert unit.items[0].id not in deleter.calls
    assert lease_store.holder(held) is not None and lease_store.holder(held).owner == "restore-drill/d-1"  # type: ignore[union-attr]
    counts, items = steps.tally(store, unit_task(state).prefix)
    assert counts["skipped"] == 1 and "restore-drill/d-1" in items[0]["detail"]


def test_a_lost_source_lease_stops_the_batch() -> None:
    state, store = plan(snapshots("db", 140), allow_deletions=1000)
    lease_store = InMemoryLeaseStore()
    with pytest.raises(LeaseLost):
        steps.delete_batch(unit_task(state), store, lease_store, POLICY, NOW, Deleter())


def test_plan_marks_candidates_a_drill_holds_as_in_use() -> None:
    artifacts = snapshots("db", 30)
    lease_store = InMemoryLeaseStore()
    lease_store.acquire(leases.snapshot_key("rds", artifacts[-1].id), "recovery/r-1", 600, NOW)
    store = MemoryObjectStore()
    state = steps.plan_step(
        CleanupRequest(execution="run-2", dry_run=True), POLICY, artifacts, lease_store, store, "b", NOW, NOW
    )
    assert state.plan is not None
    assert any(artifacts[-1].id in line and "in_use" in line for line in state.plan.kept_sample)


@pytest.mark.parametrize(("units", "per_unit"), [(10, 10_000), (40, 250), (400, 50), (1_500, 1)])
def test_a_run_fits_the_history_and_defers_the_rest(units: int, per_unit: int) -> None:
    work = [
        WorkUnit(
            index=i,
            kind="rds_snapshot",
            region="us-east-1",
            source=f"s{i}",
            lease_key=f"k{i}",
            items=snapshots(f"s{i}", per_unit),
        )
        for i in range(units)
    ]
    scheduled, later = steps.fit_history(work, POLICY.batch_size)
    assert len(scheduled) + len(later) == units and len(scheduled) <= MAX_UNITS
    batches = [-(-len(u.items) // POLICY.batch_size) for u in scheduled]
    assert history_events(batches) <= HISTORY_LIMIT - HISTORY_RETRY_RESERVE
    if later:
        nxt = [*batches, -(-len(later[0].items) // POLICY.batch_size)]
        assert len(scheduled) == MAX_UNITS or history_events(nxt) > HISTORY_LIMIT - HISTORY_RETRY_RESERVE


def test_ten_thousand_snapshots_fit_one_execution_by_the_computed_bound() -> None:
    """10,000 deletions of 20 sources: 200 batches of 50 and 20 units, about 1,800 events of 25,000."""
    assert history_events([10] * 20) == 30 + 18 * 20 + 7 * 200 < 2_000
    # The most one execution deletes at batch_size 50: the budget spent on batches of one unit each.
    most = (HISTORY_LIMIT - HISTORY_RETRY_RESERVE - 30 - 18) // 7 * POLICY.batch_size
    assert most > 140_000


@pytest.mark.parametrize(
    "path", sorted(Path("events/cleanup").glob("*.json")) + sorted(Path("events/cost_review").glob("*.json")), ids=str
)
def test_sample_inputs_are_valid_requests(path: Path) -> None:
    from controlplane.costreview.review import parse_request as review_request

    data = json.loads(path.read_text())
    parse = steps.parse_request if "cleanup" in str(path) else review_request
    assert parse(data, "sample").execution == "sample"


def test_a_backup_cannot_start_on_a_source_cleanup_is_pruning() -> None:
    """The other direction of 'never interleave': while a unit holds the source's lease, a backup's acquire of
    the same key (db_instance_key, as every workflow that touches the instance takes) is refused."""
    from controlplane.models.errors import LockHeld

    state, store = plan(snapshots("db", 140), allow_deletions=1000)
    lease_store = InMemoryLeaseStore()
    steps.lock_unit(unit_task(state), store, lease_store, POLICY, NOW)
    with pytest.raises(LockHeld):
        lease_store.acquire(leases.db_instance_key("db"), "backup/nightly-2", 3600, NOW, "backup")


def test_captured_task_samples_match_their_models() -> None:
    """events/<function>/<task>.json, captured by ``python -m cpctl.sandbox.cleanup_support`` (sam local invoke -e)."""
    from controlplane.cleanup.models import CleanupState
    from controlplane.costreview.models import ReviewState

    events = Path("events")
    plan_event = json.loads((events / "plan_cleanup" / "plan.json").read_text())
    assert steps.parse_request(plan_event["input"], plan_event["execution"]).execution == "sample-cleanup"
    finish = CleanupState.model_validate(json.loads((events / "plan_cleanup" / "finish.json").read_text())["state"])
    assert finish.plan is not None and finish.plan.units
    for task in ("lock", "delete"):
        event = json.loads((events / "delete_artifacts" / f"{task}.json").read_text())
        assert event["task"] == task and UnitTask.model_validate(event["unit"]).execution == "sample-cleanup"
    record = json.loads((events / "review_cost" / "record.json").read_text())
    assert ReviewState.model_validate(record["state"]).summary is not None

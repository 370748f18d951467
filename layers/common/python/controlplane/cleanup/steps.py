"""The Cleanup workflow's steps, one function per task, with explicit dependencies (unit-testable).

Plan (validate, list, decide, breaker; writes the plan and one file per work unit to S3) → for each unit,
in an inline Map with bounded concurrency: LockUnit (the source's lease, the key Scale, Backup and
Recovery take) → DeleteBatch, looped until the unit is done (per snapshot: its lease
``snapshot_key``, a fresh read re-checking every protection, the delete; "already gone" is success)
→ release by Step Functions → Finish (aggregate the results, report, record).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from controlplane import leases
from controlplane.cleanup import inventory
from controlplane.cleanup.models import (
    WORKFLOW,
    Artifact,
    BatchProgress,
    CleanupOutcome,
    CleanupRequest,
    CleanupState,
    Decision,
    ItemResult,
    PlannedRun,
    PlanSummary,
    UnitTask,
    WorkUnit,
)
from controlplane.cleanup.policy import HISTORY_LIMIT, HISTORY_RETRY_RESERVE, MAX_UNITS, CleanupPolicy, history_events
from controlplane.cleanup.reports import ObjectStore, run_prefix
from controlplane.cleanup.retention import breakdown, breaker, decide
from controlplane.leases import LeaseStore
from controlplane.models.errors import InvalidRequest, LockHeld, TransientAwsError, validation_problems
from controlplane.models.outcome import OutcomeStatus

# DeleteBatch starts no new deletion after this many seconds: one deletion is at most four AWS calls
# (lease, read, delete, release) of at worst 33 s each, so 150 + 132 s stays under the 300 s function timeout.
BATCH_BUDGET_SECONDS = 150
SAMPLE = 12


def regions() -> dict[str, str]:
    """Region -> its backups bucket (home and DR), from the function's environment."""
    home = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    dr = os.environ.get("DR_REGION", "us-west-2")
    found = {home: os.environ.get("BACKUPS_BUCKET", "")}
    if dr and dr != home:
        found[dr] = os.environ.get("DR_BACKUPS_BUCKET", "")
    return found


def parse_request(raw: Any, execution: str) -> CleanupRequest:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidRequest("the request must be a JSON object")
    try:
        return CleanupRequest.model_validate({**raw, "execution": execution})
    except ValidationError as exc:
        raise InvalidRequest(f"invalid cleanup request: {validation_problems(exc, 'request')}") from None


def owner(execution: str) -> str:
    return leases.owner_of(WORKFLOW, execution)


def item_lease_key(artifact: Artifact) -> str | None:
    """The lease a drill or recovery holds while it reads the artefact (and cleanup takes before deleting it)."""
    if artifact.kind == "rds_snapshot":
        return leases.snapshot_key("rds", artifact.id)
    if artifact.kind == "cache_snapshot":
        return leases.snapshot_key("elasticache", artifact.id)
    if artifact.kind in ("drill_instance", "replica"):
        return leases.db_instance_key(artifact.id)
    return None


def unit_lease_key(kind: str, source: str) -> str | None:
    """The source's lease: deleting a source's backups never interleaves with backing it up (or scaling it)."""
    if kind == "rds_snapshot":
        return leases.db_instance_key(source)
    if kind in ("cache_snapshot", "cache_export"):
        return leases.replication_group_key(source)
    return None  # instances: each takes its own lease


def held_by_others(keys: dict[str, str], lease_store: LeaseStore, now: datetime) -> dict[str, str]:
    """artefact id -> holder, for unexpired leases another workflow holds (BatchGetItem, 100 keys a call)."""
    holders = _holders(list(keys.values()), lease_store)
    found = {}
    for artifact_id, key in keys.items():
        held = holders.get(key)
        if held is not None and held[1] >= int(now.timestamp()) and not held[0].startswith(f"{WORKFLOW}/"):
            found[artifact_id] = held[0]
    return found


def _holders(keys: list[str], lease_store: LeaseStore) -> dict[str, tuple[str, int]]:
    from controlplane.leases import LEASE_SK, DynamoLeaseStore

    if not isinstance(lease_store, DynamoLeaseStore):
        return {k: (h.owner, h.expires_at) for k in keys if (h := lease_store.holder(k)) is not None}
    found: dict[str, tuple[str, int]] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), 100):
        request: dict[str, Any] = {
            lease_store.table_name: {
                "Keys": [{"pk": {"S": f"LOCK#{k}"}, "sk": {"S": LEASE_SK}} for k in unique[start : start + 100]],
                "ConsistentRead": True,
                "ProjectionExpression": "pk, #owner, expires_at",
                "ExpressionAttributeNames": {"#owner": "owner"},
            }
        }
        for _ in range(8):  # UnprocessedKeys: asked again (the client's own retries back off on throttling)
            response = lease_store.call("batch_get_item", RequestItems=request)
            for item in response.get("Responses", {}).get(lease_store.table_name, []):
                found[item["pk"]["S"].removeprefix("LOCK#")] = (item["owner"]["S"], int(item["expires_at"]["N"]))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise TransientAwsError("BatchGetItem left keys unprocessed")
    return found


def list_artifacts(where: dict[str, str], now: datetime) -> list[Artifact]:
    found: list[Artifact] = []
    for region, bucket in where.items():
        found += inventory.rds_snapshots(region, now)
        found += inventory.cache_snapshots(region, now)
        found += inventory.instances(region, now)
        if bucket:
            found += inventory.exports(bucket, region)
    return found


def _line(decision: Decision) -> str:
    a = decision.artifact
    why = ", ".join(r.value for r in decision.reasons) + (f" ({decision.detail})" if decision.detail else "")
    return f"{decision.action} {a.kind} {a.id} [{a.region}, {a.created_at:%Y-%m-%d}]: {why}"


def units_of(decisions: list[Decision]) -> list[WorkUnit]:
    """One unit per lease: every deletion under one source's lease (its snapshots in both regions, its exports)
    is one unit, so two iterations of one execution never share, and release, one lease."""
    grouped: dict[tuple[str, str, str], list[Artifact]] = defaultdict(list)
    for decision in decisions:
        if decision.action == "delete":
            a = decision.artifact
            key = unit_lease_key(a.kind, a.source)
            grouped[(key, "", "") if key else ("", a.kind, a.region)].append(a)
    units = []
    for index, ((key, kind, region), items) in enumerate(sorted(grouped.items())):
        first = items[0]
        units.append(
            WorkUnit(
                index=index,
                kind=first.kind if key else kind,
                region=first.region if key else region,
                source=first.source if key else "instances",
                lease_key=key or None,
                items=sorted(items, key=lambda a: (a.kind, a.region, a.created_at, a.id)),
            )
        )
    return units


def fit_history(units: list[WorkUnit], batch_size: int) -> tuple[list[WorkUnit], list[WorkUnit]]:
    """The units one execution runs (its history and its Map stay within bounds) and those left for the next run."""
    budget = HISTORY_LIMIT - HISTORY_RETRY_RESERVE
    batches: list[int] = []
    for count, unit in enumerate(units):
        needed = [*batches, -(-len(unit.items) // batch_size)]
        if count >= MAX_UNITS or history_events(needed) > budget:
            return units[:count], units[count:]
        batches = needed
    return units, []


def plan_step(
    request: CleanupRequest,
    pol: CleanupPolicy,
    artifacts: list[Artifact],
    lease_store: LeaseStore,
    store: ObjectStore,
    bucket: str,
    now: datetime,
    started: datetime,
) -> CleanupState:
    """Decide, guard, write the plan. No change to any artefact."""
    first = decide(artifacts, pol, now)
    keys = {d.artifact.id: k for d in first if d.action == "delete" and (k := item_lease_key(d.artifact))}
    decisions = decide(artifacts, pol, now, held_by_others(keys, lease_store, now)) if keys else first
    counts = breakdown(decisions)
    guard = breaker(counts, pol.breaker, request.allow_deletions)
    units, later = fit_history(units_of(decisions), pol.batch_size)
    prefix = run_prefix(request.execution, started)
    proceed = guard.allowed and not request.dry_run and bool(units)
    plan = PlannedRun(
        execution=request.execution,
        environment=pol.environment,
        planned_at=now,
        timezone=pol.timezone,
        decisions=decisions,
        breakdown=counts,
        breaker=guard,
    )
    store.put_json(f"{prefix}plan.json", plan.model_dump(mode="json"))
    if proceed:
        for unit in units:
            store.put_json(f"{prefix}units/{unit.index:05d}.json", unit.model_dump(mode="json"))
    kept = [d for d in decisions if d.action == "keep"]
    summary = PlanSummary(
        plan_key=f"{prefix}plan.json",
        prefix=prefix,
        bucket=bucket,
        units=[u.index for u in units] if proceed else [],
        deferred_units=len(later) if proceed else 0,
        deferred_items=sum(len(u.items) for u in later) if proceed else 0,
        breakdown=counts,
        breaker=guard,
        kept_sample=[_line(d) for d in sorted(kept, key=_interest)[:SAMPLE]],
        delete_sample=[_line(d) for d in decisions if d.action == "delete"][:SAMPLE],
    )
    return CleanupState(request=request, plan=summary, proceed=proceed)


def _interest(decision: Decision) -> tuple[int, str]:
    """Show the unusual reasons first (protections, in use, latest good) in the sample people read."""
    order = ["in_use", "legal_hold", "protected", "latest_good_backup", "not_created_by_controlplane", "automated"]
    first = min((order.index(r.value) for r in decision.reasons if r.value in order), default=len(order))
    return (first, decision.artifact.id)


# --- the Map iteration: one unit ------------------------------------------------------------------------


def _unit(task: UnitTask, store: ObjectStore) -> WorkUnit:
    return WorkUnit.model_validate(store.get_json(f"{task.prefix}units/{task.index:05d}.json"))


def lock_unit(
    task: UnitTask, store: ObjectStore, lease_store: LeaseStore, pol: CleanupPolicy, now: datetime
) -> BatchProgress:
    """Take the source's lease (``LockHeld`` is retried by the state machine, then the unit is deferred)."""
    unit = _unit(task, store)
    if unit.lease_key:
        lease_store.acquire(unit.lease_key, owner(task.execution), pol.lease_ttl_seconds, now, workflow=WORKFLOW)
    return BatchProgress(
        index=task.index,
        prefix=task.prefix,
        bucket=task.bucket,
        execution=task.execution,
        cursor=0,
        done=not unit.items,
        lease_key=unit.lease_key,
    )


Deleter = Callable[[Artifact, CleanupPolicy, datetime], tuple[str, str]]


def _prefetch(delete_one: Deleter, items: list[Artifact]) -> None:
    prefetch = getattr(delete_one, "prefetch", None)
    if prefetch is not None:
        prefetch(items)


def delete_batch(
    task: UnitTask,
    store: ObjectStore,
    lease_store: LeaseStore,
    pol: CleanupPolicy,
    now: datetime,
    delete_one: Deleter,
    clock: Callable[[], float] = time.monotonic,
) -> BatchProgress:
    """Delete up to ``batch_size`` items from ``cursor`` (fewer when the time budget runs out); say where to go on."""
    unit = _unit(task, store)
    me = owner(task.execution)
    if unit.lease_key:
        lease_store.renew(unit.lease_key, me, pol.lease_ttl_seconds, now)
    started = clock()
    results: list[ItemResult] = []
    batch = unit.items[task.cursor : task.cursor + pol.batch_size]
    _prefetch(delete_one, batch)
    for artifact in batch:
        if results and clock() - started > BATCH_BUDGET_SECONDS:
            break
        try:
            result, detail = _delete_leased(artifact, lease_store, me, pol, now, delete_one)
        except TransientAwsError:
            if not results:
                raise  # nothing done yet: let the state machine back off and retry this batch
            break  # keep what was done; the next DeleteBatch starts at this item
        results.append(
            ItemResult(
                kind=artifact.kind,
                id=artifact.id,
                region=artifact.region,
                source=artifact.source,
                result=result,
                detail=detail,
            )
        )
    cursor = task.cursor + len(results)
    if results:
        store.put_json(
            f"{task.prefix}results/{task.index:05d}-{task.cursor:06d}.json",
            [r.model_dump(mode="json") for r in results],
        )
    return BatchProgress(
        index=task.index,
        prefix=task.prefix,
        bucket=task.bucket,
        execution=task.execution,
        cursor=cursor,
        done=cursor >= len(unit.items),
        lease_key=unit.lease_key,
        deleted=sum(r.result == "deleted" for r in results),
        skipped=sum(r.result == "skipped" for r in results),
    )


def _delete_leased(
    artifact: Artifact, lease_store: LeaseStore, me: str, pol: CleanupPolicy, now: datetime, delete_one: Deleter
) -> tuple[str, str]:
    key = item_lease_key(artifact)
    if key:
        try:
            lease_store.acquire(key, me, pol.lease_ttl_seconds, now, workflow=WORKFLOW)
        except LockHeld as held:
            return "skipped", f"in use: {held}"
    try:
        return delete_one(artifact, pol, now)
    finally:
        if key:
            lease_store.release(key, me)


def close_unit(
    task: UnitTask, store: ObjectStore, lease_store: LeaseStore, how: Literal["deferred", "failed"]
) -> dict[str, Any]:
    """A unit that could not finish: its remaining items are recorded as deferred (source busy) or failed, and
    any item lease this execution still holds is given back (the source lease is released by the state machine)."""
    unit = _unit(task, store)
    detail = _cause(task.error) if task.error else ""
    rest = unit.items[task.cursor :]
    me = owner(task.execution)
    for artifact in rest:
        key = item_lease_key(artifact)
        if key:
            lease_store.release(key, me)
    store.put_json(
        f"{task.prefix}results/{task.index:05d}-{task.cursor:06d}.json",
        [
            ItemResult(
                kind=a.kind, id=a.id, region=a.region, source=a.source, result=how, detail=detail[:300]
            ).model_dump(mode="json")
            for a in rest
        ],
    )
    return {"index": task.index, "closed": how, "items": len(rest), "lease_key": unit.lease_key}


# --- after the Map ---------------------------------------------------------------------------------------


def release_all(state: CleanupState, store: ObjectStore, lease_store: LeaseStore) -> dict[str, int]:
    """After a failed Map: give back every unit lease this execution may still hold."""
    if state.plan is None or state.request is None:
        return {"released": 0}
    released = 0
    for index in state.plan.units:
        unit = WorkUnit.model_validate(store.get_json(f"{state.plan.prefix}units/{index:05d}.json"))
        if unit.lease_key:
            released += lease_store.release(unit.lease_key, owner(state.request.execution))
    return {"released": released}


def tally(store: ObjectStore, prefix: str) -> tuple[dict[str, int], list[dict[str, Any]]]:
    counts: dict[str, int] = defaultdict(int)
    items: list[dict[str, Any]] = []
    for key in store.keys(f"{prefix}results/"):
        for item in store.get_json(key):
            counts[item["result"]] += 1
            items.append(item)
    return dict(sorted(counts.items())), items


def outcome_of(  # noqa: PLR0911
    state: CleanupState,
    execution: str,
    environment: str,
    results: dict[str, int],
    now: datetime,
    started: datetime | None,
) -> CleanupOutcome:
    request, plan = state.request, state.plan
    common: dict[str, Any] = {
        "execution": execution,
        "environment": environment,
        "recorded_at": now,
        "started_at": started,
        "dry_run": bool(request and request.dry_run),
        "requester": request.requester if request else None,
        "results": results,
    }
    if plan is not None:
        common |= {
            "breakdown": plan.breakdown,
            "breaker": plan.breaker,
            "plan_key": plan.plan_key,
            "kept_sample": plan.kept_sample,
        }
    if state.error is not None and plan is None:
        name = state.error.get("Error", "Failed")
        rejected = name in ("InvalidRequest", "ResourceNotFound")
        return CleanupOutcome(
            status=OutcomeStatus.REJECTED if rejected else OutcomeStatus.FAILED,
            reason=_cause(state.error),
            error=name[:200],
            **common,
        )
    if plan is None:
        return CleanupOutcome(status=OutcomeStatus.FAILED, reason="no plan was made", error="NoPlan", **common)
    b = plan.breakdown
    if not plan.breaker.allowed:
        return CleanupOutcome(status=OutcomeStatus.BLOCKED, reason=f"{plan.breaker.reason}; nothing deleted", **common)
    if request is not None and request.dry_run:
        return CleanupOutcome(
            status=OutcomeStatus.DRY_RUN,
            reason=f"would delete {b.deletions} of {b.artifacts} artefacts and keep {b.kept}; nothing deleted",
            **common,
        )
    if b.deletions == 0:
        return CleanupOutcome(status=OutcomeStatus.NO_CHANGE, reason=f"all {b.artifacts} artefacts are kept", **common)
    done = results.get("deleted", 0) + results.get("already_gone", 0)
    summary = ", ".join(f"{v} {k}" for k, v in results.items()) or "nothing processed"
    if state.error is not None or results.get("failed"):
        return CleanupOutcome(
            status=OutcomeStatus.FAILED,
            reason=f"{done} of {b.deletions} deletions done ({summary})",
            error=(state.error or {}).get("Error", "DeletionsFailed")[:200],
            **common,
        )
    return CleanupOutcome(
        status=OutcomeStatus.SUCCEEDED, reason=f"{done} of {b.deletions} planned deletions done ({summary})", **common
    )


def _cause(error: dict[str, str]) -> str:
    from controlplane.models.errors import error_message

    return error_message(error.get("Cause", "") or error.get("Error", "failed"))[:500]

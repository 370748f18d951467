"""The Backup workflow's tasks (statemachines/backup.asl.json), one function each, routed on ``task``.

validate -> plan (reads, verifies the managed features; no side effect) -> guard (dry run stops) ->
four parallel branches: RDS (lease on the instance: snapshot; then DR copies, queued when the copy
quota is reached), ElastiCache (lease on the group: snapshot, export to the backups bucket), S3
(verify, repair versioning under the bucket's lease) and EKS (state export) -> integrity checks and
one report -> record. The state machine waits and polls; no task sleeps.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from controlplane import aws, leases
from controlplane.backup import buckets, cache, eks_state, naming, rds
from controlplane.backup.models import (
    ALL_PARTS,
    BackupOutcome,
    BackupPlan,
    BackupReport,
    BackupRequest,
    BackupState,
    BucketPlan,
    CachePlan,
    Check,
    EksPlan,
    Progress,
    RdsPlan,
)
from controlplane.backup.policy import BackupPolicy, backup_policy
from controlplane.backup.targets import Targets
from controlplane.config import settings
from controlplane.leases import DynamoLeaseStore, LeaseStore
from controlplane.models.errors import InvalidRequest, error_message, validation_problems
from controlplane.models.outcome import OutcomeStatus

WORKFLOW = "backup"
TASKS = (
    "plan",
    "lock",
    "rds_snapshot",
    "rds_poll",
    "rds_copy",
    "copy_poll",
    "cache_snapshot",
    "cache_poll",
    "buckets",
    "eks_export",
    "verify",
    "record",
)


def now_utc() -> datetime:
    from controlplane import clock

    return clock.now()


def parse_request(raw: Any, execution: str) -> BackupRequest:
    if not isinstance(raw, dict):
        raise InvalidRequest("the request must be a JSON object")
    try:
        return BackupRequest.model_validate({**raw, "execution": execution})
    except ValidationError as exc:
        raise InvalidRequest(f"invalid backup request: {validation_problems(exc, 'request')}") from None


def owner(request: BackupRequest) -> str:
    return leases.owner_of(WORKFLOW, request.execution)


def plan_step(
    raw: Any, execution: str, pol: BackupPolicy, targets: Targets, now: datetime, poll_seconds: int
) -> BackupState:
    """Validate, read and verify what Terraform configured; name today's artefacts. No side effect."""
    request = parse_request(raw, execution)
    day = naming.day_of(now)
    checks: list[Check] = []
    rds_plan = cache_plan = eks_plan = None
    bucket_plans: list[BucketPlan] = []
    if "rds" in request.parts:
        home, dr = aws.client("rds"), aws.client("rds", targets.dr_region)
        instance = rds.describe_instance(home, targets.db_instance)
        checks += rds.verify_automated(instance, pol.rds, targets.dr_region, now)
        snapshot_id = naming.rds_snapshot_id(targets.db_instance, day)
        rds_plan = RdsPlan(
            db_instance=targets.db_instance,
            snapshot_id=snapshot_id,
            lease_key=leases.db_instance_key(targets.db_instance),
            exists=rds.snapshot(home, snapshot_id) is not None,
            dr_region=targets.dr_region,
            dr_kms_key=targets.dr_kms_key,
            encrypted=bool(instance.get("StorageEncrypted")),
            copies=rds.pending_copies(home, dr, targets.db_instance, day, pol.rds.copy_backlog_days, now),
        )
    if "cache" in request.parts:
        ec = aws.client("elasticache")
        group = cache.describe_group(ec, targets.cache_group)
        name = naming.cache_snapshot_name(targets.cache_group, day)
        cache_plan = CachePlan(
            group=targets.cache_group,
            snapshot=name,
            lease_key=leases.replication_group_key(targets.cache_group),
            exists=cache.snapshot(ec, name) is not None,
            bucket=targets.backups_bucket,
            export_name=naming.cache_export_name(targets.cache_group, day),
            shards=max(1, len(group.get("NodeGroups") or [])),
        )
    if "buckets" in request.parts:
        bucket_plans = [
            BucketPlan(
                name=b.name,
                region=targets.dr_region if b.region == "dr" else targets.home_region,
                lease_key=leases.bucket_key(b.name),
            )
            for b in pol.buckets
        ]
    if "eks" in request.parts:
        eks_plan = EksPlan(
            cluster=targets.cluster, bucket=targets.backups_bucket, key=naming.eks_state_key(targets.cluster, day)
        )
    plan = BackupPlan(
        day=day,
        retention_class=pol.retention_class,
        rds=rds_plan,
        cache=cache_plan,
        buckets=bucket_plans,
        eks=eks_plan,
        report_bucket=targets.backups_bucket,
        report_key=naming.report_key(day, execution),
    )
    return BackupState(
        request=request, plan=plan, checks=checks, proceed=not request.dry_run, poll_seconds=poll_seconds
    )


def _require(state: BackupState) -> tuple[BackupRequest, BackupPlan]:
    if state.request is None or state.plan is None:
        raise InvalidRequest("the workflow state has no request or plan")
    return state.request, state.plan


def _tags(state: BackupState, source: str) -> dict[str, str]:
    request, plan = _require(state)
    return naming.artefact_tags(source, plan.retention_class, WORKFLOW, request.execution)


def lease_key_of(plan: BackupPlan, part: str) -> str:
    if part == "rds" and plan.rds:
        return plan.rds.lease_key
    if part == "cache" and plan.cache:
        return plan.cache.lease_key
    raise InvalidRequest(f"the plan has no lease for part {part!r}")


def lock_step(
    state: BackupState, part: str, lease_store: LeaseStore, pol: BackupPolicy, now: datetime
) -> dict[str, Any]:
    request, plan = _require(state)
    lease = lease_store.acquire(lease_key_of(plan, part), owner(request), pol.lock_ttl_seconds, now, workflow=WORKFLOW)
    return lease.model_dump(mode="json")


def _progress(previous: Progress | None, part: str, phase: str, now: datetime) -> tuple[int, datetime]:
    if previous is None or previous.phase != phase:
        return 0, now
    return previous.polls + 1, previous.started_at


def _timed(state: ProgressLike, budget: int, poll_seconds: int, now: datetime) -> bool:
    elapsed = max(state.polls * poll_seconds, (now - state.started_at).total_seconds())
    return elapsed >= budget


ProgressLike = Progress


# --- RDS ---------------------------------------------------------------------------------------------


def rds_snapshot_step(state: BackupState, lease_store: LeaseStore, pol: BackupPolicy, now: datetime) -> Progress:
    """Take today's manual snapshot under the instance's lease (renewed first)."""
    request, plan = _require(state)
    assert plan.rds is not None
    lease_store.renew(plan.rds.lease_key, owner(request), pol.lock_ttl_seconds, now)
    status = rds.create_snapshot(
        aws.client("rds"), plan.rds.db_instance, plan.rds.snapshot_id, _tags(state, plan.rds.db_instance)
    ).get("Status", "creating")
    done = status == "available"
    return Progress(
        part="rds",
        phase="snapshot",
        state="done" if done else "in_progress",
        started_at=now,
        artefacts={plan.rds.snapshot_id: str(status)},
    )


def rds_poll_step(state: BackupState, lease_store: LeaseStore, pol: BackupPolicy, now: datetime) -> Progress:
    request, plan = _require(state)
    assert plan.rds is not None
    lease_store.renew(plan.rds.lease_key, owner(request), pol.lock_ttl_seconds, now)
    polls, started = _progress(state.rds, "rds", "snapshot", now)
    found = rds.snapshot(aws.client("rds"), plan.rds.snapshot_id)
    status = str(found.get("Status")) if found else "missing"
    progress = Progress(
        part="rds",
        phase="snapshot",
        state="in_progress",
        polls=polls,
        started_at=started,
        artefacts={plan.rds.snapshot_id: status},
    )
    if status == "available":
        return progress.model_copy(update={"state": "done"})
    if status in {"failed", "missing", "deleted", "deleting"}:
        return progress.model_copy(update={"state": "failed", "detail": f"snapshot {plan.rds.snapshot_id} is {status}"})
    if _timed(progress, pol.rds.snapshot_timeout_seconds, state.poll_seconds, now):
        return progress.model_copy(update={"state": "timed_out", "detail": f"snapshot still {status}"})
    return progress


def _copy_round(state: BackupState, pol: BackupPolicy, previous: dict[str, str]) -> dict[str, str]:
    """Start every copy not started yet (or queued), read every copy in flight: id -> status."""
    _, plan = _require(state)
    assert plan.rds is not None
    home, dr = aws.client("rds"), aws.client("rds", plan.rds.dr_region)
    home_region = home.meta.region_name
    statuses: dict[str, str] = {}
    for snapshot_id in plan.rds.copies:
        before = previous.get(snapshot_id)
        if before in {None, "queued"}:
            source = rds.snapshot(home, snapshot_id)
            if source is None or source.get("Status") != "available":
                statuses[snapshot_id] = "source-missing" if source is None else f"source-{source.get('Status')}"
                continue
            statuses[snapshot_id] = rds.start_copy(
                dr,
                home_region,
                str(source["DBSnapshotArn"]),
                snapshot_id,
                plan.rds.dr_kms_key,
                _tags(state, plan.rds.db_instance),
            )
            continue
        if before == "available":
            statuses[snapshot_id] = before
            continue
        found = rds.snapshot(dr, snapshot_id)
        statuses[snapshot_id] = str(found.get("Status")) if found else "missing"
    return statuses


def rds_copy_step(state: BackupState, pol: BackupPolicy, now: datetime) -> Progress:
    """Start the DR copies (no lease: the copy reads a snapshot, not the instance)."""
    statuses = _copy_round(state, pol, {})
    return _copy_progress(statuses, 0, now, pol, state, now)


def copy_poll_step(state: BackupState, pol: BackupPolicy, now: datetime) -> Progress:
    previous = state.copies.artefacts if state.copies else {}
    polls, started = _progress(state.copies, "copy", "copy", now)
    statuses = _copy_round(state, pol, previous)
    return _copy_progress(statuses, polls, started, pol, state, now)


def _copy_progress(
    statuses: dict[str, str], polls: int, started: datetime, pol: BackupPolicy, state: BackupState, now: datetime
) -> Progress:
    waiting = {
        k: v
        for k, v in statuses.items()
        if v not in {"available"} and not v.startswith("source-") and v not in {"failed", "missing"}
    }
    progress = Progress(
        part="copy", phase="copy", state="in_progress", polls=polls, started_at=started, artefacts=statuses
    )
    if not waiting:
        return progress.model_copy(update={"state": "done"})
    if _timed(progress, pol.rds.copy_timeout_seconds, state.poll_seconds, now):
        # Still copying or queued behind the quota: reported, and the next run copies what is missing.
        return progress.model_copy(update={"state": "done", "detail": f"{len(waiting)} copies not complete yet"})
    return progress


# --- ElastiCache -------------------------------------------------------------------------------------


def cache_snapshot_step(state: BackupState, lease_store: LeaseStore, pol: BackupPolicy, now: datetime) -> Progress:
    request, plan = _require(state)
    assert plan.cache is not None
    lease_store.renew(plan.cache.lease_key, owner(request), pol.lock_ttl_seconds, now)
    status = cache.create_snapshot(
        aws.client("elasticache"), plan.cache.group, plan.cache.snapshot, _tags(state, plan.cache.group)
    )
    return Progress(
        part="cache", phase="snapshot", state="in_progress", started_at=now, artefacts={plan.cache.snapshot: status}
    )


def cache_poll_step(state: BackupState, lease_store: LeaseStore, pol: BackupPolicy, now: datetime) -> Progress:
    """Snapshot available -> start the export -> the exported files are there (one per shard)."""
    request, plan = _require(state)
    assert plan.cache is not None
    c = plan.cache
    lease_store.renew(c.lease_key, owner(request), pol.lock_ttl_seconds, now)
    previous = state.cache
    phase = previous.phase if previous else "snapshot"
    polls, started = _progress(previous, "cache", phase, now)
    s3 = aws.client("s3")
    prefix = naming.cache_export_prefix(c.group, plan.day)
    if phase == "snapshot":
        found = cache.snapshot(aws.client("elasticache"), c.snapshot)
        status = str(found.get("SnapshotStatus")) if found else "missing"
        progress = Progress(
            part="cache",
            phase="snapshot",
            state="in_progress",
            polls=polls,
            started_at=started,
            artefacts={c.snapshot: status},
        )
        if status in {"failed", "missing", "deleting"}:
            return progress.model_copy(update={"state": "failed", "detail": f"snapshot {c.snapshot} is {status}"})
        if status != "available":
            if _timed(progress, pol.cache.snapshot_timeout_seconds, state.poll_seconds, now):
                return progress.model_copy(update={"state": "timed_out", "detail": f"snapshot still {status}"})
            return progress
        if len(cache.exported_objects(s3, c.bucket, prefix)) < c.shards:
            cache.start_export(aws.client("elasticache"), c.snapshot, c.export_name, c.bucket)
        phase, polls, started = "export", 0, now
    objects = cache.exported_objects(s3, c.bucket, prefix)
    artefacts = {c.snapshot: "available", **{f"s3://{c.bucket}/{k}": f"{v} bytes" for k, v in objects.items()}}
    progress = Progress(
        part="cache", phase="export", state="in_progress", polls=polls, started_at=started, artefacts=artefacts
    )
    if len(objects) >= c.shards:
        return progress.model_copy(update={"state": "done"})
    if _timed(progress, pol.cache.export_timeout_seconds, state.poll_seconds, now):
        return progress.model_copy(
            update={"state": "timed_out", "detail": f"{len(objects)} of {c.shards} shard files exported"}
        )
    return progress


# --- S3 and EKS --------------------------------------------------------------------------------------


def buckets_step(state: BackupState, lease_store: LeaseStore, pol: BackupPolicy, now: datetime) -> list[Check]:
    request, plan = _require(state)
    regions = {b.name: b.region for b in plan.buckets}
    checks: list[Check] = []
    for bucket in pol.buckets:
        if bucket.name not in regions:
            continue
        s3 = aws.client("s3", regions[bucket.name])
        checks += buckets.check_bucket(s3, bucket, lease_store, owner(request), pol.lock_ttl_seconds, now)
    return checks


def eks_export_step(state: BackupState, now: datetime) -> Check:
    _, plan = _require(state)
    assert plan.eks is not None
    e = plan.eks
    written = eks_state.export(aws.client("eks"), aws.client("s3"), e.cluster, e.bucket, e.key, now)
    return Check(
        name=f"eks.{e.cluster}.state_export",
        passed=True,
        detail=f"s3://{e.bucket}/{e.key} version {written['version_id']}: {written['nodegroups']} node groups, "
        f"{written['addons']} add-ons, {written['access_entries']} access entries, {written['bytes']} bytes",
    )


# --- integrity and report ----------------------------------------------------------------------------


def _branch_states(state: BackupState) -> list[BackupState]:
    return [BackupState.model_validate(r) for r in state.results or []]


def _error_check(part: str, branch: BackupState) -> Check | None:
    if branch.error is None:
        return None
    return Check(
        name=f"{part}.run", passed=False, detail=f"{branch.error.Error}: {error_message(branch.error.Cause)[:300]}"
    )


def _rds_integrity(r: RdsPlan, branch: BackupState) -> list[Check]:
    home, dr = aws.client("rds"), aws.client("rds", r.dr_region)
    instance = rds.describe_instance(home, r.db_instance)
    snap = rds.snapshot(home, r.snapshot_id) or {}
    ok = snap.get("Status") == "available" and bool(snap.get("Encrypted")) == r.encrypted
    sane = int(snap.get("AllocatedStorage") or 0) >= int(instance.get("AllocatedStorage") or 1)
    checks = [
        Check(
            name=f"rds.{r.snapshot_id}.snapshot",
            passed=ok and sane,
            detail=f"status {snap.get('Status', 'missing')}, encrypted {snap.get('Encrypted')}, "
            f"{snap.get('AllocatedStorage', 0)} GiB (instance {instance.get('AllocatedStorage')} GiB)",
        )
    ]
    started = branch.copies.artefacts if branch.copies else {}
    # Today's copy is checked even when it existed before this run (nothing to copy, still verified).
    for snapshot_id in sorted({*r.copies, r.snapshot_id}):
        status = started.get(snapshot_id, "not started")
        copy = rds.snapshot(dr, snapshot_id)
        name = f"rds.{snapshot_id}.dr_copy"
        if copy is not None and copy.get("Status") == "available":
            right_key = str(copy.get("KmsKeyId", "")) == r.dr_kms_key or not r.encrypted
            detail = f"available in {r.dr_region}, key {'the DR key' if right_key else copy.get('KmsKeyId')}"
            passed = right_key and bool(copy.get("Encrypted")) == r.encrypted
            checks.append(Check(name=name, passed=passed, detail=detail))
        elif status in IN_FLIGHT or (copy is not None and copy.get("Status") in IN_FLIGHT):
            now_status = status if copy is None else copy.get("Status")
            detail = f"{now_status} (copy quota or in flight): the next run copies or checks it again"
            checks.append(Check(name=name, passed=False, warning=True, detail=detail))
        else:
            checks.append(Check(name=name, passed=False, detail=f"copy {status}"))
    return checks


IN_FLIGHT = frozenset({"queued", "pending", "copying", "creating"})


def _cache_integrity(c: CachePlan, day: str, pol: BackupPolicy) -> list[Check]:
    ec = aws.client("elasticache")
    snap = cache.snapshot(ec, c.snapshot) or {}
    group = cache.describe_group(ec, c.group)
    s3 = aws.client("s3")
    objects = cache.exported_objects(s3, c.bucket, naming.cache_export_prefix(c.group, day))
    small = sorted(k for k, v in objects.items() if v < pol.cache.min_export_bytes)
    encrypted = all(s3.head_object(Bucket=c.bucket, Key=k).get("ServerSideEncryption") for k in objects)
    detail = f"{len(objects)} of {c.shards} shard files in s3://{c.bucket}, {sum(objects.values())} bytes"
    if small:
        detail += f", too small: {small}"
    if not encrypted:
        detail += ", not encrypted"
    return [
        Check(
            name=f"elasticache.{c.snapshot}.snapshot",
            passed=snap.get("SnapshotStatus") == "available",
            detail=f"status {snap.get('SnapshotStatus', 'missing')}",
        ),
        Check(
            name=f"elasticache.{c.snapshot}.export",
            passed=len(objects) >= c.shards and not small and encrypted and bool(group.get("AtRestEncryptionEnabled")),
            detail=detail,
        ),
    ]


def _eks_integrity(e: EksPlan, branch: BackupState) -> list[Check]:
    try:
        head = aws.client("s3").head_object(Bucket=e.bucket, Key=e.key)
        ok = int(head.get("ContentLength") or 0) > 0 and bool(head.get("ServerSideEncryption"))
        detail = f"{head.get('ContentLength')} bytes, encryption {head.get('ServerSideEncryption')}"
    except Exception as exc:
        if aws.is_retryable(exc):
            raise
        ok, detail = False, f"cannot read: {aws.error_code(exc)}"
    found = [branch.eks] if branch.eks is not None else []
    return [*found, Check(name=f"eks.{e.cluster}.state_object", passed=ok, detail=detail)]


def integrity_checks(state: BackupState, pol: BackupPolicy) -> list[Check]:
    """Each artefact checked where it lives: available, encrypted, the DR copy complete, sizes sane."""
    _, plan = _require(state)
    checks = list(state.checks)
    by_part = dict(zip(ALL_PARTS, _branch_states(state), strict=False))
    for part, branch in by_part.items():
        problem = _error_check(part, branch)
        if problem:
            checks.append(problem)
    ok = {part for part, branch in by_part.items() if branch.error is None}
    if plan.rds is not None and "rds" in ok:
        checks += _rds_integrity(plan.rds, by_part["rds"])
    if plan.cache is not None and "cache" in ok:
        checks += _cache_integrity(plan.cache, plan.day, pol)
    if "buckets" in by_part:
        checks += by_part["buckets"].buckets or []
    if plan.eks is not None and "eks" in ok:
        checks += _eks_integrity(plan.eks, by_part["eks"])
    return checks


def verify_step(state: BackupState, pol: BackupPolicy, now: datetime) -> BackupReport:
    request, plan = _require(state)
    checks = integrity_checks(state, pol)
    failed = [c for c in checks if not c.passed and not c.warning]
    report = BackupReport(
        day=plan.day,
        execution=request.execution,
        checks=checks,
        passed=not failed,
        warnings=sum(1 for c in checks if not c.passed and c.warning),
        location=f"s3://{plan.report_bucket}/{plan.report_key}",
    )
    aws.client("s3").put_object(
        Bucket=plan.report_bucket,
        Key=plan.report_key,
        ContentType="application/json",
        Body=json.dumps(report.model_dump(mode="json"), indent=1).encode(),
        ServerSideEncryption="aws:kms",
    )
    return report


def outcome_of(state: BackupState, execution: str, now: datetime, started_at: datetime | None) -> BackupOutcome:  # noqa: PLR0911
    request, plan = state.request, state.plan
    common: dict[str, Any] = {
        "execution": execution,
        "recorded_at": now,
        "started_at": started_at,
        "dry_run": bool(request and request.dry_run),
        "requester": request.requester if request else None,
        "day": plan.day if plan else None,
    }
    if state.error is not None and state.report is None:
        error = state.error.Error
        status = OutcomeStatus.REJECTED if error in {"InvalidRequest", "ResourceNotFound"} else OutcomeStatus.FAILED
        return BackupOutcome(
            status=status,
            reason=error_message(state.error.Cause) or error,
            error=error[:200],
            checks=state.checks,
            **common,
        )
    if plan is None or request is None:
        return BackupOutcome(
            status=OutcomeStatus.FAILED, reason="the workflow ended before a plan was made", error="NoPlan", **common
        )
    if request.dry_run:
        names = [
            x
            for x in (plan.rds and plan.rds.snapshot_id, plan.cache and plan.cache.snapshot, plan.eks and plan.eks.key)
            if x
        ]
        copies = plan.rds.copies if plan.rds else []
        return BackupOutcome(
            status=OutcomeStatus.DRY_RUN,
            checks=state.checks,
            reason=f"would create {names}, copy {copies} to the DR region, check {len(plan.buckets)} buckets; "
            "nothing changed",
            **common,
        )
    report = state.report
    if report is None:
        return BackupOutcome(
            status=OutcomeStatus.FAILED, reason="no report was made", error="NoReport", checks=state.checks, **common
        )
    failed = [c for c in report.checks if not c.passed and not c.warning]
    lease_refusals = [c for c in failed if c.name.endswith(".run") and c.detail.startswith("LockHeld")]
    base = {**common, "checks": report.checks, "report_location": report.location}
    if failed and len(lease_refusals) == len(failed):
        return BackupOutcome(status=OutcomeStatus.BLOCKED, reason="; ".join(c.detail for c in failed)[:900], **base)
    if failed:
        return BackupOutcome(
            status=OutcomeStatus.FAILED,
            error="IntegrityCheckFailed",
            reason=f"{len(failed)} of {len(report.checks)} checks failed: "
            + "; ".join(f"{c.name}: {c.detail}" for c in failed)[:800],
            **base,
        )
    warn = f", {report.warnings} warnings" if report.warnings else ""
    return BackupOutcome(status=OutcomeStatus.SUCCEEDED, reason=f"{len(report.checks)} checks passed{warn}", **base)


# --- entry point -------------------------------------------------------------------------------------


def _state(event: dict[str, Any]) -> BackupState:
    try:
        return BackupState.model_validate(event.get("state", {}))
    except ValidationError as exc:
        raise InvalidRequest(f"malformed workflow state: {exc.error_count()} problems") from None


def handle(event: Any) -> Any:
    if not isinstance(event, dict) or event.get("task") not in TASKS:
        raise InvalidRequest(f"the event must name a task, one of {list(TASKS)}")
    task = str(event["task"])
    pol, now = backup_policy(), now_utc()
    if task == "plan":
        poll_seconds = event.get("poll_seconds", 30)
        if not isinstance(poll_seconds, int) or isinstance(poll_seconds, bool) or not 1 <= poll_seconds <= 300:
            raise InvalidRequest("poll_seconds must be an integer from 1 to 300")
        execution = event.get("execution", "local")
        if not isinstance(execution, str) or not 1 <= len(execution) <= 80:
            raise InvalidRequest("execution must be a name of 1 to 80 characters")
        return plan_step(event.get("input"), execution, pol, Targets.from_env(), now, poll_seconds)
    if task == "record":
        return record(event)
    state = _state(event)
    store: LeaseStore = DynamoLeaseStore(settings().state_table)
    routes: dict[str, Any] = {
        "lock": lambda: lock_step(state, str(event.get("part")), store, pol, now),
        "rds_snapshot": lambda: rds_snapshot_step(state, store, pol, now),
        "rds_poll": lambda: rds_poll_step(state, store, pol, now),
        "rds_copy": lambda: rds_copy_step(state, pol, now),
        "copy_poll": lambda: copy_poll_step(state, pol, now),
        "cache_snapshot": lambda: cache_snapshot_step(state, store, pol, now),
        "cache_poll": lambda: cache_poll_step(state, store, pol, now),
        "buckets": lambda: [c.model_dump(mode="json") for c in buckets_step(state, store, pol, now)],
        "eks_export": lambda: eks_export_step(state, now),
        "verify": lambda: verify_step(state, pol, now),
    }
    return routes[task]()


def record(event: dict[str, Any]) -> BackupOutcome:
    from controlplane import audit
    from controlplane.store import DynamoStateStore

    cfg, pol = settings(), backup_policy()
    from controlplane.models.outcome import started_at_of

    started_at = started_at_of(event)
    outcome = outcome_of(_state(event), str(event.get("execution", "")), now_utc(), started_at)
    audit.record(outcome, DynamoStateStore(cfg.state_table), cfg, pol.notify_on)
    return outcome


__all__ = ["handle", "outcome_of", "plan_step", "timedelta"]

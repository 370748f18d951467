"""The weekly Restore drill: restore the latest daily snapshot to a small tagged instance, verify its data
against the source, measure RTO and RPO, delete the instance on every path, report and emit the figures.

RTO is restore started -> data verified. RPO is the age of the snapshot's data when the drill started
(what a recovery from the latest backup would lose now). The instance carries ``DrillDeadline`` so
cleanup can delete it if the drill dies; the drill holds the snapshot's lease so cleanup never deletes
the snapshot it restores from.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, ValidationError

from controlplane import aws, leases
from controlplane.backup import naming, rds
from controlplane.backup.models import Check, ErrorInfo
from controlplane.backup.policy import BackupPolicy, DrillPolicy, backup_policy
from controlplane.backup.targets import Targets
from controlplane.config import settings
from controlplane.leases import DynamoLeaseStore, LeaseStore
from controlplane.models.base import LenientModel, Model
from controlplane.models.errors import InvalidRequest, ResourceNotFound, error_message, validation_problems
from controlplane.models.outcome import OutcomeStatus, Requester, WorkflowOutcome

WORKFLOW = "restore-drill"
TASKS = ("plan", "lock", "restore", "poll", "teardown", "record")  # verify: controlplane.backup.in_vpc


class DrillRequest(Model):
    requester: Requester
    dry_run: bool = False
    # Default: the newest available daily snapshot of the primary.
    snapshot_id: str | None = Field(default=None, pattern=r"^cp-[a-z][a-z0-9-]*-\d{4}-\d{2}-\d{2}$")
    execution: str = Field(min_length=1, max_length=80)


class DrillPlan(Model):
    db_instance: str
    snapshot_id: str
    snapshot_time: datetime
    instance_id: str
    deadline: datetime
    lease_key: str
    instance_class: str
    report_bucket: str
    report_key: str


class Endpoint(Model):
    """Where to log in to an instance, read outside the VPC (the RDS API), used inside it (the database)."""

    instance: str
    address: str
    port: int
    secret_arn: str


class DrillProgress(Model):
    state: Literal["in_progress", "done", "failed", "timed_out"]
    polls: int = 0
    started_at: datetime
    # Once available: the restored instance's and the source's endpoints, for the verify step in the VPC.
    restored: Endpoint | None = None
    source: Endpoint | None = None
    status: str = ""
    detail: str = ""


class DrillFigures(Model):
    rto_seconds: float
    rpo_seconds: float
    checks: list[Check]
    passed: bool


class DrillState(LenientModel):
    request: DrillRequest | None = None
    plan: DrillPlan | None = None
    proceed: bool = False
    poll_seconds: int = 30
    restore: DrillProgress | None = None
    figures: DrillFigures | None = None
    teardown: dict[str, Any] | None = None
    error: ErrorInfo | None = None


class DrillOutcome(WorkflowOutcome):
    workflow: str = "restore-drill"
    snapshot_id: str | None = None
    instance_id: str | None = None
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    checks: list[Check] = Field(default_factory=list)
    torn_down: bool | None = None

    def audit_key(self) -> str:
        return f"restore-drill#{self.snapshot_id or 'unknown'}"

    def target(self) -> str:
        return f"restore drill of {self.snapshot_id or 'no snapshot'}"

    def notification_lines(self) -> list[str]:
        lines = super().notification_lines()
        if self.rto_seconds is not None:
            lines.append(f"RTO: {self.rto_seconds:.0f} s, RPO: {self.rpo_seconds:.0f} s")
        lines += [f"FAILED {c.name}: {c.detail}" for c in self.checks if not c.passed][:20]
        lines.append(f"Drill instance deleted: {self.torn_down}")
        return lines


def now_utc() -> datetime:
    from controlplane import clock

    return clock.now()


def owner(request: DrillRequest) -> str:
    return leases.owner_of(WORKFLOW, request.execution)


def latest_snapshot(client: Any, db_instance: str) -> dict[str, Any] | None:
    found = [s for s in rds.manual_snapshots(client, db_instance) if s.get("Status") == "available"]
    return max(found, key=lambda s: s["SnapshotCreateTime"]) if found else None


def plan_step(raw: Any, execution: str, pol: BackupPolicy, targets: Targets, now: datetime, poll: int) -> DrillState:
    if not isinstance(raw, dict):
        raise InvalidRequest("the request must be a JSON object")
    try:
        request = DrillRequest.model_validate({**raw, "execution": execution})
    except ValidationError as exc:
        raise InvalidRequest(f"invalid drill request: {validation_problems(exc, 'request')}") from None
    client = aws.client("rds")
    if request.snapshot_id:
        snapshot = rds.snapshot(client, request.snapshot_id)
        if snapshot is None or snapshot.get("DBInstanceIdentifier") != targets.db_instance:
            raise ResourceNotFound(f"no snapshot {request.snapshot_id} of {targets.db_instance}")
        if snapshot.get("Status") != "available":
            raise InvalidRequest(f"snapshot {request.snapshot_id} is {snapshot.get('Status')}, not available")
    else:
        snapshot = latest_snapshot(client, targets.db_instance)
        if snapshot is None:
            raise ResourceNotFound(f"no available daily snapshot of {targets.db_instance} to drill")
    snapshot_id = str(snapshot["DBSnapshotIdentifier"])
    plan = DrillPlan(
        db_instance=targets.db_instance,
        snapshot_id=snapshot_id,
        snapshot_time=snapshot["SnapshotCreateTime"],
        instance_id=naming.drill_instance_id(targets.db_instance, now),
        deadline=now + timedelta(seconds=pol.drill.max_duration_seconds),
        lease_key=leases.snapshot_key("rds", snapshot_id),
        instance_class=pol.drill.instance_class,
        report_bucket=targets.backups_bucket,
        report_key=naming.drill_report_key(naming.day_of(now), execution),
    )
    return DrillState(request=request, plan=plan, proceed=not request.dry_run, poll_seconds=poll)


def _require(state: DrillState) -> tuple[DrillRequest, DrillPlan]:
    if state.request is None or state.plan is None:
        raise InvalidRequest("the workflow state has no request or plan")
    return state.request, state.plan


def restore_step(state: DrillState, store: LeaseStore, pol: BackupPolicy, now: datetime) -> DrillProgress:
    request, plan = _require(state)
    store.renew(plan.lease_key, owner(request), pol.lock_ttl_seconds, now)
    client = aws.client("rds")
    source = rds.describe_instance(client, plan.db_instance)
    tags = {
        **naming.artefact_tags(plan.db_instance, "daily", WORKFLOW, request.execution),
        "Purpose": "restore-drill",
        "DrillDeadline": plan.deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "RestoredFrom": plan.snapshot_id,
    }
    restored = rds.restore(client, plan.instance_id, plan.snapshot_id, plan.instance_class, source, tags)
    status = str(restored.get("DBInstanceStatus", "creating"))
    # Always polled once (the Choice sends "in_progress" to the poll), which reads the endpoints.
    return DrillProgress(state="in_progress", started_at=now, status=status)


def poll_step(state: DrillState, store: LeaseStore, pol: BackupPolicy, now: datetime) -> DrillProgress:
    request, plan = _require(state)
    store.renew(plan.lease_key, owner(request), pol.lock_ttl_seconds, now)
    previous = state.restore
    started = previous.started_at if previous else now
    polls = (previous.polls if previous else 0) + 1
    client = aws.client("rds")
    instance = rds.describe_instance(client, plan.instance_id)
    status = str(instance.get("DBInstanceStatus"))
    progress = DrillProgress(state="in_progress", polls=polls, started_at=started, status=status)
    if status == "available":
        source = rds.describe_instance(client, plan.db_instance)
        return progress.model_copy(
            update={"state": "done", "restored": endpoint_of(instance), "source": endpoint_of(source)}
        )
    if status in {"failed", "incompatible-restore", "incompatible-parameters", "deleting"}:
        return progress.model_copy(update={"state": "failed", "detail": f"the restored instance is {status}"})
    elapsed = max(polls * state.poll_seconds, (now - started).total_seconds())
    if elapsed >= pol.drill.restore_timeout_seconds:
        return progress.model_copy(update={"state": "timed_out", "detail": f"still {status} after {int(elapsed)}s"})
    return progress


def endpoint_of(instance: dict[str, Any]) -> Endpoint:
    arn = (instance.get("MasterUserSecret") or {}).get("SecretArn")
    if not arn:
        raise InvalidRequest(f"{instance['DBInstanceIdentifier']} has no managed master secret to connect with")
    where = instance.get("Endpoint") or {}
    return Endpoint(
        instance=str(instance["DBInstanceIdentifier"]), address=str(where.get("Address", "")),
        port=int(where.get("Port") or 5432), secret_arn=str(arn),
    )  # fmt: skip


def _ssl_context() -> Any:
    """``DATABASE_TLS`` as the rotation functions read it: verify (default; ``DATABASE_CA_BUNDLE`` or the
    system store), require (encrypted, certificate unchecked), disable (the sandbox's private servers)."""
    import os
    import ssl

    mode = os.environ.get("DATABASE_TLS", "verify").lower()
    if mode == "disable":
        return None
    context = ssl.create_default_context(cafile=os.environ.get("DATABASE_CA_BUNDLE") or None)
    if mode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect(endpoint: Endpoint, database: str) -> Any:
    """A pg8000 connection with the instance's managed master secret; never logs the secret."""
    import pg8000.native

    secret = aws.client("secretsmanager").get_secret_value(SecretId=endpoint.secret_arn, VersionStage="AWSCURRENT")
    credentials = json.loads(secret["SecretString"])
    return pg8000.native.Connection(
        user=credentials["username"], password=credentials["password"], host=endpoint.address,
        port=endpoint.port, database=database, timeout=10, ssl_context=_ssl_context(),
    )  # fmt: skip


def table_figures(connection: Any, table: str) -> tuple[int, str]:
    """Row count and a checksum of every row (reading every row also reads every page: damage shows)."""
    rows = connection.run(
        f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM \"{table}\" t"
    )
    return int(rows[0][0]), str(rows[0][1])


def data_checks(restored: Any, source: Any, drill: DrillPolicy) -> list[Check]:
    checks: list[Check] = []
    for table in drill.tables:
        exists = restored.run("SELECT to_regclass(:name) IS NOT NULL", name=f"public.{table.name}")[0][0]
        if not exists:
            checks.append(Check(name=f"drill.{table.name}.schema", passed=False, detail="table missing in the restore"))
            continue
        count, digest = table_figures(restored, table.name)
        source_count, source_digest = table_figures(source, table.name)
        allowed = source_count * table.tolerance_percent / 100
        within = abs(source_count - count) <= allowed
        checks.append(Check(name=f"drill.{table.name}.rows", passed=within,
                            detail=f"{count} rows restored, {source_count} in the source (tolerance {table.tolerance_percent}%)"))  # fmt: skip # noqa: E501
        same = digest == source_digest
        checks.append(Check(
            name=f"drill.{table.name}.checksum", passed=True if count != source_count else same,
            detail="identical to the source" if same else ("source changed since the snapshot" if count != source_count
                                                          else "rows differ from the source"),
        ))  # fmt: skip
    return checks


def verify_step(state: DrillState, store: LeaseStore, pol: BackupPolicy, now: datetime) -> DrillFigures:
    request, plan = _require(state)
    store.renew(plan.lease_key, owner(request), pol.lock_ttl_seconds, now)
    progress = state.restore
    if progress is None or progress.restored is None or progress.source is None:
        raise InvalidRequest("the workflow state has no endpoints to verify")
    with (
        connect(progress.restored, pol.drill.database) as restored,
        connect(progress.source, pol.drill.database) as source,
    ):
        checks = data_checks(restored, source, pol.drill)
    started = state.restore.started_at if state.restore else now
    rto = (now - started).total_seconds()
    rpo = (started - plan.snapshot_time).total_seconds()
    checks.append(Check(name="drill.rto", passed=rto <= pol.drill.rto_target_seconds, detail=f"{rto:.0f}s (target {pol.drill.rto_target_seconds}s)"))  # fmt: skip # noqa: E501
    checks.append(Check(name="drill.rpo", passed=rpo <= pol.drill.rpo_target_seconds, detail=f"{rpo:.0f}s (target {pol.drill.rpo_target_seconds}s)"))  # fmt: skip # noqa: E501
    return DrillFigures(rto_seconds=rto, rpo_seconds=rpo, checks=checks, passed=all(c.passed for c in checks))


def teardown_step(state: DrillState) -> dict[str, Any]:
    """Delete the drill instance (every path comes here); only an instance this drill tagged."""
    _, plan = _require(state)
    client = aws.client("rds")
    if not plan.instance_id.startswith("drill-"):
        raise InvalidRequest(f"{plan.instance_id} is not a drill instance; not deleting it")
    # The name is this drill's own (deterministic, and IAM allows deleting drill-<primary>-* only).
    return {"instance": plan.instance_id, "status": rds.delete_instance(client, plan.instance_id)}


def outcome_of(state: DrillState, execution: str, now: datetime, started_at: datetime | None) -> DrillOutcome:  # noqa: PLR0911
    request, plan = state.request, state.plan
    torn = None if state.teardown is None else state.teardown.get("status") in {"deleting", "gone"}
    common: dict[str, Any] = {
        "execution": execution, "recorded_at": now, "started_at": started_at,
        "dry_run": bool(request and request.dry_run), "requester": request.requester if request else None,
        "snapshot_id": plan.snapshot_id if plan else None, "instance_id": plan.instance_id if plan else None,
        "torn_down": torn,
    }  # fmt: skip
    figures = state.figures
    if figures is not None:
        common.update(rto_seconds=figures.rto_seconds, rpo_seconds=figures.rpo_seconds, checks=figures.checks)
    if state.error is not None:
        error = state.error.Error
        rejected = error in {"InvalidRequest", "ResourceNotFound"}
        blocked = error == "LockHeld"
        status = OutcomeStatus.REJECTED if rejected else OutcomeStatus.BLOCKED if blocked else OutcomeStatus.FAILED
        return DrillOutcome(
            status=status, reason=error_message(state.error.Cause)[:900] or error, error=error[:200], **common
        )
    if plan is None or request is None:
        return DrillOutcome(status=OutcomeStatus.FAILED, reason="ended before a plan", error="NoPlan", **common)
    if request.dry_run:
        return DrillOutcome(status=OutcomeStatus.DRY_RUN, reason=f"would restore {plan.snapshot_id} to {plan.instance_id} "  # noqa: E501
                            f"({plan.instance_class}) and delete it by {plan.deadline.isoformat()}", **common)  # fmt: skip # noqa: E501
    if state.restore is not None and state.restore.state in {"failed", "timed_out"}:
        status = OutcomeStatus.TIMED_OUT if state.restore.state == "timed_out" else OutcomeStatus.FAILED
        return DrillOutcome(status=status, reason=state.restore.detail, error="RestoreFailed", **common)
    if figures is None:
        return DrillOutcome(
            status=OutcomeStatus.FAILED, reason="the data was never verified", error="NotVerified", **common
        )
    if not figures.passed:
        failed = [f"{c.name}: {c.detail}" for c in figures.checks if not c.passed]
        return DrillOutcome(
            status=OutcomeStatus.FAILED, error="DrillCheckFailed", reason="; ".join(failed)[:900], **common
        )
    return DrillOutcome(status=OutcomeStatus.SUCCEEDED, **common,
                        reason=f"restored and verified: RTO {figures.rto_seconds:.0f}s, RPO {figures.rpo_seconds:.0f}s")  # fmt: skip # noqa: E501


def _state(event: dict[str, Any]) -> DrillState:
    try:
        return DrillState.model_validate(event.get("state", {}))
    except ValidationError as exc:
        raise InvalidRequest(f"malformed workflow state: {exc.error_count()} problems") from None


def handle(event: Any) -> Any:
    if not isinstance(event, dict) or event.get("task") not in TASKS:
        raise InvalidRequest(f"the event must name a task, one of {list(TASKS)}")
    task, pol, now = str(event["task"]), backup_policy(), now_utc()
    if task == "plan":
        poll = event.get("poll_seconds", 30)
        if not isinstance(poll, int) or isinstance(poll, bool) or not 1 <= poll <= 300:
            raise InvalidRequest("poll_seconds must be an integer from 1 to 300")
        return plan_step(
            event.get("input"), str(event.get("execution", "local"))[:80], pol, Targets.from_env(), now, poll
        )
    if task == "record":
        return record(event)
    state = _state(event)
    store = DynamoLeaseStore(settings().state_table)
    if task == "lock":
        request, plan = _require(state)
        return store.acquire(plan.lease_key, owner(request), pol.lock_ttl_seconds, now, workflow=WORKFLOW)
    if task == "restore":
        return restore_step(state, store, pol, now)
    if task == "poll":
        return poll_step(state, store, pol, now)
    return teardown_step(state)


def record(event: dict[str, Any]) -> DrillOutcome:
    from aws_lambda_powertools.metrics import MetricUnit

    from controlplane import audit
    from controlplane.observability import metrics
    from controlplane.store import DynamoStateStore

    cfg, pol = settings(), backup_policy()
    from controlplane.models.outcome import started_at_of

    started_at = started_at_of(event)
    state = _state(event)
    outcome = outcome_of(state, str(event.get("execution", "")), now_utc(), started_at)
    if outcome.rto_seconds is not None and outcome.rpo_seconds is not None:
        metrics.add_metric(name="RestoreDrillRTO", unit=MetricUnit.Seconds, value=outcome.rto_seconds)
        metrics.add_metric(name="RestoreDrillRPO", unit=MetricUnit.Seconds, value=outcome.rpo_seconds)
    if state.plan is not None and not outcome.dry_run:
        aws.client("s3").put_object(
            Bucket=state.plan.report_bucket, Key=state.plan.report_key, ContentType="application/json",
            Body=json.dumps(outcome.model_dump(mode="json"), indent=1).encode(), ServerSideEncryption="aws:kms",
        )  # fmt: skip
    audit.record(outcome, DynamoStateStore(cfg.state_table), cfg, pol.notify_on)
    return outcome

"""Recovery (started by a person): validate the chosen backup, restore it to a new instance, verify its
data, and, when asked and approved, point the database's DNS name at it; then check health. Every step
is notified; ``dry_run`` shows the plan and changes nothing.

The switch is a Route 53 UPSERT of the database's CNAME in the platform's private zone, made only after
an approval (a task token the approver answers with ``cpctl approve|reject``) within the policy's time.
A rejected or expired approval deletes the restored instance (nothing is left half-done); after a switch
the old primary is left alone for people to inspect.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

from controlplane import aws, leases
from controlplane.backup import drill, naming, rds
from controlplane.backup.models import Check, ErrorInfo
from controlplane.backup.policy import BackupPolicy, backup_policy
from controlplane.backup.targets import Targets
from controlplane.config import settings
from controlplane.leases import DynamoLeaseStore, LeaseStore
from controlplane.models.base import LenientModel, Model
from controlplane.models.errors import InvalidRequest, error_message, validation_problems
from controlplane.models.outcome import OutcomeStatus, Requester, RequesterType, WorkflowOutcome

WORKFLOW = "recovery"
TASKS = (
    "plan",
    "lock",
    "restore",
    "poll",
    "request_approval",
    "switch",
    "teardown",
    "record",
)  # verify, health: in_vpc


class InvalidBackup(InvalidRequest):
    """The chosen backup cannot be recovered from (missing, not available, not this database's, unencrypted)."""


class RecoveryRequest(Model):
    requester: Requester
    snapshot_id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,254}$")
    switch_dns: bool = False
    dry_run: bool = False
    reason: str = Field(min_length=3, max_length=500)
    execution: str = Field(min_length=1, max_length=80)


class RecoveryPlan(Model):
    db_instance: str
    snapshot_id: str
    snapshot_time: datetime
    instance_id: str
    lease_key: str
    instance_class: str
    hosted_zone_id: str
    record_name: str
    record_ttl: int
    approval_timeout_seconds: int
    switch_dns: bool


class RecoveryState(LenientModel):
    request: RecoveryRequest | None = None
    plan: RecoveryPlan | None = None
    proceed: bool = False
    poll_seconds: int = 30
    restore: drill.DrillProgress | None = None
    checks: list[Check] | None = None
    approval: dict[str, Any] | None = None
    switch: dict[str, Any] | None = None
    health: Check | None = None
    teardown: dict[str, Any] | None = None
    error: ErrorInfo | None = None


class RecoveryOutcome(WorkflowOutcome):
    workflow: str = "recovery"
    snapshot_id: str | None = None
    instance_id: str | None = None
    switched: bool = False
    checks: list[Check] = Field(default_factory=list)
    approved_by: str | None = None

    def audit_key(self) -> str:
        return f"recovery#{self.snapshot_id or 'unknown'}"

    def target(self) -> str:
        return f"recovery from {self.snapshot_id or 'no backup'}"

    def notification_lines(self) -> list[str]:
        lines = super().notification_lines()
        lines.append(f"Restored instance: {self.instance_id}; DNS switched: {self.switched}")
        if self.approved_by:
            lines.append(f"Approved by: {self.approved_by}")
        return lines + [f"FAILED {c.name}: {c.detail}" for c in self.checks if not c.passed][:20]


def owner(request: RecoveryRequest) -> str:
    return leases.owner_of(WORKFLOW, request.execution)


def validate_backup(snapshot: dict[str, Any] | None, snapshot_id: str, db_instance: str) -> dict[str, Any]:
    if snapshot is None:
        raise InvalidBackup(f"no snapshot {snapshot_id}")
    problems = []
    if snapshot.get("Status") != "available":
        problems.append(f"it is {snapshot.get('Status')}, not available")
    if snapshot.get("DBInstanceIdentifier") != db_instance:
        problems.append(f"it is a snapshot of {snapshot.get('DBInstanceIdentifier')}, not {db_instance}")
    if not snapshot.get("Encrypted"):
        problems.append("it is not encrypted")
    if snapshot.get("Engine") != "postgres":
        problems.append(f"its engine is {snapshot.get('Engine')}")
    if problems:
        raise InvalidBackup(f"{snapshot_id} cannot be recovered from: {'; '.join(problems)}")
    return snapshot


def plan_step(raw: Any, execution: str, pol: BackupPolicy, targets: Targets, now: datetime, poll: int) -> RecoveryState:
    if not isinstance(raw, dict):
        raise InvalidRequest("the request must be a JSON object")
    try:
        request = RecoveryRequest.model_validate({**raw, "execution": execution})
    except ValidationError as exc:
        raise InvalidRequest(f"invalid recovery request: {validation_problems(exc, 'request')}") from None
    if request.requester.type != RequesterType.PERSON:
        raise InvalidRequest("recovery is started by a person")
    if not naming.is_rds_snapshot_of(request.snapshot_id, targets.db_instance):
        # The control plane's daily snapshots only (a DR copy is restored in the DR region by hand).
        raise InvalidBackup(f"{request.snapshot_id} is not a daily snapshot of {targets.db_instance} (cp-<db>-<day>)")
    found = rds.snapshot(aws.client("rds"), request.snapshot_id)
    snapshot = validate_backup(found, request.snapshot_id, targets.db_instance)
    zone, record = os.environ.get("DATABASE_HOSTED_ZONE_ID", ""), os.environ.get("DATABASE_RECORD_NAME", "")
    if request.switch_dns and not (zone and record):
        raise InvalidRequest("switching DNS needs the database record (DATABASE_HOSTED_ZONE_ID, DATABASE_RECORD_NAME)")
    plan = RecoveryPlan(
        db_instance=targets.db_instance,
        snapshot_id=request.snapshot_id,
        snapshot_time=snapshot["SnapshotCreateTime"],
        instance_id=naming.recovery_instance_id(targets.db_instance, now),
        lease_key=leases.snapshot_key("rds", request.snapshot_id),
        instance_class=str(rds.describe_instance(aws.client("rds"), targets.db_instance)["DBInstanceClass"]),
        hosted_zone_id=zone,
        record_name=record,
        record_ttl=pol.recovery.record_ttl_seconds,
        approval_timeout_seconds=pol.recovery.approval_timeout_seconds,
        switch_dns=request.switch_dns,
    )
    return RecoveryState(request=request, plan=plan, proceed=not request.dry_run, poll_seconds=poll)


def _require(state: RecoveryState) -> tuple[RecoveryRequest, RecoveryPlan]:
    if state.request is None or state.plan is None:
        raise InvalidRequest("the workflow state has no request or plan")
    return state.request, state.plan


def restore_step(state: RecoveryState, store: LeaseStore, pol: BackupPolicy, now: datetime) -> drill.DrillProgress:
    request, plan = _require(state)
    store.renew(plan.lease_key, owner(request), pol.lock_ttl_seconds, now)
    client = aws.client("rds")
    source = rds.describe_instance(client, plan.db_instance)
    tags = {
        **naming.artefact_tags(plan.db_instance, "daily", WORKFLOW, request.execution),
        "Purpose": "recovery",
        "RestoredFrom": plan.snapshot_id,
    }
    restored = rds.restore(client, plan.instance_id, plan.snapshot_id, plan.instance_class, source, tags)
    status = str(restored.get("DBInstanceStatus", "creating"))
    # Always polled once (the Choice sends "in_progress" to the poll), which reads the endpoint.
    return drill.DrillProgress(state="in_progress", started_at=now, status=status)


def poll_step(state: RecoveryState, store: LeaseStore, pol: BackupPolicy, now: datetime) -> drill.DrillProgress:
    as_drill = drill.DrillState(request=None, plan=None, restore=state.restore, poll_seconds=state.poll_seconds)
    request, plan = _require(state)
    store.renew(plan.lease_key, owner(request), pol.lock_ttl_seconds, now)
    previous = as_drill.restore
    started = previous.started_at if previous else now
    polls = (previous.polls if previous else 0) + 1
    instance = rds.describe_instance(aws.client("rds"), plan.instance_id)
    status = str(instance.get("DBInstanceStatus"))
    progress = drill.DrillProgress(state="in_progress", polls=polls, started_at=started, status=status)
    if status == "available":
        return progress.model_copy(update={"state": "done", "restored": drill.endpoint_of(instance)})
    elapsed = max(polls * state.poll_seconds, (now - started).total_seconds())
    if status in {"failed", "incompatible-restore", "deleting"} or elapsed >= pol.drill.restore_timeout_seconds:
        state_name: Literal["failed", "timed_out"] = (
            "timed_out" if status not in {"failed", "incompatible-restore", "deleting"} else "failed"
        )
        return progress.model_copy(update={"state": state_name, "detail": f"the restored instance is {status}"})
    return progress


def verify_step(state: RecoveryState, pol: BackupPolicy) -> list[Check]:
    """The restored data stands on its own (the source may be gone): every key table present and readable."""
    _require(state)
    if state.restore is None or state.restore.restored is None:
        raise InvalidRequest("the workflow state has no endpoint to verify")
    checks: list[Check] = []
    with drill.connect(state.restore.restored, pol.drill.database) as connection:
        for table in pol.drill.tables:
            exists = connection.run("SELECT to_regclass(:name) IS NOT NULL", name=f"public.{table.name}")[0][0]
            if not exists:
                checks.append(Check(name=f"recovery.{table.name}.schema", passed=False, detail="table missing"))
                continue
            count, digest = drill.table_figures(connection, table.name)
            checks.append(
                Check(
                    name=f"recovery.{table.name}.rows", passed=count > 0, detail=f"{count} rows, checksum {digest[:12]}"
                )
            )
    if not all(c.passed for c in checks):
        from controlplane.models.errors import ApplyFailed

        raise ApplyFailed("; ".join(f"{c.name}: {c.detail}" for c in checks if not c.passed))
    return checks


def request_approval(event: dict[str, Any]) -> dict[str, Any]:
    """Called with ``.waitForTaskToken``: tell the approvers how to answer; the token is the answer's address."""
    state = RecoveryState.model_validate(event.get("state", {}))
    request, plan = _require(state)
    token = str(event.get("token", ""))
    if not token:
        raise InvalidRequest("no task token")
    cfg = settings()
    aws.client("sns").publish(
        TopicArn=cfg.notify_topic_arn,
        Subject=f"[{cfg.environment}] recovery approval needed: switch {plan.record_name}"[:100],
        Message="\n".join(
            [
                f"Recovery {request.execution} restored {plan.snapshot_id} to {plan.instance_id}, data verified.",
                f"Approve switching {plan.record_name} to it within {plan.approval_timeout_seconds} s:",
                f"  cpctl approve {token} --by <you> --comment <why>",
                f"Reject (the restored instance is deleted): cpctl reject {token} --comment <why>",
                f"Requested by {request.requester} because: {request.reason}",
            ]
        ),
        MessageAttributes={
            "workflow": {"DataType": "String", "StringValue": WORKFLOW},
            "kind": {"DataType": "String", "StringValue": "approval"},
        },
    )
    return {"requested": True}


def switch_step(state: RecoveryState) -> dict[str, Any]:
    _, plan = _require(state)
    approval = state.approval or {}
    if approval.get("approved") is not True:
        raise InvalidRequest("the switch needs an approval")
    instance = rds.describe_instance(aws.client("rds"), plan.instance_id)
    target = str(instance["Endpoint"]["Address"])
    change = aws.client("route53").change_resource_record_sets(
        HostedZoneId=plan.hosted_zone_id,
        ChangeBatch={
            "Comment": f"recovery from {plan.snapshot_id}",
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": plan.record_name,
                        "Type": "CNAME",
                        "TTL": plan.record_ttl,
                        "ResourceRecords": [{"Value": target}],
                    },
                }
            ],
        },
    )
    return {"record": plan.record_name, "target": target, "change": change["ChangeInfo"]["Id"]}


def health_step(state: RecoveryState, pol: BackupPolicy) -> Check:
    """The switched-to instance answers queries at the endpoint the record now names."""
    _, plan = _require(state)
    if state.restore is None or state.restore.restored is None:
        raise InvalidRequest("the workflow state has no endpoint to check")
    with drill.connect(state.restore.restored, pol.drill.database) as connection:
        answer = connection.run("SELECT 1")[0][0]
    return Check(name="recovery.health", passed=answer == 1, detail=f"{plan.instance_id} answers queries")


def teardown_step(state: RecoveryState) -> dict[str, Any]:
    _, plan = _require(state)
    if state.switch:
        return {"instance": plan.instance_id, "status": "kept (in service)"}
    return {"instance": plan.instance_id, "status": rds.delete_instance(aws.client("rds"), plan.instance_id)}


def outcome_of(state: RecoveryState, execution: str, now: datetime, started_at: datetime | None) -> RecoveryOutcome:  # noqa: PLR0911
    request, plan = state.request, state.plan
    common: dict[str, Any] = {
        "execution": execution, "recorded_at": now, "started_at": started_at,
        "dry_run": bool(request and request.dry_run), "requester": request.requester if request else None,
        "snapshot_id": plan.snapshot_id if plan else (request.snapshot_id if request else None),
        "instance_id": plan.instance_id if plan else None, "switched": state.switch is not None,
        "checks": [*(state.checks or []), *([state.health] if state.health else [])],
        "approved_by": (state.approval or {}).get("by"),
    }  # fmt: skip
    if state.error is not None:
        error = state.error.Error
        message = error_message(state.error.Cause)[:900] or error
        if error in {"InvalidRequest", "InvalidBackup", "ResourceNotFound"}:
            return RecoveryOutcome(status=OutcomeStatus.REJECTED, reason=message, error=error, **common)
        if error == "ApprovalRejected":
            return RecoveryOutcome(
                status=OutcomeStatus.BLOCKED, reason=f"the switch was rejected: {message}", error=error, **common
            )
        # Verified (checks) and not yet approved: the only task between is RequestApproval.
        awaiting_approval = state.checks is not None and state.approval is None and plan is not None
        if error == "States.Timeout" and awaiting_approval and plan is not None and plan.switch_dns:
            return RecoveryOutcome(
                status=OutcomeStatus.TIMED_OUT,
                reason=f"no approval within {plan.approval_timeout_seconds} s (States.Timeout); nothing was switched",
                error="ApprovalTimedOut",
                **common,
            )
        if error == "LockHeld":
            return RecoveryOutcome(status=OutcomeStatus.BLOCKED, reason=message, error=error, **common)
        return RecoveryOutcome(status=OutcomeStatus.FAILED, reason=message, error=error[:200], **common)
    if plan is None or request is None:
        return RecoveryOutcome(status=OutcomeStatus.FAILED, reason="ended before a plan", error="NoPlan", **common)
    if request.dry_run:
        switch = f", then switch {plan.record_name} after approval" if plan.switch_dns else ""
        what = f"would restore {plan.snapshot_id} to {plan.instance_id} ({plan.instance_class}) and verify it{switch}"
        return RecoveryOutcome(status=OutcomeStatus.DRY_RUN, reason=f"{what}; nothing changed", **common)
    if state.restore is not None and state.restore.state != "done":
        return RecoveryOutcome(
            status=OutcomeStatus.FAILED, reason=state.restore.detail, error="RestoreFailed", **common
        )
    if plan.switch_dns and state.switch is None:
        return RecoveryOutcome(
            status=OutcomeStatus.FAILED, reason="the switch was not made", error="NotSwitched", **common
        )
    if state.health is not None and not state.health.passed:
        return RecoveryOutcome(status=OutcomeStatus.FAILED, reason=state.health.detail, error="Unhealthy", **common)
    done = (
        f"switched {plan.record_name} to {plan.instance_id}"
        if state.switch
        else f"{plan.instance_id} restored and verified (not switched)"
    )
    return RecoveryOutcome(status=OutcomeStatus.SUCCEEDED, reason=done, **common)


def handle(event: Any) -> Any:
    if not isinstance(event, dict) or event.get("task") not in TASKS:
        raise InvalidRequest(f"the event must name a task, one of {list(TASKS)}")
    task, pol, now = str(event["task"]), backup_policy(), drill.now_utc()
    if task == "plan":
        poll = event.get("poll_seconds", 30)
        if not isinstance(poll, int) or isinstance(poll, bool) or not 1 <= poll <= 300:
            raise InvalidRequest("poll_seconds must be an integer from 1 to 300")
        return plan_step(
            event.get("input"), str(event.get("execution", "local"))[:80], pol, Targets.from_env(), now, poll
        )
    if task == "record":
        return record(event)
    if task == "request_approval":
        return request_approval(event)
    try:
        state = RecoveryState.model_validate(event.get("state", {}))
    except ValidationError as exc:
        raise InvalidRequest(f"malformed workflow state: {exc.error_count()} problems") from None
    store = DynamoLeaseStore(settings().state_table)
    if task == "lock":
        request, plan = _require(state)
        return store.acquire(plan.lease_key, owner(request), pol.lock_ttl_seconds, now, workflow=WORKFLOW)
    routes: dict[str, Any] = {
        "restore": lambda: restore_step(state, store, pol, now),
        "poll": lambda: poll_step(state, store, pol, now),
        "switch": lambda: switch_step(state),
        "teardown": lambda: teardown_step(state),
    }
    return routes[task]()


def record(event: dict[str, Any]) -> RecoveryOutcome:
    from controlplane import audit
    from controlplane.store import DynamoStateStore

    cfg, pol = settings(), backup_policy()
    from controlplane.models.outcome import started_at_of

    started_at = started_at_of(event)
    state = RecoveryState.model_validate(event.get("state", {}))
    outcome = outcome_of(state, str(event.get("execution", "")), drill.now_utc(), started_at)
    audit.record(outcome, DynamoStateStore(cfg.state_table), cfg, pol.notify_on)
    return outcome

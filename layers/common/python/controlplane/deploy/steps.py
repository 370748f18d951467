"""The PlatformDeploy workflow's steps, one function per state machine task.

validate -> lease ``platform_key(env)`` -> plan build (polled by the state machine) -> no changes:
NoChange | changes: ask a person (task token, a notification with the summary) -> apply exactly the
saved plan (its SHA-256 checked by the apply build) -> release the lease -> record. A drift check
(``mode: drift``) runs the plan only and reports changes as drift.

Each ``*_step`` takes the state and explicit dependencies; ``handle_*`` parse the event and route.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from controlplane import leases
from controlplane.config import LEASE_RENEWAL_GAP_SECONDS, Settings, settings
from controlplane.deploy import builds
from controlplane.deploy.builds import BuildSettings
from controlplane.deploy.models import (
    ApprovalSettings,
    BuildAction,
    BuildRef,
    BuildStatus,
    DeployOutcome,
    DeployRequest,
    DeployState,
    decision_of,
)
from controlplane.deploy.policy import DeployPolicy, load_deploy_policy
from controlplane.leases import DynamoLeaseStore, LeaseStore
from controlplane.models.errors import InvalidRequest, error_message, validation_problems
from controlplane.models.lease import Lease
from controlplane.models.outcome import OutcomeStatus

WORKFLOW = "platform-deploy"
REJECTING_ERRORS = frozenset({"InvalidRequest", "ResourceNotFound"})
BLOCKING_ERRORS = frozenset({"LockHeld"})
APPROVAL_TIMEOUTS = frozenset({"States.Timeout", "States.HeartbeatTimeout"})
APPROVAL_REJECTED = "ApprovalRejected"


def now_utc() -> datetime:
    from controlplane import clock

    return clock.now()


def owner(request: DeployRequest) -> str:
    return leases.owner_of(WORKFLOW, request.execution)


def _require(state: DeployState) -> tuple[DeployRequest, str]:
    if state.request is None or state.lease_key is None:
        raise InvalidRequest("the workflow state has no request or lease key")
    return state.request, state.lease_key


# --- steps -----------------------------------------------------------------------------------------


def validate_step(
    raw: Any, execution: str, cfg: Settings, poll_seconds: int, approval: ApprovalSettings
) -> DeployState:
    """The request as a model; a stack deploys only its own environment. No side effect."""
    if not isinstance(raw, dict):
        raise InvalidRequest("the request must be a JSON object")
    try:
        request = DeployRequest.model_validate({**raw, "execution": execution})
    except ValidationError as exc:
        raise InvalidRequest(f"invalid platform deploy request: {validation_problems(exc, 'request')}") from None
    if request.environment != cfg.environment:
        raise InvalidRequest(
            f"this control plane deploys {cfg.environment}, not {request.environment}: "
            f"start the {request.environment} stack's"
        )
    if approval.heartbeat_seconds >= approval.timeout_seconds:
        raise InvalidRequest("the approval heartbeat must be shorter than its timeout")
    return DeployState(
        request=request,
        lease_key=leases.platform_key(request.environment),
        poll_seconds=poll_seconds,
        approval=approval,
    )


def lease_ttl(state: DeployState, pol: DeployPolicy) -> int:
    """Long enough to outlive the approval wait (no renewal happens while a person decides)."""
    approval = state.approval.timeout_seconds if state.approval else 0
    return max(pol.lock_ttl_seconds, approval + LEASE_RENEWAL_GAP_SECONDS)


def lock_step(state: DeployState, lease_store: LeaseStore, pol: DeployPolicy, now: datetime) -> Lease:
    request, key = _require(state)
    return lease_store.acquire(key, owner(request), lease_ttl(state, pol), now, workflow=WORKFLOW)


def start_build_step(
    state: DeployState,
    action: BuildAction,
    lease_store: LeaseStore,
    pol: DeployPolicy,
    cfg: BuildSettings,
    now: datetime,
) -> BuildRef:
    """Start the plan (or drift) build, or the apply of the approved plan, under the lease (renewed first)."""
    request, key = _require(state)
    artifact = None
    if action == "plan" and request.mode == "drift":
        action = "drift"
    if action == "apply":
        decision = decision_of(state)
        if decision is None or not decision.approved:
            raise InvalidRequest("nobody approved this plan")
        if state.plan_status is None or state.plan_status.artifact is None:
            raise InvalidRequest("the workflow state has no saved plan to apply")
        artifact = state.plan_status.artifact
    elif request.mode == "deploy" and action == "drift":
        raise InvalidRequest("a deploy runs a plan build, not a drift build")
    lease_store.renew(key, owner(request), lease_ttl(state, pol), now)
    return builds.start(action, request, cfg, now, artifact)


def check_build_step(
    state: DeployState,
    which: str,
    lease_store: LeaseStore,
    pol: DeployPolicy,
    cfg: BuildSettings,
    now: datetime,
) -> BuildStatus:
    """One poll of the plan or apply build, after renewing the lease; past its budget it is timed out."""
    request, key = _require(state)
    ref, previous = (
        (state.plan_build, state.plan_status) if which == "plan" else (state.apply_build, state.apply_status)
    )
    if ref is None:
        raise InvalidRequest(f"the workflow state has no {which} build")
    lease_store.renew(key, owner(request), lease_ttl(state, pol), now)
    polls = (previous.polls + 1) if previous else 1
    found = builds.status(ref, cfg, polls, pol.stateful_types)
    budget = getattr(pol.budgets, ref.action)
    elapsed = max(polls * state.poll_seconds, (now - ref.started_at).total_seconds())
    if found.state == "in_progress" and elapsed >= budget:
        return found.model_copy(
            update={"state": "failed", "detail": f"still {found.status} after {int(elapsed)}s ({polls} polls)"}
        )
    return found


def approval_message(state: DeployState, token: str, execution: str) -> tuple[str, str]:
    """Subject and body of the approval request: the summary, stateful destroys first, and how to answer."""
    request, _ = _require(state)
    summary = state.plan_status.summary if state.plan_status else None
    if summary is None or state.plan_status is None or state.plan_status.artifact is None:
        raise InvalidRequest("there is no plan to approve")
    danger = f" ({len(summary.stateful_destroys)} STATEFUL DESTROYS)" if summary.stateful_destroys else ""
    subject = f"[{request.environment}] platform-deploy approval needed: {summary.line()}{danger}"[:100]
    lines = [f"Terraform plan for {request.environment}: {summary.line()}"]
    for address in summary.stateful_destroys:
        lines.append(f"!! STATEFUL DESTROY: {address} (data is lost unless it was backed up)")
    for change in summary.resources:
        lines.append(f"  {'/'.join(change.actions)} {change.address}")
    artifact = state.plan_status.artifact
    lines += [
        f"Plan: s3://{artifact.bucket}/{artifact.key}",
        f"SHA-256: {artifact.sha256}",
        f"Requester: {request.requester}",
        f"Reason: {request.reason}",
        f"Execution: {execution}",
        "",
        f"Approve: cpctl approve {token} --by <you> --comment <why>",
        f"Reject:  cpctl reject {token} --by <you> --comment <why>",
    ]
    return subject, "\n".join(lines)


def request_approval_step(state: DeployState, token: str, execution: str, cfg: Settings, sns: Any) -> dict[str, Any]:
    """Tell people what the plan does and how to approve it; the state machine then waits for the token."""
    if not token:
        raise InvalidRequest("the approval request needs the task token")
    subject, message = approval_message(state, token, execution)
    sns.publish(
        TopicArn=cfg.notify_topic_arn,
        Subject=subject,
        Message=message,
        MessageAttributes={
            "workflow": {"DataType": "String", "StringValue": WORKFLOW},
            "status": {"DataType": "String", "StringValue": "ApprovalRequested"},
        },
    )
    return {"requested": True}


# --- outcome ---------------------------------------------------------------------------------------


def _cause(error: Any) -> str:
    if error is None:
        return ""
    return error_message(error.Cause) or error.Error


def outcome_of(  # noqa: PLR0911, PLR0912
    state: DeployState, execution: str, now: datetime, started_at: datetime | None = None
) -> DeployOutcome:
    """What the execution amounts to; the status rules live here, not in ASL."""
    request = state.request
    plan = state.plan_status
    decision = decision_of(state)
    approval_error = state.approval_error
    common: dict[str, Any] = {
        "execution": execution,
        "recorded_at": now,
        "started_at": started_at,
        "environment": request.environment if request else None,
        "mode": request.mode if request else "deploy",
        "dry_run": bool(request and request.dry_run),
        "requester": request.requester if request else None,
        "summary": plan.summary if plan else None,
        "plan": plan.artifact if plan else None,
        "approved_by": decision.by if decision and decision.approved else None,
        "approval_comment": decision.comment if decision and decision.approved else None,
        "builds": [ref.build_id for ref in (state.plan_build, state.apply_build) if ref is not None],
    }
    if approval_error is not None:
        if approval_error.Error == APPROVAL_REJECTED:
            return DeployOutcome(
                status=OutcomeStatus.REJECTED,
                reason=f"rejected: {_cause(approval_error)}",
                error=APPROVAL_REJECTED,
                **common,
            )
        if approval_error.Error in APPROVAL_TIMEOUTS:
            what = "no heartbeat" if approval_error.Error == "States.HeartbeatTimeout" else "no decision"
            return DeployOutcome(
                status=OutcomeStatus.TIMED_OUT,
                reason=f"approval timed out ({approval_error.Error}: {what} in time); nothing was applied",
                # A Fail state's error may not start with "States.": the timeout's name is in the reason.
                error="ApprovalTimedOut",
                **common,
            )
        return DeployOutcome(
            status=OutcomeStatus.FAILED,
            reason=f"the approval request failed: {_cause(approval_error)}; nothing was applied",
            error=approval_error.Error[:200],
            **common,
        )
    if state.error is not None:
        name = state.error.Error
        status = (
            OutcomeStatus.REJECTED
            if name in REJECTING_ERRORS
            else OutcomeStatus.BLOCKED
            if name in BLOCKING_ERRORS
            else OutcomeStatus.FAILED
        )
        return DeployOutcome(status=status, reason=_cause(state.error), error=name[:200], **common)
    if request is None or plan is None:
        return DeployOutcome(
            status=OutcomeStatus.FAILED, reason="the workflow ended before a plan was made", error="NoPlan", **common
        )
    if plan.state != "succeeded" or plan.summary is None:
        return DeployOutcome(
            status=OutcomeStatus.FAILED,
            reason=f"the plan build {plan.status} in {plan.phase}: {plan.detail}",
            error="PlanFailed",
            **common,
        )
    summary = plan.summary
    if not summary.has_changes:
        return DeployOutcome(status=OutcomeStatus.NO_CHANGE, reason="the platform matches its Terraform", **common)
    if request.mode == "drift":
        return DeployOutcome(
            status=OutcomeStatus.FAILED,
            reason=f"drift: the platform differs from its Terraform ({summary.line()})",
            error="DriftDetected",
            drift=True,
            **common,
        )
    if request.dry_run:
        return DeployOutcome(
            status=OutcomeStatus.DRY_RUN, reason=f"would apply {summary.line()}; nothing changed", **common
        )
    if decision is not None and not decision.approved:
        return DeployOutcome(
            status=OutcomeStatus.REJECTED,
            reason=f"rejected by {decision.by}: {decision.comment}",
            error=APPROVAL_REJECTED,
            **common,
        )
    applied = state.apply_status
    if applied is None:
        return DeployOutcome(
            status=OutcomeStatus.FAILED, reason="the approved plan was never applied", error="NotApplied", **common
        )
    if applied.state == "refused":
        return DeployOutcome(
            status=OutcomeStatus.BLOCKED,
            reason=f"apply refused: the plan in S3 is not the approved plan ({applied.detail}); nothing was applied",
            error="PlanHashMismatch",
            **common,
        )
    if applied.state != "succeeded":
        return DeployOutcome(
            status=OutcomeStatus.FAILED,
            reason=(
                f"the apply build {applied.status} in {applied.phase}: {applied.detail}; "
                "the platform may be partly changed"
            ),
            error="ApplyFailed",
            **common,
        )
    return DeployOutcome(status=OutcomeStatus.SUCCEEDED, reason=f"applied {summary.line()}", **common)


# --- entry points for the thin handlers ------------------------------------------------------------


def _state(event: Any) -> DeployState:
    try:
        return DeployState.model_validate(event)
    except ValidationError as exc:
        raise InvalidRequest(f"malformed workflow state: {exc.error_count()} problems") from None


def _task(event: Any, known: tuple[str, ...]) -> str:
    if not isinstance(event, dict) or event.get("task") not in known:
        raise InvalidRequest(f"the event must name a task, one of {list(known)}")
    return str(event["task"])


def _int(event: dict[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = event.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be an integer from {low} to {high}")
    return value


def _policy(cfg: Settings) -> DeployPolicy:
    return load_deploy_policy(cfg.environment)


def handle_validate(event: dict[str, Any]) -> DeployState:
    cfg = settings()
    execution = event.get("execution", "local")
    if not isinstance(execution, str) or not 1 <= len(execution) <= 80:
        raise InvalidRequest("execution must be a name of 1 to 80 characters")
    approval = ApprovalSettings(
        timeout_seconds=_int(event, "approval_timeout_seconds", 60, 7 * 86_400, 86_400),
        heartbeat_seconds=_int(event, "approval_heartbeat_seconds", 60, 7 * 86_400, 43_200),
    )
    return validate_step(event.get("input"), execution, cfg, _int(event, "poll_seconds", 1, 300, 30), approval)


BUILD_TASKS = ("validate", "lock", "start_build", "check_build")


def handle_build(event: Any) -> Any:
    """Validate, AcquireLease, StartPlan/StartApply and CheckPlan/CheckApply: the tasks that drive CodeBuild."""
    task = _task(event, BUILD_TASKS)
    if task == "validate":
        return handle_validate(event)
    cfg = settings()
    pol = _policy(cfg)
    state = _state(event.get("state", {}))
    store = DynamoLeaseStore(cfg.state_table)
    if task == "lock":
        return lock_step(state, store, pol, now_utc())
    which = event.get("build")
    if task == "start_build":
        if which not in {"plan", "apply", "drift"}:
            raise InvalidRequest("start_build needs build: plan, apply or drift")
        return start_build_step(state, which, store, pol, BuildSettings.from_env(), now_utc())
    if which not in {"plan", "apply"}:
        raise InvalidRequest("check_build needs build: plan or apply")
    return check_build_step(state, which, store, pol, BuildSettings.from_env(), now_utc())


def handle_notify(event: Any) -> Any:
    """RequestApproval (publishes the plan and the task token) and RecordOutcome."""
    from controlplane import audit, aws

    task = _task(event, ("request_approval", "record"))
    cfg = settings()
    state = _state(event.get("state", {}))
    execution = str(event.get("execution", ""))
    if task == "request_approval":
        return request_approval_step(state, str(event.get("token", "")), execution, cfg, aws.client("sns"))
    from controlplane.models.outcome import started_at_of

    started_at = started_at_of(event)
    outcome = outcome_of(state, execution, now_utc(), started_at)
    notify_on = _policy(cfg).notify_on
    audit.record(outcome, audit_store(cfg), cfg, notify_on)
    if outcome.drift:
        from aws_lambda_powertools.metrics import MetricUnit

        from controlplane.observability import metrics

        metrics.add_metric(name="PlatformDrift", unit=MetricUnit.Count, value=1)
    return json.loads(outcome.model_dump_json())


def audit_store(cfg: Settings) -> Any:
    from controlplane.store import DynamoStateStore

    return DynamoStateStore(cfg.state_table)

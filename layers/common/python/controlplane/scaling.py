"""The Scale workflow's steps, one function per state machine task, for every resource kind.

Each ``*_step`` function takes the state machine's ``$`` (a ``ScaleState``) and explicit
dependencies (stores, policy, clock), so unit tests run them without Lambda or AWS. The
``handle_*`` functions are what the thin handlers call: they parse the raw event, build the
default dependencies and route to a step.

Crash safety: Apply writes its intent (execution, client token, target) and renews the lease in
one transaction *before* the AWS call, so a crash, timeout or throttle between the call and its
record leaves a mark: the cooldown holds, a retry recognises the change as its own, and the record
says the change may have been applied.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from controlplane import guards, leases
from controlplane.config import Policy, Settings, policy, settings
from controlplane.leases import DynamoLeaseStore, LeaseStore
from controlplane.models.errors import (
    GuardRefused,
    InvalidRequest,
    PlanStale,
    ResourceBusy,
    error_message,
    validation_problems,
)
from controlplane.models.lease import Lease
from controlplane.models.scale import (
    ChangeRecord,
    Observation,
    Outcome,
    OutcomeStatus,
    Prepared,
    Progress,
    ScalePlan,
    ScaleRequest,
    ScaleState,
)
from controlplane.resources import adapter_for
from controlplane.resources.base import ScalableResource
from controlplane.store import ChangeMark, DynamoStateStore, StateStore

WORKFLOW = "scale"
# Errors that end a workflow as Blocked (a guard or another change said no, nothing changed) or Rejected.
BLOCKING_ERRORS = frozenset({"LockHeld", "GuardRefused", "PlanStale", "ResourceBusy"})
REJECTING_ERRORS = frozenset({"InvalidRequest", "ResourceNotFound"})


def now_utc() -> datetime:
    from controlplane import clock

    return clock.now()


def parse_request(raw: Any, execution: str) -> ScaleRequest:
    """The execution input as a ``ScaleRequest``, or ``InvalidRequest`` naming every problem."""
    if not isinstance(raw, dict):
        raise InvalidRequest("the request must be a JSON object")
    try:
        return ScaleRequest.model_validate({**raw, "execution": execution})
    except ValidationError as exc:
        problems = validation_problems(exc, "request")
        raise InvalidRequest(f"invalid scale request: {problems}") from None


def _require(state: ScaleState) -> tuple[ScaleRequest, ScalePlan]:
    if state.request is None or state.plan is None:
        raise InvalidRequest("the workflow state has no request or plan")
    return state.request, state.plan


def lock_key(plan: ScalePlan) -> str:
    """The lease of the physical resource the plan changes (shared with every other workflow)."""
    if not plan.lease_key:
        raise InvalidRequest("the plan names no lease key")
    return plan.lease_key


def owner(request: ScaleRequest) -> str:
    return leases.owner_of(WORKFLOW, request.execution)


def change_token(request: ScaleRequest, plan: ScalePlan) -> str:
    """Deterministic per execution and change: a retried apply repeats the same request to AWS."""
    digest = hashlib.sha256(f"{request.execution}|{plan.lease_key}|{plan.kind}|{plan.desired}".encode()).hexdigest()
    return f"cp-{digest[:32]}"


def plan_step(
    raw: Any, execution: str, store: StateStore, pol: Policy, now: datetime, poll_seconds: int = 30
) -> ScaleState:
    """Validate, read, plan, guard. No side effect."""
    request = parse_request(raw, execution)
    adapter = adapter_for(request.resource.kind)
    pol.for_kind(request.resource.kind)
    current = adapter.read(request.resource)
    plan = adapter.plan(request, current, pol)
    decision = guards.evaluate(
        plan,
        pol,
        store,
        now,
        protected=current.tags.get(pol.protection_tag, "").lower() == "true",
        ready=current.ready,
        extra=adapter.guard_checks(current, plan, pol),
    )
    proceed = plan.step != 0 and decision.allowed and not request.dry_run
    return ScaleState(request=request, plan=plan, decision=decision, proceed=proceed, poll_seconds=poll_seconds)


def acquire_lock_step(state: ScaleState, lease_store: LeaseStore, pol: Policy, now: datetime) -> Lease:
    request, plan = _require(state)
    return lease_store.acquire(lock_key(plan), owner(request), pol.lock_ttl_seconds, now, workflow=WORKFLOW)


def prepare_step(
    state: ScaleState, lease_store: LeaseStore, pol: Policy, now: datetime, adapter: ScalableResource | None = None
) -> Prepared:
    """What must precede the change (under the lease, renewed first), and the wait before applying."""
    request, plan = _require(state)
    lease_store.renew(lock_key(plan), owner(request), pol.lock_ttl_seconds, now)
    adapter = adapter or adapter_for(plan.kind)
    return adapter.prepare(request.resource, plan)


def apply_step(
    state: ScaleState, store: StateStore, pol: Policy, now: datetime, adapter: ScalableResource | None = None
) -> ChangeRecord:
    """Apply the plan under the lease, after re-checking what could have moved since planning."""
    request, plan = _require(state)
    adapter = adapter or adapter_for(plan.kind)
    live = adapter.read(request.resource)
    token = change_token(request, plan)
    key = guards.cooldown_key(plan)
    previous = store.change_mark(key)
    ours = previous is not None and previous.execution == request.execution
    if live.capacity == plan.desired:
        # Done already: by this execution's earlier attempt (its intent is the last mark), or by another.
        return ChangeRecord(token=token, applied_at=now, already_applied=True, applied_by_other=not ours)
    if live.capacity != plan.current and not adapter.resumes(live, plan):
        raise PlanStale(f"{plan.resource_id} moved from {plan.current} to {live.capacity} since it was planned")
    limits = pol.for_kind(plan.kind)
    if not ours:
        # A retry of our own apply is not refused by the cooldown its own intent started.
        cooldown = guards.check_cooldown(plan, limits, store, now)
        if not cooldown.passed:
            raise GuardRefused(cooldown.reason)
    breaker = pol.circuit_breaker
    store.count_change(
        guards.breaker_window(now, breaker.window_seconds),
        request.execution,
        breaker.max_changes_per_window,
        keep_seconds=breaker.window_seconds * 2,
    )
    intent = ChangeMark(key=key, changed_at=now, execution=request.execution, token=token, target=plan.desired)
    store.record_intent(intent, lock_key(plan), owner(request), pol.lock_ttl_seconds)
    try:
        change = adapter.apply(request.resource, plan, token)
    except ResourceBusy:
        # AWS refused: nothing changed. The intent must not start a cooldown for a change never made.
        if previous is not None:
            store.put_mark(previous)
        else:
            store.forget_mark(key, request.execution)
        raise
    store.put_mark(intent.model_copy(update={"status": "applied"}))
    return change


def check_step(
    state: ScaleState,
    lease_store: LeaseStore,
    pol: Policy,
    now: datetime,
    adapter: ScalableResource | None = None,
) -> Progress:
    """One poll of the change's progress, after renewing the lease; the state machine waits, never this."""
    request, plan = _require(state)
    if state.change is None:
        raise InvalidRequest("the workflow state has no change to check")
    lease_store.renew(lock_key(plan), owner(request), pol.lock_ttl_seconds, now)
    adapter = adapter or adapter_for(plan.kind)
    polls = (state.progress.polls if state.progress else 0) + 1
    progress, observed, status, detail = adapter.progress(request.resource, plan, state.change)
    budget = pol.for_kind(plan.kind).verify_timeout_seconds
    # Time spent verifying: the waits the state machine made, or the clock, whichever says more.
    elapsed = max(polls * state.poll_seconds, (now - state.change.applied_at).total_seconds())
    if progress == "in_progress" and elapsed >= budget:
        progress, detail = "timed_out", f"still {status} after {int(elapsed)}s ({polls} polls): {detail}"
    return Progress(polls=polls, state=progress, observed=observed, status=status, detail=detail)


def finalize_step(
    state: ScaleState, lease_store: LeaseStore, pol: Policy, now: datetime, adapter: ScalableResource | None = None
) -> dict[str, Any]:
    """What must follow a verified change (e.g. publish new replicas in the reader endpoint)."""
    request, plan = _require(state)
    if state.change is None:
        raise InvalidRequest("the workflow state has no change to finalize")
    lease_store.renew(lock_key(plan), owner(request), pol.lock_ttl_seconds, now)
    adapter = adapter or adapter_for(plan.kind)
    return adapter.finalize(request.resource, plan, state.change)


def observe_step(state: ScaleState, store: StateStore, adapter: ScalableResource | None = None) -> Observation:
    """Read the resource once after a failed step: where it is now, and whether our intent was written."""
    request, plan = _require(state)
    adapter = adapter or adapter_for(plan.kind)
    mark = store.change_mark(guards.cooldown_key(plan))
    intent = mark is not None and mark.execution == request.execution
    try:
        live = adapter.read(request.resource)
    except Exception as exc:  # the record must still be written: say what could not be read
        return Observation(intent_recorded=intent, detail=f"could not read the resource: {type(exc).__name__}")
    return Observation(observed=live.capacity, status=live.status, intent_recorded=intent)


def _error_message(state: ScaleState) -> str:
    if state.error is None:
        return ""
    return error_message(state.error.Cause) or state.error.Error


def _failure_reason(state: ScaleState, plan: ScalePlan | None) -> str:
    reason = _error_message(state)
    seen = state.observation
    if seen is None or plan is None:
        return reason
    if seen.observed is None:
        return f"{reason}. {seen.detail}".strip()
    where = f"{plan.resource_id} is at {seen.observed} ({seen.status}); planned {plan.current} -> {plan.desired}"
    if seen.intent_recorded and seen.observed != plan.current:
        return f"{reason}. {where}: the change may have been applied"
    if seen.intent_recorded:
        return f"{reason}. {where}: the change was started and may still be applied"
    return f"{reason}. {where}: the change was not started"


def _common_fields(state: ScaleState, execution: str, now: datetime, started_at: datetime | None) -> dict[str, Any]:
    request, plan, decision = state.request, state.plan, state.decision
    observed = state.progress.observed if state.progress else None
    if observed is None and state.observation is not None:
        observed = state.observation.observed
    return {
        "execution": execution,
        "recorded_at": now,
        "started_at": started_at,
        "kind": plan.kind if plan else (request.resource.kind if request else None),
        "resource_id": plan.resource_id if plan else (request.resource.resource_id if request else None),
        "current": plan.current if plan else None,
        "desired": plan.desired if plan else None,
        "observed": observed,
        "dry_run": bool(request and request.dry_run),
        "requester": request.requester if request else None,
        "request_reason": request.reason if request else None,
        "plan": plan,
        "checks": decision.checks if decision else [],
    }


def _error_status(error: str) -> OutcomeStatus:
    if error in REJECTING_ERRORS:
        return OutcomeStatus.REJECTED
    if error in BLOCKING_ERRORS:
        return OutcomeStatus.BLOCKED
    return OutcomeStatus.FAILED


def outcome_of(state: ScaleState, execution: str, now: datetime, started_at: datetime | None = None) -> Outcome:  # noqa: PLR0911
    """What the execution amounts to; the status rules live here, not in ASL."""
    request, plan, decision = state.request, state.plan, state.decision
    common = _common_fields(state, execution, now, started_at)
    if state.error is not None:
        status = _error_status(state.error.Error)
        return Outcome(status=status, reason=_failure_reason(state, plan), error=state.error.Error[:200], **common)
    if plan is None or decision is None:
        return Outcome(
            status=OutcomeStatus.FAILED, reason="the workflow ended before a plan was made", error="NoPlan", **common
        )
    if plan.step == 0:
        return Outcome(status=OutcomeStatus.NO_CHANGE, reason=f"already at {plan.current}", **common)
    if not decision.allowed:
        return Outcome(status=OutcomeStatus.BLOCKED, reason=decision.reason, **common)
    if request and request.dry_run:
        return Outcome(
            status=OutcomeStatus.DRY_RUN,
            reason=f"would change {plan.current} -> {plan.desired}; nothing changed",
            **common,
        )
    progress = state.progress
    if progress is None:
        return Outcome(
            status=OutcomeStatus.FAILED, reason="the change was never verified", error="NotVerified", **common
        )
    if progress.state == "done" and state.change is not None and state.change.applied_by_other:
        return Outcome(
            status=OutcomeStatus.NO_CHANGE,
            reason=f"already at {progress.observed}: another execution changed it after this one planned",
            **common,
        )
    if progress.state == "done":
        return Outcome(status=OutcomeStatus.SUCCEEDED, reason=f"{plan.current} -> {progress.observed}", **common)
    if progress.state == "timed_out":
        return Outcome(status=OutcomeStatus.TIMED_OUT, reason=progress.detail, error="VerifyTimeout", **common)
    return Outcome(status=OutcomeStatus.FAILED, reason=progress.detail, error="ChangeFailed", **common)


# --- entry points for the thin handlers: parse the event, build default dependencies, route -------


def _store(cfg: Settings) -> StateStore:
    return DynamoStateStore(cfg.state_table)


def _leases(cfg: Settings) -> LeaseStore:
    return DynamoLeaseStore(cfg.state_table)


def _state(event: Any) -> ScaleState:
    try:
        return ScaleState.model_validate(event)
    except ValidationError as exc:
        raise InvalidRequest(f"malformed workflow state: {exc.error_count()} problems") from None


def _task(event: Any, known: tuple[str, ...]) -> str:
    if not isinstance(event, dict) or event.get("task") not in known:
        raise InvalidRequest(f"the event must name a task, one of {list(known)}")
    return str(event["task"])


def handle_plan(event: dict[str, Any]) -> ScaleState:
    cfg = settings()
    poll_seconds = event.get("poll_seconds", 30)
    if not isinstance(poll_seconds, int) or isinstance(poll_seconds, bool) or not 1 <= poll_seconds <= 300:
        raise InvalidRequest("poll_seconds must be an integer from 1 to 300")
    execution = event.get("execution", "local")
    if not isinstance(execution, str) or not 1 <= len(execution) <= 80:
        raise InvalidRequest("execution must be a name of 1 to 80 characters")
    return plan_step(event.get("input"), execution, _store(cfg), policy(), now_utc(), poll_seconds)


CHANGE_TASKS = ("plan", "lock", "prepare", "apply", "finalize")


def handle_change(event: Any) -> Any:
    """Plan, AcquireLease, Prepare, Apply and Finalize: one function, so the way from an alarm to the
    mutating call crosses one cold start here (the others find the function warm)."""
    task = _task(event, CHANGE_TASKS)
    if task == "plan":
        return handle_plan(event)
    cfg, pol, now = settings(), policy(), now_utc()
    state = _state(event.get("state", {}))
    if task == "lock":
        return acquire_lock_step(state, _leases(cfg), pol, now)
    if task == "prepare":
        return prepare_step(state, _leases(cfg), pol, now)
    if task == "apply":
        return apply_step(state, _store(cfg), pol, now)
    return finalize_step(state, _leases(cfg), pol, now)


def handle_check(event: Any) -> Any:
    """CheckProgress (renews the lease) and ObserveAfterError: read-only towards the resource."""
    task = _task(event, ("check", "observe"))
    cfg = settings()
    state = _state(event.get("state", {}))
    if task == "check":
        return check_step(state, _leases(cfg), policy(), now_utc())
    return observe_step(state, _store(cfg))


def handle_record(event: Any) -> Outcome:
    from controlplane import audit

    if not isinstance(event, dict):
        raise InvalidRequest("the record task expects {'state': ..., 'execution': ..., 'started_at': ...}")
    cfg = settings()
    pol = policy()
    from controlplane.models.outcome import started_at_of

    started_at = started_at_of(event)
    outcome = outcome_of(_state(event.get("state", {})), str(event.get("execution", "")), now_utc(), started_at)
    if event.get("execution_arn"):
        try:
            outcome = Outcome.model_validate({**outcome.model_dump(), "execution_arn": event["execution_arn"]})
        except ValidationError:
            raise InvalidRequest("execution_arn must be a Step Functions execution ARN") from None
    audit.record(outcome, _store(cfg), cfg, pol.notify_on)
    return outcome

"""The Scale workflow's steps, one function per state machine task, for every resource kind.

Each ``*_step`` function takes the state machine's ``$`` (a ``ScaleState``)
and explicit dependencies (store, policy, clock), so unit tests run them
without Lambda or AWS. ``handle_*`` functions are what the thin handlers call:
they parse the raw event and build the default dependencies.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from controlplane import guards, leases
from controlplane.config import Policy, Settings, policy, settings
from controlplane.leases import DynamoLeaseStore, LeaseStore
from controlplane.models.errors import GuardRefused, InvalidRequest, PlanStale, error_message, validation_problems
from controlplane.models.lease import Lease
from controlplane.models.scale import (
    ChangeRecord,
    Outcome,
    OutcomeStatus,
    Progress,
    ScalePlan,
    ScaleRequest,
    ScaleState,
)
from controlplane.resources import adapter_for
from controlplane.resources.base import ScalableResource
from controlplane.store import DynamoStateStore, StateStore

# Errors that end a workflow as Blocked (a guard said no) rather than Failed.
BLOCKING_ERRORS = frozenset({"LockHeld", "GuardRefused", "PlanStale"})
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


WORKFLOW = "scale"


def lock_key(plan: ScalePlan) -> str:
    """The lease of the physical resource the plan changes (shared with every other workflow)."""
    if not plan.lease_key:
        raise InvalidRequest("the plan names no lease key")
    return plan.lease_key


def change_token(request: ScaleRequest, plan: ScalePlan) -> str:
    """Deterministic per execution and change: a retried apply repeats the same request to AWS."""
    digest = hashlib.sha256(f"{request.execution}|{lock_key(plan)}|{plan.desired}".encode()).hexdigest()
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
    owner = leases.owner_of(WORKFLOW, request.execution)
    return lease_store.acquire(lock_key(plan), owner, pol.lock_ttl_seconds, now, workflow=WORKFLOW)


def apply_step(
    state: ScaleState, store: StateStore, pol: Policy, now: datetime, adapter: ScalableResource | None = None
) -> ChangeRecord:
    """Apply the plan under the lease, after re-checking what could have moved since planning."""
    request, plan = _require(state)
    adapter = adapter or adapter_for(plan.kind)
    live = adapter.read(request.resource)
    token = change_token(request, plan)
    if live.capacity == plan.desired:
        # Done already: by this execution's earlier attempt (a retried task), or by another execution.
        ours = store.last_changed_by(guards.cooldown_key(plan)) == request.execution
        return ChangeRecord(token=token, applied_at=now, already_applied=True, applied_by_other=not ours)
    if live.capacity != plan.current and not adapter.resumes(live, plan):
        raise PlanStale(f"{plan.resource_id} moved from {plan.current} to {live.capacity} since it was planned")
    limits = pol.for_kind(plan.kind)
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
    change = adapter.apply(request.resource, plan, token)
    store.mark_change(
        guards.cooldown_key(plan), now, keep_seconds=max(limits.cooldown_seconds, 60), execution=request.execution
    )
    return change


def check_step(state: ScaleState, pol: Policy, adapter: ScalableResource | None = None) -> Progress:
    """One poll of the change's progress; the state machine waits between polls, never this function."""
    request, plan = _require(state)
    adapter = adapter or adapter_for(plan.kind)
    polls = (state.progress.polls if state.progress else 0) + 1
    if state.change is None:
        raise InvalidRequest("the workflow state has no change to check")
    progress, observed, status, detail = adapter.progress(request.resource, plan, state.change)
    limit = pol.for_kind(plan.kind).verify_max_polls
    if progress == "in_progress" and polls >= limit:
        progress, detail = "timed_out", f"still {status} after {polls} polls: {detail}"
    return Progress(polls=polls, state=progress, observed=observed, status=status, detail=detail)


def release_step(state: ScaleState, execution: str, lease_store: LeaseStore) -> bool:
    """Release this execution's lease, if any. Safe on every path: it only deletes a lease we own."""
    if state.plan is None or not state.plan.lease_key:
        return False
    return lease_store.release(state.plan.lease_key, leases.owner_of(WORKFLOW, execution))


def _error_message(state: ScaleState) -> str:
    if state.error is None:
        return ""
    return error_message(state.error.Cause) or state.error.Error


def outcome_of(state: ScaleState, execution: str, now: datetime) -> Outcome:  # noqa: PLR0911
    """What the execution amounts to; the status rules live here, not in ASL."""
    request, plan, decision = state.request, state.plan, state.decision
    common: dict[str, Any] = {
        "execution": execution,
        "recorded_at": now,
        "kind": plan.kind if plan else (request.resource.kind if request else None),
        "resource_id": plan.resource_id if plan else (request.resource.resource_id if request else None),
        "current": plan.current if plan else None,
        "desired": plan.desired if plan else None,
        "observed": state.progress.observed if state.progress else None,
        "dry_run": bool(request and request.dry_run),
        "requester": request.requester if request else None,
        "plan": plan,
        "checks": decision.checks if decision else [],
    }
    if state.error is not None:
        message = _error_message(state)
        if state.error.Error in REJECTING_ERRORS:
            status = OutcomeStatus.REJECTED
        elif state.error.Error in BLOCKING_ERRORS:
            status = OutcomeStatus.BLOCKED
        else:
            status = OutcomeStatus.FAILED
        return Outcome(status=status, reason=message, error=state.error.Error, **common)
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


# --- entry points for the thin handlers: parse the event, build default dependencies -------------


def _store(cfg: Settings) -> StateStore:
    return DynamoStateStore(cfg.state_table)


def _state(event: Any) -> ScaleState:
    try:
        return ScaleState.model_validate(event)
    except ValidationError as exc:
        raise InvalidRequest(f"malformed workflow state: {exc.error_count()} problems") from None


def handle_plan(event: Any) -> ScaleState:
    if not isinstance(event, dict):
        raise InvalidRequest("the plan task expects {'input': ..., 'execution': ...}")
    cfg = settings()
    poll_seconds = event.get("poll_seconds", 30)
    if not isinstance(poll_seconds, int) or poll_seconds < 0:
        raise InvalidRequest("poll_seconds must be a non-negative integer")
    return plan_step(
        event.get("input"), str(event.get("execution", "local")), _store(cfg), policy(), now_utc(), poll_seconds
    )


def _leases(cfg: Settings) -> LeaseStore:
    return DynamoLeaseStore(cfg.state_table)


def handle_acquire_lock(event: Any) -> Lease:
    return acquire_lock_step(_state(event), _leases(settings()), policy(), now_utc())


def handle_apply(event: Any) -> ChangeRecord:
    return apply_step(_state(event), _store(settings()), policy(), now_utc())


def handle_check(event: Any) -> Progress:
    return check_step(_state(event), policy())


def handle_release(event: Any) -> dict[str, bool]:
    if not isinstance(event, dict):
        raise InvalidRequest("the release task expects {'state': ..., 'execution': ...}")
    released = release_step(_state(event.get("state", {})), str(event.get("execution", "")), _leases(settings()))
    return {"released": released}


def handle_record(event: Any) -> Outcome:
    from controlplane import audit

    if not isinstance(event, dict):
        raise InvalidRequest("the record task expects {'state': ..., 'execution': ...}")
    cfg = settings()
    pol = policy()
    outcome = outcome_of(_state(event.get("state", {})), str(event.get("execution", "")), now_utc())
    audit.record(outcome, _store(cfg), cfg, pol.notify_on)
    return outcome

"""Guards: every reason the control plane may refuse a change, each a small pure function.

``evaluate`` runs them all (not only until the first failure) so a Blocked
notice lists every reason at once. Checks that depend on time or stored state
take ``now`` and a ``StateStore`` so unit tests control both.
"""

from __future__ import annotations

from datetime import datetime

from controlplane.config import Policy, ScalingPolicy
from controlplane.models.scale import GuardCheck, GuardDecision, ScalePlan
from controlplane.store import StateStore


def check_bounds(plan: ScalePlan, limits: ScalingPolicy) -> GuardCheck:
    """Stay inside the resource's own min/max (owned by Terraform) and the policy's floor/ceiling."""
    low = max(plan.min_capacity, limits.min_capacity or 0)
    high = plan.max_capacity if limits.max_capacity is None else min(plan.max_capacity, limits.max_capacity)
    if plan.step < 0 and plan.desired < low:
        return GuardCheck(name="bounds", passed=False, reason=f"desired {plan.desired} is below the minimum {low}")
    if plan.step > 0 and plan.desired > high:
        return GuardCheck(name="bounds", passed=False, reason=f"desired {plan.desired} is above the maximum {high}")
    return GuardCheck(name="bounds", passed=True, reason=f"{plan.desired} within {low}..{high}")


def check_max_step(plan: ScalePlan, limits: ScalingPolicy) -> GuardCheck:
    if abs(plan.step) > limits.max_step:
        return GuardCheck(
            name="max_step", passed=False, reason=f"a step of {plan.step:+d} exceeds the maximum step {limits.max_step}"
        )
    return GuardCheck(name="max_step", passed=True)


def check_cooldown(plan: ScalePlan, limits: ScalingPolicy, store: StateStore, now: datetime) -> GuardCheck:
    last = store.last_change(cooldown_key(plan))
    if last is not None:
        elapsed = (now - last).total_seconds()
        if elapsed < limits.cooldown_seconds:
            remaining = int(limits.cooldown_seconds - elapsed)
            return GuardCheck(
                name="cooldown",
                passed=False,
                reason=f"last changed {int(elapsed)}s ago; cooldown has {remaining}s left",
            )
    return GuardCheck(name="cooldown", passed=True)


def check_freeze_windows(plan: ScalePlan, policy: Policy, now: datetime) -> GuardCheck:
    for window in policy.freeze_windows:
        if window.covers(now, plan.kind, plan.direction):
            return GuardCheck(name="freeze_window", passed=False, reason=f"change freeze {window.name!r} is in force")
    return GuardCheck(name="freeze_window", passed=True)


def check_circuit_breaker(policy: Policy, store: StateStore, now: datetime) -> GuardCheck:
    breaker = policy.circuit_breaker
    made = store.changes_in_window(breaker_window(now, breaker.window_seconds))
    if made >= breaker.max_changes_per_window:
        return GuardCheck(
            name="circuit_breaker",
            passed=False,
            reason=f"{made} changes in the last window reached the limit of {breaker.max_changes_per_window}",
        )
    return GuardCheck(name="circuit_breaker", passed=True)


def check_protection(protected: bool, tag: str) -> GuardCheck:
    if protected:
        return GuardCheck(name="protection", passed=False, reason=f"the resource carries the tag {tag}=true")
    return GuardCheck(name="protection", passed=True)


def check_ready(ready: bool, status: str) -> GuardCheck:
    if not ready:
        return GuardCheck(name="ready", passed=False, reason=f"the resource is {status}, not ready for a change")
    return GuardCheck(name="ready", passed=True)


def evaluate(
    plan: ScalePlan,
    policy: Policy,
    store: StateStore,
    now: datetime,
    *,
    protected: bool,
    ready: bool,
    extra: list[GuardCheck] | None = None,
) -> GuardDecision:
    """Every guard for one planned change, generic ones first, then the adapter's own."""
    limits = policy.for_kind(plan.kind)
    checks = [
        check_ready(ready, plan.status),
        check_protection(protected, policy.protection_tag),
        check_bounds(plan, limits),
        check_max_step(plan, limits),
        check_cooldown(plan, limits, store, now),
        check_freeze_windows(plan, policy, now),
        check_circuit_breaker(policy, store, now),
        *(extra or []),
    ]
    return GuardDecision(checks=checks)


def cooldown_key(plan: ScalePlan) -> str:
    return f"{plan.kind}#{plan.resource_id}"


def breaker_window(now: datetime, window_seconds: int) -> str:
    """Fixed windows: the start of the window ``now`` falls in, as epoch seconds."""
    start = int(now.timestamp()) // window_seconds * window_seconds
    return str(start)

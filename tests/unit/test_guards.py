"""Guards: each refuses for its reason, and evaluate() reports every failing guard at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from controlplane import guards
from controlplane.config import CircuitBreaker, FreezeWindow, Policy, ScalingPolicy
from controlplane.models.scale import ScalePlan
from controlplane.store import InMemoryStateStore

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday


def plan(current: int = 3, desired: int = 5, low: int = 1, high: int = 10, kind: str = "nodegroup") -> ScalePlan:
    return ScalePlan(
        kind=kind,
        resource_id="sip-dev/general",
        current=current,
        desired=desired,
        min_capacity=low,
        max_capacity=high,
        status="ACTIVE",
    )


def policy(**overrides: object) -> Policy:
    data: dict[str, object] = {
        "scaling": {"nodegroup": ScalingPolicy(max_step=3, cooldown_seconds=300, verify_timeout_seconds=600)},
        "circuit_breaker": CircuitBreaker(max_changes_per_window=2, window_seconds=3600),
        "lock_ttl_seconds": 3600,
    }
    data.update(overrides)
    return Policy.model_validate(data)


LIMITS = ScalingPolicy(max_step=3, cooldown_seconds=300, verify_timeout_seconds=600)


class TestBounds:
    def test_inside_bounds_passes(self) -> None:
        assert guards.check_bounds(plan(3, 5), LIMITS).passed

    def test_above_resource_max_is_refused(self) -> None:
        check = guards.check_bounds(plan(3, 11), LIMITS)
        assert not check.passed
        assert "above the maximum 10" in check.reason

    def test_below_resource_min_is_refused(self) -> None:
        check = guards.check_bounds(plan(3, 0), LIMITS)
        assert not check.passed
        assert "below the minimum 1" in check.reason

    def test_policy_ceiling_tighter_than_resource(self) -> None:
        limits = ScalingPolicy(max_step=3, cooldown_seconds=0, verify_timeout_seconds=300, max_capacity=6)
        assert not guards.check_bounds(plan(5, 7), limits).passed

    def test_moving_back_towards_bounds_is_allowed(self) -> None:
        # A group above a lowered max may still step down: only moving further out is refused.
        assert guards.check_bounds(plan(current=12, desired=11, high=10), LIMITS).passed


def test_max_step_refuses_large_steps_both_ways() -> None:
    assert guards.check_max_step(plan(3, 6), LIMITS).passed
    assert not guards.check_max_step(plan(3, 7), LIMITS).passed
    assert not guards.check_max_step(plan(7, 3), LIMITS).passed


class TestCooldown:
    def test_no_previous_change_passes(self) -> None:
        assert guards.check_cooldown(plan(), LIMITS, InMemoryStateStore(), NOW).passed

    def test_recent_change_is_refused_with_time_left(self) -> None:
        store = InMemoryStateStore()
        store.mark_change(guards.cooldown_key(plan()), NOW - timedelta(seconds=100), keep_seconds=300)
        check = guards.check_cooldown(plan(), LIMITS, store, NOW)
        assert not check.passed
        assert "200s left" in check.reason

    def test_change_after_cooldown_passes(self) -> None:
        store = InMemoryStateStore()
        store.mark_change(guards.cooldown_key(plan()), NOW - timedelta(seconds=301), keep_seconds=300)
        assert guards.check_cooldown(plan(), LIMITS, store, NOW).passed


class TestFreezeWindows:
    def test_weekly_window_covers_its_days_and_hours(self) -> None:
        window = FreezeWindow(name="deploys", days=["Wed"], start="09:00", end="11:00")
        assert window.covers(NOW, "nodegroup", "out")
        assert not window.covers(NOW + timedelta(hours=2), "nodegroup", "out")
        assert not window.covers(NOW + timedelta(days=1), "nodegroup", "out")

    def test_window_over_midnight(self) -> None:
        window = FreezeWindow(name="night", days=["Tue"], start="22:00", end="06:00")
        tuesday_late = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
        wednesday_early = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
        assert window.covers(tuesday_late, "nodegroup", "in")
        assert window.covers(wednesday_early, "nodegroup", "in")
        assert not window.covers(NOW, "nodegroup", "in")

    def test_time_zone_is_honoured(self) -> None:
        # 10:00 UTC is 11:00 in Berlin in November.
        window = FreezeWindow(name="berlin", timezone="Europe/Berlin", days=["Wed"], start="11:00", end="12:00")
        assert window.covers(NOW, "nodegroup", "out")

    def test_one_off_window_and_filters(self) -> None:
        window = FreezeWindow(
            name="year-end",
            start_at=NOW - timedelta(hours=1),
            end_at=NOW + timedelta(hours=1),
            kinds=["nodegroup"],
            directions=["in"],
        )
        assert window.covers(NOW, "nodegroup", "in")
        assert not window.covers(NOW, "nodegroup", "out")
        assert not window.covers(NOW, "rds_replicas", "in")

    def test_guard_names_the_window(self) -> None:
        pol = policy(freeze_windows=[FreezeWindow(name="deploys", days=["Wed"], start="09:00", end="11:00")])
        check = guards.check_freeze_windows(plan(), pol, NOW)
        assert not check.passed
        assert "'deploys'" in check.reason

    @pytest.mark.parametrize(
        "bad",
        [
            {"name": "both", "days": ["Mon"], "start": "01:00", "end": "02:00", "start_at": NOW, "end_at": NOW},
            {"name": "neither"},
            {"name": "naive", "start_at": "2026-01-01T00:00:00", "end_at": "2026-01-02T00:00:00"},
            {"name": "backwards", "start_at": NOW, "end_at": NOW - timedelta(hours=1)},
            {"name": "zone", "timezone": "Mars/Olympus", "days": ["Mon"], "start": "01:00", "end": "02:00"},
        ],
    )
    def test_malformed_windows_are_rejected(self, bad: dict[str, object]) -> None:
        with pytest.raises(ValueError):
            FreezeWindow.model_validate(bad)


def test_circuit_breaker_counts_each_execution_once() -> None:
    store = InMemoryStateStore()
    pol = policy()
    window = guards.breaker_window(NOW, pol.circuit_breaker.window_seconds)
    store.count_change(window, "exec-1", 2, 7200)
    store.count_change(window, "exec-1", 2, 7200)  # a retried apply
    assert guards.check_circuit_breaker(pol, store, NOW).passed
    store.count_change(window, "exec-2", 2, 7200)
    check = guards.check_circuit_breaker(pol, store, NOW)
    assert not check.passed
    assert "limit of 2" in check.reason


def test_protection_and_readiness() -> None:
    assert not guards.check_protection(True, "controlplane:protected").passed
    assert guards.check_protection(False, "controlplane:protected").passed
    assert not guards.check_ready(False, "UPDATING").passed
    assert "UPDATING" in guards.check_ready(False, "UPDATING").reason


def test_evaluate_reports_every_failure() -> None:
    store = InMemoryStateStore()
    store.mark_change(guards.cooldown_key(plan()), NOW, keep_seconds=300)
    decision = guards.evaluate(plan(3, 12), policy(), store, NOW, protected=True, ready=True)
    failed = {check.name for check in decision.checks if not check.passed}
    assert failed == {"protection", "bounds", "max_step", "cooldown"}
    assert not decision.allowed
    for name in failed:
        assert name in decision.reason


def test_evaluate_allows_a_clean_change() -> None:
    decision = guards.evaluate(plan(), policy(), InMemoryStateStore(), NOW, protected=False, ready=True)
    assert decision.allowed
    assert decision.reason == ""


class TestExactlyAtEachThreshold:
    """Each guard one step either side of its threshold, so an off-by-one (``<`` for ``<=``) fails here."""

    def test_cooldown_ends_exactly_when_its_seconds_have_passed(self) -> None:
        store = InMemoryStateStore()
        key = guards.cooldown_key(plan())
        store.mark_change(key, NOW - timedelta(seconds=LIMITS.cooldown_seconds), keep_seconds=LIMITS.cooldown_seconds)
        assert guards.check_cooldown(plan(), LIMITS, store, NOW).passed
        store.mark_change(key, NOW - timedelta(seconds=LIMITS.cooldown_seconds - 1), keep_seconds=300)
        assert not guards.check_cooldown(plan(), LIMITS, store, NOW).passed

    def test_breaker_refuses_at_its_limit_not_before(self) -> None:
        pol = policy()
        limit = pol.circuit_breaker.max_changes_per_window
        store = InMemoryStateStore()
        window = guards.breaker_window(NOW, pol.circuit_breaker.window_seconds)
        for index in range(limit - 1):
            store.count_change(window, f"exec-{index}", limit, 7200)
        assert guards.check_circuit_breaker(pol, store, NOW).passed
        store.count_change(window, "exec-last", limit, 7200)
        assert not guards.check_circuit_breaker(pol, store, NOW).passed

    def test_bounds_include_their_ends(self) -> None:
        assert guards.check_bounds(plan(3, 10, low=1, high=10), LIMITS).passed
        assert not guards.check_bounds(plan(3, 11, low=1, high=10), LIMITS).passed
        assert guards.check_bounds(plan(3, 1, low=1, high=10), LIMITS).passed
        assert not guards.check_bounds(plan(3, 0, low=1, high=10), LIMITS).passed

    def test_policy_bounds_include_their_ends(self) -> None:
        limits = LIMITS.model_copy(update={"cooldown_seconds": 0, "min_capacity": 2, "max_capacity": 6})
        assert guards.check_bounds(plan(5, 6), limits).passed
        assert not guards.check_bounds(plan(5, 7), limits).passed
        assert guards.check_bounds(plan(3, 2), limits).passed
        assert not guards.check_bounds(plan(3, 1), limits).passed

    def test_max_step_allows_exactly_the_maximum(self) -> None:
        step = LIMITS.max_step
        assert guards.check_max_step(plan(3, 3 + step), LIMITS).passed
        assert not guards.check_max_step(plan(3, 3 + step + 1), LIMITS).passed
        assert guards.check_max_step(plan(3 + step, 3, high=20), LIMITS).passed
        assert not guards.check_max_step(plan(3 + step + 1, 3, high=20), LIMITS).passed

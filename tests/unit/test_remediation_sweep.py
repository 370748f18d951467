"""The sweep of alarms still in ALARM, with in-memory stores: it decides through the entry point's own
path (cooldown, cap, in flight, quiet time), reports what waits instead of recording it, and a
retried sweep is a duplicate of itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from controlplane.models.errors import InvalidRequest
from controlplane.remediation import entry, sweep
from controlplane.remediation.policy import load_remediation_policy
from controlplane.remediation.store import InMemoryRemediationStore
from controlplane.store import InMemoryStateStore

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
REQUEST = sweep.SweepRequest(scheduled_time="2026-11-26T10:00:00Z")


@pytest.fixture(autouse=True)
def _metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    from controlplane.observability import metrics

    monkeypatch.setattr(metrics.provider, "namespace", "SIP/Test")


class Starter:
    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}

    def __call__(self, arn: str, name: str, payload: dict[str, Any]) -> bool:
        if name in self.started:
            return False
        self.started[name] = payload
        return True


def context(now: datetime = NOW, **deps: Any) -> entry.EntryContext:
    starter = deps.get("starter") or Starter()
    return entry.EntryContext(
        account_id="123456789012",
        region="us-east-1",
        policy=load_remediation_policy("dev"),
        store=deps.get("store") or InMemoryRemediationStore(),
        audit=deps.get("audit") or InMemoryStateStore(),
        remediation_arn="arn:aws:states:us-east-1:123456789012:stateMachine:sip-controlplane-remediation-dev",
        start=starter,
        read_capacity=lambda target: (100, 500),
        now=now,
        exists=lambda arn, name: name in starter.started,
    )


def in_alarm(name: str, minutes: int = 30) -> sweep.AlarmInAlarm:
    return sweep.AlarmInAlarm(name=name, since=NOW - timedelta(minutes=minutes), reason="Threshold Crossed")


def test_an_alarm_nothing_holds_back_is_admitted_as_a_swept_signal() -> None:
    ctx = context()
    report = sweep.sweep(REQUEST, ctx, [in_alarm("sip-dev-eks-cpu-high")])
    [decision] = report.decisions
    assert decision.status == "Admitted" and decision.swept and decision.event_id.startswith("sweep-2026-11-26")
    assert isinstance(ctx.start, Starter)
    [payload] = ctx.start.started.values()
    assert "still in ALARM since" in payload["signal_reason"] and payload["scale_request"]["delta"] == 2


def test_what_waits_is_reported_not_recorded() -> None:
    store, audit = InMemoryRemediationStore(), InMemoryStateStore()
    first = sweep.sweep(REQUEST, context(store=store, audit=audit), [in_alarm("sip-dev-eks-cpu-high")])
    assert first.decisions[0].status == "Admitted"
    audit.mark_change("nodegroup#sip-dev/general", NOW, keep_seconds=3600)
    later = sweep.SweepRequest(scheduled_time="2026-11-26T10:05:00Z")
    alarms = [
        in_alarm("sip-dev-eks-cpu-high"),  # in flight and cooling down
        in_alarm("sip-dev-eks-cpu-low"),  # scale-in: the group changed 5 minutes ago
        in_alarm("sip-dev-not-in-the-policy-high"),
        in_alarm("sip-dev-rds-primary-cpu-high", minutes=-4),  # 1 min ago: its own event decides it
    ]
    report = sweep.sweep(later, context(NOW + timedelta(minutes=5), store=store, audit=audit), alarms)
    assert report.decisions == []
    assert "in flight" in report.waiting["sip-dev-eks-cpu-high"]
    assert "cooling down" in report.waiting["sip-dev-eks-cpu-high"]
    assert "scale-in waits 1800s of quiet" in report.waiting["sip-dev-eks-cpu-low"]
    assert report.waiting["sip-dev-not-in-the-policy-high"] == "no remediation rule"
    assert "just now" in report.waiting["sip-dev-rds-primary-cpu-high"]
    assert audit.audit == {}  # nothing happened that needs an audit item


def test_after_the_cooldown_the_alarm_is_admitted_again() -> None:
    store = InMemoryRemediationStore()
    [first] = sweep.sweep(REQUEST, context(store=store), [in_alarm("sip-dev-eks-cpu-high")]).decisions
    store.release("nodegroup#sip-dev/general", first.execution or "")
    later = sweep.SweepRequest(scheduled_time="2026-11-26T10:11:00Z")
    [second] = sweep.sweep(
        later, context(NOW + timedelta(minutes=11), store=store), [in_alarm("sip-dev-eks-cpu-high")]
    ).decisions
    assert second.status == "Admitted" and second.execution != first.execution


def test_a_sweep_that_crashed_after_admitting_starts_the_workflow_when_retried() -> None:
    store, starter = InMemoryRemediationStore(), Starter()

    def crash(arn: str, name: str, payload: dict[str, Any]) -> bool:
        raise SystemExit("out of memory")  # the process dies: nothing is undone

    with pytest.raises(SystemExit):
        sweep.sweep(REQUEST, context(store=store, starter=crash), [in_alarm("sip-dev-eks-cpu-high")])
    [retried] = sweep.sweep(
        REQUEST, context(store=store, starter=starter), [in_alarm("sip-dev-eks-cpu-high")]
    ).decisions
    assert retried.status == "Admitted" and "never started" in retried.reason
    assert list(starter.started) == [retried.execution]


def test_two_alarms_of_one_sweep_are_two_events() -> None:
    ctx = context()
    alarms = [in_alarm("sip-dev-eks-cpu-high"), in_alarm("sip-dev-rds-primary-cpu-high")]
    decisions = sweep.sweep(REQUEST, ctx, alarms).decisions
    assert [d.status for d in decisions] == ["Admitted", "Admitted"]
    assert decisions[0].event_id != decisions[1].event_id


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({}, "scheduled_time: Field required"),
        ({"scheduled_time": "x" * 41}, "scheduled_time: String should have at most 40 characters"),
        ({"scheduled_time": "t", "schedule": "no spaces"}, "schedule: String should match pattern"),
        (None, "input: Input should be a valid dictionary"),
    ],
)
def test_a_malformed_sweep_input_is_an_invalid_request(event: Any, problem: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid sweep input") as refused:
        sweep.handle_sweep(event, lister=lambda prefix: pytest.fail("listed alarms for a bad input"))
    assert problem in str(refused.value)

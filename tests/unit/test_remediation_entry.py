"""The entry point's decisions with in-memory stores: storms admit one remediation, the rest are
suppressed and recorded; foreign events change nothing; scale-in waits for quiet."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from controlplane.models.errors import TransientAwsError
from controlplane.remediation import entry
from controlplane.remediation.events import RESET_REASON_PREFIX, Signal, signals_of
from controlplane.remediation.policy import load_remediation_policy, parse_remediation_policy
from controlplane.remediation.store import Admission, InMemoryRemediationStore
from controlplane.store import InMemoryStateStore

from tests.conftest import load_event

NOW = datetime(2026, 11, 26, 9, 15, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside Lambda nothing flushes the metrics; 100 values flush by themselves and need a namespace."""
    from controlplane.observability import metrics

    monkeypatch.setattr(metrics.provider, "namespace", "SIP/Test")


class Starter:
    def __init__(self, fail: bool = False) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    def __call__(self, arn: str, name: str, payload: dict[str, Any]) -> bool:
        if self.fail:
            raise RuntimeError("StartExecution throttled")
        self.started.append((name, payload))
        return True


def context(now: datetime = NOW, starter: Starter | None = None, **stores: Any) -> entry.EntryContext:
    return entry.EntryContext(
        account_id="123456789012",
        region="us-east-1",
        policy=load_remediation_policy("dev"),
        store=stores.get("store") or InMemoryRemediationStore(),
        audit=stores.get("audit") or InMemoryStateStore(),
        remediation_arn="arn:aws:states:us-east-1:123456789012:stateMachine:sip-controlplane-remediation-dev",
        start=starter or Starter(),
        read_capacity=lambda target: (100, 500),
        now=now,
        exists=stores.get("exists") or (lambda arn, name: True),
    )


def alarm(name: str = "sip-dev-eks-cpu-high", state: str = "ALARM", event_id: str = "e1") -> dict[str, Any]:
    event = load_event("alarm/eks-cpu-high-alarm.json")
    event["id"] = event_id
    event["detail"]["alarmName"] = name
    event["detail"]["state"]["value"] = state
    return event


def test_storm_of_200_concurrent_events_admits_exactly_one() -> None:
    ctx = context()
    starter = ctx.start
    assert isinstance(starter, Starter)
    events = [alarm(event_id=f"e{i % 150}") for i in range(200)]
    reports: list[entry.EntryReport] = []
    lock = threading.Lock()

    def deliver(event: dict[str, Any]) -> None:
        report = entry.handle(event, ctx)
        with lock:
            reports.append(report)

    threads = [threading.Thread(target=deliver, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = Counter(d.status for r in reports for d in r.decisions)
    assert counts == {"Admitted": 1, "Suppressed": 199}
    assert len(starter.started) == 1
    name, payload = starter.started[0]
    assert name.startswith("rem-dev-eks-cpu-high-")
    assert payload["scale_request"]["delta"] == 2
    assert payload["scale_request"]["requester"] == {"type": "alarm", "id": "sip-dev-eks-cpu-high"}
    assert payload["scale_execution"].startswith("scale-dev-eks-cpu-high-")
    # Every suppressed event is counted and audited, none dropped.
    assert ctx.store.stats("sip-dev-eks-cpu-high", entry.stats_window(NOW)) == {"Admitted": 1, "Suppressed": 199}
    # One audit record per distinct event (a redelivery's decision replaces its first one, as the
    # DynamoDB item with the same key does): 150 distinct events, the admitted one audited at the end.
    assert isinstance(ctx.audit, InMemoryStateStore) and len(ctx.audit.audit) == 150


def test_redelivery_of_the_same_event_is_a_duplicate() -> None:
    ctx = context()
    first, again = entry.handle(alarm(), ctx), entry.handle(alarm(), ctx)
    assert first.decisions[0].status == "Admitted"
    assert again.decisions[0].status == "Suppressed" and "duplicate delivery" in again.decisions[0].reason


def test_one_in_flight_per_resource_until_released_then_cooldown_then_cap() -> None:
    store = InMemoryRemediationStore()
    assert entry.handle(alarm(event_id="a"), context(store=store)).decisions[0].status == "Admitted"
    # Another alarm on the same node group while the first remediation runs:
    busy = entry.handle(alarm("sip-dev-eks-memory-high", event_id="b"), context(store=store)).decisions[0]
    assert busy.status == "Suppressed" and "in flight" in busy.reason
    name = entry.execution_names(
        Signal(
            source="cloudwatch",
            name="sip-dev-eks-cpu-high",
            state="ALARM",
            event_id="a",
            at=NOW,
            account="123456789012",
        )
    )[0]
    assert store.release("nodegroup#sip-dev/general", name)
    cooling = entry.handle(alarm(event_id="c"), context(NOW + timedelta(seconds=300), store=store)).decisions[0]
    assert cooling.status == "Suppressed" and "cooling down" in cooling.reason
    later = NOW + timedelta(seconds=601)
    admitted = entry.handle(alarm(event_id="d"), context(later, store=store)).decisions[0]
    assert admitted.status == "Admitted"
    store.release("nodegroup#sip-dev/general", admitted.execution or "")
    third = entry.handle(alarm(event_id="e"), context(later + timedelta(seconds=601), store=store)).decisions[0]
    assert third.status == "Admitted"
    store.release("nodegroup#sip-dev/general", third.execution or "")
    capped = entry.handle(alarm(event_id="f"), context(later + timedelta(seconds=1202), store=store)).decisions[0]
    assert capped.status == "Suppressed" and "reached its cap of 3" in capped.reason


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("alarm/foreign-account.json", "not 123456789012"),
        ("alarm/unknown-alarm.json", "no remediation rule"),
        ("alarm/eks-cpu-high-ok.json", "the rule acts on ALARM"),
        ("alarm/foreign-source.json", "foreign event"),
        ("alarm/malformed.json", "malformed alarm event"),
        ("alarm/sns-not-alertmanager.json", "not from Alertmanager"),
    ],
)
def test_foreign_and_malformed_events_are_recorded_and_change_nothing(event: str, reason: str) -> None:
    ctx = context()
    [decision] = entry.handle(load_event(event), ctx).decisions
    assert decision.status in {"Ignored", "Rejected"} and reason in decision.reason
    assert isinstance(ctx.start, Starter) and ctx.start.started == []
    assert isinstance(ctx.audit, InMemoryStateStore) and len(ctx.audit.audit) == 1


def test_region_of_another_region_is_ignored() -> None:
    event = alarm()
    event["region"] = "eu-west-1"
    [decision] = entry.handle(event, context()).decisions
    assert decision.status == "Ignored" and "eu-west-1" in decision.reason


def test_alertmanager_alert_follows_the_same_policy() -> None:
    ctx = context()
    [decision] = entry.handle(load_event("alarm/alertmanager-high-error-rate.json"), ctx).decisions
    assert decision.status == "Admitted" and decision.resource_key == "alertmanager#HighErrorRate"
    assert isinstance(ctx.start, Starter)
    [(_, payload)] = ctx.start.started
    assert payload["action"] == {"type": "notify"} and payload["scale_request"] is None


def test_scale_in_waits_for_quiet_after_any_change() -> None:
    audit = InMemoryStateStore()
    audit.mark_change("nodegroup#sip-dev/general", NOW - timedelta(seconds=60), keep_seconds=3600)
    early = entry.handle(alarm("sip-dev-eks-cpu-low", event_id="l1"), context(audit=audit)).decisions[0]
    assert early.status == "Suppressed" and "scale-in waits 1800s of quiet" in early.reason
    ctx = context(NOW + timedelta(seconds=1800), audit=audit)
    late = entry.handle(alarm("sip-dev-eks-cpu-low", event_id="l2"), ctx).decisions[0]
    assert late.status == "Admitted"
    assert isinstance(ctx.start, Starter) and ctx.start.started[0][1]["scale_request"]["delta"] == -1


@pytest.mark.parametrize(("elapsed", "admitted"), [(1799, False), (1800, True)])
def test_quiet_time_ends_exactly_when_its_seconds_have_passed(elapsed: int, admitted: bool) -> None:
    """The rule's quiet_seconds (1800 for the node group's scale-in in dev): one second short is still
    loud, the full time is quiet (``elapsed < quiet_seconds`` refuses, not ``<=``)."""
    audit = InMemoryStateStore()
    audit.mark_change("nodegroup#sip-dev/general", NOW - timedelta(seconds=elapsed), keep_seconds=3600)
    [decision] = entry.handle(alarm("sip-dev-eks-cpu-low", event_id=f"q{elapsed}"), context(audit=audit)).decisions
    assert (decision.status == "Admitted") is admitted, decision.reason


def test_storage_growth_asks_for_twenty_percent_within_the_ceiling() -> None:
    ctx = context()
    event = alarm("sip-dev-rds-primary-storage-high")
    entry.handle(event, ctx)
    assert isinstance(ctx.start, Starter)
    request = ctx.start.started[0][1]["scale_request"]
    assert request["resource"] == {"kind": "rds_storage", "db_instance": "sip-dev-postgres"}
    assert request["desired"] == 120


def test_a_start_that_fails_for_good_is_recorded_as_failed_and_given_back() -> None:
    store, audit = InMemoryRemediationStore(), InMemoryStateStore()
    [failed] = entry.handle(alarm(), context(store=store, audit=audit, starter=Starter(fail=True))).decisions
    assert failed.status == "Failed" and "StartExecution" in failed.reason
    assert [item["status"] for item in audit.audit.values()] == ["Failed"]
    retried = entry.handle(alarm(), context(store=store)).decisions[0]
    assert retried.status == "Admitted"


def test_a_throttled_start_raises_for_a_retry_of_the_whole_event_and_gives_the_admission_back() -> None:
    store = InMemoryRemediationStore()

    def throttled(arn: str, name: str, payload: dict[str, Any]) -> bool:
        raise TransientAwsError("StartExecution: AWS answered ThrottlingException")

    with pytest.raises(TransientAwsError):
        entry.handle(alarm(), context(store=store, starter=throttled))  # type: ignore[arg-type]
    assert entry.handle(alarm(), context(store=store)).decisions[0].status == "Admitted"


def crashed_admission(store: InMemoryRemediationStore, event: dict[str, Any], ctx: entry.EntryContext) -> str:
    """What a delivery that died right after its admission (timeout, out of memory) leaves behind."""
    [signal] = signals_of(event)
    assert isinstance(signal, Signal)
    rule = ctx.policy.rule_for(signal.source, signal.name)
    assert rule is not None and rule.resource_key
    name = entry.execution_names(signal)[0]
    store.admit(entry.admission_for(signal, rule, rule.resource_key, name, ctx))
    return name


def test_a_crash_between_admission_and_start_is_recovered_by_the_retried_delivery() -> None:
    store, starter = InMemoryRemediationStore(), Starter()
    ctx = context(store=store, starter=starter, exists=lambda arn, name: False)
    name = crashed_admission(store, alarm(), ctx)
    [retried] = entry.handle(alarm(), ctx).decisions
    assert retried.status == "Admitted" and retried.execution == name and "never started" in retried.reason
    [(started, payload)] = starter.started
    assert started == name and payload["scale_request"]["delta"] == 2 and payload["owner"] == name


def test_a_duplicate_of_a_started_event_starts_nothing() -> None:
    store, starter = InMemoryRemediationStore(), Starter()
    seen: list[str] = []

    def exists(arn: str, name: str) -> bool:
        seen.append(name)
        return True

    ctx = context(store=store, starter=starter, exists=exists)
    crashed_admission(store, alarm(), ctx)
    [again] = entry.handle(alarm(), ctx).decisions
    assert again.status == "Suppressed" and "duplicate delivery" in again.reason
    assert starter.started == [] and len(seen) == 1


def test_a_duplicate_whose_claim_is_not_its_own_starts_nothing() -> None:
    """The claim was released (the remediation ended) or belongs to another event: no recovery."""
    store, starter = InMemoryRemediationStore(), Starter()
    ctx = context(store=store, starter=starter, exists=lambda arn, name: False)
    name = crashed_admission(store, alarm(), ctx)
    store.release("nodegroup#sip-dev/general", name)
    [again] = entry.handle(alarm(), ctx).decisions
    assert again.status == "Suppressed" and starter.started == []


def test_a_topic_without_a_region_is_not_ours() -> None:
    event = load_event("alarm/alertmanager-high-error-rate.json")
    event["Records"][0]["Sns"]["TopicArn"] = "arn:aws:sns::123456789012:sip-controlplane-notify-dev"
    ctx = context()
    [decision] = entry.handle(event, ctx).decisions
    assert decision.status == "Ignored" and "region ?" in decision.reason
    assert isinstance(ctx.start, Starter) and ctx.start.started == []


def test_a_topic_of_another_region_is_not_ours() -> None:
    event = load_event("alarm/alertmanager-high-error-rate.json")
    event["Records"][0]["Sns"]["TopicArn"] = "arn:aws:sns:eu-west-1:123456789012:sip-controlplane-notify-dev"
    [decision] = entry.handle(event, context()).decisions
    assert decision.status == "Ignored" and "eu-west-1" in decision.reason


def reset_event(name: str = "sip-dev-eks-cpu-high", event_id: str = "r1") -> dict[str, Any]:
    """The OK that CloudWatch reports after the control plane set the alarm back (finish.reset_alarm)."""
    event = alarm(name, state="OK", event_id=event_id)
    event["detail"]["state"]["reason"] = f"{RESET_REASON_PREFIX} remediation rem-x ended Remediated; ..."
    event["detail"]["previousState"]["value"] = "ALARM"
    return event


def test_a_reset_by_the_control_plane_is_not_a_recovery_even_for_a_rule_acting_on_ok() -> None:
    data = load_remediation_policy("dev").model_dump(mode="json", exclude_none=True)
    data["alarms"]["sip-dev-eks-cpu-high"]["trigger"] = "OK"
    ctx = replace(context(), policy=parse_remediation_policy(data))
    [reset] = entry.handle(reset_event(), ctx).decisions
    assert reset.status == "Ignored" and "not a recovery" in reset.reason
    recovered = alarm(state="OK", event_id="real-ok")
    assert entry.handle(recovered, ctx).decisions[0].status == "Admitted"


def test_alarm_again_after_a_reset_is_admitted_under_the_usual_cooldown_and_cap() -> None:
    store = InMemoryRemediationStore()
    first = entry.handle(alarm(event_id="a1"), context(store=store)).decisions[0]
    assert first.status == "Admitted"
    store.release("nodegroup#sip-dev/general", first.execution or "")
    assert entry.handle(reset_event(event_id="r1"), context(store=store)).decisions[0].status == "Ignored"
    again = alarm(event_id="a2")
    again["detail"]["previousState"]["reason"] = f"{RESET_REASON_PREFIX} remediation {first.execution} ended"
    early = entry.handle(again, context(NOW + timedelta(seconds=120), store=store)).decisions[0]
    assert early.status == "Suppressed" and "cooling down" in early.reason
    again["id"] = "a3"
    late = entry.handle(again, context(NOW + timedelta(seconds=601), store=store)).decisions[0]
    assert late.status == "Admitted"


def alertmanager(*alerts: dict[str, Any]) -> dict[str, Any]:
    event = load_event("alarm/alertmanager-high-error-rate.json")
    body = json.loads(event["Records"][0]["Sns"]["Message"])
    body["alerts"] = list(alerts)
    event["Records"][0]["Sns"]["Message"] = json.dumps(body)
    return event


def alert(name: str | None, fingerprint: str) -> dict[str, Any]:
    labels = {"severity": "critical"} | ({"alertname": name} if name is not None else {})
    return {"status": "firing", "labels": labels, "startsAt": "2026-11-26T09:10:00Z", "fingerprint": fingerprint}


def test_one_bad_alert_does_not_cost_the_others_their_decision() -> None:
    ctx = context()
    event = alertmanager(alert("A" * 3000, "f1"), alert("HighErrorRate", "f2"), alert(None, "f3"))
    decisions = entry.handle(event, ctx).decisions
    assert [d.status for d in decisions] == ["Rejected", "Admitted", "Rejected"]
    assert "alertname is 3000 characters long" in decisions[0].reason
    assert "alertname" in decisions[2].reason
    assert isinstance(ctx.audit, InMemoryStateStore) and len(ctx.audit.audit) == 2


class FailingFor(InMemoryRemediationStore):
    """A store whose admission of one rule fails with ``error`` (a permanent or a transient one)."""

    def __init__(self, rule: str, error: Exception) -> None:
        super().__init__()
        self.rule, self.error = rule, error

    def admit(self, admission: Admission) -> None:
        if admission.rule == self.rule:
            raise self.error
        super().admit(admission)


def test_a_signal_that_fails_for_good_is_recorded_as_failed_and_the_others_still_decided() -> None:
    validation = ClientError({"Error": {"Code": "ValidationException", "Message": "key too large"}}, "PutItem")
    ctx = context(store=FailingFor("HighErrorRate", validation))
    event = alertmanager(alert("HighErrorRate", "f1"), alert("HighLatency", "f2"))
    decisions = entry.handle(event, ctx).decisions
    assert [(d.rule, d.status) for d in decisions] == [("HighErrorRate", "Failed"), ("HighLatency", "Ignored")]
    assert "ValidationException" in decisions[0].reason
    assert ctx.store.stats("HighErrorRate", entry.stats_window(NOW)) == {"Failed": 1}


def test_a_transient_failure_decides_the_others_first_then_asks_for_a_retry() -> None:
    throttled = TransientAwsError("admit: DynamoDB answered ProvisionedThroughputExceededException")
    store = FailingFor("sip-dev-rds-primary-storage-high", throttled)
    ctx = context(store=store)
    items = [*signals_of(alarm("sip-dev-rds-primary-storage-high", event_id="s1")), *signals_of(alarm())]
    with pytest.raises(TransientAwsError):
        entry.decide_each(items, ctx)
    # The other signal was decided (admitted) before the retry was asked for.
    assert store.stats("sip-dev-eks-cpu-high", entry.stats_window(NOW)) == {"Admitted": 1}


@pytest.mark.parametrize(
    ("current", "maximum", "desired"), [(100, 500, 120), (450, 500, 500), (480, 500, 576), (500, 500, 600)]
)
def test_storage_growth_is_capped_only_while_rds_would_accept_it(current: int, maximum: int, desired: int) -> None:
    rule = load_remediation_policy("dev").alarms["sip-dev-rds-primary-storage-high"]
    assert rule.action.grown(current, maximum) == desired

"""Nothing the remediation decides depends on when DynamoDB deletes an expired item, and every item
is kept at least as long as the longest rule that reads it.

DynamoDB docs (TTL, "How it works"): expired items are deleted "typically within a few days", and
until then reads still return them. So the same storm of events is decided twice here: once with
every expired item left in the table (deleted late), once with every expired item deleted the moment
it expires; the decisions must be the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from controlplane.remediation import entry
from controlplane.remediation.entry import INFLIGHT_SECONDS
from controlplane.remediation.policy import RemediationPolicy, Rule, load_remediation_policy
from controlplane.remediation.store import EVENT_KEEP_SECONDS, DynamoRemediationStore
from controlplane.store import CHANGE_KEEP_SECONDS, DynamoStateStore

from cpctl.sandbox.template import load_template
from tests.conftest import REPO, load_event

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    from controlplane.observability import metrics

    monkeypatch.setattr(metrics.provider, "namespace", "SIP/Test")


@pytest.fixture
def table() -> Iterator[tuple[Any, str]]:
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox(seed_platform=False) as running:
        # These runs decide at explicit times (START, a fixed date) and delete expired items themselves
        # (delete_expired), or leave them: the sandbox's own TTL, which follows the clock, stays out.
        running.state.set_ttl("never")
        yield running.client("dynamodb"), running.resources["StateTable"]["Ref"]


def delete_expired(client: Any, table_name: str, now: datetime) -> int:
    """What DynamoDB's TTL may do at any moment after expiry: here, at once."""
    items = client.scan(TableName=table_name)["Items"]
    expired = [i for i in items if "expires_at" in i and int(i["expires_at"]["N"]) < int(now.timestamp())]
    for item in expired:
        client.delete_item(TableName=table_name, Key={"pk": item["pk"], "sk": item["sk"]})
    return len(expired)


def alarm(name: str, event_id: str) -> dict[str, Any]:
    event = load_event("alarm/eks-cpu-high-alarm.json")
    event["id"], event["detail"]["alarmName"] = event_id, name
    return dict(event)


# (seconds after START, alarm, event id, release the claim afterwards?)
TIMELINE = [
    (0, "sip-dev-eks-cpu-high", "a", True),
    (30, "sip-dev-eks-cpu-high", "a", False),  # redelivered
    (300, "sip-dev-eks-cpu-high", "b", False),  # within the cooldown
    (700, "sip-dev-eks-cpu-high", "c", False),  # admitted, and its remediation never ends (a crash)
    (1400, "sip-dev-eks-memory-high", "d", False),  # that claim still holds the node group
    (700 + INFLIGHT_SECONDS + 1, "sip-dev-eks-memory-high", "e", True),  # the stale claim expired
    (EVENT_KEEP_SECONDS + 60, "sip-dev-eks-cpu-high", "a", True),  # a day later: a new event to us
    (EVENT_KEEP_SECONDS + 120, "sip-dev-eks-cpu-low", "f", True),  # scale-in: quiet time since the last change
]


def replay(client: Any, table_name: str, delete: bool) -> list[tuple[str, str]]:
    store, audit = DynamoRemediationStore(table_name, client=client), DynamoStateStore(table_name, client=client)
    audit.mark_change("nodegroup#sip-dev/general", START + timedelta(seconds=EVENT_KEEP_SECONDS), execution="x")
    decided: list[tuple[str, str]] = []
    for offset, name, event_id, release in TIMELINE:
        now = START + timedelta(seconds=offset)
        if delete:
            delete_expired(client, table_name, now)
        ctx = entry.EntryContext(
            account_id="123456789012",
            region="us-east-1",
            policy=load_remediation_policy("dev"),
            store=store,
            audit=audit,
            remediation_arn="arn:aws:states:us-east-1:123456789012:stateMachine:sip-controlplane-remediation-dev",
            start=lambda arn, n, payload: True,
            read_capacity=lambda target: (100, 500),
            now=now,
            exists=lambda arn, n: True,
        )
        [decision] = entry.handle(alarm(name, event_id), ctx).decisions
        decided.append((decision.status, decision.reason.split(" (")[0]))
        if release and decision.execution:
            store.release(decision.resource_key or "", decision.execution)
    return decided


def test_decisions_are_the_same_whenever_expired_items_are_deleted(table: tuple[Any, str]) -> None:
    client, table_name = table
    late = replay(client, table_name, delete=False)
    for item in client.scan(TableName=table_name)["Items"]:
        client.delete_item(TableName=table_name, Key={"pk": item["pk"], "sk": item["sk"]})
    at_once = replay(client, table_name, delete=True)
    assert late == at_once
    assert [status for status, _ in late] == [
        "Admitted",
        "Suppressed",
        "Suppressed",
        "Admitted",
        "Suppressed",
        "Admitted",
        "Admitted",
        "Suppressed",
    ]
    assert "scale-in waits" in late[-1][1]


def _rules(policy: RemediationPolicy) -> list[Rule]:
    return [*policy.alarms.values(), *policy.alerts.values()]


def test_the_last_change_outlives_every_quiet_time_a_policy_may_set() -> None:
    """The scale-in quiet time reads the resource's last change (CHANGE#): the mark must not be gone
    before the longest quiet time allowed is over, or an early deletion would read as "never changed"."""
    longest_allowed = Rule.model_fields["quiet_seconds"].metadata
    bound = max(m.le for m in longest_allowed if getattr(m, "le", None) is not None)
    assert bound <= CHANGE_KEEP_SECONDS
    for environment in ("dev", "staging", "prod"):
        for rule in _rules(load_remediation_policy(environment)):
            assert (rule.quiet_seconds or 0) <= CHANGE_KEEP_SECONDS


def test_an_event_is_remembered_longer_than_it_can_be_redelivered() -> None:
    """EventBridge retries a target for MaximumEventAgeInSeconds, Lambda keeps an asynchronous event
    for its MaximumEventAgeInSeconds (at most 6 hours): a redelivery after the event-seen item expired
    would be admitted again."""
    resources = load_template(REPO / "template.yaml")["Resources"]
    rule_age = max(
        t["RetryPolicy"]["MaximumEventAgeInSeconds"] for t in resources["AlarmStateChangeRule"]["Properties"]["Targets"]
    )
    lambda_age = resources["HandleAlarmFunction"]["Properties"]["EventInvokeConfig"]["MaximumEventAgeInSeconds"]
    assert rule_age + lambda_age <= EVENT_KEEP_SECONDS


def test_a_claim_outlives_the_longest_remediation() -> None:
    """The in-flight claim expires on its own only after the Remediation workflow's timeout, so a
    running remediation is never joined by a second one on the same resource."""
    definition = json.loads((REPO / "statemachines" / "remediation.asl.json").read_text())
    assert definition["TimeoutSeconds"] < INFLIGHT_SECONDS

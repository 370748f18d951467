"""The remediation entry point's handler under moto (the sandbox), with the sample events of events/alarm/."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from controlplane.remediation.events import Signal, signals_of

from tests.conftest import load_event

FUNCTION = "HandleAlarmFunction"


@pytest.fixture
def sandbox() -> Iterator[Any]:
    """One per test: decisions depend on what earlier events left (seen ids, claims, cooldowns)."""
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox() as running:
        yield running


def invoke(sandbox: Any, event: Any) -> dict[str, Any]:
    ok, payload = sandbox.invoke(FUNCTION, event)
    assert ok, payload
    return dict(payload)


def executions(sandbox: Any) -> list[dict[str, Any]]:
    arn = sandbox.state_machine_arn("RemediationStateMachine")
    return list(sandbox.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"])


def audit_items(sandbox: Any, rule: str) -> list[dict[str, Any]]:
    table = sandbox.resources["StateTable"]["Ref"]
    items = sandbox.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#remediation#{rule}"}},
    )["Items"]
    return list(items)


@pytest.mark.parametrize(
    ("sample", "status", "reason"),
    [
        ("alarm/foreign-account.json", "Ignored", "not 123456789012"),
        ("alarm/unknown-alarm.json", "Ignored", "no remediation rule"),
        ("alarm/foreign-source.json", "Ignored", "foreign event aws.ec2"),
        ("alarm/malformed.json", "Rejected", "malformed alarm event"),
        ("alarm/eks-cpu-high-ok.json", "Ignored", "the rule acts on ALARM"),
        ("alarm/sns-not-alertmanager.json", "Ignored", "not from Alertmanager"),
    ],
)
def test_foreign_and_malformed_events_are_recorded_without_any_change(
    sandbox: Any, sample: str, status: str, reason: str
) -> None:
    before = sandbox.nodegroup("general")["scalingConfig"]["desiredSize"]
    started = len(executions(sandbox))
    report = invoke(sandbox, load_event(sample))
    [decision] = report["decisions"]
    assert decision["status"] == status and reason in decision["reason"]
    assert len(executions(sandbox)) == started
    assert sandbox.nodegroup("general")["scalingConfig"]["desiredSize"] == before
    assert any(
        item["record"]["S"].count(decision["event_id"]) for item in audit_items(sandbox, decision["rule"] or "unknown")
    )


def test_an_alarm_starts_one_remediation_and_a_redelivery_is_suppressed(sandbox: Any) -> None:
    sandbox.advance_clock(3600)  # whatever another test admitted, its cooldown is over
    event = load_event("alarm/eks-cpu-high-alarm.json")
    first = invoke(sandbox, event)["decisions"][0]
    again = invoke(sandbox, event)["decisions"][0]
    assert first["status"] == "Admitted" and first["execution"].startswith("rem-dev-eks-cpu-high-")
    assert again["status"] == "Suppressed" and "duplicate delivery" in again["reason"]
    names = [e["name"] for e in executions(sandbox)]
    assert names.count(first["execution"]) == 1
    report = sandbox.wait(next(e["executionArn"] for e in executions(sandbox) if e["name"] == first["execution"]))
    assert report.output and report.output["status"] == "Remediated" and report.output["released"] is True


def test_alertmanager_notification_is_handled_by_the_same_policy(sandbox: Any) -> None:
    sandbox.advance_clock(3600)
    [decision] = invoke(sandbox, load_event("alarm/alertmanager-high-error-rate.json"))["decisions"]
    assert decision["status"] == "Admitted" and decision["rule"] == "HighErrorRate"
    arn = next(e["executionArn"] for e in executions(sandbox) if e["name"] == decision["execution"])
    report = sandbox.wait(arn)
    assert report.output and report.output["status"] == "Notified"
    assert "StartScale" not in report.states_entered


def test_schedule_samples_are_valid_inputs(sandbox: Any) -> None:
    ok, parked = sandbox.invoke("ScheduledScalingFunction", load_event("schedule/park-spot.json"))
    assert ok and parked["status"] == "Started" and parked["remembered"] == 2 and parked["desired"] == 0
    assert parked["execution"] == "sched-park-sip-dev-spot-202611261800"


def test_a_crash_between_admission_and_start_is_recovered_by_the_redelivery(sandbox: Any) -> None:
    """The first delivery admitted the event (claim, cooldown, cap, event seen) and died before
    StartExecution: the redelivery finds the claim is its own and the execution missing, and starts it."""
    from controlplane import clock
    from controlplane.remediation import entry
    from controlplane.remediation.policy import load_remediation_policy
    from controlplane.remediation.store import DynamoRemediationStore

    event = load_event("alarm/eks-cpu-high-alarm.json")
    event["id"] = "crashed-after-admission"
    [signal] = signals_of(event)
    assert isinstance(signal, Signal)
    rule = load_remediation_policy("dev").rule_for(signal.source, signal.name)
    assert rule is not None and rule.resource_key
    sandbox.advance_clock(3600)  # earlier tests' cooldowns on this rule are over
    store = DynamoRemediationStore(sandbox.resources["StateTable"]["Ref"], client=sandbox.client("dynamodb"))
    ctx = SimpleNamespace(now=clock.now())
    name = entry.execution_names(signal)[0]
    store.admit(entry.admission_for(signal, rule, rule.resource_key, name, ctx))  # type: ignore[arg-type]

    [decision] = invoke(sandbox, event)["decisions"]
    assert decision["status"] == "Admitted" and decision["execution"] == name and "never started" in decision["reason"]
    report = sandbox.wait(next(e["executionArn"] for e in executions(sandbox) if e["name"] == name))
    assert report.output and report.output["status"] == "Remediated" and report.output["released"] is True
    [again] = invoke(sandbox, event)["decisions"]
    assert again["status"] == "Suppressed" and "duplicate delivery" in again["reason"]


def test_one_alert_with_an_over_long_name_does_not_sink_the_notification(sandbox: Any) -> None:
    """An alertname longer than DynamoDB's key limit used to fail the whole invocation with a
    ValidationException, leaving the valid alerts of the same notification undecided."""
    event = load_event("alarm/alertmanager-high-error-rate.json")
    body = json.loads(event["Records"][0]["Sns"]["Message"])
    good = body["alerts"][0] | {"fingerprint": "0000000000000042"}
    bad = good | {"labels": {"alertname": "A" * 3000}, "fingerprint": "0000000000000043"}
    body["alerts"] = [bad, good]
    event["Records"][0]["Sns"]["Message"] = json.dumps(body)
    sandbox.advance_clock(3600)
    decisions = invoke(sandbox, event)["decisions"]
    assert [d["status"] for d in decisions] == ["Rejected", "Admitted"]
    assert "alertname is 3000 characters long" in decisions[0]["reason"]


def test_the_finish_task_refuses_an_over_long_execution_name_before_releasing_the_claim(sandbox: Any) -> None:
    from controlplane.remediation.store import DynamoRemediationStore

    event = load_event("finish_remediation/scale-succeeded.json")
    state = event["remediation"]
    store = DynamoRemediationStore(sandbox.resources["StateTable"]["Ref"], client=sandbox.client("dynamodb"))
    key = "nodegroup#sip-dev/finish-test"
    state["resource_key"] = key
    sandbox.client("dynamodb").put_item(
        TableName=store.table_name,
        Item={
            "pk": {"S": f"REMEDIATION#INFLIGHT#{key}"},
            "sk": {"S": "INFLIGHT"},
            "owner": {"S": state["owner"]},
            "expires_at": {"N": str(int(time.time()) + 3600)},
        },
    )
    ok, error = sandbox.invoke("FinishRemediationFunction", {**event, "execution": "x" * 3000})
    assert not ok and error["errorType"] == "InvalidRequest" and "execution" in error["errorMessage"]
    assert store.holder(key, datetime.now(UTC)) == state["owner"]


@pytest.mark.parametrize(
    ("function", "event", "problem"),
    [
        (
            "ScheduledScalingFunction",
            {"action": "park", "schedule": "p", "resource": {"kind": "x"}},
            "unknown resource kind",
        ),
        ("ScheduledScalingFunction", {"action": "park", "schedule": "p"}, "resource: Field required"),
        ("SweepAlarmsFunction", {"schedule": "sweep-alarms"}, "scheduled_time: Field required"),
        ("HandleAlarmFunction", None, "no event"),
    ],
)
def test_bad_input_is_an_invalid_request_that_names_the_problem(
    sandbox: Any, function: str, event: Any, problem: str
) -> None:
    ok, error = sandbox.invoke(function, event)
    assert not ok and error["errorType"] == "InvalidRequest" and problem in error["errorMessage"]

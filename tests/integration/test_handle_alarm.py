"""The remediation entry point's handler under moto (the sandbox), with the sample events of events/alarm/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import load_event

FUNCTION = "HandleAlarmFunction"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
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

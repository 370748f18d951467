"""Remediation and scheduled scaling end to end in the sandbox: EventBridge rule -> entry point ->
Remediation workflow -> Scale workflow, SNS -> entry point, Scheduler -> park/restore.

Each test has its own sandbox (conftest's ``sandbox``) and sets up what it needs: none depends on
another having run first."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from cpctl.sandbox.moto_patches import events as events_patch
from cpctl.sandbox.scenarios import remediation

pytestmark = pytest.mark.sandbox


def run(scenario: Any, sandbox: Any) -> Any:
    result = scenario(sandbox, io.StringIO())
    assert result.failures == []
    return result


def test_alarm_storm_leads_to_exactly_one_scale_up(sandbox: Any) -> None:
    result = run(remediation.alarm_storm, sandbox)
    remediations = [r for r in result.reports if r.name.startswith("rem-")]
    scales = [r for r in result.reports if r.name.startswith("scale-")]
    assert len(remediations) == 1 and len(scales) == 1
    assert scales[0].calls("UpdateNodegroupConfig") == 1
    assert scales[0].output and scales[0].output["requester"] == {"type": "alarm", "id": "sip-dev-eks-cpu-high"}
    stats = sandbox.client("dynamodb").scan(
        TableName=sandbox.resources["StateTable"]["Ref"],
        FilterExpression="begins_with(pk, :pk)",
        ExpressionAttributeValues={":pk": {"S": "REMEDIATION#STATS#sip-dev-eks-cpu-high"}},
    )["Items"]
    assert sum(int(item["Suppressed"]["N"]) for item in stats) == remediation.STORM_EVENTS - 1


def test_storage_alarm_grows_storage(sandbox: Any) -> None:
    run(remediation.storage_growth, sandbox)


def test_low_cpu_steps_down_once_after_the_cooldown(sandbox: Any) -> None:
    # The change the scale-in quiet time counts from: one scale-up of the general group.
    mark = len(events_patch.deliveries)
    sandbox.deliver_events([sandbox.alarm_event("sip-dev-eks-cpu-high", "ALARM", event_id="before-the-calm")])
    [scale_up] = remediation.decisions_since(mark)
    assert scale_up["status"] == "Admitted"
    remediation.wait_remediations(sandbox, [scale_up])
    run(remediation.step_down_after_cooldown, sandbox)


def test_schedule_parks_and_restores_the_spot_group(sandbox: Any) -> None:
    run(remediation.business_hours_schedule, sandbox)


def test_alertmanager_through_the_topic_reaches_the_entry_point(sandbox: Any) -> None:
    mark = len(events_patch.deliveries)
    message = json.loads(
        json.dumps(
            {
                "version": "4",
                "status": "firing",
                "receiver": "controlplane-sns",
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "api"},
                        "annotations": {"summary": "5xx above 0.1/s"},
                        "startsAt": "2026-11-26T10:00:00Z",
                        "fingerprint": "feedbeef00000001",
                    }
                ],
            }
        )
    )
    sns = sandbox.client("sns")
    topic = sandbox.resources["NotifyTopic"]["Ref"]
    sns.publish(
        TopicArn=topic,
        Message=json.dumps(message),
        MessageAttributes={"source": {"DataType": "String", "StringValue": "alertmanager"}},
    )
    sns.publish(TopicArn=topic, Message="a control plane notice")  # filtered out: no source attribute
    events_patch.drain()
    decisions = remediation.decisions_since(mark)
    assert [(d["rule"], d["status"]) for d in decisions] == [("HighErrorRate", "Admitted")]
    [report] = remediation.wait_remediations(sandbox, decisions)
    assert report.output and report.output["status"] == "Notified"


def test_blocked_remediation_escalates(sandbox: Any) -> None:
    sandbox.advance_clock(7 * 3600)  # past the storage rule's cooldown and RDS's 6 h wait
    rds = sandbox.client("rds")
    primary = rds.describe_db_instances(DBInstanceIdentifier="sip-dev-postgres")["DBInstances"][0]
    rds.modify_db_instance(
        DBInstanceIdentifier="sip-dev-postgres", MaxAllocatedStorage=primary["AllocatedStorage"], ApplyImmediately=True
    )
    mark = len(events_patch.deliveries)
    sandbox.deliver_events([sandbox.alarm_event("sip-dev-rds-primary-storage-high", "ALARM", event_id="full-1")])
    reports = remediation.wait_remediations(sandbox, remediation.decisions_since(mark))
    rem = next(r for r in reports if r.name.startswith("rem-"))
    scale = next(r for r in reports if r.name.startswith("scale-"))
    assert scale.outcome == "Blocked" and scale.calls("ModifyDBInstance") == 0
    assert rem.output and rem.output["status"] == "Escalated" and "Blocked" in rem.output["reason"]


def test_patches_still_apply() -> None:
    from cpctl.sandbox import moto_patches
    from cpctl.sandbox.moto_patches import sfn_integration

    names = events_patch.targets() + sfn_integration.targets()
    assert [name for name in moto_patches.verify() if name in names] == []

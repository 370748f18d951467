"""EMF records of outcomes (actions by workflow and kind, durations, guard trips, remediation latency)
and the console link in notifications: read back from what the code writes to stdout, as CloudWatch
Logs would receive it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from controlplane.audit import action_metrics
from controlplane.models.outcome import OutcomeStatus, Requester
from controlplane.models.scale import Outcome
from controlplane.observability import emit

ARN = "arn:aws:states:eu-central-1:123456789012:execution:sip-controlplane-scale-prod:scale-x"
STARTED = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def _records(text: str) -> list[dict[str, Any]]:
    """EMF records printed: {metric name: (value, dimensions, unit)}."""
    found = []
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                dims = {d: record[d] for d in directive["Dimensions"][0]}
                found.append({"name": metric["Name"], "unit": metric["Unit"], "value": record[metric["Name"]],
                              "dims": dims, "namespace": directive["Namespace"]})  # fmt: skip
    return found


def _outcome(status: OutcomeStatus, **extra: Any) -> Outcome:
    return Outcome(
        execution="scale-x",
        execution_arn=ARN,
        status=status,
        reason="because",
        recorded_at=STARTED + timedelta(seconds=42),
        started_at=STARTED,
        kind="nodegroup",
        resource_id="sip-prod/general",
        current=3,
        desired=5,
        requester=Requester(type="person", id="alice"),
        request_reason="campaign launch",
        **extra,
    )


def test_an_applied_change_counts_by_workflow_and_kind_with_its_duration(capsys: pytest.CaptureFixture[str]) -> None:
    action_metrics(_outcome(OutcomeStatus.SUCCEEDED))
    records = {r["name"]: r for r in _records(capsys.readouterr().out)}
    assert set(records) == {"ActionsApplied", "ActionDuration"}
    applied = records["ActionsApplied"]
    assert applied["dims"] == {"service": "controlplane", "Workflow": "scale", "Kind": "nodegroup"}
    assert (applied["value"], applied["unit"], applied["namespace"]) == ([1.0], "Count", "SIP/ControlPlane")
    assert (records["ActionDuration"]["value"], records["ActionDuration"]["unit"]) == ([42.0], "Seconds")


def test_a_blocked_change_counts_each_guard_that_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from controlplane.models.scale import GuardCheck

    checks = [
        GuardCheck(name="bounds", passed=True, reason="ok"),
        GuardCheck(name="cooldown", passed=False, reason="changed 2 min ago"),
        GuardCheck(name="freeze_window", passed=False, reason="release freeze"),
    ]
    action_metrics(_outcome(OutcomeStatus.BLOCKED, checks=checks))
    records = _records(capsys.readouterr().out)
    trips = sorted(r["dims"]["Guard"] for r in records if r["name"] == "GuardTrips")
    assert trips == ["cooldown", "freeze_window"]
    assert [r["name"] for r in records].count("ActionsBlocked") == 1


@pytest.mark.parametrize(
    ("status", "metric"),
    [(OutcomeStatus.FAILED, "ActionsFailed"), (OutcomeStatus.TIMED_OUT, "ActionsFailed"),
     (OutcomeStatus.DRY_RUN, "ActionsDryRun"), (OutcomeStatus.NO_CHANGE, "ActionsNoChange")],
)  # fmt: skip
def test_every_status_is_an_action_metric(
    status: OutcomeStatus, metric: str, capsys: pytest.CaptureFixture[str]
) -> None:
    action_metrics(_outcome(status))
    assert metric in {r["name"] for r in _records(capsys.readouterr().out)}


def test_emit_refuses_dimensions_the_catalog_does_not_list() -> None:
    with pytest.raises(ValueError, match="GuardTrips takes dimensions"):
        emit("GuardTrips", 1, Workflow="scale")


def test_a_notification_names_resource_change_reason_and_links_the_execution() -> None:
    lines = _outcome(OutcomeStatus.SUCCEEDED).notification_lines()
    text = "\n".join(lines)
    assert "Resource: nodegroup sip-prod/general" in text
    assert "Capacity: 3 -> 5" in text and "Reason: because" in text
    assert "Requester: person:alice (campaign launch)" in text
    console = next(line for line in lines if line.startswith("Console: "))
    assert console == (
        "Console: https://eu-central-1.console.aws.amazon.com/states/home?region=eu-central-1"
        f"#/v2/executions/details/{ARN}"
    )
    assert len(lines) <= 8


def test_remediation_latency_is_alarm_admission_to_the_change_applied(capsys: pytest.CaptureFixture[str]) -> None:
    from controlplane.remediation.finish import RemediationState, applied_after

    base = {
        "rule": "sip-prod-eks-cpu-high", "source": "cloudwatch", "state": "ALARM", "event_id": "e1",
        "action": {"type": "scale"}, "resource_key": "nodegroup#sip-prod/general", "owner": "rem-x",
        "admitted_at": "2026-11-27T07:00:00Z",
    }  # fmt: skip
    applied = {
        **base,
        "scale": {"status": "SUCCEEDED", "output": {"status": "Succeeded", "recorded_at": "2026-11-27T07:03:30Z"}},
    }
    assert applied_after(RemediationState.model_validate(applied)) == 210.0
    blocked = {
        **base,
        "scale": {"status": "SUCCEEDED", "output": {"status": "Blocked", "recorded_at": "2026-11-27T07:01:00Z"}},
    }
    assert applied_after(RemediationState.model_validate(blocked)) is None
    assert applied_after(RemediationState.model_validate(base)) is None

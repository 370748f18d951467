"""Alarms that stay in ALARM, end to end in the sandbox. CloudWatch raises one state-change event per
change: when the first action was not enough, or the one event was suppressed, the control plane
must act again by itself, under the rule's cooldown and cap, without mistaking its own reset for a
recovery. And a restore the guards Blocked must not lose the parked size.

Each test has its own sandbox (nothing depends on what another test left behind).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from controlplane import clock
from controlplane.remediation.events import RESET_REASON_PREFIX

from cpctl.sandbox.moto_patches import events as events_patch
from cpctl.sandbox.scenarios import remediation

pytestmark = pytest.mark.sandbox

CPU_HIGH, MEMORY_HIGH = "sip-dev-eks-cpu-high", "sip-dev-eks-memory-high"


def alarm_state(sandbox: Any, name: str) -> dict[str, Any]:
    [alarm] = sandbox.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return dict(alarm)


def cloudwatch_evaluates(sandbox: Any, name: str, state: str, reason: str) -> list[dict[str, Any]]:
    """CloudWatch's next evaluation sets the alarm (an event only if the state changes); the decisions."""
    mark = len(events_patch.deliveries)
    sandbox.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
    events_patch.drain()
    return remediation.decisions_since(mark)


def finish(sandbox: Any, decisions: list[dict[str, Any]]) -> list[Any]:
    """Wait for the admitted remediations (and their Scale runs), then for the events their Finish caused."""
    mark = len(events_patch.deliveries)
    reports = remediation.wait_remediations(sandbox, decisions)
    events_patch.drain()
    return [*reports, remediation.decisions_since(mark)]


def sweep(sandbox: Any, at: datetime | None = None) -> dict[str, Any]:
    mark = len(events_patch.deliveries)
    ok, report = sandbox.fire_schedule("SweepAlarmsSchedule", scheduled_time=at)
    assert ok, report
    events_patch.drain()
    return {**report, "later": remediation.decisions_since(mark)}


def general(sandbox: Any) -> int:
    return int(sandbox.nodegroup("general")["scalingConfig"]["desiredSize"])


def test_an_alarm_still_in_alarm_after_the_first_step_gets_a_second_one(sandbox: Any) -> None:
    before = general(sandbox)
    [first] = cloudwatch_evaluates(sandbox, CPU_HIGH, "ALARM", "Threshold Crossed: CPU 92%")
    assert first["status"] == "Admitted"
    *reports, after_finish = finish(sandbox, [first])
    remediation_report = next(r for r in reports if r.name.startswith("rem-"))
    assert remediation_report.output["status"] == "Remediated" and remediation_report.output["alarm"] == "reset to OK"
    assert general(sandbox) == before + 2
    # The control plane set the alarm back to OK: that OK is not a recovery.
    state = alarm_state(sandbox, CPU_HIGH)
    assert state["StateValue"] == "OK" and state["StateReason"].startswith(RESET_REASON_PREFIX)
    assert [(d["state"], d["status"]) for d in after_finish] == [("OK", "Ignored")]
    assert "not a recovery" in after_finish[0]["reason"]

    # Two more nodes were not enough: the next evaluation raises the alarm again, within the cooldown.
    [again] = cloudwatch_evaluates(sandbox, CPU_HIGH, "ALARM", "Threshold Crossed: CPU 88%")
    assert again["status"] == "Suppressed" and "cooling down" in again["reason"]
    sandbox.advance_clock(60)
    waiting = sweep(sandbox)
    assert waiting["decisions"] == [] and "cooling down" in waiting["waiting"][CPU_HIGH]

    sandbox.advance_clock(600)  # past the rule's cooldown (600 s) and the node group's (300 s)
    swept = sweep(sandbox)
    [second] = swept["decisions"]
    assert second["status"] == "Admitted" and second["swept"] is True and second["rule"] == CPU_HIGH
    *_, after_second = finish(sandbox, [second])
    assert general(sandbox) == before + 4
    assert [(d["state"], d["status"]) for d in after_second] == [("OK", "Ignored")]


def test_a_suppressed_alarm_that_stays_in_alarm_is_decided_again(sandbox: Any) -> None:
    before = general(sandbox)
    # Both node alarms at once: one remediation of the general group in flight, the other suppressed.
    mark = len(events_patch.deliveries)
    sandbox.deliver_events(
        [
            sandbox.alarm_event(CPU_HIGH, "ALARM", event_id="cpu-1"),
            sandbox.alarm_event(MEMORY_HIGH, "ALARM", event_id="memory-1"),
        ]
    )
    for name in (CPU_HIGH, MEMORY_HIGH):  # the alarms' own state, as CloudWatch keeps it
        sandbox.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="breaching")
    events_patch.drain()
    decisions = {d["event_id"]: d for d in remediation.decisions_since(mark) if d["event_id"] in {"cpu-1", "memory-1"}}
    admitted = [d for d in decisions.values() if d["status"] == "Admitted"]
    suppressed = [d for d in decisions.values() if d["status"] == "Suppressed"]
    assert len(admitted) == 1 and len(suppressed) == 1
    assert "in flight" in suppressed[0]["reason"] or "concurrent admission" in suppressed[0]["reason"]
    finish(sandbox, admitted)
    left_in_alarm = suppressed[0]["rule"]
    assert alarm_state(sandbox, left_in_alarm)["StateValue"] == "ALARM"
    assert alarm_state(sandbox, admitted[0]["rule"])["StateValue"] == "OK"  # reset after its action

    sandbox.advance_clock(301)  # past the node group's Scale cooldown
    firing = clock.now()
    swept = sweep(sandbox, firing)
    assert swept["in_alarm"] == [left_in_alarm]
    [decision] = swept["decisions"]
    assert decision["status"] == "Admitted" and decision["rule"] == left_in_alarm
    reports = finish(sandbox, [decision])[:-1]
    scale = next(r for r in reports if r.name.startswith("scale-"))
    assert scale.outcome == "Succeeded"
    step = {CPU_HIGH: 2, MEMORY_HIGH: 1}
    assert general(sandbox) == before + step[CPU_HIGH] + step[MEMORY_HIGH]

    # Scheduler retries the same firing: that alarm was reset after its action, nothing starts twice.
    retried = sweep(sandbox, firing)
    assert retried["decisions"] == [] and left_in_alarm not in retried["in_alarm"]


def test_a_restore_the_guards_blocked_keeps_the_parked_size(sandbox: Any) -> None:
    spot = lambda: int(sandbox.nodegroup("spot")["scalingConfig"]["desiredSize"])  # noqa: E731
    before = spot()
    ok, parked = sandbox.fire_schedule("ParkSpotSchedule")
    assert ok and parked["status"] == "Started"
    remediation._wait_started(sandbox, remediation._scale_arn(sandbox, parked["execution"]))
    assert spot() == 0
    # Restored right away: the node group's cooldown (300 s) Blocks the restore; the group stays at 0.
    ok, restore = sandbox.fire_schedule("RestoreSpotSchedule")
    assert ok and restore["status"] == "Started"
    blocked = remediation._wait_started(sandbox, remediation._scale_arn(sandbox, restore["execution"]))
    assert blocked.outcome == "Blocked" and "cooldown" in blocked.reason and spot() == 0

    sandbox.advance_clock(12 * 3600)  # the next evening's park keeps the size it remembered
    ok, again = sandbox.fire_schedule("ParkSpotSchedule")
    assert ok and again["status"] == "NoChange" and again["remembered"] == before
    assert again["previous_restore"].endswith("SUCCEEDED Blocked")
    sandbox.advance_clock(12 * 3600)
    ok, retried = sandbox.fire_schedule("RestoreSpotSchedule")
    assert ok and retried["status"] == "Started" and retried["desired"] == before
    restored = remediation._wait_started(sandbox, remediation._scale_arn(sandbox, retried["execution"]))
    assert restored.outcome == "Succeeded" and spot() == before

"""Alarm-driven remediation and scheduled scaling: an alarm storm, storage growth, a step down after
the cooldown, and the business-hours schedule of the spot node group."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, TextIO

from cpctl.sandbox.moto_patches import events as events_patch
from cpctl.sandbox.runtime import ExecutionReport, Sandbox
from cpctl.sandbox.scenarios import Scenario, ScenarioResult

STORM_EVENTS = 200
STORM_DISTINCT = 150  # the other 50 are redeliveries of events already sent (same id)


def decisions_since(start: int) -> list[dict[str, Any]]:
    """Every decision the entry point made in deliveries after index ``start``."""
    found: list[dict[str, Any]] = []
    for delivery in events_patch.deliveries[start:]:
        if delivery.get("ok") and isinstance(delivery.get("result"), dict):
            found.extend(delivery["result"].get("decisions", []))
    return found


def wait_remediations(sandbox: Sandbox, decisions: list[dict[str, Any]]) -> list[ExecutionReport]:
    """Reports of the Remediation executions the decisions started, and of the Scale executions they ran."""
    arn = sandbox.state_machine_arn("RemediationStateMachine").replace(":stateMachine:", ":execution:")
    reports: list[ExecutionReport] = []
    for name in sorted({d["execution"] for d in decisions if d.get("execution")}):
        report = _wait_started(sandbox, f"{arn}:{name}")
        reports.append(report)
        scale = (report.output or {}).get("scale_execution")
        if scale:
            scale_arn = sandbox.state_machine_arn("ScaleStateMachine").replace(":stateMachine:", ":execution:")
            reports.append(_wait_started(sandbox, f"{scale_arn}:{scale}"))
    return reports


def _wait_started(sandbox: Sandbox, execution_arn: str, timeout: float = 60.0) -> ExecutionReport:
    started = time.monotonic()
    while True:
        try:
            return sandbox.wait(execution_arn)
        except sandbox.client("stepfunctions").exceptions.ExecutionDoesNotExist:
            if time.monotonic() - started > timeout:
                raise
            time.sleep(0.01)


def _desired(sandbox: Sandbox, nodegroup: str) -> int:
    return int(sandbox.nodegroup(nodegroup)["scalingConfig"]["desiredSize"])


def _updates() -> int:
    from cpctl.sandbox.moto_patches.state import SANDBOX_STATE

    return SANDBOX_STATE.calls[("eks", "UpdateNodegroupConfig")]


def alarm_storm(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    alarm = f"sip-{sandbox.environment}-eks-cpu-high"
    # The platform has been quiet for a while: earlier scenarios' cooldowns are over.
    sandbox.advance_clock(900)
    before, updates_before = _desired(sandbox, "general"), _updates()
    distinct = [sandbox.alarm_event(alarm, "ALARM", event_id=f"storm-{i:03d}") for i in range(STORM_DISTINCT)]
    storm = distinct + distinct[: STORM_EVENTS - STORM_DISTINCT]  # redeliveries keep their event id
    mark = len(events_patch.deliveries)
    started = time.monotonic()
    sandbox.deliver_events(storm)
    elapsed = time.monotonic() - started
    decisions = decisions_since(mark)
    counts = Counter(d["status"] for d in decisions)
    reports = wait_remediations(sandbox, decisions)
    result.reports.extend(reports)
    updates = _updates() - updates_before
    after = _desired(sandbox, "general")
    result.expect(len(decisions) == STORM_EVENTS, f"{len(decisions)} decisions for {STORM_EVENTS} events")
    result.expect(counts["Admitted"] == 1, f"{counts['Admitted']} remediations admitted, expected 1")
    result.expect(counts["Suppressed"] == STORM_EVENTS - 1, f"{counts['Suppressed']} suppressed")
    result.expect(updates == 1, f"{updates} UpdateNodegroupConfig calls for the storm, expected 1")
    result.expect(after == before + 2, f"general is at {after}, expected {before + 2}")
    reasons = Counter(
        d["reason"].split(" (")[0].split(" of event")[0] for d in decisions if d["status"] == "Suppressed"
    )
    result.notes.append(
        f"storm: {len(storm)} ALARM events in ({STORM_DISTINCT} distinct + {STORM_EVENTS - STORM_DISTINCT} "
        f"redeliveries) -> {counts['Admitted']} scale-up (general {before} -> {after}), "
        f"{counts['Suppressed']} suppressed and recorded; {len(storm) / elapsed:.0f} events/s at the entry point"
    )
    for reason, count in reasons.most_common(3):
        result.notes.append(f"  suppressed x{count}: {reason}")
    return result


def storage_growth(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    primary = f"sip-{sandbox.environment}-postgres"
    rds = sandbox.client("rds")
    before = int(rds.describe_db_instances(DBInstanceIdentifier=primary)["DBInstances"][0]["AllocatedStorage"])
    mark = len(events_patch.deliveries)
    # As CloudWatch does: the alarm changes state, EventBridge gets the state-change event.
    sandbox.client("cloudwatch").set_alarm_state(
        AlarmName=f"sip-{sandbox.environment}-rds-primary-storage-high",
        StateValue="ALARM",
        StateReason="FreeStorageSpace below 25 GiB",
    )
    events_patch.drain()
    decisions = decisions_since(mark)
    reports = wait_remediations(sandbox, decisions)
    result.reports.extend(reports)
    after = int(rds.describe_db_instances(DBInstanceIdentifier=primary)["DBInstances"][0]["AllocatedStorage"])
    result.expect([d["status"] for d in decisions] == ["Admitted"], f"decisions {decisions}")
    result.expect(after == before * 120 // 100, f"storage {before} -> {after} GiB, expected +20%")
    result.notes.append(f"storage alarm: {primary} grew {before} -> {after} GiB (MaxAllocatedStorage bounds it)")
    return result


def step_down_after_cooldown(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    before, mark = _desired(sandbox, "general"), len(events_patch.deliveries)
    sandbox.deliver_events(
        [
            sandbox.alarm_event(f"sip-{sandbox.environment}-eks-cpu-high", "OK", event_id="calm-1"),
            sandbox.alarm_event(f"sip-{sandbox.environment}-eks-cpu-low", "ALARM", event_id="low-1"),
        ]
    )
    early = {d["event_id"]: d for d in decisions_since(mark)}
    statuses = {key: d["status"] for key, d in early.items()}
    result.expect(statuses == {"calm-1": "Ignored", "low-1": "Suppressed"}, f"early decisions {statuses}")
    result.expect(_desired(sandbox, "general") == before, "scaled in before the quiet time")
    sandbox.advance_clock(1900)  # past the scale-in quiet time (1800 s) since the storm's scale-up
    mark = len(events_patch.deliveries)
    sandbox.deliver_events(
        [sandbox.alarm_event(f"sip-{sandbox.environment}-eks-cpu-low", "ALARM", event_id="low-2", previous="OK")]
    )
    later = decisions_since(mark)
    result.reports.extend(wait_remediations(sandbox, later))
    after = _desired(sandbox, "general")
    result.expect([d["status"] for d in later] == ["Admitted"], f"later decisions {later}")
    result.expect(after == before - 1, f"general {before} -> {after}, expected one step down")
    result.notes.append(f"OK of cpu-high: ignored ({early['calm-1']['reason']})")
    result.notes.append(f"cpu-low right after the storm: suppressed ({early['low-1']['reason']})")
    result.notes.append(f"cpu-low after the quiet time: one step down, general {before} -> {after}")
    return result


def business_hours_schedule(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    before = _desired(sandbox, "spot")
    ok, parked = sandbox.fire_schedule("ParkSpotSchedule")
    result.expect(ok and parked.get("status") == "Started", f"park answered {parked}")
    if ok and parked.get("execution"):
        result.reports.append(_wait_started(sandbox, _scale_arn(sandbox, parked["execution"])))
    middle = _desired(sandbox, "spot")
    ok_again, again = sandbox.fire_schedule("ParkSpotSchedule")  # a retried park keeps the first size
    result.expect(ok_again and again.get("remembered") == before, f"second park answered {again}")
    sandbox.advance_clock(12 * 3600)  # 19:00 -> 07:00
    ok, restored = sandbox.fire_schedule("RestoreSpotSchedule")
    result.expect(ok and restored.get("status") == "Started", f"restore answered {restored}")
    if ok and restored.get("execution"):
        result.reports.append(_wait_started(sandbox, _scale_arn(sandbox, restored["execution"])))
    after = _desired(sandbox, "spot")
    result.expect(middle == 0, f"spot parked at {middle}, expected 0")
    result.expect(after == before, f"spot restored to {after}, expected {before}")
    result.notes.append(
        f"schedule: spot {before} -> {middle} after hours (size {before} remembered) -> {after} before work"
    )
    return result


def still_in_alarm(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    """The first step was not enough: the alarm is reset after its action, raised again by the next
    evaluation (suppressed: cooling down), and the sweep acts once the cooldown is over."""
    result = ScenarioResult()
    alarm, cloudwatch = f"sip-{sandbox.environment}-eks-cpu-high", sandbox.client("cloudwatch")
    sandbox.advance_clock(3600)  # earlier scenarios' cooldowns are over
    before = _desired(sandbox, "general")

    def evaluate(reason: str) -> list[dict[str, Any]]:
        mark = len(events_patch.deliveries)
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason=reason)
        events_patch.drain()
        return decisions_since(mark)

    first = evaluate("Threshold Crossed: node CPU 92%")
    mark = len(events_patch.deliveries)
    result.reports.extend(wait_remediations(sandbox, first))
    events_patch.drain()
    reset = decisions_since(mark)
    state = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
    again = evaluate("Threshold Crossed: node CPU 88%")
    sandbox.advance_clock(601)
    ok, swept = sandbox.fire_schedule("SweepAlarmsSchedule")
    swept_decisions = swept.get("decisions", []) if ok else []
    result.reports.extend(wait_remediations(sandbox, swept_decisions))
    events_patch.drain()
    after = _desired(sandbox, "general")
    result.expect([d["status"] for d in first] == ["Admitted"], f"first decisions {first}")
    result.expect(state["StateValue"] == "OK", f"alarm is {state['StateValue']} after its remediation, expected OK")
    result.expect([d["status"] for d in reset] == ["Ignored"], f"the reset's OK was decided {reset}")
    result.expect([d["status"] for d in again] == ["Suppressed"], f"the second ALARM was decided {again}")
    result.expect([d["status"] for d in swept_decisions] == ["Admitted"], f"the sweep answered {swept}")
    result.expect(after == before + 4, f"general {before} -> {after}, expected two steps of +2")
    result.notes.append(f"still in ALARM: +2 (general {before} -> {before + 2}), alarm reset to OK")
    result.notes.append(f"  reset's OK: ignored ({reset[0]['reason'][:60] if reset else '-'}...)")
    result.notes.append(f"  raised again in the cooldown: suppressed ({again[0]['reason'] if again else '-'})")
    result.notes.append(f"  sweep after the cooldown: +2 more (general -> {after})")
    return result


def _scale_arn(sandbox: Sandbox, name: str) -> str:
    return sandbox.state_machine_arn("ScaleStateMachine").replace(":stateMachine:", ":execution:") + f":{name}"


SCENARIOS = [
    Scenario("Alarm storm: 200 ALARM events for one node-group CPU alarm -> one scale-up", alarm_storm),
    Scenario("Storage alarm grows RDS storage within MaxAllocatedStorage", storage_growth),
    Scenario("Sustained low CPU: one step down, only after the cooldown", step_down_after_cooldown),
    Scenario("Business hours: park the spot node group after hours, restore it before work", business_hours_schedule),
    Scenario("Still in ALARM after the action: reset, raised again, swept after the cooldown", still_in_alarm),
]

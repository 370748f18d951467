"""The sweep: every few minutes, this environment's alarms still in ALARM get another chance.

CloudWatch sends a state-change event only when an alarm changes state. An alarm whose event was
suppressed (cooldown, a remediation in flight, the cap) or lost, and that stays in ALARM, would
never be acted on again. The sweep lists the environment's metric alarms in ALARM
(``DescribeAlarms`` with the ``sip-<env>-`` prefix) and, for each whose rule acts on ALARM and
which the admission would not refuse right now, decides a signal through the entry point's usual
path (``entry.decide``): the same quiet time, the same transaction (cooldown, cap, in flight), the
same deterministic names (the event id is the sweep's scheduled time, so a retried sweep is a
duplicate). An alarm that is still waiting (cooldown, in flight, cap, quiet time) is only reported,
not recorded as a suppressed event: no event happened. Alarms that entered ALARM in the last
``GRACE_SECONDS`` are left to their own state-change event.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import Field, ValidationError

from controlplane import aws
from controlplane.config import settings
from controlplane.models.base import Model
from controlplane.models.errors import InvalidRequest, validation_problems
from controlplane.observability import logger
from controlplane.remediation.entry import (
    Decision,
    EntryContext,
    admission_for,
    count_metric,
    decide_each,
    default_context,
    execution_names,
    quiet_refusal,
    suppressed_metrics,
)
from controlplane.remediation.events import NAME_MAX, Signal
from controlplane.remediation.policy import TriggerState

GRACE_SECONDS = 120


class AlarmInAlarm(Model):
    """What the sweep needs of one alarm that ``DescribeAlarms`` reports in ALARM."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    since: datetime
    reason: str = ""


class SweepRequest(Model):
    """The sweep schedule's input: its scheduled time makes the sweep's event ids (and names) deterministic."""

    schedule: str = Field(default="sweep-alarms", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    scheduled_time: str = Field(min_length=1, max_length=40)


class SweepReport(Model):
    in_alarm: list[str]
    decisions: list[Decision]
    # Alarms in ALARM that the sweep left alone, and why (waiting for a cooldown, no rule, ...).
    waiting: dict[str, str] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)


# Lists the environment's metric alarms currently in ALARM.
AlarmLister = Callable[[str], list[AlarmInAlarm]]


def _waiting_reason(alarm: AlarmInAlarm, signal: Signal, ctx: EntryContext) -> str | None:
    """Why the sweep leaves ``alarm`` alone this time, or None when it should be decided now."""
    rule = ctx.policy.rule_for("cloudwatch", alarm.name)
    if rule is None:
        return "no remediation rule"
    if rule.trigger != TriggerState.ALARM:
        return f"the rule acts on {rule.trigger.value}"
    quiet = quiet_refusal(rule, ctx)
    if quiet:
        return quiet
    resource_key = rule.resource_key or f"cloudwatch#{alarm.name}"
    name = execution_names(signal)[0]
    refusals = ctx.store.refusals(admission_for(signal, rule, resource_key, name, ctx))
    if refusals and ctx.store.holder(resource_key, ctx.now) != name:
        return "; ".join(refusals)
    # Nothing holds it back, or what holds it is this very sweep's admission (a retried run):
    # the entry point's path decides, and starts the workflow if the first run never did.
    if (ctx.now - alarm.since).total_seconds() < GRACE_SECONDS:
        return "entered ALARM just now: its own state-change event decides it"
    return None


def sweep(request: SweepRequest, ctx: EntryContext, in_alarm: list[AlarmInAlarm]) -> SweepReport:
    signals: list[Signal] = []
    waiting: dict[str, str] = {}
    for alarm in in_alarm:
        signal = Signal(
            source="cloudwatch",
            name=alarm.name,
            state="ALARM",
            # One id per alarm and sweep run: a retried run is a duplicate, the next run a new event.
            event_id=f"sweep-{request.scheduled_time}-{hashlib.sha256(alarm.name.encode()).hexdigest()[:16]}",
            at=alarm.since,
            account=ctx.account_id,
            region=ctx.region,
            reason=f"still in ALARM since {alarm.since.isoformat()} ({request.schedule}): {alarm.reason}"[:300],
        )
        reason = _waiting_reason(alarm, signal, ctx)
        if reason:
            waiting[alarm.name] = reason
        else:
            signals.append(signal)
    decisions = [d.model_copy(update={"swept": True}) for d in decide_each(list(signals), ctx)]
    counts = Counter(d.status for d in decisions)
    for status, count in counts.items():
        count_metric(f"Remediation{status}", count)
    suppressed_metrics(decisions)
    count_metric("RemediationSweepWaiting", len(waiting))
    logger.info("alarm sweep", extra={"counts": dict(counts), "waiting": len(waiting)})
    return SweepReport(in_alarm=[a.name for a in in_alarm], decisions=decisions, waiting=waiting, counts=dict(counts))


def alarms_in_alarm(prefix: str) -> list[AlarmInAlarm]:
    """The account's metric alarms named ``prefix*`` that are in ALARM (botocore's paginator)."""
    paginator = aws.client("cloudwatch").get_paginator("describe_alarms")
    found: list[AlarmInAlarm] = []
    for page in paginator.paginate(AlarmNamePrefix=prefix, StateValue="ALARM", AlarmTypes=["MetricAlarm"]):
        for alarm in page.get("MetricAlarms", []):
            if alarm.get("StateValue") != "ALARM":  # filtered by AWS already; checked, not assumed
                continue
            found.append(
                AlarmInAlarm(
                    name=alarm["AlarmName"],
                    since=alarm.get("StateTransitionedTimestamp") or alarm["StateUpdatedTimestamp"],
                    reason=str(alarm.get("StateReason", ""))[:200],
                )
            )
    return found


def handle_sweep(event: Any, lister: AlarmLister = alarms_in_alarm) -> SweepReport:
    try:
        request = SweepRequest.model_validate(event)
    except ValidationError as exc:
        raise InvalidRequest(f"invalid sweep input: {validation_problems(exc, 'input')}") from None
    ctx = default_context()
    return sweep(request, ctx, lister(f"sip-{settings().environment}-"))

"""The Remediation workflow's last task: what the remediation amounted to, escalation, release, record.

Runs on every path of the workflow (the Scale execution succeeded, was Blocked, failed, or the
action was notify-only). Escalation is a notification people must act on (SNS, with the message
attribute ``escalation=true``) and an EventBridge event ``Remediation Escalated``.

A CloudWatch alarm raises one state-change event per change: an alarm still in ALARM after the
action never fires again by itself. So once the claim is released, an alarm that is still in ALARM
is set back to OK with a reason that says the control plane did it (``RESET_REASON_PREFIX``): the
entry point ignores that OK (it is not a recovery), and the next evaluation raises the alarm again
if it still breaches, which is then admitted under the rule's usual cooldown and cap. Suppressed
alarms that stay in ALARM are the sweep's (``sweep``).

The task is retried by the state machine, so every step is idempotent: releasing a claim already
released counts as released, and the audit item's key is the same on every attempt.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from controlplane import aws
from controlplane.audit import publish_event
from controlplane.config import Settings, settings
from controlplane.console import execution_url
from controlplane.models.base import LenientModel, Model
from controlplane.models.errors import InvalidRequest, TransientAwsError, error_message, validation_problems
from controlplane.models.scale import StepError
from controlplane.observability import emit, logger
from controlplane.remediation.entry import count_metric
from controlplane.remediation.events import NAME_MAX, RESET_REASON_PREFIX
from controlplane.remediation.store import DynamoRemediationStore, RemediationStore, key_part
from controlplane.store import DynamoStateStore, StateStore

RemediationStatus = Literal["Remediated", "Notified", "Escalated"]


class ScaleResult(LenientModel):
    """What ``states:startExecution.sync:2`` put into the state (``ResultSelector`` of StartScale)."""

    status: str
    output: dict[str, Any] | None = None


# Step Functions execution names are at most 80 characters.
ExecutionName = Annotated[str, Field(min_length=1, max_length=80)]


class RemediationState(LenientModel):
    """The Remediation execution's state as the entry point started it, plus what StartScale added.

    Every string that becomes part of a DynamoDB key or an execution name is bounded here, so a bad
    input is refused before the claim is released, never half-way through.
    """

    rule: str = Field(min_length=1, max_length=NAME_MAX)
    source: Literal["cloudwatch", "alertmanager"]
    state: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    event_id: str = Field(min_length=1, max_length=256)
    signal_reason: str = Field(default="", max_length=1000)
    action: dict[str, Any]
    resource_key: str = Field(min_length=1, max_length=400)
    owner: ExecutionName
    scale_execution: ExecutionName | None = None
    escalate_on: list[str] = Field(default_factory=list, max_length=10)
    admitted_at: datetime | None = None
    scale: ScaleResult | None = None
    error: StepError | None = None


class FinishInput(Model):
    """The Finish task's parameters (``remediation.$: $``, ``execution.$: $$.Execution.Name``)."""

    remediation: RemediationState
    execution: ExecutionName
    # $$.Execution.Id: the console link in the notification (absent in events recorded before it was passed).
    execution_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:")


class RemediationOutcome(Model):
    workflow: Literal["remediation"] = "remediation"
    execution: str
    status: RemediationStatus
    reason: str
    rule: str
    source: str
    action: str
    resource_key: str
    scale_execution: str | None = None
    scale_status: str | None = None
    released: bool = False
    # What became of the CloudWatch alarm: "reset to OK", "not in ALARM", "reset failed: ...";
    # None when there is no alarm to reset (Alertmanager, or a rule acting on OK).
    alarm: str | None = None
    recorded_at: datetime


def _scale_failure(error: StepError) -> tuple[str, str]:
    """(status, reason) of a Scale execution that ended FAILED (the .sync task fails with its description)."""
    try:
        described = json.loads(error.Cause)
    except (TypeError, ValueError):
        return "Failed", error_message(error.Cause) or error.Error
    if isinstance(described, dict):
        cause = described.get("Cause") or described.get("cause") or ""
        name = described.get("Error") or described.get("error") or error.Error
        return "Failed", f"{name}: {error_message(str(cause))}".strip(": ")
    return "Failed", error.Error


def outcome_of(state: RemediationState, execution: str, now: datetime) -> RemediationOutcome:
    action = str(state.action.get("type", "notify"))
    common: dict[str, Any] = {
        "execution": execution,
        "rule": state.rule,
        "source": state.source,
        "action": action,
        "resource_key": state.resource_key,
        "scale_execution": state.scale_execution,
        "recorded_at": now,
    }
    if action == "notify":
        return RemediationOutcome(status="Notified", reason=f"{state.rule} is {state.state}: notify only", **common)
    if state.error is not None:
        scale_status, reason = _scale_failure(state.error)
    elif state.scale is not None:
        output = state.scale.output or {}
        scale_status = str(output.get("status") or state.scale.status)
        reason = str(output.get("reason", ""))
    else:
        scale_status, reason = "Failed", "the Scale workflow was not started"
    escalate = scale_status in state.escalate_on or scale_status == "Failed"
    return RemediationOutcome(
        status="Escalated" if escalate else "Remediated",
        reason=f"scale {scale_status}: {reason}"[:1000],
        scale_status=scale_status,
        **common,
    )


def applied_after(state: RemediationState) -> float | None:
    """Seconds from the alarm's admission to the change its Scale execution applied and verified (None when
    nothing was applied): the remediation latency people watch on the dashboard."""
    output = state.scale.output if state.scale else None
    if state.admitted_at is None or not output or output.get("status") != "Succeeded":
        return None
    try:
        applied = datetime.fromisoformat(str(output.get("recorded_at")).replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((applied - state.admitted_at).total_seconds(), 0.0)


def _notify(
    outcome: RemediationOutcome, state: RemediationState, cfg: Settings, execution_arn: str | None = None
) -> None:
    escalated = outcome.status == "Escalated"
    head = "ESCALATION" if escalated else "remediation"
    subject = f"[{cfg.environment}] {head}: {outcome.rule} {state.state}"[:100]
    lines = [
        f"Status: {outcome.status}",
        f"Alarm: {outcome.rule} ({outcome.source}) is {state.state}: {state.signal_reason}",
        f"Action: {outcome.action} on {outcome.resource_key}",
        f"Result: {outcome.reason}",
        f"Scale execution: {outcome.scale_execution or '-'}",
        f"Remediation execution: {outcome.execution}",
        *([f"Console: {execution_url(execution_arn)}"] if execution_arn else []),
    ]
    if escalated:
        lines.append("Automatic remediation did not resolve this; a person needs to act.")
    aws.client("sns").publish(
        TopicArn=cfg.notify_topic_arn,
        Subject=subject,
        Message="\n".join(lines),
        MessageAttributes={
            "status": {"DataType": "String", "StringValue": outcome.status},
            "escalation": {"DataType": "String", "StringValue": "true" if escalated else "false"},
        },
    )


# Sets a CloudWatch alarm back to OK if it is in ALARM: (alarm name, reason) -> what it did.
AlarmReset = Callable[[str, str], str]


def reset_alarm(name: str, reason: str) -> str:
    """Set ``name`` to OK with ``reason`` when it is still in ALARM; say what was done."""
    cloudwatch = aws.client("cloudwatch")
    found = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm"]).get("MetricAlarms", [])
    if not found:
        return "no such alarm"
    if found[0].get("StateValue") != "ALARM":
        return f"not in ALARM ({found[0].get('StateValue')})"
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason=reason[:1023])
    return "reset to OK"


def _reset(state: RemediationState, outcome: RemediationOutcome, reset: AlarmReset) -> str | None:
    if state.source != "cloudwatch" or state.state != "ALARM":
        return None
    reason = (
        f"{RESET_REASON_PREFIX} remediation {outcome.execution} ended {outcome.status}; "
        "the next evaluation raises the alarm again if it still breaches"
    )
    try:
        return reset(state.rule, reason)
    except Exception as exc:
        if aws.is_retryable(exc):
            raise TransientAwsError(f"reset alarm {state.rule}: CloudWatch answered {aws.error_code(exc)}") from None
        # The sweep of alarms still in ALARM picks it up: worth a log line, not a failed remediation.
        logger.warning("could not reset the alarm", extra={"alarm": state.rule, "error": str(exc)})
        return f"reset failed: {aws.error_code(exc) or type(exc).__name__}"


def finish_step(
    state: RemediationState,
    execution: str,
    store: RemediationStore,
    audit: StateStore,
    cfg: Settings,
    now: datetime,
    publish: bool = True,
    reset: AlarmReset = reset_alarm,
    execution_arn: str | None = None,
) -> RemediationOutcome:
    outcome = outcome_of(state, execution, now)
    store.release(state.resource_key, state.owner)
    # Released by this attempt or by an earlier one of the same task: either way the claim is no longer ours.
    released = store.holder(state.resource_key, now) != state.owner
    outcome = outcome.model_copy(update={"released": released})
    outcome = outcome.model_copy(update={"alarm": _reset(state, outcome, reset)})
    body = outcome.model_dump(mode="json", exclude_none=True)
    # Keyed by the admission time, not the attempt's: a retried task overwrites its own audit item.
    audit.put_audit(f"remediation#{key_part(state.rule)}", state.admitted_at or now, execution, body)
    count_metric(f"Remediation{outcome.status}", 1)
    latency = applied_after(state)
    if latency is not None:
        emit("RemediationLatency", latency, Kind=state.resource_key.split("#", 1)[0])
    if publish:
        publish_event(f"Remediation {outcome.status}", body, cfg)
        if outcome.status in ("Escalated", "Notified"):
            _notify(outcome, state, cfg, execution_arn)
    logger.info("remediation finished", extra={"status": outcome.status, "rule": state.rule})
    return outcome


def handle_finish(event: Any) -> RemediationOutcome:
    from controlplane import clock

    try:
        request = FinishInput.model_validate(event)
    except ValidationError as exc:
        raise InvalidRequest(f"invalid finish input: {validation_problems(exc, 'input')}") from None
    cfg = settings()
    return finish_step(
        request.remediation,
        request.execution,
        DynamoRemediationStore(cfg.state_table),
        DynamoStateStore(cfg.state_table),
        cfg,
        clock.now(),
        execution_arn=request.execution_arn,
    )

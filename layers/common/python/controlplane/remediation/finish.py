"""The Remediation workflow's last task: what the remediation amounted to, escalation, release, record.

Runs on every path of the workflow (the Scale execution succeeded, was Blocked, failed, or the
action was notify-only). Escalation is a notification people must act on (SNS, with the message
attribute ``escalation=true``) and an EventBridge event ``Remediation Escalated``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

from controlplane import aws
from controlplane.audit import publish_event
from controlplane.config import Settings, settings
from controlplane.models.base import LenientModel, Model
from controlplane.models.errors import InvalidRequest, error_message
from controlplane.models.scale import StepError
from controlplane.observability import logger
from controlplane.remediation.entry import count_metric
from controlplane.remediation.store import DynamoRemediationStore, RemediationStore
from controlplane.store import DynamoStateStore, StateStore

RemediationStatus = Literal["Remediated", "Notified", "Escalated"]


class ScaleResult(LenientModel):
    """What ``states:startExecution.sync:2`` put into the state (``ResultSelector`` of StartScale)."""

    status: str
    output: dict[str, Any] | None = None


class RemediationState(LenientModel):
    rule: str
    source: str
    state: str
    event_id: str
    signal_reason: str = ""
    action: dict[str, Any]
    resource_key: str
    owner: str
    scale_execution: str | None = None
    escalate_on: list[str] = Field(default_factory=list)
    scale: ScaleResult | None = None
    error: StepError | None = None


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


def _notify(outcome: RemediationOutcome, state: RemediationState, cfg: Settings) -> None:
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


def finish_step(
    state: RemediationState,
    execution: str,
    store: RemediationStore,
    audit: StateStore,
    cfg: Settings,
    now: datetime,
    publish: bool = True,
) -> RemediationOutcome:
    outcome = outcome_of(state, execution, now)
    released = store.release(state.resource_key, state.owner)
    outcome = outcome.model_copy(update={"released": released})
    body = outcome.model_dump(mode="json", exclude_none=True)
    audit.put_audit(f"remediation#{state.rule}", now, execution, body)
    count_metric(f"Remediation{outcome.status}", 1)
    if publish:
        publish_event(f"Remediation {outcome.status}", body, cfg)
        if outcome.status in ("Escalated", "Notified"):
            _notify(outcome, state, cfg)
    logger.info("remediation finished", extra={"status": outcome.status, "rule": state.rule})
    return outcome


def handle_finish(event: Any) -> RemediationOutcome:
    from controlplane import clock

    if not isinstance(event, dict):
        raise InvalidRequest("the finish task expects {'remediation': ..., 'execution': ...}")
    try:
        state = RemediationState.model_validate(event.get("remediation"))
    except ValidationError as exc:
        raise InvalidRequest(f"malformed remediation state: {exc.error_count()} problems") from None
    cfg = settings()
    return finish_step(
        state,
        str(event.get("execution", "")),
        DynamoRemediationStore(cfg.state_table),
        DynamoStateStore(cfg.state_table),
        cfg,
        clock.now(),
    )

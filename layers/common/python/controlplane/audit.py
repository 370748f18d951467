"""Recording outcomes: an audit item, an EMF metric, an EventBridge event, and SNS where people need it.

Every workflow records through ``record`` (its outcome model subclasses ``WorkflowOutcome``).
Events and notifications carry the outcome model only: no request payloads beyond what the
model holds, and never a secret.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from controlplane import aws
from controlplane.config import Settings
from controlplane.models.outcome import OutcomeStatus, WorkflowOutcome
from controlplane.observability import ACTION_OF_STATUS, emit, logger, metrics
from controlplane.store import StateStore

EVENT_SOURCE = "controlplane"


def record(outcome: WorkflowOutcome, store: StateStore, settings: Settings, notify_on: Iterable[OutcomeStatus]) -> None:
    """Write the outcome everywhere it belongs. Audit first: it is the record of truth.

    The audit item is keyed by the execution's start, so a retried recording writes the same item.
    """
    if outcome.execution_arn is None:
        outcome = _with_execution_arn(outcome, settings)
    body = outcome.model_dump(mode="json", exclude_none=True)
    store.put_audit(outcome.audit_key(), outcome.started_at or outcome.recorded_at, outcome.execution, body)

    metrics.add_dimension(name="Workflow", value=outcome.workflow)
    metrics.add_metric(name=f"Outcome{outcome.status.value}", unit=MetricUnit.Count, value=1)
    add_metrics(outcome)
    action_metrics(outcome)

    publish_event(f"{outcome.workflow.title()} Outcome", body, settings)
    if outcome.status in set(notify_on):
        notify(outcome, settings)
    logger.info("outcome recorded", extra={"status": outcome.status.value, "resource": outcome.audit_key()})


def _with_execution_arn(outcome: WorkflowOutcome, settings: Settings) -> WorkflowOutcome:
    """A workflow whose record step was not given ``$$.Execution.Id`` still links its execution."""
    from controlplane.console import STATE_MACHINE_NAME_PATTERN_VARIABLE, execution_arn_of

    pattern = os.environ.get(STATE_MACHINE_NAME_PATTERN_VARIABLE)
    arn = execution_arn_of(outcome.workflow, outcome.execution, settings.notify_topic_arn, pattern)
    return outcome.model_copy(update={"execution_arn": arn}) if arn else outcome


def add_metrics(outcome: WorkflowOutcome) -> None:
    """Metrics a workflow adds beyond the outcome count (the Scale workflow: the capacity change)."""
    current, desired = getattr(outcome, "current", None), getattr(outcome, "desired", None)
    if current is not None and desired is not None and outcome.status == OutcomeStatus.SUCCEEDED:
        metrics.add_metric(name="CapacityChange", unit=MetricUnit.Count, value=desired - current)


def kind_of(outcome: WorkflowOutcome) -> str:
    """The resource kind of an outcome: its ``kind`` field, else the first part of its audit key."""
    kind = getattr(outcome, "kind", None)
    return str(kind) if kind else outcome.audit_key().split("#", 1)[0]


def action_metrics(outcome: WorkflowOutcome) -> None:
    """Actions by workflow and kind (applied, blocked, failed, dry run, no change), how long the execution
    took to get here, and each guard that refused (``checks`` that did not pass)."""
    kind = kind_of(outcome)
    emit(ACTION_OF_STATUS[outcome.status.value], 1, Workflow=outcome.workflow, Kind=kind)
    if outcome.started_at is not None:
        seconds = max((outcome.recorded_at - outcome.started_at).total_seconds(), 0.0)
        emit("ActionDuration", seconds, Workflow=outcome.workflow, Kind=kind)
    if outcome.status == OutcomeStatus.BLOCKED:
        for check in getattr(outcome, "checks", None) or []:
            if not getattr(check, "passed", True):
                emit("GuardTrips", 1, Workflow=outcome.workflow, Guard=str(getattr(check, "name", "unknown")))


def publish_event(detail_type: str, detail: dict[str, Any], settings: Settings) -> None:
    response = aws.client("events").put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, default=str),
                "EventBusName": settings.event_bus_name,
            }
        ]
    )
    if response.get("FailedEntryCount"):
        logger.warning("outcome event was not accepted", extra={"entries": response.get("Entries")})


def notify(outcome: WorkflowOutcome, settings: Settings) -> None:
    """One short message: status, reason, resource, change, requester, execution and its console link."""
    subject = f"[{settings.environment}] {outcome.workflow} {outcome.status.value}: {outcome.target()}"[:100]
    aws.client("sns").publish(
        TopicArn=settings.notify_topic_arn,
        Subject=subject,
        Message="\n".join(outcome.notification_lines()),
        MessageAttributes={
            "status": {"DataType": "String", "StringValue": outcome.status.value},
            "workflow": {"DataType": "String", "StringValue": outcome.workflow},
        },
    )

"""Recording outcomes: an audit item, an EMF metric, an EventBridge event, and SNS where people need it.

Events and notifications carry the outcome model only: no request payloads
beyond what the model holds, and never a secret.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from controlplane import aws
from controlplane.config import Policy, Settings
from controlplane.models.scale import Outcome
from controlplane.observability import logger, metrics
from controlplane.store import StateStore

EVENT_SOURCE = "controlplane"


def record(outcome: Outcome, store: StateStore, settings: Settings, policy: Policy) -> None:
    """Write the outcome everywhere it belongs. Audit first: it is the record of truth."""
    body = outcome.model_dump(mode="json", exclude_none=True)
    resource_key = f"{outcome.kind}#{outcome.resource_id}" if outcome.kind else "unknown"
    store.put_audit(resource_key, outcome.recorded_at, outcome.execution, body)

    metrics.add_dimension(name="Workflow", value=outcome.workflow)
    metrics.add_metric(name=f"Outcome{outcome.status.value}", unit=MetricUnit.Count, value=1)
    if outcome.current is not None and outcome.desired is not None and outcome.status == "Succeeded":
        metrics.add_metric(name="CapacityChange", unit=MetricUnit.Count, value=outcome.desired - outcome.current)

    publish_event(f"{outcome.workflow.title()} Outcome", body, settings)
    if outcome.status in policy.notify_on:
        notify(outcome, settings)
    logger.info("outcome recorded", extra={"status": outcome.status.value, "resource": resource_key})


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


def notify(outcome: Outcome, settings: Settings) -> None:
    target = f"{outcome.kind} {outcome.resource_id}" if outcome.kind else "request"
    subject = f"[{settings.environment}] {outcome.workflow} {outcome.status.value}: {target}"[:100]
    lines = [
        f"Status: {outcome.status.value}",
        f"Reason: {outcome.reason}",
        f"Resource: {target}",
        f"Capacity: {outcome.current} -> {outcome.desired} (observed {outcome.observed})",
        f"Requester: {outcome.requester.type.value + ':' + outcome.requester.id if outcome.requester else 'unknown'}",
        f"Execution: {outcome.execution}",
    ]
    aws.client("sns").publish(
        TopicArn=settings.notify_topic_arn,
        Subject=subject,
        Message="\n".join(lines),
        MessageAttributes={"status": {"DataType": "String", "StringValue": outcome.status.value}},
    )

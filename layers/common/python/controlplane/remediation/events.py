"""What reaches the remediation entry point, as models: CloudWatch alarm state changes (EventBridge)
and Alertmanager notifications (webhook-shaped JSON published to SNS, delivered to Lambda).

Both become ``Signal``s: one alarm or alert, its state, and an id that is the same for every
redelivery of the same notification (EventBridge event id; Alertmanager fingerprint + startsAt + status).
Anything else is classified, not guessed: ``Foreign`` (someone else's event) or ``Malformed``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from controlplane.models.base import LenientModel, Model
from controlplane.models.errors import validation_problems

ALARM_SOURCE = "aws.cloudwatch"
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
# The SNS message attribute Alertmanager's sns_configs sets (infra/monitoring/alertmanager/alertmanager.yml).
ALERTMANAGER_ATTRIBUTE = ("source", "alertmanager")

_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def _iso(value: Any) -> Any:
    """CloudWatch writes ``2019-10-02T17:04:40.985+0000``; ISO 8601 (and pydantic) want ``+00:00``."""
    if isinstance(value, str):
        return _COMPACT_OFFSET.sub(r"\1:\2", value.strip())
    return value


class AlarmState(LenientModel):
    value: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    reason: str = ""
    timestamp: datetime

    _timestamp = field_validator("timestamp", mode="before")(lambda cls, v: _iso(v))


class AlarmDetail(LenientModel):
    alarmName: str = Field(min_length=1, max_length=255)
    state: AlarmState
    previousState: AlarmState | None = None


class AlarmStateChangeEvent(LenientModel):
    """EventBridge's ``CloudWatch Alarm State Change`` event (source ``aws.cloudwatch``)."""

    id: str = Field(min_length=1, max_length=128)
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    source: Literal["aws.cloudwatch"]
    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(min_length=1)
    time: datetime
    resources: list[str] = Field(default_factory=list)
    detail: AlarmDetail

    _time = field_validator("time", mode="before")(lambda cls, v: _iso(v))


class Alert(LenientModel):
    """One alert of an Alertmanager notification (the webhook payload's ``alerts[]``)."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    fingerprint: str = Field(default="", max_length=64)

    @field_validator("labels")
    @classmethod
    def _has_alertname(cls, value: dict[str, str]) -> dict[str, str]:
        if not value.get("alertname"):
            raise ValueError("an alert needs the label 'alertname'")
        return value


class AlertmanagerMessage(LenientModel):
    """Alertmanager's notification data (version 4), as the SNS message template renders it."""

    version: str = "4"
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    alerts: list[Alert] = Field(min_length=1, max_length=200)


class Signal(Model):
    """One alarm/alert state the policy can act on."""

    source: Literal["cloudwatch", "alertmanager"]
    name: str
    state: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    event_id: str
    at: datetime
    account: str
    region: str | None = None
    reason: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class Unusable(Model):
    """An event the entry point will not act on, and why (recorded, never raised)."""

    status: Literal["Ignored", "Rejected"]
    reason: str
    event_id: str = "unknown"
    source: str = "unknown"


def _validation_summary(exc: ValidationError) -> str:
    return validation_problems(exc, "event")[:500]


def signals_from_eventbridge(event: dict[str, Any]) -> list[Signal | Unusable]:
    source, detail_type = event.get("source"), event.get("detail-type")
    event_id = str(event.get("id", "unknown"))[:128]
    if source != ALARM_SOURCE or detail_type != ALARM_DETAIL_TYPE:
        return [
            Unusable(
                status="Ignored", reason=f"foreign event {source}/{detail_type}", event_id=event_id, source=str(source)
            )
        ]
    try:
        parsed = AlarmStateChangeEvent.model_validate(event)
    except ValidationError as exc:
        return [
            Unusable(
                status="Rejected",
                reason=f"malformed alarm event: {_validation_summary(exc)}",
                event_id=event_id,
                source=ALARM_SOURCE,
            )
        ]
    return [
        Signal(
            source="cloudwatch",
            name=parsed.detail.alarmName,
            state=parsed.detail.state.value,
            event_id=parsed.id,
            at=parsed.detail.state.timestamp,
            account=parsed.account,
            region=parsed.region,
            reason=parsed.detail.state.reason[:300],
        )
    ]


def _topic_account(topic_arn: str) -> str:
    parts = topic_arn.split(":")
    return parts[4] if len(parts) > 5 and parts[2] == "sns" else ""


def signals_from_sns_record(record: dict[str, Any]) -> list[Signal | Unusable]:
    sns = record.get("Sns") if isinstance(record, dict) else None
    if not isinstance(sns, dict):
        return [Unusable(status="Rejected", reason="an SNS record without 'Sns'", source="aws:sns")]
    message_id = str(sns.get("MessageId", "unknown"))[:128]
    attributes = sns.get("MessageAttributes") or {}
    marker = attributes.get(ALERTMANAGER_ATTRIBUTE[0], {}) if isinstance(attributes, dict) else {}
    if not isinstance(marker, dict) or marker.get("Value") != ALERTMANAGER_ATTRIBUTE[1]:
        return [
            Unusable(
                status="Ignored",
                reason="SNS message not from Alertmanager (no source=alertmanager)",
                event_id=message_id,
                source="aws:sns",
            )
        ]
    try:
        body = json.loads(str(sns.get("Message", "")))
        message = AlertmanagerMessage.model_validate(body)
    except ValueError as exc:
        summary = _validation_summary(exc) if isinstance(exc, ValidationError) else "message is not JSON"
        return [
            Unusable(
                status="Rejected",
                reason=f"malformed Alertmanager notification: {summary}",
                event_id=message_id,
                source="alertmanager",
            )
        ]
    account = _topic_account(str(sns.get("TopicArn", "")))
    region = str(sns.get("TopicArn", "")).split(":")[3] if account else None
    signals: list[Signal | Unusable] = []
    for alert in message.alerts:
        name = alert.labels["alertname"]
        # Same alert, same firing episode, same status: same id, so a re-sent group notification dedupes.
        identity = alert.fingerprint or json.dumps(alert.labels, sort_keys=True)
        signals.append(
            Signal(
                source="alertmanager",
                name=name,
                state="ALARM" if alert.status == "firing" else "OK",
                event_id=f"am-{identity}-{alert.startsAt.isoformat()}-{alert.status}"[:200],
                at=alert.startsAt,
                account=account,
                region=region,
                reason=(alert.annotations.get("summary") or alert.annotations.get("description") or "")[:300],
                labels=dict(alert.labels),
            )
        )
    return signals


def signals_of(event: Any) -> list[Signal | Unusable]:
    """Every signal in a Lambda event: one EventBridge event, or an SNS batch of records."""
    if not isinstance(event, dict):
        return [Unusable(status="Rejected", reason="the event is not a JSON object")]
    records = event.get("Records")
    if isinstance(records, list):
        found: list[Signal | Unusable] = []
        for record in records:
            if isinstance(record, dict) and record.get("EventSource") == "aws:sns":
                found.extend(signals_from_sns_record(record))
            else:
                found.append(Unusable(status="Ignored", reason="a record that is not from SNS"))
        return found or [Unusable(status="Rejected", reason="an empty batch of records")]
    return signals_from_eventbridge(event)

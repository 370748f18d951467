"""What reaches the remediation entry point, as models: CloudWatch alarm state changes (EventBridge)
and Alertmanager notifications (webhook-shaped JSON published to SNS, delivered to Lambda).

Both become ``Signal``s: one alarm or alert, its state, and an id that is the same for every
redelivery of the same notification (EventBridge event id; Alertmanager fingerprint + startsAt + status).
Anything else is classified, not guessed: ``Foreign`` (someone else's event) or ``Malformed``.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from controlplane.models.base import LenientModel, Model
from controlplane.models.errors import validation_problems

ALARM_SOURCE = "aws.cloudwatch"
# CloudWatch alarm names are at most 255 characters; an alert name is held to the same bound.
NAME_MAX = 255
# The reason the control plane gives when it sets one of its alarms back to OK after a remediation
# (``finish``): the OK that follows is not a recovery, and the entry point ignores it as such.
RESET_REASON_PREFIX = "controlplane reset:"
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
# The SNS message attribute Alertmanager's sns_configs sets (infra/monitoring/alertmanager/alertmanager.yml).
ALERTMANAGER_ATTRIBUTE = ("source", "alertmanager")

_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_ACCOUNT = re.compile(r"^\d{12}$")


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
    alarmName: str = Field(min_length=1, max_length=NAME_MAX)
    state: AlarmState
    previousState: AlarmState | None = None


class AlarmStateChangeEvent(LenientModel):
    """EventBridge's ``CloudWatch Alarm State Change`` event (source ``aws.cloudwatch``)."""

    id: str = Field(min_length=1, max_length=128)
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    source: Literal["aws.cloudwatch"]
    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
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
        name = value.get("alertname")
        if not name:
            raise ValueError("an alert needs the label 'alertname'")
        if len(name) > NAME_MAX:
            raise ValueError(f"alertname is {len(name)} characters long, more than {NAME_MAX}")
        return value


class AlertmanagerMessage(LenientModel):
    """Alertmanager's notification data (version 4), as the SNS message template renders it.

    Alerts stay raw here: each is validated on its own, so one bad alert does not cost the others.
    """

    version: str = "4"
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    alerts: list[Any] = Field(min_length=1, max_length=1000)


class Signal(Model):
    """One alarm/alert state the policy can act on."""

    source: Literal["cloudwatch", "alertmanager"]
    name: str = Field(min_length=1, max_length=NAME_MAX)
    state: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    event_id: str = Field(min_length=1, max_length=256)
    at: datetime
    account: str = Field(pattern=r"^(\d{12})?$")
    # The region the event says it comes from; empty when it names none (then it is not ours).
    region: str = Field(default="", max_length=32)
    reason: str = Field(default="", max_length=300)
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def is_controlplane_reset(self) -> bool:
        """An OK the control plane itself set after a remediation (``finish``), not a recovery."""
        return self.source == "cloudwatch" and self.state == "OK" and self.reason.startswith(RESET_REASON_PREFIX)


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


def _topic_arn_parts(topic_arn: str) -> tuple[str, str]:
    """(region, account) of an SNS topic ARN; empty strings where the ARN has none."""
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns":
        return "", ""
    region = parts[3] if _REGION.match(parts[3]) else ""
    account = parts[4] if _ACCOUNT.match(parts[4]) else ""
    return region, account


def _alert_signal(raw: Any, index: int, account: str, region: str, message_id: str) -> Signal | Unusable:
    try:
        alert = Alert.model_validate(raw)
    except ValidationError as exc:
        return Unusable(
            status="Rejected",
            reason=f"malformed alert {index} of the notification: {validation_problems(exc, 'alert')}"[:500],
            event_id=f"{message_id}#{index}",
            source="alertmanager",
        )
    # Same alert, same firing episode, same status: same id, so a re-sent group notification dedupes.
    identity = alert.fingerprint or hashlib.sha256(json.dumps(alert.labels, sort_keys=True).encode()).hexdigest()[:16]
    return Signal(
        source="alertmanager",
        name=alert.labels["alertname"],
        state="ALARM" if alert.status == "firing" else "OK",
        event_id=f"am-{identity}-{alert.startsAt.isoformat()}-{alert.status}",
        at=alert.startsAt,
        account=account,
        region=region,
        reason=(alert.annotations.get("summary") or alert.annotations.get("description") or "")[:300],
        labels=dict(alert.labels),
    )


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
    truncated = attributes.get("truncated", {}) if isinstance(attributes, dict) else {}
    try:
        body = json.loads(str(sns.get("Message", "")))
        message = AlertmanagerMessage.model_validate(body)
    except ValueError as exc:
        summary = _validation_summary(exc) if isinstance(exc, ValidationError) else "message is not JSON"
        if isinstance(truncated, dict) and truncated.get("Value") == "true":
            summary = f"Alertmanager truncated it to SNS's size limit ({summary})"
        return [
            Unusable(
                status="Rejected",
                reason=f"malformed Alertmanager notification: {summary}",
                event_id=message_id,
                source="alertmanager",
            )
        ]
    region, account = _topic_arn_parts(str(sns.get("TopicArn", "")))
    return [_alert_signal(raw, index, account, region, message_id) for index, raw in enumerate(message.alerts)]


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

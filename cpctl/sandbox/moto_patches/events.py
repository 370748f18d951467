"""Event delivery as AWS does it, where moto stops short.

- EventBridge: moto's ``Rule.send_to_targets`` delivers to logs, SQS and buses only. Here a matching
  rule also delivers to Lambda targets (asynchronously, as EventBridge invokes Lambda: the bridged
  handler runs on a delivery thread) and to Step Functions targets (StartExecution with the event as input).
  ``deliver(event)`` injects an AWS-service event (``source: aws.*``, which PutEvents refuses from
  callers) into the default bus, with the id the caller chose, so redeliveries keep their id.
- CloudWatch: ``SetAlarmState`` that changes an alarm's state emits the documented
  ``CloudWatch Alarm State Change`` event to the default bus.
- SNS: a ``lambda`` subscription gets the real SNS event shape (MessageId, TopicArn, Subject,
  MessageAttributes) after the subscription's filter policy, instead of moto's fixed test record.

``drain()`` waits until every delivery made so far has run; ``deliveries`` keeps their results.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend
from moto.events.models import Rule, events_backends
from moto.sns.models import Subscription

from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY, invoke_function

_APPLIED: dict[str, Any] = {}
_LOCK = threading.Lock()
_futures: list[Future[Any]] = []
_executor: list[ThreadPoolExecutor] = []
deliveries: list[dict[str, Any]] = []
ACCOUNT = "123456789012"


def _pool() -> ThreadPoolExecutor:
    with _LOCK:
        if not _executor:
            _executor.append(ThreadPoolExecutor(max_workers=16, thread_name_prefix="sandbox-delivery"))
        return _executor[0]


def _invoke(target_arn: str, event: Any, via: str) -> None:
    try:
        function = REGISTRY.resolve(target_arn)
    except KeyError:
        deliveries.append({"via": via, "target": target_arn, "ok": False, "error": "no such function"})
        return
    ok, payload = invoke_function(function, event)
    deliveries.append({"via": via, "target": function.logical_id, "ok": ok, "result": payload})


def _start_execution(target_arn: str, event: Any, region: str) -> None:
    from moto.stepfunctions.responses import get_backend

    backend = get_backend(ACCOUNT, region)
    backend.start_execution(target_arn, name=f"event-{uuid.uuid4().hex[:12]}", execution_input=json.dumps(event))
    deliveries.append({"via": "events", "target": target_arn, "ok": True})


def submit(function: Any, *args: Any) -> Future[Any]:
    future = _pool().submit(function, *args)
    with _LOCK:
        _futures.append(future)
    return future


def _deliver_to(rule: Rule, event: dict[str, Any]) -> int:
    """Send one event to the Lambda and Step Functions targets of ``rule`` (pattern already matched)."""
    count = 0
    for target in rule.targets:
        arn = str(target.get("Arn", ""))
        payload = json.loads(target["Input"]) if "Input" in target else event
        if ":lambda:" in arn and ":function:" in arn:
            submit(_invoke, arn, payload, "events")
            count += 1
        elif ":states:" in arn and ":stateMachine:" in arn:
            submit(_start_execution, arn, payload, rule.region_name)
            count += 1
    return count


def _send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
    _APPLIED["send_to_targets"](self, original_event, transform_input)
    if self.state == "ENABLED" and self.event_pattern.matches_event(original_event):
        _deliver_to(self, original_event)


def deliver(event: dict[str, Any], region: str = "us-east-1", bus: str = "default") -> int:
    """Put an AWS-service event on ``bus`` as the service would; returns how many targets it reached."""
    backend = events_backends[ACCOUNT][region]
    event_bus = backend.event_buses.get(bus)
    if event_bus is None:
        return 0
    reached = 0
    for rule in list(event_bus.rules.values()):
        if rule.state == "ENABLED" and rule.event_pattern.matches_event(event):  # type: ignore[arg-type]
            reached += _deliver_to(rule, event)
    return reached


def alarm_state_change_event(
    alarm: Any, previous: dict[str, Any], region: str, event_id: str | None = None
) -> dict[str, Any]:
    """The EventBridge event CloudWatch sends when ``alarm`` changed state (single-metric or query alarm)."""
    now = datetime.now(UTC)

    def stamp(moment: Any) -> str:
        value = moment if isinstance(moment, datetime) else now
        value = value if value.tzinfo else value.replace(tzinfo=UTC)  # moto keeps naive UTC
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"

    metrics: list[dict[str, Any]] = []
    if getattr(alarm, "metric_name", None):
        metrics.append(
            {
                "id": "m1",
                "metricStat": {
                    "metric": {
                        "namespace": alarm.namespace,
                        "name": alarm.metric_name,
                        "dimensions": {d.name: d.value for d in alarm.dimensions or []},
                    },
                    "period": alarm.period,
                    "stat": alarm.statistic,
                },
                "returnData": True,
            }
        )
    for query in getattr(alarm, "metric_data_queries", None) or []:
        metrics.append(
            {"id": getattr(query, "id", "q1"), "expression": getattr(query, "expression", ""), "returnData": True}
        )
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": ACCOUNT,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [alarm.alarm_arn],
        "detail": {
            "alarmName": alarm.name,
            "state": {
                "value": alarm.state_value,
                "reason": alarm.state_reason or "",
                "reasonData": alarm.state_reason_data or "",
                "timestamp": stamp(getattr(alarm, "state_updated_timestamp", None)),
            },
            "previousState": {
                "value": previous["value"],
                "reason": previous["reason"] or "",
                "timestamp": stamp(previous["timestamp"]),
            },
            "configuration": {"description": alarm.description or "", "metrics": metrics},
        },
    }


def _set_alarm_state(self: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
    alarm = self.alarms.get(alarm_name)
    previous = (
        {"value": alarm.state_value, "reason": alarm.state_reason, "timestamp": alarm.state_updated_timestamp}
        if alarm
        else None
    )
    _APPLIED["set_alarm_state"](self, alarm_name, reason, reason_data, state_value)
    if alarm is not None and previous is not None and previous["value"] != state_value:
        deliver(alarm_state_change_event(alarm, previous, self.region_name), self.region_name)


def _sns_event(
    subscription: Subscription, message: str, message_id: str, subject: str | None, attributes: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription.arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": subscription.topic.arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "SignatureVersion": "1",
                    "MessageAttributes": {
                        key: {"Type": value.get("Type", "String"), "Value": value.get("Value")}
                        for key, value in (attributes or {}).items()
                    },
                },
            }
        ]
    }


def _subscription_publish(
    self: Subscription,
    message: str,
    message_id: str,
    subject: str | None = None,
    message_attributes: dict[str, Any] | None = None,
    *args: Any,
    **kwargs: Any,
) -> None:
    if self.protocol != "lambda":
        return _APPLIED["publish"](self, message, message_id, subject, message_attributes, *args, **kwargs)  # type: ignore[no-any-return]
    matcher = self._filter_policy_matcher
    if matcher is not None and not matcher.matches(message_attributes, message):
        return None
    submit(_invoke, self.endpoint, _sns_event(self, message, message_id, subject, message_attributes), "sns")
    return None


def drain(timeout: float = 120.0) -> None:
    """Wait until every delivery so far (and those they caused) has run."""
    while True:
        with _LOCK:
            pending = [f for f in _futures if not f.done()]
            if not pending:
                _futures.clear()
                return
        _done, not_done = wait(pending, timeout=timeout)
        if not_done:
            raise TimeoutError(f"{len(not_done)} event deliveries still running after {timeout}s")


def reset() -> None:
    drain()
    deliveries.clear()


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["send_to_targets"] = Rule.send_to_targets
    _APPLIED["set_alarm_state"] = CloudWatchBackend.set_alarm_state
    _APPLIED["publish"] = Subscription.publish
    Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]
    CloudWatchBackend.set_alarm_state = _set_alarm_state  # type: ignore[method-assign]
    Subscription.publish = _subscription_publish  # type: ignore[method-assign]


def targets() -> list[str]:
    return [
        "moto.events.models.Rule.send_to_targets",
        "moto.events.models.EventPattern.matches_event",
        "moto.events.models.events_backends",
        "moto.cloudwatch.models.CloudWatchBackend.set_alarm_state",
        "moto.sns.models.Subscription.publish",
        "moto.stepfunctions.responses.get_backend",
    ]

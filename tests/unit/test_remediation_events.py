"""Event models: CloudWatch alarm state changes and Alertmanager notifications become signals;
foreign and malformed events are classified, never guessed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from controlplane.remediation.events import Signal, Unusable, signals_of

from tests.conftest import load_event


def only(event: object) -> Signal | Unusable:
    [item] = signals_of(event)
    return item


def test_alarm_state_change_becomes_a_signal() -> None:
    signal = only(load_event("alarm/eks-cpu-high-alarm.json"))
    assert isinstance(signal, Signal)
    assert (signal.source, signal.name, signal.state, signal.account) == (
        "cloudwatch",
        "sip-dev-eks-cpu-high",
        "ALARM",
        "123456789012",
    )
    # CloudWatch's "+0000" offset is understood.
    assert signal.at == datetime(2026, 11, 26, 9, 15, 0, 123000, tzinfo=UTC)
    assert signal.event_id == "0e5c6f0a-1b2c-4d3e-8f90-111111111111"


def test_foreign_source_is_ignored() -> None:
    item = only(load_event("alarm/foreign-source.json"))
    assert isinstance(item, Unusable) and item.status == "Ignored" and "aws.ec2" in item.reason


def test_malformed_alarm_event_is_rejected_with_the_field() -> None:
    item = only(load_event("alarm/malformed.json"))
    assert isinstance(item, Unusable) and item.status == "Rejected" and "detail.state" in item.reason


def test_not_an_object_is_rejected() -> None:
    assert only(["nope"]).status == "Rejected"  # type: ignore[union-attr]


def test_alertmanager_notification_through_sns() -> None:
    signal = only(load_event("alarm/alertmanager-high-error-rate.json"))
    assert isinstance(signal, Signal)
    assert (signal.source, signal.name, signal.state) == ("alertmanager", "HighErrorRate", "ALARM")
    assert signal.account == "123456789012" and signal.region == "us-east-1"
    assert signal.labels["severity"] == "critical"
    assert "a1b2c3d4e5f60718" in signal.event_id


def test_resolved_alert_is_an_ok_signal_with_another_id() -> None:
    event = load_event("alarm/alertmanager-high-error-rate.json")
    firing = only(event)
    body = json.loads(event["Records"][0]["Sns"]["Message"])
    body["status"] = body["alerts"][0]["status"] = "resolved"
    event["Records"][0]["Sns"]["Message"] = json.dumps(body)
    resolved = only(event)
    assert isinstance(resolved, Signal) and isinstance(firing, Signal)
    assert resolved.state == "OK" and resolved.event_id != firing.event_id


def test_sns_message_not_from_alertmanager_is_ignored() -> None:
    item = only(load_event("alarm/sns-not-alertmanager.json"))
    assert isinstance(item, Unusable) and item.status == "Ignored"


def test_alertmanager_message_that_is_not_json_is_rejected() -> None:
    event = load_event("alarm/alertmanager-high-error-rate.json")
    event["Records"][0]["Sns"]["Message"] = "HighErrorRate firing"
    item = only(event)
    assert isinstance(item, Unusable) and item.status == "Rejected" and "not JSON" in item.reason


def test_alert_without_alertname_is_rejected() -> None:
    event = load_event("alarm/alertmanager-high-error-rate.json")
    body = json.loads(event["Records"][0]["Sns"]["Message"])
    del body["alerts"][0]["labels"]["alertname"]
    event["Records"][0]["Sns"]["Message"] = json.dumps(body)
    item = only(event)
    assert isinstance(item, Unusable) and "alertname" in item.reason


def _with_alerts(alerts: list[dict[str, object]]) -> dict[str, object]:
    event = load_event("alarm/alertmanager-high-error-rate.json")
    body = json.loads(event["Records"][0]["Sns"]["Message"])
    body["alerts"] = alerts
    event["Records"][0]["Sns"]["Message"] = json.dumps(body)
    return dict(event)


def test_each_alert_is_validated_on_its_own() -> None:
    good = {"status": "firing", "labels": {"alertname": "HighErrorRate"}, "startsAt": "2026-11-26T09:10:00Z"}
    items = signals_of(_with_alerts([{"status": "pending"}, good, {**good, "labels": {"alertname": "B" * 256}}]))
    assert [type(item).__name__ for item in items] == ["Unusable", "Signal", "Unusable"]
    first, _, last = items
    assert isinstance(first, Unusable) and "alert 0" in first.reason and first.event_id.endswith("#0")
    assert isinstance(last, Unusable) and "256 characters long, more than 255" in last.reason


def test_an_alarm_name_over_255_characters_is_rejected() -> None:
    event = load_event("alarm/eks-cpu-high-alarm.json")
    event["detail"]["alarmName"] = "sip-dev-" + "x" * 300
    item = only(event)
    assert isinstance(item, Unusable) and item.status == "Rejected" and "alarmName" in item.reason


def test_a_notification_alertmanager_truncated_says_so() -> None:
    event = load_event("alarm/alertmanager-high-error-rate.json")
    sns = event["Records"][0]["Sns"]
    sns["Message"] = sns["Message"][:100]
    sns["MessageAttributes"]["truncated"] = {"Type": "String", "Value": "true"}
    item = only(event)
    assert isinstance(item, Unusable) and item.status == "Rejected" and "truncated" in item.reason


def test_a_topic_arn_without_a_region_gives_no_region() -> None:
    event = load_event("alarm/alertmanager-high-error-rate.json")
    event["Records"][0]["Sns"]["TopicArn"] = "arn:aws:sns::123456789012:sip-controlplane-notify-dev"
    signal = only(event)
    assert isinstance(signal, Signal) and signal.region == "" and signal.account == "123456789012"

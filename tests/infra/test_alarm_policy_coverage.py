"""Every alarm the template defines for remediation has a policy entry, and every policy entry an
alarm (for each environment); the same for Prometheus alerts; the event rule and schedules are wired."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from controlplane.remediation.policy import ALARM_NAME, load_remediation_policy

from cpctl.sandbox.template import Resolver, load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(REPO / "template.yaml")
ENVIRONMENTS = ["dev", "staging", "prod"]


def resolver(environment: str) -> Resolver:
    return Resolver(
        TEMPLATE,
        {
            "Environment": environment,
            "ClusterName": f"sip-{environment}",
            "RdsPrimaryIdentifier": f"sip-{environment}-postgres",
            "CacheReplicationGroupId": f"sip-{environment}-redis",
        },
        ssm_lookup=lambda name: f"resolved:{name}",
    )


def remediation_alarms(environment: str) -> dict[str, dict[str, Any]]:
    r = resolver(environment)
    found = {}
    for logical_id, spec in TEMPLATE["Resources"].items():
        if spec["Type"] != "AWS::CloudWatch::Alarm":
            continue
        name = r.resolve(spec["Properties"]["AlarmName"])
        if name.startswith(f"sip-{environment}-"):
            found[name] = {"logical_id": logical_id, **spec["Properties"]}
    return found


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_alarm_has_a_policy_entry_and_the_reverse(environment: str) -> None:
    alarms = set(remediation_alarms(environment))
    policy = set(load_remediation_policy(environment).alarms)
    assert alarms - policy == set(), "alarms without a remediation rule"
    assert policy - alarms == set(), "remediation rules without an alarm"
    assert all(re.match(ALARM_NAME, name) for name in alarms)


def test_alarms_cover_the_platform_thresholds() -> None:
    alarms = remediation_alarms("dev")
    thresholds = {name.removeprefix("sip-dev-"): props["Threshold"] for name, props in alarms.items()}
    assert thresholds["eks-cpu-high"] == 70 and thresholds["rds-primary-cpu-high"] == 70
    assert thresholds["redis-cpu-high"] == 70
    assert thresholds["eks-memory-high"] == 80 and thresholds["redis-memory-high"] == 80
    assert thresholds["rds-primary-connections-high"] == 1000 and thresholds["redis-connections-high"] == 1000
    metrics = {props.get("MetricName") for props in alarms.values()} | {
        query["MetricStat"]["Metric"]["MetricName"]
        for props in alarms.values()
        for query in props.get("Metrics", [])
        if "MetricStat" in query
    }
    assert {
        "node_cpu_utilization",
        "node_memory_utilization",
        "CPUUtilization",
        "FreeableMemory",
        "FreeStorageSpace",
        "DatabaseConnections",
    } <= metrics
    # Memory and storage are percentages (80% used, 75% used) of what the instance has.
    assert thresholds["rds-primary-memory-high"] == 80 and thresholds["rds-primary-storage-high"] == 75
    expressions = " ".join(str(props.get("Metrics")) for props in alarms.values())
    for metric in ("EngineCPUUtilization", "DatabaseMemoryUsagePercentage", "CurrConnections"):
        assert metric in expressions
    # Scale-in alarms never act on missing data and look at long windows.
    for name, props in alarms.items():
        if name.endswith("-low"):
            assert props["TreatMissingData"] == "notBreaching"
            period = props.get("Period") or props["Metrics"][0]["Period"]
            assert period * props["EvaluationPeriods"] >= 1800


def test_the_rule_sends_this_environments_alarm_state_changes_to_the_entry_point() -> None:
    rule = resolver("dev").resolve(
        {k: v for k, v in TEMPLATE["Resources"]["AlarmStateChangeRule"]["Properties"].items() if k != "Targets"}
    )
    assert rule["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [{"prefix": "sip-dev-"}]},
    }
    target = TEMPLATE["Resources"]["AlarmStateChangeRule"]["Properties"]["Targets"][0]
    assert target["Arn"] == {"Fn::GetAtt": ["HandleAlarmFunction", "Arn"]}


def test_alertmanager_subscription_filters_on_the_alertmanager_attribute() -> None:
    props = TEMPLATE["Resources"]["AlertmanagerSubscription"]["Properties"]
    assert props["Protocol"] == "lambda" and props["FilterPolicy"] == {"source": ["alertmanager"]}
    config = yaml.safe_load((REPO / "infra/monitoring/alertmanager/alertmanager.yml").read_text())
    [receiver] = config["receivers"]
    [sns] = receiver["sns_configs"]
    assert sns["attributes"]["source"] == "alertmanager"
    assert config["route"]["receiver"] == receiver["name"]


def test_prometheus_rules_and_policy_alerts_match() -> None:
    rules = yaml.safe_load((REPO / "infra/monitoring/prometheus/rules/service_alerts.rules").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    high = alerts["HighErrorRate"]
    assert high["expr"] == 'rate(http_requests_total{status=~"5.."}[5m]) > 0.1'
    assert high["for"] == "5m" and high["labels"]["severity"] == "critical"
    for environment in ENVIRONMENTS:
        assert set(load_remediation_policy(environment).alerts) == set(alerts)


@pytest.mark.parametrize("logical_id", ["ParkSpotSchedule", "RestoreSpotSchedule"])
def test_schedules_have_a_time_zone_and_target_the_spot_group(logical_id: str) -> None:
    r = resolver("dev")
    r.attributes.update(
        {
            "ScheduledScalingFunction": {"Arn": "function-arn"},
            "SchedulerRole": {"Arn": "role-arn"},
            "RemediationDeadLetterQueue": {"Arn": "queue-arn"},
        }
    )
    props = r.resolve(TEMPLATE["Resources"][logical_id]["Properties"])
    assert props["Target"]["Arn"] == "function-arn" and props["Target"]["RoleArn"] == "role-arn"
    assert props["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["ScheduleExpression"].startswith("cron(") and "MON-FRI" in props["ScheduleExpression"]
    payload = json.loads(props["Target"]["Input"])
    assert payload["resource"] == {"kind": "nodegroup", "cluster": "sip-dev", "nodegroup": "spot"}
    assert payload["scheduled_time"] == "<aws.scheduler.scheduled-time>"

"""The remediation part of template.yaml: nothing the asynchronous entry points receive is dropped
silently, the Remediation workflow's failures alarm, and every grant is exactly what the code calls.

The sandbox runs no asynchronous retries and no on-failure destinations (moto delivers once, and a
failed delivery goes nowhere), so these rules are checked against the template itself.
"""

from __future__ import annotations

from typing import Any

import pytest

from cpctl.sandbox.template import Resolver, load_template
from tests.conftest import REPO

TEMPLATE = load_template(REPO / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
ARN = "arn:aws:{service}:us-east-1:123456789012:{rest}"
DLQ_ARN = ARN.format(service="sqs", rest="sip-controlplane-dev-remediation-dlq")


def resolver() -> Resolver:
    r = Resolver(
        TEMPLATE,
        {"Environment": "dev", "ClusterName": "sip-dev"},
        region="us-east-1",
        ssm_lookup=lambda name: f"resolved:{name}",
    )
    # Attributes of what the sandbox would have created, so grants can be compared as ARNs.
    r.attributes.update(
        {
            "StateTable": {"Arn": ARN.format(service="dynamodb", rest="table/sip-controlplane-state-dev")},
            "RemediationDeadLetterQueue": {
                "Arn": ARN.format(service="sqs", rest="sip-controlplane-dev-remediation-dlq")
            },
            "RemediationDeadLetterKey": {"Arn": ARN.format(service="kms", rest="key/dlq")},
            "NotifyKey": {"Arn": ARN.format(service="kms", rest="key/notify")},
            "ScaleStateMachine": {"Ref": ARN.format(service="states", rest="stateMachine:sip-controlplane-scale-dev")},
            "NotifyTopic": {
                "Ref": ARN.format(service="sns", rest="sip-controlplane-notify-dev"),
                "TopicName": "sip-controlplane-notify-dev",
            },
            "FinishRemediationFunction": {"Arn": "finish", "Ref": "finish"},
            "ScheduledScalingFunction": {"Arn": "scheduled", "Ref": "scheduled"},
            "SweepAlarmsFunction": {"Arn": "sweep", "Ref": "sweep"},
        }
    )
    return r


def asynchronously_invoked() -> set[str]:
    """Functions that EventBridge rules, SNS subscriptions or Scheduler schedules invoke."""
    found: set[str] = set()
    for spec in RESOURCES.values():
        props = spec.get("Properties", {})
        if spec["Type"] == "AWS::Events::Rule":
            found |= {t["Arn"]["Fn::GetAtt"][0] for t in props["Targets"] if "Fn::GetAtt" in t["Arn"]}
        elif spec["Type"] == "AWS::SNS::Subscription" and props["Protocol"] == "lambda":
            found.add(props["Endpoint"]["Fn::GetAtt"][0])
        elif spec["Type"] == "AWS::Scheduler::Schedule" and "Fn::GetAtt" in props["Target"]["Arn"]:
            # Schedules that start a state machine (Ref: rotation's, backup's, platform deploy's) invoke no function.
            found.add(props["Target"]["Arn"]["Fn::GetAtt"][0])
    return found


def test_the_asynchronous_entry_points_are_the_ones_expected() -> None:
    assert asynchronously_invoked() == {"HandleAlarmFunction", "ScheduledScalingFunction", "SweepAlarmsFunction"}


@pytest.mark.parametrize("function", sorted(asynchronously_invoked()))
def test_an_asynchronous_entry_point_keeps_what_it_could_not_handle(function: str) -> None:
    """Lambda docs (invocation-async-error-handling, PutFunctionEventInvokeConfig): "By default, Lambda
    retries an asynchronous invocation twice if the function returns an error. [...] When an event
    fails all processing attempts or stays in the asynchronous invocation queue for too long, Lambda
    discards it." An on-failure destination keeps it instead."""
    config = RESOURCES[function]["Properties"]["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] <= 6 * 3600
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["RemediationDeadLetterQueue", "Arn"]}}
    # The function's role writes the record (and encrypts it with the queue's key).
    statements = _statements(function)
    assert any(_grants(s, "sqs:SendMessage", "RemediationDeadLetterQueue") for s in statements)
    assert any(_grants(s, "kms:GenerateDataKey", "RemediationDeadLetterKey") for s in statements)


def test_every_delivery_that_can_fail_before_the_function_has_a_dead_letter_queue() -> None:
    """EventBridge, SNS and Scheduler each drop an event they could not deliver after their own retries
    unless the target, subscription or schedule names a dead-letter queue (EventBridge "rule-dlq", SNS
    "sns-dead-letter-queues", Scheduler "configuring-schedule-dlq")."""
    dlq = {"Fn::GetAtt": ["RemediationDeadLetterQueue", "Arn"]}
    for logical_id, spec in RESOURCES.items():
        props = spec.get("Properties", {})
        if spec["Type"] == "AWS::Events::Rule":
            for target in props["Targets"]:
                assert target["DeadLetterConfig"] == {"Arn": dlq}, logical_id
        elif spec["Type"] == "AWS::SNS::Subscription" and props["Protocol"] == "lambda":
            assert props["RedrivePolicy"] == {"deadLetterTargetArn": dlq}, logical_id
        elif spec["Type"] == "AWS::Scheduler::Schedule":
            assert props["Target"]["DeadLetterConfig"] == {"Arn": dlq}, logical_id


def test_the_dead_letter_queue_is_encrypted_with_a_key_the_writers_may_use() -> None:
    """SNS docs: "To use an encrypted Amazon SQS queue as a dead-letter queue, you must use a custom KMS
    with a key policy that grants the Amazon SNS service principal access to AWS KMS API actions." """
    queue = RESOURCES["RemediationDeadLetterQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == {"Ref": "RemediationDeadLetterKey"}
    assert queue["MessageRetentionPeriod"] == 14 * 86_400
    key = RESOURCES["RemediationDeadLetterKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    services = {
        service
        for statement in key["KeyPolicy"]["Statement"]
        if "Service" in statement["Principal"]
        for service in statement["Principal"]["Service"]
    }
    assert services == {"events.amazonaws.com", "sns.amazonaws.com"}
    policy = RESOURCES["RemediationDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    sources = {s["Principal"]["Service"]: s["Condition"]["ArnEquals"]["aws:SourceArn"] for s in policy}
    assert sources == {
        "events.amazonaws.com": {"Fn::GetAtt": ["AlarmStateChangeRule", "Arn"]},
        "sns.amazonaws.com": {"Ref": "NotifyTopic"},
    }
    scheduler = RESOURCES["SchedulerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert any(_grants(s, "sqs:SendMessage", "RemediationDeadLetterQueue") for s in scheduler)
    assert any(_grants(s, "kms:GenerateDataKey", "RemediationDeadLetterKey") for s in scheduler)


def test_one_dead_letter_raises_an_alarm() -> None:
    alarm = RESOURCES["RemediationDeadLetterAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["RemediationDeadLetterQueue", "QueueName"]}}
    ]
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "NotifyTopic"}]


def test_the_remediation_workflow_alarms_when_an_execution_fails_times_out_or_is_aborted() -> None:
    """Step Functions publishes ExecutionsFailed, ExecutionsTimedOut and ExecutionsAborted as separate
    metrics; watching only the first misses a timed-out run (the one that skips Finish)."""
    alarm = RESOURCES["RemediationFailuresAlarm"]["Properties"]
    stats = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    watched = {s["Metric"]["MetricName"] for s in stats.values()}
    assert watched == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    for stat in stats.values():
        assert stat["Metric"]["Dimensions"] == [
            {"Name": "StateMachineArn", "Value": {"Ref": "RemediationStateMachine"}}
        ]
        assert stat["Stat"] == "Sum"
    [expression] = [m for m in alarm["Metrics"] if "Expression" in m]
    assert expression["ReturnData"] is True and all(f"FILL({i}, 0)" in expression["Expression"] for i in stats)
    assert alarm["Threshold"] == 1 and alarm["AlarmActions"] == [{"Ref": "NotifyTopic"}]


def test_a_decision_that_failed_raises_an_alarm() -> None:
    alarm = RESOURCES["RemediationDecisionFailuresAlarm"]["Properties"]
    # Powertools writes the metric with the service dimension (observability.SERVICE).
    assert (alarm["Namespace"], alarm["MetricName"]) == ("SIP/ControlPlane", "RemediationFailed")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "controlplane"}]


def _statements(logical_id: str) -> list[dict[str, Any]]:
    return [s for p in RESOURCES[logical_id]["Properties"]["Policies"] if "Statement" in p for s in p["Statement"]]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(statement: dict[str, Any], action: str, logical_id: str) -> bool:
    resources = _listed(statement["Resource"])
    return action in _listed(statement["Action"]) and {"Fn::GetAtt": [logical_id, "Arn"]} in resources


REMEDIATION = "states:us-east-1:123456789012:{kind}:sip-controlplane-remediation-dev"
ALARMS = ARN.format(service="cloudwatch", rest="alarm:sip-dev-*")
# DescribeAlarms by AlarmNamePrefix is authorized against alarm:* (AWS refuses a narrower grant "on resource
# arn:aws:cloudwatch:<region>:<account>:alarm:*"; the sandbox enforces it, docs/sandbox.md).
ALL_ALARMS = ARN.format(service="cloudwatch", rest="alarm:*")
TABLE = ARN.format(service="dynamodb", rest="table/sip-controlplane-state-dev")
DLQ = {
    ("sqs:SendMessage", DLQ_ARN),
    ("kms:GenerateDataKey", ARN.format(service="kms", rest="key/dlq")),
    ("kms:Decrypt", ARN.format(service="kms", rest="key/dlq")),
}
ENTRY = {
    # The admission transaction (Put, Put, Put, Update), claims, counters, audit, quiet time.
    *{(f"dynamodb:{a}", TABLE) for a in ("PutItem", "UpdateItem", "DeleteItem", "GetItem")},
    ("states:StartExecution", "arn:aws:" + REMEDIATION.format(kind="stateMachine")),
    ("states:DescribeExecution", "arn:aws:" + REMEDIATION.format(kind="execution") + ":*"),
    # The rds_storage adapter's read: the primary, and its replicas with a filtered call (db:*).
    ("rds:DescribeDBInstances", ARN.format(service="rds", rest="db:*")),
    *DLQ,
}
# (action, resource) pairs each function's code calls, and nothing more.
CALLS: dict[str, set[tuple[str, str]]] = {
    "HandleAlarmFunction": ENTRY,
    "SweepAlarmsFunction": {*ENTRY, ("cloudwatch:DescribeAlarms", ALL_ALARMS)},
    "FinishRemediationFunction": {
        *{(f"dynamodb:{a}", TABLE) for a in ("DeleteItem", "PutItem", "GetItem")},
        ("cloudwatch:DescribeAlarms", ALARMS),
        ("cloudwatch:SetAlarmState", ALARMS),
        ("kms:GenerateDataKey", ARN.format(service="kms", rest="key/notify")),
        ("kms:Decrypt", ARN.format(service="kms", rest="key/notify")),
    },
    "ScheduledScalingFunction": {
        *{(f"dynamodb:{a}", TABLE) for a in ("PutItem", "GetItem", "UpdateItem")},
        ("eks:DescribeNodegroup", ARN.format(service="eks", rest="nodegroup/sip-dev/*/*")),
        ("states:StartExecution", ARN.format(service="states", rest="stateMachine:sip-controlplane-scale-dev")),
        (
            "states:DescribeExecution",
            ARN.format(service="states", rest="execution:sip-controlplane-scale-dev:sched-restore-*"),
        ),
        *DLQ,
    },
}


@pytest.mark.parametrize("function", sorted(CALLS))
def test_grants_are_exactly_the_calls_of_the_code_on_exactly_its_resources(function: str) -> None:
    """CloudWatch API reference (DescribeAlarms): composite alarms need the permission "scoped to *";
    metric alarms, all the control plane reads, need only their own ARNs. DynamoDB (transaction-apis-iam):
    "Permissions for Put, Update, Delete, and Get actions are governed by the permissions used for the
    underlying PutItem, UpdateItem, DeleteItem, and GetItem operations": TransactWriteItems is no action."""
    r = resolver()
    granted = {
        (action, resource)
        for statement in _statements(function)
        for action in _listed(statement["Action"])
        for resource in _listed(r.resolve(statement["Resource"]))
    }
    assert granted == CALLS[function]


def test_the_sweep_runs_every_few_minutes_with_a_deterministic_input() -> None:
    schedule = RESOURCES["SweepAlarmsSchedule"]["Properties"]
    assert resolver().resolve(schedule["ScheduleExpression"]) == "rate(5 minutes)"
    assert "<aws.scheduler.scheduled-time>" in schedule["Target"]["Input"]
    assert schedule["Target"]["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}


def test_the_entry_points_read_what_grow_storage_reads() -> None:
    """A grow_storage action asks for a size relative to the current one, read by the kind's adapter:
    the entry point and the sweep need exactly that adapter's read actions."""
    from controlplane.remediation.policy import ActionType, load_remediation_policy
    from controlplane.resources import adapter_class

    kinds = {
        rule.action.resource.kind
        for environment in ("dev", "staging", "prod")
        for rule in load_remediation_policy(environment).alarms.values()
        if rule.action.type == ActionType.GROW_STORAGE and rule.action.resource
    }
    reads = {action for kind in kinds for action, _ in adapter_class(kind).iam["read"]}
    for function in ("HandleAlarmFunction", "SweepAlarmsFunction"):
        granted = {
            action
            for action, _ in CALLS[function]
            if action.split(":")[0] not in {"dynamodb", "states", "sqs", "kms", "cloudwatch"}
        }
        assert granted == reads

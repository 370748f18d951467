"""What the sandbox needs for remediation and schedules: creators for the template's EventBridge
rules, Lambda permissions, IAM roles, SNS subscriptions (with filter policies) and Scheduler
schedules; firing a schedule now; and alarm events as CloudWatch sends them.

The creators run after the functions and state machines they point at (``Sandbox.deploy`` puts them last).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cpctl.sandbox.moto_patches import events as events_patch
from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY, invoke_function
from cpctl.sandbox.template import Resolver

if TYPE_CHECKING:
    from cpctl.sandbox.runtime import Sandbox

Creator = Callable[[str, dict[str, Any], Resolver], dict[str, str]]


def creators(sandbox: Sandbox) -> dict[str, Creator]:
    """Creators in deploy order: roles, rules, permissions, subscriptions, schedules, queue policies."""

    def role(logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        iam = sandbox.client("iam")
        name = p.get("RoleName") or f"{r.stack_name}-{logical_id}"[:64]
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"]))[
            "Role"
        ]["Arn"]
        for policy in p.get("Policies", []):
            iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
            )
        return {"Ref": name, "Arn": str(arn)}

    def rule(logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        events = sandbox.client("events")
        arn = events.put_rule(
            Name=p["Name"],
            EventPattern=json.dumps(p["EventPattern"]),
            State=p.get("State", "ENABLED"),
            Description=p.get("Description", ""),
            EventBusName=p.get("EventBusName", "default"),
        )["RuleArn"]
        kept = {"Id", "Arn", "Input", "RoleArn", "RetryPolicy", "DeadLetterConfig"}
        targets = [{k: v for k, v in target.items() if k in kept} for target in p.get("Targets", [])]
        if targets:
            events.put_targets(Rule=p["Name"], EventBusName=p.get("EventBusName", "default"), Targets=targets)
        return {"Ref": p["Name"], "Arn": str(arn)}

    def permission(logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        extra = {"SourceArn": p["SourceArn"]} if "SourceArn" in p else {}
        sandbox.client("lambda").add_permission(
            FunctionName=p["FunctionName"],
            StatementId=logical_id,
            Action=p["Action"],
            Principal=p["Principal"],
            **extra,
        )
        return {"Ref": logical_id}

    def subscription(logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        attributes = {key: json.dumps(p[key]) for key in ("FilterPolicy", "RedrivePolicy") if key in p}
        arn = sandbox.client("sns").subscribe(
            TopicArn=p["TopicArn"], Protocol=p["Protocol"], Endpoint=p["Endpoint"], Attributes=attributes
        )["SubscriptionArn"]
        return {"Ref": str(arn)}

    def queue_policy(logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        for url in p["Queues"]:
            sandbox.client("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])}
            )
        return {"Ref": logical_id}

    def schedule(logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        kept = {"Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig"}
        target = {k: v for k, v in p["Target"].items() if k in kept}
        arn = sandbox.client("scheduler").create_schedule(
            Name=p["Name"],
            Description=p.get("Description", ""),
            ScheduleExpression=p["ScheduleExpression"],
            ScheduleExpressionTimezone=p.get("ScheduleExpressionTimezone", "UTC"),
            FlexibleTimeWindow=p["FlexibleTimeWindow"],
            State=p.get("State", "ENABLED"),
            Target=target,
        )["ScheduleArn"]
        return {"Ref": p["Name"], "Arn": str(arn)}

    return {
        "AWS::IAM::Role": role,
        "AWS::Events::Rule": rule,
        "AWS::Lambda::Permission": permission,
        "AWS::SNS::Subscription": subscription,
        "AWS::Scheduler::Schedule": schedule,
        "AWS::SQS::QueuePolicy": queue_policy,
    }


def create_queue(sandbox: Sandbox, props: dict[str, Any], r: Resolver) -> dict[str, str]:
    """An SQS queue (the dead-letter queues), encrypted with the template's key as in AWS."""
    p = r.resolve(props)
    names = {"KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "MessageRetentionPeriod", "VisibilityTimeout"}
    attributes = {key: str(p[key]) for key in names if key in p}
    sqs = sandbox.client("sqs")
    url = sqs.create_queue(QueueName=p["QueueName"], Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"Ref": str(url), "Arn": str(arn), "QueueName": p["QueueName"]}


def fire_schedule(sandbox: Sandbox, name: str, scheduled_time: datetime | None = None) -> tuple[bool, Any]:
    """Invoke a schedule's target now with its Input, context attributes filled as Scheduler does."""
    if name in sandbox.resources:
        name = sandbox.resources[name]["Ref"]
    found = sandbox.client("scheduler").get_schedule(Name=name)
    target = found["Target"]
    from controlplane import clock

    moment = (scheduled_time or clock.now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = (
        str(target.get("Input", "{}"))
        .replace("<aws.scheduler.scheduled-time>", moment)
        .replace("<aws.scheduler.schedule-arn>", str(found["Arn"]))
        .replace("<aws.scheduler.attempt-number>", "1")
        .replace("<aws.scheduler.execution-id>", f"sandbox-{moment}")
    )
    if ":stateMachine:" in str(target["Arn"]):
        # The templated StartExecution target: Scheduler names the execution; the input is the schedule's.
        arn = sandbox.client("stepfunctions").start_execution(
            stateMachineArn=str(target["Arn"]), name=f"schedule-{uuid.uuid4().hex[:24]}", input=text
        )["executionArn"]
        return True, {"executionArn": arn}
    if ":function:" not in str(target["Arn"]):
        raise NotImplementedError(f"the sandbox fires Lambda and state machine targets only, not {target['Arn']}")
    return invoke_function(REGISTRY.resolve(str(target["Arn"])), json.loads(text))


def alarm_event(
    sandbox: Sandbox,
    alarm_name: str,
    state: str,
    reason: str = "",
    event_id: str | None = None,
    previous: str | None = None,
) -> dict[str, Any]:
    """The ``CloudWatch Alarm State Change`` event of a deployed alarm entering ``state``."""
    from moto.cloudwatch.models import cloudwatch_backends

    alarm = cloudwatch_backends[events_patch.ACCOUNT][sandbox.region].alarms[alarm_name]
    before = previous or ("OK" if state == "ALARM" else "ALARM")
    event = events_patch.alarm_state_change_event(
        alarm, {"value": before, "reason": "", "timestamp": None}, sandbox.region, event_id
    )
    event["detail"]["state"]["value"] = state
    event["detail"]["state"]["reason"] = reason or f"Threshold Crossed: sandbox set {alarm_name} to {state}"
    return event

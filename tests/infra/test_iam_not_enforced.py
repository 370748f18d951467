"""Permission rules the sandbox cannot enforce, checked against template.yaml instead (docs/sandbox.md).

The sandbox authorizes every AWS call a function or state machine makes against its role. It cannot
see what AWS checks elsewhere: resource-based policies (who may invoke a function), KMS calls that
another service makes on the caller's behalf (moto's SNS never calls KMS), and invocations the sandbox
makes itself (EventBridge rules, SNS subscriptions and Scheduler schedules reach the handler directly).
"""

from __future__ import annotations

from typing import Any

import pytest

from cpctl.sandbox.template import load_template
from tests.conftest import REPO

TEMPLATE = load_template(REPO / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(logical_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in RESOURCES[logical_id]["Properties"].get("Policies", []):
        if isinstance(policy, dict):
            found.extend(policy.get("Statement", []))
            found.extend(policy.get("PolicyDocument", {}).get("Statement", []))
    return found


def _publishers_to(topic: str) -> list[str]:
    """Functions and state machines whose policies let them publish to ``topic``."""
    found = []
    for logical_id, spec in RESOURCES.items():
        for policy in (
            spec.get("Properties", {}).get("Policies", []) if isinstance(spec.get("Properties"), dict) else []
        ):
            template_args = policy.get("SNSPublishMessagePolicy") if isinstance(policy, dict) else None
            if template_args and template_args.get("TopicName") == {"Fn::GetAtt": [topic, "TopicName"]}:
                found.append(logical_id)
        if any("sns:Publish" in _list(s["Action"]) and s["Resource"] == {"Ref": topic} for s in _statements_of(spec)):
            found.append(logical_id)
    return sorted(set(found))


def _statements_of(spec: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in spec.get("Properties", {}).get("Policies", []) if isinstance(spec.get("Properties"), dict) else []:
        if isinstance(policy, dict):
            found.extend(policy.get("Statement", []))
    return found


ENCRYPTED_TOPICS = sorted(
    k for k, v in RESOURCES.items() if v["Type"] == "AWS::SNS::Topic" and "KmsMasterKeyId" in v["Properties"]
)


@pytest.mark.parametrize("topic", ENCRYPTED_TOPICS)
def test_publishers_to_an_encrypted_topic_may_use_its_key(topic: str) -> None:
    """Amazon SNS, encryption at rest: publishers to a topic encrypted with a customer managed key must
    "have the kms:GenerateDataKey* and kms:Decrypt permissions for the AWS KMS key". moto's SNS never
    calls KMS, so the sandbox cannot refuse a publish that lacks them."""
    key = RESOURCES[topic]["Properties"]["KmsMasterKeyId"]["Ref"]
    publishers = _publishers_to(topic)
    assert publishers, f"nothing publishes to {topic}?"
    for publisher in publishers:
        on_key = [s for s in _statements(publisher) if s["Resource"] == {"Fn::GetAtt": [key, "Arn"]}]
        granted = {a for s in on_key for a in _list(s["Action"])}
        assert granted & {"kms:GenerateDataKey", "kms:GenerateDataKey*"}, f"{publisher} cannot encrypt for {topic}"
        assert "kms:Decrypt" in granted, f"{publisher} lacks kms:Decrypt on {key}"


def _permissions() -> list[dict[str, Any]]:
    return [v["Properties"] for v in RESOURCES.values() if v["Type"] == "AWS::Lambda::Permission"]


RULE_TARGETS = [
    (rule, target["Arn"]["Fn::GetAtt"][0])
    for rule, spec in RESOURCES.items()
    if spec["Type"] == "AWS::Events::Rule"
    for target in spec["Properties"].get("Targets", [])
    if isinstance(target.get("Arn"), dict) and "Fn::GetAtt" in target["Arn"]
    and RESOURCES[target["Arn"]["Fn::GetAtt"][0]]["Type"] == "AWS::Serverless::Function"
]  # fmt: skip


@pytest.mark.parametrize(("rule", "function"), RULE_TARGETS)
def test_eventbridge_rules_may_invoke_their_functions(rule: str, function: str) -> None:
    """EventBridge: "For Lambda, Amazon SNS, Amazon SQS, and Amazon CloudWatch Logs resources,
    EventBridge uses resource-based policies." The sandbox delivers rule matches to the handler itself,
    so a missing AWS::Lambda::Permission would only show in AWS."""
    assert not any("RoleArn" in t for t in RESOURCES[rule]["Properties"]["Targets"])
    assert any(
        p["FunctionName"] == {"Ref": function}
        and p["Principal"] == "events.amazonaws.com"
        and p["Action"] == "lambda:InvokeFunction"
        and p.get("SourceArn") == {"Fn::GetAtt": [rule, "Arn"]}
        for p in _permissions()
    ), f"no permission lets {rule} invoke {function}"


LAMBDA_SUBSCRIPTIONS = [
    (spec["Properties"]["TopicArn"]["Ref"], spec["Properties"]["Endpoint"]["Fn::GetAtt"][0])
    for spec in RESOURCES.values()
    if spec["Type"] == "AWS::SNS::Subscription" and spec["Properties"].get("Protocol") == "lambda"
]


@pytest.mark.parametrize(("topic", "function"), LAMBDA_SUBSCRIPTIONS)
def test_topics_may_invoke_their_subscribed_functions(topic: str, function: str) -> None:
    """Amazon SNS invokes a subscribed function under the function's resource-based policy
    (principal sns.amazonaws.com, source the topic); the sandbox delivers to the handler itself."""
    assert any(
        p["FunctionName"] == {"Ref": function}
        and p["Principal"] == "sns.amazonaws.com"
        and p.get("SourceArn") == {"Ref": topic}
        for p in _permissions()
    ), f"no permission lets {topic} invoke {function}"


SCHEDULES = [
    (name, spec["Properties"]["Target"])
    for name, spec in RESOURCES.items()
    if spec["Type"] == "AWS::Scheduler::Schedule"
]


@pytest.mark.parametrize(("schedule", "target"), SCHEDULES)
def test_schedules_roles_may_invoke_their_targets(schedule: str, target: dict[str, Any]) -> None:
    """EventBridge Scheduler calls the target with the schedule's execution role, which must allow
    lambda:InvokeFunction on it (states:StartExecution for a state machine target, "Using templated
    targets"); the sandbox fires schedules by invoking the handler itself."""
    role = target["RoleArn"]["Fn::GetAtt"][0]
    # A Lambda target is invoked; a state machine target (the Rotation workflow's) is started.
    is_state_machine = "Ref" in target["Arn"] and RESOURCES[target["Arn"]["Ref"]]["Type"].endswith("StateMachine")
    needed = "states:StartExecution" if is_state_machine else "lambda:InvokeFunction"
    allowed = [s for s in _statements(role) if needed in _list(s["Action"]) and target["Arn"] in _list(s["Resource"])]
    assert allowed, f"{role} may not invoke the target of {schedule}"
    trust = RESOURCES[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert any(s["Principal"] == {"Service": "scheduler.amazonaws.com"} for s in trust)

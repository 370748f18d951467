"""IAM in the sandbox: each function and state machine runs with its own role, as SAM creates it, and a
missing grant fails in the sandbox as it would in AWS (docs/sandbox.md says what is and is not enforced)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from cpctl.sandbox.iam_resources import RequestContext, UnmappedOperation, authorizations
from cpctl.sandbox.moto_patches import iam_enforcement
from cpctl.sandbox.runtime import Sandbox
from cpctl.sandbox.template import load_template
from tests.conftest import REPO

pytestmark = pytest.mark.sandbox
SCALE = "ScaleStateMachine"
TEMPLATE = load_template(REPO / "template.yaml")
FUNCTIONS = sorted(k for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::Serverless::Function")


@pytest.fixture(scope="module")
def shared() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def client_as(sandbox: Sandbox, function: str, service: str) -> Any:
    """A client signed with ``function``'s role session, as its handler's clients are."""
    env = sandbox.function_environment(function)
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=sandbox.region,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )


# --- every function and state machine has its own role, with SAM's expansion of its policies ------


def test_each_function_runs_with_its_own_role(shared: Sandbox) -> None:
    roles = {}
    for function in FUNCTIONS:
        key = shared.function_environment(function)["AWS_ACCESS_KEY_ID"]
        session = iam_enforcement.SESSIONS.by_key[key]
        assert session.role_arn.endswith(f"/{shared.role_of(function)}")
        roles[function] = session.role_arn
    assert len(set(roles.values())) == len(FUNCTIONS)


def _with_policy_template(name: str) -> list[str]:
    return [
        f
        for f in FUNCTIONS
        if any(isinstance(p, dict) and name in p for p in TEMPLATE["Resources"][f]["Properties"].get("Policies", []))
    ]


def test_sam_policy_templates_are_expanded_as_sam_does(shared: Sandbox) -> None:
    """SNSPublishMessagePolicy allows sns:Publish on its topic only; EventBridgePutEventsPolicy
    events:PutEvents on its bus only."""
    publishers = _with_policy_template("SNSPublishMessagePolicy")
    senders = _with_policy_template("EventBridgePutEventsPolicy")
    assert publishers and senders, "pick other SAM policy templates: these are no longer used"
    topic = shared.resources["NotifyTopic"]["Ref"]
    other = shared.client("sns").create_topic(Name="not-ours")["TopicArn"]
    for function in publishers:
        sns = client_as(shared, function, "sns")
        sns.publish(TopicArn=topic, Message="allowed")
        with pytest.raises(ClientError) as refused:
            sns.publish(TopicArn=other, Message="not allowed")
        assert refused.value.response["Error"]["Code"] == "AuthorizationError"
    shared.client("events").create_event_bus(Name="not-ours")
    for function in senders:
        events = client_as(shared, function, "events")
        events.put_events(Entries=[{"Source": "controlplane", "DetailType": "t", "Detail": "{}"}])
        with pytest.raises(ClientError) as refused:
            events.put_events(
                Entries=[{"Source": "controlplane", "DetailType": "t", "Detail": "{}", "EventBusName": "not-ours"}]
            )
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"


def test_managed_policies_sam_adds_are_on_the_role(shared: Sandbox) -> None:
    """Tracing: Active adds AWSXrayWriteOnlyAccess; every function gets AWSLambdaBasicExecutionRole."""
    for function in FUNCTIONS:
        names = shared.client("iam").list_role_policies(RoleName=shared.role_of(function))["PolicyNames"]
        assert {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"} <= set(names), function


def test_wildcard_arns_and_actions_without_resources(shared: Sandbox) -> None:
    """A node group's ARN ends in a UUID the policy's nodegroup/<cluster>/*/* covers; GetMetricData
    supports no resource-level permission, so it is granted on * and checked against *."""
    check = shared.function_of_state(SCALE, "CheckProgress")
    cluster = shared.tfvars["eks_cluster_name"]
    client_as(shared, check, "eks").describe_nodegroup(clusterName=cluster, nodegroupName="general")
    cloudwatch = client_as(shared, check, "cloudwatch")
    cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "lag",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/RDS", "MetricName": "ReplicaLag"},
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=datetime.now(UTC) - timedelta(minutes=5),
        EndTime=datetime.now(UTC),
    )
    with pytest.raises(ClientError) as not_granted:
        cloudwatch.put_metric_data(Namespace="X", MetricData=[{"MetricName": "m", "Value": 1.0}])
    assert not_granted.value.response["Error"]["Code"] == "AccessDenied"  # parsed from CloudWatch's CBOR
    with pytest.raises(ClientError) as refused:
        client_as(shared, check, "eks").update_nodegroup_config(
            clusterName=cluster, nodegroupName="general", scalingConfig={"desiredSize": 4}
        )
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert shared.nodegroup("general")["scalingConfig"]["desiredSize"] == 3
    # The role is scoped to ClusterName (Plan refuses another cluster by name before asking): IAM refuses too.
    with pytest.raises(ClientError) as elsewhere:
        client_as(shared, check, "eks").describe_nodegroup(clusterName="sip-other", nodegroupName="general")
    assert elsewhere.value.response["Error"]["Code"] == "AccessDeniedException"


def test_the_harness_is_the_accounts_administrator(shared: Sandbox) -> None:
    before = len(shared.denials())
    shared.client("iam").list_roles()
    shared.client("dynamodb").scan(TableName=shared.resources["StateTable"]["Ref"])
    assert len(shared.denials()) == before


# --- the enforcement mechanism on a role made for the test ------------------------------------------


def _role_with(sandbox: Sandbox, name: str, statements: list[dict[str, Any]]) -> Any:
    iam = sandbox.client("iam")
    principal = {"Service": "lambda.amazonaws.com"}
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements})
    )
    session = iam_enforcement.assume(sandbox.client("sts"), arn, name)
    return lambda service: boto3.client(  # type: ignore[call-overload]
        service,
        region_name=sandbox.region,
        aws_access_key_id=session.access_key_id,
        aws_secret_access_key=session.secret_access_key,
        aws_session_token=session.session_token,
    )


def test_transactions_are_authorized_per_item(shared: Sandbox) -> None:
    """There is no IAM action for TransactWriteItems: each Put/Update/Delete/ConditionCheck is authorized."""
    table = shared.resources["StateTable"]["Ref"]
    table_arn = shared.resources["StateTable"]["Arn"]
    client = _role_with(shared, "puts-only", [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": table_arn}])
    dynamodb = client("dynamodb")
    put = {"Put": {"TableName": table, "Item": {"pk": {"S": "t"}, "sk": {"S": "1"}}}}
    key = {"pk": {"S": "u"}, "sk": {"S": "1"}}
    check = {"ConditionCheck": {"TableName": table, "Key": key, "ConditionExpression": "attribute_not_exists(pk)"}}
    dynamodb.transact_write_items(TransactItems=[put])
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=[put, check])
    assert "dynamodb:ConditionCheckItem" in refused.value.response["Error"]["Message"]


def test_an_operation_without_a_resource_rule_is_refused_and_says_where_to_add_it(shared: Sandbox) -> None:
    client = _role_with(shared, "everything", [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}])
    with pytest.raises(ClientError) as refused:
        client("dynamodb").describe_limits()
    assert "iam_resources.py" in refused.value.response["Error"]["Message"]


def test_read_replica_creation_needs_the_groups_it_inherits() -> None:
    """CreateDBInstanceReadReplica is authorized on the new replica, its source, and the option,
    parameter and subnet groups the replica inherits."""
    context = RequestContext(
        prefix="rds",
        operation="CreateDBInstanceReadReplica",
        params={
            "DBInstanceIdentifier": "db-cp-1",
            "SourceDBInstanceIdentifier": "db",
            "OptionGroupName": "og1",
            "DBParameterGroupName": "pg1",
            "DBSubnetGroupName": "sub1",
            "Tags": [{"Key": "a", "Value": "b"}],
        }.get,
        account="123456789012",
        region="us-east-1",
    )
    found = set(authorizations(context))
    prefix = "arn:aws:rds:us-east-1:123456789012"
    assert found == {
        ("rds:CreateDBInstanceReadReplica", f"{prefix}:db:db-cp-1"),
        ("rds:CreateDBInstanceReadReplica", f"{prefix}:db:db"),
        ("rds:CreateDBInstanceReadReplica", f"{prefix}:og:og1"),
        ("rds:CreateDBInstanceReadReplica", f"{prefix}:pg:pg1"),
        ("rds:CreateDBInstanceReadReplica", f"{prefix}:subgrp:sub1"),
        ("rds:AddTagsToResource", f"{prefix}:db:db-cp-1"),
    }


def test_unknown_operations_are_not_guessed() -> None:
    context = RequestContext(
        prefix="dynamodb", operation="DescribeLimits", params={}.get, account="123456789012", region="us-east-1"
    )
    with pytest.raises(UnmappedOperation):
        authorizations(context)

"""The rotation's template resources, checked against what AWS documents (the sandbox attaches the
functions itself and cannot see resource-based permissions, VPC networking or schedules)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from controlplane.rotation import redis_token
from controlplane.rotation.policy import EXECUTION_TIMEOUT_SECONDS, FALLBACK_DAYS, StrategyName, load_rotation_policy

from cpctl.sandbox.template import load_template
from tests.conftest import REPO

TEMPLATE = load_template(REPO / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
SCHEDULES = {lid: spec for lid, spec in RESOURCES.items() if spec["Type"] == "AWS::SecretsManager::RotationSchedule"}
ROTATION_FUNCTIONS = {"RotatePostgresFunction", "RotateRedisTokenFunction"}
LOGIN_FUNCTIONS = {*ROTATION_FUNCTIONS, "CheckRotationFunction"}
FUNCTION_OF = {
    StrategyName.POSTGRES_ALTERNATING: "RotatePostgresFunction",
    StrategyName.POSTGRES_SINGLE_USER: "RotatePostgresFunction",
    StrategyName.REDIS_AUTH_TOKEN: "RotateRedisTokenFunction",
}


def _statements(logical_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in RESOURCES[logical_id]["Properties"].get("Policies", []):
        if isinstance(policy, dict):
            found.extend(policy.get("Statement", []))
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_secret_of_the_policy_has_a_schedule_with_its_strategys_function(environment: str) -> None:
    """RotationSchedule: "SecretId: The ARN or name of the secret to rotate"; the name is Terraform's."""
    by_secret = {
        spec["Properties"]["SecretId"]["Fn::Sub"].replace("${Environment}", environment): spec
        for spec in SCHEDULES.values()
    }
    for name, entry in load_rotation_policy(environment).secrets.items():
        assert name in by_secret, f"no RotationSchedule attaches a function to {name}"
        assert by_secret[name]["Properties"]["RotationLambdaARN"] == {
            "Fn::GetAtt": [FUNCTION_OF[entry.strategy], "Arn"]
        }


@pytest.mark.parametrize("logical_id", sorted(SCHEDULES))
def test_schedules_are_a_thirty_day_fallback_that_never_rotates_on_deploy(logical_id: str) -> None:
    """RotateImmediatelyOnUpdate: "Specifies whether to rotate the secret immediately or wait until the next
    scheduled rotation window"; Duration: "The length of the rotation window in hours"."""
    spec = SCHEDULES[logical_id]
    props = spec["Properties"]
    assert props["RotateImmediatelyOnUpdate"] is False
    assert props["RotationRules"]["ScheduleExpression"] == f"rate({FALLBACK_DAYS} days)"
    assert props["RotationRules"]["Duration"].endswith("h")
    # Secrets Manager must be allowed to invoke the function before the schedule is attached.
    function = props["RotationLambdaARN"]["Fn::GetAtt"][0]
    permission = spec["DependsOn"]
    assert RESOURCES[permission]["Properties"]["FunctionName"] == {"Fn::GetAtt": [function, "Arn"]}
    for environment in ("dev", "staging", "prod"):
        for entry in load_rotation_policy(environment).secrets.values():
            assert entry.rotate_every_days < FALLBACK_DAYS  # the workflow decides when; the schedule is a fallback


@pytest.mark.parametrize("function", sorted(ROTATION_FUNCTIONS))
def test_secrets_manager_may_invoke_the_rotation_functions_from_this_account_only(function: str) -> None:
    """Secrets Manager user guide (rotating-secrets-required-permissions-function): the function's
    resource policy allows secretsmanager.amazonaws.com, with aws:SourceAccount against confused deputies."""
    permissions = [
        spec["Properties"]
        for spec in RESOURCES.values()
        if spec["Type"] == "AWS::Lambda::Permission"
        and spec["Properties"]["FunctionName"] == {"Fn::GetAtt": [function, "Arn"]}
    ]
    assert permissions == [
        {
            "FunctionName": {"Fn::GetAtt": [function, "Arn"]},
            "Action": "lambda:InvokeFunction",
            "Principal": "secretsmanager.amazonaws.com",
            "SourceAccount": {"Ref": "AWS::AccountId"},
        }
    ]


@pytest.mark.parametrize("function", sorted(LOGIN_FUNCTIONS))
def test_functions_that_log_in_run_in_the_vpc_with_tls(function: str) -> None:
    """They reach the database and the cache in private subnets; a rotation function in a VPC needs a route
    to Secrets Manager (the endpoint parameter), or it times out (Secrets Manager troubleshooting guide)."""
    props = RESOURCES[function]["Properties"]
    assert props["VpcConfig"] == {
        "SubnetIds": {"Ref": "PrivateSubnetIds"},
        "SecurityGroupIds": [{"Ref": "RotationSecurityGroupId"}],
    }
    variables = props["Environment"]["Variables"]
    assert variables["SECRETS_MANAGER_ENDPOINT"] == {"Ref": "SecretsManagerEndpoint"}
    assert {"DATABASE_TLS", "CACHE_TLS"} & set(variables)
    assert TEMPLATE["Parameters"]["DatabaseTls"]["AllowedValues"] == ["verify", "require"]  # never "disable" in AWS


def test_the_token_rotation_waits_well_inside_its_timeout() -> None:
    props = RESOURCES["RotateRedisTokenFunction"]["Properties"]
    wait = int(props["Environment"]["Variables"]["ROTATION_WAIT_SECONDS"])
    assert wait == redis_token.DEFAULT_WAIT_SECONDS
    assert wait + 60 <= int(props["Timeout"])


@pytest.mark.parametrize("function", sorted(LOGIN_FUNCTIONS | {"RotationChangeFunction"}))
def test_secret_grants_are_scoped_to_the_platforms_secrets(function: str) -> None:
    for statement in _statements(function):
        actions = _list(statement["Action"])
        if not any(a.startswith("secretsmanager:") for a in actions):
            continue
        resources = [json.dumps(r) for r in _list(statement["Resource"])]
        if actions == ["secretsmanager:GetRandomPassword"]:
            assert resources == ['"*"']  # no resource-level permission for it
            continue
        if resources == [json.dumps({"Ref": "RdsMasterSecretArn"})]:
            # The RDS-managed master secret: read to log in as the master, or described to check it.
            assert actions in (["secretsmanager:GetSecretValue"], ["secretsmanager:DescribeSecret"]), function
            continue
        for resource in resources:
            assert ":secret:sip/${Environment}/" in resource, (function, resource)


def test_the_rotation_state_machine_is_the_one_shape() -> None:
    from controlplane.rotation import workflow

    definition = json.loads((REPO / "statemachines" / "rotation.asl.json").read_text())
    assert definition["TimeoutSeconds"] == EXECUTION_TIMEOUT_SECONDS
    each = definition["States"]["RotateEach"]
    assert each["Type"] == "Map" and each["MaxConcurrency"] == 1
    states = each["ItemProcessor"]["States"]
    release = states["ReleaseLease"]["Parameters"]
    assert (
        release["ExpressionAttributeValues"][":owner"]["S.$"]
        == f"States.Format('{workflow.WORKFLOW}/{{}}', $.execution)"
    )
    # Every task after the lease reaches ReleaseLease, directly or through ObserveAfterError.
    for name, state in states.items():
        if state["Type"] == "Task" and name != "ReleaseLease":
            assert {c["Next"] for c in state["Catch"]} <= {"ReleaseLease", "ObserveAfterError"}, name
    assert states["AcquireLease"]["Retry"][0]["ErrorEquals"] == ["LockHeld"]

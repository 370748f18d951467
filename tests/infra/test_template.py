"""template.yaml: linters, the deploy path, least privilege, and that the code it names exists."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from cpctl.sandbox.template import load_template
from tests.conftest import REPO

BIN = Path(sys.executable).parent
TEMPLATE = load_template(REPO / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
STATE_MACHINES = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::StateMachine"}

# Actions AWS does not allow to scope to a resource; each is listed with why it is needed.
UNSCOPABLE = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    "cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:PutMetricData",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords",
}  # fmt: skip
READ_VERBS = ("Describe", "Get", "List")


def _tool(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    on_path = shutil.which(name)
    assert on_path, f"{name} is not installed: make venv installs it"
    return on_path


def test_cfn_lint_reports_nothing() -> None:
    result = subprocess.run([_tool("cfn-lint"), "template.yaml"], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_sam_validate_lint_passes_offline() -> None:
    result = subprocess.run(
        [_tool("sam"), "validate", "--lint", "--region", "us-east-1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "SAM_CLI_TELEMETRY": "0", "HOME": str(Path.home())},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_globals_target_python313_on_arm64_with_tracing() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Timeout"] <= 60
    layer = RESOURCES["CommonLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_is_a_thin_handler_that_exists(logical_id: str) -> None:
    code = REPO / FUNCTIONS[logical_id]["Properties"]["CodeUri"] / "app.py"
    source = code.read_text()
    assert "lambda_handler" in source
    assert "boto3" not in source, "clients are made in controlplane.aws, never in a handler file"
    assert len([line for line in source.splitlines() if line.strip()]) <= 15, "logic belongs in controlplane/"


def test_state_table_is_encrypted_recoverable_and_expires_items() -> None:
    table = RESOURCES["StateTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_state_table_and_log_groups_are_encrypted_with_the_control_planes_key() -> None:
    """DynamoDB: SSEType KMS with KMSMasterKeyId (without it, the AWS managed key). CloudWatch Logs:
    "the key policy must allow logs.<region>.amazonaws.com ... with kms:EncryptionContext:aws:logs:arn",
    else CreateLogGroup with kmsKeyId fails and the stack does not deploy."""
    sse = RESOURCES["StateTable"]["Properties"]["SSESpecification"]
    assert (sse["SSEType"], sse["KMSMasterKeyId"]) == ("KMS", {"Ref": "ControlPlaneKey"})
    log_groups = [k for k, v in RESOURCES.items() if v["Type"] == "AWS::Logs::LogGroup"]
    assert log_groups
    for logical_id in log_groups:
        key_ref = RESOURCES[logical_id]["Properties"].get("KmsKeyId")
        assert isinstance(key_ref, dict) and "Fn::GetAtt" in key_ref, f"{logical_id} is not under a customer key"
        key_id = key_ref["Fn::GetAtt"][0]
        assert RESOURCES[key_id]["Type"] == "AWS::KMS::Key"
        key_statements = RESOURCES[key_id]["Properties"]["KeyPolicy"]["Statement"]
        for_logs = [
            st
            for st in key_statements
            if st["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}
        ]
        assert for_logs, f"{key_id} (key of {logical_id}) does not let CloudWatch Logs use it"
        assert all("kms:EncryptionContext:aws:logs:arn" in st["Condition"]["ArnLike"] for st in for_logs)
    assert RESOURCES["FunctionsLogGroup"]["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["ControlPlaneKey", "Arn"]}
    key = RESOURCES["ControlPlaneKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    dynamodb = statements["DynamoDbForThisAccount"]["Condition"]["StringEquals"]
    assert dynamodb["kms:ViaService"] == {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}
    assert dynamodb["kms:CallerAccount"] == {"Ref": "AWS::AccountId"}


def test_entry_points_can_reserve_concurrency_and_prod_does() -> None:
    """An alarm storm must not take the account's concurrency; an account still at the 10-execution
    limit cannot reserve any ("decreases account's UnreservedConcurrentExecution below its minimum
    value of [10]"), so 0 leaves it unset."""
    entry_points = [k for k, v in FUNCTIONS.items() if v["Properties"].get("ReservedConcurrentExecutions")]
    assert set(entry_points) == {"HandleAlarmFunction", "SweepAlarmsFunction", "ScheduledScalingFunction"}
    for logical_id in entry_points:
        reserved = FUNCTIONS[logical_id]["Properties"]["ReservedConcurrentExecutions"]
        assert reserved == {
            "Fn::If": [
                "ReservesEntryPointConcurrency",
                {"Ref": "EntryPointReservedConcurrency"},
                {"Ref": "AWS::NoValue"},
            ]
        }
    prod = tomllib.loads((REPO / "samconfig.toml").read_text())["prod"]["deploy"]["parameters"]
    assert 'EntryPointReservedConcurrency="5"' in prod["parameter_overrides"]


def test_topic_is_encrypted_with_a_customer_key() -> None:
    assert RESOURCES["NotifyTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "NotifyKey"}
    assert RESOURCES["NotifyKey"]["Properties"]["EnableKeyRotation"] is True


def _statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in resource["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


IAM_HOLDERS = {**FUNCTIONS, **STATE_MACHINES}


@pytest.mark.parametrize("logical_id", sorted(IAM_HOLDERS))
def test_least_privilege(logical_id: str) -> None:
    """No wildcard action; no mutating action on Resource "*" unless AWS allows no scoping."""
    for statement in _statements(IAM_HOLDERS[logical_id]):
        assert statement["Effect"] == "Allow"
        for action in _actions(statement):
            assert action != "*" and not action.endswith(":*"), f"{logical_id}: wildcard action {action}"
            if statement["Resource"] == "*" and action not in UNSCOPABLE:
                verb = action.split(":", 1)[1]
                assert verb.startswith(READ_VERBS), f"{logical_id}: mutating {action} on Resource '*'"
    for policy in IAM_HOLDERS[logical_id]["Properties"].get("Policies", []):
        assert not (isinstance(policy, str) and "FullAccess" in policy), f"{logical_id}: managed {policy}"


def _resource_text(resource: Any) -> str:
    """A statement's resource as the adapters declare it (Fn::Sub syntax; Ref X -> ${X})."""
    if isinstance(resource, str):
        return resource
    if "Fn::Sub" in resource:
        return str(resource["Fn::Sub"])
    if "Ref" in resource:
        return "${" + str(resource["Ref"]) + "}"
    if "Fn::GetAtt" in resource:
        target = resource["Fn::GetAtt"]
        return "${" + (".".join(target) if isinstance(target, list) else str(target)) + "}"
    raise AssertionError(f"unexpected resource {resource}")


def _grants(logical_id: str, skip: tuple[str, ...] = ("dynamodb:",)) -> set[tuple[str, str]]:
    """(action, resource) pairs a function's own statements grant, its state-table grants aside."""
    found = set()
    for statement in _statements(FUNCTIONS[logical_id]):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in _actions(statement):
            if not action.startswith(skip):
                found.update((action, _resource_text(r)) for r in resources)
    return found


SCALE_PHASES = {
    # Plan reads and guards; Prepare, Apply and Finalize change; Apply and Observe read too.
    "ScaleChangeFunction": ("read", "guard", "apply"),
    # CheckProgress verifies; ObserveAfterError reads.
    "CheckScalingFunction": ("read", "verify"),
}


@pytest.mark.parametrize("function", sorted(SCALE_PHASES))
def test_scale_functions_are_granted_exactly_what_the_adapters_call(function: str) -> None:
    """Actions and resources: every grant is one an adapter's calls need, on the resource they touch."""
    from controlplane.resources import adapter_class, known_kinds

    needs = {
        grant
        for kind in known_kinds()
        for phase in SCALE_PHASES[function]
        for grant in adapter_class(kind).iam.get(phase, ())
    }
    granted = _grants(function)
    assert needs <= granted, f"{function} lacks {sorted(needs - granted)}"
    assert granted <= needs, f"{function} has more than its adapters call: {sorted(granted - needs)}"


def test_check_and_record_may_not_change_resources() -> None:
    for function in ("CheckScalingFunction", "RecordOutcomeFunction"):
        for action, _ in _grants(function, skip=("dynamodb:", "sns:", "events:", "kms:")):
            assert action.split(":", 1)[1].startswith(READ_VERBS), f"{function} may call {action}"


def test_state_table_grants_are_scoped_to_the_items_each_function_owns() -> None:
    """dynamodb:LeadingKeys limits each function to its own item prefixes (leases, marks, audit)."""
    for logical_id in ("ScaleChangeFunction", "CheckScalingFunction", "RecordOutcomeFunction"):
        for statement in _statements(FUNCTIONS[logical_id]):
            if any(a.startswith("dynamodb:") for a in _actions(statement)):
                keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
                assert keys and all(k.endswith("#*") for k in keys), logical_id


def test_no_iam_action_that_does_not_exist() -> None:
    """Transactions are authorized per item (PutItem, UpdateItem, ConditionCheckItem...):
    dynamodb:TransactWriteItems is not an IAM action and grants nothing."""
    for logical_id, resource in IAM_HOLDERS.items():
        for statement in _statements(resource):
            assert "dynamodb:TransactWriteItems" not in _actions(statement), logical_id


def test_identifiers_that_land_in_arns_are_lower_case() -> None:
    """RDS and ElastiCache store identifiers lower-cased; IAM compares ARNs case-sensitively."""
    for name in ("RdsPrimaryIdentifier", "CacheReplicationGroupId"):
        pattern = TEMPLATE["Parameters"][name]["AllowedPattern"]
        assert re.fullmatch(pattern, "sip-prod-postgres") and not re.fullmatch(pattern, "SIP-Prod-Postgres")


def test_functions_write_logs_only_to_their_own_log_group() -> None:
    """SAM attaches AWSLambdaBasicExecutionRole (logs:* writes on every log group) to the roles it
    creates; the permissions boundary caps log writes at the functions' log group."""
    assert TEMPLATE["Globals"]["Function"]["PermissionsBoundary"] == {"Ref": "FunctionsBoundary"}
    statements = RESOURCES["FunctionsBoundary"]["Properties"]["PolicyDocument"]["Statement"]
    logs = [s for s in statements if "Action" in s]
    assert len(logs) == 1 and set(logs[0]["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert "/sip/controlplane/${Environment}/functions:*" in _resource_text(logs[0]["Resource"])
    others = [s for s in statements if "NotAction" in s]
    assert others and all(s["NotAction"] == ["logs:*"] for s in others)


@pytest.mark.parametrize("logical_id", sorted(STATE_MACHINES))
def test_definition_substitutions_match_the_asl(logical_id: str) -> None:
    properties = STATE_MACHINES[logical_id]["Properties"]
    definition = (REPO / properties["DefinitionUri"]).read_text()
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition))
    assert placeholders == set(properties["DefinitionSubstitutions"])
    assert properties["Logging"]["IncludeExecutionData"] is False  # inputs stay out of logs
    assert properties["Tracing"]["Enabled"] is True


def test_samconfig_has_every_environment_and_prod_confirms() -> None:
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    assert {"default", "dev", "staging", "prod"} <= set(config)
    for environment in ("dev", "staging", "prod"):
        deploy = config[environment]["deploy"]["parameters"]
        assert f'Environment="{environment}"' in deploy["parameter_overrides"]
        assert deploy["stack_name"] == f"sip-controlplane-{environment}"
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True
    assert config["dev"]["deploy"]["parameters"]["confirm_changeset"] is False

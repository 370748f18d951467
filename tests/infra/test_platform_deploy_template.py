"""PlatformDeploy in template.yaml, its ASL and its buildspecs: what the sandbox cannot show by running them
(IAM of CodeBuild roles, bucket policy conditions, what the buildspecs do in CodeBuild)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from controlplane.deploy import builds
from controlplane.deploy.policy import load_deploy_policy

from cpctl.sandbox.template import load_template
from tests.conftest import REPO

TEMPLATE = load_template(REPO / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
ASL = json.loads((REPO / "statemachines" / "platform_deploy.asl.json").read_text())
BUILDSPECS = REPO / "infra" / "buildspecs"
PROJECTS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::CodeBuild::Project"}


def _sub(value: Any) -> str:
    return str(value["Fn::Sub"]) if isinstance(value, dict) and "Fn::Sub" in value else str(value)


def _statements(role: str) -> list[dict[str, Any]]:
    return [s for p in RESOURCES[role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _spec(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((BUILDSPECS / f"{name}.yml").read_text()))


def _commands(spec: dict[str, Any]) -> list[str]:
    return [str(c) for phase in spec["phases"].values() for c in phase.get("commands", [])]


def test_functions_name_the_projects_the_template_creates() -> None:
    env = RESOURCES["PlatformDeployFunction"]["Properties"]["Environment"]["Variables"]
    names = {_sub(p["Properties"]["Name"]) for p in PROJECTS.values()}
    assert {_sub(env[k]) for k in ("PLAN_PROJECT", "APPLY_PROJECT", "DRIFT_PROJECT")} == names
    [grant] = [
        s
        for s in RESOURCES["PlatformDeployFunction"]["Properties"]["Policies"][0]["Statement"]
        if s["Sid"] == "RunTerraformBuilds"
    ]
    pattern = re.escape(_sub(grant["Resource"]).rsplit("project/", 1)[1]).replace(r"\*", ".*")
    assert all(re.fullmatch(pattern, name) for name in names)


def test_the_build_function_is_granted_what_it_calls() -> None:
    statements = RESOURCES["PlatformDeployFunction"]["Properties"]["Policies"][0]["Statement"]
    granted = {a for s in statements for a in _list(s["Action"]) if not a.startswith("dynamodb:")}
    assert granted == set(builds.IAM_ACTIONS)
    [lease] = [s for s in statements if s["Sid"] == "PlatformLease"]
    assert lease["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["LOCK#*"]
    [reads] = [s for s in statements if s["Sid"] == "ReadPlanSummaries"]
    assert _sub(reads["Resource"]).endswith("/plans/${Environment}/*")


@pytest.mark.parametrize(("project", "role", "buildspec"), [
    ("PlatformPlanProject", "TerraformPlanRole", "plan"),
    ("PlatformDriftProject", "TerraformPlanRole", "drift"),
    ("PlatformApplyProject", "TerraformApplyRole", "apply"),
])  # fmt: skip
def test_each_project_runs_its_buildspec_with_its_role_one_build_at_a_time(
    project: str, role: str, buildspec: str
) -> None:
    props = PROJECTS[project]["Properties"]
    assert props["ServiceRole"] == {"Fn::GetAtt": [role, "Arn"]}
    assert props["Source"]["BuildSpec"] == f"infra/buildspecs/{buildspec}.yml"
    assert (BUILDSPECS / f"{buildspec}.yml").is_file()
    assert props["ConcurrentBuildLimit"] == 1
    assert props["EncryptionKey"] == {"Fn::GetAtt": ["ArtefactKey", "Arn"]}


PLAN_ROLE_WRITES = {
    # The lock file next to the state (use_lockfile), the plan and its summary, encryption of both.
    ("s3:PutObject", "/*.tflock"), ("s3:DeleteObject", "/*.tflock"), ("s3:PutObject", "/plans/${Environment}/*"),
    ("kms:Decrypt", ""), ("kms:GenerateDataKey", ""), ("logs:CreateLogStream", ""), ("logs:PutLogEvents", ""),
    ("sts:GetCallerIdentity", ""),
}  # fmt: skip


def test_plan_role_cannot_change_the_platform() -> None:
    """Plan and drift builds read: every action that is not Describe/Get/List is one of the few writes
    a plan needs (its lock file, its plan), on exactly those objects."""
    for statement in _statements("TerraformPlanRole"):
        assert statement["Effect"] == "Allow"
        for action in _list(statement["Action"]):
            assert not action.endswith(":*") and action != "*", action
            verb = action.split(":", 1)[1]
            if verb.startswith(("Describe", "Get", "List")):
                continue
            resources = [_sub(r) for r in _list(statement["Resource"])]
            assert any(
                (action, suffix) in PLAN_ROLE_WRITES and all(r.endswith(suffix) for r in resources)
                for suffix in {s for _, s in PLAN_ROLE_WRITES}
            ), (action, resources)


def test_apply_role_never_reaches_the_control_plane_nor_rewrites_plans() -> None:
    denies = {s["Sid"]: s for s in _statements("TerraformApplyRole") if s["Effect"] == "Deny"}
    assert _sub(denies["NotTheControlPlane"]["Resource"]).endswith("role/sip-controlplane-*")
    assert set(denies["PlansAreNotRewritten"]["Action"]) >= {"s3:PutObject", "s3:DeleteObject"}
    allowed = [a for s in _statements("TerraformApplyRole") if s["Effect"] == "Allow" for a in _list(s["Action"])]
    assert "*" not in allowed and "iam:*" in allowed
    [iam] = [s for s in _statements("TerraformApplyRole") if s.get("Sid") == "PlatformIam"]
    assert all(
        ":role/${PlatformProject}-" in _sub(r)
        or "instance-profile" in _sub(r)
        or "policy/" in _sub(r)
        or "oidc-provider" in _sub(r)
        or "aws-service-role" in _sub(r)
        for r in iam["Resource"]
    )


def test_both_roles_reach_terraforms_state_where_the_backend_config_puts_it() -> None:
    """config/backend-<env>.hcl (the Terraform branch): bucket sip-terraform-state-<env>, use_lockfile."""
    state = "arn:${AWS::Partition}:s3:::${PlatformProject}-terraform-state-${Environment}/*"
    for role, needed in (
        ("TerraformPlanRole", {"s3:GetObject"}),
        ("TerraformApplyRole", {"s3:GetObject", "s3:PutObject"}),
    ):
        granted = {
            a
            for s in _statements(role)
            if s["Effect"] == "Allow" and state in [_sub(r) for r in _list(s["Resource"])]
            for a in _list(s["Action"])
        }
        assert needed <= granted, role
    for path in sorted((REPO / "infra" / "terraform" / "config").glob("backend-*.hcl")):
        environment = path.stem.removeprefix("backend-")
        assert (
            f'bucket       = "sip-terraform-state-{environment}"' in path.read_text()
            or f"sip-terraform-state-{environment}" in path.read_text()
        )


def test_buildspec_uploads_take_the_buckets_key() -> None:
    """S3: a request with x-amz-server-side-encryption aws:kms and no key id uses the AWS managed key
    (aws/s3), not the bucket's default key; the uploads send no encryption header, so the artefact key applies."""
    for name in ("plan", "drift"):
        assert "--sse" not in (BUILDSPECS / f"{name}.yml").read_text()


def test_artefact_bucket_is_private_versioned_encrypted_and_tls_only() -> None:
    """S3: "To determine whether requests use HTTPS, use the aws:SecureTransport condition key ... Deny"
    (Amazon S3 security best practices). moto treats every policy condition as met, so the sandbox leaves
    this conditional Deny out (cpctl/sandbox/platform_deploy_support.py) and this test checks it."""
    bucket = RESOURCES["ArtefactBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert (
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    )
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    [tls] = RESOURCES["ArtefactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (tls["Effect"], tls["Action"], tls["Condition"]) == (
        "Deny",
        "s3:*",
        {"Bool": {"aws:SecureTransport": "false"}},
    )


def _reachable(start: str, stop: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name == stop:
            continue
        seen.add(name)
        state = ASL["States"][name]
        nexts = [state.get("Next"), state.get("Default")]
        nexts += [c["Next"] for c in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
        todo += [n for n in nexts if n]
    return seen


def test_every_path_after_the_lease_releases_it() -> None:
    after = _reachable("AcquireLease", stop="ReleaseLease")
    assert {"RequestApproval", "StartApply", "CheckApply"} <= after
    for name in after:
        assert ASL["States"][name]["Type"] not in {"Succeed", "Fail"}, name
        assert name != "RecordOutcome", "a path from the lease to the record skips ReleaseLease"


def test_approval_waits_for_a_token_with_a_heartbeat_and_a_timeout_from_parameters() -> None:
    state = ASL["States"]["RequestApproval"]
    assert state["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert state["Parameters"]["Payload"]["token.$"] == "$$.Task.Token"
    assert (state["TimeoutSecondsPath"], state["HeartbeatSecondsPath"]) == (
        "$.approval.timeout_seconds",
        "$.approval.heartbeat_seconds",
    )
    validate = ASL["States"]["Validate"]["Parameters"]
    assert "${ApprovalTimeoutSeconds}" in validate["approval_timeout_seconds.$"]
    assert "${ApprovalHeartbeatSeconds}" in validate["approval_heartbeat_seconds.$"]
    assert PARAMETERS["ApprovalHeartbeatSeconds"]["MaxValue"] < PARAMETERS["ApprovalTimeoutSeconds"]["MaxValue"]


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_codebuild_ends_a_build_before_the_workflow_gives_up_on_it(environment: str) -> None:
    """A build queued for QueuedTimeoutInMinutes and then run for TimeoutInMinutes ends TIMED_OUT by itself;
    the workflow's budget must be longer, or it would release the lease while an apply still runs."""
    budgets = load_deploy_policy(environment).budgets
    for project, action in (
        ("PlatformPlanProject", "plan"),
        ("PlatformDriftProject", "drift"),
        ("PlatformApplyProject", "apply"),
    ):
        props = PROJECTS[project]["Properties"]
        longest = (int(props["TimeoutInMinutes"]) + int(props["QueuedTimeoutInMinutes"])) * 60
        assert getattr(budgets, action) > longest, (environment, project)


def test_the_longest_deploy_fits_the_execution_timeout() -> None:
    longest = max(
        load_deploy_policy(env).budgets.plan + load_deploy_policy(env).budgets.apply
        for env in ("dev", "staging", "prod")
    )
    assert ASL["TimeoutSeconds"] >= PARAMETERS["ApprovalTimeoutSeconds"]["MaxValue"] + longest + 3600


def test_buildspecs_pin_terraform_and_verify_its_published_checksum() -> None:
    versions = {_spec(name)["env"]["variables"]["TERRAFORM_VERSION"] for name in ("plan", "apply", "drift")}
    [version] = versions  # plan and apply use the same terraform (a saved plan is tied to its version)
    assert re.fullmatch(r"\d+\.\d+\.\d+", version) and tuple(map(int, version.split("."))) >= (1, 11, 1)
    installer = (BUILDSPECS / "install_terraform.sh").read_text()
    assert "SHA256SUMS" in installer and "sha256sum --check --strict" in installer
    for name in ("plan", "apply", "drift"):
        assert _spec(name)["phases"]["install"]["commands"][0] == "infra/buildspecs/install_terraform.sh"


@pytest.mark.parametrize("name", ["plan", "drift"])
def test_plan_buildspecs_treat_exit_code_2_as_changes_and_export_what_the_workflow_reads(name: str) -> None:
    """CodeBuild (ExportedEnvironmentVariable): an exported variable "can be updated between the start of the
    install phase and the end of the post_build phase": the build sets them in post_build, after the upload."""
    spec = _spec(name)
    text = "\n".join(_commands(spec))
    assert "-detailed-exitcode" in text and '[ "$code" -eq 0 ] || [ "$code" -eq 2 ]' in text
    assert (
        '-backend-config="config/backend-${TF_ENV}.hcl"' in text and "terraform show -json tfplan > plan.json" in text
    )
    assert set(spec["env"]["exported-variables"]) == {"PLAN_KEY", "PLAN_SHA256", "SUMMARY_KEY", "PLAN_EXIT_CODE"}
    assert "plan_summary.py plan.json summary.json" in text


def test_plan_is_scanned_by_checkov_and_kept_with_its_hash() -> None:
    text = "\n".join(_commands(_spec("plan")))
    assert "checkov --file plan.json --framework terraform_plan --skip-download" in text
    assert "sha256sum tfplan" in text and '"s3://${ARTIFACT_BUCKET}/${PLAN_KEY}"' in text


def test_apply_checks_the_hash_before_applying_exactly_the_saved_plan() -> None:
    commands = _commands(_spec("apply"))
    verify = next(i for i, c in enumerate(commands) if builds.VERIFY_COMMAND in c)
    apply = next(i for i, c in enumerate(commands) if "terraform apply" in c)
    assert verify < apply and '"$EXPECTED_PLAN_SHA256"' in commands[verify]
    assert commands[apply].rstrip().endswith("-auto-approve tfplan") and "-var-file" not in commands[apply]

"""The sandbox's CodeBuild (moto_patches/codebuild.py): builds that end as Terraform builds would, on demand."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from cpctl.sandbox import platform_deploy_support
from cpctl.sandbox.control import handle

PLAN = "sip-controlplane-dev-tf-plan"
APPLY = "sip-controlplane-dev-tf-apply"
CHANGE = {"address": "aws_security_group.database", "type": "aws_security_group", "actions": ["update"]}


def _start(sandbox: Any, project: str, token: str | None = None, **variables: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "projectName": project,
        "environmentVariablesOverride": [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()],
    }
    if token:
        params["idempotencyToken"] = token
    return dict(sandbox.client("codebuild").start_build(**params)["build"])


def _poll(sandbox: Any, build_id: str) -> dict[str, Any]:
    [build] = sandbox.client("codebuild").batch_get_builds(ids=[build_id])["builds"]
    return dict(build)


def _until_done(sandbox: Any, build_id: str, limit: int = 20) -> tuple[dict[str, Any], int]:
    for polls in range(1, limit + 1):
        build = _poll(sandbox, build_id)
        if build["buildStatus"] != "IN_PROGRESS":
            return build, polls
    raise AssertionError(f"{build_id} never ended")


def _object(sandbox: Any, key: str) -> bytes:
    bucket = sandbox.resources["ArtefactBucket"]["Ref"]
    return bytes(sandbox.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_plan_with_changes_keeps_the_plan_its_hash_and_summary(sandbox: Any) -> None:
    platform_deploy_support.set_changes([CHANGE])
    build = _start(sandbox, PLAN, PLAN_PREFIX="plans/dev/x/")
    assert build["buildStatus"] == "IN_PROGRESS"
    done, polls = _until_done(sandbox, build["id"])
    assert (done["buildStatus"], polls) == ("SUCCEEDED", 2)  # one poll IN_PROGRESS by default
    exported = {v["name"]: v["value"] for v in done["exportedEnvironmentVariables"]}
    assert exported["PLAN_EXIT_CODE"] == "2"
    assert hashlib.sha256(_object(sandbox, exported["PLAN_KEY"])).hexdigest() == exported["PLAN_SHA256"]
    summary = json.loads(_object(sandbox, exported["SUMMARY_KEY"]))
    assert (summary["add"], summary["change"], summary["destroy"]) == (0, 1, 0)
    assert [p["phaseType"] for p in done["phases"]][-1] == "COMPLETED"
    assert done["phases"] == _poll(sandbox, build["id"])["phases"]  # polling again adds nothing


def test_a_plan_without_changes_exits_0(sandbox: Any) -> None:
    done, _ = _until_done(sandbox, _start(sandbox, PLAN, PLAN_PREFIX="plans/dev/y/")["id"])
    assert {v["name"]: v["value"] for v in done["exportedEnvironmentVariables"]}["PLAN_EXIT_CODE"] == "0"


def test_the_same_idempotency_token_returns_the_same_build(sandbox: Any) -> None:
    first = _start(sandbox, PLAN, token="t-1", PLAN_PREFIX="plans/dev/z/")
    again = _start(sandbox, PLAN, token="t-1", PLAN_PREFIX="plans/dev/z/")
    other = _start(sandbox, PLAN, token="t-2", PLAN_PREFIX="plans/dev/z/")
    assert first["id"] == again["id"] != other["id"]
    sandbox.advance_clock(301)  # CodeBuild keeps a token for five minutes
    assert _start(sandbox, PLAN, token="t-1", PLAN_PREFIX="plans/dev/z/")["id"] != first["id"]


def test_a_hold_keeps_the_next_build_in_progress(sandbox: Any) -> None:
    sandbox.state.hold("codebuild", PLAN, polls=5, status="IN_PROGRESS")
    _, polls = _until_done(sandbox, _start(sandbox, PLAN, PLAN_PREFIX="plans/dev/h/")["id"])
    assert polls == 6
    _, polls = _until_done(sandbox, _start(sandbox, PLAN, PLAN_PREFIX="plans/dev/h2/")["id"])
    assert polls == 2  # the hold was for one build


@pytest.mark.parametrize("status", ["FAILED", "FAULT", "TIMED_OUT", "STOPPED"])
def test_fail_build_over_the_control_path_ends_the_next_build(sandbox: Any, status: str) -> None:
    """What `cpctl sandbox fault fail-build --status ...` arms on a served sandbox."""
    body = {
        "service": "codebuild",
        "operation": "StartBuild",
        "code": status,
        "effect": "outcome",
        "message": "Error: boom",
    }
    answer = handle(sandbox.state, "POST", "/_sandbox/faults", json.dumps(body).encode(), dict)
    assert answer[0] == 200
    done, _ = _until_done(sandbox, _start(sandbox, PLAN, PLAN_PREFIX="plans/dev/f/")["id"])
    [failed] = [p for p in done["phases"] if p.get("phaseStatus") == status]
    assert (done["buildStatus"], failed["phaseType"], failed["contexts"][0]["message"]) == (
        status,
        "BUILD",
        "Error: boom",
    )
    assert "exportedEnvironmentVariables" not in done
    assert (
        _until_done(sandbox, _start(sandbox, PLAN, PLAN_PREFIX="plans/dev/g/")["id"])[0]["buildStatus"] == "SUCCEEDED"
    )


def test_apply_refuses_another_plan_and_applies_the_approved_one(sandbox: Any) -> None:
    platform_deploy_support.set_changes([CHANGE])
    planned, _ = _until_done(sandbox, _start(sandbox, PLAN, PLAN_PREFIX="plans/dev/a/")["id"])
    exported = {v["name"]: v["value"] for v in planned["exportedEnvironmentVariables"]}
    wrong = _start(sandbox, APPLY, PLAN_KEY=exported["PLAN_KEY"], EXPECTED_PLAN_SHA256="0" * 64)
    refused, _ = _until_done(sandbox, wrong["id"])
    [failed] = [p for p in refused["phases"] if p.get("phaseStatus") == "FAILED"]
    assert failed["phaseType"] == "PRE_BUILD" and "verify_plan.py" in failed["contexts"][0]["message"]
    assert "exit status 3" in failed["contexts"][0]["message"]
    right = _start(sandbox, APPLY, PLAN_KEY=exported["PLAN_KEY"], EXPECTED_PLAN_SHA256=exported["PLAN_SHA256"])
    assert _until_done(sandbox, right["id"])[0]["buildStatus"] == "SUCCEEDED"
    replanned, _ = _until_done(sandbox, _start(sandbox, PLAN, PLAN_PREFIX="plans/dev/b/")["id"])
    assert {v["name"]: v["value"] for v in replanned["exportedEnvironmentVariables"]}["PLAN_EXIT_CODE"] == "0"


def test_a_function_may_start_only_the_deploy_projects(sandbox: Any) -> None:
    """The IAM rules of cpctl/sandbox/iam_rules/platform_deploy.py: StartBuild and BatchGetBuilds are
    authorized on the project; the deploy function's grant covers its three projects only."""
    sandbox.client("codebuild").create_project(
        name="someone-elses",
        source={"type": "S3", "location": "bucket/source.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "x", "computeType": "BUILD_GENERAL1_SMALL"},
        serviceRole="arn:aws:iam::123456789012:role/x",
    )
    env = sandbox.function_environment("PlatformDeployFunction")
    from controlplane.aws import new_session

    client = new_session().client(
        "codebuild",
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )
    build = client.start_build(
        projectName=PLAN, environmentVariablesOverride=[{"name": "PLAN_PREFIX", "value": "plans/dev/i/"}]
    )["build"]
    assert client.batch_get_builds(ids=[build["id"]])["builds"]
    with pytest.raises(client.exceptions.ClientError, match="AccessDenied"):
        client.start_build(projectName="someone-elses")
    assert [d.action for d in sandbox.denials()] == ["codebuild:StartBuild"]


def test_the_next_plans_changes_over_the_control_path(sandbox: Any) -> None:
    """A served sandbox (cpctl sandbox up) is told what Terraform would change with PUT /_sandbox/terraform."""
    status, answer = handle(
        sandbox.state, "PUT", "/_sandbox/terraform", json.dumps({"changes": [CHANGE]}).encode(), dict
    )
    assert status == 200 and answer["terraform"]["changes"] == [CHANGE]
    done, _ = _until_done(sandbox, _start(sandbox, PLAN, PLAN_PREFIX="plans/dev/c/")["id"])
    assert {v["name"]: v["value"] for v in done["exportedEnvironmentVariables"]}["PLAN_EXIT_CODE"] == "2"
    bad = {"changes": [{**CHANGE, "actions": ["explode"]}]}
    assert handle(sandbox.state, "PUT", "/_sandbox/terraform", json.dumps(bad).encode(), dict)[0] == 400


def test_a_retried_apply_finds_its_build_after_the_token_expired(sandbox: Any) -> None:
    """StartBuild's token lasts five minutes; the apply looks for its own build (DEPLOY_EXECUTION) first."""
    from datetime import UTC, datetime

    from controlplane.deploy import builds
    from controlplane.deploy.models import DeployRequest, PlanArtifact

    cfg = builds.BuildSettings(
        plan_project=PLAN,
        apply_project=APPLY,
        drift_project="d",
        artifact_bucket=sandbox.resources["ArtefactBucket"]["Ref"],
    )
    request = DeployRequest(environment="dev", requester={"type": "person", "id": "a"}, execution="exec-7")  # type: ignore[arg-type]
    artifact = PlanArtifact(
        bucket=cfg.artifact_bucket, key="plans/dev/exec-7/plan.tfplan", sha256="0" * 64, summary_key="s"
    )
    now = datetime.now(UTC)
    first = builds.start("apply", request, cfg, now, artifact)
    sandbox.advance_clock(600)
    again = builds.start("apply", request, cfg, now, artifact)
    other = builds.start("apply", request.model_copy(update={"execution": "exec-8"}), cfg, now, artifact)
    assert first.build_id == again.build_id != other.build_id
    codebuild = sandbox.client("codebuild")
    assert codebuild.list_builds_for_project(projectName=APPLY)["ids"] == [first.build_id, other.build_id]
    newest_first = codebuild.list_builds_for_project(projectName=APPLY, sortOrder="DESCENDING")["ids"]
    assert newest_first == [other.build_id, first.build_id]

"""PlatformDeploy end to end in the sandbox: the real ASL and handlers, CodeBuild emulated as Terraform
builds (cpctl/sandbox/moto_patches/codebuild.py), approvals answered with cpctl.approvals as a person would."""

from __future__ import annotations

import time
from typing import Any

import pytest

from cpctl import approvals
from cpctl.sandbox import platform_deploy_support
from tests.conftest import load_event

DEPLOY = "PlatformDeployStateMachine"
DB_REPLACED = {
    "address": "module.rds.aws_db_instance.this[0]",
    "type": "aws_db_instance",
    "actions": ["delete", "create"],
}
SG_UPDATED = {"address": "aws_security_group.database", "type": "aws_security_group", "actions": ["update"]}
PLAN_PROJECT = "sip-controlplane-dev-tf-plan"
APPROVAL_TIMEOUT = 86_400
APPROVAL_HEARTBEAT = 43_200


def approval_request(sandbox: Any, seen: list[dict[str, Any]] | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """Wait for the approval notification (the execution is then waiting for its task token)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for note in sandbox.notifications():
            if seen is not None:
                seen.append(note)
            if "approval needed" in note["Subject"]:
                return dict(note)
        time.sleep(0.02)
    raise AssertionError("no approval was requested")


def start_with_changes(sandbox: Any, *changes: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    platform_deploy_support.set_changes(list(changes) or [DB_REPLACED, SG_UPDATED])
    arn = sandbox.start_execution(DEPLOY, load_event("terraform/deploy.json"))
    note = approval_request(sandbox)
    return arn, approvals.token_from_notification(note["Message"]), note


def builds_started(sandbox: Any, project: str) -> list[str]:
    return list(sandbox.client("codebuild").list_builds_for_project(projectName=project)["ids"])


def build_variables(sandbox: Any, build_id: str) -> dict[str, str]:
    [build] = sandbox.client("codebuild").batch_get_builds(ids=[build_id])["builds"]
    return {v["name"]: v["value"] for v in build["environment"]["environmentVariables"]}


def assert_released_and_recorded(sandbox: Any, status: str) -> None:
    assert sandbox.lock_items() == []
    assert [a["status"] for a in sandbox.audit_items()] == [status]
    assert sandbox.denials() == []


def test_no_changes_ends_without_asking_anybody(sandbox: Any) -> None:
    report = sandbox.run(DEPLOY, load_event("terraform/deploy.json"))
    assert (report.status, report.outcome) == ("SUCCEEDED", "NoChange")
    assert "RequestApproval" not in report.states_entered and "StartApply" not in report.states_entered
    assert report.calls("StartBuild") == 1
    assert builds_started(sandbox, "sip-controlplane-dev-tf-apply") == []
    assert report.output is not None and report.output["summary"]["has_changes"] is False
    assert sandbox.notifications() == []  # dev policy: NoChange is not notified
    [event] = sandbox.events()
    assert event["detail"]["status"] == "NoChange" and event["detail-type"] == "Platform-Deploy Outcome"
    assert_released_and_recorded(sandbox, "NoChange")


def test_approved_plan_is_applied_exactly_and_the_next_plan_is_empty(sandbox: Any) -> None:
    arn, token, note = start_with_changes(sandbox)
    assert "1 STATEFUL DESTROYS" in note["Subject"]
    assert f"!! STATEFUL DESTROY: {DB_REPLACED['address']}" in note["Message"].splitlines()[1]
    # While a person decides, the platform lease is held by this execution.
    [lease] = sandbox.lock_items()
    assert lease["pk"]["S"] == "LOCK#terraform:platform:dev" and lease["owner"]["S"].startswith("platform-deploy/")
    approvals.approve(token, "bob@example.com", "replacement is planned", client=sandbox.client("stepfunctions"))
    report = sandbox.wait(arn)
    assert (report.status, report.outcome) == ("SUCCEEDED", "Succeeded")
    assert report.output is not None
    assert report.output["approved_by"] == "bob@example.com"
    assert report.output["summary"]["stateful_destroys"] == [DB_REPLACED["address"]]
    [apply_build] = builds_started(sandbox, "sip-controlplane-dev-tf-apply")
    sent = build_variables(sandbox, apply_build)
    assert sent["PLAN_KEY"] == report.output["plan"]["key"]
    assert sent["EXPECTED_PLAN_SHA256"] == report.output["plan"]["sha256"]
    [done] = sandbox.notifications()
    assert "Succeeded" in done["Subject"] and "Approved by: bob@example.com" in done["Message"]
    assert_released_and_recorded(sandbox, "Succeeded")
    again = sandbox.run(DEPLOY, load_event("terraform/deploy.json"))
    assert again.outcome == "NoChange"


def test_rejected_plan_is_not_applied(sandbox: Any) -> None:
    arn, token, _ = start_with_changes(sandbox)
    approvals.reject(token, "not during the sales demo", by="carol@example.com", client=sandbox.client("stepfunctions"))
    report = sandbox.wait(arn)
    assert (report.status, report.error) == ("FAILED", "ApprovalRejected")
    assert "not during the sales demo" in str(report.cause)
    assert "StartApply" not in report.states_entered
    assert builds_started(sandbox, "sip-controlplane-dev-tf-apply") == []
    [note] = sandbox.notifications()
    assert "Rejected" in note["Subject"]
    assert_released_and_recorded(sandbox, "Rejected")


@pytest.mark.parametrize("output", ['{"approved": "yes", "by": "mallory"}', '{"by": "mallory"}', '"yes"', "true"])
def test_anything_but_a_boolean_true_applies_nothing(sandbox: Any, output: str) -> None:
    arn, token, _ = start_with_changes(sandbox)
    sandbox.client("stepfunctions").send_task_success(taskToken=token, output=output)
    report = sandbox.wait(arn)
    assert (report.status, report.error) == ("FAILED", "ApprovalRejected")
    assert builds_started(sandbox, "sip-controlplane-dev-tf-apply") == []
    assert_released_and_recorded(sandbox, "Rejected")


def test_approval_without_heartbeat_times_out(sandbox: Any) -> None:
    arn, _, _ = start_with_changes(sandbox)
    sandbox.advance_clock(APPROVAL_HEARTBEAT + 1)
    report = sandbox.wait(arn)
    assert (report.status, report.error) == ("FAILED", "ApprovalTimedOut")
    assert "States.HeartbeatTimeout" in str(report.cause)
    assert builds_started(sandbox, "sip-controlplane-dev-tf-apply") == []
    [note] = sandbox.notifications()
    assert "TimedOut" in note["Subject"]
    assert_released_and_recorded(sandbox, "TimedOut")


def test_approval_times_out_even_with_heartbeats(sandbox: Any) -> None:
    arn, token, _ = start_with_changes(sandbox)
    sfn = sandbox.client("stepfunctions")
    for _ in range(2):  # a heartbeat every 30,000 s (< 43,200 s): never a heartbeat timeout
        sandbox.advance_clock(30_000)
        approvals.heartbeat(token, client=sfn)
        time.sleep(0.1)
    sandbox.advance_clock(30_000)  # 90,000 s in all: past the 86,400 s the wait may last
    report = sandbox.wait(arn)
    assert (report.status, report.error) == ("FAILED", "ApprovalTimedOut")
    assert "States.Timeout" in str(report.cause)
    with pytest.raises(approvals.ApprovalNotPending):
        approvals.approve(token, "late@example.com", client=sfn)
    assert builds_started(sandbox, "sip-controlplane-dev-tf-apply") == []
    assert_released_and_recorded(sandbox, "TimedOut")


def test_plan_build_failure_is_reported_and_asks_nobody(sandbox: Any) -> None:
    platform_deploy_support.set_changes([SG_UPDATED])
    sandbox.state.arm_outcome("codebuild", "StartBuild", "FAILED", message="Error: Invalid provider configuration")
    report = sandbox.run(DEPLOY, load_event("terraform/deploy.json"))
    assert (report.status, report.error) == ("FAILED", "PlanFailed")
    assert "Invalid provider configuration" in str(report.cause)
    assert "RequestApproval" not in report.states_entered
    [note] = sandbox.notifications()
    assert "Failed" in note["Subject"]
    assert_released_and_recorded(sandbox, "Failed")


def test_apply_failure_is_notified_and_releases_the_lease(sandbox: Any) -> None:
    arn, token, _ = start_with_changes(sandbox)
    sandbox.state.arm_outcome("codebuild", "StartBuild", "FAILED", message="Error: creating RDS DB Instance: quota")
    approvals.approve(token, "bob@example.com", client=sandbox.client("stepfunctions"))
    report = sandbox.wait(arn)
    assert (report.status, report.error) == ("FAILED", "ApplyFailed")
    assert "may be partly changed" in str(report.cause)
    [note] = sandbox.notifications()
    assert "Failed" in note["Subject"] and "Plan: 1 to add, 1 to change, 1 to destroy" in note["Message"]
    assert_released_and_recorded(sandbox, "Failed")


def test_apply_refuses_a_plan_that_is_not_the_approved_one(sandbox: Any) -> None:
    arn, token, note = start_with_changes(sandbox)
    key = next(line.split("/", 3)[3] for line in note["Message"].splitlines() if line.startswith("Plan: s3://"))
    platform_deploy_support.overwrite_plan(sandbox, key)
    approvals.approve(token, "bob@example.com", client=sandbox.client("stepfunctions"))
    report = sandbox.wait(arn)
    assert (report.status, report.outcome) == ("SUCCEEDED", "Blocked")
    assert report.output is not None and report.output["error"] == "PlanHashMismatch"
    assert "nothing was applied" in report.reason
    # The platform still has its changes to make: the refused apply changed nothing.
    assert sandbox.run(DEPLOY, load_event("terraform/dry_run.json")).outcome == "DryRun"
    assert sandbox.lock_items() == []


def test_two_deploys_of_one_environment_never_run_at_once(sandbox: Any) -> None:
    first, token, _ = start_with_changes(sandbox)
    second = sandbox.run(DEPLOY, load_event("terraform/deploy.json"))
    assert (second.status, second.outcome) == ("SUCCEEDED", "Blocked")
    assert second.output is not None and second.output["error"] == "LockHeld"
    assert second.states_entered.count("AcquireLease") == 1 and second.calls("StartBuild") == 0
    assert len(sandbox.lock_items()) == 1  # the second one released nothing of the first's
    approvals.approve(token, "bob@example.com", client=sandbox.client("stepfunctions"))
    assert sandbox.wait(first).outcome == "Succeeded"
    assert sandbox.lock_items() == []


def test_builds_are_polled_until_they_end(sandbox: Any) -> None:
    sandbox.state.hold("codebuild", PLAN_PROJECT, polls=4, status="IN_PROGRESS")
    report = sandbox.run(DEPLOY, load_event("terraform/deploy.json"))
    assert report.outcome == "NoChange"
    assert report.states_entered.count("CheckPlan") == 5
    assert report.calls("BatchGetBuilds") == 5


def test_dry_run_plans_and_applies_nothing(sandbox: Any) -> None:
    platform_deploy_support.set_changes([SG_UPDATED])
    report = sandbox.run(DEPLOY, load_event("terraform/dry_run.json"))
    assert report.outcome == "DryRun"
    assert "RequestApproval" not in report.states_entered
    assert_released_and_recorded(sandbox, "DryRun")


def test_another_environment_is_refused_before_anything_runs(sandbox: Any) -> None:
    report = sandbox.run(DEPLOY, {**load_event("terraform/deploy.json"), "environment": "prod"})
    assert (report.status, report.error) == ("FAILED", "InvalidRequest")
    assert report.calls("StartBuild") == 0 and "AcquireLease" not in report.states_entered


def test_drift_schedule_alerts_on_drift(sandbox: Any) -> None:
    platform_deploy_support.set_changes([SG_UPDATED])
    ok, started = sandbox.fire_schedule("DriftCheckSchedule")
    assert ok
    report = sandbox.wait(started["executionArn"])
    assert (report.status, report.error) == ("FAILED", "DriftDetected")
    assert "RequestApproval" not in report.states_entered
    assert builds_started(sandbox, "sip-controlplane-dev-tf-drift") and not builds_started(sandbox, PLAN_PROJECT)
    [note] = sandbox.notifications()
    assert "Failed" in note["Subject"] and "drift" in note["Message"]
    assert_released_and_recorded(sandbox, "Failed")


def test_drift_schedule_without_drift_is_quiet(sandbox: Any) -> None:
    ok, started = sandbox.fire_schedule("DriftCheckSchedule")
    assert ok
    assert sandbox.wait(started["executionArn"]).outcome == "NoChange"
    assert sandbox.notifications() == []


def test_a_build_task_that_dies_after_starting_its_build_starts_no_second_one(sandbox: Any) -> None:
    """StartBuild succeeded, its answer was lost (the function timed out): the retried plan sends the same
    idempotency token (CodeBuild returns the build already started); the retried apply finds its own build
    before calling StartBuild again (the token would not outlive five minutes of retries)."""
    sandbox.interrupt_state(DEPLOY, "StartPlan", "Sandbox.Timedout", after=("codebuild", "StartBuild"))
    sandbox.interrupt_state(DEPLOY, "StartApply", "Sandbox.Timedout", after=("codebuild", "StartBuild"))
    arn, token, _ = start_with_changes(sandbox, SG_UPDATED)
    approvals.approve(token, "bob@example.com", client=sandbox.client("stepfunctions"))
    report = sandbox.wait(arn)
    assert report.outcome == "Succeeded"
    assert report.states_entered.count("StartPlan") == 1 and report.calls("StartBuild") == 3
    assert report.calls("ListBuildsForProject") == 2
    assert len(builds_started(sandbox, PLAN_PROJECT)) == 1
    assert len(builds_started(sandbox, "sip-controlplane-dev-tf-apply")) == 1
    assert_released_and_recorded(sandbox, "Succeeded")


def test_without_the_startbuild_grant_the_deploy_fails_and_releases_its_lease(tmp_path: Any) -> None:
    """IAM is enforced per function role: a template that forgets codebuild:StartBuild fails in StartPlan."""
    from cpctl.sandbox.runtime import Sandbox
    from tests.conftest import template_copy, without_action

    with Sandbox(template_path=template_copy(tmp_path, without_action("codebuild:StartBuild"))) as sandbox:
        report = sandbox.run(DEPLOY, load_event("terraform/deploy.json"))
        assert (report.status, report.error) == ("FAILED", "ApplyFailed")
        assert "AccessDenied" in str(report.cause)
        assert builds_started(sandbox, PLAN_PROJECT) == []
        assert sandbox.lock_items() == []
        [denied] = {d.action: d for d in sandbox.denials()}.values()
        assert denied.action == "codebuild:StartBuild" and denied.resource.endswith(f":project/{PLAN_PROJECT}")

"""PlatformDeploy: a Terraform change planned, approved and applied; a stateful destroy rejected; a
tampered plan refused; the nightly drift check finding drift. Approvals are answered with
``cpctl.approvals`` from the token in the approval notification, as a person would."""

from __future__ import annotations

import time
from typing import Any, TextIO

from cpctl import approvals
from cpctl.sandbox import platform_deploy_support
from cpctl.sandbox.runtime import Sandbox
from cpctl.sandbox.scenarios import Scenario, ScenarioResult

STATE_MACHINE = "PlatformDeployStateMachine"
NODEGROUP_CHANGE = {
    "address": 'module.eks.module.eks_managed_node_group["general"].aws_eks_node_group.this[0]',
    "type": "aws_eks_node_group",
    "actions": ["update"],
}
NEW_RULE = {
    "address": "aws_security_group_rule.grafana_ingress",
    "type": "aws_security_group_rule",
    "actions": ["create"],
}
DB_REPLACED = {
    "address": "module.rds.module.db_instance.aws_db_instance.this[0]",
    "type": "aws_db_instance",
    "actions": ["delete", "create"],
}
SG_DRIFT = {"address": "aws_security_group.database", "type": "aws_security_group", "actions": ["update"]}


def deploy_request(sandbox: Sandbox, reason: str, **extra: Any) -> dict[str, Any]:
    """A stack deploys its own environment only: the sandbox's."""
    return {
        "environment": sandbox.environment,
        "reason": reason,
        "requester": {"type": "person", "id": "demo"},
        **extra,
    }


def wait_for_approval_request(sandbox: Sandbox, timeout: float = 60.0) -> dict[str, Any] | None:
    """The approval notification (the execution then waits for its task token), or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for note in sandbox.notifications():
            if "approval needed" in str(note.get("Subject", "")):
                return note
        time.sleep(0.02)
    return None


def _apply_builds(sandbox: Sandbox) -> int:
    name = f"sip-controlplane-{sandbox.environment}-tf-apply"
    return len(sandbox.client("codebuild").list_builds_for_project(projectName=name)["ids"])


def approved_change(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    platform_deploy_support.set_changes([NODEGROUP_CHANGE, NEW_RULE])
    sandbox.state.hold("codebuild", f"sip-controlplane-{sandbox.environment}-tf-plan", polls=2, status="IN_PROGRESS")
    arn = sandbox.start_execution(
        STATE_MACHINE, deploy_request(sandbox, "node group labels and a Grafana ingress rule")
    )
    note = wait_for_approval_request(sandbox)
    result.expect(note is not None, "no approval was requested")
    if note is None:
        result.reports.append(sandbox.wait(arn))
        return result
    result.notes.append(f"approval requested: {note['Subject']}")
    result.expect("STATEFUL" not in note["Subject"], "a change without destroys was flagged stateful")
    token = approvals.token_from_notification(note["Message"])
    approvals.approve(token, "platform-lead@example.com", "reviewed the plan", client=sandbox.client("stepfunctions"))
    report = sandbox.wait(arn)
    result.reports.append(report)
    result.expect(report.outcome == "Succeeded", f"deploy ended {report.outcome}: {report.reason}")
    result.expect(sandbox.lock_items() == [], "the platform lease was left behind")
    again = sandbox.run(STATE_MACHINE, deploy_request(sandbox, "anything left?"))
    result.reports.append(again)
    result.expect(again.outcome == "NoChange", f"the plan after the apply found {again.outcome}")
    result.notes.append(f"applied after approval ({report.reason}); the next plan: {again.outcome}")
    sandbox.notifications()
    return result


def stateful_destroy_rejected(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    platform_deploy_support.set_changes([DB_REPLACED, NEW_RULE])
    applies = _apply_builds(sandbox)
    arn = sandbox.start_execution(STATE_MACHINE, deploy_request(sandbox, "engine parameter that forces a replacement"))
    note = wait_for_approval_request(sandbox)
    result.expect(
        note is not None and "1 STATEFUL DESTROYS" in note["Subject"], "the DB replacement was not highlighted"
    )
    if note is not None:
        flagged = [line for line in note["Message"].splitlines() if line.startswith("!! STATEFUL DESTROY")]
        result.notes.append(f"highlighted: {flagged[0] if flagged else 'nothing'}")
        approvals.reject(
            approvals.token_from_notification(note["Message"]),
            "replacing the primary needs a maintenance window",
            client=sandbox.client("stepfunctions"),
        )
    report = sandbox.wait(arn)
    result.reports.append(report)
    result.expect(report.error == "ApprovalRejected", f"deploy ended {report.outcome}")
    result.expect(_apply_builds(sandbox) == applies, "a rejected plan was applied")
    result.expect(sandbox.lock_items() == [], "the platform lease was left behind")
    result.notes.append(str(report.cause))
    platform_deploy_support.set_changes([])
    sandbox.notifications()
    return result


def tampered_plan_refused(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    platform_deploy_support.set_changes([NEW_RULE])
    arn = sandbox.start_execution(STATE_MACHINE, deploy_request(sandbox, "one more ingress rule"))
    note = wait_for_approval_request(sandbox)
    result.expect(note is not None, "no approval was requested")
    if note is not None:
        key = next(line.split("/", 3)[3] for line in note["Message"].splitlines() if line.startswith("Plan: s3://"))
        platform_deploy_support.overwrite_plan(sandbox, key)
        token = approvals.token_from_notification(note["Message"])
        approvals.approve(token, "platform-lead@example.com", "ok", client=sandbox.client("stepfunctions"))
    report = sandbox.wait(arn)
    result.reports.append(report)
    result.expect(report.outcome == "Blocked", f"a tampered plan ended {report.outcome}")
    result.expect(bool(report.output) and report.output.get("error") == "PlanHashMismatch", "not refused for its hash")  # type: ignore[union-attr]
    result.notes.append(f"refused: {report.reason[:110]}")
    platform_deploy_support.set_changes([])
    sandbox.notifications()
    return result


def nightly_drift_check(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    # Someone changed a security group in the console: the platform no longer matches its Terraform.
    platform_deploy_support.set_changes([SG_DRIFT])
    ok, started = sandbox.fire_schedule("DriftCheckSchedule")
    result.expect(ok, f"the drift schedule did not start: {started}")
    report = sandbox.wait(started["executionArn"])
    result.reports.append(report)
    result.expect(report.error == "DriftDetected", f"drift check ended {report.outcome}")
    alerts = [n for n in sandbox.notifications() if "drift" in str(n.get("Message", ""))]
    result.expect(len(alerts) == 1, f"{len(alerts)} drift alerts")
    result.notes.append(f"drift alert: {report.cause}")
    platform_deploy_support.set_changes([])
    return result


SCENARIOS = [
    Scenario("PlatformDeploy: a Terraform change planned, approved, applied", approved_change),
    Scenario("PlatformDeploy: a stateful destroy highlighted and rejected", stateful_destroy_rejected),
    Scenario("PlatformDeploy: a tampered plan refused by the apply build", tampered_plan_refused),
    Scenario("PlatformDeploy: the nightly drift check finds drift", nightly_drift_check),
]

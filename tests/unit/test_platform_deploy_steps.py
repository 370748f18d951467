# ruff: noqa: E501  (table-driven cases read best one per line)
"""PlatformDeploy without AWS: the plan summary and hash check the buildspecs run, the outcome rules,
validation, the lease's lifetime, and the approval helpers' contract."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from controlplane.config import LEASE_RENEWAL_GAP_SECONDS, Settings
from controlplane.deploy import steps
from controlplane.deploy.models import (
    ApprovalSettings,
    BuildRef,
    BuildStatus,
    DeployState,
    PlanArtifact,
    PlanSummary,
    StepError,
)
from controlplane.deploy.policy import load_deploy_policy
from controlplane.leases import InMemoryLeaseStore
from controlplane.models.errors import InvalidRequest, LockHeld
from controlplane.models.outcome import OutcomeStatus

from cpctl import REPO_ROOT, approvals

BUILDSPECS = REPO_ROOT / "infra" / "buildspecs"
NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
APPROVAL = ApprovalSettings(timeout_seconds=86_400, heartbeat_seconds=43_200)
SETTINGS = Settings(
    environment="dev",
    state_table="sip-controlplane-state-dev",
    notify_topic_arn="arn:aws:sns:us-east-1:123456789012:sip-controlplane-notify-dev",
    policy_name="dev",
)
REQUEST = {"environment": "dev", "requester": {"type": "person", "id": "alice@example.com"}}


def _script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, BUILDSPECS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _change(address: str, kind: str, actions: list[str], mode: str = "managed") -> dict[str, Any]:
    return {"address": address, "mode": mode, "type": kind, "change": {"actions": actions}}


def test_plan_summary_counts_as_terraform_prints_and_flags_stateful_destroys() -> None:
    summary = _script("plan_summary").summarise(
        {
            "format_version": "1.2",
            "resource_changes": [
                _change("aws_db_instance.main", "aws_db_instance", ["delete", "create"]),
                _change("aws_s3_bucket.assets", "aws_s3_bucket", ["create", "delete"]),
                _change("aws_security_group.db", "aws_security_group", ["update"]),
                _change("aws_iam_role.node", "aws_iam_role", ["create"]),
                _change("aws_eip.nat", "aws_eip", ["delete"]),
                _change("aws_kms_key.logs", "aws_kms_key", ["no-op"]),
                _change("data.aws_caller_identity.me", "aws_caller_identity", ["read"], mode="data"),
            ],
        }
    )
    # Two replaces count once as add and once as destroy each, as `terraform plan` prints.
    assert (summary["add"], summary["change"], summary["destroy"]) == (3, 1, 3)
    assert summary["stateful_destroys"] == ["aws_db_instance.main", "aws_s3_bucket.assets"]
    assert [r["address"] for r in summary["resources"]] == [
        "aws_db_instance.main",
        "aws_s3_bucket.assets",
        "aws_security_group.db",
        "aws_iam_role.node",
        "aws_eip.nat",
    ]
    PlanSummary.model_validate(summary)  # what the control plane reads


def test_plan_summary_refuses_an_unknown_plan_format() -> None:
    with pytest.raises(ValueError, match="format_version"):
        _script("plan_summary").summarise({"format_version": "0.2", "resource_changes": []})


def test_plan_summary_command_line(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"format_version": "1.2", "resource_changes": []}))
    assert _script("plan_summary").main(["plan_summary.py", str(plan), str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["destroy"] == 0


def test_verify_plan_accepts_only_the_approved_bytes(tmp_path: Path) -> None:
    verify = _script("verify_plan")
    plan = tmp_path / "tfplan"
    plan.write_bytes(b"approved plan")
    good = hashlib.sha256(b"approved plan").hexdigest()
    assert verify.main(["verify_plan.py", str(plan), good]) == 0
    assert verify.main(["verify_plan.py", str(plan), hashlib.sha256(b"other").hexdigest()]) == verify.MISMATCH == 3
    assert verify.main(["verify_plan.py", str(tmp_path / "missing"), good]) == 3
    assert verify.main(["verify_plan.py", str(plan), ""]) == 3


def test_validate_refuses_another_environment_and_bad_input() -> None:
    state = steps.validate_step(REQUEST, "exec-1", SETTINGS, 30, APPROVAL)
    assert state.lease_key == "terraform:platform:dev"
    with pytest.raises(InvalidRequest, match="deploys dev, not prod"):
        steps.validate_step({**REQUEST, "environment": "prod"}, "exec-1", SETTINGS, 30, APPROVAL)
    with pytest.raises(InvalidRequest, match="source_version"):
        steps.validate_step({**REQUEST, "source_version": "main; rm -rf /"}, "exec-1", SETTINGS, 30, APPROVAL)
    with pytest.raises(InvalidRequest, match="heartbeat"):
        steps.validate_step(REQUEST, "e", SETTINGS, 30, ApprovalSettings(timeout_seconds=600, heartbeat_seconds=600))
    with pytest.raises(InvalidRequest):
        steps.validate_step(["not", "an", "object"], "exec-1", SETTINGS, 30, APPROVAL)


def test_the_lease_outlives_the_approval_wait() -> None:
    pol = load_deploy_policy("dev")
    state = steps.validate_step(REQUEST, "exec-1", SETTINGS, 30, APPROVAL)
    assert steps.lease_ttl(state, pol) == APPROVAL.timeout_seconds + LEASE_RENEWAL_GAP_SECONDS
    leases = InMemoryLeaseStore()
    steps.lock_step(state, leases, pol, NOW)
    other = steps.validate_step(REQUEST, "exec-2", SETTINGS, 30, APPROVAL)
    # Just before the approval could time out, a second deploy is still refused.
    with pytest.raises(LockHeld):
        steps.lock_step(other, leases, pol, NOW + timedelta(seconds=APPROVAL.timeout_seconds))


def _state(**fields: Any) -> DeployState:
    base = steps.validate_step(REQUEST, "exec-1", SETTINGS, 30, APPROVAL)
    return base.model_copy(update=fields)


PLAN_REF = BuildRef(action="plan", project="p", build_id="p:1", started_at=NOW)
SUMMARY = PlanSummary(add=1, change=0, destroy=1, stateful_destroys=["aws_db_instance.main"])
ARTIFACT = PlanArtifact(bucket="b", key="plans/dev/exec-1/plan.tfplan", sha256="a" * 64, summary_key="s")
PLANNED = BuildStatus(state="succeeded", status="SUCCEEDED", summary=SUMMARY, artifact=ARTIFACT)
APPROVED = {"approved": True, "by": "bob", "comment": "ok"}


@pytest.mark.parametrize(
    ("fields", "status", "error"),
    [
        ({"plan_build": PLAN_REF, "plan_status": PLANNED.model_copy(update={"summary": PlanSummary(add=0, change=0, destroy=0)})}, "NoChange", None),
        ({"plan_build": PLAN_REF, "plan_status": BuildStatus(state="failed", status="FAILED", detail="boom")}, "Failed", "PlanFailed"),
        ({"plan_status": PLANNED, "approval_error": StepError(Error="ApprovalRejected", Cause="no")}, "Rejected", "ApprovalRejected"),
        ({"plan_status": PLANNED, "approval_error": StepError(Error="States.Timeout")}, "TimedOut", "ApprovalTimedOut"),
        ({"plan_status": PLANNED, "approval_error": StepError(Error="States.HeartbeatTimeout")}, "TimedOut", "ApprovalTimedOut"),
        ({"plan_status": PLANNED, "approval_error": StepError(Error="Lambda.Unknown")}, "Failed", "Lambda.Unknown"),
        ({"plan_status": PLANNED, "decision": {"approved": False, "by": "bob"}}, "Rejected", "ApprovalRejected"),
        ({"plan_status": PLANNED, "decision": {"approved": "yes", "by": "bob"}}, "Rejected", "ApprovalRejected"),
        ({"plan_status": PLANNED, "decision": APPROVED}, "Failed", "NotApplied"),
        ({"plan_status": PLANNED, "decision": APPROVED, "apply_status": BuildStatus(state="refused", status="FAILED")}, "Blocked", "PlanHashMismatch"),
        ({"plan_status": PLANNED, "decision": APPROVED, "apply_status": BuildStatus(state="failed", status="FAULT")}, "Failed", "ApplyFailed"),
        ({"plan_status": PLANNED, "decision": APPROVED, "apply_status": BuildStatus(state="succeeded", status="SUCCEEDED")}, "Succeeded", None),
        ({"error": StepError(Error="LockHeld", Cause='{"errorMessage": "held"}')}, "Blocked", "LockHeld"),
        ({"error": StepError(Error="InvalidRequest", Cause="bad")}, "Rejected", "InvalidRequest"),
    ],
)  # fmt: skip
def test_outcome_rules(fields: dict[str, Any], status: str, error: str | None) -> None:
    outcome = steps.outcome_of(_state(**fields), "exec-1", NOW)
    assert (outcome.status.value, outcome.error) == (status, error)
    assert outcome.audit_key() == "platform#dev"


def test_drift_and_dry_run_outcomes() -> None:
    drift = _state(plan_status=PLANNED, request=_state().request.model_copy(update={"mode": "drift"}))  # type: ignore[union-attr]
    outcome = steps.outcome_of(drift, "exec-1", NOW)
    assert (outcome.status, outcome.error, outcome.drift) == (OutcomeStatus.FAILED, "DriftDetected", True)
    dry = _state(plan_status=PLANNED, request=_state().request.model_copy(update={"dry_run": True}))  # type: ignore[union-attr]
    assert steps.outcome_of(dry, "exec-1", NOW).status == OutcomeStatus.DRY_RUN


def test_notification_puts_stateful_destroys_first() -> None:
    outcome = steps.outcome_of(
        _state(plan_status=PLANNED, decision=APPROVED, apply_status=BuildStatus(state="succeeded", status="SUCCEEDED")),
        "e",
        NOW,
    )
    lines = outcome.notification_lines()
    assert lines[2] == "Plan: 1 to add, 0 to change, 1 to destroy"
    assert lines[3] == "!! STATEFUL DESTROY: aws_db_instance.main"
    subject, body = steps.approval_message(_state(plan_status=PLANNED), "TOKEN", "exec-1")
    assert subject.endswith("(1 STATEFUL DESTROYS)") and len(subject) <= 100
    assert "Approve: cpctl approve TOKEN --by <you> --comment <why>" in body
    assert approvals.token_from_notification(body) == "TOKEN"


def test_apply_needs_an_approval_and_a_saved_plan() -> None:
    pol = load_deploy_policy("dev")
    with pytest.raises(InvalidRequest, match="approved"):
        steps.start_build_step(_state(plan_status=PLANNED), "apply", InMemoryLeaseStore(), pol, None, NOW)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="saved plan"):
        steps.start_build_step(_state(decision=APPROVED), "apply", InMemoryLeaseStore(), pol, None, NOW)  # type: ignore[arg-type]


class FakeSfn:
    """Records what the helpers send; answers like Step Functions for a token no longer waiting."""

    def __init__(self, error: str | None = None) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.error = error

    def _call(self, name: str, **kwargs: Any) -> dict[str, Any]:
        if self.error:
            exc = Exception(self.error)
            exc.response = {"Error": {"Code": self.error}}  # type: ignore[attr-defined]
            raise exc
        self.sent.append((name, kwargs))
        return {}

    def send_task_success(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("success", **kwargs)

    def send_task_failure(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("failure", **kwargs)

    def send_task_heartbeat(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("heartbeat", **kwargs)


def test_approval_helpers_send_exactly_the_contract() -> None:
    sfn = FakeSfn()
    approvals.approve("tok", "bob@example.com", "fine", client=sfn)
    approvals.reject("tok", "not now", by="carol", client=sfn)
    approvals.heartbeat("tok", client=sfn)
    assert sfn.sent == [
        ("success", {"taskToken": "tok", "output": json.dumps({"approved": True, "by": "bob@example.com", "comment": "fine"})}),
        ("failure", {"taskToken": "tok", "error": "ApprovalRejected", "cause": "not now"}),
        ("heartbeat", {"taskToken": "tok"}),
    ]  # fmt: skip
    with pytest.raises(approvals.InvalidApproval):
        approvals.approve("", "bob", client=sfn)
    with pytest.raises(approvals.InvalidApproval):
        approvals.approve("tok", "  ", client=sfn)
    for code in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
        with pytest.raises(approvals.ApprovalNotPending, match=code):
            approvals.approve("tok", "bob", client=FakeSfn(code))


def test_a_build_past_its_budget_is_failed_and_each_poll_renews_the_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    from controlplane.deploy import builds

    pol = load_deploy_policy("dev")
    leases = InMemoryLeaseStore()
    state = _state(plan_build=PLAN_REF)
    steps.lock_step(state, leases, pol, NOW)
    running = BuildStatus(state="in_progress", status="IN_PROGRESS", phase="BUILD")
    monkeypatch.setattr(builds, "status", lambda ref, cfg, polls, types: running.model_copy(update={"polls": polls}))
    early = steps.check_build_step(state, "plan", leases, pol, None, NOW + timedelta(seconds=60))  # type: ignore[arg-type]
    assert (early.state, early.polls) == ("in_progress", 1)
    held = leases.holder("terraform:platform:dev")
    assert held is not None and held.expires_at == int((NOW + timedelta(seconds=60)).timestamp()) + steps.lease_ttl(
        state, pol
    )
    late = steps.check_build_step(
        state.model_copy(update={"plan_status": early}),
        "plan",
        leases,
        pol,
        None,
        NOW + timedelta(seconds=pol.budgets.plan),
    )  # type: ignore[arg-type]
    assert (late.state, late.polls) == ("failed", 2) and "still IN_PROGRESS" in late.detail


def test_a_drift_request_runs_the_drift_project(monkeypatch: pytest.MonkeyPatch) -> None:
    from controlplane.deploy import builds

    started: list[str] = []
    monkeypatch.setattr(
        builds, "start", lambda action, request, cfg, now, artifact=None: started.append(action) or PLAN_REF
    )
    pol = load_deploy_policy("dev")
    leases = InMemoryLeaseStore()
    drift = _state(request=_state().request.model_copy(update={"mode": "drift"}))  # type: ignore[union-attr]
    steps.lock_step(drift, leases, pol, NOW)
    steps.start_build_step(drift, "plan", leases, pol, None, NOW)  # type: ignore[arg-type]
    assert started == ["drift"]
    with pytest.raises(InvalidRequest, match="not a drift build"):
        steps.start_build_step(_state(), "drift", leases, pol, None, NOW)  # type: ignore[arg-type]

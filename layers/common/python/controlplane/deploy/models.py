"""Models of the PlatformDeploy workflow: the request, builds, the plan summary, the approval, the outcome.

The state machine's ``$`` is a ``DeployState``: each task adds one field. Build results come from
CodeBuild (``BatchGetBuilds``): the plan build exports its summary counts, the plan's S3 key and its
SHA-256 as exported environment variables, and writes the full summary next to the plan file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictBool, ValidationError, computed_field

from controlplane.models.base import LenientModel, Model
from controlplane.models.outcome import OutcomeStatus, Requester, WorkflowOutcome

Environment = Literal["dev", "staging", "prod"]
Mode = Literal["deploy", "drift"]
BuildAction = Literal["plan", "apply", "drift"]
SHA256 = r"^[0-9a-f]{64}$"
# A git commit, tag or branch CodeBuild checks out (the same for plan and apply).
SOURCE_VERSION = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$"


class DeployRequest(Model):
    """Plan (and, after approval, apply) the Terraform of one environment; or check it for drift."""

    environment: Environment
    requester: Requester
    mode: Mode = "deploy"
    reason: str = Field(default="platform deploy", min_length=3, max_length=500)
    source_version: str | None = Field(default=None, pattern=SOURCE_VERSION)
    # Plan only: report what would change, ask nobody, apply nothing.
    dry_run: bool = False
    execution: str = Field(default="local", min_length=1, max_length=80)


class ApprovalSettings(Model):
    """How long a person has to decide (the template's ApprovalTimeoutSeconds / ApprovalHeartbeatSeconds)."""

    timeout_seconds: int = Field(ge=60, le=7 * 86_400)
    heartbeat_seconds: int = Field(ge=60, le=7 * 86_400)


class BuildRef(Model):
    """One CodeBuild build this execution started."""

    action: BuildAction
    project: str
    build_id: str
    started_at: datetime


class ResourceChange(Model):
    """One resource a plan changes (from ``terraform show -json``'s ``resource_changes``)."""

    address: str
    type: str
    actions: list[str]
    stateful: bool = False


class PlanSummary(Model):
    """What a plan would do, as ``infra/buildspecs/plan_summary.py`` writes it."""

    add: int = Field(ge=0)
    change: int = Field(ge=0)
    destroy: int = Field(ge=0)
    stateful_destroys: list[str] = Field(default_factory=list)
    resources: list[ResourceChange] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def has_changes(self) -> bool:
        return bool(self.add or self.change or self.destroy)

    def line(self) -> str:
        return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"


class PlanArtifact(Model):
    """The saved plan in the artefact bucket, and the hash the apply build must find."""

    bucket: str
    key: str
    sha256: str = Field(pattern=SHA256)
    summary_key: str


class BuildStatus(Model):
    """One poll of a build. ``state`` is what the state machine branches on."""

    state: Literal["in_progress", "succeeded", "failed", "refused"]
    status: str
    phase: str | None = None
    detail: str = ""
    polls: int = Field(default=1, ge=1)
    # Plan and drift builds that succeeded: what the plan would do, and where it is kept.
    summary: PlanSummary | None = None
    artifact: PlanArtifact | None = None


class Approval(LenientModel):
    """What the approver sent with SendTaskSuccess (``cpctl approve``): ``{"approved": true, "by", "comment"}``."""

    approved: StrictBool
    by: str = Field(min_length=1, max_length=256)
    comment: str = Field(default="", max_length=2000)


class StepError(LenientModel):
    """A Catch's ``$.error``: Step Functions' ``{"Error", "Cause"}``."""

    Error: str
    Cause: str | None = ""


class DeployState(LenientModel):
    """The state machine's ``$``: grows by one field per task."""

    request: DeployRequest | None = None
    lease_key: str | None = None
    poll_seconds: int = Field(default=30, ge=1, le=300)
    approval: ApprovalSettings | None = None
    plan_build: BuildRef | None = None
    plan_status: BuildStatus | None = None
    # SendTaskSuccess's output as sent (parsed by ``decision_of``: a malformed one is no approval).
    decision: Any = None
    apply_build: BuildRef | None = None
    apply_status: BuildStatus | None = None
    error: StepError | None = None
    # RequestApproval's Catch: ApprovalRejected (SendTaskFailure), States.Timeout, States.HeartbeatTimeout.
    approval_error: StepError | None = None


def decision_of(state: DeployState) -> Approval | None:
    """The approver's answer, or None when there was none; a malformed answer approves nothing."""
    if state.decision is None:
        return None
    try:
        return Approval.model_validate(state.decision)
    except ValidationError:
        return Approval(approved=False, by="unknown", comment="malformed approval: expected approved, by, comment")


class DeployOutcome(WorkflowOutcome):
    """What one PlatformDeploy (or drift check) execution amounted to."""

    workflow: str = "platform-deploy"
    environment: str | None = None
    mode: Mode = "deploy"
    summary: PlanSummary | None = None
    plan: PlanArtifact | None = None
    approved_by: str | None = None
    approval_comment: str | None = None
    builds: list[str] = Field(default_factory=list)
    drift: bool = False

    def audit_key(self) -> str:
        return f"platform#{self.environment or 'unknown'}"

    def target(self) -> str:
        label = "drift check" if self.mode == "drift" else "terraform"
        return f"{label} {self.environment or 'unknown'}"

    def notification_lines(self) -> list[str]:
        lines = super().notification_lines()
        if self.summary is not None:
            lines.insert(2, f"Plan: {self.summary.line()}")
            for address in self.summary.stateful_destroys:
                lines.insert(3, f"!! STATEFUL DESTROY: {address}")
        if self.approved_by:
            lines.append(f"Approved by: {self.approved_by} ({self.approval_comment or 'no comment'})")
        return lines


FAILURE_STATUSES = frozenset({OutcomeStatus.FAILED, OutcomeStatus.REJECTED, OutcomeStatus.TIMED_OUT})

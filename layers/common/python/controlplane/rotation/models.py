"""Models of the Rotation workflow: request, plan, per-secret actions, progress, outcome.

Nothing here holds a secret value: secrets are named (name, ARN, version ids), never read into
the workflow's state, so the state machine's history and the outcome carry no credential.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from controlplane.models.base import LenientModel, Model
from controlplane.models.outcome import OutcomeStatus, Requester, WorkflowOutcome

ActionKind = Literal["rotate", "drop_old_token"]


class RotationRequest(Model):
    """Rotate one secret (by name) or every secret that is due; ``dry_run`` stops after the guards."""

    secret: str | None = Field(default=None, min_length=1, max_length=256)
    all_due: bool = False
    reason: str = Field(min_length=3, max_length=500)
    requester: Requester
    dry_run: bool = False
    execution: str = Field(default="local", min_length=1, max_length=80)

    @model_validator(mode="after")
    def _one_target(self) -> RotationRequest:
        if (self.secret is None) == (not self.all_due):
            raise ValueError("give either 'secret' (a name) or 'all_due': true")
        return self


class RotationAction(Model):
    """One change of one secret under the lease of its database or replication group."""

    secret: str
    secret_arn: str
    strategy: str
    action: ActionKind
    resource: str
    lease_key: str
    # AWSCURRENT before the change, and the new version's id (deterministic per execution and secret).
    version_before: str
    token: str
    last_rotated_before: datetime | None = None


class SkippedSecret(Model):
    secret: str
    reason: str
    blocked: bool = False


class ManagedCheck(Model):
    """An RDS-managed master secret (manage_master_user_password): checked, never rotated here."""

    db_instance: str
    secret_arn: str | None = None
    status: Literal["ok", "stale", "not_rotating", "missing"]
    detail: str


class RotationPlan(Model):
    actions: list[RotationAction] = Field(default_factory=list)
    skipped: list[SkippedSecret] = Field(default_factory=list)
    managed_checks: list[ManagedCheck] = Field(default_factory=list)


class ChangeStarted(Model):
    started_at: datetime
    already_applied: bool = False


class ItemProgress(Model):
    polls: int = 0
    state: Literal["in_progress", "done", "timed_out"]
    detail: str = ""


class Verification(Model):
    """What was proven from outside the rotation function, with the credentials themselves."""

    new_works: bool
    old_refused: bool | None = None
    detail: str = ""


class StepError(LenientModel):
    Error: str
    Cause: str = ""


class ItemState(LenientModel):
    """``$`` of one iteration of the state machine's Map over the plan's actions."""

    action: RotationAction
    execution: str
    poll_seconds: int = Field(default=30, ge=1, le=300)
    change: ChangeStarted | None = None
    progress: ItemProgress | None = None
    verification: Verification | None = None
    observation: Verification | None = None
    error: StepError | None = None


class SecretResult(Model):
    secret: str
    action: str
    status: OutcomeStatus
    reason: str


class RotationState(LenientModel):
    request: RotationRequest | None = None
    plan: RotationPlan | None = None
    proceed: bool = False
    poll_seconds: int = Field(default=30, ge=1, le=300)
    results: list[ItemState] = Field(default_factory=list)
    error: StepError | None = None


class RotationOutcome(WorkflowOutcome):
    workflow: str = "rotation"
    target_secret: str | None = None
    secrets: list[SecretResult] = Field(default_factory=list)
    skipped: list[SkippedSecret] = Field(default_factory=list)
    managed_checks: list[ManagedCheck] = Field(default_factory=list)

    def audit_key(self) -> str:
        return f"rotation#{self.target_secret or 'all-due'}"

    def target(self) -> str:
        return self.target_secret or "secrets due"

    def notification_lines(self) -> list[str]:
        lines = super().notification_lines()
        lines += [f"{r.secret}: {r.action} {r.status.value} ({r.reason})" for r in self.secrets]
        lines += [f"{s.secret}: {'blocked' if s.blocked else 'skipped'} ({s.reason})" for s in self.skipped]
        lines += [f"RDS-managed {c.db_instance}: {c.status} ({c.detail})" for c in self.managed_checks]
        return lines

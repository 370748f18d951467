"""Models of the Scale workflow: the request, the plan, guard decisions, leases, progress, outcome.

The workflow state (``$`` in the state machine) is a ``ScaleState``: each task adds
one field, so every later task sees what came before without re-reading it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, SerializeAsAny, computed_field, field_validator, model_validator

from controlplane.models.base import LenientModel, Model
from controlplane.models.lease import Lease
from controlplane.models.outcome import OutcomeStatus, Requester, RequesterType, WorkflowOutcome


class ResourceTarget(Model):
    """What to change. Each resource adapter declares a subclass with its own identifying fields."""

    kind: str

    @property
    def resource_id(self) -> str:
        """A stable id, unique within the kind (cooldowns, audit)."""
        raise NotImplementedError

    @property
    def lease_key(self) -> str:
        """The lease of the physical resource this target changes, shared by every workflow (``leases``)."""
        raise NotImplementedError


class ScaleRequest(Model):
    """A request to move one resource's capacity: either to ``desired`` or by ``delta``."""

    resource: SerializeAsAny[ResourceTarget]
    desired: int | None = Field(default=None, ge=0)
    delta: int | None = None
    reason: str = Field(min_length=3, max_length=500)
    requester: Requester
    dry_run: bool = False
    execution: str = Field(default="local", min_length=1, max_length=80)

    @field_validator("resource", mode="before")
    @classmethod
    def _resource_of_known_kind(cls, value: Any) -> ResourceTarget:
        from controlplane.resources import target_from_dict

        if isinstance(value, ResourceTarget):
            return value
        return target_from_dict(value)

    @model_validator(mode="after")
    def _exactly_one_of_desired_or_delta(self) -> ScaleRequest:
        if (self.desired is None) == (self.delta is None):
            raise ValueError("give exactly one of 'desired' (a target size) or 'delta' (a signed step)")
        if self.delta == 0:
            raise ValueError("'delta' must not be 0")
        return self


class ResourceState(Model):
    """What an adapter read about a resource: enough to plan and guard a change."""

    resource_id: str
    capacity: int = Field(ge=0)
    min_capacity: int = Field(ge=0)
    max_capacity: int = Field(ge=0)
    status: str
    ready: bool
    tags: dict[str, str] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)


class ScalePlan(Model):
    """The change to make. No side effect produced it; apply re-checks ``current`` before acting."""

    kind: str
    resource_id: str
    current: int
    desired: int
    min_capacity: int
    max_capacity: int
    status: str
    details: dict[str, Any] = Field(default_factory=dict)
    # The lease of the physical resource (``leases``): one per DB instance, replication group, node group.
    lease_key: str = Field(default="", max_length=256)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def step(self) -> int:
        return self.desired - self.current

    @computed_field  # type: ignore[prop-decorator]
    @property
    def direction(self) -> Literal["out", "in", "none"]:
        return "out" if self.step > 0 else "in" if self.step < 0 else "none"


class GuardCheck(Model):
    name: str
    passed: bool
    reason: str = ""


class GuardDecision(Model):
    """All guard checks, not only the first failure, so a Blocked notice says everything at once."""

    checks: list[GuardCheck]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def allowed(self) -> bool:
        return all(check.passed for check in self.checks)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reason(self) -> str:
        return "; ".join(f"{c.name}: {c.reason}" for c in self.checks if not c.passed)


class ChangeRecord(Model):
    """What apply did: the AWS request id/token and when, so verify and audit can refer to it."""

    token: str
    change_id: str | None = None
    applied_at: datetime
    already_applied: bool = False
    # Already at the desired capacity because another execution got there first (not a retry of ours).
    applied_by_other: bool = False
    details: dict[str, Any] = Field(default_factory=dict)


ProgressState = Literal["in_progress", "done", "failed", "timed_out"]


class Progress(Model):
    polls: int = Field(ge=0)
    state: ProgressState
    observed: int
    status: str
    detail: str = ""


class Prepared(Model):
    """What the prepare task did before the change, and how long to wait before applying it."""

    wait_seconds: int = Field(default=0, ge=0, le=300)
    details: dict[str, Any] = Field(default_factory=dict)


class Observation(Model):
    """The resource as read once after a step failed: the record says where it is now."""

    observed: int | None = None
    status: str = "unknown"
    # The intent of this execution was written before the failure: the AWS call may have been made.
    intent_recorded: bool = False
    detail: str = ""


class StepError(LenientModel):
    """The ``{"Error", "Cause"}`` object a Catch puts into the state."""

    Error: str
    Cause: str = ""


class ScaleState(LenientModel):
    """The state machine's ``$``: grows by one field per task."""

    request: ScaleRequest | None = None
    plan: ScalePlan | None = None
    decision: GuardDecision | None = None
    # Set by the plan task: go on to lock and apply (a change, allowed, not a dry run)?
    proceed: bool = False
    # Seconds between progress polls: the PollIntervalSeconds substitution (instant waits in the sandbox).
    poll_seconds: int = Field(default=30, ge=1, le=300)
    lock: Lease | None = None
    prepared: Prepared | None = None
    change: ChangeRecord | None = None
    progress: Progress | None = None
    finalized: dict[str, Any] | None = None
    observation: Observation | None = None
    error: StepError | None = None


class Outcome(WorkflowOutcome):
    """The Scale workflow's result: what happened, why, and what the resource looks like now."""

    workflow: str = "scale"
    kind: str | None = None
    resource_id: str | None = None
    current: int | None = None
    desired: int | None = None
    observed: int | None = None
    plan: ScalePlan | None = None
    checks: list[GuardCheck] = Field(default_factory=list)

    def audit_key(self) -> str:
        return f"{self.kind}#{self.resource_id}" if self.kind else "unknown"

    def target(self) -> str:
        return f"{self.kind} {self.resource_id}" if self.kind else "request"

    def notification_lines(self) -> list[str]:
        lines = super().notification_lines()
        lines.insert(3, f"Capacity: {self.current} -> {self.desired} (observed {self.observed})")
        return lines


__all__ = [
    "Lease",
    "Outcome",
    "OutcomeStatus",
    "Requester",
    "RequesterType",
    "ScalePlan",
    "ScaleRequest",
    "ScaleState",
]

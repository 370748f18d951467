"""Inputs, plans, progress and outcomes of the Backup workflow (and the shapes the drill and recovery share)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from controlplane.models.base import LenientModel, Model
from controlplane.models.errors import QuotaExceeded
from controlplane.models.outcome import Requester, WorkflowOutcome

__all__ = ["QuotaExceeded"]

Part = Literal["rds", "cache", "buckets", "eks"]
ALL_PARTS: tuple[Part, ...] = ("rds", "cache", "buckets", "eks")
ProgressState = Literal["in_progress", "done", "failed", "timed_out"]


class BackupRequest(Model):
    """What the schedule or a person asks for. Targets come from the deployment, not the request."""

    requester: Requester
    reason: str = Field(default="daily backup", min_length=1, max_length=500)
    dry_run: bool = False
    parts: list[Part] = Field(default_factory=lambda: list(ALL_PARTS), min_length=1)
    execution: str = Field(min_length=1, max_length=80)


class Check(Model):
    """One verified fact: what, whether it holds, and the evidence."""

    name: str
    passed: bool
    detail: str = ""
    # A miss that is reported but does not fail the run (a copy queued behind the quota).
    warning: bool = False


class RdsPlan(Model):
    db_instance: str
    snapshot_id: str
    lease_key: str
    exists: bool
    dr_region: str
    dr_kms_key: str
    encrypted: bool
    # Manual snapshots (today's and the backlog's) that have no DR copy yet, oldest first.
    copies: list[str] = Field(default_factory=list)


class CachePlan(Model):
    group: str
    snapshot: str
    lease_key: str
    exists: bool
    bucket: str
    export_name: str
    shards: int = Field(ge=1)


class BucketPlan(Model):
    name: str
    region: str
    lease_key: str


class EksPlan(Model):
    cluster: str
    bucket: str
    key: str


class BackupPlan(Model):
    day: str
    retention_class: str
    rds: RdsPlan | None = None
    cache: CachePlan | None = None
    buckets: list[BucketPlan] = Field(default_factory=list)
    eks: EksPlan | None = None
    report_bucket: str
    report_key: str


class Progress(Model):
    """One poll of one part: the state machine waits and polls again while ``in_progress``."""

    part: str
    phase: str
    state: ProgressState
    polls: int = 0
    started_at: datetime
    detail: str = ""
    # Per artefact: id -> status (snapshot "available", copy "queued", ...).
    artefacts: dict[str, str] = Field(default_factory=dict)


class ErrorInfo(LenientModel):
    Error: str = "Unknown"
    Cause: str = ""

    @field_validator("Cause", mode="before")
    @classmethod
    def _no_cause(cls, value: Any) -> Any:
        """A task token failed without a cause (moto drops SendTaskFailure's cause) has none: not an error."""
        return "" if value is None else value


class BackupState(LenientModel):
    """``$`` of the Backup state machine: it grows as the workflow runs (unknown keys ignored)."""

    request: BackupRequest | None = None
    plan: BackupPlan | None = None
    checks: list[Check] = Field(default_factory=list)
    proceed: bool = False
    poll_seconds: int = 30
    rds: Progress | None = None
    copies: Progress | None = None
    cache: Progress | None = None
    buckets: list[Check] | None = None
    eks: Check | None = None
    error: ErrorInfo | None = None
    results: list[dict[str, Any]] | None = None
    report: BackupReport | None = None


class BackupReport(Model):
    """One per run: every check, every artefact; written to S3 and told in the notification."""

    day: str
    execution: str
    checks: list[Check]
    passed: bool
    warnings: int
    location: str = ""


class BackupOutcome(WorkflowOutcome):
    workflow: str = "backup"
    day: str | None = None
    checks: list[Check] = Field(default_factory=list)
    report_location: str | None = None

    def audit_key(self) -> str:
        return "backup#platform"

    def target(self) -> str:
        return f"platform backup {self.day or ''}".strip()

    def notification_lines(self) -> list[str]:
        failed = [c for c in self.checks if not c.passed and not c.warning]
        warned = [c for c in self.checks if not c.passed and c.warning]
        lines = super().notification_lines()
        lines.append(f"Checks: {len(self.checks)} ({len(failed)} failed, {len(warned)} warnings)")
        lines += [f"FAILED {c.name}: {c.detail}" for c in failed[:20]]
        lines += [f"WARNING {c.name}: {c.detail}" for c in warned[:20]]
        if self.report_location:
            lines.append(f"Report: {self.report_location}")
        return lines


BackupState.model_rebuild()

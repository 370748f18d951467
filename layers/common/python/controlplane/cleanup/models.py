"""Boundary models of the Cleanup workflow: the request, artefacts and decisions, work units, outcome."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from controlplane.models.base import LenientModel, Model
from controlplane.models.outcome import Requester, WorkflowOutcome

WORKFLOW = "cleanup"
ArtifactKind = Literal["rds_snapshot", "cache_snapshot", "cache_export", "drill_instance", "replica"]
MANAGED_BY = "ManagedBy"
CONTROLPLANE = "controlplane"


class CleanupRequest(Model):
    """The execution input. ``allow_deletions`` lets one run past the breaker: the operator names the
    exact number of deletions (from a dry run), never above the policy's ``breaker.max_override``."""

    dry_run: bool = False
    requester: Requester | None = None
    reason: str = Field(default="scheduled cleanup", max_length=500)
    allow_deletions: int | None = Field(default=None, ge=1, le=100_000)
    execution: str = Field(min_length=1, max_length=80)


class Artifact(Model):
    """One thing cleanup may judge: a snapshot, an exported snapshot (an S3 prefix), a DB instance."""

    kind: ArtifactKind
    id: str = Field(min_length=1, max_length=1024)
    region: str
    source: str = Field(min_length=1, max_length=255)
    created_at: datetime
    status: str = "available"
    snapshot_type: str = "manual"
    tags: dict[str, str] = Field(default_factory=dict)
    # drill_instance: DrillDeadline; replica: whether its source still exists and it is still a replica.
    deadline: datetime | None = None
    accounted_for: bool = True
    object_count: int = 0

    @property
    def managed(self) -> bool:
        return self.tags.get(MANAGED_BY) == CONTROLPLANE

    @property
    def group(self) -> tuple[str, str, str]:
        """Retention is counted per (kind, region, source)."""
        return (self.kind, self.region, self.source)


class Reason(StrEnum):
    # kept, never touched
    AUTOMATED = "automated"
    FOREIGN = "not_created_by_controlplane"
    LEGAL_HOLD = "legal_hold"
    PROTECTED = "protected"
    NOT_AVAILABLE = "not_available"
    IN_USE = "in_use"
    LATEST_GOOD = "latest_good_backup"
    # kept by the retention policy
    NEWEST_N = "newest_n"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    # orphans that stay (reported)
    DRILL_RUNNING = "drill_before_deadline"
    REPLICA_ACCOUNTED = "replica_accounted_for"
    REPLICA_TOO_YOUNG = "replica_too_young"
    ORPHAN_REPORT_ONLY = "orphan_report_only"
    # deleted
    EXPIRED = "past_retention"
    DRILL_PAST_DEADLINE = "drill_past_deadline"
    ORPHAN_REPLICA = "orphan_replica"


class Decision(Model):
    artifact: Artifact
    action: Literal["keep", "delete"]
    reasons: list[Reason]
    detail: str = ""
    orphan: bool = False


class Breakdown(Model):
    """Counts for people and metrics (by kind, by action, by reason)."""

    artifacts: int = 0
    candidates: int = 0
    deletions: int = 0
    kept: int = 0
    orphans: int = 0
    by_reason: dict[str, int] = Field(default_factory=dict)
    by_kind: dict[str, dict[str, int]] = Field(default_factory=dict)


class BreakerDecision(Model):
    allowed: bool
    reason: str
    deletions: int
    candidates: int
    percent: float
    max_deletions: int
    max_percent: float
    overridden: bool = False


class WorkUnit(Model):
    """The deletions of one source in one region (or the orphans of one kind): one Map iteration."""

    index: int
    kind: ArtifactKind
    region: str
    source: str
    # The source's lease (the same key Scale, Backup and Recovery take), held across the unit's batches.
    lease_key: str | None
    items: list[Artifact]


class PlanSummary(Model):
    plan_key: str
    prefix: str
    bucket: str
    units: list[int]
    # Units left for the next run because this execution's history would not hold them (policy.history_events).
    deferred_units: int = 0
    deferred_items: int = 0
    breakdown: Breakdown
    breaker: BreakerDecision
    # A few decisions for the execution output and the notification; the full plan is in S3.
    kept_sample: list[str] = Field(default_factory=list)
    delete_sample: list[str] = Field(default_factory=list)


class CleanupState(LenientModel):
    """The state machine's ``$`` between tasks (small: counts and S3 keys, never the artefact list)."""

    request: CleanupRequest | None = None
    plan: PlanSummary | None = None
    proceed: bool = False
    error: dict[str, str] | None = None


class UnitTask(LenientModel):
    """The input of LockUnit / DeleteBatch / UnitFailed (Map's ItemSelector plus what earlier states added)."""

    index: int = Field(ge=0)
    prefix: str
    bucket: str
    execution: str
    cursor: int = Field(default=0, ge=0)
    lease_key: str | None = None
    error: dict[str, str] | None = None


class BatchProgress(Model):
    index: int
    prefix: str
    bucket: str
    execution: str
    cursor: int
    done: bool
    lease_key: str | None = None
    deleted: int = 0
    skipped: int = 0


class ItemResult(Model):
    kind: ArtifactKind
    id: str
    region: str
    source: str
    result: Literal["deleted", "already_gone", "skipped", "deferred", "failed"]
    detail: str = ""


class CleanupOutcome(WorkflowOutcome):
    workflow: str = WORKFLOW
    environment: str = ""
    breakdown: Breakdown | None = None
    breaker: BreakerDecision | None = None
    results: dict[str, int] = Field(default_factory=dict)
    report_key: str | None = None
    plan_key: str | None = None
    kept_sample: list[str] = Field(default_factory=list)

    def audit_key(self) -> str:
        return f"cleanup#{self.environment or 'unknown'}"

    def target(self) -> str:
        return f"snapshots and orphans of {self.environment or 'the platform'}"

    def notification_lines(self) -> list[str]:
        lines = super().notification_lines()
        if self.breakdown is not None:
            b = self.breakdown
            lines.append(f"Artefacts: {b.artifacts}; candidates {b.candidates}; planned deletions {b.deletions}")
        if self.breaker is not None and not self.breaker.allowed:
            lines.append(f"Breaker: {self.breaker.reason}")
        if self.results:
            lines.append("Results: " + ", ".join(f"{k} {v}" for k, v in sorted(self.results.items())))
        if self.report_key:
            lines.append(f"Report: {self.report_key}")
        return lines


class PlannedRun(Model):
    """Everything the plan step decided, as written to S3 (``plan.json``)."""

    execution: str
    environment: str
    planned_at: datetime
    timezone: str
    decisions: list[Decision]
    breakdown: Breakdown
    breaker: BreakerDecision

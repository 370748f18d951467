"""The cleanup policy of one environment, as validated data (``policies/cleanup-<env>.json``).

Retention is grandfather-father-son per artefact kind, counted in calendar periods of the policy's
time zone (a "day" is a local day, so a snapshot taken at 23:30 UTC belongs to the next day in
Berlin). The breaker, batch sizes and concurrency are bounded here so that one execution always fits
Step Functions' and Lambda's limits (tests/infra checks the bounds against the ASL).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator

from controlplane.config import POLICY_DIR
from controlplane.models.base import Model
from controlplane.models.errors import InvalidPolicy, validation_problems
from controlplane.models.outcome import OutcomeStatus

RetainedKind = Literal["rds_snapshot", "cache_snapshot", "cache_export"]
# One inline Map iteration per work unit: the plan lists at most this many units (each a source in a region),
# which also bounds the state (a list of small integers) far below the 256 KB payload limit.
MAX_UNITS = 1_000
# Step Functions keeps at most 25,000 events in a standard execution's history (quotas page). The Cleanup state
# machine writes about 30 events outside the Map, 18 per work unit (iteration start/end, LockUnit, UnitDone?,
# HasLease?, ReleaseUnit, UnitEnd) and 7 per batch (DeleteBatch's five task events and the UnitDone? choice).
# A run schedules units only while that stays below the limit less a reserve for retries (3 events each);
# the rest waits for the next run. tests/infra checks these counts against the ASL, and a sandbox run against
# the execution's real history.
HISTORY_LIMIT = 25_000
HISTORY_RETRY_RESERVE = 5_000
HISTORY_FIXED_EVENTS = 30
HISTORY_EVENTS_PER_UNIT = 18
HISTORY_EVENTS_PER_BATCH = 7


def history_events(batches_per_unit: list[int]) -> int:
    """The events an execution writes for these units (without retries)."""
    return (
        HISTORY_FIXED_EVENTS
        + HISTORY_EVENTS_PER_UNIT * len(batches_per_unit)
        + HISTORY_EVENTS_PER_BATCH * sum(batches_per_unit)
    )


# Deletions one DeleteBatch invocation makes at most: 100 calls of at worst 33 s each would not fit, so the task
# also stops early on its own deadline; this bounds the batch file and the result it writes.
MAX_BATCH_SIZE = 200


class Retention(Model):
    """Keep the newest artefact of each of the last ``daily`` local days, ``weekly`` ISO weeks and ``monthly``
    months (the current period included), and always the newest ``keep_last`` of a source."""

    daily: int = Field(ge=0, le=366)
    weekly: int = Field(ge=0, le=260)
    monthly: int = Field(ge=0, le=120)
    keep_last: int = Field(ge=1, le=100)


class OrphanRule(Model):
    """Orphans are always reported; deleted only when ``delete`` is true."""

    delete: bool = False
    # A control-plane replica younger than this is not judged (its Scale execution may still be finishing).
    min_age_seconds: int = Field(default=0, ge=0, le=30 * 86_400)


class Breaker(Model):
    """Past either cap the run deletes nothing, ends Blocked and alerts."""

    max_deletions: int = Field(ge=1, le=100_000)
    max_percent: float = Field(gt=0, le=100)
    # An operator may let one run past the breaker by naming the exact count it would delete
    # (``allow_deletions`` in the request), never more than this.
    max_override: int = Field(ge=0, le=100_000)


class CleanupPolicy(Model):
    environment: Literal["dev", "staging", "prod"]
    timezone: str
    retention: dict[RetainedKind, Retention]
    orphans: dict[Literal["drill_instances", "replicas", "exports"], OrphanRule]
    breaker: Breaker
    batch_size: int = Field(ge=1, le=MAX_BATCH_SIZE)
    # A unit lease (the source's) and a snapshot lease are renewed by every batch; this outlives one batch.
    lease_ttl_seconds: int = Field(ge=300, le=3_600)
    protection_tags: dict[str, str] = Field(default_factory=lambda: {"LegalHold": "true", "Protected": "true"})
    notify_on: list[OutcomeStatus] = Field(
        default_factory=lambda: [OutcomeStatus.BLOCKED, OutcomeStatus.FAILED, OutcomeStatus.SUCCEEDED]
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _every_kind(self) -> CleanupPolicy:
        missing = {"rds_snapshot", "cache_snapshot", "cache_export"} - set(self.retention)
        if missing:
            raise ValueError(f"retention lacks {sorted(missing)}")
        if self.breaker.max_override and self.breaker.max_override < self.breaker.max_deletions:
            raise ValueError("breaker.max_override below breaker.max_deletions lets nothing past the breaker")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def orphan_rule(self, name: Literal["drill_instances", "replicas", "exports"]) -> OrphanRule:
        return self.orphans.get(name, OrphanRule())


def parse_cleanup_policy(data: object) -> CleanupPolicy:
    try:
        return CleanupPolicy.model_validate(data)
    except ValidationError as exc:
        raise InvalidPolicy(f"cleanup policy is invalid: {validation_problems(exc, 'policy')}") from None


@cache
def load_cleanup_policy(environment: str) -> CleanupPolicy:
    path = POLICY_DIR / f"cleanup-{environment}.json"
    if not path.is_file():
        raise InvalidPolicy(f"no cleanup policy cleanup-{environment}.json in {POLICY_DIR.name}/")
    return parse_cleanup_policy(json.loads(path.read_text()))

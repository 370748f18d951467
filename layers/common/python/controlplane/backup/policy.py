"""The backup policy of one environment (``policies/backup-<env>.json``), as validated data.

What the control plane verifies of the managed features (retention, RPO, replication), what it
repairs itself (bucket versioning, where allowed), the time budgets of its waits, and the restore
drill's data checks and targets.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Literal

from pydantic import Field, ValidationError, field_validator

from controlplane.config import LEASE_RENEWAL_GAP_SECONDS, MAX_VERIFY_SECONDS, POLICY_DIR, settings
from controlplane.models.base import Model
from controlplane.models.errors import InvalidPolicy, validation_problems
from controlplane.models.outcome import OutcomeStatus

RetentionClass = Literal["daily", "weekly", "monthly"]
IDENTIFIER = r"^[a-z][a-z0-9_]*$"


class RdsBackupPolicy(Model):
    """RDS: what automated backups must look like, and how long the manual snapshot and its copy may take."""

    min_retention_days: int = Field(ge=1, le=35)
    # The latest restorable time must be at most this old (RDS uploads transaction logs every 5 minutes).
    rpo_minutes: int = Field(ge=5, le=1440)
    require_cross_region_replication: bool = True
    snapshot_timeout_seconds: int = Field(ge=60, le=MAX_VERIFY_SECONDS)
    # After this, a DR copy still in flight (or queued behind the copy quota) is reported, not failed:
    # the next run finds it (or copies it) again.
    copy_timeout_seconds: int = Field(ge=60, le=MAX_VERIFY_SECONDS)
    # Manual snapshots of the last N days that have no DR copy are copied again (the copy queue).
    copy_backlog_days: int = Field(default=7, ge=1, le=35)


class CacheBackupPolicy(Model):
    snapshot_timeout_seconds: int = Field(ge=60, le=MAX_VERIFY_SECONDS)
    export_timeout_seconds: int = Field(ge=60, le=MAX_VERIFY_SECONDS)
    # An exported .rdb file smaller than this is not a sane backup of a cache in use.
    min_export_bytes: int = Field(default=1, ge=1)


class BucketPolicy(Model):
    """One platform bucket: versioning Enabled always; noncurrent-version lifecycle; replication if asked."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    region: Literal["home", "dr"] = "home"
    require_replication_to: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    require_noncurrent_lifecycle: bool = True
    # Versioning found Suspended is re-enabled when true; otherwise it is only reported (and the run fails).
    repair_versioning: bool = False


class TableCheck(Model):
    """A key table of the restored database: its row count must be within tolerance of the source's."""

    name: str = Field(pattern=IDENTIFIER)
    tolerance_percent: float = Field(default=1.0, ge=0, le=100)


class DrillPolicy(Model):
    instance_class: str = Field(pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")
    database: str = Field(pattern=IDENTIFIER)
    # The drill instance's deadline tag: cleanup deletes an instance whose drill died after this.
    max_duration_seconds: int = Field(ge=600, le=MAX_VERIFY_SECONDS)
    restore_timeout_seconds: int = Field(ge=60, le=MAX_VERIFY_SECONDS)
    tables: list[TableCheck] = Field(min_length=1)
    rto_target_seconds: int = Field(ge=60)
    rpo_target_seconds: int = Field(ge=60)


class RecoveryPolicy(Model):
    # Restore, verify and the approval must fit the Recovery execution's 24 h (tests/infra/test_backup_timeouts.py).
    approval_timeout_seconds: int = Field(ge=300, le=43_200)
    # The database's DNS name applications use (a CNAME in the platform's private zone).
    record_ttl_seconds: int = Field(default=30, ge=5, le=3600)


class BackupPolicy(Model):
    retention_class: RetentionClass = "daily"
    rds: RdsBackupPolicy
    cache: CacheBackupPolicy
    buckets: list[BucketPolicy] = Field(min_length=1)
    drill: DrillPolicy
    recovery: RecoveryPolicy
    lock_ttl_seconds: int = Field(ge=LEASE_RENEWAL_GAP_SECONDS, le=43_200)
    notify_on: list[OutcomeStatus] = Field(
        default_factory=lambda: [
            OutcomeStatus.SUCCEEDED,
            OutcomeStatus.BLOCKED,
            OutcomeStatus.REJECTED,
            OutcomeStatus.TIMED_OUT,
            OutcomeStatus.FAILED,
        ]
    )

    @field_validator("buckets")
    @classmethod
    def _unique(cls, value: list[BucketPolicy]) -> list[BucketPolicy]:
        names = [b.name for b in value]
        if len(names) != len(set(names)):
            raise ValueError("a bucket is listed twice")
        return value


def parse_backup_policy(data: object) -> BackupPolicy:
    try:
        return BackupPolicy.model_validate(data)
    except ValidationError as exc:
        raise InvalidPolicy(f"backup policy is invalid: {validation_problems(exc, 'policy')}") from None


@cache
def load_backup_policy(name: str) -> BackupPolicy:
    path = POLICY_DIR / f"backup-{name}.json"
    if not path.is_file():
        raise InvalidPolicy(f"no backup policy named {name!r} in {POLICY_DIR.name}/")
    return parse_backup_policy(json.loads(path.read_text()))


def backup_policy() -> BackupPolicy:
    return load_backup_policy(settings().policy_name)

"""Backup policy, names and the rules that turn a report into an outcome (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from controlplane.backup import naming
from controlplane.backup.models import BackupPlan, BackupReport, BackupRequest, BackupState, Check
from controlplane.backup.policy import load_backup_policy, parse_backup_policy
from controlplane.backup.steps import outcome_of
from controlplane.models.errors import InvalidPolicy
from controlplane.models.outcome import OutcomeStatus

NOW = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_environment_has_a_valid_backup_policy(env: str) -> None:
    pol = load_backup_policy(env)
    assert pol.rds.min_retention_days >= 7
    assert {b.name for b in pol.buckets} == {f"sip-{env}-assets", f"sip-{env}-backups", f"sip-{env}-backups-dr"}


def test_production_only_reports_suspended_versioning() -> None:
    assert not any(b.repair_versioning for b in load_backup_policy("prod").buckets)
    assert all(b.repair_versioning for b in load_backup_policy("dev").buckets)


def test_a_policy_listing_a_bucket_twice_or_a_short_lease_is_refused() -> None:
    data = load_backup_policy("dev").model_dump(mode="json")
    with pytest.raises(InvalidPolicy, match="listed twice"):
        parse_backup_policy({**data, "buckets": data["buckets"] + data["buckets"][:1]})
    with pytest.raises(InvalidPolicy, match="lock_ttl_seconds"):
        parse_backup_policy({**data, "lock_ttl_seconds": 60})


def test_names_are_the_same_all_day_and_fit_rds_limits() -> None:
    assert naming.rds_snapshot_id("sip-dev-postgres", naming.day_of(NOW)) == "cp-sip-dev-postgres-2026-11-27"
    assert naming.is_rds_snapshot_of("cp-sip-dev-postgres-2026-11-27", "sip-dev-postgres")
    assert not naming.is_rds_snapshot_of("cp-sip-dev-postgres-replica-1-2026-11-27", "sip-dev-postgres")
    assert naming.cache_export_name("sip-dev-redis", "2026-11-27") == (
        "elasticache/sip-dev-redis/2026-11-27/cp-sip-dev-redis-2026-11-27"
    )
    assert len(naming.drill_instance_id("x" * 63, NOW)) == 63


def _state(checks: list[Check]) -> BackupState:
    request = BackupRequest.model_validate({"requester": {"type": "schedule", "id": "daily"}, "execution": "e1"})
    plan = BackupPlan(day="2026-11-27", retention_class="daily", report_bucket="b", report_key="k")
    report = BackupReport(
        day="2026-11-27", execution="e1", checks=checks, passed=all(c.passed or c.warning for c in checks),
        warnings=sum(c.warning for c in checks),
    )  # fmt: skip
    return BackupState(request=request, plan=plan, report=report, proceed=True)


def test_a_warning_alone_succeeds_a_miss_fails_and_only_lease_refusals_block() -> None:
    queued = Check(name="rds.x.dr_copy", passed=False, warning=True, detail="queued")
    assert outcome_of(_state([queued]), "e1", NOW, None).status == OutcomeStatus.SUCCEEDED
    missing = Check(name="s3.b.versioning", passed=False, detail="Suspended")
    failed = outcome_of(_state([queued, missing]), "e1", NOW, None)
    assert failed.status == OutcomeStatus.FAILED and failed.error == "IntegrityCheckFailed"
    held = Check(name="rds.run", passed=False, detail="LockHeld: rds:db:x is held by scale/y")
    assert outcome_of(_state([held]), "e1", NOW, None).status == OutcomeStatus.BLOCKED

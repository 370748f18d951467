"""RDS: verify automated backups (Terraform configures them), take the daily manual snapshot and copy
it to the DR region with that region's KMS key. Every call here is idempotent by name."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from controlplane import aws
from controlplane.backup import naming
from controlplane.backup.models import Check
from controlplane.backup.policy import RdsBackupPolicy
from controlplane.models.errors import ApplyFailed, ResourceNotFound, TransientAwsError

# CopyDBSnapshot answers this when too many copies are in flight to the destination region (RDS allows
# 20 per destination region and account) or the manual-snapshot quota is reached: the copy is queued.
QUOTA_CODES = frozenset({"SnapshotQuotaExceeded", "SnapshotQuotaExceededFault"})
NOT_FOUND = frozenset({"DBSnapshotNotFound", "DBSnapshotNotFoundFault"})


def _raise_transient(exc: Exception) -> None:
    if aws.is_retryable(exc):
        raise TransientAwsError(f"{aws.error_code(exc) or type(exc).__name__} from RDS") from exc


def describe_instance(rds: Any, db_instance: str) -> dict[str, Any]:
    try:
        return dict(rds.describe_db_instances(DBInstanceIdentifier=db_instance)["DBInstances"][0])
    except Exception as exc:
        _raise_transient(exc)
        if aws.error_code(exc) in {"DBInstanceNotFound", "DBInstanceNotFoundFault"}:
            raise ResourceNotFound(f"no DB instance {db_instance}") from None
        raise


def snapshot(rds: Any, snapshot_id: str) -> dict[str, Any] | None:
    try:
        found = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"]
    except Exception as exc:
        _raise_transient(exc)
        if aws.error_code(exc) in NOT_FOUND:
            return None
        raise
    return dict(found[0]) if found else None


def verify_automated(instance: dict[str, Any], pol: RdsBackupPolicy, dr_region: str, now: datetime) -> list[Check]:
    """What Terraform configured, checked every day: retention, RPO, cross-region replication."""
    db = instance["DBInstanceIdentifier"]
    retention = int(instance.get("BackupRetentionPeriod") or 0)
    checks = [
        Check(
            name=f"rds.{db}.retention",
            passed=retention >= pol.min_retention_days,
            detail=f"automated backups kept {retention} days (policy: at least {pol.min_retention_days})",
        )
    ]
    restorable = instance.get("LatestRestorableTime")
    if isinstance(restorable, datetime):
        age = now - restorable
        checks.append(
            Check(
                name=f"rds.{db}.rpo",
                passed=age <= timedelta(minutes=pol.rpo_minutes),
                detail=f"latest restorable time {restorable.isoformat()} is {int(age.total_seconds())}s old "
                f"(RPO {pol.rpo_minutes} min)",
            )
        )
    else:
        checks.append(Check(name=f"rds.{db}.rpo", passed=False, detail="no latest restorable time"))
    if pol.require_cross_region_replication:
        arns = [
            str(r.get("DBInstanceAutomatedBackupsArn", ""))
            for r in instance.get("DBInstanceAutomatedBackupsReplications") or []
        ]
        in_dr = [a for a in arns if a.split(":")[3:4] == [dr_region]]
        checks.append(
            Check(
                name=f"rds.{db}.cross_region_replication",
                passed=bool(in_dr),
                detail=f"automated backups replicated to {dr_region}"
                if in_dr
                else f"no automated backup replication to {dr_region}",
            )
        )
    return checks


def manual_snapshots(rds: Any, db_instance: str) -> list[dict[str, Any]]:
    """The control plane's daily manual snapshots of one instance (``cp-<db>-<day>``)."""
    found: list[dict[str, Any]] = []
    try:
        for page in rds.get_paginator("describe_db_snapshots").paginate(
            DBInstanceIdentifier=db_instance, SnapshotType="manual"
        ):
            found += [
                s for s in page["DBSnapshots"] if naming.is_rds_snapshot_of(s["DBSnapshotIdentifier"], db_instance)
            ]
    except Exception as exc:
        _raise_transient(exc)
        raise
    return found


def pending_copies(rds: Any, dr_rds: Any, db_instance: str, today: str, backlog_days: int, now: datetime) -> list[str]:
    """Today's snapshot and the backlog's that have no copy in the DR region yet (oldest first): the copy
    queue is the snapshots themselves, so a copy refused by the quota today is made by a later run."""
    oldest = naming.day_of(now - timedelta(days=backlog_days))
    wanted = {naming.rds_snapshot_id(db_instance, today)}
    for found in manual_snapshots(rds, db_instance):
        day = found["DBSnapshotIdentifier"][-10:]
        if oldest <= day <= today:
            wanted.add(found["DBSnapshotIdentifier"])
    return sorted((s for s in wanted if snapshot(dr_rds, s) is None), key=lambda s: s[-10:])


def create_snapshot(rds: Any, db_instance: str, snapshot_id: str, tags: dict[str, str]) -> dict[str, Any]:
    """CreateDBSnapshot; an existing snapshot of the same name *of this instance* is ours (same day)."""
    try:
        return dict(
            rds.create_db_snapshot(
                DBInstanceIdentifier=db_instance, DBSnapshotIdentifier=snapshot_id, Tags=naming.tag_list(tags)
            )["DBSnapshot"]
        )
    except Exception as exc:
        _raise_transient(exc)
        if aws.error_code(exc) in QUOTA_CODES:
            from controlplane.models.errors import QuotaExceeded

            raise QuotaExceeded(f"CreateDBSnapshot {snapshot_id}: the manual snapshot quota is reached") from None
        if aws.error_code(exc) not in {"DBSnapshotAlreadyExists", "DBSnapshotAlreadyExistsFault"}:
            raise ApplyFailed(f"CreateDBSnapshot {snapshot_id}: {aws.error_code(exc) or exc}") from None
    existing = snapshot(rds, snapshot_id)
    if existing is None or existing.get("DBInstanceIdentifier") != db_instance:
        raise ApplyFailed(f"snapshot {snapshot_id} exists but is not a snapshot of {db_instance}")
    return existing


def start_copy(
    dr_rds: Any, home_region: str, source_arn: str, snapshot_id: str, kms_key: str, tags: dict[str, str]
) -> str:
    """CopyDBSnapshot, called in the DR region (the destination). Encrypted cross-region copies need the
    destination region's KMS key; ``SourceRegion`` makes botocore sign the pre-signed URL RDS needs.
    Returns ``copying``, ``queued`` (copy quota reached: not a failure) or the existing copy's status."""
    try:
        answer = dr_rds.copy_db_snapshot(
            SourceDBSnapshotIdentifier=source_arn,
            TargetDBSnapshotIdentifier=snapshot_id,
            KmsKeyId=kms_key,
            SourceRegion=home_region,
            Tags=naming.tag_list(tags),
        )
        return str(answer["DBSnapshot"].get("Status", "pending"))
    except Exception as exc:
        code = aws.error_code(exc)
        if code in QUOTA_CODES:
            return "queued"
        _raise_transient(exc)
        if code in {"DBSnapshotAlreadyExists", "DBSnapshotAlreadyExistsFault"}:
            existing = snapshot(dr_rds, snapshot_id)
            return str(existing.get("Status", "unknown")) if existing else "unknown"
        raise ApplyFailed(f"CopyDBSnapshot {snapshot_id} to the DR region: {code or exc}") from None


def restore(
    rds: Any,
    instance_id: str,
    snapshot_id: str,
    instance_class: str,
    source: dict[str, Any],
    tags: dict[str, str],
) -> dict[str, Any]:
    """RestoreDBInstanceFromDBSnapshot into the source's network, with a new managed master secret (the
    verifier reads it; RDS deletes it with the instance). An existing instance of that name is ours."""
    params: dict[str, Any] = {
        "DBInstanceIdentifier": instance_id,
        "DBSnapshotIdentifier": snapshot_id,
        "DBInstanceClass": instance_class,
        "MultiAZ": False,
        "PubliclyAccessible": False,
        "DeletionProtection": False,
        "ManageMasterUserPassword": True,
        "Tags": naming.tag_list(tags),
    }
    subnet_group = (source.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
    if subnet_group:
        params["DBSubnetGroupName"] = subnet_group
    groups = [g["VpcSecurityGroupId"] for g in source.get("VpcSecurityGroups") or [] if g.get("VpcSecurityGroupId")]
    if groups:
        params["VpcSecurityGroupIds"] = groups
    try:
        return dict(rds.restore_db_instance_from_db_snapshot(**params)["DBInstance"])
    except Exception as exc:
        _raise_transient(exc)
        if aws.error_code(exc) not in {"DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault"}:
            raise ApplyFailed(f"RestoreDBInstanceFromDBSnapshot {instance_id}: {aws.error_code(exc) or exc}") from None
    return describe_instance(rds, instance_id)


def delete_instance(rds: Any, instance_id: str) -> str:
    """Delete a drill or recovery instance (no final snapshot: it is a copy); gone already is done."""
    try:
        rds.delete_db_instance(DBInstanceIdentifier=instance_id, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
    except Exception as exc:
        _raise_transient(exc)
        code = aws.error_code(exc)
        if code in {"DBInstanceNotFound", "DBInstanceNotFoundFault"}:
            return "gone"
        if code in {"InvalidDBInstanceState", "InvalidDBInstanceStateFault"}:
            return "busy"
        raise
    return "deleting"

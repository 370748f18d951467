"""One deletion per artefact kind: read it again, re-check every protection, delete; "already gone" is success.

A snapshot may have been tagged ``LegalHold`` or started being copied since the plan was made: the fresh
read decides, not the plan. AWS error codes (API references): RDS ``DeleteDBSnapshot`` answers
``DBSnapshotNotFound`` (404) and ``InvalidDBSnapshotState`` (400, not ``available``); ElastiCache
``DeleteSnapshot`` answers ``SnapshotNotFoundFault`` and ``InvalidSnapshotState``; ``DeleteDBInstance``
answers ``DBInstanceNotFound`` and ``InvalidDBInstanceState`` (e.g. already ``deleting``).
Throttling and service faults become ``TransientAwsError`` (the state machine retries the batch).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controlplane import aws
from controlplane.cleanup import inventory
from controlplane.cleanup.models import Artifact
from controlplane.cleanup.policy import CleanupPolicy
from controlplane.cleanup.retention import protection
from controlplane.models.errors import TransientAwsError

GONE = {
    "DBSnapshotNotFound",
    "DBSnapshotNotFoundFault",
    "SnapshotNotFoundFault",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "NoSuchBucket",
}
REFUSED_STATE = {
    "InvalidDBSnapshotState",
    "InvalidDBSnapshotStateFault",
    "InvalidSnapshotState",
    "InvalidSnapshotStateFault",
    "InvalidDBInstanceState",
    "InvalidDBInstanceStateFault",
}


def _call(service: str, region: str, operation: str, **kwargs: Any) -> Any:
    try:
        return getattr(aws.client(service, region), operation)(**kwargs)
    except Exception as exc:
        if aws.is_retryable(exc):
            raise TransientAwsError(f"{service} {operation}: {aws.error_code(exc)}") from None
        raise


# DescribeDBSnapshots takes several ids in one ``db-snapshot-id`` filter: one read per 50 snapshots of a batch
# instead of one per snapshot (RDS API reference, DescribeDBSnapshots Filters).
IDS_PER_READ = 50


class AwsDeleter:
    """Deletes through the AWS APIs; ``prefetch`` reads a batch's RDS snapshots in a few calls first."""

    def __init__(self) -> None:
        self.fresh: dict[tuple[str, str], dict[str, Any] | None] = {}

    def prefetch(self, items: list[Artifact]) -> None:
        by_region: dict[str, list[str]] = {}
        for artifact in items:
            if artifact.kind == "rds_snapshot":
                by_region.setdefault(artifact.region, []).append(artifact.id)
        for region, ids in by_region.items():
            for start in range(0, len(ids), IDS_PER_READ):
                chunk = ids[start : start + IDS_PER_READ]
                self.fresh.update(dict.fromkeys(((region, i.lower()) for i in chunk), None))
                paginator = aws.client("rds", region).get_paginator("describe_db_snapshots")
                try:
                    for page in paginator.paginate(Filters=[{"Name": "db-snapshot-id", "Values": chunk}]):
                        inventory.CALLS["rds.describe_db_snapshots"] += 1
                        for raw in page.get("DBSnapshots", []):
                            self.fresh[(region, str(raw["DBSnapshotIdentifier"]).lower())] = raw
                except Exception as exc:
                    if aws.is_retryable(exc):
                        raise TransientAwsError(f"rds DescribeDBSnapshots: {aws.error_code(exc)}") from None
                    raise

    def __call__(self, artifact: Artifact, pol: CleanupPolicy, now: datetime) -> tuple[str, str]:
        key = (artifact.region, artifact.id.lower())
        if artifact.kind == "rds_snapshot" and key in self.fresh:
            raw = self.fresh[key]
            if raw is None:
                return "already_gone", "not found when the batch was read"
            return delete_one(artifact, pol, now, raw)
        return delete_one(artifact, pol, now)


def delete_one(  # noqa: PLR0911
    artifact: Artifact, pol: CleanupPolicy, now: datetime, fresh: dict[str, Any] | None = None
) -> tuple[str, str]:
    """(result, detail): deleted, already_gone, skipped (with why) or failed (with the AWS error code)."""
    try:
        if artifact.kind == "rds_snapshot":
            return _rds_snapshot(artifact, pol, now, fresh)
        if artifact.kind == "cache_snapshot":
            return _cache_snapshot(artifact, pol, now)
        if artifact.kind == "cache_export":
            return _export(artifact)
        return _instance(artifact, pol, now)
    except TransientAwsError:
        raise
    except Exception as exc:
        code = aws.error_code(exc)
        if code in GONE:
            return "already_gone", code or ""
        if code in REFUSED_STATE:
            return "skipped", f"{code}: AWS refuses to delete it in its current state"
        if code is None:
            raise
        return "failed", code


def _rds_snapshot(artifact: Artifact, pol: CleanupPolicy, now: datetime, raw: dict[str, Any] | None) -> tuple[str, str]:
    if raw is None:
        raw = _call("rds", artifact.region, "describe_db_snapshots", DBSnapshotIdentifier=artifact.id)["DBSnapshots"][0]
    fresh = inventory.rds_snapshot(raw, artifact.region, now)
    why = protection(fresh, pol.protection_tags)
    if why is not None:
        return "skipped", f"now {why.value}"
    _call("rds", artifact.region, "delete_db_snapshot", DBSnapshotIdentifier=artifact.id)
    return "deleted", ""


def _cache_snapshot(artifact: Artifact, pol: CleanupPolicy, now: datetime) -> tuple[str, str]:
    found = _call("elasticache", artifact.region, "describe_snapshots", SnapshotName=artifact.id)["Snapshots"]
    tags = inventory.cache_tags(str(found[0]["ARN"]), artifact.region) if found[0].get("ARN") else {}
    fresh = inventory.cache_snapshot(found[0], artifact.region, now, tags)
    why = protection(fresh, pol.protection_tags)
    if why is not None:
        return "skipped", f"now {why.value}"
    _call("elasticache", artifact.region, "delete_snapshot", SnapshotName=artifact.id)
    return "deleted", ""


def _export(artifact: Artifact) -> tuple[str, str]:
    """Every object under the prefix, 1,000 keys per DeleteObjects (the API's maximum)."""
    bucket, _, prefix = artifact.id.removeprefix("s3://").partition("/")
    s3 = aws.client("s3", artifact.region)
    keys = [
        str(item["Key"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
    if not keys:
        return "already_gone", "no objects under the prefix"
    errors = []
    for start in range(0, len(keys), 1000):
        chunk = [{"Key": key} for key in keys[start : start + 1000]]
        response = _call(
            "s3", artifact.region, "delete_objects", Bucket=bucket, Delete={"Objects": chunk, "Quiet": True}
        )
        errors += [str(e.get("Code")) for e in response.get("Errors", [])]
    if errors:
        return "failed", f"{len(errors)} of {len(keys)} objects not deleted ({errors[0]})"
    return "deleted", f"{len(keys)} objects"


def _instance(artifact: Artifact, pol: CleanupPolicy, now: datetime) -> tuple[str, str]:
    found = _call("rds", artifact.region, "describe_db_instances", DBInstanceIdentifier=artifact.id)["DBInstances"]
    raw = found[0]
    tags = inventory.tags_of(raw.get("TagList"))
    fresh = artifact.model_copy(update={"tags": tags})
    why = protection(fresh, pol.protection_tags)
    if why is not None:
        return "skipped", f"now {why.value}"
    if raw.get("DBInstanceStatus") == "deleting":
        return "already_gone", "deleting"
    if artifact.kind == "drill_instance":
        deadline = inventory._deadline(tags.get("DrillDeadline"))
        if deadline is None or deadline > now:
            return "skipped", "the drill's deadline moved"
    elif raw.get("ReadReplicaDBInstanceIdentifiers"):
        return "skipped", "it is itself a replication source"
    _call(
        "rds",
        artifact.region,
        "delete_db_instance",
        DBInstanceIdentifier=artifact.id,
        SkipFinalSnapshot=True,
        DeleteAutomatedBackups=True,
    )
    return "deleted", ""

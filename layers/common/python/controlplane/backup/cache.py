"""ElastiCache: the daily snapshot of the replication group, exported to the backups bucket (which
replicates to the DR region: ElastiCache has no cross-region snapshot copy of its own)."""

from __future__ import annotations

from typing import Any

from controlplane import aws
from controlplane.backup import naming
from controlplane.models.errors import ApplyFailed, ResourceNotFound, TransientAwsError


def _raise_transient(exc: Exception) -> None:
    if aws.is_retryable(exc):
        raise TransientAwsError(f"{aws.error_code(exc) or type(exc).__name__} from ElastiCache") from exc


def describe_group(ec: Any, group: str) -> dict[str, Any]:
    try:
        return dict(ec.describe_replication_groups(ReplicationGroupId=group)["ReplicationGroups"][0])
    except Exception as exc:
        _raise_transient(exc)
        if aws.error_code(exc) in {"ReplicationGroupNotFoundFault", "ReplicationGroupNotFound"}:
            raise ResourceNotFound(f"no replication group {group}") from None
        raise


def snapshot(ec: Any, name: str) -> dict[str, Any] | None:
    try:
        found = ec.describe_snapshots(SnapshotName=name)["Snapshots"]
    except Exception as exc:
        _raise_transient(exc)
        if aws.error_code(exc) in {"SnapshotNotFoundFault", "SnapshotNotFound"}:
            return None
        raise
    return dict(found[0]) if found else None


def create_snapshot(ec: Any, group: str, name: str, tags: dict[str, str]) -> str:
    """CreateSnapshot of the whole group (every shard); an existing one of this group is ours (same day)."""
    try:
        return str(
            ec.create_snapshot(ReplicationGroupId=group, SnapshotName=name, Tags=naming.tag_list(tags))["Snapshot"][
                "SnapshotStatus"
            ]
        )
    except Exception as exc:
        _raise_transient(exc)
        code = aws.error_code(exc)
        if code == "InvalidReplicationGroupState":
            from controlplane.models.errors import ResourceBusy

            raise ResourceBusy(f"{group} is being changed; the snapshot waits") from None
        if code in {"SnapshotQuotaExceededFault", "SnapshotQuotaExceeded"}:
            from controlplane.models.errors import QuotaExceeded

            raise QuotaExceeded(f"CreateSnapshot {name}: the snapshot quota is reached") from None
        if code not in {"SnapshotAlreadyExistsFault", "SnapshotAlreadyExists"}:
            raise ApplyFailed(f"CreateSnapshot {name}: {code or exc}") from None
    existing = snapshot(ec, name)
    if existing is None or existing.get("ReplicationGroupId") != group:
        raise ApplyFailed(f"snapshot {name} exists but is not a snapshot of {group}")
    return str(existing.get("SnapshotStatus", "unknown"))


def exported_objects(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """The exported ``.rdb`` files under the day's prefix: key -> size."""
    found: dict[str, int] = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if str(item["Key"]).endswith(".rdb"):
                    found[str(item["Key"])] = int(item["Size"])
    except Exception as exc:
        _raise_transient(exc)
        raise
    return found


def start_export(ec: Any, name: str, export_name: str, bucket: str) -> None:
    """CopySnapshot with TargetBucket: ElastiCache writes the .rdb files into the bucket (which must grant
    ElastiCache READ, WRITE and READ_ACP: Terraform's bucket ACL). Objects there already: done."""
    try:
        ec.copy_snapshot(SourceSnapshotName=name, TargetSnapshotName=export_name, TargetBucket=bucket)
    except Exception as exc:
        _raise_transient(exc)
        message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
        if "already contains an object" in message:
            return
        raise ApplyFailed(f"exporting {name} to s3://{bucket}: {aws.error_code(exc)}: {message[:200]}") from None

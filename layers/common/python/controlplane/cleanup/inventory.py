"""Listing what cleanup judges, with botocore paginators (every page, the fewest calls the APIs allow).

- RDS manual snapshots: ``DescribeDBSnapshots(SnapshotType=manual)``, 100 per page; tags come in the
  response (``TagList``). Automated snapshots are not listed at all (and never touched).
- ElastiCache snapshots: ``DescribeSnapshots``, 50 per page; tags need ``ListTagsForResource`` per
  snapshot, asked only for names that follow the control plane's convention (``cp-…``): another name
  cannot be ours, so it is kept as foreign without a call.
- Exported cache snapshots: ``ListObjectsV2`` under ``elasticache/`` (1,000 keys per page), one artefact
  per ``elasticache/<group>/<YYYY-MM-DD>/`` prefix, dated by its name (UTC).
- DB instances (drills past their deadline, control-plane replicas): ``DescribeDBInstances``, 100 per page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from controlplane import aws
from controlplane.cleanup.models import CONTROLPLANE, MANAGED_BY, Artifact
from controlplane.models.errors import TransientAwsError

EXPORT_ROOT = "elasticache/"
CALLS: dict[str, int] = defaultdict(int)  # per (service.operation): the benchmark's API-call count


def _pages(service: str, operation: str, region: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    paginator = aws.client(service, region).get_paginator(operation)
    try:
        for page in paginator.paginate(**kwargs):
            CALLS[f"{service}.{operation}"] += 1
            yield page
    except Exception as exc:
        if aws.is_retryable(exc):
            raise TransientAwsError(f"{service} {operation} in {region}: {aws.error_code(exc)}") from None
        raise


def tags_of(tag_list: list[dict[str, str]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in tag_list or []}


def _aware(value: Any, fallback: datetime) -> datetime:
    if not isinstance(value, datetime):
        return fallback
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rds_snapshot(raw: dict[str, Any], region: str, now: datetime) -> Artifact:
    created = raw.get("OriginalSnapshotCreateTime") or raw.get("SnapshotCreateTime")
    return Artifact(
        kind="rds_snapshot",
        id=str(raw["DBSnapshotIdentifier"]),
        region=region,
        source=str(raw.get("DBInstanceIdentifier") or "unknown"),
        created_at=_aware(created, now),
        status=str(raw.get("Status", "unknown")),
        snapshot_type=str(raw.get("SnapshotType", "manual")),
        tags=tags_of(raw.get("TagList")),
    )


def rds_snapshots(region: str, now: datetime) -> list[Artifact]:
    return [
        rds_snapshot(raw, region, now)
        for page in _pages(
            "rds", "describe_db_snapshots", region, SnapshotType="manual", PaginationConfig={"PageSize": 100}
        )
        for raw in page.get("DBSnapshots", [])
    ]


def cache_snapshot(raw: dict[str, Any], region: str, now: datetime, tags: dict[str, str]) -> Artifact:
    times = [n.get("SnapshotCreateTime") for n in raw.get("NodeSnapshots", []) if n.get("SnapshotCreateTime")]
    source = raw.get("ReplicationGroupId") or raw.get("CacheClusterId") or "unknown"
    return Artifact(
        kind="cache_snapshot",
        id=str(raw["SnapshotName"]),
        region=region,
        source=str(source),
        created_at=_aware(min(times), now) if times else now,
        status=str(raw.get("SnapshotStatus", "unknown")),
        snapshot_type="manual" if raw.get("SnapshotSource", "manual") in ("manual", "user") else "automated",
        tags=tags,
    )


def cache_tags(arn: str, region: str) -> dict[str, str]:
    try:
        CALLS["elasticache.list_tags_for_resource"] += 1
        response = aws.client("elasticache", region).list_tags_for_resource(ResourceName=arn)
    except Exception as exc:
        if aws.is_retryable(exc):
            raise TransientAwsError(f"elasticache ListTagsForResource: {aws.error_code(exc)}") from None
        raise
    return tags_of(response.get("TagList"))


def cache_snapshots(region: str, now: datetime) -> list[Artifact]:
    found = []
    for page in _pages("elasticache", "describe_snapshots", region, PaginationConfig={"PageSize": 50}):
        for raw in page.get("Snapshots", []):
            name = str(raw["SnapshotName"])
            tags = cache_tags(str(raw["ARN"]), region) if name.startswith("cp-") and raw.get("ARN") else {}
            found.append(cache_snapshot(raw, region, now, tags))
    return found


def exports(bucket: str, region: str) -> list[Artifact]:
    """One artefact per ``elasticache/<group>/<YYYY-MM-DD>/`` prefix (objects counted)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    try:
        for page in _pages("s3", "list_objects_v2", region, Bucket=bucket, Prefix=EXPORT_ROOT):
            for item in page.get("Contents", []):
                parts = str(item["Key"]).split("/")
                if len(parts) >= 4 and parts[1] and parts[2]:
                    counts[(parts[1], parts[2])] += 1
    except Exception as exc:
        if aws.error_code(exc) == "NoSuchBucket":
            return []
        raise
    found = []
    for (group, day), count in sorted(counts.items()):
        try:
            created = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            continue  # not the control plane's layout: not ours to judge
        found.append(
            Artifact(
                kind="cache_export",
                id=f"s3://{bucket}/{EXPORT_ROOT}{group}/{day}/",
                region=region,
                source=group,
                created_at=created,
                tags={MANAGED_BY: CONTROLPLANE},
                object_count=count,
            )
        )
    return found


def _deadline(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def instances(region: str, now: datetime) -> list[Artifact]:
    """Restore-drill instances and control-plane replicas (everything else is not cleanup's to judge)."""
    raw_instances = [
        raw
        for page in _pages("rds", "describe_db_instances", region, PaginationConfig={"PageSize": 100})
        for raw in page.get("DBInstances", [])
    ]
    names = {str(raw["DBInstanceIdentifier"]) for raw in raw_instances}
    found = []
    for raw in raw_instances:
        tags = tags_of(raw.get("TagList"))
        identifier = str(raw["DBInstanceIdentifier"])
        if tags.get(MANAGED_BY) != CONTROLPLANE or raw.get("DBInstanceStatus") == "deleting":
            continue
        created = _aware(raw.get("InstanceCreateTime"), now)
        if tags.get("Purpose") == "restore-drill" and identifier.startswith("drill-"):
            found.append(
                Artifact(
                    kind="drill_instance",
                    id=identifier,
                    region=region,
                    source=tags.get("SourceIdentifier", "unknown"),
                    created_at=created,
                    status=str(raw.get("DBInstanceStatus", "unknown")),
                    tags=tags,
                    deadline=_deadline(tags.get("DrillDeadline")),
                )
            )
        elif tags.get("ReplicaOf"):
            source = str(raw.get("ReadReplicaSourceDBInstanceIdentifier") or "")
            accounted = source.rsplit(":", 1)[-1] == tags["ReplicaOf"] and tags["ReplicaOf"] in names
            found.append(
                Artifact(
                    kind="replica",
                    id=identifier,
                    region=region,
                    source=tags["ReplicaOf"],
                    created_at=created,
                    status=str(raw.get("DBInstanceStatus", "unknown")),
                    tags=tags,
                    accounted_for=accounted,
                )
            )
    return found

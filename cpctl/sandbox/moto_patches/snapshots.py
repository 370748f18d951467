"""Snapshot listings as AWS pages them (moto 5.2.5 answers every snapshot in one response, with no Marker).

- RDS ``DescribeDBSnapshots``: ``MaxRecords`` 20-100 (default 100), ``Marker`` for the next page,
  ``InvalidParameterValue`` outside that range (RDS API reference). A lookup by ``DBSnapshotIdentifier``
  alone reads the snapshot directly (moto filters all of them, which made a 10,000-snapshot run quadratic)
  and answers ``DBSnapshotNotFound`` when it is absent, as RDS does.
- ElastiCache ``DescribeSnapshots``: ``MaxRecords`` 20-50 (default 50) and ``Marker``; every snapshot lists
  its ``NodeSnapshots`` with a ``SnapshotCreateTime`` (moto sends none; the sandbox's seeding sets
  ``node_snapshots`` on the snapshots it makes, otherwise the snapshot's creation in the sandbox is used).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.elasticache.models import ElastiCacheBackend, Snapshot
from moto.elasticache.responses import ElastiCacheResponse
from moto.rds.exceptions import RDSClientError
from moto.rds.models import RDSBackend
from moto.rds.responses import RDSResponse

_APPLIED: dict[str, Any] = {}


class _InvalidRdsParameter(RDSClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterValue", message)


class _SnapshotNotFound(RDSClientError):
    def __init__(self, identifier: str) -> None:
        super().__init__("DBSnapshotNotFound", f"DBSnapshot {identifier} not found.")


def _page(
    items: list[Any], max_records: Any, marker: Any, low: int, high: int, error: type[Exception]
) -> tuple[list[Any], str | None]:
    size = high if max_records in (None, "") else int(max_records)
    if not low <= size <= high:
        raise error(f"MaxRecords must be between {low} and {high}.")
    start = int(marker) if marker else 0
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _rds_describe_backend(
    self: RDSBackend,
    db_instance_identifier: Any,
    db_snapshot_identifier: Any = None,
    snapshot_type: Any = None,
    filters: Any = None,
) -> Any:
    if db_snapshot_identifier and not db_instance_identifier and not filters and snapshot_type is None:
        found = self.database_snapshots.get(str(db_snapshot_identifier).lower())
        if found is None:
            raise _SnapshotNotFound(str(db_snapshot_identifier))
        return [found]
    return _APPLIED["rds_backend"](self, db_instance_identifier, db_snapshot_identifier, snapshot_type, filters)


def _rds_describe_response(self: RDSResponse) -> ActionResult:
    filters = self.params.get("Filters", [])
    snapshots = self.backend.describe_db_snapshots(
        self.params.get("DBInstanceIdentifier"),
        self.params.get("DBSnapshotIdentifier"),
        self.params.get("SnapshotType"),
        {f["Name"]: f["Values"] for f in filters},
    )
    page, marker = _page(
        list(snapshots), self.params.get("MaxRecords"), self.params.get("Marker"), 20, 100, _InvalidRdsParameter
    )
    result: dict[str, Any] = {"DBSnapshots": page}
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


def _cache_describe_response(self: ElastiCacheResponse) -> ActionResult:
    from moto.elasticache.exceptions import InvalidParameterValueException

    snapshots = self.elasticache_backend.describe_snapshots(
        snapshot_name=self._get_param("SnapshotName"),
        snapshot_source=self._get_param("SnapshotSource"),
        replication_group_id=self._get_param("ReplicationGroupId"),
        cache_cluster_id=self._get_param("CacheClusterId"),
    )
    for snapshot in snapshots:
        _with_node_snapshots(snapshot)
    page, marker = _page(
        list(snapshots),
        self._get_param("MaxRecords"),
        self._get_param("Marker"),
        20,
        50,
        InvalidParameterValueException,
    )
    result: dict[str, Any] = {"Snapshots": page}
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


def _with_node_snapshots(snapshot: Snapshot) -> None:
    if getattr(snapshot, "node_snapshots", None):
        return
    created = getattr(snapshot, "sandbox_created_at", None) or datetime.now(UTC)
    snapshot.sandbox_created_at = created  # type: ignore[attr-defined]
    snapshot.node_snapshots = [  # type: ignore[attr-defined]
        {"CacheNodeId": "0001", "NodeGroupId": "0001", "SnapshotCreateTime": created, "CacheSize": "1 GB"}
    ]


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["rds_backend"] = RDSBackend.describe_db_snapshots
    _APPLIED["rds_response"] = RDSResponse.describe_db_snapshots
    _APPLIED["cache_response"] = ElastiCacheResponse.describe_snapshots
    RDSBackend.describe_db_snapshots = _rds_describe_backend  # type: ignore[method-assign]
    RDSResponse.describe_db_snapshots = _rds_describe_response  # type: ignore[method-assign]
    ElastiCacheResponse.describe_snapshots = _cache_describe_response  # type: ignore[method-assign]


def targets() -> list[str]:
    return [
        "moto.rds.models.RDSBackend.describe_db_snapshots",
        "moto.rds.responses.RDSResponse.describe_db_snapshots",
        "moto.elasticache.responses.ElastiCacheResponse.describe_snapshots",
        "moto.elasticache.models.ElastiCacheBackend.describe_snapshots",
        "moto.core.responses.ActionResult",
    ]


__all__ = ["ElastiCacheBackend", "apply", "targets"]

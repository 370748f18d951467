"""The sandbox pages snapshot listings as AWS does (moto 5.2.5 answers everything at once, with no Marker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from controlplane import clock

from cpctl.sandbox import cleanup_support as cs
from cpctl.sandbox.runtime import Sandbox

pytestmark = pytest.mark.sandbox


def test_rds_and_elasticache_snapshot_pages(sandbox: Sandbox) -> None:
    now = clock.now()
    for n in range(130):
        cs.put_rds_snapshot(sandbox, f"cp-page-{n:03d}", now - timedelta(hours=n), cs.managed_tags("db"))
    for n in range(60):
        cs.put_cache_snapshot(sandbox, f"cp-cache-{n:03d}", now - timedelta(hours=n))
    rds = sandbox.client("rds")
    first = rds.describe_db_snapshots(SnapshotType="manual")
    assert len(first["DBSnapshots"]) == 100 and first["Marker"]
    second = rds.describe_db_snapshots(SnapshotType="manual", Marker=first["Marker"])
    assert len(second["DBSnapshots"]) == 30 and "Marker" not in second
    pages = list(
        rds.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual", PaginationConfig={"PageSize": 20})
    )
    assert [len(p["DBSnapshots"]) for p in pages] == [20] * 6 + [10]
    with pytest.raises(ClientError) as refused:
        rds.describe_db_snapshots(MaxRecords=10)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as missing:
        rds.describe_db_snapshots(DBSnapshotIdentifier="cp-nothing")
    assert missing.value.response["Error"]["Code"] == "DBSnapshotNotFound"
    several = rds.describe_db_snapshots(Filters=[{"Name": "db-snapshot-id", "Values": ["cp-page-001", "cp-page-002"]}])
    assert {s["DBSnapshotIdentifier"] for s in several["DBSnapshots"]} == {"cp-page-001", "cp-page-002"}

    cache = sandbox.client("elasticache")
    first_cache = cache.describe_snapshots()
    assert len(first_cache["Snapshots"]) == 50 and first_cache["Marker"]
    rest = cache.describe_snapshots(Marker=first_cache["Marker"])
    assert len(rest["Snapshots"]) == 10
    assert all(s["NodeSnapshots"][0]["SnapshotCreateTime"] for s in first_cache["Snapshots"])

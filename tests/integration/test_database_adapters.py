"""rds_replicas and cache_shards adapters against moto (with the sandbox's patches): read, apply, progress."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from controlplane.config import load_policy
from controlplane.models.scale import ChangeRecord, ScaleRequest
from controlplane.resources import adapter_for

from cpctl.sandbox import moto_patches
from cpctl.sandbox.moto_patches.state import SANDBOX_STATE

POLICY = load_policy("dev")
PRIMARY = "db-primary"
GROUP = "cache-group"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    moto_patches.apply_all()
    SANDBOX_STATE.reset()
    with mock_aws():
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            return clients.setdefault(service, boto3.client(service, region_name="us-east-1"))

        client("rds").create_db_instance(
            DBInstanceIdentifier=PRIMARY,
            Engine="postgres",
            DBInstanceClass="db.t4g.medium",
            AllocatedStorage=20,
            MasterUsername="admin_user",
            MasterUserPassword="not-a-real-password",
            BackupRetentionPeriod=1,
            StorageEncrypted=True,
        )
        client("elasticache").create_replication_group(
            ReplicationGroupId=GROUP,
            ReplicationGroupDescription="test",
            Engine="redis",
            CacheNodeType="cache.t4g.small",
            CacheParameterGroupName="default.redis7.cluster.on",
            NumNodeGroups=3,
            ReplicasPerNodeGroup=1,
        )
        yield client


def _run(client: Any, kind: str, resource: dict[str, Any], **change: Any) -> tuple[Any, Any, Any]:
    adapter = adapter_for(kind, client)
    request = ScaleRequest.model_validate(
        {
            "resource": {"kind": kind, **resource},
            "reason": "integration",
            "requester": {"type": "api", "id": "t"},
            **change,
        }
    )
    state = adapter.read(request.resource)
    plan = adapter.plan(request, state, POLICY)
    adapter.apply(request.resource, plan, "token")
    return adapter, request, plan


def test_rds_replica_created_held_then_verified(aws: Any) -> None:
    SANDBOX_STATE.hold("rds", f"{PRIMARY}-cp-1", polls=2, status="creating")
    adapter, request, plan = _run(aws, "rds_replicas", {"primary": PRIMARY}, delta=1)
    change = ChangeRecord(token="token", applied_at=datetime.now(UTC))
    states = [adapter.progress(request.resource, plan, change)[0] for _ in range(3)]
    assert states == ["in_progress", "in_progress", "done"]
    assert adapter.read(request.resource).capacity == 1
    # Repeat-safe: the same plan again is "already done".
    again = adapter.apply(request.resource, plan, "token")
    assert again.already_applied


def test_rds_replica_deleted_held_then_gone(aws: Any) -> None:
    _run(aws, "rds_replicas", {"primary": PRIMARY}, delta=1)
    SANDBOX_STATE.hold("rds", f"{PRIMARY}-cp-1", polls=1, status="deleting")
    adapter, request, plan = _run(aws, "rds_replicas", {"primary": PRIMARY}, delta=-1)
    change = ChangeRecord(token="token", applied_at=datetime.now(UTC))
    assert plan.details["remove"] == [f"{PRIMARY}-cp-1"]
    assert adapter.progress(request.resource, plan, change)[0] == "in_progress"
    assert adapter.progress(request.resource, plan, change)[0] == "done"
    assert adapter.read(request.resource).capacity == 0


def test_cache_shards_and_replicas(aws: Any) -> None:
    SANDBOX_STATE.hold("elasticache", GROUP, polls=1, status="modifying")
    adapter, request, plan = _run(aws, "cache_shards", {"replication_group": GROUP}, desired=4)
    change = ChangeRecord(token="token", applied_at=datetime.now(UTC))
    assert adapter.progress(request.resource, plan, change)[0] == "in_progress"
    assert adapter.progress(request.resource, plan, change)[:2] == ("done", 4)
    adapter, request, plan = _run(
        aws, "cache_shards", {"replication_group": GROUP, "dimension": "replicas_per_shard"}, desired=2
    )
    assert adapter.progress(request.resource, plan, change)[:2] == ("done", 2)
    adapter, request, plan = _run(aws, "cache_shards", {"replication_group": GROUP}, desired=3)
    assert plan.details["node_groups_to_remove"] == ["0004"]
    assert adapter.progress(request.resource, plan, change)[:2] == ("done", 3)

"""cache_shards planning and guards, with fake ElastiCache/CloudWatch clients (no AWS, no moto)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from controlplane.config import load_policy
from controlplane.models.errors import ResourceBusy
from controlplane.models.scale import ChangeRecord, ScaleRequest
from controlplane.resources import adapter_for
from controlplane.resources.cache_shards import CacheShardsTarget

GROUP = "sip-dev-redis"
POLICY = load_policy("dev")


class ClientError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


def group(
    shards: int = 3, replicas: list[int] | None = None, *, status: str = "available", cluster: bool = True
) -> dict[str, Any]:
    counts = replicas or [1] * shards
    return {
        "ReplicationGroupId": GROUP,
        "ARN": f"arn:aws:elasticache:us-east-1:123456789012:replicationgroup:{GROUP}",
        "Status": status,
        "ClusterEnabled": cluster,
        "MultiAZ": "enabled",
        "NodeGroups": [
            {
                "NodeGroupId": f"{i + 1:04d}",
                "NodeGroupMembers": [{"CacheClusterId": f"{GROUP}-{i + 1:04d}-{m + 1:03d}"} for m in range(count + 1)],
            }
            for i, count in enumerate(counts)
        ],
    }


class FakeElastiCache:
    def __init__(self, described: dict[str, Any], error: str | None = None) -> None:
        self.described = described
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def describe_replication_groups(self, **_: Any) -> dict[str, Any]:
        return {"ReplicationGroups": [self.described]}

    def list_tags_for_resource(self, **_: Any) -> dict[str, Any]:
        return {"TagList": [{"Key": "ManagedBy", "Value": "terraform"}]}

    def _call(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, kwargs))
        if self.error:
            raise ClientError(self.error)
        return {}

    def modify_replication_group_shard_configuration(self, **kw: Any) -> dict[str, Any]:
        return self._call("modify", kw)

    def increase_replica_count(self, **kw: Any) -> dict[str, Any]:
        return self._call("increase", kw)

    def decrease_replica_count(self, **kw: Any) -> dict[str, Any]:
        return self._call("decrease", kw)


class FakeCloudWatch:
    def __init__(self, percent: dict[str, float]) -> None:
        self.percent = percent

    def get_metric_data(self, MetricDataQueries: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        results = []
        for q in MetricDataQueries:
            member = q["MetricStat"]["Metric"]["Dimensions"][0]["Value"]
            results.append({"Id": q["Id"], "Values": [self.percent[member]] if member in self.percent else []})
        return {"MetricDataResults": results}


def make(
    described: dict[str, Any], memory: float | None = 30.0, error: str | None = None
) -> tuple[Any, FakeElastiCache]:
    cache = FakeElastiCache(described, error)
    members = [m["CacheClusterId"] for ng in described["NodeGroups"] for m in ng["NodeGroupMembers"]]
    cloudwatch = FakeCloudWatch(dict.fromkeys(members, memory) if memory is not None else {})
    return adapter_for("cache_shards", lambda s: cache if s == "elasticache" else cloudwatch), cache


def planned(
    described: dict[str, Any], dimension: str = "shards", memory: float | None = 30.0, **change: Any
) -> tuple[Any, Any, dict[str, Any]]:
    a, _ = make(described, memory)
    req = ScaleRequest.model_validate(
        {
            "resource": {"kind": "cache_shards", "replication_group": GROUP, "dimension": dimension},
            "reason": "unit test",
            "requester": {"type": "person", "id": "bob"},
            **change,
        }
    )
    state = a.read(req.resource)
    plan = a.plan(req, state, POLICY)
    return state, plan, {c.name: c for c in a.guard_checks(state, plan, POLICY)}


def test_capacity_and_policy_bounds_per_dimension() -> None:
    state, plan, _ = planned(group(3), delta=1)
    assert (state.capacity, plan.min_capacity, plan.max_capacity) == (3, 3, 6)
    state, plan, _ = planned(group(3), dimension="replicas_per_shard", delta=1)
    assert (state.capacity, plan.min_capacity, plan.max_capacity) == (1, 1, 3)


def test_scale_in_removes_highest_node_groups() -> None:
    _, plan, checks = planned(group(4), delta=-1)
    assert plan.details["node_groups_to_remove"] == ["0004"]
    assert checks["memory_headroom"].passed and checks["cluster_mode"].passed


@pytest.mark.parametrize(("memory", "passed"), [(50.0, True), (60.0, False), (None, False)])
def test_memory_headroom(memory: float | None, passed: bool) -> None:
    # 4 shards at 50% -> 3 at 66.7% (limit 70); at 60% -> 80%; no data -> unproven.
    _, _, checks = planned(group(4), memory=memory, delta=-1)
    assert checks["memory_headroom"].passed is passed


def test_cluster_mode_disabled_and_uneven_replicas_refused() -> None:
    _, _, checks = planned(group(1, cluster=False), delta=1)
    assert not checks["cluster_mode"].passed
    _, _, checks = planned(group(3, [1, 2, 1]), dimension="replicas_per_shard", delta=1)
    assert not checks["uniform_replicas"].passed


def test_apply_calls_the_right_api() -> None:
    target = CacheShardsTarget(replication_group=GROUP)
    _, plan, _ = planned(group(4), delta=-1)
    a, cache = make(group(4))
    a.apply(target, plan, "t")
    assert cache.calls == [
        (
            "modify",
            {
                "ReplicationGroupId": GROUP,
                "NodeGroupCount": 3,
                "ApplyImmediately": True,
                "NodeGroupsToRemove": ["0004"],
            },
        )
    ]
    replicas = CacheShardsTarget(replication_group=GROUP, dimension="replicas_per_shard")
    _, plan, _ = planned(group(3), dimension="replicas_per_shard", delta=1)
    a, cache = make(group(3))
    a.apply(replicas, plan, "t")
    assert cache.calls == [("increase", {"ReplicationGroupId": GROUP, "NewReplicaCount": 2, "ApplyImmediately": True})]


def test_apply_already_done_and_busy() -> None:
    target = CacheShardsTarget(replication_group=GROUP)
    _, plan, _ = planned(group(3), delta=1)
    a, _ = make(group(3), error="NoOperationFault")
    assert a.apply(target, plan, "t").already_applied
    a, _ = make(group(3), error="InvalidReplicationGroupState")
    with pytest.raises(ResourceBusy):
        a.apply(target, plan, "t")


def test_progress() -> None:
    target = CacheShardsTarget(replication_group=GROUP)
    _, plan, _ = planned(group(3), delta=1)
    change = ChangeRecord(token="t", applied_at=datetime.now(UTC))
    a, _ = make(group(4, status="modifying"))
    assert a.progress(target, plan, change)[0] == "in_progress"
    a, _ = make(group(4))
    assert a.progress(target, plan, change)[:2] == ("done", 4)

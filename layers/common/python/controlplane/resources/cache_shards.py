"""ElastiCache Redis/Valkey (cluster mode enabled): the number of shards, or the replicas in every shard.

One kind with a ``dimension`` rather than two kinds: both dimensions change the same replication
group, which takes one change at a time, so they share one lock and one cooldown (the resource id
is the replication group) and one policy entry, with bounds per dimension in ``dimensions``.

- ``shards``: ModifyReplicationGroupShardConfiguration (online resharding, ApplyImmediately=true)
  with NodeGroupCount; a scale-in names NodeGroupsToRemove, the highest (newest) node group ids.
- ``replicas_per_shard``: IncreaseReplicaCount / DecreaseReplicaCount with NewReplicaCount (in
  cluster mode that is the count in each node group).

Both are done when the group is ``available`` again at the desired count. Idempotent: a group that
already has the desired count is "already applied" (apply_step, or NoOperationFault from AWS).

Memory headroom (before removing shards): CloudWatch ``DatabaseMemoryUsagePercentage`` (AWS/ElastiCache,
dimension ``CacheClusterId`` = each member node, Maximum over the last few minutes). It is the
percentage of ``maxmemory`` in use, so it needs no node-type memory table: with n shards of equal
nodes, removing k moves their data onto n-k shards, projected use = sum(per-shard %) / (n-k). The
change is refused when that exceeds the policy's ``scale_in_memory_max_percent``, or when there are
no datapoints (no proof of headroom).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from controlplane import aws, clock, leases
from controlplane.config import MANAGED_CACHE_GROUP, Policy, require_managed
from controlplane.models.errors import InvalidRequest
from controlplane.models.scale import (
    ChangeRecord,
    GuardCheck,
    ProgressState,
    ResourceState,
    ResourceTarget,
    ScalePlan,
    ScaleRequest,
)
from controlplane.resources import register
from controlplane.resources.base import ARN, ScalableResource

_GROUP_ID = r"^[A-Za-z](?:-?[A-Za-z0-9])*$"
Dimension = Literal["shards", "replicas_per_shard"]
MAX_REPLICAS_PER_SHARD = 5
# Default quota "nodes per cluster" (cluster mode enabled); shards x (replicas + 1) must stay within it.
NODES_PER_CLUSTER = 90
MEMORY_WINDOW = timedelta(minutes=5)
_FAILED = frozenset({"create-failed", "deleting", "deleted"})


GROUP = f"{ARN}:elasticache:${{AWS::Region}}:${{AWS::AccountId}}:replicationgroup:${{CacheReplicationGroupId}}"


class CacheShardsTarget(ResourceTarget):
    kind: Literal["cache_shards"] = "cache_shards"
    replication_group: str = Field(pattern=_GROUP_ID, max_length=40)
    dimension: Dimension = "shards"

    @property
    def resource_id(self) -> str:
        # The group, not the dimension: shard and replica changes share one lock and one cooldown.
        return self.replication_group.lower()

    @property
    def lease_key(self) -> str:
        return leases.replication_group_key(self.replication_group)


def _capacity(dimension: str, shards: list[dict[str, Any]]) -> int:
    if dimension == "shards":
        return len(shards)
    return min((len(s["members"]) - 1 for s in shards), default=0)


@register
class CacheShardsAdapter(ScalableResource):
    kind = "cache_shards"
    target_model = CacheShardsTarget
    iam = {
        "read": (("elasticache:DescribeReplicationGroups", GROUP), ("elasticache:ListTagsForResource", GROUP)),
        "guard": (("cloudwatch:GetMetricData", "*"),),
        "apply": (
            ("elasticache:ModifyReplicationGroupShardConfiguration", GROUP),
            ("elasticache:IncreaseReplicaCount", GROUP),
            ("elasticache:DecreaseReplicaCount", GROUP),
        ),
    }
    not_found_codes = frozenset({"ReplicationGroupNotFoundFault"})
    busy_codes = frozenset({"InvalidReplicationGroupState"})

    def _group(self, target: CacheShardsTarget, action: str) -> dict[str, Any]:
        try:
            groups = self.client("elasticache").describe_replication_groups(ReplicationGroupId=target.replication_group)
        except Exception as exc:
            raise self.translate(exc, action) from None
        group: dict[str, Any] = groups["ReplicationGroups"][0]
        return group

    @staticmethod
    def _shards(group: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "id": str(ng.get("NodeGroupId")),
                "members": [str(m.get("CacheClusterId")) for m in ng.get("NodeGroupMembers") or []],
            }
            for ng in sorted(group.get("NodeGroups") or [], key=lambda ng: str(ng.get("NodeGroupId")))
        ]

    def read(self, target: CacheShardsTarget) -> ResourceState:
        require_managed("replication group", target.replication_group, MANAGED_CACHE_GROUP)
        group = self._group(target, f"describe replication group {target.replication_group}")
        shards = self._shards(group)
        replicas = sorted({len(s["members"]) - 1 for s in shards})
        multi_az = str(group.get("MultiAZ", "disabled")) == "enabled"
        if target.dimension == "shards":
            low = 1
            high = NODES_PER_CLUSTER // ((max(replicas, default=0)) + 1)
        else:
            low = 1 if multi_az else 0
            high = min(MAX_REPLICAS_PER_SHARD, NODES_PER_CLUSTER // max(len(shards), 1) - 1)
        try:
            tags = self.client("elasticache").list_tags_for_resource(ResourceName=group["ARN"]).get("TagList", [])
        except Exception as exc:
            raise self.translate(exc, f"list tags of {target.replication_group}") from None
        status = str(group.get("Status", "unknown"))
        return ResourceState(
            resource_id=target.resource_id,
            capacity=_capacity(target.dimension, shards),
            min_capacity=low,
            max_capacity=max(high, 0),
            status=status,
            ready=status == "available",
            tags={str(t["Key"]): str(t.get("Value", "")) for t in tags},
            details={
                "dimension": target.dimension,
                "cluster_enabled": bool(group.get("ClusterEnabled")),
                "multi_az": multi_az,
                "replica_counts": replicas,
                "shards": shards,
            },
        )

    def plan(self, request: ScaleRequest, state: ResourceState, policy: Policy) -> ScalePlan:
        """The generic plan, with bounds narrowed to the policy's bounds for the target's dimension."""
        plan = super().plan(request, state, policy)
        bounds = policy.for_kind(self.kind).bounds(str(state.details.get("dimension")))
        low = max(plan.min_capacity, bounds.min_capacity or 0)
        high = plan.max_capacity if bounds.max_capacity is None else min(plan.max_capacity, bounds.max_capacity)
        return plan.model_copy(update={"min_capacity": low, "max_capacity": high})

    def plan_details(self, state: ResourceState, desired: int, policy: Policy) -> dict[str, Any]:
        dimension = state.details.get("dimension")
        details: dict[str, Any] = {"dimension": dimension}
        if dimension == "shards" and desired < state.capacity:
            # The newest node groups are the highest ids (AWS numbers new shards upwards).
            ids = sorted((s["id"] for s in state.details.get("shards", [])), reverse=True)
            details["node_groups_to_remove"] = sorted(ids[: state.capacity - desired])
        return details

    def guard_checks(self, state: ResourceState, plan: ScalePlan, policy: Policy) -> list[GuardCheck]:
        checks = [
            GuardCheck(name="cluster_mode", passed=True)
            if state.details.get("cluster_enabled")
            else GuardCheck(
                name="cluster_mode", passed=False, reason="cluster mode is disabled; shards cannot be changed online"
            )
        ]
        if plan.step == 0:
            return checks
        if state.details.get("dimension") == "replicas_per_shard":
            counts = state.details.get("replica_counts", [])
            checks.append(
                GuardCheck(name="uniform_replicas", passed=True)
                if len(counts) <= 1
                else GuardCheck(
                    name="uniform_replicas",
                    passed=False,
                    reason=f"shards have different replica counts {counts}; even them out first",
                )
            )
        elif plan.step < 0:
            checks.append(self._memory_headroom(state, plan, policy))
        return checks

    def _memory_headroom(self, state: ResourceState, plan: ScalePlan, policy: Policy) -> GuardCheck:
        limit = policy.for_kind(self.kind).scale_in_memory_max_percent
        if limit is None:
            return GuardCheck(
                name="memory_headroom", passed=False, reason="the policy sets no scale_in_memory_max_percent"
            )
        shards: list[dict[str, Any]] = state.details.get("shards", [])
        usage = self._memory_usage([m for s in shards for m in s["members"]])
        per_shard: dict[str, float] = {}
        missing = []
        for shard in shards:
            values = [usage[m] for m in shard["members"] if usage.get(m) is not None]
            if not values:
                missing.append(shard["id"])
            else:
                per_shard[shard["id"]] = max(v for v in values if v is not None)
        if missing:
            return GuardCheck(
                name="memory_headroom",
                passed=False,
                reason=f"no DatabaseMemoryUsagePercentage data for shard(s) {', '.join(missing)}: headroom unproven",
            )
        projected = sum(per_shard.values()) / max(plan.desired, 1)
        reason = (
            f"{len(shards)} shards use {sum(per_shard.values()) / len(shards):.1f}% on average; "
            f"{plan.desired} would use {projected:.1f}% (limit {limit:g}%)"
        )
        return GuardCheck(name="memory_headroom", passed=projected <= limit, reason=reason)

    def _memory_usage(self, members: list[str]) -> dict[str, float | None]:
        return self.recent_maximum(
            "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "CacheClusterId", members, MEMORY_WINDOW
        )

    def apply(self, target: CacheShardsTarget, plan: ScalePlan, token: str) -> ChangeRecord:
        elasticache = self.client("elasticache")
        group_id = target.replication_group
        if target.dimension == "shards":
            operation = "ModifyReplicationGroupShardConfiguration"
            request: dict[str, Any] = {
                "ReplicationGroupId": group_id,
                "NodeGroupCount": plan.desired,
                "ApplyImmediately": True,
            }
            if plan.step < 0:
                request["NodeGroupsToRemove"] = list(plan.details.get("node_groups_to_remove", []))
                if len(request["NodeGroupsToRemove"]) != -plan.step:
                    raise InvalidRequest(
                        f"the plan names {request['NodeGroupsToRemove']} to remove {-plan.step} shards"
                    )
            call = elasticache.modify_replication_group_shard_configuration
        else:
            operation = "IncreaseReplicaCount" if plan.step > 0 else "DecreaseReplicaCount"
            request = {"ReplicationGroupId": group_id, "NewReplicaCount": plan.desired, "ApplyImmediately": True}
            call = elasticache.increase_replica_count if plan.step > 0 else elasticache.decrease_replica_count
        try:
            call(**request)
        except Exception as exc:
            code = aws.error_code(exc)
            if code == "NoOperationFault":
                return ChangeRecord(
                    token=token, applied_at=clock.now(), already_applied=True, details={"operation": operation}
                )
            raise self.translate(exc, f"{operation} on {group_id}") from None
        details = {k: v for k, v in request.items() if k != "ReplicationGroupId"}
        return ChangeRecord(token=token, applied_at=clock.now(), details={"operation": operation, **details})

    def progress(
        self, target: CacheShardsTarget, plan: ScalePlan, change: ChangeRecord
    ) -> tuple[ProgressState, int, str, str]:
        group = self._group(target, f"describe replication group {target.replication_group}")
        status = str(group.get("Status", "unknown"))
        observed = _capacity(target.dimension, self._shards(group))
        what = "shards" if target.dimension == "shards" else "replicas per shard"
        if status in _FAILED:
            return "failed", observed, status, f"replication group is {status}"
        if status == "available" and observed == plan.desired:
            return "done", observed, status, f"available with {observed} {what}"
        return "in_progress", observed, status, f"replication group is {status} with {observed} {what}"

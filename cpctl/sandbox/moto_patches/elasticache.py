"""Runtime additions to moto's ElastiCache: online resharding, replica-count changes and held statuses.

Why: moto 5.2.5 has no ``ModifyReplicationGroupShardConfiguration``, ``IncreaseReplicaCount`` or
``DecreaseReplicaCount``, splits cluster slots wrongly for anything but three shards, and reports every
replication group as instantly ``available``. The control plane scales Redis/Valkey clusters with exactly
these calls and polls ``DescribeReplicationGroups`` until the group settles, so the sandbox must emulate
both the topology change and the ``modifying`` -> ``available`` transition (driven by ``SANDBOX_STATE``).

Query-protocol dispatch resolves ``Action=IncreaseReplicaCount`` to ``ElastiCacheResponse.increase_replica_count``,
so adding plain functions to the response class (and, for direct use, to the backend) is all moto needs.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from weakref import WeakKeyDictionary

from moto.core.responses import ActionResult
from moto.elasticache.exceptions import (
    ElastiCacheException,
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    ReplicationGroupNotFound,
)
from moto.elasticache.models import ElastiCacheBackend, ReplicationGroup
from moto.elasticache.responses import ElastiCacheResponse

from cpctl.sandbox.moto_patches.state import SANDBOX_STATE

__all__ = ["apply", "decrease_replica_count", "increase_replica_count", "modify_shard_configuration", "targets"]

_KIND = "elasticache"
_AVAILABLE = "available"
_MODIFYING = "modifying"
_SLOT_COUNT = 16384
_MAX_REPLICAS_PER_NODE_GROUP = 5
# AWS default "nodes per cluster" quota (cluster mode enabled): 90 shards x 0 replicas ... 15 shards x 5 replicas.
_NODES_PER_CLUSTER_QUOTA = 90
_AZ_SUFFIXES = "abc"

# Class attribute that marks moto as patched; lives on the moto class so a module reload cannot double-wrap.
_PATCH_MARKER = "_cpctl_elasticache_patched"

# How a group that one of the new APIs changed goes back to ``available``: on the next read ("instant"),
# or once SANDBOX_STATE's hold stops answering ("held"); paired with the status this module last reported,
# so a status another moto call wrote (e.g. ``deleting``) is never overwritten. No entry: not transitioning.
_INSTANT = "instant"
_HELD = "held"
_pending: WeakKeyDictionary[ReplicationGroup, tuple[str, str]] = WeakKeyDictionary()
_lock = threading.RLock()
_originals: dict[str, Callable[..., Any]] = {}

_RELIED_ON = (
    "moto.core.responses.ActionResult",
    "moto.core.responses.BaseResponse._get_param",
    "moto.core.responses.BaseResponse._get_int_param",
    "moto.core.responses.BaseResponse._get_bool_param",
    "moto.elasticache.exceptions.ElastiCacheException",
    "moto.elasticache.exceptions.InvalidParameterCombinationException",
    "moto.elasticache.exceptions.InvalidParameterValueException",
    "moto.elasticache.exceptions.ReplicationGroupNotFound",
    "moto.elasticache.models.ReplicationGroup",
    "moto.elasticache.models.ElastiCacheBackend",
    "moto.elasticache.models.ElastiCacheBackend.create_replication_group",
    "moto.elasticache.models.ElastiCacheBackend.describe_replication_groups",
    "moto.elasticache.responses.ElastiCacheResponse",
    "moto.elasticache.responses.ElastiCacheResponse.elasticache_backend",
)


class InvalidReplicationGroupState(ElastiCacheException):
    """The group is not ``available`` (e.g. still modifying or held by the sandbox)."""

    code = "InvalidReplicationGroupState"


class NodeGroupsPerReplicationGroupQuotaExceeded(ElastiCacheException):
    """The change would exceed the per-cluster shard/node quota."""

    code = "NodeGroupsPerReplicationGroupQuotaExceeded"


class NoOperation(ElastiCacheException):
    """The request asks for the topology the group already has."""

    code = "NoOperationFault"


# --------------------------------------------------------------------------- public API


def targets() -> list[str]:
    """Dotted names of the pre-existing moto attributes this module relies on or replaces.

    A contract test resolves each one so a moto upgrade that moves them fails loudly instead of silently.
    The names this module adds (the three new operations) are deliberately not listed.
    """
    return list(_RELIED_ON)


def apply() -> None:
    """Install the new operations and the create/describe wrappers into moto; applying twice is a no-op."""
    with _lock:
        if getattr(ElastiCacheBackend, _PATCH_MARKER, False):
            return
        _originals["create"] = ElastiCacheBackend.create_replication_group
        _originals["describe"] = ElastiCacheBackend.describe_replication_groups
        _install_backend_methods()
        _install_response_methods()
        setattr(ElastiCacheBackend, _PATCH_MARKER, True)


def _install_backend_methods() -> None:
    """Replace create/describe and add the three operations on the backend (usable without HTTP)."""
    backend_methods: dict[str, Callable[..., Any]] = {
        "create_replication_group": _wrap_create(_originals["create"]),
        "describe_replication_groups": _wrap_describe(_originals["describe"]),
        "modify_replication_group_shard_configuration": modify_shard_configuration,
        "increase_replica_count": increase_replica_count,
        "decrease_replica_count": decrease_replica_count,
    }
    for name, function in backend_methods.items():
        setattr(ElastiCacheBackend, name, function)


def _install_response_methods() -> None:
    """Add the query-protocol handlers; moto dispatches ``Action`` to the snake_case method name."""
    response_methods: dict[str, Callable[[ElastiCacheResponse], ActionResult]] = {
        "modify_replication_group_shard_configuration": _respond_modify_shard_configuration,
        "increase_replica_count": _respond_increase_replica_count,
        "decrease_replica_count": _respond_decrease_replica_count,
    }
    for name, function in response_methods.items():
        setattr(ElastiCacheResponse, name, function)


# --------------------------------------------------------------------------- response handlers


def _respond_modify_shard_configuration(self: ElastiCacheResponse) -> ActionResult:
    group = modify_shard_configuration(
        self.elasticache_backend,
        replication_group_id=self._get_param("ReplicationGroupId"),
        node_group_count=self._get_int_param("NodeGroupCount"),
        apply_immediately=self._get_bool_param("ApplyImmediately"),
        resharding_configuration=self._get_param("ReshardingConfiguration") or [],
        node_groups_to_remove=self._get_param("NodeGroupsToRemove") or [],
        node_groups_to_retain=self._get_param("NodeGroupsToRetain") or [],
    )
    return ActionResult({"ReplicationGroup": group})


def _respond_increase_replica_count(self: ElastiCacheResponse) -> ActionResult:
    group = increase_replica_count(
        self.elasticache_backend,
        replication_group_id=self._get_param("ReplicationGroupId"),
        new_replica_count=self._get_int_param("NewReplicaCount"),
        replica_configuration=self._get_param("ReplicaConfiguration") or [],
        apply_immediately=self._get_bool_param("ApplyImmediately"),
    )
    return ActionResult({"ReplicationGroup": group})


def _respond_decrease_replica_count(self: ElastiCacheResponse) -> ActionResult:
    group = decrease_replica_count(
        self.elasticache_backend,
        replication_group_id=self._get_param("ReplicationGroupId"),
        new_replica_count=self._get_int_param("NewReplicaCount"),
        replica_configuration=self._get_param("ReplicaConfiguration") or [],
        replicas_to_remove=self._get_param("ReplicasToRemove") or [],
        apply_immediately=self._get_bool_param("ApplyImmediately"),
    )
    return ActionResult({"ReplicationGroup": group})


# --------------------------------------------------------------------------- backend operations


def modify_shard_configuration(
    backend: ElastiCacheBackend,
    *,
    replication_group_id: str,
    node_group_count: int | None,
    apply_immediately: bool | None,
    resharding_configuration: Sequence[dict[str, Any]] = (),
    node_groups_to_remove: Sequence[str] = (),
    node_groups_to_retain: Sequence[str] = (),
) -> ReplicationGroup:
    """Scale out, scale in or rebalance a cluster-mode-enabled group (online resharding)."""
    with _lock:
        _require_apply_immediately(apply_immediately)
        group = _modifiable_group(backend, replication_group_id)
        if not group.cluster_enabled:
            raise InvalidParameterValueException(
                "Operation is only applicable for cluster mode enabled replication groups."
            )
        current = len(group.node_groups)
        target = _validated_node_group_count(group, node_group_count)
        if node_groups_to_remove and node_groups_to_retain:
            raise InvalidParameterCombinationException(
                "Specify either NodeGroupsToRemove or NodeGroupsToRetain, not both."
            )
        if target < current:
            if resharding_configuration:
                raise InvalidParameterCombinationException(
                    "ReshardingConfiguration can be specified only when NodeGroupCount increases the shard count."
                )
            removed = _node_groups_leaving(group, target, node_groups_to_remove, node_groups_to_retain)
            group.node_groups = [ng for ng in group.node_groups if ng["node_group_id"] not in removed]
        else:
            if node_groups_to_remove or node_groups_to_retain:
                raise InvalidParameterCombinationException(
                    "NodeGroupsToRemove/NodeGroupsToRetain can be specified only when NodeGroupCount decreases "
                    "the shard count."
                )
            _add_node_groups(group, target - current, resharding_configuration)
        _rebalance_slots(group)
        _sync_member_clusters(group)
        _mark_modifying(group)
        return group


def increase_replica_count(
    backend: ElastiCacheBackend,
    *,
    replication_group_id: str,
    new_replica_count: int | None,
    replica_configuration: Sequence[dict[str, Any]] = (),
    apply_immediately: bool | None = True,
) -> ReplicationGroup:
    """Add replicas to every node group (NewReplicaCount) or to the listed ones (ReplicaConfiguration)."""
    with _lock:
        _require_apply_immediately(apply_immediately)
        group = _modifiable_group(backend, replication_group_id)
        wanted = _replica_targets(group, new_replica_count, replica_configuration, replicas_to_remove=())
        changes = 0
        added_nodes = 0
        for node_group in group.node_groups:
            target = wanted.get(node_group["node_group_id"])
            if target is None:
                continue
            count = target[0]
            have = len(_replicas(node_group))
            if count > _MAX_REPLICAS_PER_NODE_GROUP:
                raise InvalidParameterValueException(
                    f"NewReplicaCount must be at most {_MAX_REPLICAS_PER_NODE_GROUP}, got {count}."
                )
            if count < have:
                raise InvalidParameterValueException(
                    f"NewReplicaCount {count} for node group {node_group['node_group_id']} is lower than the "
                    f"current replica count {have}; use DecreaseReplicaCount."
                )
            changes += count != have
            added_nodes += count - have
        if not changes:
            raise NoOperation("The replication group already has the requested number of replicas.")
        _check_node_quota(_node_count(group) + added_nodes)
        for node_group in group.node_groups:
            target = wanted.get(node_group["node_group_id"])
            if target is not None:
                _grow_replicas(group, node_group, target[0], target[1])
        _sync_member_clusters(group)
        _mark_modifying(group)
        return group


def decrease_replica_count(
    backend: ElastiCacheBackend,
    *,
    replication_group_id: str,
    new_replica_count: int | None,
    replica_configuration: Sequence[dict[str, Any]] = (),
    replicas_to_remove: Sequence[str] = (),
    apply_immediately: bool | None = True,
) -> ReplicationGroup:
    """Remove replicas by target count (per group or per shard) or by explicit member cache cluster ids."""
    with _lock:
        _require_apply_immediately(apply_immediately)
        group = _modifiable_group(backend, replication_group_id)
        wanted = _replica_targets(group, new_replica_count, replica_configuration, replicas_to_remove)
        doomed = _validated_replicas_to_remove(group, replicas_to_remove)
        minimum = _minimum_replicas(group)
        changes = 0
        for node_group in group.node_groups:
            replicas = _replicas(node_group)
            have = len(replicas)
            target = wanted.get(node_group["node_group_id"])
            count = target[0] if target is not None else have - sum(m["cache_cluster_id"] in doomed for m in replicas)
            if count > have:
                raise InvalidParameterValueException(
                    f"NewReplicaCount {count} for node group {node_group['node_group_id']} is higher than the "
                    f"current replica count {have}; use IncreaseReplicaCount."
                )
            if count != have and count < minimum:
                raise InvalidParameterValueException(
                    f"Node group {node_group['node_group_id']} needs at least {minimum} replica(s) "
                    f"(Multi-AZ / automatic failover)."
                )
            changes += count != have
        if not changes:
            raise NoOperation("The replication group already has the requested number of replicas.")
        for node_group in group.node_groups:
            target = wanted.get(node_group["node_group_id"])
            if target is not None:
                _shrink_replicas(node_group, target[0])
            else:
                node_group["node_group_members"] = [
                    m for m in node_group["node_group_members"] if m["cache_cluster_id"] not in doomed
                ]
        _sync_member_clusters(group)
        _mark_modifying(group)
        return group


# --------------------------------------------------------------------------- create / describe wrappers


def _wrap_create(original: Callable[..., ReplicationGroup]) -> Callable[..., ReplicationGroup]:
    """Complete cluster-mode topologies the way AWS does (moto mis-splits slots beyond three shards)."""
    signature = inspect.signature(original)

    @functools.wraps(original)
    def create_replication_group(*args: Any, **kwargs: Any) -> ReplicationGroup:
        bound = signature.bind(*args, **kwargs)
        _normalise_create_arguments(bound.arguments)
        group = original(*bound.args, **bound.kwargs)
        configs = bound.arguments.get("node_group_configuration") or []
        if group.cluster_enabled and not any(config.get("Slots") for config in configs):
            _rebalance_slots(group)
        return group

    return create_replication_group


def _normalise_create_arguments(arguments: dict[str, Any]) -> None:
    """Infer cluster mode and shard count from the request as AWS would before moto builds the group.

    AWS enables cluster mode for ``*.cluster.on`` parameter groups, derives NumNodeGroups from
    NodeGroupConfiguration and numbers unnamed node groups 0001.. ; moto only looks at ClusterMode and
    NumNodeGroups. For cluster mode disabled, moto ignores NumCacheClusters, so map it onto replicas.
    """
    parameter_group = arguments.get("cache_parameter_group_name") or ""
    if not arguments.get("cluster_mode") and parameter_group.endswith(".cluster.on"):
        arguments["cluster_mode"] = "enabled"
    if arguments.get("cluster_mode") == "enabled":
        configs = [dict(config) for config in arguments.get("node_group_configuration") or []]
        for index, config in enumerate(configs):
            config.setdefault("NodeGroupId", _node_group_id(index + 1))
        arguments["node_group_configuration"] = configs
        if not arguments.get("num_node_groups") and configs:
            arguments["num_node_groups"] = len(configs)
    elif arguments.get("num_cache_clusters") and not arguments.get("replicas_per_node_group"):
        arguments["replicas_per_node_group"] = int(arguments["num_cache_clusters"]) - 1


def _wrap_describe(original: Callable[..., list[ReplicationGroup]]) -> Callable[..., list[ReplicationGroup]]:
    """Report each transitioning group as held (e.g. ``modifying``) until SANDBOX_STATE releases it."""

    @functools.wraps(original)
    def describe_replication_groups(*args: Any, **kwargs: Any) -> list[ReplicationGroup]:
        groups = original(*args, **kwargs)
        with _lock:
            for group in groups:
                _observe(group)
        return groups

    return describe_replication_groups


# --------------------------------------------------------------------------- status transitions


def _mark_modifying(group: ReplicationGroup) -> None:
    """Enter ``modifying``; decide now (as the hold registry defines) whether the exit is instant or held."""
    group.status = _MODIFYING
    held = SANDBOX_STATE.peek_hold(_KIND, group.replication_group_id) is not None
    _pending[group] = (_HELD if held else _INSTANT, _MODIFYING)


def _observe(group: ReplicationGroup) -> None:
    """One DescribeReplicationGroups read: consume a hold poll or finish the transition."""
    pending = _pending.get(group)
    if pending is None:
        return
    mode, reported = pending
    if group.status != reported:  # another moto call (e.g. delete) took over the status
        del _pending[group]
        return
    held_status = SANDBOX_STATE.held_status(_KIND, group.replication_group_id) if mode == _HELD else None
    if held_status is not None:
        group.status = held_status
        _pending[group] = (mode, held_status)
        return
    group.status = _AVAILABLE
    del _pending[group]


def _settle_if_instant(group: ReplicationGroup) -> None:
    """An un-held change is complete as soon as anyone looks again, not only after a describe."""
    pending = _pending.get(group)
    if pending is not None and pending[0] == _INSTANT:
        if group.status == pending[1]:
            group.status = _AVAILABLE
        del _pending[group]


# --------------------------------------------------------------------------- validation


def _require_apply_immediately(apply_immediately: bool | None) -> None:
    if apply_immediately is not True:
        raise InvalidParameterValueException(
            "ApplyImmediately must be true; deferring this change to the maintenance window is not supported."
        )


def _modifiable_group(backend: ElastiCacheBackend, replication_group_id: str) -> ReplicationGroup:
    """The group, provided it exists and is ``available`` (not modifying nor held by the sandbox)."""
    group = backend.replication_groups.get(replication_group_id)
    if group is None:
        raise ReplicationGroupNotFound(replication_group_id)
    _settle_if_instant(group)
    if group.status != _AVAILABLE:
        raise InvalidReplicationGroupState(
            f"Replication group {replication_group_id} must be in available state, current state is {group.status}."
        )
    return group


def _validated_node_group_count(group: ReplicationGroup, node_group_count: int | None) -> int:
    if node_group_count is None or node_group_count < 1:
        raise InvalidParameterValueException(f"NodeGroupCount must be at least 1, got {node_group_count}.")
    smallest = min((len(ng["node_group_members"]) for ng in group.node_groups), default=1)
    added = max(node_group_count - len(group.node_groups), 0)
    if node_group_count > _NODES_PER_CLUSTER_QUOTA or _node_count(group) + added * smallest > _NODES_PER_CLUSTER_QUOTA:
        raise NodeGroupsPerReplicationGroupQuotaExceeded(
            f"NodeGroupCount {node_group_count} exceeds the quota of {_NODES_PER_CLUSTER_QUOTA} nodes per cluster."
        )
    return node_group_count


def _node_groups_leaving(
    group: ReplicationGroup, target: int, to_remove: Sequence[str], to_retain: Sequence[str]
) -> set[str]:
    """Ids of the node groups a scale-in removes, checked against the requested NodeGroupCount."""
    existing = {ng["node_group_id"] for ng in group.node_groups}
    named = list(to_remove or to_retain)
    if not named:
        raise InvalidParameterValueException(
            "NodeGroupsToRemove or NodeGroupsToRetain is required when NodeGroupCount is lower than the current "
            "number of node groups."
        )
    _require_known_node_groups(existing, named)
    if len(set(named)) != len(named):
        raise InvalidParameterValueException(f"Duplicate node group ids: {named}.")
    leaving = set(to_remove) if to_remove else existing - set(to_retain)
    if len(existing) - len(leaving) != target:
        raise InvalidParameterValueException(
            f"NodeGroupCount {target} does not match {len(existing)} node groups minus the {len(leaving)} removed."
        )
    return leaving


def _require_known_node_groups(existing: Iterable[str], named: Iterable[str]) -> None:
    unknown = sorted(set(named) - set(existing))
    if unknown:
        raise InvalidParameterValueException(f"Node group(s) {', '.join(unknown)} not found in the replication group.")


def _replica_targets(
    group: ReplicationGroup,
    new_replica_count: int | None,
    replica_configuration: Sequence[dict[str, Any]],
    replicas_to_remove: Sequence[str],
) -> dict[str, tuple[int, list[str]]]:
    """Per node group: the wanted replica count and preferred AZs (primary first), from exactly one input."""
    given = [new_replica_count is not None, bool(replica_configuration), bool(replicas_to_remove)]
    if sum(given) == 0:
        raise InvalidParameterValueException(
            "Either NewReplicaCount, ReplicaConfiguration or ReplicasToRemove must be specified."
        )
    if sum(given) > 1:
        raise InvalidParameterCombinationException(
            "Only one of NewReplicaCount, ReplicaConfiguration or ReplicasToRemove may be specified."
        )
    if new_replica_count is not None:
        if new_replica_count < 0:
            raise InvalidParameterValueException(f"NewReplicaCount must not be negative, got {new_replica_count}.")
        return {ng["node_group_id"]: (new_replica_count, []) for ng in group.node_groups}
    return _shard_targets(group, replica_configuration)


def _shard_targets(
    group: ReplicationGroup, replica_configuration: Sequence[dict[str, Any]]
) -> dict[str, tuple[int, list[str]]]:
    existing = [ng["node_group_id"] for ng in group.node_groups]
    named = [str(config.get("NodeGroupId")) for config in replica_configuration]
    _require_known_node_groups(existing, named)
    if len(set(named)) != len(named):
        raise InvalidParameterValueException(f"Duplicate node group ids in ReplicaConfiguration: {named}.")
    wanted: dict[str, tuple[int, list[str]]] = {}
    for config in replica_configuration:
        count = int(config.get("NewReplicaCount", -1))
        if count < 0:
            raise InvalidParameterValueException("NewReplicaCount is required and must not be negative.")
        zones = list(config.get("PreferredAvailabilityZones") or [])
        if zones and len(zones) != count + 1:
            raise InvalidParameterValueException(
                "The number of PreferredAvailabilityZones must equal NewReplicaCount plus 1 (for the primary)."
            )
        _require_zones_in_region(group, zones)
        wanted[str(config["NodeGroupId"])] = (count, zones)
    return wanted


def _validated_replicas_to_remove(group: ReplicationGroup, replicas_to_remove: Sequence[str]) -> set[str]:
    """ReplicasToRemove names member cache clusters; primaries and unknown ids are refused."""
    doomed = set(replicas_to_remove)
    members = {m["cache_cluster_id"]: ng for ng in group.node_groups for m in ng["node_group_members"]}
    unknown = sorted(doomed - set(members))
    if unknown:
        raise InvalidParameterValueException(f"Cache cluster(s) {', '.join(unknown)} are not members of the group.")
    primaries = sorted(doomed & {_primary(ng)["cache_cluster_id"] for ng in group.node_groups})
    if primaries:
        raise InvalidParameterValueException(f"Cannot remove primary node(s) {', '.join(primaries)}.")
    return doomed


def _minimum_replicas(group: ReplicationGroup) -> int:
    """AWS minimum: 0 in cluster mode; 1 for cluster-mode-disabled groups with Multi-AZ/automatic failover."""
    if group.cluster_enabled:
        return 0
    return 1 if (group.multi_az == "enabled" or group.automatic_failover == "enabled") else 0


def _require_zones_in_region(group: ReplicationGroup, zones: Iterable[str]) -> None:
    region = _region(group)
    foreign = sorted(zone for zone in zones if not zone.startswith(region))
    if foreign:
        raise InvalidParameterValueException(f"Availability zone(s) {', '.join(foreign)} are not in {region}.")


def _check_node_quota(nodes: int) -> None:
    if nodes > _NODES_PER_CLUSTER_QUOTA:
        raise NodeGroupsPerReplicationGroupQuotaExceeded(
            f"The change needs {nodes} nodes; the quota is {_NODES_PER_CLUSTER_QUOTA} nodes per cluster."
        )


# --------------------------------------------------------------------------- topology


def _slot_ranges(count: int) -> list[str]:
    """16384 hash slots split as evenly as possible, larger ranges first (0-5461, 5462-10922, 10923-16383)."""
    base, extra = divmod(_SLOT_COUNT, count)
    ranges: list[str] = []
    start = 0
    for index in range(count):
        size = base + (1 if index < extra else 0)
        ranges.append(f"{start}-{start + size - 1}")
        start += size
    return ranges


def _rebalance_slots(group: ReplicationGroup) -> None:
    """Keep node groups ordered by id and give each an even share of the keyspace."""
    group.node_groups.sort(key=lambda ng: ng["node_group_id"])
    for node_group, slots in zip(group.node_groups, _slot_ranges(len(group.node_groups)), strict=True):
        node_group["slots"] = slots


def _node_group_id(number: int) -> str:
    return f"{number:04d}"


def _add_node_groups(group: ReplicationGroup, count: int, resharding: Sequence[dict[str, Any]]) -> None:
    """New shards get as many nodes as the smallest existing shard (AWS rule); ids follow ReshardingConfiguration."""
    if count <= 0:
        return
    existing = {ng["node_group_id"] for ng in group.node_groups}
    zones_by_id = {str(c.get("NodeGroupId")): list(c.get("PreferredAvailabilityZones") or []) for c in resharding}
    for zones in zones_by_id.values():
        _require_zones_in_region(group, zones)
    replicas = min(len(_replicas(ng)) for ng in group.node_groups)
    new_ids = [ng_id for ng_id in zones_by_id if ng_id not in existing][:count]
    number = 1
    while len(new_ids) < count:
        candidate = _node_group_id(number)
        if candidate not in existing and candidate not in new_ids:
            new_ids.append(candidate)
        number += 1
    for ng_id in new_ids:
        node_group: dict[str, Any] = {"node_group_id": ng_id, "status": _AVAILABLE, "node_group_members": []}
        group.node_groups.append(node_group)
        _grow_replicas(group, node_group, replicas, zones_by_id.get(ng_id, []))


def _grow_replicas(group: ReplicationGroup, node_group: dict[str, Any], count: int, zones: Sequence[str]) -> None:
    """Add members (primary first if the shard is new) until the shard has ``count`` replicas."""
    members: list[dict[str, Any]] = node_group["node_group_members"]
    while len(members) < count + 1:
        position = len(members)
        zone = zones[position] if position < len(zones) else f"{_region(group)}{_AZ_SUFFIXES[position % 3]}"
        members.append(_new_member(group, node_group, _free_member_number(group, node_group), zone))
    primary = _primary(node_group)
    members.sort(key=lambda m: (m is not primary, m["cache_cluster_id"]))


def _shrink_replicas(node_group: dict[str, Any], count: int) -> None:
    """Drop the most recently numbered replicas until ``count`` remain; the primary always stays."""
    primary = _primary(node_group)
    replicas = sorted(_replicas(node_group), key=lambda m: m["cache_cluster_id"])[:count]
    keep = {id(primary), *(id(m) for m in replicas)}
    node_group["node_group_members"] = [m for m in node_group["node_group_members"] if id(m) in keep]


def _free_member_number(group: ReplicationGroup, node_group: dict[str, Any]) -> int:
    """Lowest unused member suffix (001 is the primary's), so ids stay like ``<rg>-0001-002``."""
    taken = {m["cache_cluster_id"] for m in node_group["node_group_members"]}
    number = 1
    while _member_id(group, node_group, number) in taken:
        number += 1
    return number


def _member_id(group: ReplicationGroup, node_group: dict[str, Any], number: int) -> str:
    if group.cluster_enabled:
        return f"{group.replication_group_id}-{node_group['node_group_id']}-{number:03d}"
    return f"{group.replication_group_id}-{number:03d}"


def _new_member(group: ReplicationGroup, node_group: dict[str, Any], number: int, zone: str) -> dict[str, Any]:
    """A NodeGroupMember shaped like moto's own (cluster-disabled members also carry endpoint and role)."""
    member: dict[str, Any] = {
        "cache_cluster_id": _member_id(group, node_group, number),
        "cache_node_id": node_group["node_group_id"],
        "preferred_availability_zone": zone,
    }
    if not group.cluster_enabled:
        primary = _primary(node_group)
        domain = primary.get("read_endpoint", {}).get("address", "").partition(".")[2]
        member["read_endpoint"] = {"address": f"{member['cache_cluster_id']}.{domain}", "port": group.port}
        member["current_role"] = "replica"
    return member


def _primary(node_group: dict[str, Any]) -> dict[str, Any]:
    """The primary: the member marked so (cluster mode disabled), else the first member (moto's order)."""
    members: list[dict[str, Any]] = node_group["node_group_members"]
    return next((m for m in members if m.get("current_role") == "primary"), members[0])


def _replicas(node_group: dict[str, Any]) -> list[dict[str, Any]]:
    primary = _primary(node_group)
    return [m for m in node_group["node_group_members"] if m is not primary]


def _node_count(group: ReplicationGroup) -> int:
    return sum(len(ng["node_group_members"]) for ng in group.node_groups)


def _sync_member_clusters(group: ReplicationGroup) -> None:
    """MemberClusters mirrors the node groups; a snapshotting cluster that went away is re-chosen."""
    group.member_clusters = [m["cache_cluster_id"] for ng in group.node_groups for m in ng["node_group_members"]]
    if group.snapshotting_cluster_id and group.snapshotting_cluster_id not in group.member_clusters:
        group.snapshotting_cluster_id = group.member_clusters[1 if len(group.member_clusters) > 1 else 0]


def _region(group: ReplicationGroup) -> str:
    return str(group.arn.split(":")[3])

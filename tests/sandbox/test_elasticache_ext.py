"""ElastiCache resharding / replica-count emulation added to moto by ``cpctl.sandbox.moto_patches.elasticache``.

Exercised through boto3 under ``moto.mock_aws()`` so the query-protocol dispatch and the botocore output
shape are covered too, not only the backend functions.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import moto
import pytest
from botocore.exceptions import ClientError
from moto.elasticache.models import ElastiCacheBackend

from cpctl.sandbox.moto_patches import elasticache as ec_patch
from cpctl.sandbox.moto_patches.state import SANDBOX_STATE

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _sandbox_state() -> Iterator[None]:
    SANDBOX_STATE.reset()
    yield
    SANDBOX_STATE.reset()


@pytest.fixture
def ec(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    ec_patch.apply()
    with moto.mock_aws():
        yield boto3.client("elasticache", region_name=REGION)


def create_cluster_group(ec: Any, rg_id: str = "rg", shards: int = 2, replicas: int = 1, **extra: Any) -> None:
    ec.create_replication_group(
        ReplicationGroupId=rg_id,
        ReplicationGroupDescription="test",
        Engine="redis",
        CacheNodeType="cache.t4g.micro",
        ClusterMode="enabled",
        AutomaticFailoverEnabled=True,
        NumNodeGroups=shards,
        ReplicasPerNodeGroup=replicas,
        **extra,
    )


def create_non_cluster_group(ec: Any, rg_id: str = "solo", clusters: int = 2, multi_az: bool = False) -> None:
    ec.create_replication_group(
        ReplicationGroupId=rg_id,
        ReplicationGroupDescription="test",
        Engine="redis",
        CacheNodeType="cache.t4g.micro",
        NumCacheClusters=clusters,
        MultiAZEnabled=multi_az,
        AutomaticFailoverEnabled=multi_az,
    )


def describe(ec: Any, rg_id: str = "rg") -> dict[str, Any]:
    group: dict[str, Any] = ec.describe_replication_groups(ReplicationGroupId=rg_id)["ReplicationGroups"][0]
    return group


def topology(group: dict[str, Any]) -> dict[str, tuple[str | None, list[str]]]:
    """node group id -> (slots, member cache cluster ids)."""
    return {
        ng["NodeGroupId"]: (ng.get("Slots"), [m["CacheClusterId"] for m in ng["NodeGroupMembers"]])
        for ng in group["NodeGroups"]
    }


def error_code(call: Callable[..., Any], **kwargs: Any) -> str:
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    code: str = excinfo.value.response["Error"]["Code"]
    return code


def slot_bounds(group: dict[str, Any]) -> list[tuple[int, int]]:
    bounds = []
    for ng in group["NodeGroups"]:
        low, high = ng["Slots"].split("-")
        bounds.append((int(low), int(high)))
    return bounds


# --------------------------------------------------------------------------- contract with moto


def resolve(dotted: str) -> object:
    """Import the longest importable module prefix of ``dotted`` and walk the rest with getattr."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ImportError(dotted)


@pytest.mark.parametrize("dotted", ec_patch.targets())
def test_every_target_resolves(dotted: str) -> None:
    assert resolve(dotted) is not None


def test_apply_is_idempotent(ec: Any) -> None:
    describe_method = ElastiCacheBackend.describe_replication_groups
    ec_patch.apply()
    assert ElastiCacheBackend.describe_replication_groups is describe_method
    # A double-wrapped describe would consume two hold polls per read.
    create_cluster_group(ec)
    SANDBOX_STATE.hold("elasticache", "rg", polls=2, status="modifying")
    ec.increase_replica_count(ReplicationGroupId="rg", NewReplicaCount=2, ApplyImmediately=True)
    assert [describe(ec)["Status"] for _ in range(3)] == ["modifying", "modifying", "available"]


# --------------------------------------------------------------------------- CreateReplicationGroup completion


@pytest.mark.parametrize("shards", [1, 2, 3, 4, 7])
def test_create_splits_all_slots_evenly(ec: Any, shards: int) -> None:
    create_cluster_group(ec, shards=shards)
    group = describe(ec)
    bounds = slot_bounds(group)
    assert bounds[0][0] == 0
    assert bounds[-1][1] == 16383
    assert all(prev[1] + 1 == nxt[0] for prev, nxt in itertools.pairwise(bounds))
    sizes = [high - low + 1 for low, high in bounds]
    assert max(sizes) - min(sizes) <= 1
    assert [ng["NodeGroupId"] for ng in group["NodeGroups"]] == [f"{i:04d}" for i in range(1, shards + 1)]


def test_create_three_shards_matches_aws_ranges(ec: Any) -> None:
    create_cluster_group(ec, shards=3, replicas=2)
    assert topology(describe(ec)) == {
        "0001": ("0-5461", ["rg-0001-001", "rg-0001-002", "rg-0001-003"]),
        "0002": ("5462-10922", ["rg-0002-001", "rg-0002-002", "rg-0002-003"]),
        "0003": ("10923-16383", ["rg-0003-001", "rg-0003-002", "rg-0003-003"]),
    }


def test_create_derives_shards_from_node_group_configuration(ec: Any) -> None:
    ec.create_replication_group(
        ReplicationGroupId="rg",
        ReplicationGroupDescription="test",
        Engine="redis",
        CacheNodeType="cache.t4g.micro",
        CacheParameterGroupName="default.redis7.cluster.on",
        AutomaticFailoverEnabled=True,
        NodeGroupConfiguration=[{"ReplicaCount": 2}, {"ReplicaCount": 1}],
    )
    group = describe(ec)
    assert group["ClusterEnabled"] is True
    assert topology(group) == {
        "0001": ("0-8191", ["rg-0001-001", "rg-0001-002", "rg-0001-003"]),
        "0002": ("8192-16383", ["rg-0002-001", "rg-0002-002"]),
    }


def test_create_keeps_explicit_slots(ec: Any) -> None:
    create_cluster_group(
        ec,
        shards=2,
        NodeGroupConfiguration=[
            {"NodeGroupId": "0001", "Slots": "0-99"},
            {"NodeGroupId": "0002", "Slots": "100-16383"},
        ],
    )
    assert [ng["Slots"] for ng in describe(ec)["NodeGroups"]] == ["0-99", "100-16383"]


def test_create_non_cluster_group_honours_num_cache_clusters(ec: Any) -> None:
    create_non_cluster_group(ec, clusters=3)
    assert describe(ec, "solo")["MemberClusters"] == ["solo-001", "solo-002", "solo-003"]


# --------------------------------------------------------------------------- ModifyReplicationGroupShardConfiguration


def test_scale_out_adds_shards_and_resplits_slots(ec: Any) -> None:
    create_cluster_group(ec, shards=2, replicas=1)
    response = ec.modify_replication_group_shard_configuration(
        ReplicationGroupId="rg", NodeGroupCount=4, ApplyImmediately=True
    )
    assert response["ReplicationGroup"]["Status"] == "modifying"
    assert len(response["ReplicationGroup"]["NodeGroups"]) == 4
    group = describe(ec)
    assert group["Status"] == "available"
    assert topology(group) == {
        "0001": ("0-4095", ["rg-0001-001", "rg-0001-002"]),
        "0002": ("4096-8191", ["rg-0002-001", "rg-0002-002"]),
        "0003": ("8192-12287", ["rg-0003-001", "rg-0003-002"]),
        "0004": ("12288-16383", ["rg-0004-001", "rg-0004-002"]),
    }
    assert group["MemberClusters"] == [m for _, (_, members) in topology(group).items() for m in members]


def test_scale_out_new_shards_copy_smallest_shard_and_use_resharding_azs(ec: Any) -> None:
    create_cluster_group(ec, shards=2, replicas=2)
    ec.decrease_replica_count(
        ReplicationGroupId="rg",
        ReplicaConfiguration=[{"NodeGroupId": "0002", "NewReplicaCount": 1}],
        ApplyImmediately=True,
    )
    describe(ec)
    ec.modify_replication_group_shard_configuration(
        ReplicationGroupId="rg",
        NodeGroupCount=3,
        ApplyImmediately=True,
        ReshardingConfiguration=[{"NodeGroupId": "0003", "PreferredAvailabilityZones": ["us-east-1c", "us-east-1a"]}],
    )
    new_shard = describe(ec)["NodeGroups"][2]
    assert new_shard["NodeGroupId"] == "0003"
    assert [(m["CacheClusterId"], m["PreferredAvailabilityZone"]) for m in new_shard["NodeGroupMembers"]] == [
        ("rg-0003-001", "us-east-1c"),
        ("rg-0003-002", "us-east-1a"),
    ]


def test_scale_in_with_node_groups_to_remove(ec: Any) -> None:
    create_cluster_group(ec, shards=4, replicas=1)
    ec.modify_replication_group_shard_configuration(
        ReplicationGroupId="rg", NodeGroupCount=2, ApplyImmediately=True, NodeGroupsToRemove=["0002", "0003"]
    )
    group = describe(ec)
    assert topology(group) == {
        "0001": ("0-8191", ["rg-0001-001", "rg-0001-002"]),
        "0004": ("8192-16383", ["rg-0004-001", "rg-0004-002"]),
    }
    assert group["MemberClusters"] == ["rg-0001-001", "rg-0001-002", "rg-0004-001", "rg-0004-002"]


def test_scale_in_with_node_groups_to_retain(ec: Any) -> None:
    create_cluster_group(ec, shards=3, replicas=0)
    ec.modify_replication_group_shard_configuration(
        ReplicationGroupId="rg", NodeGroupCount=1, ApplyImmediately=True, NodeGroupsToRetain=["0002"]
    )
    assert topology(describe(ec)) == {"0002": ("0-16383", ["rg-0002-001"])}


def test_scale_out_after_scale_in_reuses_lowest_free_id(ec: Any) -> None:
    create_cluster_group(ec, shards=3, replicas=0)
    ec.modify_replication_group_shard_configuration(
        ReplicationGroupId="rg", NodeGroupCount=2, ApplyImmediately=True, NodeGroupsToRemove=["0001"]
    )
    ec.modify_replication_group_shard_configuration(ReplicationGroupId="rg", NodeGroupCount=3, ApplyImmediately=True)
    assert list(topology(describe(ec))) == ["0001", "0002", "0003"]


def test_same_count_rebalances_slots(ec: Any) -> None:
    create_cluster_group(
        ec,
        shards=2,
        NodeGroupConfiguration=[
            {"NodeGroupId": "0001", "Slots": "0-99"},
            {"NodeGroupId": "0002", "Slots": "100-16383"},
        ],
    )
    ec.modify_replication_group_shard_configuration(ReplicationGroupId="rg", NodeGroupCount=2, ApplyImmediately=True)
    assert [ng["Slots"] for ng in describe(ec)["NodeGroups"]] == ["0-8191", "8192-16383"]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"NodeGroupCount": 0}, "InvalidParameterValue"),
        ({"NodeGroupCount": 1}, "InvalidParameterValue"),  # scale-in without remove/retain
        ({"NodeGroupCount": 1, "NodeGroupsToRemove": ["0001"]}, "InvalidParameterValue"),  # count mismatch
        ({"NodeGroupCount": 2, "NodeGroupsToRemove": ["0009"]}, "InvalidParameterValue"),  # unknown shard
        ({"NodeGroupCount": 2, "NodeGroupsToRetain": ["0001"]}, "InvalidParameterValue"),  # count mismatch
        (
            {"NodeGroupCount": 2, "NodeGroupsToRemove": ["0001"], "NodeGroupsToRetain": ["0002", "0003"]},
            "InvalidParameterCombination",
        ),
        (
            {
                "NodeGroupCount": 2,
                "NodeGroupsToRemove": ["0001"],
                "ReshardingConfiguration": [{"NodeGroupId": "0002", "PreferredAvailabilityZones": ["us-east-1a"]}],
            },
            "InvalidParameterCombination",
        ),
        ({"NodeGroupCount": 4, "NodeGroupsToRemove": ["0001"]}, "InvalidParameterCombination"),
        ({"NodeGroupCount": 91}, "NodeGroupsPerReplicationGroupQuotaExceeded"),
        ({"NodeGroupCount": 46}, "NodeGroupsPerReplicationGroupQuotaExceeded"),  # 46 shards x 2 nodes > 90
        ({"NodeGroupCount": 4, "ApplyImmediately": False}, "InvalidParameterValue"),
    ],
)
def test_shard_configuration_rejects_invalid_requests(ec: Any, kwargs: dict[str, Any], expected: str) -> None:
    create_cluster_group(ec, shards=3, replicas=1)
    before = describe(ec)
    request = {"ReplicationGroupId": "rg", "ApplyImmediately": True, **kwargs}
    assert error_code(ec.modify_replication_group_shard_configuration, **request) == expected
    after = describe(ec)
    assert topology(after) == topology(before)
    assert after["Status"] == "available"


def test_shard_configuration_needs_cluster_mode(ec: Any) -> None:
    create_non_cluster_group(ec)
    code = error_code(
        ec.modify_replication_group_shard_configuration,
        ReplicationGroupId="solo",
        NodeGroupCount=2,
        ApplyImmediately=True,
    )
    assert code == "InvalidParameterValue"


# --------------------------------------------------------------------------- Increase/DecreaseReplicaCount


def test_increase_replicas_on_every_shard(ec: Any) -> None:
    create_cluster_group(ec, shards=2, replicas=1)
    response = ec.increase_replica_count(ReplicationGroupId="rg", NewReplicaCount=3, ApplyImmediately=True)
    assert response["ReplicationGroup"]["Status"] == "modifying"
    group = describe(ec)
    assert group["Status"] == "available"
    assert topology(group) == {
        "0001": ("0-8191", ["rg-0001-001", "rg-0001-002", "rg-0001-003", "rg-0001-004"]),
        "0002": ("8192-16383", ["rg-0002-001", "rg-0002-002", "rg-0002-003", "rg-0002-004"]),
    }
    assert len(group["MemberClusters"]) == 8


def test_increase_replicas_per_shard_with_azs(ec: Any) -> None:
    create_cluster_group(ec, shards=2, replicas=0)
    ec.increase_replica_count(
        ReplicationGroupId="rg",
        ReplicaConfiguration=[
            {
                "NodeGroupId": "0002",
                "NewReplicaCount": 2,
                "PreferredAvailabilityZones": ["us-east-1a", "us-east-1c", "us-east-1d"],
            }
        ],
        ApplyImmediately=True,
    )
    group = describe(ec)
    assert topology(group)["0001"][1] == ["rg-0001-001"]
    shard = group["NodeGroups"][1]
    assert [(m["CacheClusterId"], m["PreferredAvailabilityZone"]) for m in shard["NodeGroupMembers"]] == [
        ("rg-0002-001", "us-east-1a"),
        ("rg-0002-002", "us-east-1c"),
        ("rg-0002-003", "us-east-1d"),
    ]


def test_decrease_replicas_by_count(ec: Any) -> None:
    create_cluster_group(ec, shards=2, replicas=3)
    ec.decrease_replica_count(ReplicationGroupId="rg", NewReplicaCount=1, ApplyImmediately=True)
    assert topology(describe(ec)) == {
        "0001": ("0-8191", ["rg-0001-001", "rg-0001-002"]),
        "0002": ("8192-16383", ["rg-0002-001", "rg-0002-002"]),
    }


def test_decrease_replicas_by_id_then_increase_refills_gap(ec: Any) -> None:
    create_cluster_group(ec, shards=1, replicas=3)
    ec.decrease_replica_count(ReplicationGroupId="rg", ReplicasToRemove=["rg-0001-002"], ApplyImmediately=True)
    assert describe(ec)["MemberClusters"] == ["rg-0001-001", "rg-0001-003", "rg-0001-004"]
    ec.increase_replica_count(ReplicationGroupId="rg", NewReplicaCount=3, ApplyImmediately=True)
    assert describe(ec)["MemberClusters"] == ["rg-0001-001", "rg-0001-002", "rg-0001-003", "rg-0001-004"]


def test_decrease_replicas_per_shard(ec: Any) -> None:
    create_cluster_group(ec, shards=2, replicas=2)
    ec.decrease_replica_count(
        ReplicationGroupId="rg",
        ReplicaConfiguration=[{"NodeGroupId": "0001", "NewReplicaCount": 0}],
        ApplyImmediately=True,
    )
    shards = topology(describe(ec))
    assert shards["0001"][1] == ["rg-0001-001"]
    assert shards["0002"][1] == ["rg-0002-001", "rg-0002-002", "rg-0002-003"]


def test_replicas_of_non_cluster_group(ec: Any) -> None:
    create_non_cluster_group(ec, clusters=2)
    ec.increase_replica_count(ReplicationGroupId="solo", NewReplicaCount=3, ApplyImmediately=True)
    group = describe(ec, "solo")
    assert group["MemberClusters"] == ["solo-001", "solo-002", "solo-003", "solo-004"]
    members = group["NodeGroups"][0]["NodeGroupMembers"]
    assert [m["CurrentRole"] for m in members] == ["primary", "replica", "replica", "replica"]
    assert members[3]["ReadEndpoint"]["Address"].startswith("solo-004.solo.")
    ec.decrease_replica_count(ReplicationGroupId="solo", NewReplicaCount=0, ApplyImmediately=True)
    assert describe(ec, "solo")["MemberClusters"] == ["solo-001"]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"NewReplicaCount": 6}, "InvalidParameterValue"),
        ({"NewReplicaCount": 0}, "InvalidParameterValue"),  # lower than current
        ({"NewReplicaCount": 1}, "NoOperationFault"),
        ({}, "InvalidParameterValue"),
        (
            {"NewReplicaCount": 2, "ReplicaConfiguration": [{"NodeGroupId": "0001", "NewReplicaCount": 2}]},
            "InvalidParameterCombination",
        ),
        ({"ReplicaConfiguration": [{"NodeGroupId": "0009", "NewReplicaCount": 2}]}, "InvalidParameterValue"),
        (
            {
                "ReplicaConfiguration": [
                    {"NodeGroupId": "0001", "NewReplicaCount": 2, "PreferredAvailabilityZones": ["us-east-1a"]}
                ]
            },
            "InvalidParameterValue",
        ),
        ({"NewReplicaCount": 2, "ApplyImmediately": False}, "InvalidParameterValue"),
    ],
)
def test_increase_rejects_invalid_requests(ec: Any, kwargs: dict[str, Any], expected: str) -> None:
    create_cluster_group(ec, shards=2, replicas=1)
    before = topology(describe(ec))
    request = {"ReplicationGroupId": "rg", "ApplyImmediately": True, **kwargs}
    assert error_code(ec.increase_replica_count, **request) == expected
    assert topology(describe(ec)) == before


def test_increase_beyond_node_quota(ec: Any) -> None:
    create_cluster_group(ec, shards=20, replicas=1)
    code = error_code(ec.increase_replica_count, ReplicationGroupId="rg", NewReplicaCount=5, ApplyImmediately=True)
    assert code == "NodeGroupsPerReplicationGroupQuotaExceeded"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"NewReplicaCount": 3}, "InvalidParameterValue"),  # higher than current
        ({"NewReplicaCount": -1}, "InvalidParameterValue"),
        ({"NewReplicaCount": 2}, "NoOperationFault"),
        ({}, "InvalidParameterValue"),
        ({"NewReplicaCount": 1, "ReplicasToRemove": ["rg-0001-002"]}, "InvalidParameterCombination"),
        ({"ReplicasToRemove": ["rg-0001-001"]}, "InvalidParameterValue"),  # primary
        ({"ReplicasToRemove": ["rg-0009-002"]}, "InvalidParameterValue"),  # not a member
        ({"NewReplicaCount": 1, "ApplyImmediately": False}, "InvalidParameterValue"),
    ],
)
def test_decrease_rejects_invalid_requests(ec: Any, kwargs: dict[str, Any], expected: str) -> None:
    create_cluster_group(ec, shards=2, replicas=2)
    before = topology(describe(ec))
    request = {"ReplicationGroupId": "rg", "ApplyImmediately": True, **kwargs}
    assert error_code(ec.decrease_replica_count, **request) == expected
    assert topology(describe(ec)) == before


def test_decrease_keeps_one_replica_with_multi_az(ec: Any) -> None:
    create_non_cluster_group(ec, clusters=3, multi_az=True)
    code = error_code(ec.decrease_replica_count, ReplicationGroupId="solo", NewReplicaCount=0, ApplyImmediately=True)
    assert code == "InvalidParameterValue"
    ec.decrease_replica_count(ReplicationGroupId="solo", NewReplicaCount=1, ApplyImmediately=True)
    assert describe(ec, "solo")["MemberClusters"] == ["solo-001", "solo-002"]


@pytest.mark.parametrize(
    ("operation", "kwargs"),
    [
        ("modify_replication_group_shard_configuration", {"NodeGroupCount": 2}),
        ("increase_replica_count", {"NewReplicaCount": 2}),
        ("decrease_replica_count", {"NewReplicaCount": 0}),
    ],
)
def test_unknown_group_is_not_found(ec: Any, operation: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as excinfo:
        getattr(ec, operation)(ReplicationGroupId="missing", ApplyImmediately=True, **kwargs)
    assert excinfo.value.response["Error"]["Code"] == "ReplicationGroupNotFoundFault"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# --------------------------------------------------------------------------- modifying -> available and holds


def test_unheld_change_is_instant(ec: Any) -> None:
    create_cluster_group(ec, shards=2, replicas=1)
    first = ec.increase_replica_count(ReplicationGroupId="rg", NewReplicaCount=2, ApplyImmediately=True)
    assert first["ReplicationGroup"]["Status"] == "modifying"
    # No describe in between: an un-held change is already complete for the next call.
    ec.modify_replication_group_shard_configuration(ReplicationGroupId="rg", NodeGroupCount=3, ApplyImmediately=True)
    group = ec.describe_replication_groups()["ReplicationGroups"][0]
    assert group["Status"] == "available"
    assert [len(ng["NodeGroupMembers"]) for ng in group["NodeGroups"]] == [3, 3, 3]


def test_hold_keeps_group_modifying_for_the_polls(ec: Any) -> None:
    create_cluster_group(ec, shards=2, replicas=1)
    SANDBOX_STATE.hold("elasticache", "rg", polls=2, status="modifying")
    ec.modify_replication_group_shard_configuration(ReplicationGroupId="rg", NodeGroupCount=3, ApplyImmediately=True)
    assert describe(ec)["Status"] == "modifying"
    held = describe(ec)
    assert held["Status"] == "modifying"
    assert len(held["NodeGroups"]) == 3
    assert describe(ec)["Status"] == "available"
    assert SANDBOX_STATE.peek_hold("elasticache", "rg") is None


@pytest.mark.parametrize(
    ("operation", "kwargs"),
    [
        ("modify_replication_group_shard_configuration", {"NodeGroupCount": 4}),
        ("increase_replica_count", {"NewReplicaCount": 3}),
        ("decrease_replica_count", {"NewReplicaCount": 0}),
    ],
)
def test_held_group_refuses_changes(ec: Any, operation: str, kwargs: dict[str, Any]) -> None:
    create_cluster_group(ec, shards=2, replicas=1)
    SANDBOX_STATE.hold("elasticache", "rg", polls=1, status="modifying")
    ec.increase_replica_count(ReplicationGroupId="rg", NewReplicaCount=2, ApplyImmediately=True)
    call = getattr(ec, operation)
    assert error_code(call, ReplicationGroupId="rg", ApplyImmediately=True, **kwargs) == "InvalidReplicationGroupState"
    assert describe(ec)["Status"] == "modifying"
    assert error_code(call, ReplicationGroupId="rg", ApplyImmediately=True, **kwargs) == "InvalidReplicationGroupState"
    assert describe(ec)["Status"] == "available"
    call(ReplicationGroupId="rg", ApplyImmediately=True, **kwargs)


def test_hold_waits_for_a_change(ec: Any) -> None:
    create_cluster_group(ec)
    SANDBOX_STATE.hold("elasticache", "rg", polls=1, status="modifying")
    assert describe(ec)["Status"] == "available"
    assert SANDBOX_STATE.peek_hold("elasticache", "rg") is not None
    ec.increase_replica_count(ReplicationGroupId="rg", NewReplicaCount=2, ApplyImmediately=True)
    assert describe(ec)["Status"] == "modifying"
    assert describe(ec)["Status"] == "available"


def test_hold_added_after_an_instant_change_is_left_for_the_next_change(ec: Any) -> None:
    create_cluster_group(ec)
    ec.increase_replica_count(ReplicationGroupId="rg", NewReplicaCount=2, ApplyImmediately=True)
    SANDBOX_STATE.hold("elasticache", "rg", polls=1, status="modifying")
    assert describe(ec)["Status"] == "available"
    assert SANDBOX_STATE.peek_hold("elasticache", "rg") is not None


def test_listing_all_groups_also_consumes_hold_polls(ec: Any) -> None:
    create_cluster_group(ec, rg_id="a")
    create_cluster_group(ec, rg_id="b")
    SANDBOX_STATE.hold("elasticache", "a", polls=1, status="modifying")
    ec.increase_replica_count(ReplicationGroupId="a", NewReplicaCount=2, ApplyImmediately=True)
    ec.increase_replica_count(ReplicationGroupId="b", NewReplicaCount=2, ApplyImmediately=True)
    statuses = {g["ReplicationGroupId"]: g["Status"] for g in ec.describe_replication_groups()["ReplicationGroups"]}
    assert statuses == {"a": "modifying", "b": "available"}
    assert describe(ec, "a")["Status"] == "available"


def test_hold_can_report_any_status(ec: Any) -> None:
    create_cluster_group(ec)
    SANDBOX_STATE.hold("elasticache", "rg", polls=2, status="snapshotting")
    ec.decrease_replica_count(ReplicationGroupId="rg", NewReplicaCount=0, ApplyImmediately=True)
    assert [describe(ec)["Status"] for _ in range(3)] == ["snapshotting", "snapshotting", "available"]


def test_status_written_by_another_call_is_not_overwritten(ec: Any) -> None:
    create_cluster_group(ec)
    SANDBOX_STATE.hold("elasticache", "rg", polls=5, status="modifying")
    ec.increase_replica_count(ReplicationGroupId="rg", NewReplicaCount=2, ApplyImmediately=True)
    ec.delete_replication_group(ReplicationGroupId="rg")
    assert describe(ec)["Status"] == "deleting"
    assert describe(ec)["Status"] == "deleting"

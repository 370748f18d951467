"""Scale workflow on ElastiCache shards and replicas, end to end in the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from cpctl.sandbox.runtime import Sandbox
from cpctl.sandbox.scenarios.scale_databases import (
    cache_group,
    cache_request,
    expire_cooldown,
    set_cache_memory,
    shard_count,
)
from tests.conftest import assert_blocked

pytestmark = pytest.mark.sandbox
SM = "ScaleStateMachine"
GROUP = "sip-dev-redis"
MUTATING = ("ModifyReplicationGroupShardConfiguration", "IncreaseReplicaCount", "DecreaseReplicaCount")


def _blocked(sandbox: Sandbox, payload: dict[str, Any], guard: str) -> None:
    assert_blocked(sandbox.run(SM, payload), guard, MUTATING)


def test_shards_three_to_four_to_three() -> None:
    with Sandbox() as sandbox:
        sandbox.state.hold("elasticache", GROUP, polls=3, status="modifying")
        up = sandbox.run(SM, cache_request(GROUP, "more memory", desired=4))
        assert up.outcome == "Succeeded", up.reason
        assert shard_count(sandbox, GROUP) == 4
        assert up.states_entered.count("CheckProgress") >= 3
        set_cache_memory(sandbox, GROUP, 30.0)
        expire_cooldown(sandbox, "cache_shards", GROUP)
        down = sandbox.run(SM, cache_request(GROUP, "less memory", desired=3))
        assert down.outcome == "Succeeded", down.reason
        assert [ng["NodeGroupId"] for ng in cache_group(sandbox, GROUP)["NodeGroups"]] == ["0001", "0002", "0003"]
        assert sandbox.lock_items() == []


def test_replicas_per_shard_up_and_down() -> None:
    with Sandbox() as sandbox:
        up = sandbox.run(SM, cache_request(GROUP, "read load", dimension="replicas_per_shard", desired=2))
        assert up.outcome == "Succeeded", up.reason
        assert all(len(ng["NodeGroupMembers"]) == 3 for ng in cache_group(sandbox, GROUP)["NodeGroups"])
        expire_cooldown(sandbox, "cache_shards", GROUP)
        down = sandbox.run(SM, cache_request(GROUP, "quiet", dimension="replicas_per_shard", desired=1))
        assert down.outcome == "Succeeded", down.reason
        assert down.calls("DecreaseReplicaCount") == 1


def test_guards_refuse() -> None:
    with Sandbox() as sandbox:
        _blocked(sandbox, cache_request(GROUP, "below baseline", desired=2), "below the minimum 3")
        _blocked(sandbox, cache_request(GROUP, "two at once", desired=5), "max_step")
        _blocked(sandbox, cache_request(GROUP, "no replicas", dimension="replicas_per_shard", desired=0), "bounds")
        # Memory: 4 shards at 60% would be 80% on 3 (limit 70%).
        assert sandbox.run(SM, cache_request(GROUP, "more", desired=4)).outcome == "Succeeded"
        _blocked(sandbox, cache_request(GROUP, "too soon", desired=3), "cooldown")
        expire_cooldown(sandbox, "cache_shards", GROUP)
        set_cache_memory(sandbox, GROUP, 60.0)
        _blocked(sandbox, cache_request(GROUP, "memory short", desired=3), "memory_headroom")


def test_cluster_mode_disabled_refused() -> None:
    # The functions' roles cover CacheReplicationGroupId only: deploy the stack for the plain group.
    with Sandbox(parameters={"CacheReplicationGroupId": "plain"}) as sandbox:
        sandbox.client("elasticache").create_replication_group(
            ReplicationGroupId="plain",
            ReplicationGroupDescription="cluster mode off",
            Engine="redis",
            CacheNodeType="cache.t4g.small",
            NumCacheClusters=2,
        )
        _blocked(sandbox, cache_request("plain", "reshard", desired=2), "cluster_mode")


def test_group_not_available_refused() -> None:
    from moto.elasticache.models import elasticache_backends

    with Sandbox() as sandbox:
        elasticache_backends["123456789012"]["us-east-1"].replication_groups[GROUP].status = "snapshotting"
        _blocked(sandbox, cache_request(GROUP, "busy", desired=4), "ready")


def test_stuck_modifying_times_out_releases_lock_and_notifies() -> None:
    with Sandbox() as sandbox:
        sandbox.notifications()
        sandbox.state.hold("elasticache", GROUP, polls=100_000, status="modifying")
        report = sandbox.run(SM, cache_request(GROUP, "stuck", desired=4))
        assert report.status == "FAILED" and report.error == "VerifyTimeout", (report.error, report.cause)
        assert sandbox.lock_items() == []
        assert any("TimedOut" in n.get("Message", "") for n in sandbox.notifications())


def test_throttling_is_retried() -> None:
    with Sandbox() as sandbox:
        sandbox.state.inject("elasticache", "ModifyReplicationGroupShardConfiguration", "Throttling", times=5)
        report = sandbox.run(SM, cache_request(GROUP, "throttled", desired=4))
        assert report.outcome == "Succeeded", report.reason
        assert report.calls("ModifyReplicationGroupShardConfiguration") == 6
        assert shard_count(sandbox, GROUP) == 4


@pytest.mark.parametrize(
    "payload",
    [
        cache_request(GROUP, "bad dimension", dimension="nodes", desired=4),
        cache_request("-bad-", "bad id", desired=4),
        cache_request(GROUP, "both", desired=4) | {"delta": 1},
    ],
)
def test_malformed_input_fails_with_invalid_request(payload: dict[str, Any]) -> None:
    with Sandbox() as sandbox:
        report = sandbox.run(SM, payload)
        assert report.status == "FAILED" and report.error == "InvalidRequest", (report.error, report.cause)
        assert sum(report.calls(op) for op in MUTATING) == 0


def test_two_concurrent_requests_apply_once() -> None:
    with Sandbox() as sandbox:
        sandbox.state.hold("elasticache", GROUP, polls=30, status="modifying")
        first = sandbox.start_execution(SM, cache_request(GROUP, "batch A", desired=4))
        second = sandbox.start_execution(SM, cache_request(GROUP, "batch B", desired=4))
        reports = [sandbox.wait(first), sandbox.wait(second)]
        assert sum(r.calls("ModifyReplicationGroupShardConfiguration") for r in reports) == 1
        # NoChange is right too: the second may plan before the first applies, then find it done.
        assert sorted(r.outcome for r in reports) in (["Blocked", "Succeeded"], ["NoChange", "Succeeded"])
        assert shard_count(sandbox, GROUP) == 4

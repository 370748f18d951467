"""Scale workflow on RDS read replicas (0 -> 2 -> 1) and ElastiCache shards (3 -> 4 -> 3), with guards refusing.

The same state machine as for node groups; only the adapter differs.
"""

from __future__ import annotations

from typing import Any, TextIO

from cpctl.sandbox.runtime import Sandbox
from cpctl.sandbox.scenarios import Scenario, ScenarioResult

STATE_MACHINE = "ScaleStateMachine"


def postgres_primary(sandbox: Sandbox) -> str:
    """The primary ``Sandbox.seed`` creates (and the template's RdsPrimaryIdentifier default names)."""
    return f"{sandbox.tfvars.get('project', 'sip')}-{sandbox.tfvars['environment']}-postgres"


def redis_group(sandbox: Sandbox) -> str:
    return f"{sandbox.tfvars.get('project', 'sip')}-{sandbox.tfvars['environment']}-redis"


def replicas_request(primary: str, reason: str, **change: Any) -> dict[str, Any]:
    return {
        "resource": {"kind": "rds_replicas", "primary": primary},
        "reason": reason,
        "requester": {"type": "person", "id": "demo"},
        **change,
    }


def cache_request(group: str, reason: str, dimension: str = "shards", **change: Any) -> dict[str, Any]:
    return {
        "resource": {"kind": "cache_shards", "replication_group": group, "dimension": dimension},
        "reason": reason,
        "requester": {"type": "person", "id": "demo"},
        **change,
    }


def replicas_of(sandbox: Sandbox, primary: str) -> list[str]:
    """Same-region replicas of ``primary`` that are not being deleted."""
    instances = sandbox.client("rds").describe_db_instances()["DBInstances"]
    return sorted(
        i["DBInstanceIdentifier"]
        for i in instances
        if i.get("ReadReplicaSourceDBInstanceIdentifier") == primary and i["DBInstanceStatus"] != "deleting"
    )


def cache_group(sandbox: Sandbox, group: str) -> dict[str, Any]:
    return dict(
        sandbox.client("elasticache").describe_replication_groups(ReplicationGroupId=group)["ReplicationGroups"][0]
    )


def shard_count(sandbox: Sandbox, group: str) -> int:
    return len(cache_group(sandbox, group)["NodeGroups"])


def set_cache_memory(sandbox: Sandbox, group: str, percent: float) -> None:
    """Every member of the group reports ``percent`` DatabaseMemoryUsagePercentage (now)."""
    sandbox.put_cache_memory(list(cache_group(sandbox, group)["MemberClusters"]), percent)


def expire_cooldown(sandbox: Sandbox, kind: str, resource_id: str) -> None:
    """Let the cooldown pass: forget the last-change mark (the sandbox cannot wait minutes)."""
    sandbox.client("dynamodb").delete_item(
        TableName=sandbox.resources["StateTable"]["Ref"],
        Key={"pk": {"S": f"CHANGE#{kind}#{resource_id}"}, "sk": {"S": "LAST"}},
    )


def read_replicas_out_and_in(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    primary = postgres_primary(sandbox)
    before = replicas_of(sandbox, primary)
    # A new replica takes a while to create, as RDS does.
    sandbox.state.hold("rds", f"{primary}-cp-1", polls=3, status="creating")
    # Absolute sizes from what is there (prod's Terraform keeps one replica of its own): +2, then back by one.
    up = sandbox.run(
        STATE_MACHINE,
        replicas_request(primary, "reporting queries need read capacity", desired=len(before) + 2),
    )
    result.reports.append(up)
    after_up = replicas_of(sandbox, primary)
    result.expect(up.outcome == "Succeeded", f"scale-out ended {up.outcome}: {up.reason}")
    result.expect(len(after_up) == len(before) + 2, f"replicas {before} -> {after_up}")
    result.expect(up.calls("CreateDBInstanceReadReplica") == 2, "expected two CreateDBInstanceReadReplica calls")

    blocked = sandbox.run(
        STATE_MACHINE, replicas_request(primary, "too soon after the last change", desired=len(before) + 1)
    )
    result.reports.append(blocked)
    result.expect(blocked.outcome == "Blocked" and "cooldown" in blocked.reason, f"ended {blocked.outcome}")
    result.expect(blocked.calls("DeleteDBInstance") == 0, "a Blocked scale-in called DeleteDBInstance")

    expire_cooldown(sandbox, "rds_replicas", primary)
    newest = f"{primary}-cp-2"
    sandbox.state.hold("rds", newest, polls=2, status="deleting")
    down = sandbox.run(STATE_MACHINE, replicas_request(primary, "reporting done", desired=len(before) + 1))
    result.reports.append(down)
    after_down = replicas_of(sandbox, primary)
    result.expect(down.outcome == "Succeeded", f"scale-in ended {down.outcome}: {down.reason}")
    result.expect(newest not in after_down and len(after_down) == len(before) + 1, f"replicas now {after_down}")
    result.notes.append(f"replicas {len(before)} -> {len(after_up)} ({', '.join(after_up)}) -> {len(after_down)}")
    result.notes.append(f"Blocked: {blocked.reason}")
    return result


def shards_out_and_in(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    group = redis_group(sandbox)
    before = shard_count(sandbox, group)
    sandbox.state.hold("elasticache", group, polls=3, status="modifying")
    up = sandbox.run(STATE_MACHINE, cache_request(group, "cache hit ratio falling", desired=before + 1))
    result.reports.append(up)
    after_up = shard_count(sandbox, group)
    result.expect(up.outcome == "Succeeded", f"shard scale-out ended {up.outcome}: {up.reason}")
    result.expect(after_up == before + 1, f"shards {before} -> {after_up}")

    # Every node reports its memory each minute, the new shard's too; then the cooldown passes.
    set_cache_memory(sandbox, group, 30.0)
    expire_cooldown(sandbox, "cache_shards", group)
    sandbox.state.hold("elasticache", group, polls=2, status="modifying")
    down = sandbox.run(STATE_MACHINE, cache_request(group, "peak over", desired=before))
    result.reports.append(down)
    after_down = shard_count(sandbox, group)
    result.expect(down.outcome == "Succeeded", f"shard scale-in ended {down.outcome}: {down.reason}")
    result.expect(after_down == before, f"shards {after_up} -> {after_down}")

    # The shards are now 60% full: 3 -> 2 would put 90% on each remaining shard (policy limit 70%),
    # and 2 is below the baseline of 3 that Terraform owns.
    expire_cooldown(sandbox, "cache_shards", group)
    set_cache_memory(sandbox, group, 60.0)
    blocked = sandbox.run(STATE_MACHINE, cache_request(group, "save cost", desired=before - 1))
    result.reports.append(blocked)
    result.expect(blocked.outcome == "Blocked" and "memory_headroom" in blocked.reason, f"ended {blocked.outcome}")
    result.expect(blocked.calls("ModifyReplicationGroupShardConfiguration") == 0, "a Blocked scale-in resharded")
    result.expect(shard_count(sandbox, group) == after_down, "a Blocked scale-in changed the shard count")
    result.notes.append(f"shards {before} -> {after_up} -> {after_down}")
    result.notes.append(f"Blocked: {blocked.reason}")
    return result


SCENARIOS = [
    Scenario(
        "Scale RDS read replicas 0 -> 2 -> 1 (a scale-in inside the cooldown is Blocked)", read_replicas_out_and_in
    ),
    Scenario("Scale ElastiCache shards 3 -> 4 -> 3, then a scale-in short of memory (Blocked)", shards_out_and_in),
]

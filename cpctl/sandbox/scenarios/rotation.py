"""Rotation workflow on real servers: the application user twice (both alternating users), the master
user, the Redis AUTH token (ROTATE, then SET after the grace period), and a rotation during a reshard of
the same replication group, Blocked by the lease. After each: the new credentials log in and the old
ones are refused where they must be, on the private PostgreSQL 15 and Redis 7."""

from __future__ import annotations

import os
import threading
from typing import Any, TextIO

from cpctl.sandbox import rotation_support
from cpctl.sandbox.rotation_support import APP_USER, MASTER_USER, secret_names, value
from cpctl.sandbox.runtime import Sandbox
from cpctl.sandbox.scenarios import Scenario, ScenarioResult

STATE_MACHINE = "RotationStateMachine"
DEMO = {"type": "person", "id": "demo"}


def _pg_works(server: Any, username: str, password: str) -> bool:
    try:
        with server.connect(username, password, database=server.database) as connection:
            connection.run("SELECT count(*) FROM app.accounts")
    except Exception:
        return False
    return True


def _redis_works(server: Any, token: str) -> bool:
    client = server.client(password=token)
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def _servers(sandbox: Sandbox, result: ScenarioResult) -> tuple[Any, Any] | None:
    if sandbox.real_servers is None:
        message = "no PostgreSQL/Redis binaries: rotation runs only against real servers"
        if os.environ.get("CI"):
            result.failures.append(message)
        else:
            result.notes.append(f"skipped: {message}")
    return sandbox.real_servers


def _rotate(sandbox: Sandbox, secret: str, reason: str) -> Any:
    return sandbox.run(STATE_MACHINE, {"secret": secret, "reason": reason, "requester": DEMO})


def rotate_database_users(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    servers = _servers(sandbox, result)
    if servers is None:
        return result
    postgres, _ = servers
    names = secret_names(sandbox.environment)
    original = value(sandbox, names["app"])
    for turn, expected_user in ((1, f"{APP_USER}_clone"), (2, APP_USER)):
        report = _rotate(sandbox, names["app"], f"application user, rotation {turn}")
        result.reports.append(report)
        now = value(sandbox, names["app"])
        result.expect(report.outcome == "Succeeded", f"app rotation {turn} ended {report.outcome}: {report.reason}")
        result.expect(now["username"] == expected_user, f"rotation {turn} left user {now['username']}")
        result.expect(_pg_works(postgres, now["username"], now["password"]), f"rotation {turn}: new login refused")
        result.notes.append(f"app rotation {turn}: AWSCURRENT is now {now['username']} (logs in on PostgreSQL)")
    result.expect(not _pg_works(postgres, APP_USER, original["password"]), "the first app password still logs in")
    result.notes.append(f"{APP_USER}'s first password is refused after its own turn came again")

    master_before = value(sandbox, names["master"])
    master = _rotate(sandbox, names["master"], "master user")
    result.reports.append(master)
    master_after = value(sandbox, names["master"])
    result.expect(master.outcome == "Succeeded", f"master rotation ended {master.outcome}: {master.reason}")
    result.expect(_pg_works(postgres, MASTER_USER, master_after["password"]), "new master password refused")
    result.expect(not _pg_works(postgres, MASTER_USER, master_before["password"]), "old master password works")
    result.notes.append("master user (single user): new password logs in, the old one is refused")
    result.expect(sandbox.lock_items() == [], "a lease was left behind")
    return result


def rotate_redis_token(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    servers = _servers(sandbox, result)
    if servers is None:
        return result
    _, redis = servers
    name = secret_names(sandbox.environment)["redis"]
    old = value(sandbox, name)["auth_token"]
    rotated = _rotate(sandbox, name, "AUTH token")
    result.reports.append(rotated)
    new = value(sandbox, name)["auth_token"]
    result.expect(rotated.outcome == "Succeeded", f"token rotation ended {rotated.outcome}: {rotated.reason}")
    result.expect(_redis_works(redis, old) and _redis_works(redis, new), "ROTATE: both tokens must log in")
    result.notes.append("ROTATE: the old and the new token both log in (grace period for consumers)")
    grace = rotation_support.grace_seconds(sandbox)
    sandbox.advance_clock(grace)
    scheduled = rotation_support.fire_rotation_schedule(sandbox)
    result.reports.append(scheduled)
    dropped = [s for s in (scheduled.output or {}).get("secrets", []) if s["secret"] == name]
    result.expect(
        bool(dropped) and dropped[0]["action"] == "drop_old_token", f"schedule did not SET: {scheduled.reason}"
    )
    result.expect(_redis_works(redis, new) and not _redis_works(redis, old), "SET: only the new token may log in")
    result.notes.append(f"{grace}s later the daily schedule SETs the new token: the old one is refused")
    return result


def rotation_during_reshard(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    """A reshard holds the replication group's lease (the group stays modifying for a while); a token
    rotation asked for meanwhile is Blocked by that lease and changes nothing."""
    result = ScenarioResult()
    servers = _servers(sandbox, result)
    if servers is None:
        return result
    name = secret_names(sandbox.environment)["redis"]
    before = value(sandbox, name)["auth_token"]
    group = sandbox.cache_group_id
    shards = len(
        sandbox.client("elasticache").describe_replication_groups(ReplicationGroupId=group)["ReplicationGroups"][0][
            "NodeGroups"
        ]
    )
    sandbox.state.hold("elasticache", group, polls=40, status="modifying")
    reshard_arn = sandbox.start_execution(
        "ScaleStateMachine",
        {
            "resource": {"kind": "cache_shards", "replication_group": group, "dimension": "shards"},
            "desired": shards + 1,
            "reason": "campaign launch",
            "requester": DEMO,
        },
    )
    seen = threading.Event()
    for _ in range(2000):
        if any(item["owner"]["S"].startswith("scale/") for item in sandbox.lock_items()):
            seen.set()
            break
        threading.Event().wait(0.01)
    result.expect(seen.is_set(), "the reshard never took the group's lease")
    blocked = _rotate(sandbox, name, "token rotation during a reshard")
    reshard = sandbox.wait(reshard_arn, timeout_seconds=300)
    result.reports.extend([reshard, blocked])
    result.expect(blocked.outcome == "Blocked" and "LockHeld" in blocked.reason, f"rotation ended {blocked.outcome}")
    result.expect(blocked.calls("RotateSecret", "ModifyReplicationGroup") == 0, "a Blocked rotation changed something")
    result.expect(value(sandbox, name)["auth_token"] == before, "the token changed during the reshard")
    result.notes.append(f"rotation during the reshard: {blocked.outcome} ({blocked.reason[:120]}...)")
    result.notes.append(f"the reshard itself: {reshard.outcome}")
    return result


SCENARIOS = [
    Scenario(
        "Rotate the application user twice (alternating users) and the master user, on PostgreSQL 15",
        rotate_database_users,
    ),
    Scenario("Rotate the Redis AUTH token: ROTATE, then SET after the grace period, on Redis 7", rotate_redis_token),
    Scenario("A token rotation during a reshard of the same group is Blocked by the lease", rotation_during_reshard),
]

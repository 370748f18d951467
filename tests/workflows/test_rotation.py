"""The Rotation workflow end to end in the sandbox: the real template, ASL, handlers and rotation
functions, Secrets Manager's steps run through the Lambda bridge, and the credentials proven on a
real PostgreSQL 15 and Redis 7 behind the emulated RDS endpoint and replication group."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cpctl.sandbox import rotation_support
from cpctl.sandbox.rotation_support import APP_USER, MASTER_USER, secret_names, value

PERSON = {"type": "person", "id": "alice@example.com"}


@pytest.fixture
def sandbox(postgres_server: Any, redis_server: Any) -> Iterator[Any]:
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox(real_servers=(postgres_server, redis_server)) as running:
        yield running


def rotate(sandbox: Any, secret: str, **extra: Any) -> Any:
    return sandbox.run(
        "RotationStateMachine", {"secret": secret, "reason": "quarterly rotation", "requester": PERSON, **extra}
    )


def pg_works(server: Any, username: str, password: str) -> bool:
    try:
        with server.connect(username, password, database=server.database) as connection:
            connection.run("SELECT count(*) FROM app.accounts")
    except Exception:
        return False
    return True


def redis_works(server: Any, token: str) -> bool:
    client = server.client(password=token)
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def history_text(sandbox: Any, report: Any) -> str:
    events = sandbox.client("stepfunctions").get_execution_history(executionArn=report.arn, maxResults=1000)["events"]
    return json.dumps(events, default=str)


def assert_never_exposed(sandbox: Any, report: Any, *secrets: str) -> None:
    """Not in the execution's history or output, its events, notifications, or what handlers printed."""
    from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY

    exposed = history_text(sandbox, report) + json.dumps(report.output) + str(report.cause)
    exposed += json.dumps(sandbox.events()) + json.dumps(sandbox.notifications()) + REGISTRY.output.getvalue()
    exposed += json.dumps(sandbox.audit_items())
    for secret in secrets:
        assert secret not in exposed


def test_app_user_rotates_twice_alternating_users_on_the_real_server(sandbox: Any, postgres_server: Any) -> None:
    name = secret_names("dev")["app"]
    original = value(sandbox, name)
    first = rotate(sandbox, name)
    assert first.status == "SUCCEEDED" and first.outcome == "Succeeded", first.reason
    after_first = value(sandbox, name)
    assert after_first["username"] == f"{APP_USER}_clone"
    assert pg_works(postgres_server, after_first["username"], after_first["password"])
    assert pg_works(postgres_server, APP_USER, original["password"])  # old holders keep working
    second = rotate(sandbox, name)
    assert second.outcome == "Succeeded", second.reason
    after_second = value(sandbox, name)
    assert after_second["username"] == APP_USER
    assert pg_works(postgres_server, APP_USER, after_second["password"])
    assert not pg_works(postgres_server, APP_USER, original["password"])
    assert sandbox.lock_items() == []
    audit = [item for item in sandbox.audit_items() if item["workflow"] == "rotation"]
    assert len(audit) == 2 and {item["status"] for item in audit} == {"Succeeded"}
    assert second.output["secrets"][0]["reason"].startswith("new credentials log in")
    assert_never_exposed(sandbox, second, original["password"], after_first["password"], after_second["password"])


def test_master_user_single_user_rotation_old_password_refused(sandbox: Any, postgres_server: Any) -> None:
    name = secret_names("dev")["master"]
    before = value(sandbox, name)
    report = rotate(sandbox, name)
    assert report.outcome == "Succeeded", report.reason
    after = value(sandbox, name)
    assert after["username"] == MASTER_USER
    assert pg_works(postgres_server, MASTER_USER, after["password"])
    assert not pg_works(postgres_server, MASTER_USER, before["password"])
    assert "old ones refused" in report.output["secrets"][0]["reason"]
    assert_never_exposed(sandbox, report, before["password"], after["password"])


def test_redis_token_rotate_then_set_after_the_grace_period(sandbox: Any, redis_server: Any) -> None:
    name = secret_names("dev")["redis"]
    old = value(sandbox, name)["auth_token"]
    report = rotate(sandbox, name)
    assert report.outcome == "Succeeded", report.reason
    new = value(sandbox, name)["auth_token"]
    assert redis_works(redis_server, old) and redis_works(redis_server, new)
    assert report.calls("ModifyReplicationGroup") == 0  # the workflow itself did not touch the group
    # Asked again within the grace period: refused, nothing changed.
    early = rotate(sandbox, name)
    assert early.outcome == "Blocked" and "grace period" in early.reason
    # The schedule's run before the grace period ends leaves the token alone.
    quiet = rotation_support.fire_rotation_schedule(sandbox)
    assert quiet.status == "SUCCEEDED"
    assert redis_works(redis_server, old)
    sandbox.advance_clock(900)
    scheduled = rotation_support.fire_rotation_schedule(sandbox)
    assert scheduled.status == "SUCCEEDED", scheduled.reason
    dropped = [s for s in scheduled.output["secrets"] if s["secret"] == name]
    assert dropped and dropped[0]["action"] == "drop_old_token" and dropped[0]["status"] == "Succeeded"
    assert redis_works(redis_server, new) and not redis_works(redis_server, old)
    assert scheduled.calls("ModifyReplicationGroup") == 1
    assert_never_exposed(sandbox, scheduled, old, new)


def test_rotation_during_a_reshard_of_the_same_group_is_blocked_by_the_lease(sandbox: Any, redis_server: Any) -> None:
    from controlplane import clock
    from controlplane.leases import DynamoLeaseStore, owner_of, replication_group_key

    name = secret_names("dev")["redis"]
    old = value(sandbox, name)["auth_token"]
    leases = DynamoLeaseStore(sandbox.resources["StateTable"]["Ref"], client=sandbox.client("dynamodb"))
    key = replication_group_key(sandbox.cache_group_id)
    leases.acquire(key, owner_of("scale", "reshard-1"), 3600, clock.now(), workflow="scale")
    report = rotate(sandbox, name)
    assert report.status == "SUCCEEDED" and report.outcome == "Blocked", report.reason
    assert "LockHeld" in report.reason and "scale/reshard-1" in report.reason
    assert report.calls("RotateSecret", "ModifyReplicationGroup") == 0
    assert value(sandbox, name)["auth_token"] == old and redis_works(redis_server, old)
    held = leases.holder(key)
    assert held is not None and held.owner == "scale/reshard-1"  # the reshard's lease is untouched


def test_dry_run_plans_and_changes_nothing(sandbox: Any) -> None:
    name = secret_names("dev")["app"]
    before = value(sandbox, name)
    report = rotate(sandbox, name, dry_run=True)
    assert report.outcome == "DryRun" and "would rotate" in report.reason
    assert report.calls("RotateSecret", "PutSecretValue") == 0
    assert value(sandbox, name) == before


def test_an_invalid_request_is_rejected_before_any_call(sandbox: Any) -> None:
    report = sandbox.run("RotationStateMachine", {"secret": "sip/dev/postgres/app", "all_due": True, "reason": "x"})
    assert report.status == "FAILED" and report.error == "InvalidRequest"
    unknown = rotate(sandbox, "sip/dev/someone-elses-secret")
    assert unknown.status == "FAILED" and unknown.error == "InvalidRequest"
    assert unknown.calls("RotateSecret") == 0


def test_a_failed_rotation_leaves_awscurrent_working_and_says_so_then_the_retry_completes(
    sandbox: Any, postgres_server: Any
) -> None:
    """The master secret is wrong, so the alternating rotation of the app user cannot log in to set the
    clone's password: the rotation fails at setSecret, AWSCURRENT still logs in, the lease is released;
    fixed, Secrets Manager's retry completes with the same pending version."""
    names = secret_names("dev")
    master = value(sandbox, names["master"])
    app = value(sandbox, names["app"])
    sm = sandbox.client("secretsmanager")
    sm.put_secret_value(SecretId=names["master"], SecretString=json.dumps({**master, "password": "Wrong" + "x" * 20}))
    report = rotate(sandbox, names["app"])
    assert report.status == "FAILED" and report.error == "VerifyTimeout", report.reason
    assert "AWSCURRENT still logs in" in report.reason
    assert value(sandbox, names["app"]) == app and pg_works(postgres_server, APP_USER, app["password"])
    assert sandbox.lock_items() == []
    failed = rotation_support.secretsmanager_rotation.ATTEMPTS[-1]
    assert failed.error == {"step": "setSecret", "errorType": "CredentialsRefused"}
    sm.put_secret_value(SecretId=names["master"], SecretString=json.dumps(master))
    retried = rotation_support.retry_rotation(sandbox, names["app"])
    assert retried.succeeded
    rotated = value(sandbox, names["app"])
    assert rotated["username"] == f"{APP_USER}_clone" and pg_works(
        postgres_server, rotated["username"], rotated["password"]
    )


@pytest.mark.parametrize("step", ["createSecret", "setSecret", "testSecret", "finishSecret"])
def test_a_crash_in_any_step_then_secrets_managers_retry(sandbox: Any, postgres_server: Any, step: str) -> None:
    """The rotation function dies in one step (timed out: what it changed stays changed); Secrets
    Manager's retry runs all four steps again with the same pending version and completes."""
    name = secret_names("dev")["master"]
    before = value(sandbox, name)
    sandbox.state.interrupt(
        "RotatePostgresFunction", "Sandbox.Timedout", matches=lambda event: event.get("Step") == step
    )
    sandbox.client("secretsmanager").rotate_secret(SecretId=name)
    attempt = rotation_support.secretsmanager_rotation.ATTEMPTS[-1]
    assert attempt.error == {"step": step, "errorType": "Sandbox.Timedout"}
    assert value(sandbox, name) == before
    retried = rotation_support.retry_rotation(sandbox, name)
    assert retried.succeeded
    after = value(sandbox, name)
    assert pg_works(postgres_server, MASTER_USER, after["password"])
    assert not pg_works(postgres_server, MASTER_USER, before["password"])


def test_a_crash_right_after_the_pending_value_was_stored(sandbox: Any, postgres_server: Any) -> None:
    name = secret_names("dev")["master"]
    sandbox.state.interrupt("RotatePostgresFunction", "Runtime.ExitError", after=("secrets-manager", "PutSecretValue"))
    sandbox.client("secretsmanager").rotate_secret(SecretId=name)
    assert rotation_support.secretsmanager_rotation.ATTEMPTS[-1].error == {
        "step": "createSecret",
        "errorType": "Runtime.ExitError",
    }
    pending = value(sandbox, name, "AWSPENDING")
    assert rotation_support.retry_rotation(sandbox, name).succeeded
    assert value(sandbox, name)["password"] == pending["password"]  # kept, never regenerated
    assert pg_works(postgres_server, MASTER_USER, pending["password"])


def test_cpctl_rotate_starts_the_workflow_with_the_request_it_validates(sandbox: Any, capsys: Any) -> None:
    from cpctl.cli import main

    arn = sandbox.state_machine_arn("RotationStateMachine")
    code = main(
        [
            "rotate",
            "--state-machine-arn",
            arn,
            "--secret",
            secret_names("dev")["master"],
            "--reason",
            "operator asked",
            "--requester",
            "bob@example.com",
            "--dry-run",
            "--json",
        ]
    )
    assert code == 0
    execution = json.loads(capsys.readouterr().out)["executionArn"]
    report = sandbox.wait(execution)
    assert report.outcome == "DryRun" and report.output["requester"] == {"type": "person", "id": "bob@example.com"}
    # Neither --secret nor --all-due: a usage error (exit code 2), nothing started.
    assert main(["rotate", "--state-machine-arn", arn, "--reason", "x", "--requester", "bob"]) == 2


def test_the_schedule_rotates_what_is_due_one_secret_after_the_other(
    sandbox: Any, postgres_server: Any, redis_server: Any
) -> None:
    """Fresh secrets are not due: NoChange and no call. 28 days later the daily run rotates all three,
    each under its own lease, and records one outcome."""
    names = secret_names("dev")
    quiet = rotation_support.fire_rotation_schedule(sandbox)
    assert quiet.outcome == "NoChange" and quiet.calls("RotateSecret") == 0, quiet.reason
    before = {key: value(sandbox, name) for key, name in names.items()}
    sandbox.advance_clock(28 * 86_400)
    due = rotation_support.fire_rotation_schedule(sandbox)
    assert due.outcome == "Succeeded", due.reason
    assert sorted(s["secret"] for s in due.output["secrets"]) == sorted(names.values())
    assert due.calls("RotateSecret") == 3 and sandbox.lock_items() == []
    after = {key: value(sandbox, name) for key, name in names.items()}
    assert pg_works(postgres_server, after["app"]["username"], after["app"]["password"])
    assert pg_works(postgres_server, MASTER_USER, after["master"]["password"])
    assert redis_works(redis_server, after["redis"]["auth_token"]) and redis_works(
        redis_server, before["redis"]["auth_token"]
    )
    assert_never_exposed(
        sandbox, due, *(v.get("password") or v["auth_token"] for v in (*before.values(), *after.values()))
    )

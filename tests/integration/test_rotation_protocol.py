"""The four-step rotation protocol, each rule a test, against a real PostgreSQL 15 and Redis 7.

Secrets Manager is moto (with the sandbox's patches); the rotation code connects to the private
servers with pg8000 and redis-py exactly as it connects to RDS and ElastiCache in AWS (TLS off only
because these servers have none).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from controlplane.leases import InMemoryLeaseStore, db_instance_key, owner_of, replication_group_key
from controlplane.models.errors import LockHeld
from controlplane.rotation import protocol
from controlplane.rotation.errors import (
    CredentialsRefused,
    PendingTampered,
    RotationNotEnabled,
    UnknownStep,
    VersionNotPending,
)
from controlplane.rotation.postgres import PostgresRotation
from controlplane.rotation.redis_token import RedisTokenRotation, modify_token
from controlplane.rotation.values import AUTH_TOKEN_PATTERN, PASSWORD_EXCLUDED

from tests.rotation_support import (
    begin_rotation,
    make_pg_users,
    password,
    pg_login_works,
    pg_secret,
    stages,
    value,
)

DB = "sip-dev-postgres"
GROUP = "sip-dev-redis"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    import boto3
    from controlplane import aws as cp_aws
    from moto import mock_aws

    from cpctl.sandbox import moto_patches
    from cpctl.sandbox.moto_patches import elasticache_auth

    for name, setting in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "DATABASE_TLS": "disable",
        "CACHE_TLS": "disable",
        "ROTATION_POLL_SECONDS": "0.01",
        "ROTATION_WAIT_SECONDS": "2",
    }.items():
        monkeypatch.setenv(name, setting)
    moto_patches.apply_all()
    with mock_aws():
        cp_aws.reset_clients()
        elasticache_auth.reset()
        yield {"sm": boto3.client("secretsmanager"), "ec": boto3.client("elasticache")}
        elasticache_auth.reset()
    cp_aws.reset_clients()


def steps(
    name: str, token: str, strategy: Any, sm: Any, leases: Any = None, only: tuple[str, ...] = protocol.STEPS
) -> None:
    for step in only:
        protocol.rotate(
            {"Step": step, "SecretId": name, "ClientRequestToken": token}, strategy, leases=leases, client=sm
        )


# --- PostgreSQL: single user (the master) -------------------------------------------------------


@pytest.fixture
def master_secret(aws: dict[str, Any], postgres_server: Any) -> tuple[str, Any]:
    users = make_pg_users(postgres_server)
    name = f"test/{users.suffix}/master"
    aws["sm"].create_secret(Name=name, SecretString=pg_secret(postgres_server, users.master, users.master_password))
    return name, users


def single() -> PostgresRotation:
    return PostgresRotation(alternating=False, db_instance=DB)


def test_single_user_rotation_changes_the_password_old_one_refused(
    aws: Any, master_secret: Any, postgres_server: Any
) -> None:
    sm = aws["sm"]
    name, users = master_secret
    token = begin_rotation(name)
    steps(name, token, single(), sm)
    new = value(sm, name)
    assert new["username"] == users.master and new["password"] != users.master_password
    assert stages(sm, name)[token] == ["AWSCURRENT"]
    assert "AWSPREVIOUS" in [s for labels in stages(sm, name).values() for s in labels]
    assert pg_login_works(postgres_server, users.master, new["password"])
    assert not pg_login_works(postgres_server, users.master, users.master_password)


def test_every_step_refuses_a_secret_without_rotation_enabled(aws: Any, master_secret: Any) -> None:
    name, _ = master_secret
    token = begin_rotation(name, enabled=False)
    for step in protocol.STEPS:
        with pytest.raises(RotationNotEnabled):
            protocol.rotate({"Step": step, "SecretId": name, "ClientRequestToken": token}, single(), client=aws["sm"])


def test_every_step_refuses_a_token_that_is_not_a_version(aws: Any, master_secret: Any) -> None:
    name, _ = master_secret
    begin_rotation(name)
    for step in protocol.STEPS:
        with pytest.raises(VersionNotPending, match="not a version"):
            protocol.rotate(
                {"Step": step, "SecretId": name, "ClientRequestToken": "0" * 36}, single(), client=aws["sm"]
            )


def test_every_step_is_a_no_op_for_a_version_already_current(
    aws: Any, master_secret: Any, postgres_server: Any
) -> None:
    sm = aws["sm"]
    name, users = master_secret
    token = begin_rotation(name)
    steps(name, token, single(), sm)
    before = (stages(sm, name), value(sm, name))
    for step in protocol.STEPS:
        result = protocol.rotate({"Step": step, "SecretId": name, "ClientRequestToken": token}, single(), client=sm)
        assert result["result"] == "already current"
    assert (stages(sm, name), value(sm, name)) == before
    assert pg_login_works(postgres_server, users.master, before[1]["password"])


def test_every_step_refuses_a_version_without_awspending(aws: Any, master_secret: Any) -> None:
    sm = aws["sm"]
    name, _users = master_secret
    old = next(v for v, labels in stages(sm, name).items() if "AWSCURRENT" in labels)
    sm.put_secret_value(SecretId=name, SecretString=pg_secret_like(sm, name), VersionStages=["AWSCURRENT"])
    begin_rotation(name)
    assert "AWSPREVIOUS" in stages(sm, name)[old]
    for step in protocol.STEPS:
        with pytest.raises(VersionNotPending, match="not AWSPENDING"):
            protocol.rotate({"Step": step, "SecretId": name, "ClientRequestToken": old}, single(), client=sm)


def pg_secret_like(sm: Any, name: str, **changes: Any) -> str:
    return json.dumps({**value(sm, name), **changes})


def test_an_unknown_step_is_refused_before_any_call(aws: Any, master_secret: Any) -> None:
    name, _ = master_secret
    token = begin_rotation(name)

    class NoCalls:
        def __getattr__(self, attribute: str) -> Any:
            raise AssertionError(f"an unknown step made a call: {attribute}")

    with pytest.raises(UnknownStep):
        protocol.rotate(
            {"Step": "dropSecret", "SecretId": name, "ClientRequestToken": token}, single(), client=NoCalls()
        )


def test_create_keeps_an_existing_pending_value_and_stores_pending_only(aws: Any, master_secret: Any) -> None:
    sm = aws["sm"]
    name, users = master_secret
    token = begin_rotation(name)
    steps(name, token, single(), sm, only=("createSecret",))
    first = value(sm, name, "AWSPENDING")
    steps(name, token, single(), sm, only=("createSecret",))
    assert value(sm, name, "AWSPENDING") == first
    assert stages(sm, name)[token] == ["AWSPENDING"]
    assert value(sm, name)["password"] == users.master_password
    assert len(first["password"]) == 32 and not set(first["password"]) & set(PASSWORD_EXCLUDED)


def test_set_returns_when_the_pending_credentials_already_work(
    aws: Any, master_secret: Any, postgres_server: Any
) -> None:
    """Retried setSecret after the password was changed, with AWSCURRENT now useless: nothing to do."""
    sm = aws["sm"]
    name, users = master_secret
    token = begin_rotation(name)
    steps(name, token, single(), sm, only=("createSecret", "setSecret"))
    pending = value(sm, name, "AWSPENDING")
    # Make the current (and so every other) login fail: only the shortcut can pass now.
    backend_current_password(name, "wrong-" + password())
    steps(name, token, single(), sm, only=("setSecret", "testSecret", "finishSecret"))
    assert value(sm, name)["password"] == pending["password"]
    assert pg_login_works(postgres_server, users.master, pending["password"])


def backend_current_password(name: str, new_password: str) -> None:
    """Overwrite the AWSCURRENT value in place (a secret someone broke by hand)."""
    from moto.secretsmanager.models import secretsmanager_backends

    secret = secretsmanager_backends["123456789012"]["us-east-1"].secrets[name]
    version = next(v for v in secret.versions.values() if "AWSCURRENT" in v["version_stages"])
    version["secret_string"] = json.dumps({**json.loads(version["secret_string"]), "password": new_password})


@pytest.mark.parametrize("field", ["host", "port", "dbname", "username"])
def test_set_refuses_a_pending_version_pointing_elsewhere(
    aws: Any, master_secret: Any, postgres_server: Any, field: str
) -> None:
    sm = aws["sm"]
    name, users = master_secret
    token = begin_rotation(name)
    tampered = {"host": "evil.example.com", "port": 6543, "dbname": "other", "username": "postgres"}[field]
    sm.put_secret_value(
        SecretId=name,
        ClientRequestToken=token,
        SecretString=pg_secret_like(sm, name, password=password(), **{field: tampered}),
        VersionStages=["AWSPENDING"],
    )
    with pytest.raises(PendingTampered):
        steps(name, token, single(), sm, only=("setSecret",))
    assert pg_login_works(postgres_server, users.master, users.master_password)


def test_set_quotes_the_password_as_a_literal(aws: Any, master_secret: Any, postgres_server: Any) -> None:
    """Utility statements take no bound parameters: the password goes in as a quoted literal, so quotes,
    backslashes and SQL in it are data (a pending value written by hand, not by GetRandomPassword)."""
    sm = aws["sm"]
    name, users = master_secret
    token = begin_rotation(name)
    tricky = "it's\\ a'; DROP ROLE x; --" + password()
    sm.put_secret_value(
        SecretId=name,
        ClientRequestToken=token,
        SecretString=pg_secret_like(sm, name, password=tricky),
        VersionStages=["AWSPENDING"],
    )
    steps(name, token, single(), sm)
    assert pg_login_works(postgres_server, users.master, tricky)


def test_set_falls_back_to_the_previous_password_when_current_is_broken(
    aws: Any, master_secret: Any, postgres_server: Any
) -> None:
    sm = aws["sm"]
    name, users = master_secret
    # Someone stored a wrong password as AWSCURRENT; the right one is now AWSPREVIOUS.
    sm.put_secret_value(SecretId=name, SecretString=pg_secret_like(sm, name, password="wrong-" + password()))
    token = begin_rotation(name)
    steps(name, token, single(), sm)
    new = value(sm, name)["password"]
    assert pg_login_works(postgres_server, users.master, new)
    assert not pg_login_works(postgres_server, users.master, users.master_password)


def test_all_credentials_broken_fails_and_promotes_nothing(aws: Any, master_secret: Any, postgres_server: Any) -> None:
    sm = aws["sm"]
    name, users = master_secret
    sm.put_secret_value(SecretId=name, SecretString=pg_secret_like(sm, name, password="wrong-" + password()))
    sm.put_secret_value(SecretId=name, SecretString=pg_secret_like(sm, name, password="wrong-" + password()))
    current_before = value(sm, name)
    token = begin_rotation(name)
    steps(name, token, single(), sm, only=("createSecret",))
    with pytest.raises(CredentialsRefused) as refused:
        steps(name, token, single(), sm, only=("setSecret",))
    with pytest.raises(CredentialsRefused):
        steps(name, token, single(), sm, only=("testSecret",))
    assert value(sm, name) == current_before
    assert stages(sm, name)[token] == ["AWSPENDING"]
    assert pg_login_works(postgres_server, users.master, users.master_password)
    assert current_before["password"] not in str(refused.value)


def test_test_step_refuses_pending_credentials_that_do_not_log_in(aws: Any, master_secret: Any) -> None:
    sm = aws["sm"]
    name, _ = master_secret
    token = begin_rotation(name)
    steps(name, token, single(), sm, only=("createSecret",))  # never set on the server
    with pytest.raises(CredentialsRefused, match="pending"):
        steps(name, token, single(), sm, only=("testSecret",))


def test_finish_moves_current_and_is_idempotent(aws: Any, master_secret: Any) -> None:
    sm = aws["sm"]
    name, _ = master_secret
    old = next(v for v, labels in stages(sm, name).items() if "AWSCURRENT" in labels)
    token = begin_rotation(name)
    steps(name, token, single(), sm)
    assert stages(sm, name)[token] == ["AWSCURRENT"]
    assert stages(sm, name)[old] == ["AWSPREVIOUS"]
    steps(name, token, single(), sm, only=("finishSecret",))
    assert stages(sm, name)[token] == ["AWSCURRENT"] and stages(sm, name)[old] == ["AWSPREVIOUS"]


@pytest.mark.parametrize("crash_after", ["createSecret", "setSecret", "testSecret"])
def test_a_crash_between_steps_then_secrets_managers_retry_completes(
    aws: Any, master_secret: Any, postgres_server: Any, crash_after: str
) -> None:
    """Secrets Manager retries the whole rotation with the same pending version after a failed step."""
    sm = aws["sm"]
    name, users = master_secret
    token = begin_rotation(name)
    done = protocol.STEPS[: protocol.STEPS.index(crash_after) + 1]
    steps(name, token, single(), sm, only=done)
    pending = value(sm, name, "AWSPENDING")
    steps(name, token, single(), sm)
    assert value(sm, name)["password"] == pending["password"]
    assert pg_login_works(postgres_server, users.master, pending["password"])
    assert not pg_login_works(postgres_server, users.master, users.master_password)


# --- PostgreSQL: alternating users (the application user) ----------------------------------------


@pytest.fixture
def app_secret(aws: dict[str, Any], postgres_server: Any) -> tuple[str, Any]:
    users = make_pg_users(postgres_server)
    master_name = f"test/{users.suffix}/master"
    master_arn = aws["sm"].create_secret(
        Name=master_name, SecretString=pg_secret(postgres_server, users.master, users.master_password)
    )["ARN"]
    name = f"test/{users.suffix}/app"
    aws["sm"].create_secret(
        Name=name, SecretString=pg_secret(postgres_server, users.app, users.app_password, masterarn=master_arn)
    )
    return name, users


def alternating() -> PostgresRotation:
    return PostgresRotation(alternating=True, db_instance=DB)


def memberships(server: Any, role: str) -> set[str]:
    with server.connect(database=server.database) as admin:
        rows = admin.run(
            "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = :name",
            name=role,
        )
    return {row[0] for row in rows}


def privileges(server: Any, role: str, users: Any) -> dict[str, bool]:
    table, sequence = f"{users.schema}.accounts", f"{users.schema}.accounts_id_seq"
    with server.connect(database=server.database) as admin:
        row = admin.run(
            "SELECT has_table_privilege(:r, :t, 'INSERT'), has_table_privilege(:r, :t, 'UPDATE'), "
            "has_table_privilege(:r, :t, 'SELECT'), has_sequence_privilege(:r, :s, 'USAGE'), "
            "has_schema_privilege(:r, :n, 'USAGE'), has_database_privilege(:r, :d, 'CONNECT')",
            r=role,
            t=table,
            s=sequence,
            n=users.schema,
            d=server.database,
        )[0]
    return dict(zip(["insert", "update", "select", "sequence", "schema", "connect"], row, strict=True))


def test_alternating_users_clone_on_first_rotation_then_alternate(
    aws: Any, app_secret: Any, postgres_server: Any
) -> None:
    sm = aws["sm"]
    name, users = app_secret
    token = begin_rotation(name)
    steps(name, token, alternating(), sm)
    first = value(sm, name)
    assert first["username"] == users.clone
    # The clone has what the application user has, read from the catalog.
    assert memberships(postgres_server, users.clone) == memberships(postgres_server, users.app) == {users.reader}
    assert privileges(postgres_server, users.clone, users) == privileges(postgres_server, users.app, users)
    assert all(privileges(postgres_server, users.clone, users).values())
    # Applications that still hold the old credentials keep working.
    assert pg_login_works(postgres_server, users.app, users.app_password)
    assert pg_login_works(postgres_server, users.clone, first["password"])
    with postgres_server.connect(users.clone, first["password"], database=postgres_server.database) as clone:
        clone.run(f"INSERT INTO {users.schema}.accounts (name) VALUES ('from the clone')")
        assert clone.run(f"SELECT count(*) FROM {users.schema}.accounts")[0][0] == 2

    second_token = begin_rotation(name)
    steps(name, second_token, alternating(), sm)
    second = value(sm, name)
    assert second["username"] == users.app and second["password"] != users.app_password
    assert pg_login_works(postgres_server, users.app, second["password"])
    assert not pg_login_works(postgres_server, users.app, users.app_password)
    assert pg_login_works(postgres_server, users.clone, first["password"])
    assert value(sm, name, "AWSPREVIOUS")["username"] == users.clone


def test_alternating_with_an_rds_managed_master_secret(aws: Any, postgres_server: Any) -> None:
    """RDS's own master secret (manage_master_user_password) holds only username and password."""
    users = make_pg_users(postgres_server)
    sm = aws["sm"]
    master_arn = sm.create_secret(
        Name=f"rds!db-{users.suffix}",
        SecretString=json.dumps({"username": users.master, "password": users.master_password}),
    )["ARN"]
    name = f"test/{users.suffix}/app"
    sm.create_secret(
        Name=name, SecretString=pg_secret(postgres_server, users.app, users.app_password, masterarn=master_arn)
    )
    token = begin_rotation(name)
    steps(name, token, alternating(), sm)
    rotated = value(sm, name)
    assert rotated["username"] == users.clone and pg_login_works(postgres_server, users.clone, rotated["password"])


def test_alternating_refuses_a_pending_user_that_is_not_the_alternate(aws: Any, app_secret: Any) -> None:
    sm = aws["sm"]
    name, users = app_secret
    token = begin_rotation(name)
    sm.put_secret_value(
        SecretId=name,
        ClientRequestToken=token,
        SecretString=pg_secret_like(sm, name, username=users.master, password=password()),
        VersionStages=["AWSPENDING"],
    )
    with pytest.raises(PendingTampered):
        steps(name, token, alternating(), sm, only=("setSecret",))


# --- leases: a rotation Secrets Manager starts waits for other changes of the same resource ---------


def test_set_waits_while_another_workflow_holds_the_resource(aws: Any, master_secret: Any) -> None:
    from controlplane import clock

    sm = aws["sm"]
    name, _users = master_secret
    leases = InMemoryLeaseStore()
    leases.acquire(db_instance_key(DB), owner_of("scale", "grow-1"), 600, clock.now(), workflow="scale")
    token = begin_rotation(name)
    steps(name, token, single(), sm, only=("createSecret",))
    with pytest.raises(LockHeld, match="scale/grow-1"):
        steps(name, token, single(), sm, leases=leases, only=("setSecret",))
    leases.release(db_instance_key(DB), owner_of("scale", "grow-1"))
    steps(name, token, single(), sm, leases=leases)
    assert leases.holder(db_instance_key(DB)) is None


def test_a_retried_finish_after_the_move_still_gives_the_lease_back(aws: Any, master_secret: Any) -> None:
    sm = aws["sm"]
    name, _ = master_secret
    leases = InMemoryLeaseStore()
    token = begin_rotation(name)
    steps(name, token, single(), sm, leases=leases, only=("createSecret", "setSecret", "testSecret"))
    held = leases.holder(db_instance_key(DB))
    assert held is not None and held.owner == f"rotation/secretsmanager-{token}"
    sm.update_secret_version_stage(  # finishSecret moved AWSCURRENT, then its process died
        SecretId=name,
        VersionStage="AWSCURRENT",
        MoveToVersionId=token,
        RemoveFromVersionId=next(v for v, s in stages(sm, name).items() if "AWSCURRENT" in s),
    )
    steps(name, token, single(), sm, leases=leases, only=("finishSecret",))
    assert leases.holder(db_instance_key(DB)) is None


def test_set_proceeds_under_the_rotation_workflows_own_lease(aws: Any, master_secret: Any) -> None:
    from controlplane import clock

    sm = aws["sm"]
    name, _ = master_secret
    leases = InMemoryLeaseStore()
    leases.acquire(db_instance_key(DB), owner_of("rotation", "run-1"), 600, clock.now(), workflow="rotation")
    token = begin_rotation(name)
    steps(name, token, single(), sm, leases=leases)
    held = leases.holder(db_instance_key(DB))
    assert held is not None and held.owner == "rotation/run-1"


# --- Redis AUTH token --------------------------------------------------------------------------------


@pytest.fixture
def redis_secret(aws: dict[str, Any], redis_server: Any) -> tuple[str, str]:
    from cpctl.sandbox.moto_patches import elasticache_auth

    aws["ec"].create_replication_group(
        ReplicationGroupId=GROUP,
        ReplicationGroupDescription="test",
        Engine="redis",
        CacheNodeType="cache.t4g.small",
        NumNodeGroups=1,
        ReplicasPerNodeGroup=1,
        CacheParameterGroupName="default.redis7.cluster.on",
        TransitEncryptionEnabled=True,
    )
    token = "Initial-" + password()
    elasticache_auth.bind(GROUP, redis_server, token)
    name = f"test/{token[-6:]}/redis"
    aws["sm"].create_secret(
        Name=name,
        SecretString=json.dumps(
            {
                "replication_group_id": GROUP,
                "host": redis_server.host,
                "port": redis_server.port,
                "auth_token": token,
                "ssl": True,
            }
        ),
    )
    return name, token


def redis_accepts(server: Any, token: str) -> bool:
    client = server.client(password=token)
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def test_redis_token_rotate_then_set_in_a_later_run(aws: Any, redis_secret: Any, redis_server: Any) -> None:
    from cpctl.sandbox.moto_patches import elasticache_auth

    sm = aws["sm"]
    name, old = redis_secret
    token = begin_rotation(name)
    steps(name, token, RedisTokenRotation(), sm)
    new = value(sm, name)["auth_token"]
    assert AUTH_TOKEN_PATTERN.fullmatch(new) and len(new) == 64
    assert re.fullmatch(r"[A-Za-z0-9!&#$^<>\-]+", new)
    # ROTATE: both tokens are accepted until the workflow SETs the new one after the grace period.
    assert redis_accepts(redis_server, old) and redis_accepts(redis_server, new)
    assert elasticache_auth.state(GROUP).changes == ["ROTATE"]  # type: ignore[union-attr]
    modify_token(GROUP, new, "SET")
    assert redis_accepts(redis_server, new) and not redis_accepts(redis_server, old)


def test_set_before_any_rotate_is_refused_as_elasticache_does(aws: Any, redis_secret: Any) -> None:
    from controlplane.rotation.errors import RotationError

    _, old = redis_secret
    with pytest.raises(RotationError, match="SET refused"):
        modify_token(GROUP, old, "SET")
    with pytest.raises(ValueError):
        modify_token(GROUP, old, "DELETE")


def test_redis_pending_for_another_group_is_refused(aws: Any, redis_secret: Any) -> None:
    sm = aws["sm"]
    name, _old = redis_secret
    token = begin_rotation(name)
    sm.put_secret_value(
        SecretId=name,
        ClientRequestToken=token,
        SecretString=json.dumps({**value(sm, name), "replication_group_id": "other-group", "auth_token": "N" * 32}),
        VersionStages=["AWSPENDING"],
    )
    with pytest.raises(PendingTampered):
        steps(name, token, RedisTokenRotation(), sm, only=("setSecret",))


def test_redis_rotation_waits_for_a_reshard_holding_the_group(aws: Any, redis_secret: Any) -> None:
    from controlplane import clock

    sm = aws["sm"]
    name, _ = redis_secret
    leases = InMemoryLeaseStore()
    leases.acquire(replication_group_key(GROUP), owner_of("scale", "reshard-1"), 600, clock.now(), workflow="scale")
    token = begin_rotation(name)
    steps(name, token, RedisTokenRotation(), sm, only=("createSecret",))
    with pytest.raises(LockHeld):
        steps(name, token, RedisTokenRotation(), sm, leases=leases, only=("setSecret",))


# --- secrets never in logs -------------------------------------------------------------------------------


def test_no_password_or_token_in_logs(aws: Any, app_secret: Any, redis_secret: Any, capsys: Any, caplog: Any) -> None:
    import logging

    caplog.set_level(logging.DEBUG, logger="controlplane")
    sm = aws["sm"]
    name, users = app_secret
    token = begin_rotation(name)
    steps(name, token, alternating(), sm)
    redis_name, old_token = redis_secret
    redis_rotation = begin_rotation(redis_name)
    steps(redis_name, redis_rotation, RedisTokenRotation(), sm)
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert "rotation step done" in logged
    for secret in (
        users.app_password,
        users.master_password,
        value(sm, name)["password"],
        old_token,
        value(sm, redis_name)["auth_token"],
    ):
        assert secret not in logged

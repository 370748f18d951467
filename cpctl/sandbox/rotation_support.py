"""What the sandbox needs for secret rotation: the platform's secrets (Terraform's), real PostgreSQL and
Redis behind the emulated endpoints, the template's RotationSchedules, and firing the workflow's schedule.

- ``prepare(sandbox)`` (before deploy): the network outputs the rotation functions' VPC config reads
  (private subnets, their security group) and, when the platform is seeded, the secrets named in the
  rotation policy: ``sip/<env>/postgres/master`` (single user), ``sip/<env>/postgres/app`` (alternating,
  ``masterarn`` = the master secret) and ``sip/<env>/redis/auth-token``, pointing at the emulated RDS
  endpoint and the replication group's configuration endpoint. With ``Sandbox(real_servers=(pg, redis))``
  those endpoints lead to the private servers (``moto_patches.endpoints``), where the users and the
  token really exist: a master user as RDS makes one (CREATEROLE, not superuser), an application user
  with a group role and grants on a schema, and the Redis ``default`` user's password.
- ``after_deploy(sandbox)``: the private servers have no TLS, so the functions that log in are told so
  (``DATABASE_TLS`` / ``CACHE_TLS`` = disable, in the sandbox only; the template allows verify/require).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from cpctl.sandbox.moto_patches import elasticache_auth, endpoints, secretsmanager_rotation
from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY
from cpctl.sandbox.template import Resolver

if TYPE_CHECKING:
    from cpctl.sandbox.runtime import ExecutionReport, Sandbox

MASTER_USER = "sip_master"
APP_USER = "sip_app"
APP_GROUP = "sip_app_rw"
LOGIN_FUNCTIONS = ("RotatePostgresFunction", "RotateRedisTokenFunction", "CheckRotationFunction")


def reset() -> None:
    elasticache_auth.reset()
    secretsmanager_rotation.reset()
    endpoints.reset()


def _password(length: int = 32) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def secret_names(environment: str) -> dict[str, str]:
    return {
        "master": f"sip/{environment}/postgres/master",
        "app": f"sip/{environment}/postgres/app",
        "redis": f"sip/{environment}/redis/auth-token",
    }


def prepare(sandbox: Sandbox) -> None:
    reset()
    env = sandbox.environment
    ec2 = sandbox.client("ec2")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]]
    vpc = ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"] if subnets else None
    group = ec2.create_security_group(
        GroupName=f"sip-{env}-controlplane-rotation",
        Description="rotation functions: to the database, the cache and the VPC endpoints",
        **({"VpcId": vpc} if vpc else {}),
    )["GroupId"]
    sandbox._outputs["PrivateSubnetIds"] = (f"/sip/{env}/network/private-subnet-ids", ",".join(subnets) or "subnet-0")
    sandbox._outputs["RotationSecurityGroupId"] = (f"/sip/{env}/controlplane/rotation-security-group-id", str(group))
    master_secret = f"arn:aws:secretsmanager:{sandbox.region}:123456789012:secret:rds!db-none-AbCdEf"
    if sandbox.seed_platform:
        found = sandbox.client("rds").describe_db_instances(DBInstanceIdentifier=sandbox.primary_id)["DBInstances"][0]
        master_secret = str((found.get("MasterUserSecret") or {}).get("SecretArn") or master_secret)
    sandbox._outputs["RdsMasterSecretArn"] = (f"/sip/{env}/rds/master-secret-arn", master_secret)
    if sandbox.seed_platform:
        seed_secrets(sandbox)


def _endpoints(sandbox: Sandbox) -> tuple[tuple[str, int], tuple[str, int]]:
    db = sandbox.client("rds").describe_db_instances(DBInstanceIdentifier=sandbox.primary_id)["DBInstances"][0]
    cache = sandbox.client("elasticache").describe_replication_groups(ReplicationGroupId=sandbox.cache_group_id)[
        "ReplicationGroups"
    ][0]
    configuration = cache.get("ConfigurationEndpoint") or {}
    return (
        (str(db["Endpoint"]["Address"]), int(db["Endpoint"].get("Port") or 5432)),
        (
            str(configuration.get("Address") or f"{sandbox.cache_group_id}.cache.amazonaws.com"),
            int(configuration.get("Port") or 6379),
        ),
    )


def seed_secrets(sandbox: Sandbox) -> None:
    """The platform's secrets as Terraform creates them (and, with real servers, the users and token)."""
    names = secret_names(sandbox.environment)
    (db_host, db_port), (cache_host, cache_port) = _endpoints(sandbox)
    master_password, app_password, token = _password(), _password(), _password(48)
    servers = sandbox.real_servers
    if servers is not None:
        postgres, redis = servers
        provision_postgres(postgres, master_password, app_password)
        endpoints.map_endpoint(db_host, db_port, postgres.host, postgres.port)
        endpoints.map_endpoint(cache_host, cache_port, redis.host, redis.port)
        elasticache_auth.bind(sandbox.cache_group_id, redis, token)
    sm = sandbox.client("secretsmanager")
    database = {"engine": "postgres", "host": db_host, "port": db_port, "dbname": "sip"}
    master_arn = sm.create_secret(
        Name=names["master"],
        SecretString=json.dumps({**database, "username": MASTER_USER, "password": master_password}),
    )["ARN"]
    sm.create_secret(
        Name=names["app"],
        SecretString=json.dumps({**database, "username": APP_USER, "password": app_password, "masterarn": master_arn}),
    )
    sm.create_secret(
        Name=names["redis"],
        SecretString=json.dumps(
            {
                "replication_group_id": sandbox.cache_group_id,
                "host": cache_host,
                "port": cache_port,
                "auth_token": token,
                "ssl": True,
            }
        ),
    )


def provision_postgres(server: Any, master_password: str, app_password: str) -> None:
    """Users as on RDS: the master (CREATEROLE, owner of the application's schema) and the application
    user with a group role and grants. Idempotent: a server shared by several sandboxes is re-used."""
    from pg8000.native import identifier, literal

    database = server.database
    with server.connect(database=database) as admin:
        exists = admin.run("SELECT 1 FROM pg_roles WHERE rolname = :name", name=MASTER_USER)
        verb = "ALTER" if exists else "CREATE"
        admin.run(f"{verb} ROLE {MASTER_USER} WITH LOGIN CREATEROLE CREATEDB PASSWORD {literal(master_password)}")
        admin.run(f"GRANT CONNECT, TEMPORARY ON DATABASE {identifier(database)} TO {MASTER_USER} WITH GRANT OPTION")
        admin.run(f"GRANT CREATE ON DATABASE {identifier(database)} TO {MASTER_USER}")
    with server.connect(MASTER_USER, master_password, database=database) as master:
        master.run("CREATE SCHEMA IF NOT EXISTS app")
        master.run("CREATE TABLE IF NOT EXISTS app.accounts (id serial PRIMARY KEY, name text NOT NULL)")
        if not master.run("SELECT 1 FROM pg_roles WHERE rolname = :name", name=APP_GROUP):
            master.run(f"CREATE ROLE {APP_GROUP} NOLOGIN")
        master.run(f"GRANT USAGE ON SCHEMA app TO {APP_GROUP}")
        master.run(f"GRANT SELECT ON ALL TABLES IN SCHEMA app TO {APP_GROUP}")
        exists = master.run("SELECT 1 FROM pg_roles WHERE rolname = :name", name=APP_USER)
        verb = "ALTER" if exists else "CREATE"
        master.run(f"{verb} ROLE {APP_USER} WITH LOGIN PASSWORD {literal(app_password)}")
        master.run(f"GRANT {APP_GROUP} TO {APP_USER}")
        master.run(f"GRANT CONNECT ON DATABASE {identifier(database)} TO {APP_USER}")
        master.run(f"GRANT INSERT, UPDATE ON app.accounts TO {APP_USER}")
        master.run(f"GRANT USAGE ON SEQUENCE app.accounts_id_seq TO {APP_USER}")


def after_deploy(sandbox: Sandbox) -> None:
    """The private servers have no TLS: the functions that log in use none here (verify/require in AWS)."""
    for logical_id in LOGIN_FUNCTIONS:
        if logical_id in sandbox.resources:
            function = REGISTRY.resolve(sandbox.resources[logical_id]["Ref"])
            function.environment.update(
                {
                    "DATABASE_TLS": "disable",
                    "CACHE_TLS": "disable",
                    # testSecret's wait for the group, in wall time here (a held group stays held).
                    "ROTATION_POLL_SECONDS": "0.05",
                    "ROTATION_WAIT_SECONDS": "5",
                }
            )


def create_rotation_schedule(sandbox: Sandbox, logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
    """Attach the rotation function as CloudFormation does (RotateImmediatelyOnUpdate false: no rotation).

    AWS then tests the configuration with testSecret; the sandbox does not (no value is changed by it)."""
    from moto.secretsmanager.models import FakeSecret, secretsmanager_backends

    p = r.resolve(props)
    backend = secretsmanager_backends[r.account_id][sandbox.region]
    secret_id = str(p["SecretId"])
    if secret_id not in backend.secrets:
        # Terraform creates the secrets; without a seeded platform there is nothing to attach to.
        return {"Ref": secret_id}
    rules = p.get("RotationRules", {})
    days = int(str(rules.get("ScheduleExpression", "rate(30 days)")).split("(")[1].split()[0])
    secret = backend.secrets[secret_id]
    assert isinstance(secret, FakeSecret), "a rotation schedule attaches to a primary secret"
    secretsmanager_rotation._configure(secret, str(p["RotationLambdaARN"]), {"AutomaticallyAfterDays": days})
    return {"Ref": str(secret.arn)}


def fire_rotation_schedule(sandbox: Sandbox, name: str = "RotationSchedule") -> ExecutionReport:
    """EventBridge Scheduler starting the Rotation workflow now, with the schedule's own input."""
    found = sandbox.client("scheduler").get_schedule(Name=sandbox.resources[name]["Ref"])
    target = found["Target"]
    execution = sandbox.client("stepfunctions").start_execution(
        stateMachineArn=target["Arn"],
        input=str(target.get("Input", "{}")),
        name=f"scheduled-rotation-{_password(8).lower()}",
    )["executionArn"]
    return sandbox.wait(execution)


def retry_rotation(sandbox: Sandbox, secret: str) -> secretsmanager_rotation.Attempt:
    """Secrets Manager's retry of a failed rotation of ``secret`` (same pending version, every step)."""
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends["123456789012"][sandbox.region]
    return secretsmanager_rotation.retry(backend, secret)


def grace_seconds(sandbox: Sandbox) -> int:
    from controlplane.rotation.policy import load_rotation_policy

    return load_rotation_policy(sandbox.environment).token_grace_seconds


@contextmanager
def real_servers(out: Any = None) -> Iterator[tuple[Any, Any] | None]:
    """A private PostgreSQL and Redis for a demo, or None (said on ``out``) when the binaries are missing."""
    from cpctl.sandbox.servers import PostgresServer, RedisServer, ServerUnavailable

    started: list[Any] = []
    try:
        try:
            started.append(PostgresServer().start())
            started.append(RedisServer().start())
        except ServerUnavailable as missing:
            if out is not None:
                out.write(f"  (no real servers for rotation: {missing})\n")
            yield None
            return
        yield (started[0], started[1])
    finally:
        for server in started:
            server.stop()


def value(sandbox: Sandbox, secret: str, stage: str = "AWSCURRENT") -> dict[str, Any]:
    """A secret's value as the harness reads it (tests and the demo only; never printed)."""
    text = sandbox.client("secretsmanager").get_secret_value(SecretId=secret, VersionStage=stage)["SecretString"]
    return dict(json.loads(text))

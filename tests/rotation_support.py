"""Helpers of the rotation tests: a PostgreSQL master/application user pair with grants, a Redis group,
and secrets in moto set up as Secrets Manager leaves them when a rotation starts."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


def password() -> str:
    return secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")


def quote(value: str) -> str:
    from pg8000.native import literal

    return str(literal(value))


@dataclass
class PgUsers:
    suffix: str
    master: str
    master_password: str
    app: str
    app_password: str
    reader: str
    schema: str

    @property
    def clone(self) -> str:
        return f"{self.app}_clone"


def make_pg_users(server: Any) -> PgUsers:
    """A master user as RDS makes one (CREATEROLE, not superuser) and an application user with a group
    role, schema, table and sequence privileges, all granted by the master."""
    suffix = uuid.uuid4().hex[:8]
    users = PgUsers(
        suffix=suffix,
        master=f"master_{suffix}",
        master_password=password(),
        app=f"app_{suffix}",
        app_password=password(),
        reader=f"reader_{suffix}",
        schema=f"s_{suffix}",
    )
    with server.connect(database=server.database) as admin:
        admin.run(f"CREATE ROLE {users.master} WITH LOGIN CREATEROLE PASSWORD {quote(users.master_password)}")
        admin.run(f"GRANT CONNECT, TEMPORARY ON DATABASE {server.database} TO {users.master} WITH GRANT OPTION")
        admin.run(f"GRANT CREATE ON DATABASE {server.database} TO {users.master}")
    with server.connect(users.master, users.master_password, database=server.database) as master:
        master.run(f"CREATE SCHEMA {users.schema}")
        master.run(f"CREATE TABLE {users.schema}.accounts (id serial PRIMARY KEY, name text)")
        master.run(f"INSERT INTO {users.schema}.accounts (name) VALUES ('acme')")
        master.run(f"CREATE ROLE {users.reader} NOLOGIN")
        master.run(f"GRANT USAGE ON SCHEMA {users.schema} TO {users.reader}")
        master.run(f"GRANT SELECT ON ALL TABLES IN SCHEMA {users.schema} TO {users.reader}")
        master.run(f"CREATE ROLE {users.app} WITH LOGIN PASSWORD {quote(users.app_password)}")
        master.run(f"GRANT {users.reader} TO {users.app}")
        master.run(f"GRANT CONNECT ON DATABASE {server.database} TO {users.app}")
        master.run(f"GRANT USAGE ON SCHEMA {users.schema} TO {users.app}")
        master.run(f"GRANT INSERT, UPDATE ON {users.schema}.accounts TO {users.app}")
        master.run(f"GRANT USAGE ON SEQUENCE {users.schema}.accounts_id_seq TO {users.app}")
    return users


def pg_secret(server: Any, username: str, pw: str, **extra: Any) -> str:
    return json.dumps(
        {
            "engine": "postgres",
            "host": server.host,
            "port": server.port,
            "username": username,
            "password": pw,
            "dbname": server.database,
            **extra,
        }
    )


def begin_rotation(name: str, token: str | None = None, enabled: bool = True) -> str:
    """The state Secrets Manager leaves before it invokes createSecret: an empty AWSPENDING version."""
    from moto.secretsmanager.models import secretsmanager_backends

    secret = secretsmanager_backends[ACCOUNT][REGION].secrets[name]
    token = token or str(uuid.uuid4())
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}
    secret.rotation_requested = True
    secret.rotation_enabled = enabled
    return token


def stages(client: Any, name: str) -> dict[str, list[str]]:
    return dict(client.describe_secret(SecretId=name)["VersionIdsToStages"])


def value(client: Any, name: str, stage: str = "AWSCURRENT") -> dict[str, Any]:
    return dict(json.loads(client.get_secret_value(SecretId=name, VersionStage=stage)["SecretString"]))


def pg_login_works(server: Any, username: str, pw: str) -> bool:
    try:
        with server.connect(username, pw, database=server.database) as connection:
            connection.run("SELECT 1")
    except Exception:
        return False
    return True

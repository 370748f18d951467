"""PostgreSQL users: single-user rotation (the master user) and alternating users (application users).

Single user: the password of one user changes; between setSecret and finishSecret the old password
no longer works, so it suits the master user, whom applications do not use.

Alternating users: two users take turns, ``<user>`` and ``<user>_clone``. A rotation sets a new
password on the user that is *not* current (created on the first rotation, with the same role
attributes, memberships and object grants as the current user, read from the catalog), so the
credentials applications hold keep working until they re-read the secret; the master user
(``masterarn`` in the secret) does the work.

Statements: utility statements (``ALTER ROLE ... PASSWORD``, ``CREATE ROLE``, ``GRANT``) take no bound
parameters, so names and the password are quoted with pg8000's ``identifier`` and ``literal``;
catalog queries use bound parameters.
"""

from __future__ import annotations

import json
from typing import Any

from controlplane import leases
from controlplane.rotation import connections
from controlplane.rotation.connections import LoginFailed
from controlplane.rotation.errors import CredentialsRefused, PendingTampered, RotationError
from controlplane.rotation.protocol import PREVIOUS, Strategy, Versions
from controlplane.rotation.values import PASSWORD_EXCLUDED, PostgresSecret, parse

CLONE_SUFFIX = "_clone"
PASSWORD_LENGTH = 32
# Relation kinds granted ON TABLE (tables, views, materialized views, foreign and partitioned tables).
_TABLE_KINDS = ("r", "v", "m", "f", "p")


def alternate(username: str) -> str:
    """``app`` <-> ``app_clone``."""
    if username.endswith(CLONE_SUFFIX):
        return username.removesuffix(CLONE_SUFFIX)
    return username + CLONE_SUFFIX


def _quote(name: str) -> str:
    from pg8000.native import identifier

    return str(identifier(name))


def _literal(value: str) -> str:
    from pg8000.native import literal

    return str(literal(value))


class PostgresRotation(Strategy):
    """Both PostgreSQL strategies; ``alternating`` picks one."""

    def __init__(self, alternating: bool, db_instance: str, client: Any = None) -> None:
        self.alternating = alternating
        self.db_instance = db_instance
        self.client = client
        self.name = "postgres-alternating" if alternating else "postgres-single-user"

    def password_rules(self) -> dict[str, Any]:
        return {"PasswordLength": PASSWORD_LENGTH, "ExcludeCharacters": PASSWORD_EXCLUDED}

    def lease_key(self, current: str) -> str:
        return leases.db_instance_key(self.db_instance)

    def new_pending(self, current: str, password: Any) -> str:
        secret = parse(PostgresSecret, current, "current")
        username = alternate(secret.username) if self.alternating else secret.username
        return secret.model_copy(update={"username": username, "password": password()}).to_json()

    # --- setSecret ---------------------------------------------------------------------------------

    def _check_pending(self, current: PostgresSecret, pending: PostgresSecret) -> None:
        if pending.where() != current.where():
            raise PendingTampered("the pending version names another host, port or database than the current one")
        allowed = {current.username, alternate(current.username)} if self.alternating else {current.username}
        if pending.username not in allowed:
            raise PendingTampered("the pending version names a user this secret does not rotate")
        if self.alternating and pending.masterarn != current.masterarn:
            raise PendingTampered("the pending version names another master secret")

    def set(self, versions: Versions) -> None:
        current = parse(PostgresSecret, versions.current(), "current")
        pending = parse(PostgresSecret, versions.require_pending(), "pending")
        self._check_pending(current, pending)
        if connections.postgres_works(pending):
            return
        if self.alternating:
            admin = self._master(versions, current)
            with self._login([admin], "the master user") as connection:
                self._clone_and_set(connection, current.username, pending)
            return
        candidates = [current]
        previous_text = versions.stage(PREVIOUS)
        if previous_text is not None:
            previous = parse(PostgresSecret, previous_text, "previous")
            if previous.where() == current.where() and previous.username == current.username:
                candidates.append(previous)
        with self._login(candidates, "the current or previous password") as connection:
            connection.run(f"ALTER ROLE {_quote(pending.username)} WITH PASSWORD {_literal(pending.password)}")

    def _master(self, versions: Versions, current: PostgresSecret) -> PostgresSecret:
        if not current.masterarn:
            raise RotationError("alternating users need masterarn (the master user's secret) in the secret")
        response = versions.client.get_secret_value(SecretId=current.masterarn, VersionStage="AWSCURRENT")
        try:
            data = json.loads(response.get("SecretString") or "")
        except ValueError:
            raise RotationError("the master version is not JSON") from None
        if not isinstance(data, dict):
            raise RotationError("the master version is not a JSON object")
        if "host" in data and (data.get("host"), int(data.get("port") or 5432)) != (current.host, current.port):
            raise PendingTampered("the master secret is for another database server")
        # An RDS-managed master secret holds only username and password: the server is the current one's.
        where = {"engine": "postgres", "host": current.host, "port": current.port, "dbname": current.dbname}
        return parse(PostgresSecret, json.dumps({**data, **where}), "master")

    class _Login:
        def __init__(self, candidates: list[PostgresSecret], what: str) -> None:
            self.candidates, self.what = candidates, what
            self._context: Any = None

        def __enter__(self) -> Any:
            reasons = []
            for candidate in self.candidates:
                context = connections.postgres(candidate)
                try:
                    connection = context.__enter__()
                except LoginFailed as failed:
                    reasons.append(str(failed))
                    continue
                self._context = context
                return connection
            raise CredentialsRefused(f"could not log in with {self.what}: {'; '.join(reasons)}")

        def __exit__(self, *exc: Any) -> None:
            if self._context is not None:
                self._context.__exit__(*exc)

    def _login(self, candidates: list[PostgresSecret], what: str) -> PostgresRotation._Login:
        return PostgresRotation._Login(candidates, what)

    def _clone_and_set(self, connection: Any, source: str, pending: PostgresSecret) -> None:
        """Create ``pending.username`` like ``source`` if missing, copy its grants, set its password; one
        transaction, so a crash leaves either nothing or all of it."""
        target = pending.username
        connection.run("BEGIN")
        try:
            exists = connection.run("SELECT 1 FROM pg_roles WHERE rolname = :name", name=target)
            if target != source:
                for statement in clone_statements(connection, source, target, create=not exists):
                    connection.run(statement)
            connection.run(f"ALTER ROLE {_quote(target)} WITH LOGIN PASSWORD {_literal(pending.password)}")
            connection.run("COMMIT")
        except Exception:
            connection.run("ROLLBACK")
            raise

    # --- testSecret --------------------------------------------------------------------------------

    def test(self, versions: Versions) -> None:
        pending = parse(PostgresSecret, versions.require_pending(), "pending")
        try:
            with connections.postgres(pending) as connection:
                rows = connection.run("SELECT current_user, now()")
        except LoginFailed as failed:
            raise CredentialsRefused(f"the pending credentials do not log in: {failed}") from None
        if not rows or rows[0][0] != pending.username:
            raise CredentialsRefused("the pending credentials logged in as another user")


def clone_statements(connection: Any, source: str, target: str, create: bool) -> list[str]:
    """Statements that give ``target`` what ``source`` has, read from the catalog of this database:
    role attributes (on creation), role memberships, and privileges on the database, schemas,
    relations and functions (owned objects without an ACL: everything their owner has)."""
    rows = connection.run(
        "SELECT oid, rolcreatedb, rolcreaterole, rolinherit, rolconnlimit FROM pg_roles WHERE rolname = :name",
        name=source,
    )
    if not rows:
        raise RotationError("the current user does not exist in the database: nothing to clone")
    oid, createdb, createrole, inherit, connlimit = rows[0]
    who = _quote(target)
    statements: list[str] = []
    if create:
        attributes = ["LOGIN", "CREATEDB" if createdb else "NOCREATEDB", "CREATEROLE" if createrole else "NOCREATEROLE"]
        attributes += ["INHERIT" if inherit else "NOINHERIT", f"CONNECTION LIMIT {int(connlimit)}"]
        statements.append(f"CREATE ROLE {who} WITH {' '.join(attributes)}")
    for role, admin in connection.run(
        "SELECT r.rolname, m.admin_option FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
        "WHERE m.member = :oid ORDER BY r.rolname",
        oid=oid,
    ):
        statements.append(f"GRANT {_quote(role)} TO {who}" + (" WITH ADMIN OPTION" if admin else ""))

    def grant(privilege: str, on: str, grantable: bool) -> None:
        statements.append(f"GRANT {privilege} ON {on} TO {who}" + (" WITH GRANT OPTION" if grantable else ""))

    for database, privilege, grantable in connection.run(
        "SELECT d.datname, a.privilege_type, a.is_grantable FROM pg_database d, aclexplode(d.datacl) a "
        "WHERE a.grantee = :oid AND d.datname = current_database()",
        oid=oid,
    ):
        grant(privilege, f"DATABASE {_quote(database)}", grantable)
    for schema, privilege, grantable in connection.run(
        "SELECT n.nspname, a.privilege_type, a.is_grantable FROM pg_namespace n, aclexplode(n.nspacl) a "
        "WHERE a.grantee = :oid ORDER BY 1, 2",
        oid=oid,
    ):
        grant(privilege, f"SCHEMA {_quote(schema)}", grantable)
    for (schema,) in connection.run(
        "SELECT nspname FROM pg_namespace WHERE nspowner = :oid AND nspacl IS NULL ORDER BY 1", oid=oid
    ):
        grant("ALL", f"SCHEMA {_quote(schema)}", True)
    for schema, relation, kind, privilege, grantable in connection.run(
        "SELECT n.nspname, c.relname, c.relkind, a.privilege_type, a.is_grantable FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a "
        "WHERE a.grantee = :oid AND c.relkind IN ('r', 'v', 'm', 'f', 'p', 'S') ORDER BY 1, 2, 4",
        oid=oid,
    ):
        grant(privilege, f"{_object_kind(kind)} {_quote(schema)}.{_quote(relation)}", grantable)
    for schema, relation, kind in connection.run(
        "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relowner = :oid AND c.relacl IS NULL AND c.relkind IN ('r', 'v', 'm', 'f', 'p', 'S') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
        oid=oid,
    ):
        grant("ALL", f"{_object_kind(kind)} {_quote(schema)}.{_quote(relation)}", True)
    for (function,) in connection.run(
        "SELECT p.oid::regprocedure::text FROM pg_proc p, aclexplode(p.proacl) a "
        "WHERE a.grantee = :oid AND a.privilege_type = 'EXECUTE' ORDER BY 1",
        oid=oid,
    ):
        statements.append(f"GRANT EXECUTE ON FUNCTION {function} TO {who}")
    return statements


def _object_kind(relkind: str) -> str:
    return "SEQUENCE" if relkind == "S" else "TABLE"

"""Logging in to the database and the cache with a secret's credentials: short timeouts, TLS in AWS,
and errors that name what failed (class and SQLSTATE) but never the credentials.

TLS (``DATABASE_TLS`` / ``CACHE_TLS`` in the function's environment): ``verify`` (the default:
certificate and host name checked against ``DATABASE_CA_BUNDLE`` or the system store), ``require``
(encrypted, certificate not checked), ``disable`` (only the sandbox's private servers, which have
no TLS). pg8000 and redis-py are imported lazily: only the functions that log in pay for them.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from controlplane.rotation.values import PostgresSecret, RedisSecret

CONNECT_TIMEOUT_SECONDS = 5


class LoginFailed(Exception):
    """The credentials were refused, or the server could not be reached (``reason`` says which)."""

    def __init__(self, reason: str, refused: bool) -> None:
        super().__init__(reason)
        self.refused = refused


def _tls_mode(variable: str) -> str:
    mode = os.environ.get(variable, "verify").lower()
    if mode not in {"verify", "require", "disable"}:
        raise ValueError(f"{variable} must be verify, require or disable")
    return mode


def _ssl_context(variable: str) -> ssl.SSLContext | None:
    mode = _tls_mode(variable)
    if mode == "disable":
        return None
    context = ssl.create_default_context(cafile=os.environ.get("DATABASE_CA_BUNDLE") or None)
    if mode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _pg_reason(exc: Exception) -> tuple[str, bool]:
    """(what failed, whether the server refused the credentials): SQLSTATE 28P01 / 28000 are refusals."""
    detail = exc.args[0] if exc.args else None
    code = detail.get("C") if isinstance(detail, dict) else None
    refused = code in {"28P01", "28000"}
    return (f"{type(exc).__name__}" + (f" (SQLSTATE {code})" if code else "")), refused


@contextmanager
def postgres(secret: PostgresSecret, database: str | None = None) -> Iterator[Any]:
    """A pg8000 native connection as ``secret``'s user; ``LoginFailed`` when that is not possible."""
    import pg8000.native

    try:
        connection = pg8000.native.Connection(
            user=secret.username,
            password=secret.password,
            host=secret.host,
            port=secret.port,
            database=database or secret.dbname,
            timeout=CONNECT_TIMEOUT_SECONDS,
            ssl_context=_ssl_context("DATABASE_TLS"),
            application_name="sip-controlplane-rotation",
        )
    except Exception as exc:  # pg8000 raises InterfaceError / DatabaseError / OSError
        reason, refused = _pg_reason(exc)
        raise LoginFailed(f"{secret.username}@{secret.host}: {reason}", refused) from None
    try:
        yield connection
    finally:
        connection.close()


def postgres_works(secret: PostgresSecret) -> bool:
    """True when ``secret`` logs in and runs a query as its own user."""
    try:
        with postgres(secret) as connection:
            rows = connection.run("SELECT current_user")
            return bool(rows) and rows[0][0] == secret.username
    except LoginFailed:
        return False


def redis_client(secret: RedisSecret, token: str | None = None) -> Any:
    import redis

    tls = secret.ssl and _tls_mode("CACHE_TLS") != "disable"
    return redis.Redis(
        host=secret.host,
        port=secret.port,
        password=token if token is not None else secret.auth_token,
        ssl=tls,
        ssl_cert_reqs="required" if _tls_mode("CACHE_TLS") == "verify" else "none",
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=CONNECT_TIMEOUT_SECONDS,
    )


def redis_login(secret: RedisSecret, token: str | None = None) -> None:
    """AUTH with the token, then PING and a read (DBSIZE: answered by any node of a cluster-mode group,
    where a key read could be redirected). ``LoginFailed`` otherwise."""
    import redis

    client = redis_client(secret, token)
    try:
        if client.ping() is not True:
            raise LoginFailed(f"{secret.replication_group_id}: PING was not answered", refused=False)
        client.dbsize()
    except redis.AuthenticationError:
        raise LoginFailed(f"{secret.replication_group_id}: the token was refused", refused=True) from None
    except redis.ResponseError as exc:
        refused = "WRONGPASS" in str(exc) or "NOAUTH" in str(exc)
        raise LoginFailed(f"{secret.replication_group_id}: {type(exc).__name__}", refused=refused) from None
    except redis.RedisError as exc:
        raise LoginFailed(f"{secret.replication_group_id}: {type(exc).__name__}", refused=False) from None
    finally:
        client.close()


def redis_works(secret: RedisSecret, token: str | None = None) -> bool:
    try:
        redis_login(secret, token)
    except LoginFailed:
        return False
    return True

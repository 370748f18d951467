"""The private PostgreSQL and Redis servers the sandbox maps RDS and ElastiCache endpoints to."""

from __future__ import annotations

from typing import Any

import pytest


def test_postgres_requires_the_password(postgres_server: Any) -> None:
    import pg8000.native

    with postgres_server.connect(database="sip") as admin:
        assert admin.run("SELECT current_setting('password_encryption'), version()")[0][0] == "scram-sha-256"
    with pytest.raises(pg8000.native.DatabaseError, match="password authentication failed"):
        postgres_server.connect(password="wrong-password").close()


def test_postgres_is_a_supported_major(postgres_server: Any) -> None:
    with postgres_server.connect() as admin:
        major = int(admin.run("SHOW server_version_num")[0][0]) // 10_000
    assert major == 15


def test_redis_requires_the_password(redis_server: Any) -> None:
    import redis

    assert redis_server.client().ping() is True
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis_server.client(password="wrong-password").ping()


def test_redis_keeps_nothing_on_disk(redis_server: Any) -> None:
    config = redis_server.client().config_get("save")
    assert config["save"] == ""

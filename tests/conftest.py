"""Shared fixtures. The sandbox fixture gives each test its own emulated AWS with the template deployed."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cpctl  # noqa: F401  (puts the layer on sys.path, as Lambda's /opt/python)

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "events"


def load_event(relative: str) -> Any:
    return json.loads((EVENTS / relative).read_text())


@pytest.fixture
def sandbox() -> Iterator[Any]:
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox() as running:
        yield running


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment a handler sees in Lambda (values for unit tests that build Settings)."""
    monkeypatch.setenv("ENVIRONMENT", "dev")
    monkeypatch.setenv("STATE_TABLE_NAME", "sip-controlplane-state-dev")
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:sip-controlplane-notify-dev")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def _real_server(factory: Any) -> Iterator[Any]:
    """Start a private server; without its binaries: skip on a laptop, FAIL in CI (``CI`` set)."""
    from cpctl.sandbox.servers import ServerUnavailable

    try:
        server = factory().start()
    except ServerUnavailable as missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs real servers: {missing}")
        pytest.skip(str(missing))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A private PostgreSQL (scram-sha-256, free port) shared by one test process."""
    from cpctl.sandbox.servers import PostgresServer

    yield from _real_server(PostgresServer)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """A private Redis (requirepass, free port) shared by one test process."""
    from cpctl.sandbox.servers import RedisServer

    yield from _real_server(RedisServer)


def assert_blocked(report: Any, guard: str, mutating: tuple[str, ...]) -> None:
    """A guard refused: the execution succeeded as Blocked, named the guard, and changed nothing."""
    assert report.status == "SUCCEEDED" and report.outcome == "Blocked", (report.outcome, report.reason)
    assert guard in report.reason
    assert report.calls(*mutating) == 0

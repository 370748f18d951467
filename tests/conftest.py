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


def client_attempts(sandbox: Any, function: str) -> int:
    """How many attempts one call of ``function``'s clients makes before the error reaches its handler
    (controlplane.aws: CONTROLPLANE_AWS_MAX_ATTEMPTS, the first one included)."""
    return int(sandbox.function_environment(function)["CONTROLPLANE_AWS_MAX_ATTEMPTS"])


def assert_blocked(report: Any, guard: str, mutating: tuple[str, ...]) -> None:
    """A guard refused: the execution succeeded as Blocked, named the guard, and changed nothing."""
    assert report.status == "SUCCEEDED" and report.outcome == "Blocked", (report.outcome, report.reason)
    assert guard in report.reason
    assert report.calls(*mutating) == 0


# --- modified copies of template.yaml (IAM tests: take one grant away and see AWS refuse) ---------


def template_copy(tmp_path: Path, edit: Any) -> Path:
    """template.yaml, parsed, edited by ``edit`` and written as JSON (code paths stay the repo's)."""
    from cpctl.sandbox.template import load_template

    template = json.loads(json.dumps(load_template(REPO / "template.yaml")))
    edit(template)
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    return path


def _policy_holders(template: dict[str, Any], action: str) -> list[str]:
    found = []
    for logical_id, spec in template["Resources"].items():
        for policy in spec.get("Properties", {}).get("Policies", []):
            if isinstance(policy, dict):
                for statement in policy.get("Statement", []):
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    if action in actions:
                        found.append(logical_id)
    return found


def without_action(action: str) -> Any:
    """An edit that removes ``action`` from every inline statement that grants it."""

    def edit(template: dict[str, Any]) -> None:
        assert _policy_holders(template, action), f"nothing in the template grants {action}"
        for spec in template["Resources"].values():
            for policy in spec.get("Properties", {}).get("Policies", []):
                if isinstance(policy, dict):
                    for statement in policy.get("Statement", []):
                        actions = (
                            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                        )
                        statement["Action"] = [a for a in actions if a != action]
        for spec in template["Resources"].values():
            for policy in spec.get("Properties", {}).get("Policies", []):
                if isinstance(policy, dict) and "Statement" in policy:
                    policy["Statement"] = [s for s in policy["Statement"] if s["Action"]]

    return edit


def pytest_sessionstart(session: pytest.Session) -> None:
    """Move what imports made (moto's and botocore's models, the ASL parser) out of the garbage collector's
    reach: its full passes over them slowed every sandbox start (about 6% of the workflow tests)."""
    import gc

    import moto.backends  # noqa: F401

    from cpctl.sandbox import runtime  # noqa: F401

    gc.collect()
    gc.freeze()

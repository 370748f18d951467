"""PlatformDeploy's sample events (sam local invoke -e): workflow requests that validate, and task events
that still have the shape a fresh sandbox execution sends (regenerate: python -m cpctl.sandbox.samples)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from controlplane.config import Settings
from controlplane.deploy import steps
from controlplane.deploy.models import ApprovalSettings, DeployState

from tests.conftest import EVENTS, load_event

REQUESTS = sorted((EVENTS / "terraform").glob("*.json"))
TASKS = sorted((EVENTS / "platform_deploy").glob("*.json")) + sorted((EVENTS / "platform_deploy_notify").glob("*.json"))
SETTINGS = Settings(
    environment="dev",
    state_table="t-dev",
    notify_topic_arn="arn:aws:sns:us-east-1:123456789012:n",
    policy_name="dev",
)


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.stem)
def test_requests_validate(path: Path) -> None:
    approval = ApprovalSettings(timeout_seconds=86_400, heartbeat_seconds=43_200)
    state = steps.validate_step(load_event(f"terraform/{path.name}"), "sample", SETTINGS, 30, approval)
    assert state.lease_key == "terraform:platform:dev"


@pytest.mark.parametrize("path", TASKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_task_samples_name_their_task_and_state(path: Path) -> None:
    event = load_event(f"{path.parent.name}/{path.name}")
    assert path.stem.split("_")[0] in event["task"]
    if event["task"] == "validate":
        assert event["input"]["environment"] == "dev"
    else:
        state = DeployState.model_validate(event["state"])
        assert state.request is not None and state.lease_key


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value[:1]]
    return type(value).__name__ if value is not None else None


@pytest.mark.sandbox
def test_samples_are_what_a_fresh_execution_sends() -> None:
    from cpctl.sandbox.samples import capture_platform_deploy

    fresh = capture_platform_deploy()
    committed = {f"{p.parent.name}/{p.name}": load_event(f"{p.parent.name}/{p.name}") for p in TASKS}
    assert sorted(fresh) == sorted(committed)
    for name, event in fresh.items():
        assert _shape(event) == _shape(committed[name]), f"events/{name} is stale"

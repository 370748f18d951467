"""The rotation's sample events (sam local invoke -e, docs) match what receives them: the workflow's
input model, its tasks' state models, and the rotation protocol's event (written by
``python -m cpctl.sandbox.samples`` from a sandbox rotation on real servers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from controlplane.models.errors import InvalidRequest
from controlplane.rotation import protocol, workflow
from controlplane.rotation.models import ItemState, RotationState

from tests.conftest import EVENTS, load_event


@pytest.mark.parametrize("path", sorted((EVENTS / "rotation").glob("*.json")), ids=lambda p: p.stem)
def test_workflow_inputs(path: Path) -> None:
    raw = load_event(f"rotation/{path.name}")
    if path.stem.startswith("invalid_"):
        with pytest.raises(InvalidRequest):
            workflow.parse_request(raw, "sample")
    else:
        assert workflow.parse_request(raw, "sample").reason


@pytest.mark.parametrize("step", protocol.STEPS)
def test_secrets_manager_step_events(step: str) -> None:
    event = load_event(f"rotate_postgres_secret/{step}.json")
    parsed = protocol.parse_event(event)
    assert parsed.step == step and parsed.secret_id.startswith("arn:aws:secretsmanager:")
    assert parsed.token == load_event("check_rotation/verify.json")["item"]["action"]["token"]


@pytest.mark.parametrize(
    "path",
    sorted((EVENTS / "change_rotation").glob("*.json")) + sorted((EVENTS / "check_rotation").glob("*.json")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_task_samples_name_their_task_and_state(path: Path) -> None:
    event = load_event(f"{path.parent.name}/{path.name}")
    assert event["task"] == path.stem
    if path.stem == "plan":
        assert workflow.parse_request(event["input"], event["execution"]).secret
    elif path.stem == "record":
        state = RotationState.model_validate(event["state"])
        assert state.plan is not None and state.results and state.results[0].verification is not None
    else:
        item = ItemState.model_validate(event["item"])
        assert item.action.lease_key == "rds:db:sip-dev-postgres" and item.execution == event["execution"]

"""Every sample event still matches the model of what receives it (sam local invoke -e uses them),
and the Scale task samples still have the shape a fresh sandbox execution gives each task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from controlplane import scaling
from controlplane.models.scale import ScaleState
from controlplane.remediation.finish import RemediationState

from tests.conftest import EVENTS, load_event

TASK_SAMPLES = sorted((EVENTS / "change_scaling").glob("*.json")) + sorted((EVENTS / "check_scaling").glob("*.json"))


@pytest.mark.parametrize("path", sorted((EVENTS / "scale").glob("*.json")), ids=lambda p: p.stem)
def test_scale_workflow_inputs(path: Path) -> None:
    raw = load_event(f"scale/{path.name}")
    if path.stem.startswith("invalid_"):
        # Refused by name in the workflow tests; here only: they are well-formed JSON objects.
        assert isinstance(raw, dict)
    else:
        assert scaling.parse_request(raw, "sample").resource.kind


@pytest.mark.parametrize("path", TASK_SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_scale_task_samples_name_their_task_and_state(path: Path) -> None:
    event = load_event(f"{path.parent.name}/{path.name}")
    assert event["task"] == path.stem
    if path.stem == "plan":
        assert scaling.parse_request(event["input"], event["execution"]).resource.kind == "nodegroup"
    else:
        state = ScaleState.model_validate(event["state"])
        assert state.request is not None and state.plan is not None and state.plan.lease_key


def test_record_sample() -> None:
    event = load_event("record_outcome/nodegroup.json")
    assert ScaleState.model_validate(event["state"]).plan is not None
    assert event["execution"] and event["started_at"]


def _shape(value: Any) -> Any:
    """The keys of a JSON value, recursively (values vary from run to run: times, tokens)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value[:1]]
    return type(value).__name__ if value is not None else None


@pytest.mark.sandbox
def test_scale_samples_are_what_a_fresh_execution_sends() -> None:
    """Regenerate with ``python -m cpctl.sandbox.samples`` when a task's input changes."""
    from cpctl.sandbox.samples import capture

    fresh = capture()
    committed = {
        f"{path.parent.name}/{path.name}": load_event(f"{path.parent.name}/{path.name}")
        for path in [*TASK_SAMPLES, EVENTS / "record_outcome" / "nodegroup.json"]
    }
    assert sorted(fresh) == sorted(committed)
    for name, event in fresh.items():
        assert _shape(event) == _shape(committed[name]), f"events/{name} is stale"


def test_remediation_samples() -> None:
    for path in (EVENTS / "finish_remediation").glob("*.json"):
        assert RemediationState.model_validate(load_event(f"finish_remediation/{path.name}")["remediation"]).rule
    for path in (EVENTS / "remediation").glob("*.json"):
        assert RemediationState.model_validate(load_event(f"remediation/{path.name}")).rule

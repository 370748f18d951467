"""Every sample event still matches the model of what receives it (sam local invoke -e uses them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from controlplane import scaling
from controlplane.models.scale import ScaleState
from controlplane.remediation.finish import RemediationState

from tests.conftest import EVENTS, load_event

TASK_STATES = sorted(
    path for name in ("acquire_lock", "apply_scaling", "check_scaling") for path in (EVENTS / name).glob("*.json")
)


@pytest.mark.parametrize("path", sorted((EVENTS / "scale").glob("*.json")), ids=lambda p: p.stem)
def test_scale_workflow_inputs(path: Path) -> None:
    raw = load_event(f"scale/{path.name}")
    if path.stem.startswith("invalid_"):
        # Refused by name in the workflow tests; here only: they are well-formed JSON objects.
        assert isinstance(raw, dict)
    else:
        assert scaling.parse_request(raw, "sample").resource.kind


@pytest.mark.parametrize("path", TASK_STATES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_scale_task_states(path: Path) -> None:
    state = ScaleState.model_validate(load_event(f"{path.parent.name}/{path.name}"))
    assert state.request is not None and state.plan is not None


@pytest.mark.parametrize("name", ["release_lock", "record_outcome"])
def test_scale_envelopes(name: str) -> None:
    for path in (EVENTS / name).glob("*.json"):
        event = load_event(f"{name}/{path.name}")
        assert ScaleState.model_validate(event["state"]).plan is not None
        assert event["execution"]


def test_remediation_samples() -> None:
    for path in (EVENTS / "finish_remediation").glob("*.json"):
        assert RemediationState.model_validate(load_event(f"finish_remediation/{path.name}")["remediation"]).rule
    for path in (EVENTS / "remediation").glob("*.json"):
        assert RemediationState.model_validate(load_event(f"remediation/{path.name}")).rule

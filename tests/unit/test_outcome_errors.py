"""A failed run ends in each state machine's Fail state, whose ErrorPath is the outcome's ``error``: the
name must be one a Fail state may carry (the States Language reserves the ``States.`` prefix)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from controlplane.models.outcome import OutcomeStatus, WorkflowOutcome

from tests.conftest import REPO


def outcome(error: str | None, reason: str = "the restore poll timed out") -> WorkflowOutcome:
    return WorkflowOutcome(
        workflow="recovery",
        execution="x-1",
        status=OutcomeStatus.FAILED,
        reason=reason,
        error=error,
        recorded_at=datetime(2026, 11, 27, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("caught", "named"),
    [("States.Timeout", "StepTimeout"), ("States.TaskFailed", "StepTaskFailed"), ("States.Runtime", "StepRuntime")],
)
def test_a_caught_states_error_is_renamed_and_kept_in_the_reason(caught: str, named: str) -> None:
    found = outcome(caught)
    assert found.error == named and found.reason == f"the restore poll timed out ({caught})"
    assert outcome(caught, reason=f"already says {caught}").reason == f"already says {caught}"


@pytest.mark.parametrize("error", [None, "ApprovalTimedOut", "LockHeld", "TransientAwsError", "Lambda.Unknown"])
def test_other_errors_are_kept_as_they_are(error: str | None) -> None:
    assert outcome(error).error == error and outcome(error).reason == "the restore poll timed out"


def _fail_states() -> list[tuple[str, dict[str, object]]]:
    found = []
    for path in sorted(Path(REPO / "statemachines").glob("*.asl.json")):
        for name, state in json.loads(path.read_text())["States"].items():
            if state.get("Type") == "Fail":
                found.append((f"{path.name}:{name}", state))
    return found


@pytest.mark.parametrize(("where", "state"), _fail_states(), ids=[w for w, _ in _fail_states()])
def test_every_fail_state_names_its_error_from_the_outcome_or_itself(where: str, state: dict[str, object]) -> None:
    """The guard above covers an ErrorPath to the outcome; a literal Error must not use the prefix either."""
    if "ErrorPath" in state:
        assert state["ErrorPath"] == "$.outcome.error", where
    else:
        assert not str(state.get("Error", "")).startswith("States."), where

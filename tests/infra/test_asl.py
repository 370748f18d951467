"""State machine definitions: statelint, moto's ASL parser, and error names the code really raises."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from controlplane.models import errors

from tests.conftest import REPO

ASL_FILES = sorted((REPO / "statemachines").glob("*.asl.json"))
# Error names produced outside our code: Step Functions itself and the Lambda service.
# Sandbox.Timedout: Lambda's name for a function that ran past its timeout; DynamoDB.*: the
# DynamoDB service integration's error names.
EXTERNAL = re.compile(r"^(States|Lambda|StepFunctions|Sandbox|DynamoDB)\.[A-Za-z]+$")
# Names a Fail state gives, or that the outcome records (not raised as exceptions).
OUTCOME_ERRORS = {"VerifyTimeout", "ChangeFailed", "NoPlan", "NotVerified", "RecordFailed"}


def _states(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for state in node.get("States", {}).values():
        found.append(state)
        for branch in state.get("Branches", []):
            found.extend(_states(branch))
        if "Iterator" in state:
            found.extend(_states(state["Iterator"]))
        if "ItemProcessor" in state:
            found.extend(_states(state["ItemProcessor"]))
    return found


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_statelint_accepts(path: Path) -> None:
    statelint = Path(sys.executable).parent / "statelint"
    result = subprocess.run([str(statelint), "--ignore=URI", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_moto_parser_accepts_the_substituted_definition(path: Path) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    definition = re.sub(
        r"\$\{([A-Za-z0-9_]+)\}",
        lambda m: "0" if "Seconds" in m.group(1) else f"arn:aws:lambda:us-east-1:123456789012:function:{m.group(1)}",
        path.read_text(),
    )
    program, _ = AmazonStateLanguageParser.parse(definition)
    assert program is not None


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_caught_and_retried_errors_exist(path: Path) -> None:
    definition = json.loads(path.read_text())
    names: set[str] = set()
    for state in _states(definition):
        for clause in state.get("Retry", []) + state.get("Catch", []):
            names.update(clause["ErrorEquals"])
    ours = {name for name in names if not EXTERNAL.match(name)}
    for name in ours:
        raised = getattr(errors, name, None)
        assert isinstance(raised, type) and issubclass(raised, errors.ControlPlaneError), f"{path.name}: {name}"


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_every_task_can_fail_somewhere_safe(path: Path) -> None:
    definition = json.loads(path.read_text())
    for state in _states(definition):
        if state["Type"] == "Task":
            assert state.get("Catch"), f"{path.name}: a Task without Catch could leave a lock held"
    assert definition.get("TimeoutSeconds"), f"{path.name}: no execution timeout"


def test_outcome_error_names_are_known() -> None:
    from controlplane import scaling

    source = Path(scaling.__file__).read_text()
    for name in re.findall(r'error="([A-Za-z]+)"', source):
        assert name in OUTCOME_ERRORS

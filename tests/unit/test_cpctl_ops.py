"""cpctl's pure parts: execution history into states (retries, caught errors), exit codes of an execution,
--input and --since parsing, audit rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cpctl.cli import _read_input
from cpctl.ops.audit_log import _row, parse_since
from cpctl.ops.errors import CpctlError, Exit
from cpctl.ops.executions import ExecutionView, parse_history

T0 = datetime(2026, 11, 27, 7, tzinfo=UTC)


def _event(seconds: float, kind: str, **details: Any) -> dict[str, Any]:
    key = kind[0].lower() + kind[1:] + "EventDetails"
    if kind.endswith("StateEntered"):
        key = "stateEnteredEventDetails"
    elif kind.endswith("StateExited"):
        key = "stateExitedEventDetails"
    return {"timestamp": T0 + timedelta(seconds=seconds), "type": kind, key: details}


def test_history_counts_retries_and_keeps_caught_errors_on_their_state() -> None:
    events = [
        _event(0, "TaskStateEntered", name="Plan"),
        _event(0.1, "LambdaFunctionScheduled"),
        _event(0.5, "LambdaFunctionFailed", error="Lambda.Unknown", cause="boom"),
        _event(1.5, "LambdaFunctionScheduled"),
        _event(2.0, "LambdaFunctionSucceeded"),
        _event(2.0, "TaskStateExited", name="Plan"),
        _event(2.1, "TaskStateEntered", name="Apply"),
        _event(2.2, "LambdaFunctionScheduled"),
        _event(2.9, "LambdaFunctionFailed", error="LockHeld", cause=json.dumps({"errorMessage": "held by scale/x"})),
        _event(3.0, "TaskStateExited", name="Apply"),
        _event(3.0, "PassStateEntered", name="KeepOnlyError"),
        _event(3.0, "PassStateExited", name="KeepOnlyError"),
        _event(3.1, "FailStateEntered", name="Fail"),
        _event(3.1, "ExecutionFailed", error="ChangeFailed", cause="x"),
    ]
    plan, apply, keep, fail = parse_history(events)
    assert (plan.name, plan.type, plan.seconds, plan.retries, plan.error) == ("Plan", "Task", 2.0, 1, None)
    assert (apply.error, apply.cause, apply.retries) == ("LockHeld", "held by scale/x", 0)
    assert apply.seconds == pytest.approx(0.9)
    assert (keep.type, keep.error) == ("Pass", None)
    assert (fail.type, fail.exited, fail.error) == ("Fail", None, None)  # the execution's error is not a state's


@pytest.mark.parametrize(
    ("status", "output", "code"),
    [
        ("SUCCEEDED", {"status": "Succeeded"}, Exit.OK),
        ("SUCCEEDED", {"status": "NoChange"}, Exit.OK),
        ("SUCCEEDED", {"status": "DryRun"}, Exit.OK),
        ("SUCCEEDED", {"status": "Blocked"}, Exit.BLOCKED),
        ("SUCCEEDED", {"status": "Escalated"}, Exit.FAILED),
        ("SUCCEEDED", {"approved": True}, Exit.OK),
        ("FAILED", None, Exit.FAILED),
        ("TIMED_OUT", None, Exit.FAILED),
        ("ABORTED", None, Exit.FAILED),
        ("RUNNING", None, Exit.STILL_RUNNING),
    ],
)
def test_exit_code_of_an_execution(status: str, output: Any, code: Exit) -> None:
    view = ExecutionView(described={"status": status, "executionArn": "a"}, states=[], workflow="w", console_url="u",
                         output=output)  # fmt: skip
    assert view.exit_code == code


def test_input_from_text_file_or_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "in.json"
    path.write_text('{"a": 1}')
    assert _read_input(str(path)) == {"a": 1}
    assert _read_input(f"file://{path}") == {"a": 1}
    assert _read_input('{"b": 2}') == {"b": 2}
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO('{"c": 3}'))
    assert _read_input("-") == {"c": 3}
    for bad in ("no/such.json", "file:///no/such.json", "{not json"):
        with pytest.raises(CpctlError) as raised:
            _read_input(bad)
        assert raised.value.exit_code == Exit.USAGE


def test_since() -> None:
    now = datetime(2026, 11, 27, 8, tzinfo=UTC)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-11-27T06:00", now) == datetime(2026, 11, 27, 6, tzinfo=UTC)
    assert parse_since(None, now) is None
    with pytest.raises(CpctlError):
        parse_since("last week", now)


def test_audit_rows_say_who_why_before_after() -> None:
    scale = {"workflow": "scale", "requester": {"type": "person", "id": "ann"}, "request_reason": "peak",
             "reason": "3 -> 5", "current": 3, "desired": 5, "kind": "nodegroup"}  # fmt: skip
    item = {"pk": {"S": "AUDIT#nodegroup#sip-dev/general"}, "sk": {"S": "2026-11-27T07:00:00+00:00#run-1"},
            "status": {"S": "Succeeded"}, "record": {"S": json.dumps(scale)}}  # fmt: skip
    row = _row(item)
    assert (row["who"], row["why"], row["result"], row["before"], row["after"]) == (
        "person:ann",
        "peak",
        "3 -> 5",
        3,
        5,
    )
    assert (row["resource"], row["execution"], row["at"]) == (
        "nodegroup#sip-dev/general",
        "run-1",
        "2026-11-27T07:00:00+00:00",
    )
    remediation = {
        "workflow": "remediation",
        "rule": "sip-dev-eks-cpu-high",
        "source": "cloudwatch",
        "reason": "scale Blocked",
    }
    row = _row(
        {**item, "pk": {"S": "AUDIT#remediation#sip-dev-eks-cpu-high"}, "record": {"S": json.dumps(remediation)}}
    )
    assert row["who"] == "cloudwatch:sip-dev-eks-cpu-high" and row["workflow"] == "remediation"


def test_every_command_is_in_the_operations_guide() -> None:
    from cpctl.cli import cli
    from tests.conftest import REPO

    guide = (REPO / "docs" / "operations.md").read_text()
    for name in cli.commands:
        assert f"cpctl {name}" in guide, f"docs/operations.md does not mention `cpctl {name}`"

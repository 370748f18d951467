"""The control path's rules, in process: names checked against botocore, bad input changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cpctl.sandbox.control import InvalidRequest, fault_key, handle
from cpctl.sandbox.moto_patches.state import SandboxState


def _call(state: SandboxState, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    return handle(state, method, path, raw, lambda: {"described": True})


@pytest.mark.parametrize(
    ("service", "operation", "expected"),
    [
        ("eks", "UpdateNodegroupConfig", ("eks", "UpdateNodegroupConfig")),
        ("eks", "update-nodegroup-config", ("eks", "UpdateNodegroupConfig")),
        ("stepfunctions", "start-execution", ("sfn", "StartExecution")),
        ("events", "PutEvents", ("eventbridge", "PutEvents")),
        ("rds", "create-db-instance-read-replica", ("rds", "CreateDBInstanceReadReplica")),
        ("codebuild", "StartBuild", ("codebuild", "StartBuild")),
    ],
)
def test_faults_are_keyed_as_botocore_names_the_call(service: str, operation: str, expected: tuple[str, str]) -> None:
    """The faults patch sees ``before-send.<service id>.<Operation>``: the knob must arm that key."""
    assert fault_key(service, operation) == expected


@pytest.mark.parametrize(("service", "operation"), [("ekz", "UpdateNodegroupConfig"), ("eks", "UpdateNodegroup")])
def test_unknown_names_are_refused(service: str, operation: str) -> None:
    with pytest.raises(InvalidRequest):
        fault_key(service, operation)


def test_a_fault_is_armed_under_botocores_key() -> None:
    state = SandboxState()
    status, body = _call(
        state, "POST", "/_sandbox/faults", {"service": "stepfunctions", "operation": "start-execution", "code": "X"}
    )
    assert status == 200, body
    assert state.take_fault("sfn", "StartExecution") is not None
    assert state.take_fault("sfn", "StartExecution") is None  # times=1 by default


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        {"service": "eks", "operation": "UpdateNodegroupConfig"},  # no code
        {"service": "eks", "operation": "UpdateNodegroupConfig", "code": "X", "times": 0},
        {"service": "eks", "operation": "UpdateNodegroupConfig", "code": "X", "effect": "explode"},
        {"service": "eks", "operation": "UpdateNodegroupConfig", "code": "X", "surprise": 1},
        {"service": "eks", "operation": "Nope", "code": "X"},
    ],
)
def test_bad_fault_requests_change_nothing(body: Any) -> None:
    state = SandboxState()
    status, answer = _call(state, "POST", "/_sandbox/faults", body)
    assert (status, answer["error"]) == (400, "InvalidRequest")
    assert state.faults == {}


def test_holds_listing_and_clearing() -> None:
    state = SandboxState()
    hold = {"kind": "eks", "resource_id": "sip-dev/general", "status": "UPDATING", "polls": 2}
    assert _call(state, "POST", "/_sandbox/holds", hold)[0] == 200
    status, snapshot = _call(state, "GET", "/_sandbox/state")
    assert status == 200
    assert snapshot["holds"] == [hold]
    assert _call(state, "POST", "/_sandbox/holds", {**hold, "polls": -1})[0] == 400
    assert state.peek_hold("eks", "sip-dev/general") is not None
    status, cleared = _call(state, "DELETE", "/_sandbox/arrangements")
    assert (status, cleared["holds"], cleared["faults"]) == (200, [], [])


def test_unknown_paths_and_the_description() -> None:
    state = SandboxState()
    assert _call(state, "GET", "/_sandbox")[1] == {"described": True}
    status, answer = _call(state, "PUT", "/_sandbox/holds", {})
    assert status == 404 and "POST /_sandbox/holds" in answer["message"]


def test_an_outcome_fault_lets_the_call_through_for_the_emulation_to_read(sandbox: Any) -> None:
    """``effect: outcome`` (e.g. a build that ends FAILED) is not answered as an API error: the call
    succeeds, and the emulation of the operation takes the outcome when it decides how the thing ends."""
    body = {"service": "eks", "operation": "DescribeNodegroup", "code": "FAILED", "effect": "outcome"}
    assert _call(sandbox.state, "POST", "/_sandbox/faults", body)[0] == 200
    assert sandbox.nodegroup("general")["status"] == "ACTIVE"
    assert sandbox.state.take_fault("eks", "DescribeNodegroup") is None  # not an error fault
    taken = sandbox.state.take_outcome("eks", "DescribeNodegroup")
    assert taken is not None and taken.code == "FAILED"
    assert sandbox.state.take_outcome("eks", "DescribeNodegroup") is None  # times=1

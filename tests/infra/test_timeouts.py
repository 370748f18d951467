"""Time limits that must fit together in AWS, checked against template.yaml and the ASL files.

Nothing here runs in the sandbox (its waits are instant and moto knows no Lambda timeout): the rules
are computed from the definitions that deploy, with the AWS documentation's words where one applies.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from controlplane import aws, config
from controlplane.config import load_policy

from cpctl.sandbox.template import load_template
from tests.conftest import REPO

TEMPLATE = load_template(REPO / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTION_TIMEOUT = int(TEMPLATE["Globals"]["Function"]["Timeout"])
ASL = {path.name: json.loads(path.read_text()) for path in sorted((REPO / "statemachines").glob("*.asl.json"))}
SCALE = ASL["scale.asl.json"]
POLL = TEMPLATE["Parameters"]["PollIntervalSeconds"]
# Step Functions quota: "Maximum execution history size: 25,000 events" (Standard workflows).
HISTORY_LIMIT = 25_000
TIMEOUT_ERRORS = {"Sandbox.Timedout", "Lambda.Unknown", "States.Timeout"}


def _states(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, state in node.get("States", {}).items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(_states(branch))
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                found.update(_states(state[key]))
    return found


def _function_of(resource: str) -> str | None:
    """The logical id of the function a Lambda task's ${...Arn} placeholder names, if any."""
    if resource.startswith("${") and resource.endswith("FunctionArn}"):
        return resource[2:-4]
    return None


def _retry_seconds(retrier: dict[str, Any]) -> float:
    """The longest total wait of one Retry clause (JitterStrategy FULL only shortens it)."""
    interval = float(retrier.get("IntervalSeconds", 1))
    rate = float(retrier.get("BackoffRate", 2.0))
    cap = float(retrier.get("MaxDelaySeconds", math.inf))
    return sum(min(interval * rate**k, cap) for k in range(int(retrier.get("MaxAttempts", 3))))


def worst_case_seconds(state: dict[str, Any]) -> float:
    """A task's longest run: every attempt allowed by every Retry clause timing out, plus the waits."""
    retriers = state.get("Retry", [])
    attempts = 1 + sum(int(r.get("MaxAttempts", 3)) for r in retriers)
    timeout = float(state.get("TimeoutSeconds", 99_999_999))
    return attempts * timeout + sum(_retry_seconds(r) for r in retriers)


def test_one_aws_call_fits_well_inside_every_function_timeout() -> None:
    """A slow AWS must end in a handled error (retried by the state machine), not a Lambda timeout
    between a mutating call and its record."""
    worst = aws.worst_case_call_seconds()
    assert worst <= FUNCTION_TIMEOUT / 1.5, f"one call may take {worst}s; functions time out at {FUNCTION_TIMEOUT}s"
    for logical_id, spec in RESOURCES.items():
        if spec["Type"] == "AWS::Serverless::Function":
            assert int(spec["Properties"].get("Timeout", FUNCTION_TIMEOUT)) >= worst * 1.5, logical_id


@pytest.mark.parametrize("name", sorted(ASL))
def test_lambda_tasks_time_out_after_their_function_and_handle_a_timeout(name: str) -> None:
    """A task without TimeoutSeconds waits as long as the execution may; a function that times out or
    runs out of memory is reported as Sandbox.Timedout or Lambda.Unknown (States.Timeout when the
    task's own TimeoutSeconds passes): each must be retried or caught, so the lease is released."""
    for state_name, state in _states(ASL[name]).items():
        function = _function_of(str(state.get("Resource", "")))
        if state.get("Type") != "Task" or function is None:
            continue
        properties = RESOURCES[function]["Properties"]
        timeout = int(properties.get("Timeout", FUNCTION_TIMEOUT))
        assert state.get("TimeoutSeconds", 0) > timeout, f"{name} {state_name}: TimeoutSeconds <= {timeout}"
        retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
        caught = {e for c in state.get("Catch", []) for e in c["ErrorEquals"]}
        assert retried >= TIMEOUT_ERRORS or "States.ALL" in retried or "States.ALL" in caught, (
            f"{name} {state_name} neither retries nor catches a timed-out function"
        )


def test_scale_lease_renewing_tasks_fit_the_lease_gap() -> None:
    """A lease is renewed by Prepare, Apply, every CheckProgress and Finalize: the longest of those
    tasks, after a wait of at most one poll interval, must end before the lease expires."""
    states = _states(SCALE)
    for name in ("AcquireLease", "Prepare", "Apply", "CheckProgress", "Finalize"):
        worst = worst_case_seconds(states[name])
        assert worst <= config.WORST_TASK_SECONDS, f"{name} may take {worst:.0f}s"
    assert int(POLL["MaxValue"]) == config.MAX_POLL_INTERVAL_SECONDS
    for env in ("dev", "staging", "prod"):
        assert load_policy(env).lock_ttl_seconds >= config.LEASE_RENEWAL_GAP_SECONDS


def test_policy_refuses_a_lease_that_cannot_cover_the_gap() -> None:
    from controlplane.config import parse_policy
    from controlplane.models.errors import InvalidPolicy

    data = json.loads((Path(config.POLICY_DIR) / "dev.json").read_text())
    data["lock_ttl_seconds"] = config.LEASE_RENEWAL_GAP_SECONDS - 1
    with pytest.raises(InvalidPolicy, match="lock_ttl_seconds"):
        parse_policy(data)


def test_the_longest_scale_execution_fits_its_timeout() -> None:
    """Every task at its worst, the longest verify the policy may ask for and the longest waits must
    fit in TimeoutSeconds; a timed-out execution skips the lease release and the record."""
    states = _states(SCALE)
    tasks = sum(worst_case_seconds(s) for n, s in states.items() if s["Type"] == "Task" and n != "CheckProgress")
    verify = config.MAX_VERIFY_SECONDS + config.MAX_POLL_INTERVAL_SECONDS + worst_case_seconds(states["CheckProgress"])
    waits = 300  # WaitPrepared: Prepared.wait_seconds is at most 300
    assert tasks + verify + waits <= SCALE["TimeoutSeconds"]


def test_every_policy_verify_fits_the_maximum() -> None:
    for env in ("dev", "staging", "prod"):
        for kind, limits in load_policy(env).scaling.items():
            assert limits.verify_timeout_seconds <= config.MAX_VERIFY_SECONDS, (env, kind)


def test_the_longest_verify_fits_the_execution_history() -> None:
    """Each poll adds nine events (Wait entered/exited, task entered/scheduled/started/succeeded/exited,
    Choice entered/exited); at the shortest allowed interval the longest verify must stay well under
    Step Functions' 25,000-event history."""
    polls = config.MAX_VERIFY_SECONDS / int(POLL["MinValue"])
    assert polls * 9 + 200 <= HISTORY_LIMIT * 0.8


def test_remediation_outlives_the_scale_it_waits_for_and_its_claim_outlives_it() -> None:
    from controlplane.remediation.entry import INFLIGHT_SECONDS

    remediation = ASL["remediation.asl.json"]["TimeoutSeconds"]
    assert remediation > SCALE["TimeoutSeconds"]
    assert remediation <= INFLIGHT_SECONDS


def test_the_longest_rotation_execution_fits_its_timeout() -> None:
    """Per secret: every task of the Map's iteration at its worst, plus the verify budget and one more
    poll; around them Plan and Record. The policy refuses a run that would not fit (rotation.policy)."""
    from controlplane.rotation import policy as rotation

    definition = ASL["rotation.asl.json"]
    assert definition["TimeoutSeconds"] == rotation.EXECUTION_TIMEOUT_SECONDS
    item = _states(definition["States"]["RotateEach"]["ItemProcessor"])
    per_action = sum(worst_case_seconds(s) for s in item.values() if s["Type"] == "Task")
    assert per_action + config.MAX_POLL_INTERVAL_SECONDS <= rotation.ACTION_OVERHEAD_SECONDS
    top = _states(definition)
    around = sum(worst_case_seconds(top[name]) for name in ("Plan", "RecordOutcome", "NotifyRecordFailure"))
    assert around <= rotation.RUN_OVERHEAD_SECONDS
    for env in ("dev", "staging", "prod"):
        pol = rotation.load_rotation_policy(env)
        worst = pol.max_rotations_per_run * (pol.verify_timeout_seconds + rotation.ACTION_OVERHEAD_SECONDS)
        assert worst + rotation.RUN_OVERHEAD_SECONDS <= definition["TimeoutSeconds"], env
        # Apply and every CheckRotation renew the lease; the lease outlives the gap between two renewals.
        assert pol.lock_ttl_seconds >= config.LEASE_RENEWAL_GAP_SECONDS
    for name in ("Apply", "CheckRotation"):
        assert worst_case_seconds(item[name]) <= config.WORST_TASK_SECONDS, name

"""``cpctl sandbox up`` in its own process, driven by clients nobody here wrote: the AWS CLI and boto3.

Each test uses its own node group: the module shares one served sandbox, and a node group scaled
once is in its cooldown afterwards.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import EVENTS
from tests.sandbox.served import ServedSandbox, served_sandbox, tool

pytestmark = pytest.mark.sandbox
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@pytest.fixture(scope="module")
def served() -> Iterator[ServedSandbox]:
    with served_sandbox() as running:
        yield running
        port = int(running.endpoint.rsplit(":", 1)[1])
    # Leaving the block sent SIGTERM: the server stops cleanly and lets the port go.
    assert running.process.returncode == 0, "".join(running.output)
    assert "sandbox stopped" in "".join(running.output)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox", timeout=2)


def _described(served: ServedSandbox) -> dict[str, Any]:
    with urllib.request.urlopen(f"{served.endpoint}/_sandbox", timeout=10) as response:
        return dict(json.loads(response.read()))


def _aws(served: ServedSandbox, *argv: str) -> Any:
    result = served.run(tool("aws"), *argv, "--output", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def _wait_boto3(sfn: Any, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL or time.monotonic() > deadline:
            return dict(described)
        time.sleep(0.1)


def test_prints_what_a_client_needs(served: ServedSandbox) -> None:
    printed = "".join(served.output)
    described = _described(served)
    assert described["endpoint"] == served.endpoint
    for logical_id, arn in described["state_machines"].items():
        assert logical_id in printed and arn in printed
    assert described["state_table"] in printed and described["notify_topic"] in printed
    assert "aws stepfunctions start-execution" in printed


def test_notification_and_event_lookups_with_the_aws_cli(served: ServedSandbox) -> None:
    described = _described(served)
    topics = _aws(served, "sns", "list-topics")["Topics"]
    assert described["notify_topic"] in [topic["TopicArn"] for topic in topics]
    rules = _aws(served, "events", "list-rules")["Rules"]
    by_name = {rule["Name"]: rule for rule in rules}
    assert by_name["sip-controlplane-dev-alarm-state-change"]["State"] == "ENABLED", rules


def test_a_scale_execution_with_the_aws_cli(served: ServedSandbox) -> None:
    """Start, follow and verify a Scale execution with nothing but `aws` commands against the endpoint."""
    scale_arn = _described(served)["state_machines"]["ScaleStateMachine"]
    request = EVENTS / "scale" / "nodegroup_scale_up.json"  # general: 3 -> 5
    before = _aws(served, "eks", "describe-nodegroup", "--cluster-name", "sip-dev", "--nodegroup-name", "general")
    assert before["nodegroup"]["scalingConfig"]["desiredSize"] == 3

    started = _aws(
        served,
        "stepfunctions",
        "start-execution",
        "--state-machine-arn",
        scale_arn,
        "--name",
        "cli-scale-up",
        "--input",
        f"file://{request}",
    )
    deadline = time.monotonic() + 60
    while True:
        described = _aws(served, "stepfunctions", "describe-execution", "--execution-arn", started["executionArn"])
        if described["status"] in TERMINAL or time.monotonic() > deadline:
            break
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert (output["status"], output["observed"]) == ("Succeeded", 5)

    after = _aws(served, "eks", "describe-nodegroup", "--cluster-name", "sip-dev", "--nodegroup-name", "general")
    assert after["nodegroup"]["scalingConfig"]["desiredSize"] == 5

    history = _aws(served, "stepfunctions", "get-execution-history", "--execution-arn", started["executionArn"])
    succeeded_tasks = [e for e in history["events"] if e["type"] == "LambdaFunctionSucceeded"]
    assert len(succeeded_tasks) >= 4  # plan, lock, apply, check, release, record ran as real handlers
    table = _described(served)["state_table"]
    items = _aws(served, "dynamodb", "scan", "--table-name", table)["Items"]
    audit = [i for i in items if i["pk"]["S"].startswith("AUDIT#") and "cli-scale-up" in json.dumps(i)]
    assert audit, items
    assert not [i for i in items if i["pk"]["S"].startswith("LOCK#")]  # lease released

    # The server prints one line per Lambda invocation, so the person running it sees the handlers work.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        invoked = [line for line in served.output if line.startswith("lambda ") and "cli-scale-up" in line]
        if len(invoked) >= len(succeeded_tasks):
            break
        time.sleep(0.2)
    assert len(invoked) == len(succeeded_tasks) and all(line.rstrip().endswith(" ok") for line in invoked), invoked


def test_a_scale_execution_with_boto3(served: ServedSandbox) -> None:
    sfn = served.client("stepfunctions")
    eks = served.client("eks")
    scale_arn = _described(served)["state_machines"]["ScaleStateMachine"]
    request = json.loads((EVENTS / "scale" / "nodegroup_delta.json").read_text())  # cpu_optimized: 2 + 2
    started = sfn.start_execution(stateMachineArn=scale_arn, name="boto3-delta", input=json.dumps(request))
    described = _wait_boto3(sfn, started["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["status"] == "Succeeded"
    nodegroup = eks.describe_nodegroup(clusterName="sip-dev", nodegroupName="cpu_optimized")["nodegroup"]
    assert nodegroup["scalingConfig"]["desiredSize"] == 4


def test_holds_and_throttles_armed_with_cpctl_reach_the_workflow(served: ServedSandbox) -> None:
    """`cpctl sandbox fault` from another process: the node group stays UPDATING for 3 polls and the
    first 2 UpdateNodegroupConfig calls are throttled; the execution still succeeds, having waited."""
    cpctl = tool("cpctl")
    held = served.run(cpctl, "sandbox", "fault", "hold", "--kind", "eks", "--resource-id", "sip-dev/spot",
                      "--status", "UPDATING", "--polls", "3")  # fmt: skip
    assert held.returncode == 0, held.stdout + held.stderr
    throttled = served.run(cpctl, "sandbox", "fault", "throttle", "--service", "eks",
                           "--operation", "update-nodegroup-config", "--times", "2")  # fmt: skip
    assert throttled.returncode == 0, throttled.stdout + throttled.stderr
    assert "UpdateNodegroupConfig: answer the next 2 with ThrottlingException" in throttled.stdout
    with urllib.request.urlopen(f"{served.endpoint}/_sandbox/state", timeout=10) as response:
        before = json.loads(response.read())["calls"].get("eks:UpdateNodegroupConfig", 0)

    sfn = served.client("stepfunctions")
    scale_arn = _described(served)["state_machines"]["ScaleStateMachine"]
    request = {
        "resource": {"kind": "nodegroup", "cluster": "sip-dev", "nodegroup": "spot"},
        "desired": 4,
        "reason": "knobs from outside",
        "requester": {"type": "person", "id": "test"},
    }
    started = sfn.start_execution(stateMachineArn=scale_arn, name="held-and-throttled", input=json.dumps(request))
    described = _wait_boto3(sfn, started["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["status"] == "Succeeded"

    history = sfn.get_execution_history(executionArn=started["executionArn"], maxResults=1000)["events"]
    polls = [e for e in history if e["type"] == "WaitStateEntered"]
    assert len(polls) >= 3, [e["type"] for e in history]  # the workflow waited through the hold
    with urllib.request.urlopen(f"{served.endpoint}/_sandbox/state", timeout=10) as response:
        state = json.loads(response.read())
    assert state["calls"]["eks:UpdateNodegroupConfig"] - before == 3  # 2 throttled, then the change
    assert not state["holds"] and not state["faults"]  # both used up
    nodegroup = served.client("eks").describe_nodegroup(clusterName="sip-dev", nodegroupName="spot")["nodegroup"]
    assert (nodegroup["status"], nodegroup["scalingConfig"]["desiredSize"]) == ("ACTIVE", 4)


def test_a_mistyped_fault_is_refused_and_arms_nothing(served: ServedSandbox) -> None:
    result = served.run(tool("cpctl"), "sandbox", "fault", "throttle", "--service", "eks",
                        "--operation", "UpdateNodegroupConfg")  # fmt: skip
    assert result.returncode == 2
    assert "InvalidRequest: eks has no operation 'UpdateNodegroupConfg'" in result.stdout
    with urllib.request.urlopen(f"{served.endpoint}/_sandbox/state", timeout=10) as response:
        assert json.loads(response.read())["faults"] == []


def test_a_taken_port_is_reported(served: ServedSandbox) -> None:
    port = served.endpoint.rsplit(":", 1)[1]
    result = subprocess.run(
        [tool("cpctl"), "sandbox", "up", "--port", port], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stdout


def test_a_taken_port_is_reported_as_json_with_json(served: ServedSandbox) -> None:
    port = served.endpoint.rsplit(":", 1)[1]
    result = subprocess.run(
        [tool("cpctl"), "sandbox", "up", "--port", port, "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    error = json.loads(result.stdout)
    assert error["error"] == "CannotServe" and f"127.0.0.1:{port}" in error["message"]


def test_json_start_line_is_what_a_script_needs() -> None:
    """`cpctl sandbox up --json`: stdout's first line is the deployment as JSON (as GET /_sandbox answers),
    and nothing else comes on stdout; the rest (invocations, the stop) goes to stderr."""
    import os
    import signal

    from tests.conftest import REPO
    from tests.sandbox.served import CLIENT_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    process = subprocess.Popen(
        [tool("cpctl"), "sandbox", "up", "--port", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**env, **CLIENT_ENV}, cwd=REPO,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        with urllib.request.urlopen(f"{first['endpoint']}/_sandbox", timeout=10) as response:
            assert json.loads(response.read()) == first
        assert "ScaleStateMachine" in first["state_machines"] and first["state_table"]
    finally:
        process.send_signal(signal.SIGTERM)
        rest, errors = process.communicate(timeout=60)
    assert process.returncode == 0 and rest == "", rest
    assert "sandbox stopped" in errors

"""Every ``cpctl`` operator command against one served sandbox (``cpctl sandbox up`` in its own process),
run as people and scripts run it: a separate ``cpctl`` process, ``--json`` parsed, exit codes checked.

The module shares one sandbox (starting one costs seconds); each test uses its own resource or its own
executions, so the order does not matter.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from cpctl.ops.errors import Exit
from cpctl.ops.workflows import name_of, template_state_machines
from tests.conftest import EVENTS
from tests.sandbox.served import ServedSandbox, served_sandbox, tool

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def served() -> Iterator[ServedSandbox]:
    with served_sandbox("--quiet") as running:
        yield running


def cpctl(served: ServedSandbox, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    import subprocess

    from tests.conftest import REPO

    result = subprocess.run(
        [tool("cpctl"), *argv], env=served.env(), capture_output=True, text=True, timeout=180, cwd=REPO,
        input=stdin, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def cpctl_json(served: ServedSandbox, *argv: str, expect: int = 0) -> Any:
    code, out, err = cpctl(served, *argv, "--json")
    assert code == expect, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    return json.loads(out)


def nodegroup(served: ServedSandbox, name: str) -> dict[str, Any]:
    return dict(served.client("eks").describe_nodegroup(clusterName="sip-dev", nodegroupName=name)["nodegroup"])


# --- run ------------------------------------------------------------------------------------------


def test_run_wait_follows_a_scale_to_its_end(served: ServedSandbox) -> None:
    """general 3 -> 5: --json result with every state entered, and the node group really changed."""
    assert nodegroup(served, "general")["scalingConfig"]["desiredSize"] == 3
    result = cpctl_json(served, "run", "scale", "--input", str(EVENTS / "scale" / "nodegroup_scale_up.json"), "--wait")
    assert (result["status"], result["outcome"], result["exitCode"]) == ("SUCCEEDED", "Succeeded", 0)
    assert result["workflow"] == "scale"
    assert result["output"]["desired"] == 5 and result["output"]["observed"] == 5
    names = [state["name"] for state in result["states"]]
    assert names[0] == "Plan" and names[-1] == "Finished"
    assert {"AcquireLease", "Apply", "CheckProgress", "ReleaseLease", "RecordOutcome"} <= set(names)
    assert all(state["seconds"] is not None and state["seconds"] >= 0 for state in result["states"])
    assert result["consoleUrl"].endswith(result["executionArn"])
    assert nodegroup(served, "general")["scalingConfig"]["desiredSize"] == 5


def test_run_shows_progress_as_plain_lines_when_not_a_terminal(served: ServedSandbox) -> None:
    """Dry run: states entered on stderr one per line, a readable result on stdout, nothing changed."""
    before = nodegroup(served, "spot")["scalingConfig"]["desiredSize"]
    request = {
        "resource": {"kind": "nodegroup", "cluster": "sip-dev", "nodegroup": "spot"},
        "delta": 1,
        "reason": "what would one more do?",
        "requester": {"type": "person", "id": "carol"},
    }
    code, out, err = cpctl(served, "run", "scale", "--input", json.dumps(request), "--dry-run", "--wait")
    assert code == Exit.OK, out + err
    entered = re.findall(r"^state (\S+) \((\w+)\)$", err, flags=re.MULTILINE)
    assert entered[0] == ("Plan", "Task"), err
    assert ("Finished", "Succeed") in entered and ("Apply", "Task") not in entered, err
    assert "\x1b[" not in out + err  # no terminal codes in a pipe
    assert "SUCCEEDED, outcome DryRun" in out, out
    assert "reason" in out and "console https://us-east-1.console.aws.amazon.com/states/" in out, out
    assert nodegroup(served, "spot")["scalingConfig"]["desiredSize"] == before


def test_a_blocked_change_exits_6_with_the_reason(served: ServedSandbox) -> None:
    result = cpctl_json(
        served, "run", "scale", "--input", str(EVENTS / "scale" / "nodegroup_beyond_max.json"), "--wait",
        expect=Exit.BLOCKED,
    )  # fmt: skip
    assert (result["status"], result["outcome"]) == ("SUCCEEDED", "Blocked")
    assert "max" in result["output"]["reason"] or "bound" in result["output"]["reason"], result["output"]


def test_an_invalid_request_exits_1_with_the_named_error(served: ServedSandbox) -> None:
    result = cpctl_json(served, "run", "scale", "--input", '{"desired": 2}', "--wait", expect=Exit.FAILED)
    assert result["status"] == "FAILED"
    plan = next(state for state in result["states"] if state["name"] == "Plan")
    assert plan["error"] == "InvalidRequest" and "resource" in plan["cause"], plan


def test_run_without_wait_prints_the_execution_and_history_reads_it(served: ServedSandbox) -> None:
    started = cpctl_json(served, "run", "scale", "--input", str(EVENTS / "scale" / "cache_shards_out.json"),
                         "--dry-run", "--name", "cli-no-wait")  # fmt: skip
    assert started["executionArn"].endswith(":cli-no-wait") and started["workflow"] == "scale"
    deadline = time.monotonic() + 60
    while True:  # by name, not ARN: history finds the workflow
        view = cpctl_json(served, "history", "cli-no-wait")
        if view["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (view["status"], view["outcome"]) == ("SUCCEEDED", "DryRun"), view
    assert view["executionArn"] == started["executionArn"]
    assert [s["name"] for s in view["states"]][:2] == ["Plan", "Proceed?"]
    assert view["input"]["dry_run"] is True and view["input"]["resource"]["kind"] == "cache_shards"

    code, out, _ = cpctl(served, "history", started["executionArn"])
    assert code == 0 and "Plan" in out and "RecordOutcome" in out and "DryRun" in out


# --- executions -----------------------------------------------------------------------------------


def test_executions_by_workflow_and_status(served: ServedSandbox) -> None:
    ok = cpctl_json(served, "run", "scale", "--input", str(EVENTS / "scale" / "cache_replicas_out.json"), "--wait",
                    "--dry-run", "--name", "cli-list-ok")  # fmt: skip
    bad = cpctl_json(served, "run", "scale", "--input", "{}", "--wait", "--name", "cli-list-bad", expect=Exit.FAILED)

    every = cpctl_json(served, "executions")
    names = {row["name"]: row for row in every}
    assert {"cli-list-ok", "cli-list-bad"} <= set(names)
    assert names["cli-list-ok"]["workflow"] == "scale" and names["cli-list-ok"]["executionArn"] == ok["executionArn"]
    assert [row["startDate"] for row in every] == sorted((row["startDate"] for row in every), reverse=True)

    failed = cpctl_json(served, "executions", "scale", "--status", "FAILED")
    assert bad["executionArn"] in {row["executionArn"] for row in failed}
    assert {row["status"] for row in failed} == {"FAILED"}
    assert not cpctl_json(served, "executions", "remediation", "--status", "SUCCEEDED") or all(
        row["workflow"] == "remediation" for row in cpctl_json(served, "executions", "remediation")
    )
    assert len(cpctl_json(served, "executions", "--limit", "1")) == 1

    code, out, _ = cpctl(served, "executions", "scale")
    assert code == 0 and "cli-list-ok" in out and "SUCCEEDED" in out


# --- audit ----------------------------------------------------------------------------------------


def test_audit_by_resource_and_time(served: ServedSandbox) -> None:
    """A person's dry run on rds replicas: the audit item says who, what, why, before and after."""
    request = json.loads((EVENTS / "scale" / "rds_replicas_out.json").read_text())
    request["requester"] = {"type": "person", "id": "dana@example.com"}
    request["reason"] = "audit test"
    result = cpctl_json(served, "run", "scale", "--input", json.dumps(request), "--dry-run", "--wait")
    key = f"{result['output']['kind']}#{result['output']['resource_id']}"

    rows = cpctl_json(served, "audit", key, "--since", "1h")
    mine = [row for row in rows if row["execution"] == result["name"]]
    assert len(mine) == 1, rows
    row = mine[0]
    assert (row["resource"], row["status"], row["who"], row["why"]) == (
        key,
        "DryRun",
        "person:dana@example.com",
        "audit test",
    )
    assert row["result"] == result["output"]["reason"] and row["dry_run"] is True and row["workflow"] == "scale"
    assert (row["before"], row["after"]) == (result["output"]["current"], result["output"]["desired"])

    assert cpctl_json(served, "audit", key, "--since", "2099-01-01") == []
    part = result["output"]["resource_id"]
    assert result["name"] in {r["execution"] for r in cpctl_json(served, "audit", part)}
    assert result["name"] in {r["execution"] for r in cpctl_json(served, "audit", "--since", "30m")}

    code, _, err = cpctl(served, "audit", "--since", "yesterday-ish")
    assert code == Exit.USAGE and "--since" in err and "hint" in err


# --- approve / reject -----------------------------------------------------------------------------


def _waiting_for_approval(served: ServedSandbox, name: str) -> tuple[str, str]:
    """An execution waiting on a task token (as PlatformDeploy's approval does): (execution ARN, token)."""
    sqs, sfn, iam = served.client("sqs"), served.client("stepfunctions"), served.client("iam")
    queue = sqs.create_queue(QueueName=f"{name}-approvals")["QueueUrl"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "states.amazonaws.com"}}]}  # fmt: skip
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    send = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn}
    policy = {"Version": "2012-10-17", "Statement": [send]}
    iam.put_role_policy(RoleName=f"{name}-role", PolicyName="send", PolicyDocument=json.dumps(policy))
    definition = {
        "StartAt": "WaitForApproval",
        "States": {
            "WaitForApproval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": 86400,
                "HeartbeatSeconds": 3600,
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="ask", input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue).get("Messages", [])
        if messages:
            return execution, str(json.loads(messages[0]["Body"])["token"])
        time.sleep(0.2)
    raise AssertionError("the approval step sent no token")


def _ended(served: ServedSandbox, execution: str) -> dict[str, Any]:
    sfn = served.client("stepfunctions")
    deadline = time.monotonic() + 30
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return dict(described)
        time.sleep(0.2)


def test_approve_sends_the_approval_contract(served: ServedSandbox) -> None:
    execution, token = _waiting_for_approval(served, "approve-test")
    assert cpctl_json(served, "heartbeat", token) == {"answer": "heartbeat", "sent": "SendTaskHeartbeat"}
    answer = cpctl_json(served, "approve", token, "--by", "erin", "--comment", "plan reviewed")
    assert answer["sent"] == "SendTaskSuccess"
    described = _ended(served, execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"approved": True, "by": "erin", "comment": "plan reviewed"}


def test_reject_fails_the_step_with_approval_rejected(served: ServedSandbox) -> None:
    execution, token = _waiting_for_approval(served, "reject-test")
    code, out, err = cpctl(served, "reject", "-", "--by", "frank", "--comment", "drops a table", stdin=token + "\n")
    assert code == 0 and "rejected by frank" in out, out + err
    described = _ended(served, execution)
    assert (described["status"], described.get("error")) == ("FAILED", "ApprovalRejected")
    view = cpctl_json(served, "history", execution)
    step = next(state for state in view["states"] if state["name"] == "WaitForApproval")
    assert (step["error"], step["cause"]) == ("ApprovalRejected", "drops a table"), step


def test_an_unknown_token_exits_3(served: ServedSandbox) -> None:
    error = cpctl_json(served, "approve", "not-a-token", expect=Exit.NOT_FOUND)
    assert error["exit_code"] == Exit.NOT_FOUND and "token" in error["hint"]


# --- errors, discovery, completion ----------------------------------------------------------------


def test_unknown_workflow_lists_every_workflow_of_the_template(served: ServedSandbox) -> None:
    error = cpctl_json(served, "run", "no-such-flow", "--input", "{}", expect=Exit.NOT_FOUND)
    for logical_id in template_state_machines():
        assert name_of(logical_id) in error["hint"], error


def test_every_template_workflow_is_reachable_by_name(served: ServedSandbox) -> None:
    """Generic discovery: every state machine in the template answers `cpctl executions <name>`."""
    for logical_id in template_state_machines():
        code, out, err = cpctl(served, "executions", name_of(logical_id), "--json")
        assert code == 0, (logical_id, out, err)
        assert isinstance(json.loads(out), list)


def test_input_that_is_neither_file_nor_json_exits_2(served: ServedSandbox) -> None:
    code, _, err = cpctl(served, "run", "scale", "--input", "not/a/file.json")
    assert code == Exit.USAGE and "neither a readable file nor JSON" in err


def test_unreachable_endpoint_exits_4() -> None:
    import subprocess

    result = subprocess.run(
        [tool("cpctl"), "executions", "--endpoint-url", "http://127.0.0.1:9", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == Exit.UNREACHABLE, result.stdout + result.stderr
    assert json.loads(result.stdout)["hint"].startswith("start one with `cpctl sandbox up`")


def test_a_stack_that_does_not_exist_exits_3(served: ServedSandbox) -> None:
    """--environment looks the stack's outputs up (the sandbox deploys no CloudFormation stack itself)."""
    error = cpctl_json(served, "executions", "--stack-name", "sip-controlplane-nowhere", expect=Exit.NOT_FOUND)
    assert "sip-controlplane-nowhere" in error["message"]


def test_fault_commands_take_json(served: ServedSandbox) -> None:
    armed = cpctl_json(served, "sandbox", "fault", "throttle", "--service", "rds",
                       "--operation", "describe-db-instances", "--times", "1")  # fmt: skip
    assert any(f["operation"] == "DescribeDBInstances" for f in armed["faults"])
    assert cpctl_json(served, "sandbox", "fault", "clear")["faults"] == []


def test_shell_completion(served: ServedSandbox) -> None:
    code, out, _ = cpctl(served, "completion", "bash")
    assert code == 0 and "_CPCTL_COMPLETE" in out and "complete " in out
    import os
    import subprocess

    env = {**served.env(), "_CPCTL_COMPLETE": "bash_complete", "COMP_WORDS": "cpctl run sc", "COMP_CWORD": "2"}
    result = subprocess.run([tool("cpctl")], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "plain,scale" in result.stdout.splitlines(), result.stdout + result.stderr
    assert os.environ.get("_CPCTL_COMPLETE") is None


def test_help_documents_every_exit_code() -> None:
    import subprocess

    result = subprocess.run([tool("cpctl"), "--help"], capture_output=True, text=True, timeout=60, check=False)
    documented = {int(m) for m in re.findall(r"^\s+(\d)\s{2}\S", result.stdout, flags=re.MULTILINE)}
    assert documented == {int(code) for code in Exit}, result.stdout


def test_operator_commands_do_not_load_the_sandbox_emulation() -> None:
    """Regression: `cpctl executions` imported moto (through the sandbox's control module), a second of
    every command's start, on an operator's laptop as in CI. The fault knobs talk HTTP only."""
    import subprocess
    import sys

    probe = (
        "import sys, cpctl.cli, cpctl.sandbox.control, cpctl.ops.render; "
        "loaded = sorted(m for m in sys.modules if m == 'moto' or m.startswith('moto.')); "
        "print(len(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "0", result.stdout + result.stderr


def test_a_deployed_stack_is_found_by_its_outputs(served: ServedSandbox) -> None:
    """--stack-name / --environment read <Name>StateMachineArn and StateTableName from the stack's outputs
    (here a stack in the served sandbox's CloudFormation whose outputs point at its workflows)."""
    described = json.loads(urllib.request.urlopen(f"{served.endpoint}/_sandbox", timeout=10).read())
    outputs = {f"{lid}Arn": {"Value": arn} for lid, arn in described["state_machines"].items()}
    outputs["StateTableName"] = {"Value": described["state_table"]}
    template = {"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}, "Outputs": outputs}
    served.client("cloudformation").create_stack(StackName="sip-controlplane-ops", TemplateBody=json.dumps(template))

    started = cpctl_json(served, "run", "scale", "--input", str(EVENTS / "scale" / "cache_replicas_out.json"),
                         "--dry-run", "--wait", "--environment", "ops", "--name", "via-stack")  # fmt: skip
    assert (started["workflow"], started["status"]) == ("scale", "SUCCEEDED")
    listed = cpctl_json(served, "executions", "scale", "--stack-name", "sip-controlplane-ops")
    assert "via-stack" in {row["name"] for row in listed}
    rows = cpctl_json(served, "audit", "--since", "1h", "-e", "ops")
    assert "via-stack" in {row["execution"] for row in rows}


def test_the_scale_command_builds_the_request_and_finds_the_state_machine(served: ServedSandbox) -> None:
    spot = '{"kind":"nodegroup","cluster":"sip-dev","nodegroup":"spot"}'
    result = cpctl_json(served, "scale", "--resource", spot, "--delta", "1", "--reason", "scale command",
                        "--requester", "gina", "--dry-run", "--wait")  # fmt: skip
    assert (result["workflow"], result["outcome"]) == ("scale", "DryRun")
    assert result["input"] == {
        "resource": {"kind": "nodegroup", "cluster": "sip-dev", "nodegroup": "spot"},
        "delta": 1, "reason": "scale command", "requester": {"type": "person", "id": "gina"}, "dry_run": True,
    }  # fmt: skip
    code, _, err = cpctl(served, "scale", "--resource", "{}", "--desired", "1", "--delta", "1", "--reason", "x",
                         "--requester", "y")  # fmt: skip
    assert code == Exit.USAGE and "exactly one of --desired or --delta" in err


def test_a_platform_deploy_waits_for_cpctl_approve(served: ServedSandbox) -> None:
    """The real approval: PlatformDeploy plans a change, notifies with the task token, waits; `cpctl approve`
    answers it and the deploy applies."""
    from cpctl import approvals

    change = {"address": "aws_security_group.database", "type": "aws_security_group", "actions": ["update"]}
    request = urllib.request.Request(
        f"{served.endpoint}/_sandbox/terraform", data=json.dumps({"changes": [change]}).encode(), method="PUT",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    urllib.request.urlopen(request, timeout=10).read()
    started = cpctl_json(served, "run", "platform-deploy", "--input", str(EVENTS / "terraform" / "deploy.json"),
                         "--name", "deploy-approved")  # fmt: skip
    assert started["workflow"] == "platform-deploy"

    sqs = served.client("sqs")
    queue = sqs.get_queue_url(QueueName="sandbox-notifications")["QueueUrl"]
    token = None
    deadline = time.monotonic() + 90
    while token is None and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            note = json.loads(message["Body"])
            if "approval needed" in str(note.get("Subject")) and "deploy-approved" in note["Message"]:
                token = approvals.token_from_notification(note["Message"])
        time.sleep(0.2)
    assert token, "no approval notification"
    waiting = cpctl_json(served, "history", "deploy-approved")
    assert waiting["status"] == "RUNNING" and waiting["states"][-1]["exited"] is None

    answer = cpctl_json(served, "approve", token, "--by", "erin", "--comment", "plan reviewed")
    assert answer["output"] == {"approved": True, "by": "erin", "comment": "plan reviewed"}
    deadline = time.monotonic() + 120
    while True:
        view = cpctl_json(served, "history", "deploy-approved")
        if view["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert (view["status"], view["outcome"]) == ("SUCCEEDED", "Succeeded"), view["output"]
    assert "deploy-approved" in {row["name"] for row in cpctl_json(served, "executions", "platform-deploy")}


def test_the_rotate_command_starts_a_rotation(served: ServedSandbox) -> None:
    result = cpctl_json(served, "rotate", "--secret", "sip/dev/postgres/master", "--reason", "rotate command",
                        "--requester", "hana", "--dry-run", "--wait")  # fmt: skip
    assert result["workflow"] == "rotation" and result["name"].startswith("rotate-")
    assert result["status"] == "SUCCEEDED" and result["outcome"] == "DryRun", result["output"]
    assert result["input"] == {"secret": "sip/dev/postgres/master", "reason": "rotate command",
                               "requester": {"type": "person", "id": "hana"}, "dry_run": True}  # fmt: skip
    code, _, err = cpctl(served, "rotate", "--reason", "x", "--requester", "y")
    assert code == Exit.USAGE and "exactly one of --secret or --all-due" in err

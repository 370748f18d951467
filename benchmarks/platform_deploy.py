"""States entered, Lambda task invocations and AWS API calls per PlatformDeploy execution, per path.

Runs in the sandbox (real ASL, real handlers, CodeBuild emulated, instant waits, one poll per build
IN_PROGRESS unless held): the counts are what AWS would bill and throttle on (Standard workflows bill
per state transition); durations are the sandbox's own. A real plan or apply build takes minutes, so
in AWS the poll count is about build minutes * 60 / PollIntervalSeconds per build.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from cpctl import approvals
from cpctl.sandbox import platform_deploy_support
from cpctl.sandbox.runtime import ExecutionReport, Sandbox

DEPLOY = "PlatformDeployStateMachine"
REQUEST = {"environment": "dev", "reason": "benchmark", "requester": {"type": "api", "id": "benchmark"}}
CHANGE = {"address": "aws_security_group.database", "type": "aws_security_group", "actions": ["update"]}


def _line(label: str, report: ExecutionReport) -> str:
    lambdas = sum(n for (service, _), n in report.api_calls.items() if service == "lambda")
    calls = Counter({f"{s}:{o}": n for (s, o), n in report.api_calls.items() if s != "lambda"})
    top = ", ".join(f"{name} {n}" for name, n in calls.most_common(4))
    return (
        f"  {label:<26} {report.outcome:<17} states {len(report.states_entered):>3}  "
        f"task invocations {lambdas:>3}  AWS calls {report.aws_calls:>3}  ({report.duration_seconds:.2f}s)  [{top}]"
    )


def _approval_token(sandbox: Sandbox) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for note in sandbox.notifications():
            if "approval needed" in note["Subject"]:
                return approvals.token_from_notification(note["Message"])
        time.sleep(0.01)
    raise RuntimeError("no approval requested")


def _decided(sandbox: Sandbox, decide: Any) -> ExecutionReport:
    platform_deploy_support.set_changes([CHANGE])
    arn = sandbox.start_execution(DEPLOY, REQUEST)
    token = _approval_token(sandbox)
    started = time.monotonic()
    decide(token)
    report = sandbox.wait(arn)
    report.duration_seconds = max(report.duration_seconds, time.monotonic() - started)
    platform_deploy_support.set_changes([])
    sandbox.notifications()
    return report


def main() -> None:
    with Sandbox() as sandbox:
        sfn = sandbox.client("stepfunctions")
        print(_line("no changes", sandbox.run(DEPLOY, REQUEST)))
        print(_line("approved and applied", _decided(sandbox, lambda t: approvals.approve(t, "bench", client=sfn))))
        print(_line("rejected", _decided(sandbox, lambda t: approvals.reject(t, "no", client=sfn))))
        sandbox.state.hold("codebuild", "sip-controlplane-dev-tf-plan", polls=10, status="IN_PROGRESS")
        print(_line("no changes, plan 10 polls", sandbox.run(DEPLOY, REQUEST)))
        platform_deploy_support.set_changes([CHANGE])
        print(_line("drift check, drift found", sandbox.run(DEPLOY, {**REQUEST, "mode": "drift"})))
        platform_deploy_support.set_changes([])
        sandbox.notifications()
        per_poll = 3  # Wait + CheckPlan + PlanDone?
        print(
            f"  each extra poll of a build: {per_poll} state transitions, 1 Lambda invocation, "
            "2 AWS calls (lease renewal UpdateItem, BatchGetBuilds)"
        )


if __name__ == "__main__":
    main()

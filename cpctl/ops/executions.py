"""Executions as people read them in the Step Functions console: start one and follow its states, list
them per workflow and status, and turn an execution's event history into states with durations and errors."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from secrets import token_hex
from typing import Any

from controlplane.console import execution_url

from cpctl.ops import workflows
from cpctl.ops.errors import CpctlError, Exit, from_aws
from cpctl.ops.target import Target

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
# Outcome statuses (controlplane.models.outcome.OutcomeStatus) that mean "nothing went wrong".
_CLEAN_OUTCOMES = frozenset({"Succeeded", "NoChange", "DryRun", "Remediated", "Notified"})
_FAILED_OUTCOMES = frozenset({"Failed", "TimedOut", "Rejected", "Escalated"})


def aws_call(target: Target, call: Callable[[], Any]) -> Any:
    """Run one AWS call; a botocore error becomes a short CpctlError."""
    try:
        return call()
    except CpctlError:
        raise
    except Exception as exc:
        mapped = from_aws(exc, target.endpoint_url)
        if mapped is None:
            raise
        raise mapped from None


@dataclass
class StateRun:
    """One entry into a state: when, how long, and the error it ended with (if any)."""

    name: str
    type: str
    entered: datetime
    exited: datetime | None = None
    error: str | None = None
    cause: str | None = None
    retries: int = 0

    @property
    def seconds(self) -> float | None:
        return (self.exited - self.entered).total_seconds() if self.exited else None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "entered": self.entered.isoformat(),
            "exited": self.exited.isoformat() if self.exited else None,
            "seconds": self.seconds,
            "error": self.error,
            "cause": self.cause,
            "retries": self.retries,
        }


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def parse_history(events: list[dict[str, Any]]) -> list[StateRun]:
    """States in the order they were entered (a loop's state once per entry). An error event belongs to
    the state open at the time; a failed attempt that a Retry answered counts as a retry, not an error."""
    runs: list[StateRun] = []
    open_by_name: dict[str, StateRun] = {}
    last_open: StateRun | None = None
    for event in events:
        kind = str(event.get("type", ""))
        details = _details(event)
        if kind.endswith("StateEntered"):
            run = StateRun(
                name=str(details.get("name")), type=kind.removesuffix("StateEntered"), entered=event["timestamp"]
            )
            runs.append(run)
            open_by_name[run.name] = last_open = run
        elif kind.endswith("StateExited"):
            run_or_none = open_by_name.pop(str(details.get("name")), None)
            if run_or_none is not None:  # an error still set here was caught (the state exited to its Catch)
                run_or_none.exited = event["timestamp"]
            last_open = None
        elif "error" in details and kind != "ExecutionFailed" and last_open is not None:
            last_open.error = str(details.get("error") or "")
            last_open.cause = _short(details.get("cause"))
        elif kind.endswith("Scheduled") and last_open is not None and last_open.error:
            # The task was scheduled again after a failure: Retry answered that error.
            last_open.retries += 1
            last_open.error = last_open.cause = None
    return runs


def _short(cause: Any, limit: int = 300) -> str | None:
    """A cause as one readable line: Lambda's JSON cause becomes ``errorType: errorMessage``."""
    if cause in (None, ""):
        return None
    text = str(cause)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        text = str(parsed["errorMessage"])
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def history_events(target: Target, execution_arn: str) -> list[dict[str, Any]]:
    sfn = target.client("stepfunctions")
    events: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = aws_call(target, functools.partial(sfn.get_execution_history, **kwargs))
        events.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token:
            return events


def describe(target: Target, execution_arn: str) -> dict[str, Any]:
    sfn = target.client("stepfunctions")
    return dict(aws_call(target, lambda: sfn.describe_execution(executionArn=execution_arn)))


@dataclass
class ExecutionView:
    """An execution with its states: what ``run --wait`` and ``history`` show."""

    described: dict[str, Any]
    states: list[StateRun]
    workflow: str
    console_url: str
    error: str | None = None
    cause: str | None = None
    output: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.described["status"])

    @property
    def outcome(self) -> str | None:
        """The workflow's own verdict (``Succeeded``, ``Blocked``, ...) when its output carries one."""
        if isinstance(self.output, dict) and isinstance(self.output.get("status"), str):
            return str(self.output["status"])
        return None

    @property
    def exit_code(self) -> Exit:
        if self.status not in TERMINAL:
            return Exit.STILL_RUNNING
        if self.status != "SUCCEEDED":
            return Exit.FAILED
        if self.outcome == "Blocked":
            return Exit.BLOCKED
        if self.outcome in _FAILED_OUTCOMES:
            return Exit.FAILED
        return Exit.OK

    @property
    def seconds(self) -> float | None:
        start, stop = self.described.get("startDate"), self.described.get("stopDate")
        return (stop - start).total_seconds() if start and stop else None

    def as_json(self) -> dict[str, Any]:
        d = self.described
        return {
            "executionArn": d["executionArn"],
            "name": d.get("name"),
            "workflow": self.workflow,
            "status": self.status,
            "outcome": self.outcome,
            "startDate": d["startDate"].isoformat() if d.get("startDate") else None,
            "stopDate": d["stopDate"].isoformat() if d.get("stopDate") else None,
            "seconds": self.seconds,
            "error": self.error,
            "cause": self.cause,
            "output": self.output,
            "input": _loads(d.get("input")),
            "states": [s.as_json() for s in self.states],
            "consoleUrl": self.console_url,
            "exitCode": int(self.exit_code),
        }


def _loads(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def view(target: Target, execution_arn: str, described: dict[str, Any] | None = None) -> ExecutionView:
    described = described or describe(target, execution_arn)
    states = parse_history(history_events(target, execution_arn))
    return ExecutionView(
        described=described,
        states=states,
        workflow=target.workflow_of_arn(execution_arn),
        console_url=execution_url(execution_arn),
        error=described.get("error"),
        cause=_short(described.get("cause")),
        output=_loads(described.get("output")),
    )


# --- starting and following -----------------------------------------------------------------------


def execution_name(workflow: str) -> str:
    """Unique, sortable and readable: ``cpctl-scale-20261127T065000Z-1a2b``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"cpctl-{workflow}-{stamp}-{token_hex(2)}"[:80]


def start(target: Target, workflow: str, payload: Any, name: str | None = None) -> tuple[str, str]:
    """Start ``workflow`` with ``payload``: (workflow name, execution ARN)."""
    logical_id, arn = target.state_machine(workflow)
    wf = workflows.name_of(logical_id)
    sfn = target.client("stepfunctions")
    started = aws_call(
        target,
        lambda: sfn.start_execution(stateMachineArn=arn, name=name or execution_name(wf), input=json.dumps(payload)),
    )
    return wf, str(started["executionArn"])


def follow(
    target: Target,
    execution_arn: str,
    on_state: Callable[[StateRun], None],
    timeout: float,
    poll_seconds: float = 1.0,
) -> ExecutionView:
    """Poll until the execution ends or ``timeout`` passes, calling ``on_state`` once per state entered."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        described = describe(target, execution_arn)
        states = parse_history(history_events(target, execution_arn))
        for run in states[seen:]:
            on_state(run)
        seen = len(states)
        if described["status"] in TERMINAL or time.monotonic() >= deadline:
            return view(target, execution_arn, described)
        time.sleep(poll_seconds)


# --- listing --------------------------------------------------------------------------------------


def list_executions(target: Target, workflow: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` executions of one workflow or of all, newest first."""
    machines = [target.state_machine(workflow)] if workflow else list(target.state_machines.items())
    sfn = target.client("stepfunctions")
    rows: list[dict[str, Any]] = []
    for logical_id, arn in machines:
        for item in _executions_of(target, sfn, arn, status, limit):
            start, stop = item.get("startDate"), item.get("stopDate")
            rows.append(
                {
                    "workflow": workflows.name_of(logical_id),
                    "name": item["name"],
                    "status": item["status"],
                    "startDate": start.isoformat() if start else None,
                    "stopDate": stop.isoformat() if stop else None,
                    "seconds": (stop - start).total_seconds() if start and stop else None,
                    "executionArn": item["executionArn"],
                }
            )
    rows.sort(key=lambda row: row["startDate"] or "", reverse=True)
    return rows[:limit]


def _executions_of(target: Target, sfn: Any, arn: str, status: str | None, limit: int) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"stateMachineArn": arn, "maxResults": min(max(limit, 1), 1000)}
    if status:
        kwargs["statusFilter"] = status
    count = 0
    while True:
        page = aws_call(target, functools.partial(sfn.list_executions, **kwargs))
        for item in page.get("executions", []):
            yield item
            count += 1
            if count >= limit:
                return
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


def send_approval(target: Target, token: str, answer: str, by: str, comment: str) -> dict[str, Any]:
    """Answer a waitForTaskToken approval (PlatformDeploy's) through ``cpctl.approvals``, the contract's one
    implementation: approve = SendTaskSuccess with ``{"approved": true, "by", "comment"}``; reject =
    SendTaskFailure, error ``ApprovalRejected``, the comment as cause; heartbeat = still reviewing."""
    from cpctl import approvals

    sfn = target.client("stepfunctions")
    try:
        if answer == "approve":
            output = aws_call(target, lambda: approvals.approve(token, by, comment, client=sfn))
            return {"answer": "approved", "by": by, "comment": comment, "sent": "SendTaskSuccess", "output": output}
        if answer == "reject":
            sent = aws_call(target, lambda: approvals.reject(token, comment, by=by, client=sfn))
            return {"answer": "rejected", "by": by, "comment": comment, "sent": "SendTaskFailure", **sent}
        aws_call(target, lambda: approvals.heartbeat(token, client=sfn))
        return {"answer": "heartbeat", "sent": "SendTaskHeartbeat"}
    except approvals.ApprovalNotPending as exc:
        raise CpctlError(
            str(exc), Exit.NOT_FOUND, "the token is wrong, or its step was answered or timed out"
        ) from None
    except approvals.InvalidApproval as exc:
        raise CpctlError(str(exc), Exit.USAGE, "copy the token from the approval notification") from None

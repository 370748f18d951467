"""What every workflow's run amounts to, in one shape: audit items, events and notifications read it.

Each workflow subclasses ``WorkflowOutcome`` with its own fields (the Scale workflow's ``Outcome``
adds capacities and the plan) and says how it is keyed in the audit and told to people;
``controlplane.audit.record`` does the rest the same way for all of them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from controlplane.console import execution_url
from controlplane.models.base import Model


class RequesterType(StrEnum):
    ALARM = "alarm"
    SCHEDULE = "schedule"
    PERSON = "person"
    API = "api"


class Requester(Model):
    """Who asked for the change; recorded in audit, tags and notifications."""

    type: RequesterType
    id: str = Field(min_length=1, max_length=256)

    def __str__(self) -> str:
        return f"{self.type.value}:{self.id}"


class OutcomeStatus(StrEnum):
    SUCCEEDED = "Succeeded"
    NO_CHANGE = "NoChange"
    DRY_RUN = "DryRun"
    BLOCKED = "Blocked"
    REJECTED = "Rejected"
    TIMED_OUT = "TimedOut"
    FAILED = "Failed"

    @property
    def is_failure(self) -> bool:
        """Failures end the execution as FAILED; Blocked and the rest end it as SUCCEEDED."""
        return self in {OutcomeStatus.REJECTED, OutcomeStatus.TIMED_OUT, OutcomeStatus.FAILED}


RESERVED_ERROR_PREFIX = "States."


class WorkflowOutcome(Model):
    """The result of one execution of any workflow: what happened and why."""

    workflow: str = Field(min_length=1, max_length=40)
    execution: str = Field(min_length=1, max_length=200)
    status: OutcomeStatus
    reason: str
    dry_run: bool = False
    requester: Requester | None = None
    # Why the requester asked (the request's own reason), beside ``reason``, what came of it: the audit's "why".
    request_reason: str | None = Field(default=None, max_length=1000)
    error: str | None = None
    recorded_at: datetime
    # The execution's ARN ($$.Execution.Id), for the console link in notifications; None when not given.
    execution_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:")
    # When the execution started ($$.Execution.StartTime): the audit item's key, the same for every
    # retry of the recording task, so a retried record writes the same item again.
    started_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _error_a_fail_state_may_name(cls, data: Any) -> Any:
        """Every workflow ends a failed run in a Fail state whose ErrorPath is this field, and error names
        starting with ``States.`` are the service's own (the States Language: custom error names "MUST
        NOT begin with the prefix States."): a caught ``States.Timeout`` becomes ``StepTimeout``, its
        name kept in the reason, instead of breaking the Fail state."""
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, str) and error.startswith(RESERVED_ERROR_PREFIX):
            reason = str(data.get("reason", ""))
            renamed = "Step" + error.removeprefix(RESERVED_ERROR_PREFIX)
            data = {**data, "error": renamed, "reason": reason if error in reason else f"{reason} ({error})".strip()}
        return data

    def audit_key(self) -> str:
        """The audit partition: the resource the run acted on (``<kind>#<id>``)."""
        return f"{self.workflow}#unknown"

    def target(self) -> str:
        """The resource in words, for a notification's subject."""
        return "request"

    def notification_lines(self) -> list[str]:
        """The body of a notification: short, one fact per line, never a secret."""
        return [
            f"Status: {self.status.value}",
            f"Reason: {self.reason}",
            f"Resource: {self.target()}",
            f"Requester: {self.requester or 'unknown'}" + (f" ({self.request_reason})" if self.request_reason else ""),
            f"Execution: {self.execution}",
            *([f"Console: {execution_url(self.execution_arn)}"] if self.execution_arn else []),
        ]


def started_at_of(event: dict[str, object]) -> datetime | None:
    """The execution's start a record task is given (``$$.Execution.StartTime``), or a named error."""
    from controlplane.models.errors import InvalidRequest

    started = event.get("started_at")
    try:
        return datetime.fromisoformat(str(started).replace("Z", "+00:00")) if started else None
    except ValueError:
        raise InvalidRequest("started_at must be an ISO 8601 time") from None

"""Errors ``cpctl`` reports in one short line, with what to do, and the exit code each one means.

Exit codes (also in ``cpctl --help`` and docs/operations.md):

====  ==========================================================================================
0     done; an execution ended SUCCEEDED with a Succeeded, NoChange or DryRun outcome
1     the execution ended FAILED, TIMED_OUT or ABORTED (or its outcome says Failed/TimedOut/Rejected)
2     bad usage or input (an unknown option, input that is neither a file nor JSON)
3     not found: workflow, execution, stack, task token
4     AWS or the sandbox could not be reached (endpoint down, no credentials, no region)
5     AWS refused the call (access denied, throttled past retries, any other error)
6     the execution ended Blocked: a guard refused the change (nothing was changed)
7     still running when ``--timeout`` ran out (follow it with ``cpctl history``)
====  ==========================================================================================
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    NOT_FOUND = 3
    UNREACHABLE = 4
    REFUSED = 5
    BLOCKED = 6
    STILL_RUNNING = 7


class CpctlError(Exception):
    """A failure to report in one line (``message``) plus what to do about it (``hint``)."""

    def __init__(self, message: str, exit_code: Exit, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.hint = hint

    def as_json(self) -> dict[str, Any]:
        return {
            "error": self.exit_code.name,
            "exit_code": int(self.exit_code),
            "message": self.message,
            "hint": self.hint,
        }


_NOT_FOUND_CODES = frozenset(
    {
        "ExecutionDoesNotExist",
        "StateMachineDoesNotExist",
        "ResourceNotFoundException",
        "TaskDoesNotExist",
        "InvalidToken",
        "TaskTimedOut",
        "InvalidArn",
    }
)


def from_aws(exc: BaseException, endpoint: str | None = None) -> CpctlError | None:  # noqa: PLR0911
    """A botocore exception as a CpctlError (None when it is not one of botocore's)."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    where = endpoint or "AWS"
    if isinstance(exc, EndpointConnectionError):
        return CpctlError(
            f"cannot reach {where}",
            Exit.UNREACHABLE,
            "start one with `cpctl sandbox up`, or check --endpoint-url / AWS_ENDPOINT_URL",
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CpctlError("no AWS credentials", Exit.UNREACHABLE, "set AWS_PROFILE or AWS_ACCESS_KEY_ID/SECRET")
    if isinstance(exc, NoRegionError):
        return CpctlError("no AWS region", Exit.UNREACHABLE, "pass --region or set AWS_REGION")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or code
        operation = exc.operation_name
        if code in {"TaskDoesNotExist", "InvalidToken", "TaskTimedOut"}:
            return CpctlError(
                f"{operation}: {message}",
                Exit.NOT_FOUND,
                "the token is wrong, or its step was already answered or timed out",
            )
        if code in _NOT_FOUND_CODES or (code == "ValidationError" and "does not exist" in message):
            return CpctlError(f"{operation}: {message}", Exit.NOT_FOUND, "check the name or ARN (cpctl executions)")
        if "AccessDenied" in code or code in {"UnauthorizedOperation", "AuthorizationError"}:
            return CpctlError(f"{operation}: {message}", Exit.REFUSED, "your role lacks this permission")
        return CpctlError(f"{operation}: {code}: {message}", Exit.REFUSED, "")
    return None

"""Answer a PlatformDeploy approval: the task token from the approval notification, and who decides.

The contract (shared with ``cpctl approve|reject``):

- approve: ``SendTaskSuccess`` with output ``{"approved": true, "by": "<who>", "comment": "<text>"}``;
- reject: ``SendTaskFailure`` with error ``ApprovalRejected`` and the comment as cause;
- heartbeat: ``SendTaskHeartbeat`` ("still reviewing"), which resets the wait's HeartbeatSeconds but
  not its TimeoutSeconds.

Plain functions over a Step Functions client (the caller's credentials decide whether they may).
A token that is no longer waiting (already answered, timed out, or the execution ended) raises
``ApprovalNotPending``: Step Functions answers ``TaskTimedOut`` or ``TaskDoesNotExist``.
"""

from __future__ import annotations

import json
from typing import Any

APPROVAL_REJECTED = "ApprovalRejected"
# SendTaskFailure: cause at most 32,768 characters, error at most 256 (the API's limits).
MAX_CAUSE = 32_768
MAX_TOKEN = 2_048


class ApprovalNotPending(RuntimeError):
    """The token belongs to no task that is waiting (answered, timed out, or never existed)."""


class InvalidApproval(ValueError):
    """The answer cannot be sent as it is (an empty token or name, a token too long)."""


def _client(client: Any | None) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client("stepfunctions")


def _check(token: str, by: str | None = None) -> None:
    if not token or len(token) > MAX_TOKEN:
        raise InvalidApproval("the task token must be 1 to 2048 characters (copy it from the notification)")
    if by is not None and not by.strip():
        raise InvalidApproval("say who decides (--by)")


def _send(call: Any, **kwargs: Any) -> None:
    try:
        call(**kwargs)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}:
            raise ApprovalNotPending(f"this approval is no longer waiting ({code})") from None
        raise


def approve(token: str, by: str, comment: str = "", client: Any | None = None) -> dict[str, Any]:
    """Approve the plan the token was issued for; returns the output sent."""
    _check(token, by)
    output = {"approved": True, "by": by.strip(), "comment": comment}
    sfn = _client(client)
    _send(sfn.send_task_success, taskToken=token, output=json.dumps(output))
    return output


def reject(token: str, comment: str, by: str | None = None, client: Any | None = None) -> dict[str, str]:
    """Reject it: the deploy ends Rejected and nothing is applied. ``by`` is not part of the contract's
    cause (CloudTrail records the caller); it is only checked to be given when given."""
    _check(token, by)
    sent = {"error": APPROVAL_REJECTED, "cause": (comment or "rejected")[:MAX_CAUSE]}
    sfn = _client(client)
    _send(sfn.send_task_failure, taskToken=token, **sent)
    return sent


def heartbeat(token: str, client: Any | None = None) -> None:
    """Still reviewing: restart the wait's heartbeat clock (not its overall timeout)."""
    _check(token)
    _send(_client(client).send_task_heartbeat, taskToken=token)


def token_from_notification(message: str) -> str:
    """The task token in an approval notification's body (the ``cpctl approve <token>`` line)."""
    for line in message.splitlines():
        if line.startswith("Approve: cpctl approve "):
            return line.split()[3]
    raise InvalidApproval("no approval token in this message")

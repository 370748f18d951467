"""Domain errors. Their class names are the ``errorType`` Step Functions sees, so ASL
``Retry``/``Catch`` clauses name them; keep names stable.

Messages must never contain secrets: they reach execution history and notifications.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class ControlPlaneError(Exception):
    """Base of every error the control plane raises on purpose."""


class InvalidRequest(ControlPlaneError):
    """The input is malformed or names something that cannot be changed; nothing was changed."""


class ResourceNotFound(InvalidRequest):
    """The named resource does not exist (a kind of invalid request: nothing was changed)."""


class InvalidPolicy(ControlPlaneError):
    """The policy data failed validation; the control plane refuses to act on it."""


class LockHeld(ControlPlaneError):
    """Another execution holds the lease on this resource. Retried by the state machine."""


class LeaseLost(ControlPlaneError):
    """This execution no longer holds the lease it took (expired and taken, or released): stop changing."""


class GuardRefused(ControlPlaneError):
    """A guard re-checked under the lock refused the change (cooldown began, breaker tripped)."""


class ResourceBusy(ControlPlaneError):
    """AWS refused the change because another change of the resource is under way; nothing changed.
    Retried by the state machine after a while, then Blocked."""


class PlanStale(ControlPlaneError):
    """The resource changed between plan and apply; applying the plan could overshoot."""


class ApplyFailed(ControlPlaneError):
    """AWS refused the change for a reason a retry will not fix."""


class QuotaExceeded(ControlPlaneError):
    """An AWS quota is reached (manual snapshots per region, ElastiCache snapshots): the state machine
    retries after minutes (cleanup or finishing copies free room), then the step fails with this name."""


class TransientAwsError(ControlPlaneError):
    """Throttling or a service hiccup that outlived the client's own retries; the state machine retries."""


def error_message(cause: str) -> str:
    """The ``errorMessage`` inside a Lambda error ``Cause`` (a JSON string), or the cause as it is."""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return cause
    if isinstance(parsed, dict):
        return str(parsed.get("errorMessage") or parsed.get("Cause") or cause)
    return cause


def validation_problems(exc: ValidationError, root: str = "input") -> str:
    """Every problem of a pydantic error as ``path: message; ...``, without echoing the input (it may hold secrets)."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or root}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors(include_input=False)
    )

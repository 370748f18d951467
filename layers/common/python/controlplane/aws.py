"""The one place boto3 clients are made.

Every client gets the same botocore Config: adaptive retries (client-side rate
limiting when AWS throttles), bounded connect/read timeouts well under the
Lambda timeout, and a user agent that names the control plane in CloudTrail.
Clients are cached per (service, region) because Lambda reuses the process.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import Config

_LOCK = threading.Lock()


def _max_attempts() -> int:
    return int(os.environ.get("CONTROLPLANE_AWS_MAX_ATTEMPTS", "4"))


@cache
def _config(max_attempts: int) -> Config:
    from botocore.config import Config

    return Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=20,
        user_agent_extra="sip-controlplane",
    )


_CLIENTS: dict[tuple[str, str | None, int], Any] = {}


def client(service: str, region: str | None = None) -> Any:
    """A cached boto3 client for ``service`` with the control plane's retry and timeout policy."""
    key = (service, region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"), _max_attempts())
    found = _CLIENTS.get(key)
    if found is not None:
        return found
    with _LOCK:
        if key not in _CLIENTS:
            import boto3

            session = boto3.session.Session()
            _CLIENTS[key] = session.client(service, region_name=key[1], config=_config(key[2]))  # type: ignore[call-overload]
        return _CLIENTS[key]


def reset_clients() -> None:
    """Forget cached clients (tests and the sandbox: a new mock means new endpoints)."""
    with _LOCK:
        _CLIENTS.clear()


# AWS error codes that mean "try again later": throttling, capacity and service-side faults. Calls that
# fail with one of these after the client's own retries become ``TransientAwsError`` (retried by the
# state machine), never a failure of the change itself.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceededException",
        "TransactionConflictException",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "InternalServerErrorException",
        "ServerException",
    }
)
# botocore's own exceptions for a call that never got an answer (after its retries).
_CONNECTION_ERRORS = frozenset(
    {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"}
)


def is_retryable(exc: BaseException) -> bool:
    """True for throttling, service faults and lost connections: worth retrying later, as is."""
    code = error_code(exc)
    if code is not None:
        return code in RETRYABLE_CODES
    return any(cls.__name__ in _CONNECTION_ERRORS for cls in type(exc).__mro__)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, or None for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None

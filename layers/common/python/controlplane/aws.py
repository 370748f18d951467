"""The one place boto3 clients are made.

Every client gets the same botocore Config: adaptive retries (client-side rate
limiting when AWS throttles), bounded connect/read timeouts, and a user agent
that names the control plane in CloudTrail. The worst case of one call, every
attempt timing out plus the back-off between them (``worst_case_call_seconds``),
stays well under the Lambda timeout (checked against template.yaml by a test),
so a slow AWS ends in a handled error the state machine retries, not a timeout
in the middle of a change. Clients are cached per (service, region) because
Lambda reuses the process.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import Config

_LOCK = threading.Lock()


CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 8
DEFAULT_MAX_ATTEMPTS = 3
# botocore's retry back-off before attempt n+1 is at most min(20, 2**(n-1)) seconds (standard/adaptive).
_MAX_BACKOFF_SECONDS = 20


def _max_attempts() -> int:
    return int(os.environ.get("CONTROLPLANE_AWS_MAX_ATTEMPTS", str(DEFAULT_MAX_ATTEMPTS)))


def worst_case_call_seconds(max_attempts: int | None = None) -> float:
    """How long one call can take at worst: every attempt connects and reads to its timeout, plus the
    longest back-off between attempts (adaptive mode's rate limiter aside)."""
    attempts = max_attempts or _max_attempts()
    per_attempt = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
    backoff = sum(min(_MAX_BACKOFF_SECONDS, 1 << (n - 1)) for n in range(1, attempts))
    return float(attempts * per_attempt + backoff)


@cache
def _config(max_attempts: int) -> Config:
    from botocore.config import Config

    return Config(
        # total_max_attempts counts the first attempt too (max_attempts would count retries only).
        retries={"mode": "adaptive", "total_max_attempts": max_attempts},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        user_agent_extra="sip-controlplane",
    )


# VPC interface endpoints named by template parameters (the rotation functions run in the VPC and reach
# Secrets Manager and ElastiCache only through them): a DNS name, empty where the endpoint's private DNS
# answers for the regional name. Read per client, never copied into the process environment, where a
# warm process (or the sandbox's one process) would keep it for every later caller.
VPC_ENDPOINT_VARIABLES = {"secretsmanager": "SECRETS_MANAGER_ENDPOINT", "elasticache": "ELASTICACHE_ENDPOINT"}


def vpc_endpoint_url(service: str) -> str | None:
    """``https://<DNS name>`` of the service's VPC endpoint when one is named, else None."""
    variable = VPC_ENDPOINT_VARIABLES.get(service)
    host = os.environ.get(variable, "").strip() if variable else ""
    return f"https://{host}" if host else None


_CLIENTS: dict[tuple[str, str | None, int, str | None], Any] = {}
# One session per process (credentials resolve once), and one loader of botocore's service models
# for every session the process makes: a new loader parses the models' JSON again.
_SESSION: list[Any] = []
_LOADER: list[Any] = []


def client(service: str, region: str | None = None) -> Any:
    """A cached boto3 client for ``service`` with the control plane's retry and timeout policy."""
    home = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    # A VPC endpoint serves its own region only: a client for another region goes to that region's endpoint.
    endpoint = vpc_endpoint_url(service) if home is None or region in (None, home) else None
    key = (service, region or home, _max_attempts(), endpoint)
    found = _CLIENTS.get(key)
    if found is not None:
        return found
    with _LOCK:
        if key not in _CLIENTS:
            if not _SESSION:
                _SESSION.append(new_session())
            _CLIENTS[key] = _SESSION[0].client(service, region_name=key[1], config=_config(key[2]), endpoint_url=key[3])
        return _CLIENTS[key]


def new_session() -> Any:
    """A boto3 session that shares this process's loader of service models (parsed once)."""
    import boto3
    import botocore.session

    core = botocore.session.Session()
    if not _LOADER:
        _LOADER.append(core.get_component("data_loader"))
    core.register_component("data_loader", _LOADER[0])
    return boto3.session.Session(botocore_session=core)


def reset_clients() -> None:
    """Forget cached clients (tests and the sandbox: a new mock means new endpoints)."""
    with _LOCK:
        _CLIENTS.clear()
        _SESSION.clear()


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

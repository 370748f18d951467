"""IAM enforced on what the control plane's functions and state machines call, as AWS would.

moto authorizes requests only when ``settings.INITIAL_NO_AUTH_ACTION_COUNT`` is reached, then for
every caller at once, and it checks each action against ``Resource: "*"`` only (it passes ``"*"`` as
the resource for every service but IAM, STS and SQS). The sandbox wraps the dispatch every moto
service goes through (``BaseResponse.call_action``; moto's own hook stays off) with a check that

- lets the harness through: requests signed with keys that are not an assumed role's (the tests,
  the demo, seeding: the account's administrator);
- authorizes requests signed with an assumed role's keys (each bridged Lambda runs with its own
  role's, each state machine's integrations with its role's): moto's ``IAMRequest`` checks the
  SigV4 signature and collects the role's policies, and every (action, resource ARN) pair that
  ``cpctl.sandbox.iam_resources`` derives from the request must be allowed by them;
- answers a refusal as the service would (``AccessDeniedException``, ``AccessDenied`` for the
  query-heritage services, ``AuthorizationError`` for SNS) naming the action and the resource,
  serialized by moto in the request's own protocol (XML, JSON, REST-JSON or CBOR).

It also makes moto's ASL interpreter sign its service integrations (Lambda invoke, ``sns:publish``,
``states:startExecution``, ``aws-sdk:*``) with the state machine's role instead of a fixed key.
What moto's policy evaluation does and does not cover is in docs/sandbox.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from moto.core.exceptions import AccessDeniedError, ServiceException
from moto.core.models import botocore_stubber
from moto.core.responses import ActionResult, BaseResponse
from moto.iam.access_control import IAMRequest
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_dynamodb,
    state_task_service_events,
    state_task_service_sfn,
    state_task_service_sns,
    state_task_service_sqs,
)

from cpctl.sandbox.iam_resources import SIGNING_NAME_TO_PREFIX, RequestContext, UnmappedOperation, authorizations

_APPLIED: dict[str, Any] = {}
_LOCK = threading.RLock()
_INTEGRATION_MODULES = (
    lambda_eval_utils,
    state_task_service_aws_sdk,
    state_task_service_dynamodb,
    state_task_service_events,
    state_task_service_sfn,
    state_task_service_sns,
    state_task_service_sqs,
)


@dataclass(frozen=True)
class RoleSession:
    """Credentials of one assumed role (what Lambda puts in a function's environment)."""

    role_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


@dataclass
class Denial:
    principal: str
    action: str
    resource: str


class _Registry:
    """Sessions the sandbox issued (by role ARN and by access key), the on/off switch, denials seen."""

    def __init__(self) -> None:
        self.enforcing = True
        self.by_role: dict[str, RoleSession] = {}
        self.by_key: dict[str, RoleSession] = {}
        self.denials: list[Denial] = []

    def register(self, session: RoleSession) -> None:
        with _LOCK:
            self.by_role[session.role_arn] = session
            self.by_key[session.access_key_id] = session

    def reset(self) -> None:
        with _LOCK:
            self.enforcing = True
            self.by_role.clear()
            self.by_key.clear()
            self.denials.clear()


SESSIONS = _Registry()


def assume(sts_client: Any, role_arn: str, session_name: str) -> RoleSession:
    """Assume ``role_arn`` (as Lambda and Step Functions do for the resources they run) and remember it."""
    credentials = sts_client.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])["Credentials"]
    session = RoleSession(
        role_arn=role_arn,
        access_key_id=credentials["AccessKeyId"],
        secret_access_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
    )
    SESSIONS.register(session)
    return session


# --- the authorization hook ------------------------------------------------------------------------


def _access_key(response: Any) -> str | None:
    authorization = str(response.headers.get("Authorization", ""))
    scope = authorization.partition("Credential=")[2].partition(",")[0]
    return scope.split("/", 1)[0] if scope else None


def _signing_name(response: Any) -> str:
    scope = str(response.headers.get("Authorization", "")).partition("Credential=")[2].partition(",")[0]
    parts = scope.split("/")
    return parts[3] if len(parts) > 3 else ""


def _param_reader(response: Any, prefix: str) -> Any:
    if prefix == "lambda":
        # The body of an Invoke is the function's payload, not API parameters.
        def lambda_param(name: str) -> Any:
            value = response.uri_match.get(name) if response.uri_match else None
            if value is None:
                found = response.querystring.get(name) or response.querystring.get(name.lower())
                value = found[0] if found else None
            return value

        return lambda_param
    return response._get_param


# Services whose access-denied error code is AccessDenied (query heritage) or their own.
_DENIED_CODES = {"sns": "AuthorizationError", "rds": "AccessDenied", "elasticache": "AccessDenied"}
_DENIED_CODES |= {"cloudwatch": "AccessDenied", "sts": "AccessDenied", "iam": "AccessDenied", "route53": "AccessDenied"}


class AccessDenied(ServiceException):
    """Serialized by moto in the request's own protocol (query XML, JSON, REST-JSON, CBOR)."""


def _denial(prefix: str, principal: str, action: str, resource: str, why: str = "") -> AccessDenied:
    message = (
        f"User: {principal} is not authorized to perform: {action} on resource: {resource}"
        f" because {why or 'no identity-based policy allows the ' + action + ' action'}"
    )
    SESSIONS.denials.append(Denial(principal=principal, action=action, resource=resource))
    return AccessDenied(_DENIED_CODES.get(prefix, "AccessDeniedException"), message)


def check(self: Any) -> AccessDenied | None:
    """Authorize one request against the caller's role when it is signed with one; None: allowed."""
    key = _access_key(self)
    session = SESSIONS.by_key.get(key or "")
    if session is None or not SESSIONS.enforcing:
        return None
    operation = self._get_action()  # also fills uri_match for REST protocols
    prefix = SIGNING_NAME_TO_PREFIX.get(_signing_name(self), _signing_name(self))
    parsed = urlparse(self.uri)
    path = self.raw_path + (f"?{parsed.query}" if parsed.query else "")
    request = IAMRequest(
        account_id=self.current_account,
        method=self.method,
        path=path,
        # moto fills ``data`` with the headers of a REST request without a body; what was signed was empty.
        data=self.data if self.raw_body or self.method not in {"GET", "HEAD", "DELETE"} else {},
        body=self.raw_body,
        headers=self.headers,
        action=operation,
    )
    request.check_signature()
    principal = request._access_key.arn
    context = RequestContext(
        prefix=prefix,
        operation=operation,
        params=_param_reader(self, prefix),
        account=self.current_account,
        region=self.region,
    )
    try:
        needed = authorizations(context)
    except UnmappedOperation as unmapped:
        return _denial(prefix, principal, f"{prefix}:{operation}", "?", str(unmapped))
    for action, arn in needed:
        request._action = action
        try:
            request.check_action_permitted(arn)
        except AccessDeniedError:
            return _denial(prefix, principal, action, arn)
    return None


def _call_action(self: BaseResponse) -> Any:
    """moto's dispatch, after the caller's role allowed the request (or an error as the service answers)."""
    denied = check(self)
    if denied is not None:
        status, headers, body = self.serialized(ActionResult(denied))
        return status, headers, body
    return _APPLIED["call_action"](self)


# --- state machines sign their integrations with their role ---------------------------------------


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's ``boto_client_for``, signed with the state machine's role when the sandbox assumed it."""
    role_arn = getattr(state_credentials, "role_arn", None)
    session = SESSIONS.by_role.get(str(role_arn)) if role_arn else None
    keys = (
        {
            "aws_access_key_id": session.access_key_id,
            "aws_secret_access_key": session.secret_access_key,
            "aws_session_token": session.session_token,
        }
        if session is not None
        else {"aws_access_key_id": "ak", "aws_secret_access_key": "sk"}
    )
    extra: dict[str, Any] = {}
    if not botocore_stubber.enabled:  # pragma: no cover - server mode, which the sandbox does not use
        from moto.settings import moto_server_port

        extra["endpoint_url"] = f"http://localhost:{moto_server_port()}"
    return boto3.client(  # type: ignore[call-overload]
        service_name=service,
        region_name=region,
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        ),
        **keys,
        **extra,
    )


def denials() -> list[Denial]:
    return list(SESSIONS.denials)


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["call_action"] = BaseResponse.call_action
    BaseResponse.call_action = _call_action  # type: ignore[method-assign]
    for module in _INTEGRATION_MODULES:
        _APPLIED[f"client:{module.__name__}"] = module.boto_client_for
        module.boto_client_for = _boto_client_for  # type: ignore[attr-defined]


def reset() -> None:
    SESSIONS.reset()


def targets() -> list[str]:
    return [
        "moto.core.responses.BaseResponse.call_action",
        "moto.core.responses.BaseResponse.serialized",
        "moto.core.responses.ActionResult",
        "moto.core.responses.BaseResponse._get_action",
        "moto.core.responses.BaseResponse._get_param",
        "moto.iam.access_control.IAMRequest.check_signature",
        "moto.iam.access_control.IAMRequest.check_action_permitted",
        "moto.core.exceptions.AccessDeniedError",
        "moto.core.exceptions.ServiceException",
        "moto.core.models.botocore_stubber",
        "moto.stepfunctions.parser.asl.component.common.timeouts.timeout.TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS",
        *(f"{module.__name__}.boto_client_for" for module in _INTEGRATION_MODULES),
    ]


__all__ = ["SESSIONS", "Denial", "RoleSession", "apply", "assume", "denials", "reset", "targets"]

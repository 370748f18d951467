"""Count every AWS call, answer injected faults and quota errors instead of moto, and let Lambda invocations die.

Wraps moto's ``BotocoreStubber`` (the ``before-send`` hook every mocked client
goes through), so a fault is an HTTP error response that botocore parses and
retries like a real one: adaptive retries are exercised first, and when they
give up the error reaches the handler and then the state machine's Retry.

- Slow calls: ``SANDBOX_STATE.slow(service, operation, seconds)`` (sandbox time, nobody waits).
- Faults: ``SANDBOX_STATE.inject(service, operation, code, times, matches=...)``
  (``service`` as botocore names it in events: ``eks``, ``rds``, ``dynamodb``, ``sfn``...).
- Quotas (``SANDBOX_STATE.quotas``, AWS's defaults): RDS ``InstanceQuotaExceeded``
  when creating a DB instance would pass "DB instances", ``SnapshotQuotaExceeded``
  when a manual snapshot would pass "Manual DB instance snapshots".
- Deaths (``SANDBOX_STATE.interrupt``): after a call of a running handler succeeded,
  the Lambda bridge may end the invocation there (see ``lambda_bridge``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlparse

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from cpctl.sandbox.moto_patches import clock, lambda_bridge
from cpctl.sandbox.moto_patches.lambda_bridge import current_execution
from cpctl.sandbox.moto_patches.state import SANDBOX_STATE, Fault

_APPLIED: dict[str, Any] = {}
_DEFAULT_ACCOUNT = "123456789012"
_RDS_INSTANCE_CREATES = {"CreateDBInstance", "CreateDBInstanceReadReplica", "RestoreDBInstanceFromDBSnapshot"}
_RDS_SNAPSHOT_CREATES = {"CreateDBSnapshot", "CopyDBSnapshot"}


def _body_text(request: AWSPreparedRequest) -> str:
    body = request.body if isinstance(request.body, (str, bytes)) else b""
    return body.decode() if isinstance(body, bytes) else body


def _error_response(request: AWSPreparedRequest, fault: Fault) -> AWSResponse:
    """An error in the request's own protocol: query (XML), JSON, or REST-JSON."""
    content_type = str(request.headers.get("Content-Type", ""))
    text = _body_text(request)
    headers: dict[str, str] = {}
    if "x-amz-json" in content_type:
        payload = json.dumps({"__type": fault.code, "message": fault.message})
        headers["Content-Type"] = "application/x-amz-json-1.0"
    elif text.startswith("Action=") or "&Action=" in text:
        payload = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{fault.code}</Code><Message>{fault.message}</Message></Error>"
            "<RequestId>sandbox</RequestId></ErrorResponse>"
        )
        headers["Content-Type"] = "text/xml"
    else:
        payload = json.dumps({"message": fault.message})
        headers["Content-Type"] = "application/json"
        headers["x-amzn-ErrorType"] = fault.code
    return AWSResponse(request.url, fault.http_status, headers, MockRawResponse(payload))  # type: ignore[arg-type]


def request_params(request: AWSPreparedRequest) -> dict[str, Any]:
    """The request's top-level parameters, as far as a fault's ``matches`` needs them (JSON or query)."""
    text = _body_text(request)
    content_type = str(request.headers.get("Content-Type", ""))
    try:
        if "json" in content_type and text:
            loaded = json.loads(text)
            return loaded if isinstance(loaded, dict) else {}
        if "Action=" in text:
            return dict(parse_qsl(text))
    except ValueError:
        return {}
    return {"path": urlparse(request.url or "").path}


def _region(request: AWSPreparedRequest) -> str:
    host = urlparse(request.url or "").netloc.split(".")
    return host[1] if len(host) > 2 else "us-east-1"


def _quota_fault(service: str, operation: str, request: AWSPreparedRequest) -> Fault | None:
    """AWS's default quotas, which moto does not enforce."""
    if service != "rds" or operation not in _RDS_INSTANCE_CREATES | _RDS_SNAPSHOT_CREATES:
        return None
    from moto.rds.models import rds_backends

    backend = rds_backends[_DEFAULT_ACCOUNT][_region(request)]
    if operation in _RDS_INSTANCE_CREATES:
        limit = SANDBOX_STATE.quotas[("rds", "db_instances")]
        if len(backend.databases) >= limit:
            return Fault(
                code="InstanceQuotaExceeded",
                message=f"The request cannot be processed: it would exceed the quota of {limit} DB instances.",
                times=1,
            )
        return None
    limit = SANDBOX_STATE.quotas[("rds", "manual_snapshots")]
    manual = [s for s in backend.database_snapshots.values() if getattr(s, "snapshot_type", "manual") == "manual"]
    if len(manual) >= limit:
        return Fault(
            code="SnapshotQuotaExceeded",
            message=f"The request cannot be processed: it would exceed the quota of {limit} manual DB snapshots.",
            times=1,
        )
    return None


def _stubbed_call(self: BotocoreStubber, event_name: str, request: AWSPreparedRequest, **kwargs: Any) -> Any:
    if not self.enabled:
        return _APPLIED["call"](self, event_name, request, **kwargs)
    _, _, rest = event_name.partition(".")
    service, _, operation = rest.partition(".")
    SANDBOX_STATE.count_call(service, operation, current_execution())
    lambda_bridge.before_call()
    fault = SANDBOX_STATE.take_fault(
        service, operation, request_params(request), lambda_bridge.current_function()
    ) or _quota_fault(service, operation, request)
    if fault is not None and fault.code:
        return _error_response(request, fault)
    if fault is not None:  # a slow call: its time counts against the calling Lambda's Timeout
        clock.count("call_latency", fault.latency_seconds)
    response = _APPLIED["call"](self, event_name, request, **kwargs)
    if response is not None and int(getattr(response, "status_code", 500)) < 300:
        lambda_bridge.after_call(service, operation)
    return response


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["call"] = BotocoreStubber.__call__
    BotocoreStubber.__call__ = _stubbed_call  # type: ignore[method-assign]


def targets() -> list[str]:
    return [
        "moto.core.botocore_stubber.BotocoreStubber.__call__",
        "moto.core.botocore_stubber.MockRawResponse",
        "moto.rds.models.rds_backends",
        "moto.rds.models.DBSnapshot",
    ]

"""Count every AWS call the handlers make, and answer injected faults instead of moto.

Wraps moto's ``BotocoreStubber`` (the ``before-send`` hook every mocked client
goes through), so a fault is an HTTP error response that botocore parses and
retries like a real one: adaptive retries are exercised first, and when they
give up the error reaches the handler and then the state machine's Retry.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from cpctl.sandbox.moto_patches.lambda_bridge import current_execution
from cpctl.sandbox.moto_patches.state import SANDBOX_STATE, Fault

_APPLIED: dict[str, Any] = {}


def _error_response(request: AWSPreparedRequest, fault: Fault) -> AWSResponse:
    """An error in the request's own protocol: query (XML), JSON, or REST-JSON."""
    content_type = str(request.headers.get("Content-Type", ""))
    body = request.body if isinstance(request.body, (str, bytes)) else b""
    text = body.decode() if isinstance(body, bytes) else body
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


def _stubbed_call(self: BotocoreStubber, event_name: str, request: AWSPreparedRequest, **kwargs: Any) -> Any:
    if self.enabled:
        _, _, rest = event_name.partition(".")
        service, _, operation = rest.partition(".")
        SANDBOX_STATE.count_call(service, operation, current_execution())
        fault = SANDBOX_STATE.take_fault(service, operation)
        if fault is not None:
            return _error_response(request, fault)
    return _APPLIED["call"](self, event_name, request, **kwargs)


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["call"] = BotocoreStubber.__call__
    BotocoreStubber.__call__ = _stubbed_call  # type: ignore[method-assign]


def targets() -> list[str]:
    return ["moto.core.botocore_stubber.BotocoreStubber.__call__", "moto.core.botocore_stubber.MockRawResponse"]

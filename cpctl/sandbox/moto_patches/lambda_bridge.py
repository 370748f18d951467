"""The Lambda bridge: moto's Lambda invoke runs the real handler from ``functions/<dir>/app.py``.

moto's ``LambdaSimpleBackend.invoke`` runs no code. The bridge imports the
handler once per function (a warm container), sets the function's
environment (its variables and its own role's credentials, as Lambda does),
gives it its own cache of ``controlplane.aws`` clients (a function's process
is its own in Lambda), calls it with a Lambda-like context, and on an
exception answers as Lambda does (``x-amz-function-error`` and
``{"errorType", "errorMessage"}``) so ASL ``Retry``/``Catch`` on domain error
names behave as in AWS. Handlers run one at a time: the environment is
process-wide.

Lambda's limits and deaths, which moto knows nothing of:

- **Timeout**: a handler that ran longer than the function's ``Timeout`` in
  sandbox time (wall time plus the retry back-off the sandbox skipped) is
  answered as Lambda answers a timed-out invocation (``Sandbox.Timedout``,
  "Task timed out after N.00 seconds"); what it changed before stays changed.
- **Injected deaths** (``SANDBOX_STATE.interrupt``): the invocation times out
  or its runtime dies (``Runtime.ExitError``) before the handler runs, or
  right after a given AWS call returned: that call's change is made, its
  result is lost, and no later call of the invocation reaches AWS (a dead
  process makes none, ``finally`` blocks included).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend

from cpctl.sandbox.moto_patches import clock
from cpctl.sandbox.moto_patches.state import SANDBOX_STATE, Interrupt

_RUN_LOCK = threading.RLock()
_current = threading.local()


@dataclass
class BridgedFunction:
    """What the bridge needs of one deployed function (from the template)."""

    logical_id: str
    function_name: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    memory: int
    role_arn: str = ""
    # The function's own controlplane.aws clients and session (signed with its role): its process, in Lambda.
    clients: dict[Any, Any] = field(default_factory=dict)
    sessions: list[Any] = field(default_factory=list)


@dataclass
class BridgeRegistry:
    functions: dict[str, BridgedFunction] = field(default_factory=dict)
    modules: dict[str, ModuleType] = field(default_factory=dict)
    invocations: list[dict[str, Any]] = field(default_factory=list)
    output: io.StringIO = field(default_factory=io.StringIO)

    def register(self, function: BridgedFunction) -> None:
        self.functions[function.function_name] = function

    def resolve(self, name_or_arn: str) -> BridgedFunction:
        name = name_or_arn.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]
        return self.functions[name]

    def clear(self) -> None:
        self.functions.clear()
        self.modules.clear()
        self.invocations.clear()
        self.output = io.StringIO()


REGISTRY = BridgeRegistry()


class FakeLambdaContext:
    """The attributes of ``LambdaContext`` that Powertools and handlers read."""

    def __init__(self, function: BridgedFunction) -> None:
        self.function_name = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function.function_name}"
        self.memory_limit_in_mb = function.memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = "sandbox"
        self._timeout_ms = function.timeout * 1000

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


def current_execution() -> str | None:
    """The Step Functions execution whose handler is running on this thread, if any."""
    return getattr(_current, "execution", None)


def current_invocation() -> str | None:
    """The request id of the Lambda invocation running on this thread, if any."""
    return getattr(_current, "invocation", None)


def current_function() -> str | None:
    """The logical id of the function whose handler is running on this thread, if any."""
    return getattr(_current, "function", None)


class InvocationInterrupted(BaseException):
    """The invocation's process died or timed out: a BaseException, so no handler's ``except`` catches it."""

    def __init__(self, interrupt: Interrupt) -> None:
        super().__init__(interrupt.error_type)
        self.interrupt = interrupt


def after_call(service: str, operation: str) -> None:
    """Called by the fault layer once an AWS call of the running handler returned (its change is made)."""
    function = current_function()
    if function is None:
        return
    dead = getattr(_current, "dead", None)
    if dead is not None:
        raise InvocationInterrupted(dead)
    interrupt = SANDBOX_STATE.take_interrupt(function, (service, operation), getattr(_current, "event", None))
    if interrupt is not None:
        _current.dead = interrupt
        raise InvocationInterrupted(interrupt)


def before_call() -> None:
    """Called by the fault layer before an AWS call: a dead invocation reaches AWS no more."""
    dead = getattr(_current, "dead", None) if current_function() is not None else None
    if dead is not None:
        raise InvocationInterrupted(dead)


def _lambda_error(function: BridgedFunction, error_type: str, request_id: str) -> dict[str, Any]:
    """The payload Lambda answers for an invocation that timed out or whose runtime died."""
    if error_type == "Sandbox.Timedout":
        message = f"RequestId: {request_id} Error: Task timed out after {function.timeout:.2f} seconds"
    else:
        message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
    return {"errorType": error_type, "errorMessage": message}


def _execution_of(event: Any) -> str | None:
    """Find the execution name the state machine passed in (``execution`` or inside ``request``)."""
    if not isinstance(event, dict):
        return None
    for candidate in (event, event.get("state"), event.get("request")):
        if isinstance(candidate, dict):
            value = candidate.get("execution")
            if isinstance(value, str):
                return value
            request = candidate.get("request")
            if isinstance(request, dict) and isinstance(request.get("execution"), str):
                return str(request["execution"])
    return None


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _load(function: BridgedFunction) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = function.handler.rpartition(".")
    module = REGISTRY.modules.get(function.function_name)
    if module is None:
        path = function.code_dir / f"{module_name.replace('.', '/')}.py"
        spec = importlib.util.spec_from_file_location(f"sandbox_fn_{function.logical_id}", path)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot import handler {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        REGISTRY.modules[function.function_name] = module
    handler: Callable[[Any, Any], Any] = getattr(module, attribute)
    return handler


@contextlib.contextmanager
def _own_clients(function: BridgedFunction) -> Iterator[None]:
    """Swap in the function's own ``controlplane.aws`` clients and session (credentials resolve once per
    session: a shared one would sign every function's calls with the first one's role)."""
    from controlplane import aws

    saved = aws._CLIENTS, aws._SESSION
    aws._CLIENTS, aws._SESSION = function.clients, function.sessions
    try:
        yield
    finally:
        aws._CLIENTS, aws._SESSION = saved


def invoke_function(function: BridgedFunction, event: Any) -> tuple[bool, Any]:
    """Run one handler as Lambda would. Returns (ok, payload)."""
    with (
        _RUN_LOCK,
        _environment(function.environment),
        _own_clients(function),
        contextlib.redirect_stdout(REGISTRY.output),
    ):
        _current.execution = _execution_of(event)
        _current.function = function.logical_id
        _current.event = event
        _current.dead = None
        context = FakeLambdaContext(function)
        _current.invocation = context.aws_request_id
        skipped_before = clock.skipped_seconds()
        started = time.monotonic()
        try:
            interrupt = SANDBOX_STATE.take_interrupt(function.logical_id, None, event)
            if interrupt is not None:
                raise InvocationInterrupted(interrupt)
            handler = _load(function)
            result = handler(event, context)
            ok, payload = True, result
        except InvocationInterrupted as died:
            ok, payload = False, _lambda_error(function, died.interrupt.error_type, context.aws_request_id)
            if died.interrupt.error_type == "Sandbox.Timedout":
                clock.count("lambda_timeouts", function.timeout)
        except Exception as exc:
            ok = False
            payload = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_tb(exc.__traceback__)[-3:],
            }
        finally:
            execution = _current.execution
            _current.execution = None
            _current.function = None
            _current.event = None
            _current.invocation = None
            _current.dead = None
        ran = time.monotonic() - started + (clock.skipped_seconds() - skipped_before)
        timed_out = not ok and isinstance(payload, dict) and payload.get("errorType") == "Sandbox.Timedout"
        if ran > function.timeout and not timed_out:
            # Lambda would have stopped it at its Timeout; its answer is lost, its changes are not.
            ok, payload = False, _lambda_error(function, "Sandbox.Timedout", context.aws_request_id)
    REGISTRY.invocations.append(
        {
            "function": function.logical_id,
            "execution": execution,
            "event": event,
            "ok": ok,
            "result": payload if ok else None,
            "error": None if ok else payload,
            "sandbox_seconds": ran,
        }
    )
    if execution:
        SANDBOX_STATE.count_call("lambda", f"Invoke:{function.logical_id}", execution)
    return ok, payload


def _bridged_invoke(
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes:
    try:
        function = REGISTRY.resolve(function_name)
    except KeyError:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": "ResourceNotFoundException", "errorMessage": function_name}).encode()
    event = json.loads(body) if body else {}
    ok, payload = invoke_function(function, event)
    if not ok:
        response_headers["x-amz-function-error"] = "Unhandled"
    return json.dumps(payload, default=str).encode()


_APPLIED: dict[str, Any] = {}


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["invoke"] = LambdaSimpleBackend.invoke
    LambdaSimpleBackend.invoke = _bridged_invoke  # type: ignore[method-assign]


def targets() -> list[str]:
    # controlplane.aws._CLIENTS is the layer's, not moto's: listed so a rename fails as loudly.
    return [
        "moto.awslambda_simple.models.LambdaSimpleBackend.invoke",
        "controlplane.aws._CLIENTS",
        "controlplane.aws._SESSION",
    ]

"""The sandbox's fault and hold knobs over HTTP: the ``/_sandbox`` path of ``cpctl sandbox up``, and its client.

The in-process tests arrange scenarios on ``SANDBOX_STATE`` directly; a served sandbox is arranged
from another process (``cpctl sandbox fault ...``, curl, a test) through this path:

    GET    /_sandbox               what is deployed (endpoint, state machines, functions, table, topic)
    GET    /_sandbox/state         holds, armed faults, counts of the calls the control plane made
    POST   /_sandbox/holds         {"kind", "resource_id", "status", "polls"}
    POST   /_sandbox/faults        {"service", "operation", "code", "times", "message", "http_status", "effect"}
    PUT    /_sandbox/terraform     {"changes": [{"address", "type", "actions"}]}: what the next plan finds
    DELETE /_sandbox/arrangements  drop every hold and fault

Faults are named the way people name AWS calls (``eks`` / ``UpdateNodegroupConfig``, or the CLI's
``stepfunctions`` / ``start-execution``) and checked against botocore's service models, so a typo is
refused (400, ``InvalidRequest``) instead of arming a fault that never fires. They answer the calls the
control plane makes (its handlers and state machines), which is what the knobs exist to exercise.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:  # the operator CLI imports this module: moto is for the serving side only
    from cpctl.sandbox.moto_patches.state import SandboxState

CONTROL_PREFIX = "/_sandbox"
DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
# Bind addresses that mean "every interface": such a sandbox is reached on loopback, and from containers.
ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"


class InvalidRequest(ValueError):
    """A knob was asked for something the sandbox cannot arrange (bad field, unknown service or operation)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HoldRequest(_Strict):
    """Keep a resource in a transitional status for the next ``polls`` reads after its next change."""

    kind: str = Field(pattern=r"^[a-z0-9-]+$", max_length=40, description="eks, rds, elasticache, ...")
    resource_id: str = Field(pattern=_NAME, max_length=255, description="e.g. sip-dev/general for a node group")
    status: str = Field(pattern=r"^[A-Za-z_-]+$", max_length=40, description="e.g. UPDATING, creating, modifying")
    polls: int = Field(ge=1, le=100_000)


class FaultRequest(_Strict):
    """Answer (or end) the next ``times`` calls of one operation with ``code``."""

    service: str = Field(pattern=r"^[a-z0-9-]+$", max_length=64)
    operation: str = Field(pattern=r"^[A-Za-z0-9-]+$", max_length=128)
    code: str = Field(pattern=r"^[A-Za-z0-9_.]+$", max_length=128)
    times: int = Field(default=1, ge=1, le=100_000)
    message: str = Field(default="injected by the sandbox", max_length=1000)
    http_status: int = Field(default=400, ge=400, le=599)
    effect: Literal["error", "outcome"] = "error"


@cache
def _botocore_session() -> Any:
    import botocore.session

    return botocore.session.get_session()


def fault_key(service: str, operation: str) -> tuple[str, str]:
    """(service, Operation) as the faults patch sees a call: botocore's hyphenized service id and operation name.

    ``stepfunctions`` becomes ``sfn`` and ``events`` ``eventbridge``, as in botocore's event names;
    ``start-execution`` becomes ``StartExecution``.
    """
    from botocore import xform_name
    from botocore.exceptions import UnknownServiceError

    session = _botocore_session()
    try:
        model = session.get_service_model(service)
    except UnknownServiceError:
        raise InvalidRequest(f"unknown service {service!r} (use the AWS CLI's name, e.g. eks, rds)") from None
    wanted = operation.replace("-", "_").lower()
    for name in model.operation_names:
        if name.lower() == operation.lower() or xform_name(name) == wanted:
            return model.service_id.hyphenize(), str(name)
    raise InvalidRequest(f"{service} has no operation {operation!r}")


def _validated(model: type[BaseModel], body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise InvalidRequest(problems) from None


def arrange_hold(state: SandboxState, body: Any) -> dict[str, Any]:
    hold = _validated(HoldRequest, body)
    state.hold(hold.kind, hold.resource_id, polls=hold.polls, status=hold.status)
    return {"held": hold.model_dump()}


class ResourceChange(_Strict):
    """One change a Terraform plan would make (``resource_changes`` of ``terraform show -json``)."""

    address: str = Field(min_length=1, max_length=500)
    type: str = Field(pattern=r"^[a-z0-9_]+$", max_length=100)
    actions: list[Literal["create", "update", "delete"]] = Field(min_length=1, max_length=2)


class TerraformChanges(_Strict):
    changes: list[ResourceChange] = Field(max_length=1000)


def arrange_terraform_changes(body: Any) -> dict[str, Any]:
    """What the emulated plan and drift builds find until an apply (moto_patches/codebuild.py)."""
    from cpctl.sandbox.moto_patches.codebuild import EMULATION

    found = _validated(TerraformChanges, body)
    EMULATION.set_changes([change.model_dump() for change in found.changes])
    return {"terraform": found.model_dump()}


def arrange_fault(state: SandboxState, body: Any) -> dict[str, Any]:
    fault = _validated(FaultRequest, body)
    service, operation = fault_key(fault.service, fault.operation)
    if fault.effect == "outcome":
        state.arm_outcome(service, operation, fault.code, times=fault.times, message=fault.message)
    else:
        state.inject(
            service, operation, fault.code, times=fault.times, message=fault.message, http_status=fault.http_status
        )
    return {"armed": {**fault.model_dump(), "service": service, "operation": operation}}


def handle(
    state: SandboxState, method: str, path: str, body: bytes, describe: Callable[[], dict[str, Any]]
) -> tuple[int, dict[str, Any]]:
    """Answer one request to the control path: (HTTP status, JSON body). Bad input changes nothing."""
    route = path[len(CONTROL_PREFIX) :].rstrip("/")
    try:
        payload = json.loads(body) if body.strip() else {}
    except json.JSONDecodeError as exc:
        return 400, {"error": "InvalidRequest", "message": f"body is not JSON: {exc.msg}"}
    routes: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
        ("GET", ""): describe,
        ("GET", "/state"): state.snapshot,
        ("POST", "/holds"): lambda: arrange_hold(state, payload),
        ("POST", "/faults"): lambda: arrange_fault(state, payload),
        ("PUT", "/terraform"): lambda: arrange_terraform_changes(payload),
        ("DELETE", "/arrangements"): lambda: _cleared(state),
    }
    action = routes.get((method, route))
    if action is None:
        known = ", ".join(f"{m} {CONTROL_PREFIX}{r}" for m, r in routes)
        return 404, {"error": "NotFound", "message": f"{method} {path} is not a sandbox control path ({known})"}
    try:
        return 200, action()
    except InvalidRequest as exc:
        return 400, {"error": "InvalidRequest", "message": str(exc)}


def _cleared(state: SandboxState) -> dict[str, Any]:
    state.clear_arrangements()
    return state.snapshot()


class ControlClient:
    """Talks to the control path of a served sandbox (what ``cpctl sandbox fault`` uses)."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = 10.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, route: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.endpoint}{CONTROL_PREFIX}{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return dict(json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}")
            raise InvalidRequest(detail.get("message", str(exc))) from None
        except urllib.error.URLError as exc:
            raise ConnectionError(
                f"no sandbox at {self.endpoint} ({exc.reason}); start one with `cpctl sandbox up`"
            ) from None

    def describe(self) -> dict[str, Any]:
        return self._call("GET", "")

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/state")

    def hold(self, kind: str, resource_id: str, status: str, polls: int) -> dict[str, Any]:
        return self._call(
            "POST", "/holds", {"kind": kind, "resource_id": resource_id, "status": status, "polls": polls}
        )

    def fault(self, service: str, operation: str, code: str, **options: Any) -> dict[str, Any]:
        body = {"service": service, "operation": operation, "code": code}
        body.update({k: v for k, v in options.items() if v is not None})
        return self._call("POST", "/faults", body)

    def terraform_changes(self, changes: list[dict[str, Any]]) -> dict[str, Any]:
        return self._call("PUT", "/terraform", {"changes": changes})

    def clear(self) -> dict[str, Any]:
        return self._call("DELETE", "/arrangements")


def render_state(snapshot: dict[str, Any], calls: bool = False) -> Iterable[str]:
    """Lines for ``cpctl sandbox fault list``."""
    for hold in snapshot.get("holds", []):
        yield f"hold   {hold['kind']} {hold['resource_id']}: {hold['status']} for {hold['polls']} more polls"
    for fault in snapshot.get("faults", []):
        verb = "answer" if fault["effect"] == "error" else "end"
        yield (f"fault  {fault['service']} {fault['operation']}: {verb} the next {fault['times']} with {fault['code']}")
    if not snapshot.get("holds") and not snapshot.get("faults"):
        yield "no holds or faults armed"
    if calls:
        for name, count in snapshot.get("calls", {}).items():
            yield f"calls  {name}: {count}"


def endpoint_from_environment() -> str:
    """Where ``cpctl sandbox fault`` looks: ``AWS_ENDPOINT_URL`` when set (as for the AWS CLI), else the default."""
    import os

    return os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT


def run_fault_command(
    endpoint: str, action: str, options: dict[str, Any], out: Any = None, as_json: bool = False
) -> int:
    """``cpctl sandbox fault <action>``: arm a knob on a served sandbox and print what it now holds
    (``as_json``: the state snapshot, or ``{"error", "message"}``)."""
    import sys

    out = out or sys.stdout
    client = ControlClient(endpoint)
    try:
        if action == "hold":
            client.hold(options["kind"], options["resource_id"], options["status"], options["polls"])
        elif action in {"throttle", "error"}:
            client.fault(
                options["service"],
                options["operation"],
                options["code"],
                times=options["times"],
                message=options.get("message"),
                http_status=options.get("http_status"),
            )
        elif action == "fail-build":
            client.fault(
                "codebuild",
                "StartBuild",
                options["status"],
                times=options["times"],
                effect="outcome",
                message=options.get("message"),
            )
        elif action == "clear":
            client.clear()
        elif action != "list":
            raise InvalidRequest(f"unknown action {action!r}")
        snapshot = client.state()
    except (InvalidRequest, ConnectionError) as exc:
        if as_json:
            out.write(json.dumps({"error": type(exc).__name__, "message": str(exc)}) + "\n")
        out.write(f"{type(exc).__name__}: {exc}\n")
        return 2 if isinstance(exc, InvalidRequest) else 4
    if as_json:
        out.write(json.dumps(snapshot, indent=2, default=str) + "\n")
        return 0
    for line in render_state(snapshot, calls=bool(options.get("calls"))):
        out.write(line + "\n")
    return 0

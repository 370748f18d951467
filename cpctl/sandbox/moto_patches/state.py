"""Shared sandbox state that the moto patches consult: held resources, injected faults, quotas, TTL.

Kept apart from the patches so that tests and the demo can arrange scenarios
("hold this node group in UPDATING for 5 polls", "throttle the next 2 calls",
"the Apply function dies right after UpdateNodegroupConfig")
without touching moto. ``cpctl sandbox up`` exposes the same knobs over HTTP
(``cpctl/sandbox/control.py``), so a served sandbox is arranged from outside.

Faults are named by service and operation. An *error* fault (``inject``) answers
the call instead of moto (``moto_patches.faults``), as a throttled or refused AWS
call is. An *outcome* fault (``arm_outcome``) lets the call through and tells the
emulation of that operation how what it started ends, e.g. a CodeBuild build
that ends ``FAILED``: the emulation asks ``take_outcome(service, operation)``
when it decides.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

# How the sandbox's DynamoDB deletes expired TTL items (see moto_patches/dynamodb_ttl.py).
TtlMode = Literal["random", "immediate", "never"]
# AWS default quotas the sandbox enforces (Service Quotas): RDS "DB instances", "Manual DB instance snapshots".
DEFAULT_QUOTAS: dict[tuple[str, str], int] = {("rds", "db_instances"): 40, ("rds", "manual_snapshots"): 100}


@dataclass
class Hold:
    """Keep a resource in a transitional status for the next ``polls`` reads."""

    status: str
    polls: int
    last_reader: str | None = None


@dataclass
class Fault:
    """An error answered instead of the real call, ``times`` times (only for requests ``matches`` accepts)."""

    code: str
    message: str
    times: int
    http_status: int = 400
    matches: Callable[[dict[str, Any]], bool] | None = None
    function: str | None = None
    # A slow call instead of an error (code ""): it goes through after this many seconds of sandbox time.
    latency_seconds: float = 0.0
    taken: int = 0


@dataclass
class Interrupt:
    """A Lambda invocation that dies: ``Sandbox.Timedout`` or ``Runtime.ExitError``.

    ``after`` is the (service, operation) whose successful call it dies right after; None: before
    the handler runs.
    """

    function: str
    error_type: str
    after: tuple[str, str] | None
    times: int
    matches: Callable[[Any], bool] | None = None
    taken: int = 0


@dataclass
class UpdateFailure:
    """The next EKS update of a node group ends ``status`` with these ``errors`` (DescribeUpdate)."""

    status: str
    errors: list[dict[str, Any]]


@dataclass
class TtlSettings:
    """``random``: an expired item is deleted at a random moment after expiry (possibly at once, up to
    ``max_delay_seconds`` later), as DynamoDB does "within a few days"; ``immediate``: as soon as it
    expires; ``never``: expired items stay (DynamoDB gives no deadline)."""

    mode: TtlMode = "random"
    max_delay_seconds: float = 2 * 24 * 3600.0
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class SandboxState:
    """Process-wide registry of holds, faults and API-call counts (thread-safe)."""

    _lock: threading.RLock = field(default_factory=threading.RLock)
    holds: dict[tuple[str, str], Hold] = field(default_factory=dict)
    faults: dict[tuple[str, str], Fault] = field(default_factory=dict)
    interrupts: list[Interrupt] = field(default_factory=list)
    update_failures: dict[tuple[str, str], UpdateFailure] = field(default_factory=dict)
    quotas: dict[tuple[str, str], int] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))
    ttl: TtlSettings = field(default_factory=TtlSettings)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    calls_by_execution: dict[str, Counter[tuple[str, str]]] = field(default_factory=lambda: defaultdict(Counter))
    outcomes: dict[tuple[str, str], Fault] = field(default_factory=dict)

    # --- holds -------------------------------------------------------------------------------------

    def hold(self, kind: str, resource_id: str, polls: int, status: str) -> None:
        """Hold ``resource_id`` of ``kind`` in ``status`` for ``polls`` reads after its next change."""
        with self._lock:
            self.holds[(kind, resource_id)] = Hold(status=status, polls=polls)

    def held_status(self, kind: str, resource_id: str, reader: str | None = None) -> str | None:
        """The status to report on this read, or None when the resource is not held (counts one poll).

        ``reader`` (a Lambda invocation's request id) makes several reads of one invocation, say
        DescribeNodegroup and DescribeUpdate in one check, count as one poll.
        """
        with self._lock:
            hold = self.holds.get((kind, resource_id))
            if hold is None:
                return None
            if reader is not None and reader == hold.last_reader:
                return hold.status
            if hold.polls <= 0:
                del self.holds[(kind, resource_id)]
                return None
            hold.polls -= 1
            hold.last_reader = reader
            return hold.status

    def peek_hold(self, kind: str, resource_id: str) -> Hold | None:
        with self._lock:
            return self.holds.get((kind, resource_id))

    # --- faults answered instead of a call ---------------------------------------------------------

    def inject(
        self,
        service: str,
        operation: str,
        code: str,
        times: int = 1,
        message: str = "Rate exceeded",
        http_status: int = 400,
        matches: Callable[[dict[str, Any]], bool] | None = None,
        function: str | None = None,
    ) -> Fault:
        """Answer the next ``times`` calls of ``service``/``operation`` with error ``code``.

        ``matches`` narrows it to requests whose parameters it accepts, ``function`` to calls made by
        that function's handler (logical id; see ``Sandbox.function_of_state``).
        """
        if times < 1:
            raise ValueError(f"a fault that is never taken tests nothing: times={times}")
        fault = Fault(
            code=code, message=message, times=times, http_status=http_status, matches=matches, function=function
        )
        with self._lock:
            self.faults[(service, operation)] = fault
        return fault

    def take_fault(
        self, service: str, operation: str, params: dict[str, Any] | None = None, caller: str | None = None
    ) -> Fault | None:
        with self._lock:
            fault = self.faults.get((service, operation))
            if fault is None or fault.times <= 0:
                return None
            if fault.function is not None and fault.function != caller:
                return None
            if fault.matches is not None and not fault.matches(params or {}):
                return None
            fault.times -= 1
            fault.taken += 1
            return fault

    def slow(self, service: str, operation: str, seconds: float, times: int = 1, function: str | None = None) -> Fault:
        """The next ``times`` calls take ``seconds`` (of sandbox time: nobody waits), then go through."""
        fault = self.inject(service, operation, "", times=times, function=function)
        fault.latency_seconds = seconds
        return fault

    def faults_taken(self, service: str, operation: str) -> int:
        """How many calls the fault on ``service``/``operation`` answered (0 when none was injected)."""
        with self._lock:
            fault = self.faults.get((service, operation))
            return fault.taken if fault else 0

    def throttle_table(self, table: str, operations: tuple[str, ...] | None = None, times: int = 1) -> None:
        """DynamoDB throttling of ``table``: ``ProvisionedThroughputExceededException`` on its item calls."""
        names = operations or ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "TransactWriteItems")

        def on_table(params: dict[str, Any]) -> bool:
            if params.get("TableName") == table:
                return True
            return any(
                isinstance(part, dict) and part.get("TableName") == table
                for item in params.get("TransactItems", [])
                for part in item.values()
            )

        for operation in names:
            self.inject(
                "dynamodb",
                operation,
                "ProvisionedThroughputExceededException",
                times=times,
                message="The level of configured provisioned throughput for the table was exceeded.",
                matches=on_table,
            )

    # --- Lambda invocations that die ---------------------------------------------------------------

    def interrupt(
        self,
        function: str,
        error_type: Literal["Sandbox.Timedout", "Runtime.ExitError"] = "Sandbox.Timedout",
        after: tuple[str, str] | None = None,
        times: int = 1,
        matches: Callable[[Any], bool] | None = None,
    ) -> Interrupt:
        """The next ``times`` invocations of ``function`` (logical id) time out or crash, before their handler
        runs or right after the given AWS call (e.g. ``("eks", "UpdateNodegroupConfig")``) succeeded.
        ``matches`` narrows it to invocations whose event it accepts (``Sandbox.interrupt_state``)."""
        if times < 1:
            raise ValueError(f"an interrupt that is never taken tests nothing: times={times}")
        found = Interrupt(function=function, error_type=error_type, after=after, times=times, matches=matches)
        with self._lock:
            self.interrupts.append(found)
        return found

    def take_interrupt(self, function: str, after: tuple[str, str] | None, event: Any = None) -> Interrupt | None:
        with self._lock:
            for candidate in self.interrupts:
                if candidate.function != function or candidate.after != after or candidate.times <= 0:
                    continue
                if candidate.matches is None or candidate.matches(event):
                    candidate.times -= 1
                    candidate.taken += 1
                    return candidate
            return None

    # --- EKS updates that fail, quotas, TTL --------------------------------------------------------

    def fail_next_update(
        self, cluster: str, nodegroup: str, status: str = "Failed", errors: list[dict[str, Any]] | None = None
    ) -> None:
        """The next ``UpdateNodegroupConfig`` of the node group ends ``Failed`` or ``Cancelled``."""
        if status not in {"Failed", "Cancelled"}:
            raise ValueError(f"an update fails as Failed or Cancelled, not {status}")
        default = [
            {
                "errorCode": "NodeCreationFailure",
                "errorMessage": "Instances failed to join the kubernetes cluster",
                "resourceIds": [],
            }
        ]
        with self._lock:
            self.update_failures[(cluster, nodegroup)] = UpdateFailure(
                status=status, errors=default if errors is None and status == "Failed" else list(errors or [])
            )

    def take_update_failure(self, cluster: str, nodegroup: str) -> UpdateFailure | None:
        with self._lock:
            return self.update_failures.pop((cluster, nodegroup), None)

    def set_quota(self, service: str, name: str, limit: int) -> None:
        """Lower (or raise) one of the quotas in ``DEFAULT_QUOTAS``."""
        if (service, name) not in DEFAULT_QUOTAS:
            raise ValueError(f"the sandbox enforces no quota {service}/{name}; it knows {sorted(DEFAULT_QUOTAS)}")
        with self._lock:
            self.quotas[(service, name)] = limit

    def set_ttl(self, mode: TtlMode, seed: int | None = None, max_delay_seconds: float | None = None) -> None:
        """How expired TTL items are deleted from now on: ``random`` (seeded), ``immediate`` or ``never``."""
        with self._lock:
            self.ttl.mode = mode
            self.ttl.seed = seed
            self.ttl.rng = random.Random(seed)
            if max_delay_seconds is not None:
                self.ttl.max_delay_seconds = max_delay_seconds

    # --- counting ----------------------------------------------------------------------------------

    def count_call(self, service: str, operation: str, execution: str | None) -> None:
        with self._lock:
            self.calls[(service, operation)] += 1
            if execution:
                self.calls_by_execution[execution][(service, operation)] += 1

    # --- outcome faults, and the view the control path (cpctl sandbox up) gives --------------------

    def arm_outcome(self, service: str, operation: str, status: str, times: int = 1, message: str = "") -> None:
        """The next ``times`` things ``service``/``operation`` starts end with ``status`` (e.g. a build FAILED)."""
        with self._lock:
            self.outcomes[(service, operation)] = Fault(code=status, message=message, times=times)

    def take_outcome(self, service: str, operation: str) -> Fault | None:
        """For an emulation deciding how what one call started ends: the armed outcome, if any (counts one)."""
        with self._lock:
            outcome = self.outcomes.get((service, operation))
            if outcome is None or outcome.times <= 0:
                return None
            outcome.times -= 1
            return outcome

    def snapshot(self) -> dict[str, Any]:
        """Holds, armed faults and call counts as plain data (what ``GET /_sandbox/state`` answers)."""

        def armed(faults: dict[tuple[str, str], Fault], effect: str) -> list[dict[str, Any]]:
            return [
                {"service": s, "operation": o, "code": f.code, "message": f.message, "times": f.times, "effect": effect}
                for (s, o), f in faults.items()
                if f.times > 0
            ]

        with self._lock:
            return {
                "holds": [
                    {"kind": k, "resource_id": r, "status": h.status, "polls": h.polls}
                    for (k, r), h in self.holds.items()
                ],
                "faults": armed(self.faults, "error") + armed(self.outcomes, "outcome"),
                "calls": {f"{s}:{o}": n for (s, o), n in sorted(self.calls.items())},
            }

    def clear_arrangements(self) -> None:
        """Drop every hold and fault; call counts stay."""
        with self._lock:
            self.holds.clear()
            self.faults.clear()
            self.outcomes.clear()

    def reset(self) -> None:
        with self._lock:
            self.outcomes.clear()
            self.holds.clear()
            self.faults.clear()
            self.interrupts.clear()
            self.update_failures.clear()
            self.quotas = dict(DEFAULT_QUOTAS)
            self.ttl = TtlSettings()
            self.calls.clear()
            self.calls_by_execution.clear()


SANDBOX_STATE = SandboxState()

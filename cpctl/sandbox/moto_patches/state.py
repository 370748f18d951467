"""Shared sandbox state that the moto patches consult: held resources and injected faults.

Kept apart from the patches so that tests and the demo can arrange scenarios
("hold this node group in UPDATING for 5 polls", "throttle the next 2 calls")
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

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Hold:
    """Keep a resource in a transitional status for the next ``polls`` reads."""

    status: str
    polls: int


@dataclass
class Fault:
    """An error answered instead of the real call, ``times`` times."""

    code: str
    message: str
    times: int
    http_status: int = 400


@dataclass
class SandboxState:
    """Process-wide registry of holds, faults and API-call counts (thread-safe)."""

    _lock: threading.RLock = field(default_factory=threading.RLock)
    holds: dict[tuple[str, str], Hold] = field(default_factory=dict)
    faults: dict[tuple[str, str], Fault] = field(default_factory=dict)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    calls_by_execution: dict[str, Counter[tuple[str, str]]] = field(default_factory=lambda: defaultdict(Counter))
    outcomes: dict[tuple[str, str], Fault] = field(default_factory=dict)

    def hold(self, kind: str, resource_id: str, polls: int, status: str) -> None:
        """Hold ``resource_id`` of ``kind`` in ``status`` for ``polls`` reads after its next change."""
        with self._lock:
            self.holds[(kind, resource_id)] = Hold(status=status, polls=polls)

    def held_status(self, kind: str, resource_id: str) -> str | None:
        """The status to report on this read, or None when the resource is not held (counts one poll)."""
        with self._lock:
            hold = self.holds.get((kind, resource_id))
            if hold is None:
                return None
            if hold.polls <= 0:
                del self.holds[(kind, resource_id)]
                return None
            hold.polls -= 1
            return hold.status

    def peek_hold(self, kind: str, resource_id: str) -> Hold | None:
        with self._lock:
            return self.holds.get((kind, resource_id))

    def inject(
        self,
        service: str,
        operation: str,
        code: str,
        times: int = 1,
        message: str = "Rate exceeded",
        http_status: int = 400,
    ) -> None:
        """Answer the next ``times`` calls of ``service``/``operation`` with error ``code``."""
        with self._lock:
            self.faults[(service, operation)] = Fault(code=code, message=message, times=times, http_status=http_status)

    def take_fault(self, service: str, operation: str) -> Fault | None:
        with self._lock:
            fault = self.faults.get((service, operation))
            if fault is None or fault.times <= 0:
                return None
            fault.times -= 1
            return fault

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
            self.calls.clear()
            self.calls_by_execution.clear()


SANDBOX_STATE = SandboxState()

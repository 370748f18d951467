"""The control plane's clock: UTC now, with an offset the sandbox can move forward.

Cooldowns, breaker windows and schedules compare stored marks with ``now()``.
In AWS nothing sets the offset (it stays 0). The sandbox calls ``advance`` to
let a scenario step past a 30-minute cooldown without sleeping; the handlers
run in the sandbox's process, so they see the same clock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_LOCK = threading.Lock()
_offset: list[timedelta] = [timedelta(0)]


def now() -> datetime:
    return datetime.now(UTC) + _offset[0]


def advance(seconds: float) -> None:
    """Move the clock forward (sandbox and tests only)."""
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    with _LOCK:
        _offset[0] += timedelta(seconds=seconds)


def offset_seconds() -> float:
    return _offset[0].total_seconds()


def reset() -> None:
    with _LOCK:
        _offset[0] = timedelta(0)

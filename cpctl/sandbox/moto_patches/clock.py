"""Make time pass instantly where the sandbox would otherwise sleep for real.

Wait states, ASL Retry intervals and botocore's retry back-off all sleep in
real time; in the sandbox they return at once, and the seconds they asked for
are added up so a report can say how long the workflow would have waited.
"""

from __future__ import annotations

import threading
import time
import types
from typing import Any

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

_LOCK = threading.Lock()
_APPLIED: dict[str, Any] = {}
waited_seconds: dict[str, float] = {
    "wait_states": 0.0,
    "retry_intervals": 0.0,
    "client_backoff": 0.0,
    "lambda_timeouts": 0.0,
    "call_latency": 0.0,
}


def count(bucket: str, seconds: float) -> None:
    """Add ``seconds`` that would have passed in AWS to ``bucket``."""
    with _LOCK:
        waited_seconds[bucket] = waited_seconds.get(bucket, 0.0) + max(float(seconds), 0.0)


_count = count


def skipped_seconds() -> float:
    """Seconds of botocore back-off and of slow calls the sandbox skipped so far: they count against a
    Lambda's Timeout."""
    with _LOCK:
        return waited_seconds["client_backoff"] + waited_seconds["call_latency"]


def _instant_wait_interval(self: WaitFunction, env: Any, wait_seconds: int) -> None:
    _count("wait_states", wait_seconds)


def _time_without_sleep(bucket: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        sleep=lambda seconds: _count(bucket, seconds),
        time=time.time,
        monotonic=time.monotonic,
        perf_counter=time.perf_counter,
    )


def _acquire_at_once(self: Any, amount: float = 1, block: bool = True) -> bool:
    self._refill()
    if amount > self._current_capacity:
        _count("client_backoff", self._sleep_amount(amount))
    self._current_capacity = max(self._current_capacity - amount, 0)
    return True


def apply() -> None:
    if "applied" in _APPLIED:
        return
    import botocore.endpoint
    import botocore.retries.bucket

    _APPLIED["wait"] = WaitFunction._wait_interval
    WaitFunction._wait_interval = _instant_wait_interval  # type: ignore[method-assign]
    # The modules' own ``time`` names are replaced, not the global time module.
    setattr(retrier_decl, "time", _time_without_sleep("retry_intervals"))  # noqa: B010
    setattr(botocore.endpoint, "time", _time_without_sleep("client_backoff"))  # noqa: B010
    # Adaptive retry mode's token bucket waits on a condition variable once throttled: grant at once.
    botocore.retries.bucket.TokenBucket._acquire = _acquire_at_once  # type: ignore[attr-defined]
    _APPLIED["applied"] = True


def targets() -> list[str]:
    return [
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function.WaitFunction._wait_interval",
        "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl.time",
        "botocore.endpoint.time",
        "botocore.retries.bucket.TokenBucket._acquire",
        "botocore.retries.bucket.TokenBucket._refill",
        "botocore.retries.bucket.TokenBucket._sleep_amount",
    ]

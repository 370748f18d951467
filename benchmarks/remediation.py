"""Remediation in the sandbox: time from an alarm event to the scaling API call, and the events per
second the entry point handles during a storm.

The sandbox runs every handler in one process, one at a time (the Lambda bridge serialises them), so
the storm figure is the throughput of a single entry-point worker with DynamoDB emulated in-process;
AWS runs many workers concurrently and pays network round trips instead. Figures only, no assertions.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from typing import Any

from cpctl.sandbox.moto_patches import events as events_patch
from cpctl.sandbox.moto_patches.state import SANDBOX_STATE
from cpctl.sandbox.runtime import Sandbox
from cpctl.sandbox.scenarios import remediation

ALARM = "sip-dev-eks-cpu-high"
RUNS = 5


def _watch_calls(operation: str) -> list[float]:
    """perf_counter() of every call of ``operation`` from now on (the call reaches the emulated AWS)."""
    seen: list[float] = []
    original = SANDBOX_STATE.count_call

    def counting(service: str, op: str, execution: str | None) -> None:
        if op == operation:
            seen.append(time.perf_counter())
        original(service, op, execution)

    SANDBOX_STATE.count_call = counting  # type: ignore[method-assign]
    return seen


def reset_general(sandbox: Sandbox) -> None:
    """Put the node group back at 3 behind the control plane's back (room for another +2)."""
    cluster = sandbox.tfvars["eks_cluster_name"]
    sandbox.client("eks").update_nodegroup_config(
        clusterName=cluster, nodegroupName="general", scalingConfig={"desiredSize": 3}
    )


def event_to_api_call(sandbox: Sandbox) -> list[float]:
    calls = _watch_calls("UpdateNodegroupConfig")
    latencies: list[float] = []
    for run in range(RUNS):
        sandbox.advance_clock(3600)  # past the rule's cooldown and the Scale cooldown
        reset_general(sandbox)
        before = len(calls)
        event = sandbox.alarm_event(ALARM, "ALARM", event_id=f"bench-latency-{run}")
        mark = len(events_patch.deliveries)
        started = time.perf_counter()
        events_patch.deliver(event, sandbox.region)
        while len(calls) == before and time.perf_counter() - started < 30:
            time.sleep(0.0005)
        if len(calls) > before:
            latencies.append(calls[before] - started)
        events_patch.drain()
        remediation.wait_remediations(sandbox, remediation.decisions_since(mark))
    return latencies


def storm(sandbox: Sandbox, total: int = 200, distinct: int = 150) -> dict[str, Any]:
    sandbox.advance_clock(3600)
    reset_general(sandbox)
    events = [sandbox.alarm_event(ALARM, "ALARM", event_id=f"bench-storm-{i}") for i in range(distinct)]
    events += events[: total - distinct]
    mark = len(events_patch.deliveries)
    started = time.perf_counter()
    sandbox.deliver_events(events)
    elapsed = time.perf_counter() - started
    decisions = remediation.decisions_since(mark)
    remediation.wait_remediations(sandbox, decisions)
    return {"events": total, "seconds": elapsed, "counts": Counter(d["status"] for d in decisions)}


def main() -> None:
    with Sandbox() as sandbox:
        latencies = event_to_api_call(sandbox)
        result = storm(sandbox)
    if latencies:
        ms = [value * 1000 for value in latencies]
        print(
            f"event -> UpdateNodegroupConfig ({len(ms)} runs): median {statistics.median(ms):.0f} ms, "
            f"min {min(ms):.0f} ms, max {max(ms):.0f} ms "
            "(entry point, Remediation workflow, Scale Plan/Lock/Apply; sandbox waits are instant)"
        )
    counts, seconds = result["counts"], result["seconds"]
    print(
        f"storm: {result['events']} events in {seconds:.2f} s = {result['events'] / seconds:.0f} events/s "
        f"at the entry point (admitted {counts['Admitted']}, suppressed {counts['Suppressed']})"
    )


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]
    main()

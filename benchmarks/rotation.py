"""States entered, AWS API calls and Lambda invocations per Rotation execution, per secret, on the
sandbox's private PostgreSQL and Redis (real logins), and the time one rotation takes there.

The counts are what AWS would bill and throttle on (state transitions, Secrets Manager, ElastiCache and
DynamoDB calls of the workflow's tasks); the calls Secrets Manager's own steps make are counted apart
(``rotation steps``). The durations are the sandbox's and say nothing about AWS latency.
"""

from __future__ import annotations

import time
from collections import Counter

from cpctl.sandbox import rotation_support
from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY
from cpctl.sandbox.rotation_support import secret_names
from cpctl.sandbox.runtime import Sandbox

REQUESTER = {"type": "api", "id": "benchmark"}


def main() -> None:
    with rotation_support.real_servers() as servers:
        if servers is None:
            print("no PostgreSQL/Redis binaries: skipped")
            return
        with Sandbox(real_servers=servers) as sandbox:
            names = secret_names(sandbox.environment)
            print(f"{'execution':<34} {'outcome':<10} {'states':>6} {'aws calls':>9} {'steps':>5} {'seconds':>8}")
            runs = [("app (alternating, 1st: clone)", names["app"]), ("app (alternating, 2nd)", names["app"])]
            runs += [("master (single user)", names["master"]), ("redis token (ROTATE)", names["redis"])]
            for label, secret in runs:
                before = len(REGISTRY.invocations)
                started = time.monotonic()
                report = sandbox.run(
                    "RotationStateMachine", {"secret": secret, "reason": "benchmark", "requester": REQUESTER}
                )
                elapsed = time.monotonic() - started
                steps = [
                    i for i in REGISTRY.invocations[before:] if isinstance(i["event"], dict) and "Step" in i["event"]
                ]
                print(
                    f"{label:<34} {report.outcome:<10} {len(report.states_entered):>6} {report.aws_calls:>9} "
                    f"{len(steps):>5} {elapsed:>8.2f}"
                )
            sandbox.advance_clock(rotation_support.grace_seconds(sandbox))
            started = time.monotonic()
            scheduled = rotation_support.fire_rotation_schedule(sandbox)
            print(
                f"{'schedule (SET the old token)':<34} {scheduled.outcome:<10} {len(scheduled.states_entered):>6} "
                f"{scheduled.aws_calls:>9} {0:>5} {time.monotonic() - started:>8.2f}"
            )
            calls: Counter[str] = Counter()
            for (service, operation), count in scheduled.api_calls.items():
                calls[f"{service}:{operation}"] += count
            print("scheduled run's calls:", ", ".join(f"{k} {v}" for k, v in sorted(calls.items())))

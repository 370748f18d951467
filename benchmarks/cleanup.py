"""Cleanup at scale: planning time for 100,000 synthetic snapshots; API calls, transitions and history events of
sandbox runs next to the minimum the APIs' page sizes allow. ``CLEANUP_BENCH_FULL=1`` adds the 10,000-snapshot run
that deletes 9,720 (about 12 minutes on a loaded 2-core machine)."""

from __future__ import annotations

import math
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "common" / "python"))


def planning(count: int = 100_000, sources: int = 200) -> None:
    from controlplane.cleanup import steps
    from controlplane.cleanup.models import Artifact
    from controlplane.cleanup.policy import load_cleanup_policy
    from controlplane.cleanup.retention import breakdown, decide

    now = datetime(2026, 11, 27, 9, tzinfo=UTC)
    per_source = count // sources
    artifacts = [
        Artifact(
            kind="rds_snapshot",
            id=f"cp-db{s:03d}-{d:05d}",
            region="us-east-1" if s % 2 else "us-west-2",
            source=f"db{s:03d}",
            created_at=now - timedelta(days=d, hours=s % 24),
            tags={"ManagedBy": "controlplane"},
        )
        for s in range(sources)
        for d in range(per_source)
    ]
    pol = load_cleanup_policy("prod")
    started = time.perf_counter()
    decisions = decide(artifacts, pol, now)
    decided = time.perf_counter()
    counts = breakdown(decisions)
    units, later = steps.fit_history(steps.units_of(decisions), pol.batch_size)
    done = time.perf_counter()
    print(
        f"plan {count:,} snapshots of {sources} sources: decide {decided - started:.2f} s, breakdown + units "
        f"{done - decided:.2f} s; {counts.deletions:,} deletions in {len(units)} units this run, {len(later)} left"
    )


def sandbox_runs() -> None:
    from controlplane import clock

    from cpctl.sandbox import cleanup_support as cs
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox() as sandbox:
        cs.seed_history(sandbox, clock.now())
        for label, payload in (("dry run, seeded history", {"dry_run": True}), ("real run, seeded history", {})):
            report = sandbox.run("CleanupStateMachine", payload)
            _print(label, report)
        count = cs.seed_synthetic(sandbox, clock.now(), sources=10, per_source=100)
        report = sandbox.run("CleanupStateMachine", {"dry_run": True, "allow_deletions": 5_000})
        kinds = (report.output or {})["breakdown"]["by_kind"]["rds_snapshot"]
        listed = sum(kinds.values())
        print(
            f"  dry run after adding {count:,} snapshots ({listed:,} RDS snapshots in two regions): "
            f"DescribeDBSnapshots {report.calls('DescribeDBSnapshots')} calls, minimum "
            f"{math.ceil(listed / 100) + 1} (100 a page; at least one page per region)"
        )
    if os.environ.get("CLEANUP_BENCH_FULL") == "1":
        with Sandbox() as sandbox:
            cs.create_buckets(sandbox)
            cs.seed_synthetic(sandbox, clock.now(), sources=20, per_source=500)
            dry = sandbox.run("CleanupStateMachine", {"dry_run": True})
            planned = (dry.output or {})["breakdown"]["deletions"]
            started = time.monotonic()
            report = sandbox.wait(sandbox.start_execution("CleanupStateMachine", {"allow_deletions": planned}), 3_000)
            _print(f"10,000 snapshots, {planned:,} deletions ({time.monotonic() - started:.0f} s)", report)


def _print(label: str, report: object) -> None:
    from cpctl.sandbox.runtime import ExecutionReport

    assert isinstance(report, ExecutionReport)
    deletions = sum(
        report.calls(op) for op in ("DeleteDBSnapshot", "DeleteSnapshot", "DeleteDBInstance", "DeleteObjects")
    )
    print(
        f"  {label}: {report.outcome}; {len(report.states_entered)} states entered, {report.aws_calls} AWS calls "
        f"({deletions} deletes, {report.calls('DescribeDBSnapshots')} DescribeDBSnapshots, "
        f"{report.calls('PutItem', 'DeleteItem', 'BatchGetItem')} lease calls), {report.duration_seconds:.1f} s"
    )


def main() -> None:
    planning()
    sandbox_runs()


if __name__ == "__main__":
    main()

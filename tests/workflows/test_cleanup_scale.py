"""Cleanup at scale in the sandbox: every page listed, throttling retried, 10,000 snapshots in one execution."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from controlplane import clock
from controlplane.cleanup.policy import HISTORY_LIMIT, history_events

from cpctl.sandbox import cleanup_support as cs
from cpctl.sandbox.runtime import Sandbox

pytestmark = pytest.mark.sandbox
SM = "CleanupStateMachine"
PAYLOAD_LIMIT = 256 * 1024


def _plan(sandbox: Sandbox, output: dict[str, object]) -> dict[str, object]:
    body = sandbox.client("s3").get_object(Bucket="sip-dev-backups", Key=str(output["plan_key"]))["Body"].read()
    return dict(json.loads(body))


def test_listings_read_every_page(sandbox: Sandbox) -> None:
    """250 RDS snapshots (3 pages of 100) and 120 cache snapshots (3 pages of 50): all judged."""
    cs.create_buckets(sandbox)
    now = clock.now()
    for n in range(250):
        cs.put_rds_snapshot(
            sandbox, f"cp-{sandbox.primary_id}-x{n:04d}", now - timedelta(hours=n), cs.managed_tags(sandbox.primary_id)
        )
    for n in range(120):
        cs.put_cache_snapshot(
            sandbox,
            f"cp-{sandbox.cache_group_id}-x{n:04d}",
            now - timedelta(hours=n),
            cs.managed_tags(sandbox.cache_group_id),
        )
    report = sandbox.run(SM, {"dry_run": True, "allow_deletions": 1_000})
    assert report.outcome == "DryRun", report.reason
    kinds = [d["artifact"]["kind"] for d in _plan(sandbox, report.output or {})["decisions"]]  # type: ignore[index, union-attr]
    assert kinds.count("rds_snapshot") == 250 and kinds.count("cache_snapshot") == 120
    # home: 3 pages each; the DR region: one empty page each
    assert report.calls("DescribeDBSnapshots") == 3 + 1
    assert report.calls("DescribeSnapshots") == 3 + 1


def test_throttled_deletes_are_retried_and_finish(sandbox: Sandbox) -> None:
    cs.create_buckets(sandbox)
    names = cs.seed_burst(sandbox, clock.now(), 30)
    # 5 throttles: the client's 3 attempts fail the first batch once, the state machine retries it.
    sandbox.state.inject("rds", "DeleteDBSnapshot", "Throttling", times=5)
    report = sandbox.run(SM, {"allow_deletions": 29})
    assert report.outcome == "Succeeded", report.reason
    listed = sandbox.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    remaining = {s["DBSnapshotIdentifier"] for s in listed}
    # dev keeps the newest 3 of a source whatever their age; the other 27 are gone despite the throttling
    assert not remaining & set(names[:-3]) and set(names[-3:]) <= remaining
    assert report.calls("DeleteDBSnapshot") >= 27 + 5
    assert "DeleteBatch" in report.states_entered
    assert not sandbox.lock_items()


def test_ten_thousand_snapshots_in_one_execution(sandbox: Sandbox) -> None:
    """10,000 snapshots of 21 sources listed, judged and planned; 997 deleted (the rest protected or kept),
    with the state, every task's payload and the history far within Step Functions' limits. The 9,720-deletion
    run is in benchmarks/cleanup.py (about 12 minutes in the sandbox)."""
    cs.create_buckets(sandbox)
    now = clock.now()
    count = cs.seed_synthetic(sandbox, now, sources=20, per_source=450)
    doomed = []
    for n in range(1_000):  # a year-old history nobody protected: past retention
        name = f"cp-old-{n:04d}"
        cs.put_rds_snapshot(sandbox, name, now - timedelta(days=400 + n), cs.managed_tags("old-db"), source="old-db")
        doomed.append(name)
    from moto.rds.models import rds_backends

    for snapshot in rds_backends[cs.ACCOUNT][sandbox.region].database_snapshots.values():
        if not snapshot.db_snapshot_identifier.startswith("cp-old-"):
            snapshot.tags.append({"Key": "LegalHold", "Value": "true"})
    assert count + len(doomed) == 10_000
    report = sandbox.wait(sandbox.start_execution(SM, {"allow_deletions": 1_000}), timeout_seconds=1_500)
    assert report.outcome == "Succeeded", report.reason
    output = report.output or {}
    # the source keeps its newest 3 (keep_last) whatever their age: 997 deletions
    assert output["breakdown"]["artifacts"] == 10_000 and output["results"] == {"deleted": 997}
    assert len(json.dumps(output)) < PAYLOAD_LIMIT
    left = {n for n in rds_backends[cs.ACCOUNT][sandbox.region].database_snapshots if n.startswith("cp-")}
    assert left & set(doomed) == set(doomed[:3]) and len(left) == count + 3
    history = sandbox.client("stepfunctions").get_execution_history(executionArn=report.arn, maxResults=1000)
    events = len(history["events"])
    token = history.get("nextToken")
    while token:
        page = sandbox.client("stepfunctions").get_execution_history(
            executionArn=report.arn, maxResults=1000, nextToken=token
        )
        events += len(page["events"])
        token = page.get("nextToken")
    assert events <= history_events([20]) + 40 < HISTORY_LIMIT  # one unit of 20 batches (plus moto's extra events)
    from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY

    largest = max(len(json.dumps([i["event"], i["result"]], default=str)) for i in REGISTRY.invocations)
    assert largest < PAYLOAD_LIMIT
    assert report.calls("DescribeDBSnapshots") >= 100  # 100 pages of 100 at least, plus one read per 50 deletions


def test_a_throttled_listing_is_retried_by_the_state_machine(sandbox: Sandbox) -> None:
    """DescribeDBSnapshots throttled past the client's three attempts: the plan fails with TransientAwsError,
    Step Functions retries it with back-off, and the run completes as if nothing happened."""
    cs.create_buckets(sandbox)
    cs.seed_burst(sandbox, clock.now(), 5)
    fault = sandbox.state.inject("rds", "DescribeDBSnapshots", "Throttling", times=4)
    report = sandbox.run(SM, {"dry_run": True})
    assert report.outcome == "DryRun", report.reason
    assert fault.taken == 4
    assert (report.output or {})["breakdown"]["artifacts"] == 5

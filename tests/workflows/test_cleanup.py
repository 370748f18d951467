"""Cleanup workflow end to end in the sandbox: dry run, a real run over months of history, the breaker, leases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from controlplane import clock, leases

from cpctl.sandbox import cleanup_support as cs
from cpctl.sandbox.runtime import Sandbox

pytestmark = pytest.mark.sandbox
SM = "CleanupStateMachine"
MUTATING = ("DeleteDBSnapshot", "DeleteSnapshot", "DeleteDBInstance", "DeleteObjects")


def _rds_snapshots(sandbox: Sandbox, region: str | None = None) -> set[str]:
    from moto.rds.models import rds_backends

    return set(rds_backends[cs.ACCOUNT][region or sandbox.region].database_snapshots)


def _cache_snapshots(sandbox: Sandbox) -> set[str]:
    from moto.elasticache.models import elasticache_backends

    return set(elasticache_backends[cs.ACCOUNT][sandbox.region].snapshots)


def _report(sandbox: Sandbox, output: dict[str, Any]) -> dict[str, Any]:
    key = str(output["report_key"]).removeprefix("s3://sip-dev-backups/").replace("report.md", "report.json")
    body = sandbox.client("s3").get_object(Bucket="sip-dev-backups", Key=key)["Body"].read()
    return dict(json.loads(body))


@pytest.fixture
def history(sandbox: Sandbox) -> cs.History:
    return cs.seed_history(sandbox, clock.now())


def test_dry_run_plans_and_deletes_nothing(sandbox: Sandbox, history: cs.History) -> None:
    before = (_rds_snapshots(sandbox), _rds_snapshots(sandbox, "us-west-2"), _cache_snapshots(sandbox))
    report = sandbox.run(SM, {"dry_run": True, "requester": {"type": "person", "id": "alice"}})
    assert report.outcome == "DryRun", report.reason
    assert report.calls(*MUTATING) == 0
    assert (_rds_snapshots(sandbox), _rds_snapshots(sandbox, "us-west-2"), _cache_snapshots(sandbox)) == before
    assert report.output is not None
    assert report.output["breakdown"]["deletions"] > 0
    assert "DeleteUnits" not in report.states_entered
    assert any("latest_good_backup" in line for line in report.output["kept_sample"])
    assert not sandbox.lock_items()


def test_real_run_keeps_what_must_stay_and_deletes_the_rest(sandbox: Sandbox, history: cs.History) -> None:
    report = sandbox.run(SM, {})
    assert report.outcome == "Succeeded", report.reason
    assert report.output is not None
    planned = report.output["breakdown"]["deletions"]
    assert report.output["results"] == {"deleted": planned}
    remaining = _rds_snapshots(sandbox)
    # Never touched: protections, foreign, automated; today's backup (the latest good one) in both regions.
    assert set(history.protected + history.foreign + history.automated) <= remaining
    assert history.rds[-1] in remaining and history.dr[-1] in _rds_snapshots(sandbox, "us-west-2")
    assert history.cache[-1] in _cache_snapshots(sandbox)
    # Both regions were pruned, and the cache snapshots and exports with them.
    assert len(remaining & set(history.rds)) < len(history.rds)
    assert len(_rds_snapshots(sandbox, "us-west-2")) < len(history.dr)
    assert len(_cache_snapshots(sandbox)) < len(history.cache)
    # The drill past its deadline is gone, the running one stays.
    late, running = sorted(history.drills, key=lambda d: history.drills[d])
    instances = {
        i["DBInstanceIdentifier"]: i["DBInstanceStatus"]
        for i in sandbox.client("rds").describe_db_instances()["DBInstances"]
    }
    assert instances.get(running) == "available" and instances.get(late, "deleting") == "deleting"
    full = _report(sandbox, report.output)
    assert {item["result"] for item in full["items"]} == {"deleted"}
    assert not sandbox.lock_items()
    assert not sandbox.denials()
    # A second run finds nothing more to delete.
    again = sandbox.run(SM, {})
    assert again.outcome in ("NoChange", "Succeeded"), again.reason
    assert (
        again.output is not None and again.output["breakdown"]["deletions"] <= 1
    )  # at most the drill, if still listed


def test_breaker_blocks_and_deletes_nothing(sandbox: Sandbox, history: cs.History) -> None:
    burst = cs.seed_burst(sandbox, clock.now(), 45)
    before = _rds_snapshots(sandbox)
    report = sandbox.run(SM, {})
    assert report.outcome == "Blocked"
    assert "circuit breaker" in report.reason and "exceed the cap of 40" in report.reason
    assert report.calls(*MUTATING) == 0
    assert _rds_snapshots(sandbox) == before and set(burst) <= before
    assert any(n["Subject"].startswith("[dev] cleanup Blocked") for n in sandbox.notifications())
    # An operator who read the plan lets this one run past the breaker by naming the count.
    planned = report.output["breakdown"]["deletions"] if report.output else 0
    allowed = sandbox.run(SM, {"allow_deletions": planned})
    assert allowed.outcome == "Succeeded", allowed.reason
    assert not set(burst) & _rds_snapshots(sandbox)


def test_a_snapshot_a_drill_holds_is_kept(sandbox: Sandbox, history: cs.History) -> None:
    from controlplane.leases import DynamoLeaseStore

    dry = sandbox.run(SM, {"dry_run": True})
    plan = dry.output or {}
    body = sandbox.client("s3").get_object(Bucket="sip-dev-backups", Key=plan["plan_key"])["Body"].read()
    doomed = next(
        d["artifact"]["id"]
        for d in json.loads(body)["decisions"]
        if d["action"] == "delete" and d["artifact"]["kind"] == "rds_snapshot"
    )
    store = DynamoLeaseStore(sandbox.resources["StateTable"]["Ref"], sandbox.client("dynamodb"))
    store.acquire(leases.snapshot_key("rds", doomed), "restore-drill/drill-1", 3600, clock.now(), "restore-drill")
    report = sandbox.run(SM, {})
    assert report.outcome == "Succeeded", report.reason
    assert doomed in _rds_snapshots(sandbox)
    assert any(f"{doomed}" in line and "in_use" in line for line in _kept_lines(sandbox, report.output or {}))
    assert store.holder(leases.snapshot_key("rds", doomed)) is not None  # the drill's lease is untouched


def _kept_lines(sandbox: Sandbox, output: dict[str, Any]) -> list[str]:
    body = sandbox.client("s3").get_object(Bucket="sip-dev-backups", Key=output["plan_key"])["Body"].read()
    return [
        f"{d['artifact']['id']} {','.join(d['reasons'])}"
        for d in json.loads(body)["decisions"]
        if d["action"] == "keep"
    ]


def test_cleanup_and_backup_of_one_source_never_interleave(sandbox: Sandbox, history: cs.History) -> None:
    """A backup holds the primary's lease: cleanup defers that source's deletions (nothing of it deleted) and still
    prunes the others; the backup's lease is never taken or released by cleanup."""
    from controlplane.leases import DynamoLeaseStore

    store = DynamoLeaseStore(sandbox.resources["StateTable"]["Ref"], sandbox.client("dynamodb"))
    key = leases.db_instance_key(sandbox.primary_id)
    store.acquire(key, "backup/nightly-1", 3600, clock.now(), "backup")
    before = {s for s in _rds_snapshots(sandbox) if s.startswith("cp-")}
    report = sandbox.run(SM, {})
    assert {s for s in _rds_snapshots(sandbox) if s.startswith("cp-")} == before
    assert report.output is not None and report.output["results"].get("deferred", 0) > 0
    assert len(_cache_snapshots(sandbox)) < len(history.cache)
    held = store.holder(key)
    assert held is not None and held.owner == "backup/nightly-1"
    assert report.calls("DeleteDBSnapshot") == 0


def test_invalid_request_is_rejected_before_any_call(sandbox: Sandbox) -> None:
    report = sandbox.run(SM, {"dry_run": "maybe", "bogus": 1})
    assert report.status == "FAILED" and report.error == "InvalidRequest"
    assert report.calls(*MUTATING) == 0


def test_a_crash_after_a_delete_is_retried_and_a_dead_batch_releases_the_lease(
    sandbox: Sandbox, history: cs.History
) -> None:
    """DeleteBatch times out right after a DeleteDBSnapshot succeeded: the retried batch finds it gone ("already
    gone" is success). Then a batch that keeps dying: the unit's rest is recorded failed, the source lease is
    released by the state machine, and the run ends Failed."""
    sandbox.interrupt_state(SM, "DeleteBatch", "Sandbox.Timedout", after=("rds", "DeleteDBSnapshot"), times=1)
    report = sandbox.run(SM, {})
    assert report.outcome == "Succeeded", report.reason
    assert report.output is not None and report.output["results"].get("failed", 0) == 0
    assert not sandbox.lock_items()

    cs.seed_burst(sandbox, clock.now(), 20)
    sandbox.interrupt_state(SM, "DeleteBatch", "Runtime.ExitError", times=20)
    failed = sandbox.run(SM, {"allow_deletions": 100})
    assert failed.status == "FAILED" and failed.error == "DeletionsFailed", failed.cause
    assert "Runtime exited with error" in json.dumps(
        _report(sandbox, {"report_key": _report_key(sandbox, failed.name)})
    )
    assert "UnitFailed" in failed.states_entered and "ReleaseUnit" in failed.states_entered
    assert not sandbox.lock_items()


def _report_key(sandbox: Sandbox, execution: str) -> str:
    listed = sandbox.client("s3").list_objects_v2(Bucket="sip-dev-backups", Prefix="reports/cleanup/")["Contents"]
    return "s3://sip-dev-backups/" + next(o["Key"] for o in listed if f"/{execution}/report.md" in o["Key"])

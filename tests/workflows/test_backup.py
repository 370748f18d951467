"""The Backup workflow end to end in the sandbox: idempotent per day, the copy quota, repairs, leases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from controlplane import leases
from controlplane.backup import naming
from controlplane.leases import DynamoLeaseStore

from cpctl.sandbox import backup_support
from cpctl.sandbox.moto_patches import backup as backup_patch
from cpctl.sandbox.runtime import Sandbox

MACHINE = "BackupStateMachine"
REQUEST = {"requester": {"type": "person", "id": "test"}}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


def today() -> str:
    from controlplane import clock

    return naming.day_of(clock.now())


def manual_snapshots(client: Any, db: str) -> list[dict[str, Any]]:
    found = client.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    return [s for s in found if s["DBSnapshotIdentifier"].startswith(f"cp-{db}-")]


def dr_rds(sandbox: Sandbox) -> Any:
    return backup_support.client_in(sandbox, "rds", backup_support.dr_region(sandbox))


def report_of(sandbox: Sandbox, output: dict[str, Any]) -> dict[str, Any]:
    bucket, key = output["report_location"].removeprefix("s3://").split("/", 1)
    return dict(json.loads(sandbox.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()))


def test_a_daily_backup_makes_every_artefact_and_a_second_run_the_same_day_makes_none(sandbox: Sandbox) -> None:
    first = sandbox.run(MACHINE, REQUEST)
    assert first.status == "SUCCEEDED", first.cause
    assert first.output and first.output["status"] == "Succeeded"
    db, group = sandbox.primary_id, sandbox.cache_group_id
    snapshot_id = f"cp-{db}-{today()}"
    home = manual_snapshots(sandbox.client("rds"), db)
    assert [s["DBSnapshotIdentifier"] for s in home] == [snapshot_id]
    tags = {
        t["Key"]: t["Value"]
        for t in sandbox.client("rds").list_tags_for_resource(ResourceName=home[0]["DBSnapshotArn"])["TagList"]
    }
    assert tags["ManagedBy"] == "controlplane" and tags["RetentionClass"] == "daily" and tags["SourceIdentifier"] == db
    assert tags["CreatedBy"] == f"backup/{first.name}"
    copy = dr_rds(sandbox).describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"][0]
    dr_key = sandbox.platform_outputs["DrKmsKeyArn"][1]
    assert copy["Status"] == "available" and copy["KmsKeyId"] == dr_key
    exported = sandbox.client("s3").list_objects_v2(Bucket="sip-dev-backups", Prefix=f"elasticache/{group}/{today()}/")
    shards = len(
        sandbox.client("elasticache").describe_replication_groups(ReplicationGroupId=group)["ReplicationGroups"][0][
            "NodeGroups"
        ]
    )
    assert len(exported["Contents"]) == shards
    state = json.loads(
        sandbox.client("s3")
        .get_object(Bucket="sip-dev-backups", Key=f"eks/sip-dev/{today()}/state.json")["Body"]
        .read()
    )
    assert (
        state["schema_version"] == 1 and len(state["nodegroups"]) == 3 and state["addons"] and state["access_entries"]
    )
    report = report_of(sandbox, first.output)
    assert report["passed"] and all(c["passed"] for c in report["checks"])
    assert sandbox.lock_items() == []

    second = sandbox.run(MACHINE, REQUEST)
    assert second.status == "SUCCEEDED", second.cause
    assert len(manual_snapshots(sandbox.client("rds"), db)) == 1
    assert len(manual_snapshots(dr_rds(sandbox), db)) == 1
    assert len(sandbox.client("elasticache").describe_snapshots(ReplicationGroupId=group)["Snapshots"]) == 1
    assert second.calls("CopyDBSnapshot") == 0  # today's copy exists: nothing to copy
    assert sandbox.denials() == []


def test_a_copy_refused_by_the_copy_quota_is_queued_not_failed_and_the_next_run_copies_it(sandbox: Sandbox) -> None:
    backup_patch.settings["copies_in_flight"] = 0
    queued = sandbox.run(MACHINE, REQUEST)
    assert queued.status == "SUCCEEDED", queued.cause
    assert queued.output and queued.output["status"] == "Succeeded" and "1 warnings" in queued.output["reason"]
    warned = [c for c in report_of(sandbox, queued.output)["checks"] if c["warning"]]
    assert [c["name"] for c in warned] == [f"rds.cp-{sandbox.primary_id}-{today()}.dr_copy"]
    assert "queued" in warned[0]["detail"]
    assert queued.calls("CopyDBSnapshot") >= 2  # tried again while waiting for the quota
    assert manual_snapshots(dr_rds(sandbox), sandbox.primary_id) == []

    backup_patch.settings["copies_in_flight"] = 20
    later = sandbox.run(MACHINE, REQUEST)
    assert later.status == "SUCCEEDED", later.cause
    assert [s["Status"] for s in manual_snapshots(dr_rds(sandbox), sandbox.primary_id)] == ["available"]


def test_a_throttled_copy_is_retried_and_a_copy_still_in_flight_is_reported(sandbox: Sandbox) -> None:
    fault = sandbox.state.inject("rds", "CopyDBSnapshot", "Throttling", times=6)
    sandbox.state.hold("rds-snapshot-copy", f"cp-{sandbox.primary_id}-{today()}", polls=10_000, status="pending")
    run = sandbox.run(MACHINE, REQUEST)
    assert fault.taken == 6
    assert run.status == "SUCCEEDED", run.cause
    assert "CopyPoll" in run.states_entered
    checks = {c["name"]: c for c in report_of(sandbox, run.output or {})["checks"]}
    copy = checks[f"rds.cp-{sandbox.primary_id}-{today()}.dr_copy"]
    assert copy["warning"] and "pending" in copy["detail"]


def test_suspended_versioning_is_detected_and_repaired_where_the_policy_allows(sandbox: Sandbox) -> None:
    s3 = sandbox.client("s3")
    s3.put_bucket_versioning(Bucket="sip-dev-assets", VersioningConfiguration={"Status": "Suspended"})
    run = sandbox.run(MACHINE, {**REQUEST, "parts": ["buckets"]})
    assert run.status == "SUCCEEDED", run.cause
    checks = {c["name"]: c for c in report_of(sandbox, run.output or {})["checks"]}
    assert checks["s3.sip-dev-assets.versioning"]["detail"] == "versioning was Suspended; re-enabled"
    assert s3.get_bucket_versioning(Bucket="sip-dev-assets")["Status"] == "Enabled"
    assert sandbox.lock_items() == []


def test_a_bucket_without_its_noncurrent_lifecycle_fails_the_run_loudly(sandbox: Sandbox) -> None:
    sandbox.client("s3").delete_bucket_lifecycle(Bucket="sip-dev-backups")
    run = sandbox.run(MACHINE, {**REQUEST, "parts": ["buckets"]})
    assert run.status == "FAILED"
    assert run.error == "IntegrityCheckFailed"
    assert "s3.sip-dev-backups.noncurrent_lifecycle" in (run.cause or "")
    assert any("Failed" in n["Subject"] for n in sandbox.notifications())


def test_backup_waits_for_the_lease_scaling_holds_and_changes_nothing_without_it(sandbox: Sandbox) -> None:
    from controlplane import clock

    store = DynamoLeaseStore(sandbox.resources["StateTable"]["Ref"])
    key = leases.db_instance_key(sandbox.primary_id)
    store.acquire(key, leases.owner_of("scale", "busy-scaling"), 3600, clock.now(), workflow="scale")
    run = sandbox.run(MACHINE, {**REQUEST, "parts": ["rds"]})
    assert run.status == "SUCCEEDED", run.cause
    assert run.output and run.output["status"] == "Blocked"
    assert "LockHeld" in run.output["reason"]
    assert manual_snapshots(sandbox.client("rds"), sandbox.primary_id) == []
    held = store.holder(key)
    assert held is not None and held.owner == "scale/busy-scaling"


@pytest.mark.parametrize(
    "payload",
    [[], {"requester": {"type": "person"}}, {**REQUEST, "parts": ["tapes"]}, {**REQUEST, "dry_run": "maybe"}],
)
def test_malformed_requests_fail_with_a_named_error_and_nothing_is_made(sandbox: Sandbox, payload: Any) -> None:
    run = sandbox.run(MACHINE, payload)
    assert run.status == "FAILED"
    assert run.error == "InvalidRequest"
    assert manual_snapshots(sandbox.client("rds"), sandbox.primary_id) == []
    assert run.calls("CreateDBSnapshot", "CreateSnapshot", "CopySnapshot", "PutObject") == 0


def test_a_dry_run_plans_and_changes_nothing(sandbox: Sandbox) -> None:
    run = sandbox.run(MACHINE, {**REQUEST, "dry_run": True})
    assert run.status == "SUCCEEDED", run.cause
    assert run.output and run.output["status"] == "DryRun"
    assert f"cp-{sandbox.primary_id}-{today()}" in run.output["reason"]
    assert run.calls("CreateDBSnapshot", "CreateSnapshot", "CopyDBSnapshot", "PutObject", "PutBucketVersioning") == 0


def test_stale_automated_backups_break_the_rpo_and_fail_the_run(sandbox: Sandbox) -> None:
    backup_patch.settings["restorable_lag_seconds"] = 3 * 3600
    run = sandbox.run(MACHINE, {**REQUEST, "parts": ["rds"]})
    assert run.status == "FAILED"
    assert f"rds.{sandbox.primary_id}.rpo" in (run.cause or "")


def test_a_copy_refused_for_good_fails_the_run_with_the_reason_in_the_report(sandbox: Sandbox) -> None:
    fault = sandbox.state.inject("rds", "CopyDBSnapshot", "KMSKeyNotAccessibleFault", times=1)
    run = sandbox.run(MACHINE, {**REQUEST, "parts": ["rds"]})
    assert fault.taken == 1
    assert run.status == "FAILED"
    assert run.error == "IntegrityCheckFailed"
    assert "rds.run: ApplyFailed" in (run.cause or "") and "KMSKeyNotAccessibleFault" in (run.cause or "")
    assert [s["DBSnapshotIdentifier"] for s in manual_snapshots(sandbox.client("rds"), sandbox.primary_id)] == [
        f"cp-{sandbox.primary_id}-{today()}"
    ]
    assert sandbox.lock_items() == []


def test_a_snapshot_refused_by_the_quota_is_retried_and_taken_once_there_is_room(sandbox: Sandbox) -> None:
    fault = sandbox.state.inject("rds", "CreateDBSnapshot", "SnapshotQuotaExceeded", times=2)
    run = sandbox.run(MACHINE, {**REQUEST, "parts": ["rds"]})
    assert fault.taken == 2
    assert run.status == "SUCCEEDED", run.cause
    assert run.states_entered.count("RdsSnapshot") == 1  # one state, its Retry made the attempts
    assert [s["DBSnapshotIdentifier"] for s in manual_snapshots(sandbox.client("rds"), sandbox.primary_id)] == [
        f"cp-{sandbox.primary_id}-{today()}"
    ]

"""Recovery in the sandbox: a refused backup restores nothing; a dry run changes nothing; an approved
recovery switches the database record to a verified restore; a rejected one deletes it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cpctl.sandbox import backup_support
from cpctl.sandbox.runtime import Sandbox
from tests.workflows.test_restore_drill import load_known_data

MACHINE = "RecoveryStateMachine"
PERSON = {"type": "person", "id": "oncall"}


@pytest.fixture
def box(postgres_server: Any) -> Iterator[tuple[Sandbox, str]]:
    load_known_data(postgres_server)
    with Sandbox() as sandbox:
        plane = backup_support.attach_database(sandbox, postgres_server)
        try:
            backup = sandbox.run("BackupStateMachine", {"requester": PERSON, "parts": ["rds"]})
            assert backup.status == "SUCCEEDED", backup.cause
            snapshot = sandbox.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"][0]
            yield sandbox, str(snapshot["DBSnapshotIdentifier"])
        finally:
            plane.stop()


def recovered_instances(sandbox: Sandbox) -> list[str]:
    found = sandbox.client("rds").describe_db_instances()["DBInstances"]
    return [
        i["DBInstanceIdentifier"]
        for i in found
        if "-rec-" in i["DBInstanceIdentifier"] and i["DBInstanceStatus"] != "deleting"
    ]


def record_value(sandbox: Sandbox) -> str:
    zone = sandbox.platform_outputs["ReaderHostedZoneId"][1]
    name = sandbox.platform_outputs["DatabaseRecordName"][1]
    records = sandbox.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return next(
        r["ResourceRecords"][0]["Value"] for r in records if r["Name"].rstrip(".") == name and r["Type"] == "CNAME"
    )


def approval_token(sandbox: Sandbox, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for note in sandbox.notifications():
            found = re.search(r"cpctl approve (\S+) ", str(note.get("Message", "")))
            if found:
                return found.group(1)
        time.sleep(0.05)
    raise AssertionError("no approval request was published")


def test_a_backup_that_fails_validation_is_refused_and_nothing_is_restored(box: Any) -> None:
    sandbox, _ = box
    not_ready = f"cp-{sandbox.primary_id}-2020-01-02"
    sandbox.state.hold("rds-snapshot", not_ready, polls=10_000, status="creating")
    sandbox.client("rds").create_db_snapshot(DBInstanceIdentifier=sandbox.primary_id, DBSnapshotIdentifier=not_ready)
    for snapshot in (not_ready, f"cp-{sandbox.primary_id}-2020-01-01", "someone-elses-snapshot"):
        run = sandbox.run(MACHINE, {"requester": PERSON, "snapshot_id": snapshot, "reason": "test"})
        assert run.status == "FAILED"
        assert run.error == "InvalidBackup", (snapshot, run.cause)
        assert run.calls("RestoreDBInstanceFromDBSnapshot") == 0
    assert recovered_instances(sandbox) == []


def test_malformed_or_unattended_requests_are_invalid(box: Any) -> None:
    sandbox, snapshot = box
    for payload in (
        {"requester": PERSON},
        {"requester": {"type": "schedule", "id": "x"}, "snapshot_id": snapshot, "reason": "no"},
    ):
        run = sandbox.run(MACHINE, payload)
        assert run.status == "FAILED" and run.error == "InvalidRequest"
    assert recovered_instances(sandbox) == []


def test_a_dry_run_shows_the_plan_and_changes_nothing(box: Any) -> None:
    sandbox, snapshot = box
    before = record_value(sandbox)
    run = sandbox.run(
        MACHINE, {"requester": PERSON, "snapshot_id": snapshot, "reason": "drill", "switch_dns": True, "dry_run": True}
    )
    assert run.status == "SUCCEEDED", run.cause
    assert run.output and run.output["status"] == "DryRun"
    assert f"would restore {snapshot}" in run.output["reason"] and "switch" in run.output["reason"]
    assert run.calls("RestoreDBInstanceFromDBSnapshot", "ChangeResourceRecordSets") == 0
    assert record_value(sandbox) == before


def test_an_approved_recovery_switches_the_record_to_the_verified_restore(box: Any) -> None:
    sandbox, snapshot = box
    arn = sandbox.start_execution(
        MACHINE, {"requester": PERSON, "snapshot_id": snapshot, "reason": "primary lost", "switch_dns": True}
    )
    token = approval_token(sandbox)
    sandbox.client("stepfunctions").send_task_success(
        taskToken=token, output=json.dumps({"approved": True, "by": "alice", "comment": "go"})
    )
    run = sandbox.wait(arn)
    assert run.status == "SUCCEEDED", run.cause
    assert run.output and run.output["status"] == "Succeeded" and run.output["approved_by"] == "alice"
    [restored] = recovered_instances(sandbox)
    address = sandbox.client("rds").describe_db_instances(DBInstanceIdentifier=restored)["DBInstances"][0]["Endpoint"][
        "Address"
    ]
    assert record_value(sandbox) == address
    assert sandbox.lock_items() == []


def test_a_rejected_switch_deletes_the_restored_instance(box: Any) -> None:
    sandbox, snapshot = box
    before = record_value(sandbox)
    arn = sandbox.start_execution(
        MACHINE, {"requester": PERSON, "snapshot_id": snapshot, "reason": "primary lost", "switch_dns": True}
    )
    token = approval_token(sandbox)
    sandbox.client("stepfunctions").send_task_failure(taskToken=token, error="ApprovalRejected", cause="not now")
    run = sandbox.wait(arn)
    assert run.status == "SUCCEEDED", run.cause
    assert run.output and run.output["status"] == "Blocked" and run.output["error"] == "ApprovalRejected"
    assert recovered_instances(sandbox) == []
    assert record_value(sandbox) == before
    assert sandbox.lock_items() == []


def test_no_answer_within_the_approval_timeout_tears_down_and_switches_nothing(box: Any) -> None:
    """The approval waits ``recovery.approval_timeout_seconds`` (policy) on the control plane's clock; with no
    answer the task fails States.Timeout: the restore is deleted, the record is unchanged, the run fails
    (TimedOut, as ApprovalTimedOut: a Fail state may not name a States.* error) and people are told.
    Regression: the Fail state was given States.Timeout and broke."""
    from controlplane.backup.policy import load_backup_policy

    sandbox, snapshot = box
    before = record_value(sandbox)
    arn = sandbox.start_execution(
        MACHINE, {"requester": PERSON, "snapshot_id": snapshot, "reason": "primary lost", "switch_dns": True}
    )
    token = approval_token(sandbox)
    sandbox.advance_clock(load_backup_policy("dev").recovery.approval_timeout_seconds + 1)
    run = sandbox.wait(arn)
    assert run.status == "FAILED" and run.error == "ApprovalTimedOut", run.cause
    assert "States.Timeout" in (run.cause or "")
    assert "Teardown" in run.states_entered
    assert recovered_instances(sandbox) == []
    assert record_value(sandbox) == before
    assert sandbox.lock_items() == []
    told = [str(n.get("Message", "")) for n in sandbox.notifications()]
    assert token and any("Status: TimedOut" in m and "no approval within" in m for m in told), told

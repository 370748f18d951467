"""The Restore drill in the sandbox against real PostgreSQL: the snapshot is a dump of the source taken
when RDS snapshotted it, the restored endpoint is a new server loaded from it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cpctl.sandbox import backup_support
from cpctl.sandbox.runtime import Sandbox

DRILL = "RestoreDrillStateMachine"
REQUEST = {"requester": {"type": "person", "id": "test"}}


def load_known_data(server: Any, database: str = "sip") -> None:
    with server.connect(database=database) as connection:
        connection.run("DROP TABLE IF EXISTS accounts, opportunities")
        connection.run("CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL)")
        connection.run("CREATE TABLE opportunities (id int PRIMARY KEY, account_id int NOT NULL, amount numeric)")
        connection.run("INSERT INTO accounts SELECT g, 'account ' || g FROM generate_series(1, 1000) g")
        connection.run("INSERT INTO opportunities SELECT g, 1 + g % 1000, g * 10.5 FROM generate_series(1, 2000) g")


@pytest.fixture
def drill_box(postgres_server: Any) -> Iterator[tuple[Sandbox, backup_support.DataPlane]]:
    load_known_data(postgres_server)
    with Sandbox() as box:
        plane = backup_support.attach_database(box, postgres_server)
        try:
            backup = box.run("BackupStateMachine", {**REQUEST, "parts": ["rds"]})
            assert backup.status == "SUCCEEDED", backup.cause
            yield box, plane
        finally:
            plane.stop()


def drill_instances(sandbox: Sandbox) -> list[dict[str, Any]]:
    found = sandbox.client("rds").describe_db_instances()["DBInstances"]
    return [i for i in found if i["DBInstanceIdentifier"].startswith("drill-") and i["DBInstanceStatus"] != "deleting"]


def test_a_drill_restores_verifies_real_data_measures_rto_and_rpo_and_deletes_its_instance(drill_box: Any) -> None:
    sandbox, _ = drill_box
    run = sandbox.run(DRILL, REQUEST)
    assert run.status == "SUCCEEDED", run.cause
    out = run.output or {}
    assert out["status"] == "Succeeded"
    assert out["rto_seconds"] >= 0 and out["rpo_seconds"] >= 0
    checks = {c["name"]: c for c in out["checks"]}
    assert checks["drill.accounts.rows"]["detail"].startswith("1000 rows restored, 1000 in the source")
    assert checks["drill.opportunities.checksum"]["detail"] == "identical to the source"
    assert out["torn_down"] is True, (sandbox.denials(), run.output)
    assert drill_instances(sandbox) == []
    assert sandbox.lock_items() == []
    assert sandbox.denials() == []


def test_a_corrupted_restore_is_caught_and_the_instance_is_still_deleted(drill_box: Any) -> None:
    sandbox, plane = drill_box
    plane.corrupt_next = "accounts"
    run = sandbox.run(DRILL, REQUEST)
    assert run.status == "FAILED"
    assert run.error == "DrillCheckFailed"
    assert "drill.accounts.rows: 950 rows restored, 1000 in the source" in (run.cause or "")
    assert drill_instances(sandbox) == []
    assert sandbox.lock_items() == []


def test_a_restore_that_never_becomes_available_times_out_and_is_deleted(drill_box: Any) -> None:
    sandbox, _ = drill_box
    from controlplane import clock

    instance = f"drill-{sandbox.primary_id}-{clock.now():%Y%m%d%H%M}"
    sandbox.state.hold("rds", instance, polls=10_000, status="creating")
    run = sandbox.run(DRILL, REQUEST)
    assert run.status == "FAILED"
    assert run.error == "RestoreFailed"
    assert "Teardown" in run.states_entered
    assert drill_instances(sandbox) == []


def test_a_drill_of_a_snapshot_that_does_not_exist_is_rejected_and_restores_nothing(drill_box: Any) -> None:
    sandbox, _ = drill_box
    run = sandbox.run(DRILL, {**REQUEST, "snapshot_id": "cp-sip-dev-postgres-1999-01-01"})
    assert run.status == "FAILED"
    assert run.error == "ResourceNotFound"
    assert run.calls("RestoreDBInstanceFromDBSnapshot") == 0


def test_a_verify_step_that_keeps_timing_out_still_deletes_the_drill_instance(drill_box: Any) -> None:
    sandbox, _ = drill_box
    sandbox.interrupt_state(DRILL, "VerifyData", "Sandbox.Timedout", times=10)
    run = sandbox.run(DRILL, REQUEST)
    assert run.status == "FAILED"
    assert run.error == "Sandbox.Timedout"
    assert "Teardown" in run.states_entered
    assert drill_instances(sandbox) == []
    assert sandbox.lock_items() == []

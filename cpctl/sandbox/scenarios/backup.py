"""Backup, restore drills and a dry-run recovery, on real PostgreSQL data (docs/backup.md)."""

from __future__ import annotations

from typing import TextIO

from cpctl.sandbox import backup_support
from cpctl.sandbox.runtime import Sandbox
from cpctl.sandbox.scenarios import Scenario, ScenarioResult

PERSON = {"type": "person", "id": "demo"}


def _load(server: object) -> None:
    with server.connect(database="sip") as connection:  # type: ignore[attr-defined]
        connection.run("CREATE TABLE IF NOT EXISTS accounts (id int PRIMARY KEY, name text NOT NULL)")
        connection.run("CREATE TABLE IF NOT EXISTS opportunities (id int PRIMARY KEY, account_id int, amount numeric)")
        connection.run("TRUNCATE accounts, opportunities")
        connection.run("INSERT INTO accounts SELECT g, 'account ' || g FROM generate_series(1, 1000) g")
        connection.run("INSERT INTO opportunities SELECT g, 1 + g % 1000, g * 10.5 FROM generate_series(1, 2000) g")


def backup_drill_and_recovery(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    from cpctl.sandbox.servers import PostgresServer

    result = ScenarioResult()
    with PostgresServer() as source:
        _load(source)
        plane = backup_support.attach_database(sandbox, source)
        try:
            backup = sandbox.run("BackupStateMachine", {"requester": {"type": "schedule", "id": "daily-backup"}})
            result.reports.append(backup)
            result.expect(backup.outcome == "Succeeded", f"backup: {backup.outcome} {backup.reason}")
            again = sandbox.run("BackupStateMachine", {"requester": PERSON, "reason": "a second run the same day"})
            result.reports.append(again)
            result.expect(again.calls("CopyDBSnapshot") == 0, "the second run copied again")
            drill = sandbox.run("RestoreDrillStateMachine", {"requester": {"type": "schedule", "id": "weekly-drill"}})
            result.reports.append(drill)
            result.expect(drill.outcome == "Succeeded", f"drill: {drill.outcome} {drill.reason}")
            if drill.output:
                result.notes.append(
                    f"restore drill: RTO {drill.output.get('rto_seconds', 0):.1f} s, "
                    f"RPO {drill.output.get('rpo_seconds', 0):.1f} s (real PostgreSQL, restored from a dump)"
                )
            plane.corrupt_next = "accounts"
            corrupted = sandbox.run("RestoreDrillStateMachine", {"requester": PERSON})
            result.reports.append(corrupted)
            result.expect(corrupted.error == "DrillCheckFailed", f"corrupted restore not caught: {corrupted.cause}")
            result.notes.append(f"corrupted restore caught: {(corrupted.cause or '')[:120]}")
            snapshot = f"cp-{sandbox.primary_id}-{backup.output.get('day') if backup.output else ''}"
            recovery = sandbox.run(
                "RecoveryStateMachine",
                {"requester": PERSON, "snapshot_id": snapshot, "reason": "demo", "switch_dns": True, "dry_run": True},
            )
            result.reports.append(recovery)
            result.expect(recovery.outcome == "DryRun", f"recovery dry run: {recovery.outcome} {recovery.reason}")
            drills = [
                i["DBInstanceIdentifier"]
                for i in sandbox.client("rds").describe_db_instances()["DBInstances"]
                if i["DBInstanceIdentifier"].startswith("drill-") and i["DBInstanceStatus"] != "deleting"
            ]
            result.expect(drills == [], f"drill instances left behind: {drills}")
        finally:
            plane.stop()
    return result


SCENARIOS = [
    Scenario(
        "Backup (twice), a restore drill with RTO/RPO, a drill that catches a corrupted restore, a dry-run recovery",
        backup_drill_and_recovery,
    )
]

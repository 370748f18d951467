"""Deterministic names and tags of every backup artefact (one per day, UTC): a re-run the same day
finds what the first run made, so "already there" is success, never a second copy."""

from __future__ import annotations

from datetime import datetime

MANAGED_BY = "controlplane"
PROTECTION_TAGS = {"LegalHold": "true", "Protected": "true"}


def day_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def rds_snapshot_id(db_instance: str, day: str) -> str:
    """Manual snapshot of a DB instance; its DR copy has the same id in the DR region."""
    return f"cp-{db_instance}-{day}"


def is_rds_snapshot_of(snapshot_id: str, db_instance: str) -> bool:
    prefix = f"cp-{db_instance}-"
    rest = snapshot_id.removeprefix(prefix)
    return snapshot_id.startswith(prefix) and len(rest) == 10 and rest[4] == "-" and rest[7] == "-"


def cache_snapshot_name(group: str, day: str) -> str:
    return f"cp-{group}-{day}"


def cache_export_prefix(group: str, day: str) -> str:
    return f"elasticache/{group}/{day}/"


def cache_export_name(group: str, day: str) -> str:
    """CopySnapshot's TargetSnapshotName when exporting: ElastiCache writes ``<name>-<shard>.rdb`` objects."""
    return f"{cache_export_prefix(group, day)}{cache_snapshot_name(group, day)}"


def eks_state_key(cluster: str, day: str) -> str:
    return f"eks/{cluster}/{day}/state.json"


def report_key(day: str, execution: str) -> str:
    return f"reports/backup/{day}/{execution}.json"


def drill_report_key(day: str, execution: str) -> str:
    return f"reports/restore-drill/{day}/{execution}.json"


def drill_instance_id(db_instance: str, moment: datetime) -> str:
    """``drill-<db>-<YYYYMMDDHHMM>``; RDS identifiers are at most 63 characters."""
    return f"drill-{db_instance}-{moment:%Y%m%d%H%M}"[:63]


def recovery_instance_id(db_instance: str, moment: datetime) -> str:
    return f"{db_instance}-rec-{moment:%Y%m%d%H%M}"[:63]


def artefact_tags(source: str, retention: str, workflow: str, execution: str) -> dict[str, str]:
    return {
        "ManagedBy": MANAGED_BY,
        "SourceIdentifier": source,
        "RetentionClass": retention,
        "CreatedBy": f"{workflow}/{execution}"[:256],
    }


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or []}

"""Operator entry points for backups, drills and recovery, as plain functions (the Typer CLI wires them in).

Each starts the workflow's state machine with a validated request and returns the execution ARN; the
workflows themselves validate again (the state machine is the authority). ``arn`` is the state
machine's ARN (stack outputs ``BackupStateMachineArn``, ``RestoreDrillStateMachineArn``,
``RecoveryStateMachineArn``); ``client`` a boto3 Step Functions client (any endpoint: AWS or the sandbox).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

PARTS = ("rds", "cache", "buckets", "eks")


def _start(client: Any, arn: str, prefix: str, payload: dict[str, Any]) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    return str(client.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))["executionArn"])


def _person(who: str) -> dict[str, str]:
    if not who.strip():
        raise ValueError("say who asks (--by)")
    return {"type": "person", "id": who.strip()}


def start_backup(
    client: Any, arn: str, by: str, reason: str = "on demand", parts: list[str] | None = None, dry_run: bool = False
) -> str:
    """Back up now (all parts, or some of ``rds``, ``cache``, ``buckets``, ``eks``)."""
    unknown = sorted(set(parts or []) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown parts {unknown}; known: {list(PARTS)}")
    payload: dict[str, Any] = {"requester": _person(by), "reason": reason, "dry_run": dry_run}
    if parts:
        payload["parts"] = parts
    return _start(client, arn, "backup", payload)


def start_drill(client: Any, arn: str, by: str, snapshot_id: str | None = None, dry_run: bool = False) -> str:
    """Run a restore drill now (the newest daily snapshot unless one is named)."""
    payload: dict[str, Any] = {"requester": _person(by), "dry_run": dry_run}
    if snapshot_id:
        payload["snapshot_id"] = snapshot_id
    return _start(client, arn, "drill", payload)


def start_recovery(
    client: Any, arn: str, by: str, snapshot_id: str, reason: str, switch_dns: bool = False, dry_run: bool = True
) -> str:
    """Recover from a daily snapshot. A dry run unless ``dry_run=False`` is asked for explicitly."""
    payload = {
        "requester": _person(by), "snapshot_id": snapshot_id, "reason": reason,
        "switch_dns": switch_dns, "dry_run": dry_run,
    }  # fmt: skip
    return _start(client, arn, "recovery", payload)

"""cpctl's backup entry points send the requests the workflows accept (checked against their models)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from controlplane.backup.drill import DrillRequest
from controlplane.backup.models import BackupRequest
from controlplane.backup.recovery import RecoveryRequest

from cpctl import backup_commands
from cpctl.sandbox.samples import REPO_ROOT


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def start_execution(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(kwargs)
        return {"executionArn": f"arn:aws:states:us-east-1:1:execution:x:{kwargs['name']}"}


def sent(recorder: Recorder) -> dict[str, Any]:
    return dict(json.loads(recorder.calls[-1]["input"]))


def test_each_entry_point_sends_a_request_its_workflow_accepts() -> None:
    client = Recorder()
    backup_commands.start_backup(client, "arn", by="alice", parts=["rds"], dry_run=True)
    BackupRequest.model_validate({**sent(client), "execution": "e"})
    backup_commands.start_drill(client, "arn", by="alice", snapshot_id="cp-sip-dev-postgres-2026-11-26")
    DrillRequest.model_validate({**sent(client), "execution": "e"})
    backup_commands.start_recovery(
        client, "arn", by="alice", snapshot_id="cp-sip-dev-postgres-2026-11-26", reason="lost"
    )
    request = RecoveryRequest.model_validate({**sent(client), "execution": "e"})
    assert request.dry_run is True  # recovery is a dry run unless asked otherwise


def test_unknown_parts_and_anonymous_requests_are_refused_before_anything_starts() -> None:
    client = Recorder()
    with pytest.raises(ValueError, match="unknown parts"):
        backup_commands.start_backup(client, "arn", by="alice", parts=["tapes"])
    with pytest.raises(ValueError, match="who asks"):
        backup_commands.start_drill(client, "arn", by=" ")
    assert client.calls == []


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("events/backup/daily.json", BackupRequest),
        ("events/backup/on_demand_dry_run.json", BackupRequest),
        ("events/restore-drill/weekly.json", DrillRequest),
        ("events/recovery/dry_run.json", RecoveryRequest),
    ],
)
def test_the_sample_requests_are_valid(path: str, model: Any) -> None:
    model.model_validate({**json.loads((REPO_ROOT / path).read_text()), "execution": "sample"})

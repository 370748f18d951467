"""Time limits of the Backup, Restore drill and Recovery state machines against their policies.

Step Functions ends an execution at its ``TimeoutSeconds`` ("States.Timeout"); whatever was left then
(a drill instance, a lease) is found by its deadline tag or expiry. These rules keep that from happening
on a path the policy allows.
"""

from __future__ import annotations

import json

import pytest
from controlplane.backup.policy import load_backup_policy

from tests.conftest import REPO

ASL = {
    name: json.loads((REPO / "statemachines" / f"{name}.asl.json").read_text())
    for name in ("backup", "restore_drill", "recovery")
}
# Every task before and after the waits, each with its retries at worst (75 s task timeout, a few attempts).
TASKS_MARGIN_SECONDS = 3600


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_longest_backup_branch_fits_the_execution(env: str) -> None:
    pol = load_backup_policy(env)
    rds = pol.rds.snapshot_timeout_seconds + pol.rds.copy_timeout_seconds
    cache = pol.cache.snapshot_timeout_seconds + pol.cache.export_timeout_seconds
    assert max(rds, cache) + TASKS_MARGIN_SECONDS <= ASL["backup"]["TimeoutSeconds"]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_a_drill_instance_outlives_no_drill_and_no_drill_outlives_its_deadline_tag(env: str) -> None:
    """Cleanup deletes a drill instance past its DrillDeadline: the drill must be over by then."""
    pol = load_backup_policy(env)
    timeout = ASL["restore_drill"]["TimeoutSeconds"]
    assert pol.drill.restore_timeout_seconds + TASKS_MARGIN_SECONDS <= timeout
    assert pol.drill.max_duration_seconds >= timeout


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_restore_verify_and_approval_fit_the_recovery_execution(env: str) -> None:
    pol = load_backup_policy(env)
    budget = pol.drill.restore_timeout_seconds + pol.recovery.approval_timeout_seconds + TASKS_MARGIN_SECONDS
    assert budget <= ASL["recovery"]["TimeoutSeconds"]
    approval = ASL["recovery"]["States"]["RequestApproval"]
    assert approval["TimeoutSecondsPath"] == "$.plan.approval_timeout_seconds"

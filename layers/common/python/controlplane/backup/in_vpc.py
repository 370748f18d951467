"""The only steps that log in to a database: the drill's data checks and Recovery's verify and health check.

They run in a function of their own inside the platform's VPC (its security group may reach PostgreSQL
and the Secrets Manager and DynamoDB endpoints, nothing else); every other step calls AWS APIs only and
runs outside the VPC. The endpoints come in the state (read by the poll steps through the RDS API).
"""

from __future__ import annotations

from typing import Any

from controlplane.backup import drill, recovery
from controlplane.backup.policy import backup_policy
from controlplane.config import settings
from controlplane.leases import DynamoLeaseStore
from controlplane.models.errors import InvalidRequest

TASKS = ("drill_verify", "recovery_verify", "recovery_health")


def handle(event: Any) -> Any:
    if not isinstance(event, dict) or event.get("task") not in TASKS:
        raise InvalidRequest(f"the event must name a task, one of {list(TASKS)}")
    task, pol = str(event["task"]), backup_policy()
    raw = event.get("state", {})
    if task == "drill_verify":
        state = drill.DrillState.model_validate(raw)
        return drill.verify_step(state, DynamoLeaseStore(settings().state_table), pol, drill.now_utc())
    rstate = recovery.RecoveryState.model_validate(raw)
    if task == "recovery_verify":
        return [c.model_dump(mode="json") for c in recovery.verify_step(rstate, pol)]
    return recovery.health_step(rstate, pol)

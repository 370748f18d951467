"""RDS storage: grow a DB instance's AllocatedStorage (GiB) within its MaxAllocatedStorage.

Capacity is ``AllocatedStorage``; the ceiling is ``MaxAllocatedStorage`` (storage autoscaling's
limit, which Terraform owns; without it there is no headroom and every growth is refused); the
floor is the current size, since RDS storage never shrinks. RDS rules (USER_PIOPS.ModifyingExisting):

- a growth must be at least 10 percent of the current size (else RDS answers an error);
- after a storage change the instance goes through ``storage-optimization`` and no further storage
  change is allowed for six hours or until that ends, whichever is longer: the policy's cooldown for
  this kind is at least 6 h, the instance must be ``available``, and no storage change may be pending.

Apply is ``ModifyDBInstance(AllocatedStorage, ApplyImmediately=True)``; the same desired size
twice is harmless. Done when the instance reports the new size and is ``available`` (or already
in ``storage-optimization``, when the space is usable).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from controlplane import leases
from controlplane.config import Policy
from controlplane.models.scale import ChangeRecord, GuardCheck, ProgressState, ResourceState, ResourceTarget, ScalePlan
from controlplane.resources import register
from controlplane.resources.base import ScalableResource

_DB_ID = r"^[A-Za-z](-?[A-Za-z0-9])*$"
MIN_GROWTH_PERCENT = 10
STORAGE_WAIT_SECONDS = 6 * 3600
_READY = frozenset({"available", "storage-full"})
_SETTLED = frozenset({"available", "storage-optimization"})
_FAILED = frozenset({"failed", "incompatible-parameters", "inaccessible-encryption-credentials", "restore-error"})


class RdsStorageTarget(ResourceTarget):
    kind: Literal["rds_storage"] = "rds_storage"
    db_instance: str = Field(pattern=_DB_ID, max_length=63, description="DB instance identifier (the primary)")

    @property
    def resource_id(self) -> str:
        return self.db_instance.lower()

    @property
    def lease_key(self) -> str:
        # The same lease as the instance's replicas, rotation and backups: one change at a time.
        return leases.db_instance_key(self.db_instance)


def minimum_growth(current: int) -> int:
    return max(1, math.ceil(current * MIN_GROWTH_PERCENT / 100))


@register
class RdsStorageAdapter(ScalableResource):
    kind = "rds_storage"
    target_model = RdsStorageTarget
    iam_actions = {"read": ("rds:DescribeDBInstances",), "apply": ("rds:ModifyDBInstance",)}
    not_found_codes = frozenset({"DBInstanceNotFound", "DBInstanceNotFoundFault"})

    def _describe(self, target: RdsStorageTarget, action: str) -> dict[str, Any]:
        try:
            response = self.client("rds").describe_db_instances(DBInstanceIdentifier=target.db_instance)
        except Exception as exc:
            raise self.translate(exc, action) from None
        instance: dict[str, Any] = response["DBInstances"][0]
        return instance

    def read(self, target: RdsStorageTarget) -> ResourceState:
        instance = self._describe(target, f"describe DB instance {target.db_instance}")
        allocated = int(instance.get("AllocatedStorage", 0))
        ceiling = int(instance.get("MaxAllocatedStorage") or allocated)
        status = str(instance.get("DBInstanceStatus", "unknown"))
        pending = instance.get("PendingModifiedValues") or {}
        return ResourceState(
            resource_id=target.resource_id,
            capacity=allocated,
            min_capacity=allocated,
            max_capacity=max(ceiling, allocated),
            status=status,
            ready=status in _READY,
            tags={str(t["Key"]): str(t["Value"]) for t in instance.get("TagList") or []},
            details={
                "storage_type": instance.get("StorageType"),
                "pending_storage": pending.get("AllocatedStorage"),
                "max_allocated_storage": instance.get("MaxAllocatedStorage"),
            },
        )

    def guard_checks(self, state: ResourceState, plan: ScalePlan, policy: Policy) -> list[GuardCheck]:
        checks: list[GuardCheck] = []
        if plan.step < 0:
            checks.append(GuardCheck(name="storage_grows_only", passed=False, reason="RDS storage cannot shrink"))
        elif plan.step > 0 and plan.step < minimum_growth(plan.current):
            checks.append(
                GuardCheck(
                    name="storage_min_growth",
                    passed=False,
                    reason=f"+{plan.step} GiB is below RDS's minimum growth of 10%"
                    f" ({minimum_growth(plan.current)} GiB)",
                )
            )
        else:
            checks.append(GuardCheck(name="storage_min_growth", passed=True))
        pending = state.details.get("pending_storage")
        checks.append(
            GuardCheck(name="storage_pending", passed=False, reason=f"a change to {pending} GiB is pending")
            if pending
            else GuardCheck(name="storage_pending", passed=True)
        )
        if state.details.get("max_allocated_storage") is None and plan.step > 0:
            checks.append(
                GuardCheck(
                    name="storage_ceiling",
                    passed=False,
                    reason="no MaxAllocatedStorage on the instance: Terraform gives the control plane no headroom",
                )
            )
        cooldown = policy.for_kind(self.kind).cooldown_seconds
        if cooldown < STORAGE_WAIT_SECONDS:
            checks.append(
                GuardCheck(
                    name="storage_wait",
                    passed=False,
                    reason=f"the policy's cooldown {cooldown}s is shorter than RDS's 6 h between storage changes",
                )
            )
        return checks

    def apply(self, target: RdsStorageTarget, plan: ScalePlan, token: str) -> ChangeRecord:
        try:
            response = self.client("rds").modify_db_instance(
                DBInstanceIdentifier=target.db_instance, AllocatedStorage=plan.desired, ApplyImmediately=True
            )
        except Exception as exc:
            raise self.translate(exc, f"grow storage of {target.db_instance}") from None
        status = response.get("DBInstance", {}).get("DBInstanceStatus")
        return ChangeRecord(token=token, applied_at=datetime.now(UTC), details={"status": status})

    def progress(
        self, target: RdsStorageTarget, plan: ScalePlan, change: ChangeRecord
    ) -> tuple[ProgressState, int, str, str]:
        instance = self._describe(target, f"describe DB instance {target.db_instance}")
        observed = int(instance.get("AllocatedStorage", 0))
        status = str(instance.get("DBInstanceStatus", "unknown"))
        if status in _FAILED:
            return "failed", observed, status, f"DB instance is {status}"
        if status in _SETTLED and observed >= plan.desired:
            return "done", observed, status, f"{observed} GiB allocated ({status})"
        return "in_progress", observed, status, f"DB instance is {status} at {observed} GiB"

"""RDS storage: grow a DB instance's AllocatedStorage (GiB) within its MaxAllocatedStorage.

Capacity is ``AllocatedStorage``; the ceiling stays 10% below ``MaxAllocatedStorage`` (storage
autoscaling's limit, which Terraform owns; RDS requires the maximum storage threshold to be at least
10% above the allocated storage, so asking for exactly the maximum would be refused); without a
maximum there is no headroom and every growth is refused; the floor is the current size, since
RDS storage never shrinks. The instance's read replicas follow: a replica smaller than its primary
fills up first and stops replicating, so each one below the new size grows with it (replicas first).
RDS rules (USER_PIOPS.ModifyingExisting):

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
import os
import re
from typing import Any, Literal

from pydantic import Field

from controlplane import clock, leases
from controlplane.config import MANAGED_DB_INSTANCE, Policy, require_managed
from controlplane.models.scale import ChangeRecord, GuardCheck, ProgressState, ResourceState, ResourceTarget, ScalePlan
from controlplane.resources import register
from controlplane.resources.base import ARN, DB_ANY, DB_PRIMARY, ScalableResource

_DB_ID = r"^[A-Za-z](-?[A-Za-z0-9])*$"
MIN_GROWTH_PERCENT = 10
STORAGE_WAIT_SECONDS = 6 * 3600
_READY = frozenset({"available", "storage-full"})
_SETTLED = frozenset({"available", "storage-optimization"})
_FAILED = frozenset({"failed", "incompatible-parameters", "inaccessible-encryption-credentials", "restore-error"})


ALLOCATED_PARAMETER = (
    f"{ARN}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/sip/${{Environment}}/rds/allocated-storage-gib"
)
STORAGE_ALARM = (
    f"{ARN}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:sip-${{Environment}}-rds-primary-storage-high"
)


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


def storage_ceiling(max_allocated: int, allocated: int) -> int:
    """The largest AllocatedStorage that keeps MaxAllocatedStorage at least 10% above it (USER_PIOPS.Autoscaling:
    "set the maximum storage threshold to at least 10% more than the current allocated storage")."""
    return max(max_allocated * 10 // 11, allocated)  # integer arithmetic: 1100 / 1.1 is 999.99... in floats


_ALLOCATED_GIB = re.compile(r"\(\s*\d+\s*\*\s*1073741824\s*\)")
_ALARM_FIELDS = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "Metrics",
)


def _with_allocated_storage(alarm: dict[str, Any], gib: int) -> dict[str, Any]:
    """PutMetricAlarm parameters of ``alarm`` with its metric-math divisor set to ``gib`` GiB."""
    request = {key: alarm[key] for key in _ALARM_FIELDS if key in alarm}
    request["Metrics"] = [
        {**query, "Expression": _ALLOCATED_GIB.sub(f"({gib} * 1073741824)", query["Expression"])}
        if "Expression" in query
        else query
        for query in alarm.get("Metrics", [])
    ]
    return request


def minimum_growth(current: int) -> int:
    return max(1, math.ceil(current * MIN_GROWTH_PERCENT / 100))


@register
class RdsStorageAdapter(ScalableResource):
    kind = "rds_storage"
    target_model = RdsStorageTarget
    iam = {
        "read": (("rds:DescribeDBInstances", DB_ANY),),
        # The primary and its replicas (<primary>-*), which follow its size; then the storage alarm and
        # the allocated-size parameter it divides by.
        "apply": (
            ("rds:ModifyDBInstance", DB_PRIMARY),
            ("rds:ModifyDBInstance", f"{DB_PRIMARY}-*"),
            ("ssm:PutParameter", ALLOCATED_PARAMETER),
            ("cloudwatch:DescribeAlarms", STORAGE_ALARM),
            ("cloudwatch:PutMetricAlarm", STORAGE_ALARM),
        ),
    }
    not_found_codes = frozenset({"DBInstanceNotFound", "DBInstanceNotFoundFault"})
    busy_codes = frozenset({"InvalidDBInstanceState", "InvalidDBInstanceStateFault"})

    def _describe(self, target: RdsStorageTarget, action: str) -> dict[str, Any]:
        try:
            response = self.client("rds").describe_db_instances(DBInstanceIdentifier=target.db_instance)
        except Exception as exc:
            raise self.translate(exc, action) from None
        instance: dict[str, Any] = response["DBInstances"][0]
        return instance

    def _replicas(self, instance: dict[str, Any], action: str) -> list[dict[str, Any]]:
        """The same-region read replicas of ``instance`` (cross-region ones are listed by ARN)."""
        ids = [str(r) for r in instance.get("ReadReplicaDBInstanceIdentifiers") or [] if not str(r).startswith("arn:")]
        if not ids:
            return []
        try:
            pages = (
                self.client("rds")
                .get_paginator("describe_db_instances")
                .paginate(Filters=[{"Name": "db-instance-id", "Values": sorted(ids)}])
            )
            return [i for page in pages for i in page.get("DBInstances", [])]
        except Exception as exc:
            raise self.translate(exc, action) from None

    def read(self, target: RdsStorageTarget) -> ResourceState:
        require_managed("DB instance", target.db_instance, MANAGED_DB_INSTANCE, derived=True)
        action = f"describe DB instance {target.db_instance}"
        instance = self._describe(target, action)
        allocated = int(instance.get("AllocatedStorage", 0))
        ceiling = storage_ceiling(int(instance.get("MaxAllocatedStorage") or allocated), allocated)
        status = str(instance.get("DBInstanceStatus", "unknown"))
        pending = instance.get("PendingModifiedValues") or {}
        replicas = {
            str(r["DBInstanceIdentifier"]): {
                "allocated": int(r.get("AllocatedStorage", 0)),
                "status": str(r.get("DBInstanceStatus", "unknown")),
                "pending": (r.get("PendingModifiedValues") or {}).get("AllocatedStorage"),
            }
            for r in self._replicas(instance, action)
        }
        return ResourceState(
            resource_id=target.resource_id,
            capacity=allocated,
            min_capacity=allocated,
            max_capacity=ceiling,
            status=status,
            ready=status in _READY,
            tags={str(t["Key"]): str(t["Value"]) for t in instance.get("TagList") or []},
            details={
                "storage_type": instance.get("StorageType"),
                "pending_storage": pending.get("AllocatedStorage"),
                "max_allocated_storage": instance.get("MaxAllocatedStorage"),
                "replicas": replicas,
            },
        )

    def plan_details(self, state: ResourceState, desired: int, policy: Policy) -> dict[str, Any]:
        replicas: dict[str, dict[str, Any]] = state.details.get("replicas", {})
        return {"grow_replicas": sorted(r for r, info in replicas.items() if info["allocated"] < desired)}

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
        replicas: dict[str, dict[str, Any]] = state.details.get("replicas", {})
        busy = sorted(f"{r} is {i['status']}" for r, i in replicas.items() if i["status"] not in _READY or i["pending"])
        if plan.step > 0:
            checks.append(
                GuardCheck(name="replicas_ready", passed=False, reason="; ".join(busy))
                if busy
                else GuardCheck(name="replicas_ready", passed=True, reason=f"{len(replicas)} replica(s) follow")
            )
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
        # Replicas first: a replica must never be smaller than its primary. The same size twice is harmless.
        grown: list[str] = []
        for instance_id in [*plan.details.get("grow_replicas", []), target.db_instance]:
            try:
                self.client("rds").modify_db_instance(
                    DBInstanceIdentifier=instance_id, AllocatedStorage=plan.desired, ApplyImmediately=True
                )
            except Exception as exc:
                raise self.translate(exc, f"grow storage of {instance_id}") from None
            grown.append(instance_id)
        return ChangeRecord(token=token, applied_at=clock.now(), details={"grown": grown})

    def finalize(self, target: RdsStorageTarget, plan: ScalePlan, change: ChangeRecord) -> dict[str, Any]:
        """Keep the storage alarm a percentage of the storage there is now: the allocated size it divides
        by is an SSM parameter (read by the template at deploy time) and the alarm's own expression."""
        parameter = os.environ.get("ALLOCATED_STORAGE_PARAMETER", "")
        alarm_name = os.environ.get("STORAGE_ALARM_NAME", "")
        if not parameter or not alarm_name:
            return {}
        size = str(plan.desired)
        try:
            self.client("ssm").put_parameter(Name=parameter, Value=size, Type="String", Overwrite=True)
            alarms = self.client("cloudwatch").describe_alarms(AlarmNames=[alarm_name]).get("MetricAlarms", [])
            if alarms:
                self.client("cloudwatch").put_metric_alarm(**_with_allocated_storage(alarms[0], plan.desired))
        except Exception as exc:
            raise self.translate(exc, f"update {alarm_name} for {plan.desired} GiB") from None
        return {"storage_alarm": alarm_name, "allocated_gib": plan.desired}

    def progress(
        self, target: RdsStorageTarget, plan: ScalePlan, change: ChangeRecord
    ) -> tuple[ProgressState, int, str, str]:
        action = f"describe DB instance {target.db_instance}"
        instance = self._describe(target, action)
        observed = int(instance.get("AllocatedStorage", 0))
        status = str(instance.get("DBInstanceStatus", "unknown"))
        followers = set(plan.details.get("grow_replicas", []))
        lagging = [
            f"{r['DBInstanceIdentifier']} {r.get('DBInstanceStatus')} at {r.get('AllocatedStorage')} GiB"
            for r in self._replicas(instance, action)
            if r["DBInstanceIdentifier"] in followers
            and not (r.get("DBInstanceStatus") in _SETTLED and int(r.get("AllocatedStorage", 0)) >= plan.desired)
        ]
        if status in _FAILED:
            return "failed", observed, status, f"DB instance is {status}"
        if status in _SETTLED and observed >= plan.desired and not lagging:
            return "done", observed, status, f"{observed} GiB allocated ({status}), replicas too"
        waiting = f"; replicas: {', '.join(lagging)}" if lagging else ""
        return "in_progress", observed, status, f"DB instance is {status} at {observed} GiB{waiting}"

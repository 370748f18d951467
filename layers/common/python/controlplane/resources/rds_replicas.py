"""RDS PostgreSQL read replicas: add replicas of a primary, or remove the ones the control plane added.

Capacity is the number of same-region read replicas of the primary (those not being deleted).
Terraform owns the baseline: every replica *not* tagged ``ManagedBy=controlplane`` counts towards
``min_capacity`` and is never removed. RDS allows at most 15 read replicas per source.

- Scale out creates ``<primary>-cp-<n>`` (lowest free ``n``; deterministic, so a repeated create
  answers DBInstanceAlreadyExists, which is success), with the primary's instance class unless
  the target names one, in the availability zones of the primary's subnet group that hold the
  fewest instances, tagged ``ManagedBy=controlplane`` and with the requester. A replica shares what
  applications and operators rely on with its primary (``replica_settings``): its VPC security groups
  (without them RDS applies the VPC's default group and applications cannot connect), parameter and
  option groups, port, storage type/IOPS/throughput and MaxAllocatedStorage, enhanced monitoring,
  Performance Insights (with its KMS key), IAM authentication, log exports, CA certificate. The
  subnet group and storage encryption key are inherited (a same-region replica may not name them).
  Done when every new replica is ``available`` and its ``ReplicaLag`` (CloudWatch AWS/RDS, Maximum
  per minute over the last few minutes) is below the policy's ``replica_lag_max_seconds``; then
  Finalize publishes it in the reader endpoint.
- Scale in deletes control-plane replicas only, newest first (InstanceCreateTime), never one that is
  itself a replication source (cascading replicas), with SkipFinalSnapshot (required for replicas).
  Prepare first withdraws them from the reader endpoint and the workflow waits the record's TTL, so
  clients stop using a replica before it goes. Done when each is gone (DBInstanceNotFound).

Reader endpoint (docs/adr/0003-scaling-core-hardening.md): a Route 53 weighted CNAME record set in
the platform's private zone, one record per replica (SetIdentifier = the replica id, equal weights),
so applications reading from ``READER_RECORD_NAME`` spread over every replica, new ones included.
Without a configured zone a scale-out is refused: a replica nobody reads from adds only cost.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from controlplane import aws, clock, leases
from controlplane.config import MANAGED_DB_INSTANCE, Policy, require_managed
from controlplane.models.errors import ApplyFailed, InvalidRequest, ResourceNotFound
from controlplane.models.scale import (
    ChangeRecord,
    GuardCheck,
    Prepared,
    ProgressState,
    ResourceState,
    ResourceTarget,
    ScalePlan,
    ScaleRequest,
)
from controlplane.resources import reader_endpoint, register
from controlplane.resources.base import ARN, DB_ANY, DB_PRIMARY, ScalableResource

# RDS identifiers: a letter, then letters, digits and single hyphens; 63 at most. The primary leaves
# room for the "-cp-NN" suffix of its replicas.
_DB_ID = r"^[A-Za-z](?:-?[A-Za-z0-9])*$"
_DB_CLASS = r"^db\.[a-z0-9]+\.[a-z0-9]+$"
MAX_REPLICAS_PER_SOURCE = 15
MANAGED_BY = ("ManagedBy", "controlplane")
LAG_WINDOW = timedelta(minutes=3)
_GONE = frozenset({"deleting"})
_FAILED = frozenset(
    {
        "failed",
        "incompatible-parameters",
        "incompatible-restore",
        "incompatible-network",
        "incompatible-option-group",
        "inaccessible-encryption-credentials",
        "restore-error",
        "storage-full",
    }
)
_TAG_VALUE_UNSAFE = re.compile(r"[^\w .:/=+\-@]")
_OWN_TAGS = frozenset({"ManagedBy", "RequestedBy", "ControlPlaneExecution", "ReplicaOf", "Name"})


RDS = f"{ARN}:rds:${{AWS::Region}}:${{AWS::AccountId}}"
REPLICAS = f"{DB_PRIMARY}-cp-*"
ZONE = f"{ARN}:route53:::hostedzone/${{ReaderHostedZoneId}}"


class RdsReplicasTarget(ResourceTarget):
    kind: Literal["rds_replicas"] = "rds_replicas"
    primary: str = Field(pattern=_DB_ID, max_length=56, description="DB instance identifier of the primary")
    instance_class: str | None = Field(default=None, pattern=_DB_CLASS, description="default: the primary's")

    @property
    def resource_id(self) -> str:
        return self.primary.lower()

    @property
    def lease_key(self) -> str:
        return leases.db_instance_key(self.primary)


def replica_name(primary: str, number: int) -> str:
    return f"{primary.lower()}-cp-{number}"


def _tags(instance: dict[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in instance.get("TagList") or []}


def _is_managed(tags: dict[str, str]) -> bool:
    return tags.get(MANAGED_BY[0]) == MANAGED_BY[1]


def replica_settings(primary: dict[str, Any]) -> dict[str, Any]:
    """What a new read replica must share with its primary, as CreateDBInstanceReadReplica parameters.

    Only settings the primary has are passed (an absent one keeps RDS's default). Not passed: the
    subnet group (a same-region replica may not name one: DBSubnetGroupNotAllowedFault) and the
    storage KmsKeyId (a same-region replica uses its source's key).
    """
    settings: dict[str, Any] = {}
    groups = [
        str(g["VpcSecurityGroupId"]) for g in primary.get("VpcSecurityGroups") or [] if g.get("VpcSecurityGroupId")
    ]
    if groups:
        settings["VpcSecurityGroupIds"] = groups
    parameter_groups = primary.get("DBParameterGroups") or []
    if parameter_groups and parameter_groups[0].get("DBParameterGroupName"):
        settings["DBParameterGroupName"] = str(parameter_groups[0]["DBParameterGroupName"])
    option_groups = primary.get("OptionGroupMemberships") or []
    if option_groups and option_groups[0].get("OptionGroupName"):
        settings["OptionGroupName"] = str(option_groups[0]["OptionGroupName"])
    port = (primary.get("Endpoint") or {}).get("Port") or primary.get("DbInstancePort")
    if port:
        settings["Port"] = int(port)
    for source, target in (
        ("StorageType", "StorageType"),
        ("Iops", "Iops"),
        ("StorageThroughput", "StorageThroughput"),
        ("MaxAllocatedStorage", "MaxAllocatedStorage"),
        ("CACertificateIdentifier", "CACertificateIdentifier"),
        ("AutoMinorVersionUpgrade", "AutoMinorVersionUpgrade"),
        ("IAMDatabaseAuthenticationEnabled", "EnableIAMDatabaseAuthentication"),
    ):
        if primary.get(source) is not None:
            settings[target] = primary[source]
    if int(primary.get("MonitoringInterval") or 0) > 0 and primary.get("MonitoringRoleArn"):
        settings["MonitoringInterval"] = int(primary["MonitoringInterval"])
        settings["MonitoringRoleArn"] = str(primary["MonitoringRoleArn"])
    if primary.get("PerformanceInsightsEnabled"):
        settings["EnablePerformanceInsights"] = True
        if primary.get("PerformanceInsightsKMSKeyId"):
            settings["PerformanceInsightsKMSKeyId"] = str(primary["PerformanceInsightsKMSKeyId"])
        if primary.get("PerformanceInsightsRetentionPeriod"):
            settings["PerformanceInsightsRetentionPeriod"] = int(primary["PerformanceInsightsRetentionPeriod"])
    if primary.get("EnabledCloudwatchLogsExports"):
        settings["EnableCloudwatchLogsExports"] = list(primary["EnabledCloudwatchLogsExports"])
    return settings


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


@register
class RdsReplicasAdapter(ScalableResource):
    kind = "rds_replicas"
    target_model = RdsReplicasTarget
    iam = {
        "read": (("rds:DescribeDBInstances", DB_ANY),),
        "apply": (
            # Authorized on the source, the new replica, and the groups it inherits (og, pg, subgrp).
            ("rds:CreateDBInstanceReadReplica", DB_PRIMARY),
            ("rds:CreateDBInstanceReadReplica", REPLICAS),
            ("rds:CreateDBInstanceReadReplica", f"{RDS}:og:*"),
            ("rds:CreateDBInstanceReadReplica", f"{RDS}:pg:*"),
            ("rds:CreateDBInstanceReadReplica", f"{RDS}:subgrp:*"),
            ("rds:AddTagsToResource", REPLICAS),
            ("rds:DeleteDBInstance", REPLICAS),
            ("kms:CreateGrant", "${RdsKmsKeyArn}"),
            ("kms:DescribeKey", "${RdsKmsKeyArn}"),
            ("iam:PassRole", "${RdsMonitoringRoleArn}"),
            ("route53:ChangeResourceRecordSets", ZONE),
            ("route53:ListResourceRecordSets", ZONE),
        ),
        "verify": (("cloudwatch:GetMetricData", "*"),),
    }
    not_found_codes = frozenset({"DBInstanceNotFound", "DBInstanceNotFoundFault"})

    # --- reading ------------------------------------------------------------------------------

    def _describe(self, action: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every page of DescribeDBInstances (botocore's paginator follows the Marker)."""
        try:
            pages = self.client("rds").get_paginator("describe_db_instances").paginate(**kwargs)
            return [instance for page in pages for instance in page.get("DBInstances", [])]
        except Exception as exc:
            raise self.translate(exc, action) from None

    def _instances(self, ids: list[str], action: str) -> dict[str, dict[str, Any]]:
        """The named instances that exist (one filtered call, no error for missing ones)."""
        if not ids:
            return {}
        found = self._describe(action, Filters=[{"Name": "db-instance-id", "Values": sorted(ids)}])
        return {str(i["DBInstanceIdentifier"]).lower(): i for i in found}

    def read(self, target: RdsReplicasTarget) -> ResourceState:
        require_managed("DB instance", target.primary, MANAGED_DB_INSTANCE)
        action = f"describe DB instance {target.primary}"
        primary = self._describe(action, DBInstanceIdentifier=target.primary)[0]
        source = primary.get("ReadReplicaSourceDBInstanceIdentifier")
        if source:
            raise InvalidRequest(f"{target.primary} is a read replica of {source}; name the primary")
        if primary.get("Engine") != "postgres":
            raise InvalidRequest(f"{target.primary} runs {primary.get('Engine')}; rds_replicas scales PostgreSQL")
        # Cross-region replicas are listed by ARN; they count towards RDS's limit but are not ours to scale.
        listed = [str(r) for r in primary.get("ReadReplicaDBInstanceIdentifiers") or []]
        same_region = [r.lower() for r in listed if not r.startswith("arn:")]
        found = self._instances(same_region, f"describe replicas of {target.primary}")
        replicas = []
        for replica_id in sorted(found):
            instance = found[replica_id]
            tags = _tags(instance)
            replicas.append(
                {
                    "id": replica_id,
                    "status": str(instance.get("DBInstanceStatus", "unknown")),
                    "availability_zone": instance.get("AvailabilityZone"),
                    "instance_class": instance.get("DBInstanceClass"),
                    "created": _iso(instance.get("InstanceCreateTime")),
                    "managed": _is_managed(tags),
                    "replicas": len(instance.get("ReadReplicaDBInstanceIdentifiers") or []),
                }
            )
        live = [r for r in replicas if r["status"] not in _GONE]
        subnets = (primary.get("DBSubnetGroup") or {}).get("Subnets") or []
        zones = sorted({str(s["SubnetAvailabilityZone"]["Name"]) for s in subnets if s.get("SubnetAvailabilityZone")})
        status = str(primary.get("DBInstanceStatus", "unknown"))
        endpoints = {r_id: str((found[r_id].get("Endpoint") or {}).get("Address", "")) for r_id in found}
        return ResourceState(
            resource_id=target.resource_id,
            capacity=len(live),
            min_capacity=sum(1 for r in live if not r["managed"]),
            max_capacity=max(MAX_REPLICAS_PER_SOURCE - (len(listed) - len(same_region)), 0),
            status=status,
            ready=status == "available",
            tags=_tags(primary),
            details={
                "primary": target.resource_id,
                "instance_class": primary.get("DBInstanceClass"),
                "backup_retention_period": int(primary.get("BackupRetentionPeriod") or 0),
                "storage_encrypted": bool(primary.get("StorageEncrypted")),
                "kms_key_id": primary.get("KmsKeyId"),
                "availability_zones": zones or [primary.get("AvailabilityZone")],
                "primary_zones": [
                    z for z in (primary.get("AvailabilityZone"), primary.get("SecondaryAvailabilityZone")) if z
                ],
                "replicas": replicas,
                "replica_settings": replica_settings(primary),
                "endpoints": endpoints,
            },
        )

    # --- planning -----------------------------------------------------------------------------

    def plan(self, request: ScaleRequest, state: ResourceState, policy: Policy) -> ScalePlan:
        plan = super().plan(request, state, policy)
        if plan.step <= 0:
            return plan
        target = request.resource
        assert isinstance(target, RdsReplicasTarget)
        requester = _TAG_VALUE_UNSAFE.sub("_", f"{request.requester.type}:{request.requester.id}")[:256]
        # The platform's own tags (Project, Environment, cost allocation) follow the primary, so the replica
        # is counted in cost reports and matched by the platform's query alarms like the primary.
        inherited = [
            {"Key": k, "Value": v}
            for k, v in sorted(state.tags.items())
            if not k.startswith(("aws:", "controlplane:")) and k not in _OWN_TAGS
        ]
        details = {
            **plan.details,
            "replica_settings": state.details.get("replica_settings", {}),
            "instance_class": target.instance_class or state.details.get("instance_class"),
            "tags": [
                *inherited,
                {"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]},
                {"Key": "RequestedBy", "Value": requester},
                {"Key": "ControlPlaneExecution", "Value": _TAG_VALUE_UNSAFE.sub("_", request.execution)},
                {"Key": "ReplicaOf", "Value": state.resource_id},
            ],
        }
        return plan.model_copy(update={"details": details})

    def plan_details(self, state: ResourceState, desired: int, policy: Policy) -> dict[str, Any]:
        replicas: list[dict[str, Any]] = state.details.get("replicas", [])
        primary = state.resource_id
        if desired > state.capacity:
            taken = {r["id"] for r in replicas}
            zones = [z for z in state.details.get("availability_zones", []) if z]
            load = Counter(dict.fromkeys(zones, 0))
            load.update(z for z in state.details.get("primary_zones", []) if z in load)
            load.update(
                r["availability_zone"] for r in replicas if r["status"] not in _GONE and r["availability_zone"] in load
            )
            create: list[dict[str, Any]] = []
            number = 1
            while len(create) < desired - state.capacity:
                name = replica_name(primary, number)
                number += 1
                if name in taken:
                    continue
                zone = min(zones, key=lambda z: (load[z], z)) if zones else None
                if zone:
                    load[zone] += 1
                create.append({"id": name, "availability_zone": zone})
            lag = policy.for_kind(self.kind).replica_lag_max_seconds
            return {"create": create, "replica_lag_max_seconds": lag}
        if desired < state.capacity:
            removable, kept = [], {}
            for replica in replicas:
                if replica["status"] in _GONE:
                    continue
                if not replica["managed"]:
                    kept[replica["id"]] = "baseline (not ManagedBy=controlplane)"
                elif replica["replicas"]:
                    kept[replica["id"]] = "is itself a replication source"
                elif replica["status"] != "available":
                    kept[replica["id"]] = f"is {replica['status']}"
                else:
                    removable.append(replica)
            removable.sort(key=lambda r: (r["created"], r["id"]), reverse=True)
            return {"remove": [r["id"] for r in removable[: state.capacity - desired]], "kept": kept}
        return {}

    def guard_checks(self, state: ResourceState, plan: ScalePlan, policy: Policy) -> list[GuardCheck]:
        checks: list[GuardCheck] = []
        if plan.step > 0:
            retention = int(state.details.get("backup_retention_period", 0))
            checks.append(
                GuardCheck(name="backups", passed=True, reason=f"backup retention {retention} days")
                if retention > 0
                else GuardCheck(
                    name="backups", passed=False, reason="automated backups are off on the primary (retention 0)"
                )
            )
            reader = reader_endpoint.configured()
            checks.append(
                GuardCheck(name="reader_endpoint", passed=True, reason=f"new replicas join {reader.record_name}")
                if reader is not None
                else GuardCheck(
                    name="reader_endpoint",
                    passed=False,
                    reason="no reader endpoint is configured (READER_HOSTED_ZONE_ID): a replica nobody reads from"
                    " adds only cost",
                )
            )
            threshold = policy.for_kind(self.kind).replica_lag_max_seconds
            checks.append(
                GuardCheck(name="replica_lag_policy", passed=True, reason=f"verify waits for lag < {threshold}s")
                if threshold is not None
                else GuardCheck(
                    name="replica_lag_policy", passed=False, reason="the policy sets no replica_lag_max_seconds"
                )
            )
        if plan.step < 0:
            remove = plan.details.get("remove", [])
            if len(remove) < -plan.step:
                kept = plan.details.get("kept", {})
                why = ", ".join(f"{name} {reason}" for name, reason in sorted(kept.items())) or "none"
                checks.append(
                    GuardCheck(
                        name="removable_replicas",
                        passed=False,
                        reason=f"only {len(remove)} replica(s) may be removed, {-plan.step} asked; kept: {why}",
                    )
                )
            else:
                checks.append(GuardCheck(name="removable_replicas", passed=True, reason=f"removes {', '.join(remove)}"))
        return checks

    def resumes(self, live: ResourceState, plan: ScalePlan) -> bool:
        """A retried apply after some of the planned replicas were created / deleted already."""
        ids = {r["id"] for r in live.details.get("replicas", []) if r["status"] not in _GONE}
        if plan.step > 0:
            planned = {c["id"] for c in plan.details.get("create", [])}
            done = ids & planned
            return bool(done) and live.capacity == plan.current + len(done)
        if plan.step < 0:
            planned = set(plan.details.get("remove", []))
            gone = planned - ids
            return bool(gone) and live.capacity == plan.current - len(gone)
        return False

    # --- the reader endpoint ---------------------------------------------------------------------

    def prepare(self, target: RdsReplicasTarget, plan: ScalePlan) -> Prepared:
        """Before deleting replicas: withdraw them from the reader endpoint; wait its TTL."""
        remove: list[str] = plan.details.get("remove", []) if plan.step < 0 else []
        reader = reader_endpoint.configured()
        if not remove or reader is None:
            return Prepared()
        try:
            withdrawn = reader.withdraw(self.client("route53"), remove)
        except Exception as exc:
            raise self.translate(exc, f"withdraw {', '.join(remove)} from {reader.record_name}") from None
        return Prepared(wait_seconds=reader.ttl_seconds if withdrawn else 0, details={"withdrawn": withdrawn})

    def finalize(self, target: RdsReplicasTarget, plan: ScalePlan, change: ChangeRecord) -> dict[str, Any]:
        """After new replicas are verified: publish them in the reader endpoint (UPSERT, idempotent)."""
        reader = reader_endpoint.configured()
        names = [c["id"] for c in plan.details.get("create", [])] if plan.step > 0 else []
        if not names or reader is None:
            return {}
        found = self._instances(names, f"describe replicas of {target.primary}")
        endpoints = {n: str((found[n].get("Endpoint") or {}).get("Address", "")) for n in names if n in found}
        missing = sorted(n for n in names if not endpoints.get(n))
        if missing:
            raise ApplyFailed(f"no endpoint for {', '.join(missing)}: not published in {reader.record_name}")
        try:
            reader.publish(self.client("route53"), endpoints)
        except Exception as exc:
            raise self.translate(exc, f"publish {', '.join(names)} in {reader.record_name}") from None
        return {"published": sorted(endpoints), "record": reader.record_name}

    # --- applying -----------------------------------------------------------------------------

    def apply(self, target: RdsReplicasTarget, plan: ScalePlan, token: str) -> ChangeRecord:
        if plan.step > 0:
            done, already = self._create(target, plan)
        else:
            done, already = self._delete(target, plan)
        return ChangeRecord(
            token=token,
            applied_at=clock.now(),
            already_applied=not done and bool(already),
            details={"created" if plan.step > 0 else "deleted": done, "already": already},
        )

    def _create(self, target: RdsReplicasTarget, plan: ScalePlan) -> tuple[list[str], list[str]]:
        rds = self.client("rds")
        done: list[str] = []
        already: list[str] = []
        for item in plan.details.get("create", []):
            request: dict[str, Any] = {
                **plan.details.get("replica_settings", {}),
                "DBInstanceIdentifier": item["id"],
                "SourceDBInstanceIdentifier": target.primary,
                "DBInstanceClass": plan.details["instance_class"],
                "MultiAZ": False,
                "PubliclyAccessible": False,
                "CopyTagsToSnapshot": True,
                "DeletionProtection": False,
                "Tags": plan.details.get("tags", [{"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]}]),
            }
            if item.get("availability_zone"):
                request["AvailabilityZone"] = item["availability_zone"]
            try:
                rds.create_db_instance_read_replica(**request)
            except Exception as exc:
                if aws.error_code(exc) != "DBInstanceAlreadyExists":
                    raise self.translate(exc, f"create read replica {item['id']}") from None
                self._require_ours(target, item["id"])
                already.append(item["id"])
            else:
                done.append(item["id"])
        return done, already

    def _require_ours(self, target: RdsReplicasTarget, replica_id: str) -> dict[str, Any]:
        """An existing instance by a planned name must be our replica of this primary, or we stop."""
        instance = self._instances([replica_id], f"describe {replica_id}").get(replica_id)
        if instance is None:
            raise ApplyFailed(f"{replica_id} exists and vanished again; not touching it")
        source = str(instance.get("ReadReplicaSourceDBInstanceIdentifier") or "").lower()
        if source != target.resource_id or not _is_managed(_tags(instance)):
            raise ApplyFailed(f"{replica_id} exists but is not a control-plane replica of {target.primary}")
        return instance

    def _delete(self, target: RdsReplicasTarget, plan: ScalePlan) -> tuple[list[str], list[str]]:
        rds = self.client("rds")
        done: list[str] = []
        already: list[str] = []
        remove: list[str] = plan.details.get("remove", [])
        current = self._instances(remove, f"describe replicas of {target.primary}")
        for replica_id in remove:
            instance = current.get(replica_id)
            if instance is None:
                already.append(replica_id)
                continue
            # Re-checked right before deleting: ours, of this primary, and not a source itself.
            if instance.get("ReadReplicaDBInstanceIdentifiers"):
                raise ApplyFailed(f"{replica_id} became a replication source since it was planned; not deleting")
            source = str(instance.get("ReadReplicaSourceDBInstanceIdentifier") or "").lower()
            if source != target.resource_id or not _is_managed(_tags(instance)):
                raise ApplyFailed(f"{replica_id} is not a control-plane replica of {target.primary}; not deleting")
            if instance.get("DBInstanceStatus") in _GONE:
                already.append(replica_id)
                continue
            try:
                rds.delete_db_instance(DBInstanceIdentifier=replica_id, SkipFinalSnapshot=True)
            except Exception as exc:
                if aws.error_code(exc) in self.not_found_codes:
                    already.append(replica_id)
                    continue
                raise self.translate(exc, f"delete read replica {replica_id}") from None
            done.append(replica_id)
        return done, already

    # --- verifying ----------------------------------------------------------------------------

    def progress(
        self, target: RdsReplicasTarget, plan: ScalePlan, change: ChangeRecord
    ) -> tuple[ProgressState, int, str, str]:
        if plan.step > 0:
            return self._creation_progress(target, plan)
        remove: list[str] = plan.details.get("remove", [])
        present = self._instances(remove, f"describe replicas of {target.primary}")
        gone = [r for r in remove if r not in present]
        observed = plan.current - len(gone)
        if len(gone) == len(remove):
            return "done", observed, "deleted", f"removed {', '.join(remove)}"
        waiting = ", ".join(f"{r} {present[r].get('DBInstanceStatus')}" for r in remove if r in present)
        return "in_progress", observed, "deleting", f"waiting for {waiting}"

    def _creation_progress(self, target: RdsReplicasTarget, plan: ScalePlan) -> tuple[ProgressState, int, str, str]:
        names = [c["id"] for c in plan.details.get("create", [])]
        found = self._instances(names, f"describe replicas of {target.primary}")
        statuses = {n: str(found[n].get("DBInstanceStatus", "unknown")) if n in found else "not-visible" for n in names}
        available = [n for n in names if statuses[n] == "available"]
        observed = plan.current + len(available)
        failed = [f"{n} is {s}" for n, s in statuses.items() if s in _FAILED]
        if failed:
            return "failed", observed, "failed", "; ".join(failed)
        if len(available) < len(names):
            waiting = ", ".join(f"{n} {s}" for n, s in statuses.items() if s != "available")
            return "in_progress", observed, "creating", f"waiting for {waiting}"
        threshold = plan.details.get("replica_lag_max_seconds")
        if not isinstance(threshold, (int, float)):
            raise ApplyFailed("the plan carries no replica_lag_max_seconds (policy for rds_replicas)")
        lags = self._replica_lag(names)
        missing = [n for n in names if lags.get(n) is None]
        if missing:
            return "in_progress", observed, "available", f"no ReplicaLag data yet for {', '.join(missing)}"
        behind = {n: lag for n, lag in lags.items() if lag is not None and lag >= threshold}
        if behind:
            detail = ", ".join(f"{n} {lag:g}s" for n, lag in sorted(behind.items()))
            return "in_progress", observed, "available", f"ReplicaLag at or above {threshold:g}s: {detail}"
        worst = max(lag for lag in lags.values() if lag is not None)
        return "done", observed, "available", f"{len(names)} replica(s) available, ReplicaLag max {worst:g}s"

    def _replica_lag(self, names: list[str]) -> dict[str, float | None]:
        """Maximum ReplicaLag (seconds) per replica over the last few minutes; None without datapoints."""
        return self.recent_maximum("AWS/RDS", "ReplicaLag", "DBInstanceIdentifier", names, LAG_WINDOW)

    def translate(self, exc: Exception, action: str) -> Exception:
        if aws.error_code(exc) in self.not_found_codes and action.startswith("describe DB instance"):
            return ResourceNotFound(f"{action}: no such DB instance")
        return super().translate(exc, action)

"""rds_replicas planning and guards, with fake RDS/CloudWatch clients (no AWS, no moto)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from controlplane.config import load_policy
from controlplane.models.errors import InvalidRequest, ResourceNotFound
from controlplane.models.scale import ChangeRecord, ScaleRequest
from controlplane.resources import adapter_for
from controlplane.resources.rds_replicas import RdsReplicasTarget

PRIMARY = "sip-dev-postgres"
POLICY = load_policy("dev")


class ClientError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


def instance(
    name: str,
    *,
    source: str | None = None,
    managed: bool = True,
    created: str = "2026-11-01",
    status: str = "available",
    az: str = "us-east-1b",
    replicas: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "DBInstanceIdentifier": name,
        "DBInstanceStatus": status,
        "Engine": "postgres",
        "DBInstanceClass": "db.r6g.large",
        "AvailabilityZone": az,
        "InstanceCreateTime": datetime.fromisoformat(created).replace(tzinfo=UTC),
        "ReadReplicaSourceDBInstanceIdentifier": source,
        "ReadReplicaDBInstanceIdentifiers": replicas or [],
        "TagList": [{"Key": "ManagedBy", "Value": "controlplane" if managed else "terraform"}],
    }


class FakeRds:
    def __init__(self, instances: list[dict[str, Any]]) -> None:
        self.instances = {i["DBInstanceIdentifier"]: i for i in instances}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def describe_db_instances(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("describe", kwargs))
        if "DBInstanceIdentifier" in kwargs:
            if kwargs["DBInstanceIdentifier"] not in self.instances:
                raise ClientError("DBInstanceNotFound")
            return {"DBInstances": [self.instances[kwargs["DBInstanceIdentifier"]]]}
        wanted = set(kwargs["Filters"][0]["Values"])
        return {"DBInstances": [i for n, i in self.instances.items() if n in wanted]}

    def get_paginator(self, operation: str) -> Any:
        assert operation == "describe_db_instances"
        fake = self

        class _Paginator:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                return [fake.describe_db_instances(**kwargs)]

        return _Paginator()

    def create_db_instance_read_replica(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("create", kwargs))
        if kwargs["DBInstanceIdentifier"] in self.instances:
            raise ClientError("DBInstanceAlreadyExists")
        return {}

    def delete_db_instance(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("delete", kwargs))
        return {}


class FakeCloudWatch:
    def __init__(self, lag: dict[str, list[float]]) -> None:
        self.lag = lag

    def get_metric_data(self, MetricDataQueries: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        return {
            "MetricDataResults": [
                {"Id": q["Id"], "Values": self.lag.get(q["MetricStat"]["Metric"]["Dimensions"][0]["Value"], [])}
                for q in MetricDataQueries
            ]
        }


def platform(*replicas: dict[str, Any], backups: int = 7, status: str = "available") -> list[dict[str, Any]]:
    primary = instance(PRIMARY, managed=False, az="us-east-1a", replicas=[r["DBInstanceIdentifier"] for r in replicas])
    primary.update(
        BackupRetentionPeriod=backups,
        DBInstanceStatus=status,
        SecondaryAvailabilityZone="us-east-1b",
        DBSubnetGroup={
            "Subnets": [{"SubnetAvailabilityZone": {"Name": z}} for z in ("us-east-1a", "us-east-1b", "us-east-1c")]
        },
    )
    return [primary, *replicas]


def adapter(instances: list[dict[str, Any]], lag: dict[str, list[float]] | None = None) -> tuple[Any, FakeRds]:
    rds = FakeRds(instances)
    cloudwatch = FakeCloudWatch(lag or {})
    return adapter_for("rds_replicas", lambda service: rds if service == "rds" else cloudwatch), rds


def request(**change: Any) -> ScaleRequest:
    return ScaleRequest.model_validate(
        {
            "resource": {"kind": "rds_replicas", "primary": PRIMARY},
            "reason": "unit test",
            "requester": {"type": "person", "id": "alice@example.com"},
            **change,
        }
    )


def planned(instances: list[dict[str, Any]], **change: Any) -> tuple[Any, Any, Any]:
    a, _ = adapter(instances)
    req = request(**change)
    state = a.read(req.resource)
    plan = a.plan(req, state, POLICY)
    return state, plan, {c.name: c for c in a.guard_checks(state, plan, POLICY)}


def test_read_counts_replicas_and_baseline() -> None:
    base = instance(f"{PRIMARY}-tf-1", source=PRIMARY, managed=False)
    ours = instance(f"{PRIMARY}-cp-1", source=PRIMARY)
    leaving = instance(f"{PRIMARY}-cp-2", source=PRIMARY, status="deleting")
    state, _, _ = planned(platform(base, ours, leaving), delta=1)
    assert (state.capacity, state.min_capacity, state.max_capacity) == (2, 1, 15)


def test_scale_out_names_zones_class_and_tags() -> None:
    _state, plan, checks = planned(platform(instance(f"{PRIMARY}-cp-1", source=PRIMARY, az="us-east-1c")), delta=2)
    assert [c["id"] for c in plan.details["create"]] == [f"{PRIMARY}-cp-2", f"{PRIMARY}-cp-3"]
    # a (primary), b (standby), c (cp-1) hold one each: spread a, b in name order.
    assert [c["availability_zone"] for c in plan.details["create"]] == ["us-east-1a", "us-east-1b"]
    assert plan.details["instance_class"] == "db.r6g.large"
    assert {"Key": "RequestedBy", "Value": "person:alice@example.com"} in plan.details["tags"]
    assert plan.details["replica_lag_max_seconds"] == 30
    assert checks["backups"].passed


def test_scale_in_removes_newest_managed_non_source_first() -> None:
    replicas = [
        instance(f"{PRIMARY}-tf-1", source=PRIMARY, managed=False, created="2026-11-05"),
        instance(f"{PRIMARY}-cp-1", source=PRIMARY, created="2026-11-02"),
        instance(f"{PRIMARY}-cp-2", source=PRIMARY, created="2026-11-04", replicas=["cascade"]),
        instance(f"{PRIMARY}-cp-3", source=PRIMARY, created="2026-11-03"),
    ]
    _, plan, checks = planned(platform(*replicas), delta=-2)
    assert plan.details["remove"] == [f"{PRIMARY}-cp-3", f"{PRIMARY}-cp-1"]
    assert checks["removable_replicas"].passed
    _, plan, checks = planned(platform(*replicas), delta=-3)
    assert not checks["removable_replicas"].passed
    assert "is itself a replication source" in checks["removable_replicas"].reason


def test_backups_off_refuses_scale_out() -> None:
    _, _, checks = planned(platform(backups=0), delta=1)
    assert not checks["backups"].passed


def test_target_must_be_a_postgres_primary() -> None:
    replica = instance(f"{PRIMARY}-cp-1", source=PRIMARY)
    a, _ = adapter([*platform(replica)])
    with pytest.raises(InvalidRequest, match="is a read replica"):
        a.read(RdsReplicasTarget(primary=f"{PRIMARY}-cp-1"))
    with pytest.raises(ResourceNotFound):
        a.read(RdsReplicasTarget(primary="nope"))


def test_apply_is_repeat_safe() -> None:
    existing = instance(f"{PRIMARY}-cp-1", source=PRIMARY)
    _state, plan, _ = planned(platform(), delta=2)
    a, rds = adapter(platform(existing))  # cp-1 was created by an earlier attempt
    change = a.apply(RdsReplicasTarget(primary=PRIMARY), plan, "token")
    assert change.details == {"created": [f"{PRIMARY}-cp-2"], "already": [f"{PRIMARY}-cp-1"]}
    creates = [kw for op, kw in rds.calls if op == "create"]
    assert all("KmsKeyId" not in kw and kw["MultiAZ"] is False for kw in creates)


def test_apply_refuses_a_foreign_instance_by_the_planned_name() -> None:
    foreign = instance(f"{PRIMARY}-cp-1", source="other-db")
    _, plan, _ = planned(platform(), delta=1)
    a, _ = adapter(platform(foreign))
    with pytest.raises(Exception, match="not a control-plane replica"):
        a.apply(RdsReplicasTarget(primary=PRIMARY), plan, "token")


def test_resumes_only_with_own_partial_progress() -> None:
    _, plan, _ = planned(platform(), delta=2)
    a, _ = adapter(platform(instance(f"{PRIMARY}-cp-1", source=PRIMARY)))
    assert a.resumes(a.read(RdsReplicasTarget(primary=PRIMARY)), plan)
    a, _ = adapter(platform(instance("someone-else", source=PRIMARY)))
    assert not a.resumes(a.read(RdsReplicasTarget(primary=PRIMARY)), plan)


def test_progress_waits_for_available_and_low_lag() -> None:
    _, plan, _ = planned(platform(), delta=1)
    name = f"{PRIMARY}-cp-1"
    change = ChangeRecord(token="t", applied_at=datetime.now(UTC))
    target = RdsReplicasTarget(primary=PRIMARY)
    a, _ = adapter(platform(instance(name, source=PRIMARY, status="creating")))
    assert a.progress(target, plan, change)[0] == "in_progress"
    a, _ = adapter(platform(instance(name, source=PRIMARY)), lag={})
    assert "no ReplicaLag data" in a.progress(target, plan, change)[3]
    a, _ = adapter(platform(instance(name, source=PRIMARY)), lag={name: [2.0, 45.0]})
    assert a.progress(target, plan, change)[0] == "in_progress"
    a, _ = adapter(platform(instance(name, source=PRIMARY)), lag={name: [2.0, 1.0]})
    assert a.progress(target, plan, change)[:2] == ("done", 1)
    a, _ = adapter(platform(instance(name, source=PRIMARY, status="incompatible-parameters")))
    assert a.progress(target, plan, change)[0] == "failed"


def test_scale_in_progress_done_when_gone() -> None:
    replicas = [
        instance(f"{PRIMARY}-cp-1", source=PRIMARY),
        instance(f"{PRIMARY}-cp-2", source=PRIMARY, created="2026-11-02"),
    ]
    _, plan, _ = planned(platform(*replicas), delta=-1)
    change = ChangeRecord(token="t", applied_at=datetime.now(UTC))
    a, _ = adapter(platform(replicas[0]))
    assert a.progress(RdsReplicasTarget(primary=PRIMARY), plan, change)[:2] == ("done", 1)


def test_replica_lag_exactly_at_the_threshold_is_still_behind() -> None:
    """Verify waits for lag below replica_lag_max_seconds: at the threshold it keeps waiting."""
    _, plan, _ = planned(platform(), delta=1)
    threshold = float(plan.details["replica_lag_max_seconds"])
    name = f"{PRIMARY}-cp-1"
    change = ChangeRecord(token="t", applied_at=datetime.now(UTC))
    target = RdsReplicasTarget(primary=PRIMARY)
    a, _ = adapter(platform(instance(name, source=PRIMARY)), lag={name: [threshold]})
    assert a.progress(target, plan, change)[0] == "in_progress"
    a, _ = adapter(platform(instance(name, source=PRIMARY)), lag={name: [threshold - 0.001]})
    assert a.progress(target, plan, change)[0] == "done"


def test_replica_settings_copy_what_a_replica_shares_with_its_primary() -> None:
    from controlplane.resources.rds_replicas import replica_settings

    primary = {
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-app", "Status": "active"}],
        "DBParameterGroups": [{"DBParameterGroupName": "sip-pg15"}],
        "OptionGroupMemberships": [{"OptionGroupName": "default:postgres-15"}],
        "Endpoint": {"Address": "x", "Port": 5432},
        "StorageType": "gp3",
        "Iops": 3000,
        "StorageThroughput": 125,
        "MaxAllocatedStorage": 500,
        "MonitoringInterval": 60,
        "MonitoringRoleArn": "arn:aws:iam::1:role/mon",
        "PerformanceInsightsEnabled": True,
        "PerformanceInsightsKMSKeyId": "arn:aws:kms:us-east-1:1:key/k",
        "PerformanceInsightsRetentionPeriod": 7,
        "EnabledCloudwatchLogsExports": ["postgresql"],
        "IAMDatabaseAuthenticationEnabled": True,
        "CACertificateIdentifier": "rds-ca-rsa2048-g1",
        "KmsKeyId": "arn:aws:kms:us-east-1:1:key/k",
        "DBSubnetGroup": {"DBSubnetGroupName": "sip"},
    }
    settings = replica_settings(primary)
    assert settings == {
        "VpcSecurityGroupIds": ["sg-app"],
        "DBParameterGroupName": "sip-pg15",
        "OptionGroupName": "default:postgres-15",
        "Port": 5432,
        "StorageType": "gp3",
        "Iops": 3000,
        "StorageThroughput": 125,
        "MaxAllocatedStorage": 500,
        "CACertificateIdentifier": "rds-ca-rsa2048-g1",
        "EnableIAMDatabaseAuthentication": True,
        "MonitoringInterval": 60,
        "MonitoringRoleArn": "arn:aws:iam::1:role/mon",
        "EnablePerformanceInsights": True,
        "PerformanceInsightsKMSKeyId": "arn:aws:kms:us-east-1:1:key/k",
        "PerformanceInsightsRetentionPeriod": 7,
        "EnableCloudwatchLogsExports": ["postgresql"],
    }
    # Same-region replicas may not name a subnet group (DBSubnetGroupNotAllowedFault) and use the
    # source's storage key: neither is passed.
    assert "DBSubnetGroupName" not in settings and "KmsKeyId" not in settings

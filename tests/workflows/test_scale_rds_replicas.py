"""Scale workflow on RDS read replicas, end to end in the sandbox: happy paths, guards, timeout, faults, races."""

from __future__ import annotations

from typing import Any

import pytest

from cpctl.sandbox.runtime import Sandbox
from cpctl.sandbox.scenarios.scale_databases import expire_cooldown, replicas_of, replicas_request
from tests.conftest import assert_blocked

pytestmark = pytest.mark.sandbox
SM = "ScaleStateMachine"
PRIMARY = "sip-dev-postgres"
MUTATING = ("CreateDBInstanceReadReplica", "DeleteDBInstance")


def _backend_db(name: str) -> Any:
    from moto.rds.models import rds_backends

    return rds_backends["123456789012"]["us-east-1"].databases[name]


def _instance(sandbox: Sandbox, name: str) -> dict[str, Any]:
    return dict(sandbox.client("rds").describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0])


def test_replicas_zero_to_two_to_one() -> None:
    with Sandbox() as sandbox:
        sandbox.state.hold("rds", f"{PRIMARY}-cp-1", polls=3, status="creating")
        up = sandbox.run(SM, replicas_request(PRIMARY, "more reads", desired=2))
        assert up.outcome == "Succeeded", up.reason
        assert replicas_of(sandbox, PRIMARY) == [f"{PRIMARY}-cp-1", f"{PRIMARY}-cp-2"]
        primary = _instance(sandbox, PRIMARY)
        zones = set()
        for name in replicas_of(sandbox, PRIMARY):
            replica = _instance(sandbox, name)
            tags = {t["Key"]: t["Value"] for t in replica["TagList"]}
            assert tags["ManagedBy"] == "controlplane"
            assert tags["RequestedBy"] == "person:demo"
            assert replica["DBInstanceClass"] == primary["DBInstanceClass"]
            assert replica["StorageEncrypted"] and replica["KmsKeyId"] == primary["KmsKeyId"]
            zones.add(replica["AvailabilityZone"])
        assert primary["AvailabilityZone"] not in zones and len(zones) == 2
        assert up.states_entered.count("CheckProgress") >= 3
        assert sandbox.lock_items() == []

        expire_cooldown(sandbox, "rds_replicas", PRIMARY)
        sandbox.state.hold("rds", f"{PRIMARY}-cp-2", polls=2, status="deleting")
        down = sandbox.run(SM, replicas_request(PRIMARY, "fewer reads", desired=1))
        assert down.outcome == "Succeeded", down.reason
        assert down.calls("DeleteDBInstance") == 1
        assert replicas_of(sandbox, PRIMARY) == [f"{PRIMARY}-cp-1"]  # newest removed first
        assert sandbox.lock_items() == []


def _blocked(sandbox: Sandbox, payload: dict[str, Any], guard: str) -> None:
    assert_blocked(sandbox.run(SM, payload), guard, MUTATING)


def test_guards_refuse() -> None:
    with Sandbox() as sandbox:
        _blocked(sandbox, replicas_request(PRIMARY, "too big a step", desired=3), "max_step")
        # A baseline replica (Terraform's) is never removed: it sets the floor.
        rds = sandbox.client("rds")
        rds.create_db_instance_read_replica(
            DBInstanceIdentifier=f"{PRIMARY}-tf-1",
            SourceDBInstanceIdentifier=PRIMARY,
            Tags=[{"Key": "ManagedBy", "Value": "terraform"}],
        )
        _blocked(sandbox, replicas_request(PRIMARY, "below baseline", desired=0), "below the minimum 1")
        _blocked(sandbox, replicas_request(PRIMARY, "above policy max", desired=7), "above the maximum 5")
        # Primary not available.
        _backend_db(PRIMARY).status = "modifying"
        _blocked(sandbox, replicas_request(PRIMARY, "primary busy", delta=1), "ready")
        _backend_db(PRIMARY).status = "available"
        # Backups off on the source.
        rds.modify_db_instance(DBInstanceIdentifier=PRIMARY, BackupRetentionPeriod=0, ApplyImmediately=True)
        _blocked(sandbox, replicas_request(PRIMARY, "no backups", delta=1), "backups")


def test_cooldown_and_cascading_source_refused() -> None:
    with Sandbox() as sandbox:
        assert sandbox.run(SM, replicas_request(PRIMARY, "one more", delta=1)).outcome == "Succeeded"
        _blocked(sandbox, replicas_request(PRIMARY, "too soon", delta=-1), "cooldown")
        expire_cooldown(sandbox, "rds_replicas", PRIMARY)
        # cp-1 became a replication source itself (a cascading replica): it must not be removed.
        sandbox.client("rds").create_db_instance_read_replica(
            DBInstanceIdentifier="cascade-1", SourceDBInstanceIdentifier=f"{PRIMARY}-cp-1"
        )
        _blocked(sandbox, replicas_request(PRIMARY, "remove it", delta=-1), "is itself a replication source")


def test_replica_stuck_in_creating_times_out_releases_lock_and_notifies() -> None:
    with Sandbox() as sandbox:
        sandbox.notifications()
        sandbox.state.hold("rds", f"{PRIMARY}-cp-1", polls=100_000, status="creating")
        report = sandbox.run(SM, replicas_request(PRIMARY, "stuck", delta=1))
        assert report.status == "FAILED" and report.error == "VerifyTimeout", (report.error, report.cause)
        assert report.states_entered.count("CheckProgress") == 120  # verify_max_polls in dev.json
        assert "ReleaseLease" in report.states_entered
        assert sandbox.lock_items() == []
        messages = [n.get("Message", "") for n in sandbox.notifications()]
        assert any("TimedOut" in m for m in messages), messages


def test_replica_lag_above_threshold_keeps_verifying_until_timeout() -> None:
    from cpctl.sandbox.moto_patches import rds as rds_patch

    with Sandbox() as sandbox:  # its stop() puts the lag back for the next test
        rds_patch.settings["replica_lag_seconds"] = 300.0
        report = sandbox.run(SM, replicas_request(PRIMARY, "lagging", delta=1))
        assert report.error == "VerifyTimeout"
        assert "ReplicaLag" in (report.cause or "")
    assert rds_patch.settings["replica_lag_seconds"] == 0.5


def test_throttling_is_retried() -> None:
    with Sandbox() as sandbox:
        sandbox.state.inject("rds", "CreateDBInstanceReadReplica", "Throttling", times=5)
        report = sandbox.run(SM, replicas_request(PRIMARY, "throttled", desired=2))
        assert report.outcome == "Succeeded", report.reason
        assert report.calls("CreateDBInstanceReadReplica") >= 7  # 5 throttled + 2 created
        assert replicas_of(sandbox, PRIMARY) == [f"{PRIMARY}-cp-1", f"{PRIMARY}-cp-2"]


def test_throttled_half_way_resumes_instead_of_going_stale() -> None:
    with Sandbox() as sandbox:
        creates = {"n": 0}

        def from_the_second_create(params: dict[str, Any]) -> bool:
            creates["n"] += 1
            return creates["n"] >= 2

        fault = sandbox.state.inject(
            "rds", "CreateDBInstanceReadReplica", "Throttling", times=4, matches=from_the_second_create
        )
        report = sandbox.run(SM, replicas_request(PRIMARY, "half way", desired=2))
        assert report.outcome == "Succeeded", report.reason
        assert fault.taken == 4
        assert replicas_of(sandbox, PRIMARY) == [f"{PRIMARY}-cp-1", f"{PRIMARY}-cp-2"]


@pytest.mark.parametrize(
    "payload",
    [
        replicas_request("bad_name!", "bad identifier", desired=1),
        replicas_request(PRIMARY, "negative", desired=-1),
        {
            **replicas_request(PRIMARY, "unknown field", desired=1),
            "resource": {"kind": "rds_replicas", "primary": PRIMARY, "az": "x"},
        },
        replicas_request(PRIMARY, "bad class", desired=1)
        | {"resource": {"kind": "rds_replicas", "primary": PRIMARY, "instance_class": "large"}},
    ],
)
def test_malformed_input_fails_with_invalid_request(payload: dict[str, Any]) -> None:
    with Sandbox() as sandbox:
        report = sandbox.run(SM, payload)
        assert report.status == "FAILED" and report.error == "InvalidRequest", (report.error, report.cause)
        assert sum(report.calls(op) for op in MUTATING) == 0


def test_two_concurrent_requests_apply_once() -> None:
    with Sandbox() as sandbox:
        sandbox.state.hold("rds", f"{PRIMARY}-cp-1", polls=30, status="creating")
        first = sandbox.start_execution(SM, replicas_request(PRIMARY, "batch A", delta=1))
        second = sandbox.start_execution(SM, replicas_request(PRIMARY, "batch B", delta=1))
        reports = [sandbox.wait(first), sandbox.wait(second)]
        assert sum(r.calls("CreateDBInstanceReadReplica") for r in reports) == 1
        # NoChange is right too: the second may plan before the first applies, then find it done.
        assert sorted(r.outcome for r in reports) in (["Blocked", "Succeeded"], ["NoChange", "Succeeded"])
        assert replicas_of(sandbox, PRIMARY) == [f"{PRIMARY}-cp-1"]
        assert sandbox.lock_items() == []


def _reader_records(sandbox: Sandbox) -> dict[str, str]:
    zone = sandbox.platform_outputs["ReaderHostedZoneId"][1]
    records = sandbox.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {r["SetIdentifier"]: r["ResourceRecords"][0]["Value"] for r in records if r.get("SetIdentifier")}


def test_new_replicas_share_what_applications_need_and_join_the_reader_endpoint() -> None:
    """Without the primary's VPC security groups RDS gives a replica the VPC's default group and
    applications cannot connect; a replica missing from the reader endpoint serves nobody."""
    with Sandbox() as sandbox:
        up = sandbox.run(SM, replicas_request(PRIMARY, "more reads", desired=1))
        assert up.outcome == "Succeeded", up.reason
        assert up.states_entered.index("Finalize") > up.states_entered.index("CheckProgress")
        primary, replica = _instance(sandbox, PRIMARY), _instance(sandbox, f"{PRIMARY}-cp-1")
        for setting in ("VpcSecurityGroups", "DBParameterGroups", "MaxAllocatedStorage", "StorageType"):
            assert replica[setting] == primary[setting], setting
        assert (replica["MonitoringInterval"], replica["MonitoringRoleArn"]) == (60, primary["MonitoringRoleArn"])
        assert replica["EnabledCloudwatchLogsExports"] == primary["EnabledCloudwatchLogsExports"]
        assert _reader_records(sandbox) == {f"{PRIMARY}-cp-1": replica["Endpoint"]["Address"]}

        expire_cooldown(sandbox, "rds_replicas", PRIMARY)
        down = sandbox.run(SM, replicas_request(PRIMARY, "fewer reads", desired=0))
        assert down.outcome == "Succeeded", down.reason
        # Withdrawn first, then the record's TTL waited, then deleted.
        order = down.states_entered
        assert order.index("Prepare") < order.index("WaitPrepared") < order.index("Apply")
        assert _reader_records(sandbox) == {}
        assert replicas_of(sandbox, PRIMARY) == []


def test_without_a_reader_endpoint_a_scale_out_is_refused() -> None:
    with Sandbox() as sandbox:
        from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY

        # As a deployment whose Terraform publishes no reader endpoint would run.
        for function in REGISTRY.functions.values():
            function.environment["READER_RECORD_NAME"] = ""
        _blocked(sandbox, replicas_request(PRIMARY, "more reads", desired=1), "reader_endpoint")

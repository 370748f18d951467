"""Scale workflow on RDS storage, end to end in the sandbox: replicas follow, the alarm stays a percentage."""

from __future__ import annotations

from typing import Any

import pytest

from cpctl.sandbox.runtime import Sandbox
from tests.conftest import assert_blocked, load_event

pytestmark = pytest.mark.sandbox
SM = "ScaleStateMachine"
PRIMARY = "sip-dev-postgres"


def _storage(sandbox: Sandbox, name: str) -> int:
    return int(
        sandbox.client("rds").describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]["AllocatedStorage"]
    )


def _storage_alarm_expression(sandbox: Sandbox) -> str:
    alarm = sandbox.client("cloudwatch").describe_alarms(AlarmNames=["sip-dev-rds-primary-storage-high"])
    return str(next(q["Expression"] for q in alarm["MetricAlarms"][0]["Metrics"] if "Expression" in q))


def test_growth_takes_the_replicas_along_and_keeps_the_alarm_a_percentage(sandbox: Any) -> None:
    from cpctl.sandbox.scenarios.scale_databases import replicas_request

    assert sandbox.run(SM, replicas_request(PRIMARY, "reads", desired=1)).outcome == "Succeeded"
    primary = sandbox.client("rds").describe_db_instances(DBInstanceIdentifier=PRIMARY)["DBInstances"][0]
    followers = list(primary["ReadReplicaDBInstanceIdentifiers"])
    assert followers == [f"{PRIMARY}-cp-1"]
    assert "(100 * 1073741824)" in _storage_alarm_expression(sandbox)
    report = sandbox.run(SM, load_event("scale/rds_storage_grow.json"))
    assert report.outcome == "Succeeded", report.reason
    assert _storage(sandbox, PRIMARY) == 120
    assert all(_storage(sandbox, replica) == 120 for replica in followers)
    assert report.calls("ModifyDBInstance") == 1 + len(followers)
    assert "(120 * 1073741824)" in _storage_alarm_expression(sandbox)
    parameter = sandbox.client("ssm").get_parameter(Name="/sip/dev/rds/allocated-storage-gib")["Parameter"]
    assert parameter["Value"] == "120"
    assert sandbox.lock_items() == []


def test_growth_never_asks_for_the_maximum_itself(sandbox: Any) -> None:
    """MaxAllocatedStorage 500 in dev: the largest size asked for is 454 GiB (RDS wants the maximum
    at least 10% above the allocated storage)."""
    request = {**load_event("scale/rds_storage_grow.json"), "delta": None, "desired": 500}
    request.pop("delta")
    assert_blocked(sandbox.run(SM, request), "bounds", ("ModifyDBInstance",))

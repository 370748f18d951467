"""The template's alarms as CloudWatch evaluates them in AWS (moto accepts what AWS would reject)."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from cpctl.sandbox.runtime import load_tfvars
from cpctl.sandbox.template import load_template
from tests.conftest import REPO

TEMPLATE = load_template(REPO / "template.yaml")
ALARMS = {k: v["Properties"] for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
STATE_MACHINES = [k for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::Serverless::StateMachine"]
SAMCONFIG = tomllib.loads((REPO / "samconfig.toml").read_text())
# Memory of the RDS instance classes the platform uses (GiB), from the RDS instance class table.
INSTANCE_MEMORY_GIB = {
    "db.r6g.large": 16,
    "db.r6g.xlarge": 32,
    "db.r6g.2xlarge": 64,
    "db.r6g.4xlarge": 128,
    "db.r7g.large": 16,
    "db.r7g.xlarge": 32,
    "db.m6g.large": 8,
    "db.m6g.xlarge": 16,
    "db.t4g.medium": 4,
    "db.t4g.large": 8,
}


def _expression(query: dict[str, Any]) -> str:
    value = query.get("Expression", "")
    return str(value.get("Fn::Sub", value) if isinstance(value, dict) else value)


def _query_alarms() -> dict[str, dict[str, Any]]:
    return {
        name: props
        for name, props in ALARMS.items()
        if any("SELECT" in _expression(q) for q in props.get("Metrics", []))
    }


def test_there_are_query_alarms_to_check() -> None:
    assert len(_query_alarms()) >= 5


@pytest.mark.parametrize("name", sorted(_query_alarms()))
def test_query_alarms_look_back_at_most_three_hours(name: str) -> None:
    """CloudWatch: an alarm on a Metrics Insights query evaluates at most the latest 3 hours of data;
    a longer window (Period x EvaluationPeriods) is rejected when the alarm is created."""
    props = ALARMS[name]
    period = max(int(q.get("Period", 60)) for q in props["Metrics"] if "Expression" in q)
    assert period * int(props["EvaluationPeriods"]) <= 3 * 3600


@pytest.mark.parametrize("name", sorted(_query_alarms()))
def test_query_alarms_are_scoped_to_this_platform(name: str) -> None:
    """Without a WHERE, a query alarm aggregates every Redis node or DB instance in the account and region."""
    for query in ALARMS[name]["Metrics"]:
        expression = _expression(query)
        if "SELECT" in expression:
            assert "WHERE tag.Project = '${PlatformProject}' AND tag.Environment = '${Environment}'" in expression


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_memory_alarm_divides_by_the_environments_instance_memory(environment: str) -> None:
    """The memory alarm is a percentage of the instance class's memory: the parameter must be the memory
    of the class Terraform creates in that environment."""
    overrides = SAMCONFIG[environment]["deploy"]["parameters"]["parameter_overrides"]
    memory = int(re.search(r'RdsInstanceMemoryGiB="(\d+)"', overrides).group(1))  # type: ignore[union-attr]
    try:
        tfvars = load_tfvars(environment)
    except FileNotFoundError:
        pytest.skip(f"no {environment}.tfvars yet")
    assert memory == INSTANCE_MEMORY_GIB[tfvars["rds_instance_class"]]


def test_prod_memory_and_storage_alarms_are_percentages() -> None:
    """prod runs db.r6g.xlarge (32 GiB): 80% used is FreeableMemory below 6.4 GiB, not a byte count
    right for one class only; storage is a share of the allocated size the control plane keeps current."""
    memory = ALARMS["RdsPrimaryMemoryHighAlarm"]
    storage = ALARMS["RdsPrimaryStorageHighAlarm"]
    assert (memory["Threshold"], memory["ComparisonOperator"]) == (80, "GreaterThanThreshold")
    assert "${RdsInstanceMemoryGiB} * 1073741824" in _expression(memory["Metrics"][1])
    assert (storage["Threshold"], storage["ComparisonOperator"]) == (75, "GreaterThanThreshold")
    assert "${RdsAllocatedStorageGiB} * 1073741824" in _expression(storage["Metrics"][1])
    overrides = SAMCONFIG["prod"]["deploy"]["parameters"]["parameter_overrides"]
    assert 'RdsInstanceMemoryGiB="32"' in overrides
    assert 'RdsAllocatedStorageGiB="/sip/prod/rds/allocated-storage-gib"' in overrides


@pytest.mark.parametrize("state_machine", STATE_MACHINES)
def test_every_state_machine_alarms_on_failed_timed_out_and_aborted(state_machine: str) -> None:
    """ExecutionsTimedOut and ExecutionsAborted are metrics of their own: a timed-out execution is the
    one that skipped its release and record, so an alarm on ExecutionsFailed alone misses it."""
    covered: set[str] = set()
    for props in ALARMS.values():
        for query in props.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            dimensions = metric.get("Dimensions", [])
            if any(d.get("Value") == {"Ref": state_machine} for d in dimensions):
                covered.add(metric.get("MetricName", ""))
    assert {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"} <= covered, state_machine

"""Faults the sandbox injects: Lambda timeouts and crashes, DynamoDB throttling, EKS ResourceInUse, quotas.

Each test checks that the sandbox answers as AWS does; where today's workflow already handles the
fault, it checks that too (lease released, outcome recorded, nothing half-done that is not reported).
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY
from cpctl.sandbox.runtime import Sandbox
from tests.conftest import client_attempts, load_event

pytestmark = pytest.mark.sandbox
SCALE = "ScaleStateMachine"


def _invocations(execution: str, function: str) -> list[dict[str, Any]]:
    return [i for i in REGISTRY.invocations if i["execution"] == execution and i["function"] == function]


def test_fault_that_is_never_taken_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="never taken"):
        sandbox.state.inject("eks", "DescribeNodegroup", "ThrottlingException", times=0)
    with pytest.raises(ValueError, match="never taken"):
        sandbox.state.interrupt("AnyFunction", times=0)


def test_lambda_timeout_is_answered_as_lambda_does(sandbox: Sandbox) -> None:
    """A timed-out invocation: errorType Sandbox.Timedout, "Task timed out after N.00 seconds"; with a
    direct function ARN as the Task's resource Step Functions reports that errorType as the error, which
    the Apply state retries."""
    apply, sent_by_apply = sandbox.task_of_state(SCALE, "Apply")
    timeout = REGISTRY.resolve(sandbox.resources[apply]["Ref"]).timeout
    sandbox.interrupt_state(SCALE, "Apply", "Sandbox.Timedout")
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    first, *retried = [i for i in _invocations(report.name, apply) if sent_by_apply(i["event"])]
    assert first["error"]["errorType"] == "Sandbox.Timedout"
    assert first["error"]["errorMessage"].endswith(f"Task timed out after {timeout:.2f} seconds")
    assert retried and retried[-1]["ok"]
    assert report.outcome == "Succeeded", (report.error, report.cause)
    assert report.calls("UpdateNodegroupConfig") == 1  # it timed out before its handler changed anything
    assert sandbox.lock_items() == []


def test_a_crash_right_after_the_mutating_call_keeps_the_change_and_loses_the_answer(sandbox: Sandbox) -> None:
    apply, _ = sandbox.task_of_state(SCALE, "Apply")
    sandbox.interrupt_state(SCALE, "Apply", "Runtime.ExitError", after=("eks", "UpdateNodegroupConfig"))
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    [invocation] = [i for i in _invocations(report.name, apply) if not i["ok"]]
    assert invocation["error"]["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error" in invocation["error"]["errorMessage"]
    assert report.calls("UpdateNodegroupConfig") == 1
    assert sandbox.nodegroup("general")["scalingConfig"]["desiredSize"] == 5  # the change was made
    assert report.status == "FAILED" and report.error == "Runtime.ExitError"
    assert sandbox.lock_items() == []


def test_a_dead_invocation_makes_no_further_call(sandbox: Sandbox) -> None:
    """After the process died nothing of the handler reaches AWS, ``finally`` blocks included."""
    from cpctl.sandbox.moto_patches import lambda_bridge

    apply, _ = sandbox.task_of_state(SCALE, "Apply")
    sandbox.interrupt_state(SCALE, "Apply", "Runtime.ExitError", after=("eks", "DescribeNodegroup"))
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    [invocation] = [i for i in _invocations(report.name, apply) if not i["ok"]]
    assert invocation["error"]["errorType"] == "Runtime.ExitError"
    assert report.calls("UpdateNodegroupConfig") == 0
    assert lambda_bridge.current_function() is None


def test_a_handler_that_runs_past_its_timeout_is_timed_out(sandbox: Sandbox) -> None:
    """Lambda stops a function at its Timeout: an Apply whose update call took longer than that is
    answered as timed out, though EKS made the change (the retried Apply then finds it made)."""
    apply, sent_by_apply = sandbox.task_of_state(SCALE, "Apply")
    timeout = REGISTRY.resolve(sandbox.resources[apply]["Ref"]).timeout
    sandbox.state.slow("eks", "UpdateNodegroupConfig", seconds=timeout + 5, function=apply)
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    first, *_ = [i for i in _invocations(report.name, apply) if sent_by_apply(i["event"])]
    assert first["sandbox_seconds"] > timeout
    assert first["error"]["errorType"] == "Sandbox.Timedout"
    assert sandbox.nodegroup("general")["scalingConfig"]["desiredSize"] == 5
    assert report.calls("UpdateNodegroupConfig") == 1
    assert sandbox.lock_items() == []


def test_state_table_throttling(sandbox: Sandbox) -> None:
    """ProvisionedThroughputExceededException on the state table's item calls, past the client's retries."""
    table = sandbox.resources["StateTable"]["Ref"]
    sandbox.state.throttle_table(table, operations=("GetItem",), times=20)
    dynamodb = sandbox.client("dynamodb")
    dynamodb.scan(TableName=table)  # other calls go through
    with pytest.raises(ClientError) as throttled:
        dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "b"}})
    assert throttled.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert sandbox.state.faults_taken("dynamodb", "GetItem") > 1  # the client's own retries were throttled too


def test_a_throttled_state_table_is_retried_by_the_workflow(sandbox: Sandbox) -> None:
    plan = sandbox.function_of_state(SCALE, "Plan")
    attempts = client_attempts(sandbox, plan)
    table = sandbox.resources["StateTable"]["Ref"]
    sandbox.state.throttle_table(table, operations=("GetItem",), times=attempts)
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert sandbox.state.faults_taken("dynamodb", "GetItem") == attempts
    assert report.outcome == "Succeeded", (report.error, report.cause)


def test_eks_resource_in_use_while_an_update_is_in_progress(sandbox: Sandbox) -> None:
    """EKS refuses a node group update while another is in progress (ResourceInUseException, 409)."""
    eks = sandbox.client("eks")
    sandbox.state.hold("eks", "sip-dev/general", polls=3, status="UPDATING")
    eks.update_nodegroup_config(clusterName="sip-dev", nodegroupName="general", scalingConfig={"desiredSize": 4})
    with pytest.raises(ClientError) as busy:
        eks.update_nodegroup_config(clusterName="sip-dev", nodegroupName="general", scalingConfig={"desiredSize": 5})
    assert busy.value.response["Error"]["Code"] == "ResourceInUseException"
    assert busy.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    # Injected, for a workflow test: EKS busy once; the workflow waits and tries again.
    sandbox.state.inject("eks", "UpdateNodegroupConfig", "ResourceInUseException", http_status=409)
    request = {
        **load_event("scale/nodegroup_scale_up.json"),
        "resource": {"kind": "nodegroup", "cluster": "sip-dev", "nodegroup": "cpu_optimized"},
        "desired": 3,
    }
    report = sandbox.run(SCALE, request)
    assert sandbox.state.faults_taken("eks", "UpdateNodegroupConfig") == 1
    assert report.outcome == "Succeeded", (report.error, report.cause)
    assert sandbox.nodegroup("cpu_optimized")["scalingConfig"]["desiredSize"] == 3
    assert sandbox.lock_items() == []


def test_rds_instance_quota(sandbox: Sandbox) -> None:
    rds = sandbox.client("rds")
    existing = len(rds.describe_db_instances()["DBInstances"])
    sandbox.state.set_quota("rds", "db_instances", existing)
    primary = f"{sandbox.tfvars.get('project', 'sip')}-{sandbox.tfvars['environment']}-postgres"
    with pytest.raises(ClientError) as refused:
        rds.create_db_instance_read_replica(DBInstanceIdentifier="one-too-many", SourceDBInstanceIdentifier=primary)
    assert refused.value.response["Error"]["Code"] == "InstanceQuotaExceeded"
    report = sandbox.run(
        SCALE,
        {
            "resource": {"kind": "rds_replicas", "primary": primary},
            "delta": 1,
            "reason": "quota",
            "requester": {"type": "person", "id": "test"},
        },
    )
    assert report.status == "FAILED"
    assert "InstanceQuotaExceeded" in (report.cause or "")
    assert len(rds.describe_db_instances()["DBInstances"]) == existing
    assert sandbox.lock_items() == []


def test_rds_manual_snapshot_quota(sandbox: Sandbox) -> None:
    rds = sandbox.client("rds")
    primary = f"{sandbox.tfvars.get('project', 'sip')}-{sandbox.tfvars['environment']}-postgres"
    sandbox.state.set_quota("rds", "manual_snapshots", 1)
    rds.create_db_snapshot(DBInstanceIdentifier=primary, DBSnapshotIdentifier="first")
    with pytest.raises(ClientError) as refused:
        rds.create_db_snapshot(DBInstanceIdentifier=primary, DBSnapshotIdentifier="second")
    assert refused.value.response["Error"]["Code"] == "SnapshotQuotaExceeded"


def test_quotas_are_only_the_known_ones(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="no quota"):
        sandbox.state.set_quota("rds", "clusters", 1)

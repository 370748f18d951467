"""The Scale state machine on EKS node groups, end to end in the sandbox: real ASL, real handlers."""

from __future__ import annotations

from typing import Any

import pytest

from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY
from cpctl.sandbox.scenarios.scale_nodegroups import nodegroup_request
from tests.conftest import client_attempts, load_event

SCALE = "ScaleStateMachine"
MUTATING = ("UpdateNodegroupConfig",)


def desired(sandbox: Any, nodegroup: str) -> int:
    return int(sandbox.nodegroup(nodegroup)["scalingConfig"]["desiredSize"])


def invocations(execution: str, function: str, task: str | None = None) -> int:
    return sum(
        1
        for i in REGISTRY.invocations
        if i["execution"] == execution
        and i["function"] == function
        and (task is None or (isinstance(i["event"], dict) and i["event"].get("task") == task))
    )


def test_scale_up_waits_until_active_and_records_everywhere(sandbox: Any) -> None:
    sandbox.state.hold("eks", "sip-dev/general", polls=4, status="UPDATING")
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert report.status == "SUCCEEDED"
    assert report.outcome == "Succeeded"
    assert desired(sandbox, "general") == 5
    # Four polls saw UPDATING, the fifth ACTIVE at the desired size.
    assert report.states_entered.count("CheckProgress") == 5
    assert report.states_entered.count("WaitForProgress") == 5
    assert report.calls("UpdateNodegroupConfig") == 1
    assert sandbox.lock_items() == []
    [event] = sandbox.events()
    assert event["source"] == "controlplane"
    assert event["detail"]["status"] == "Succeeded"
    assert event["detail"]["requester"] == {"type": "person", "id": "alice@example.com"}
    [note] = sandbox.notifications()
    assert "Succeeded" in note["Subject"]
    assert [a["status"] for a in sandbox.audit_items()] == ["Succeeded"]


def test_dry_run_returns_the_plan_and_changes_nothing(sandbox: Any) -> None:
    report = sandbox.run(SCALE, load_event("scale/nodegroup_dry_run.json"))
    assert report.outcome == "DryRun"
    assert report.output is not None
    assert (report.output["plan"]["current"], report.output["plan"]["desired"]) == (3, 5)
    assert "AcquireLease" not in report.states_entered
    assert report.calls("UpdateNodegroupConfig") == 0
    assert desired(sandbox, "general") == 3
    assert sandbox.notifications() == []  # dev policy: dry runs are not notified


def test_beyond_max_is_blocked_with_its_reason(sandbox: Any) -> None:
    report = sandbox.run(SCALE, load_event("scale/nodegroup_beyond_max.json"))
    assert report.status == "SUCCEEDED"
    assert report.outcome == "Blocked"
    assert "desired 12 is above the maximum 8" in report.reason
    assert report.calls("UpdateNodegroupConfig") == 0
    [note] = sandbox.notifications()
    assert "Blocked" in note["Subject"]
    assert "above the maximum 8" in note["Message"]


def test_protected_node_group_is_blocked(sandbox: Any) -> None:
    arn = sandbox.nodegroup("general")["nodegroupArn"]
    sandbox.client("eks").tag_resource(resourceArn=arn, tags={"controlplane:protected": "true"})
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert report.outcome == "Blocked"
    assert "controlplane:protected=true" in report.reason
    assert report.calls("UpdateNodegroupConfig") == 0


def test_second_change_inside_the_cooldown_is_blocked(sandbox: Any) -> None:
    assert sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json")).outcome == "Succeeded"
    again = sandbox.run(SCALE, nodegroup_request("sip-dev", "general", "again", desired=6))
    assert again.outcome == "Blocked"
    assert "cooldown" in again.reason
    assert desired(sandbox, "general") == 5


def test_no_change_ends_without_a_lock(sandbox: Any) -> None:
    report = sandbox.run(SCALE, nodegroup_request("sip-dev", "general", "already there", desired=3))
    assert report.outcome == "NoChange"
    assert "AcquireLease" not in report.states_entered


def test_stuck_node_group_times_out_releases_the_lock_and_notifies(sandbox: Any) -> None:
    sandbox.state.hold("eks", "sip-dev/general", polls=10_000, status="UPDATING")
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert report.status == "FAILED"
    assert report.error == "VerifyTimeout"
    assert "(40 polls)" in (report.cause or "") and "still UPDATING after 1200s" in (report.cause or "")
    assert report.states_entered.count("CheckProgress") == 40  # verify_max_polls in policies/dev.json
    assert "ReleaseLease" in report.states_entered
    assert sandbox.lock_items() == []
    [note] = sandbox.notifications()
    assert "TimedOut" in note["Subject"]


def test_apply_refused_by_aws_fails_releases_and_notifies(sandbox: Any) -> None:
    sandbox.state.inject("eks", "UpdateNodegroupConfig", "InvalidParameterException", times=1, message="nope")
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert report.status == "FAILED"
    assert report.error == "ApplyFailed"
    assert sandbox.lock_items() == []
    assert desired(sandbox, "general") == 3
    [note] = sandbox.notifications()
    assert "Failed" in note["Subject"]


def test_throttling_absorbed_by_client_retries(sandbox: Any) -> None:
    sandbox.state.inject("eks", "UpdateNodegroupConfig", "ThrottlingException", times=2)
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert report.outcome == "Succeeded"
    assert report.calls("UpdateNodegroupConfig") == 3  # two throttled attempts, then through
    assert invocations(report.name, "ScaleChangeFunction", "apply") == 1


def test_throttling_beyond_client_retries_is_retried_by_the_state_machine(sandbox: Any) -> None:
    sandbox.state.inject("eks", "UpdateNodegroupConfig", "ThrottlingException", times=6)
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert report.outcome == "Succeeded"
    # Three attempts per invocation (controlplane.aws), then the ASL retries TransientAwsError.
    assert invocations(report.name, "ScaleChangeFunction", "apply") == 3
    assert report.calls("UpdateNodegroupConfig") == 7
    assert desired(sandbox, "general") == 5


def test_throttled_polls_are_retried(sandbox: Any) -> None:
    """A poll throttled past the client's own retries fails the check task with TransientAwsError;
    the state machine's Retry runs it again (without that Retry the execution fails)."""
    check = sandbox.function_of_state(SCALE, "CheckProgress")
    attempts = client_attempts(sandbox, check)
    sandbox.state.hold("eks", "sip-dev/general", polls=2, status="UPDATING")
    fault = sandbox.state.inject("eks", "DescribeNodegroup", "ThrottlingException", times=attempts, function=check)
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert report.outcome == "Succeeded", (report.error, report.cause)
    assert fault.taken == attempts  # every attempt of one invocation was throttled
    failed = [
        i for i in REGISTRY.invocations if i["execution"] == report.name and i["function"] == check and not i["ok"]
    ]
    assert [f["error"]["errorType"] for f in failed] == ["TransientAwsError"]
    assert desired(sandbox, "general") == 5


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (load_event("scale/invalid_negative_size.json"), "InvalidRequest"),
        (load_event("scale/invalid_unknown_nodegroup.json"), "InvalidRequest"),  # not in NodegroupNames
        ({"resource": {"kind": "nodegroup", "cluster": "sip-dev", "nodegroup": "general"}}, "InvalidRequest"),
        ({**load_event("scale/nodegroup_scale_up.json"), "desired": "lots"}, "InvalidRequest"),
        ({**load_event("scale/nodegroup_scale_up.json"), "delta": 2}, "InvalidRequest"),
        ({**load_event("scale/nodegroup_scale_up.json"), "resource": {"kind": "vm", "id": "i-1"}}, "InvalidRequest"),
        ("scale general to 5", "InvalidRequest"),
        ({}, "InvalidRequest"),
    ],
    ids=[
        "negative",
        "unknown-nodegroup",
        "missing-fields",
        "wrong-type",
        "both-sizes",
        "unknown-kind",
        "text",
        "empty",
    ],
)
def test_malformed_input_fails_with_a_named_error_and_changes_nothing(sandbox: Any, payload: Any, error: str) -> None:
    report = sandbox.run(SCALE, payload)
    assert report.status == "FAILED"
    assert report.error == error
    assert report.cause  # the message names the problem
    for operation in MUTATING:
        assert report.calls(operation) == 0
    assert "AcquireLease" not in report.states_entered
    assert [a["status"] for a in sandbox.audit_items()] == ["Rejected"]


@pytest.mark.parametrize(
    ("event", "resource", "service"),
    [
        ("scale/nodegroup_scale_up.json", {"kind": "nodegroup", "cluster": "sip-other", "nodegroup": "general"}, "eks"),
        ("scale/rds_replicas_out.json", {"kind": "rds_replicas", "primary": "billing-postgres"}, "rds"),
        ("scale/rds_storage_grow.json", {"kind": "rds_storage", "db_instance": "billing-postgres"}, "rds"),
        (
            "scale/cache_shards_out.json",
            {"kind": "cache_shards", "replication_group": "sessions-redis", "dimension": "shards"},
            "elasticache",
        ),
    ],
    ids=["cluster", "primary", "storage", "cache-group"],
)
def test_a_resource_this_deployment_does_not_manage_is_refused_by_name(
    sandbox: Any, event: str, resource: dict[str, str], service: str
) -> None:
    """Plan names the mistake before any call to the service (the roles are scoped to the managed resources
    too: without this check the answer was an AccessDenied from the first read)."""
    report = sandbox.run(SCALE, {**load_event(event), "resource": resource})
    assert report.status == "FAILED" and report.error == "InvalidRequest", report.cause
    assert "is not the one this control plane manages" in (report.cause or "")
    assert not [call for call in report.api_calls if call[0] == service], report.api_calls
    assert "AcquireLease" not in report.states_entered
    assert sandbox.denials() == []


def test_unknown_cluster_in_the_roles_scope_is_resource_not_found() -> None:
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox(parameters={"ClusterName": "sip-other"}) as sandbox:  # the role covers sip-other; EKS has none
        payload = {
            **load_event("scale/nodegroup_scale_up.json"),
            "resource": {"kind": "nodegroup", "cluster": "sip-other", "nodegroup": "general"},
        }
        report = sandbox.run(SCALE, payload)
        assert report.status == "FAILED"
        assert report.error == "ResourceNotFound"
        assert report.calls(*MUTATING) == 0


def test_request_overtaken_by_another_change_is_no_change_not_success(sandbox: Any) -> None:
    from controlplane import scaling
    from controlplane.config import load_policy
    from controlplane.store import DynamoStateStore

    store = DynamoStateStore(sandbox.resources["StateTable"]["Ref"], client=sandbox.client("dynamodb"))
    pol = load_policy("dev")
    planned = scaling.plan_step(load_event("scale/nodegroup_scale_up.json"), "slow", store, pol, scaling.now_utc())
    # Someone else moves the group to 5 first.
    sandbox.client("eks").update_nodegroup_config(
        clusterName="sip-dev", nodegroupName="general", scalingConfig={"desiredSize": 5}
    )
    change = scaling.apply_step(planned, store, pol, scaling.now_utc())
    assert change.already_applied and change.applied_by_other
    from controlplane.leases import DynamoLeaseStore

    leases = DynamoLeaseStore(store.table_name, client=store.client)
    scaling.acquire_lock_step(planned, leases, pol, scaling.now_utc())
    progress = scaling.check_step(planned.model_copy(update={"change": change}), leases, pol, scaling.now_utc())
    outcome = scaling.outcome_of(
        planned.model_copy(update={"change": change, "progress": progress}), "slow", scaling.now_utc()
    )
    assert outcome.status == "NoChange"
    assert "another execution" in outcome.reason


def test_two_concurrent_requests_change_the_group_once(sandbox: Any) -> None:
    sandbox.state.hold("eks", "sip-dev/cpu_optimized", polls=5, status="UPDATING")
    first = sandbox.start_execution(SCALE, load_event("scale/nodegroup_delta.json"))
    second = sandbox.start_execution(SCALE, load_event("scale/nodegroup_delta.json"))
    reports = [sandbox.wait(first), sandbox.wait(second)]
    assert sum(r.calls("UpdateNodegroupConfig") for r in reports) == 1
    assert sorted(r.outcome for r in reports) in (["Blocked", "Succeeded"], ["NoChange", "Succeeded"])
    assert desired(sandbox, "cpu_optimized") == 4
    assert sandbox.lock_items() == []


def test_node_group_outside_the_managed_list_is_refused_by_name() -> None:
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox(parameters={"NodegroupNames": "general,spot"}) as sandbox:
        report = sandbox.run(SCALE, load_event("scale/nodegroup_delta.json"))  # cpu_optimized
        assert report.status == "FAILED"
        assert report.error == "InvalidRequest"
        assert "not one this control plane manages" in (report.cause or "")
        assert report.calls("UpdateNodegroupConfig") == 0
        assert desired(sandbox, "cpu_optimized") == 2

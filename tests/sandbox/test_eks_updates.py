"""EKS DescribeUpdate and ListUpdates in the sandbox (moto has neither), per the EKS API reference:
an update is InProgress while the node group is being updated, then Successful, Failed or Cancelled,
with ``errors`` (errorCode, errorMessage, resourceIds) when it did not succeed."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from cpctl.sandbox.runtime import Sandbox

pytestmark = pytest.mark.sandbox
CLUSTER = "sip-dev"


def _update(sandbox: Sandbox, nodegroup: str, desired: int) -> dict[str, Any]:
    answer = sandbox.client("eks").update_nodegroup_config(
        clusterName=CLUSTER, nodegroupName=nodegroup, scalingConfig={"desiredSize": desired}
    )
    return dict(answer["update"])


def _describe(sandbox: Sandbox, nodegroup: str, update_id: str) -> dict[str, Any]:
    answer = sandbox.client("eks").describe_update(name=CLUSTER, updateId=update_id, nodegroupName=nodegroup)
    return dict(answer["update"])


def test_update_is_in_progress_while_held_then_successful(sandbox: Sandbox) -> None:
    sandbox.state.hold("eks", f"{CLUSTER}/general", polls=2, status="UPDATING")
    update = _update(sandbox, "general", 5)
    assert update["status"] == "InProgress" and update["type"] == "ConfigUpdate"
    assert {"type": "DesiredSize", "value": "5"} in update["params"]
    assert [_describe(sandbox, "general", update["id"])["status"] for _ in range(3)] == [
        "InProgress",
        "InProgress",
        "Successful",
    ]
    assert sandbox.nodegroup("general")["status"] == "ACTIVE"
    assert sandbox.nodegroup("general")["scalingConfig"]["desiredSize"] == 5


def test_update_without_a_hold_is_successful_at_once(sandbox: Sandbox) -> None:
    update = _update(sandbox, "general", 4)
    assert update["status"] == "Successful" and update["errors"] == []
    assert _describe(sandbox, "general", update["id"])["status"] == "Successful"


@pytest.mark.parametrize("status", ["Failed", "Cancelled"])
def test_a_failed_or_cancelled_update_reports_its_errors_and_keeps_the_old_size(sandbox: Sandbox, status: str) -> None:
    errors = [{"errorCode": "NodeCreationFailure", "errorMessage": "Unhealthy nodes", "resourceIds": ["i-1"]}]
    sandbox.state.fail_next_update(CLUSTER, "general", status, errors)
    sandbox.state.hold("eks", f"{CLUSTER}/general", polls=1, status="UPDATING")
    update = _update(sandbox, "general", 6)
    assert _describe(sandbox, "general", update["id"])["status"] == "InProgress"
    ended = _describe(sandbox, "general", update["id"])
    assert ended["status"] == status
    assert ended["errors"] == errors
    assert sandbox.nodegroup("general")["scalingConfig"]["desiredSize"] == 3


def test_a_poll_reads_the_hold_once_whatever_it_describes(sandbox: Sandbox) -> None:
    """One Lambda invocation that reads DescribeNodegroup and DescribeUpdate is one poll, not two."""
    from cpctl.sandbox.moto_patches import lambda_bridge

    sandbox.state.hold("eks", f"{CLUSTER}/general", polls=2, status="UPDATING")
    update = _update(sandbox, "general", 5)
    lambda_bridge._current.invocation = "one-poll"
    try:
        assert sandbox.nodegroup("general")["status"] == "UPDATING"
        assert _describe(sandbox, "general", update["id"])["status"] == "InProgress"
        assert sandbox.nodegroup("general")["status"] == "UPDATING"
    finally:
        lambda_bridge._current.invocation = None
    assert sandbox.state.peek_hold("eks", f"{CLUSTER}/general").polls == 1  # type: ignore[union-attr]


def test_list_updates_names_the_node_groups_updates(sandbox: Sandbox) -> None:
    first = _update(sandbox, "general", 4)["id"]
    second = _update(sandbox, "general", 5)["id"]
    _update(sandbox, "spot", 1)
    eks = sandbox.client("eks")
    assert eks.list_updates(name=CLUSTER, nodegroupName="general")["updateIds"] == [first, second]
    paged = eks.list_updates(name=CLUSTER, nodegroupName="general", maxResults=1)
    assert paged["updateIds"] == [first] and paged["nextToken"]
    assert eks.list_updates(name=CLUSTER)["updateIds"] == []  # the cluster's own updates: none


def test_unknown_update_and_unknown_node_group_are_not_found(sandbox: Sandbox) -> None:
    eks = sandbox.client("eks")
    with pytest.raises(ClientError) as missing:
        eks.describe_update(name=CLUSTER, updateId="00000000-0000-0000-0000-000000000000", nodegroupName="general")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as no_group:
        eks.list_updates(name=CLUSTER, nodegroupName="nope")
    assert no_group.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_describe_update_is_authorized_on_the_node_group(sandbox: Sandbox) -> None:
    """eks:DescribeUpdate with a nodegroupName is authorized on the node group's ARN."""
    from cpctl.sandbox.iam_resources import RequestContext, authorizations

    arn = sandbox.nodegroup("general")["nodegroupArn"]
    params = {"name": CLUSTER, "nodegroupName": "general", "updateId": "x"}
    context = RequestContext("eks", "DescribeUpdate", params.get, "123456789012", sandbox.region)
    assert authorizations(context) == [("eks:DescribeUpdate", arn)]


def test_fail_next_update_takes_only_failed_or_cancelled(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="Failed or Cancelled"):
        sandbox.state.fail_next_update(CLUSTER, "general", "Successful")

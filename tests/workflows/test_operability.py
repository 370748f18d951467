"""What people and other systems see of a real execution in the sandbox: the EMF records the handlers
write (as CloudWatch Logs would receive them), the outcome event (valid against the schema registered in
the template), and the notification (resource, change, reason, console link to this very execution)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft4Validator

from cpctl.ops import event_schema
from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY
from tests.conftest import load_event

pytestmark = pytest.mark.sandbox


def _emf(text: str) -> list[dict[str, Any]]:
    records = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            record = json.loads(line)
            for directive in record["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    records.append({"name": metric["Name"], **{d: record[d] for d in directive["Dimensions"][0]}})
    return records


def test_a_scale_is_measured_published_and_told(sandbox: Any) -> None:
    sandbox.events(), sandbox.notifications()  # only this execution's from here on
    REGISTRY.output.seek(0)
    REGISTRY.output.truncate()
    request = load_event("scale/nodegroup_beyond_max.json")  # cpu_optimized to 12: Blocked by the bounds guard
    report = sandbox.run("ScaleStateMachine", request, name="ops-blocked")
    assert report.outcome == "Blocked"

    emitted = _emf(REGISTRY.output.getvalue())
    blocked = [r for r in emitted if r["name"] == "ActionsBlocked"]
    assert blocked == [{"name": "ActionsBlocked", "service": "controlplane", "Workflow": "scale", "Kind": "nodegroup"}]
    assert {r["Guard"] for r in emitted if r["name"] == "GuardTrips"} >= {"bounds"}
    assert any(r["name"] == "ActionDuration" and r["Kind"] == "nodegroup" for r in emitted)
    assert any(r["name"] == "OutcomeBlocked" and r["Workflow"] == "scale" for r in emitted)

    events = [e for e in sandbox.events() if e["detail"].get("execution") == "ops-blocked"]
    assert [e["detail-type"] for e in events] == ["Scale Outcome"]
    assert {"account", "region", "time", "id"} <= set(events[0]), sorted(events[0])
    for name in ("ScaleOutcome", "WorkflowOutcome"):
        Draft4Validator(event_schema.schema(name)).validate(events[0])

    arn = sandbox.state_machine_arn("ScaleStateMachine").replace(":stateMachine:", ":execution:") + ":ops-blocked"
    told = [n for n in sandbox.notifications() if "ops-blocked" in n["Message"]]
    assert len(told) == 1, told
    message = told[0]["Message"]
    assert "Resource: nodegroup sip-dev/cpu_optimized" in message and "Capacity: 2 -> 12" in message
    assert "Reason: " in message and "(beyond the max Terraform set: must end Blocked)" in message
    assert (
        f"Console: https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{arn}"
        in message
    )
    assert told[0]["Subject"].startswith("[dev] scale Blocked: nodegroup sip-dev/cpu_optimized")

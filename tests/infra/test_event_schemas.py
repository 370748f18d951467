"""The control plane's events are registered in the template (EventBridge schema registry) exactly as
the models that produce them say, the schemas are valid JSON Schema draft 4 (the registry's
``JSONSchemaDraft4`` type), and events as ``controlplane.audit`` publishes them validate against them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from controlplane.models.outcome import OutcomeStatus, Requester
from controlplane.models.scale import Outcome
from controlplane.remediation.finish import RemediationOutcome
from jsonschema import Draft4Validator

from cpctl.ops import event_schema
from cpctl.sandbox.template import load_template
from tests.conftest import REPO


def _registered() -> dict[str, dict[str, Any]]:
    resources = load_template(REPO / "template.yaml")["Resources"]
    registries = [lid for lid, spec in resources.items() if spec["Type"] == "AWS::EventSchemas::Registry"]
    assert len(registries) == 1
    schemas = {}
    for spec in resources.values():
        if spec["Type"] != "AWS::EventSchemas::Schema":
            continue
        props = spec["Properties"]
        assert props["RegistryName"] == {"Fn::GetAtt": [registries[0], "RegistryName"]}
        assert props["Type"] == "JSONSchemaDraft4"
        schemas[str(props["SchemaName"]).removeprefix("controlplane@")] = json.loads(props["Content"])
    return schemas


def test_the_template_registers_every_schema_as_the_models_say() -> None:
    registered = _registered()
    assert sorted(registered) == sorted(event_schema.names())
    for name in event_schema.names():
        assert registered[name] == event_schema.schema(name), (
            f"controlplane@{name} in template.yaml is stale: paste `python -m cpctl.ops.event_schema`"
        )


@pytest.mark.parametrize("name", event_schema.names())
def test_schemas_are_valid_draft_4(name: str) -> None:
    Draft4Validator.check_schema(event_schema.schema(name))


def _event(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """An event as EventBridge delivers what ``audit.publish_event`` put."""
    return {
        "version": "0", "id": "7f1c", "detail-type": detail_type, "source": "controlplane",
        "account": "123456789012", "time": "2026-11-27T07:00:00Z", "region": "us-east-1", "resources": [],
        "detail": detail,
    }  # fmt: skip


def test_published_events_validate() -> None:
    now = datetime(2026, 11, 27, 7, tzinfo=UTC)
    scale = Outcome(
        execution="x", status=OutcomeStatus.BLOCKED, reason="cooldown", recorded_at=now, started_at=now,
        kind="nodegroup", resource_id="sip-dev/general", current=3, desired=5,
        requester=Requester(type="alarm", id="sip-dev-eks-cpu-high"), request_reason="cpu high",
    )  # fmt: skip
    body = scale.model_dump(mode="json", exclude_none=True)  # as audit.record publishes it
    Draft4Validator(event_schema.schema("ScaleOutcome")).validate(_event("Scale Outcome", body))
    Draft4Validator(event_schema.schema("WorkflowOutcome")).validate(_event("Scale Outcome", body))
    remediation = RemediationOutcome(
        execution="rem-x", status="Escalated", reason="scale Blocked: cooldown", rule="sip-dev-eks-cpu-high",
        source="cloudwatch", action="scale", resource_key="nodegroup#sip-dev/general", recorded_at=now,
    )  # fmt: skip
    detail = remediation.model_dump(mode="json", exclude_none=True)
    Draft4Validator(event_schema.schema("RemediationOutcome")).validate(_event("Remediation Escalated", detail))


def test_a_wrong_event_is_refused() -> None:
    validator = Draft4Validator(event_schema.schema("WorkflowOutcome"))
    good = {"workflow": "rotation", "execution": "r", "status": "Succeeded", "reason": "ok",
            "recorded_at": "2026-11-27T07:00:00Z", "secret": "db-app"}  # fmt: skip
    validator.validate(_event("Rotation Outcome", good))  # workflows add fields of their own
    assert not validator.is_valid(_event("Rotation Outcome", {**good, "status": "Fine"}))
    assert not validator.is_valid(_event("rotation outcome", good))
    assert not validator.is_valid({**_event("Rotation Outcome", good), "source": "aws.states"})

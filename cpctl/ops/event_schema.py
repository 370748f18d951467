"""The EventBridge events the control plane publishes (``source: controlplane``), as JSON Schema draft 4
documents generated from the pydantic models that produce them, for the schema registry in
``template.yaml`` (``AWS::EventSchemas::Schema``, ``Type: JSONSchemaDraft4``) and docs/events.md.

``python -m cpctl.ops.event_schema`` prints each schema's ``Content`` as the template holds it;
``tests/infra/test_event_schemas.py`` fails when the template's copy differs from the models.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel

SOURCE = "controlplane"


def _models() -> dict[str, tuple[type[BaseModel], str, str]]:
    """Schema name -> (model of ``detail``, ``detail-type`` pattern, what it is)."""
    from controlplane.models.outcome import WorkflowOutcome
    from controlplane.models.scale import Outcome
    from controlplane.remediation.finish import RemediationOutcome

    return {
        "WorkflowOutcome": (
            WorkflowOutcome,
            r"^[A-Z][A-Za-z-]* Outcome$",
            "Every workflow's outcome (Scale Outcome, Rotation Outcome, ...): the fields all share; each "
            "workflow adds its own.",
        ),
        "ScaleOutcome": (Outcome, r"^Scale Outcome$", "The Scale workflow's outcome: capacities, plan, guard checks."),
        "RemediationOutcome": (
            RemediationOutcome,
            r"^Remediation (Remediated|Notified|Escalated)$",
            "How one admitted alarm ended: the action, the Scale execution it ran, what became of the alarm.",
        ),
    }


def _draft4(node: Any) -> Any:
    """pydantic's JSON Schema (2020-12) in draft 4 terms: ``definitions``, ``enum`` for ``const``,
    boolean ``exclusiveMinimum``/``exclusiveMaximum``."""
    if isinstance(node, list):
        return [_draft4(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$defs":
            out["definitions"] = _draft4(value)
        elif key == "const":
            out["enum"] = [value]
        elif key in {"exclusiveMinimum", "exclusiveMaximum"} and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = _draft4(value)
    return out


def schema(name: str) -> dict[str, Any]:
    """The whole event (EventBridge's envelope, ``detail`` as the model) as a draft 4 schema."""
    model, detail_type, description = _models()[name]
    detail = _draft4(model.model_json_schema(ref_template="#/definitions/{model}", mode="serialization"))
    definitions = detail.pop("definitions", {})
    if name == "WorkflowOutcome":
        detail["additionalProperties"] = True  # each workflow's outcome adds fields of its own
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": name,
        "description": description,
        "type": "object",
        "required": ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"],
        "properties": {
            "version": {"type": "string"},
            "id": {"type": "string"},
            "detail-type": {"type": "string", "pattern": detail_type},
            "source": {"type": "string", "enum": [SOURCE]},
            "account": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "detail": detail,
        },
        "definitions": definitions,
    }


def names() -> list[str]:
    return list(_models())


def content(name: str) -> str:
    """The schema as the template's ``Content`` string."""
    return json.dumps(schema(name), indent=2, sort_keys=True)


def template_resources() -> str:
    """The schemas as template resources (what to paste into template.yaml when a model changed)."""
    lines: list[str] = []
    for name in names():
        lines += [
            f"  {name}EventSchema:",
            "    Type: AWS::EventSchemas::Schema",
            "    Properties:",
            "      RegistryName: !GetAtt EventSchemaRegistry.RegistryName",
            f"      SchemaName: {SOURCE}@{name}",
            "      Type: JSONSchemaDraft4",
            f"      Description: {json.dumps(_models()[name][2])}",
            "      Content: |",
            *("        " + line for line in content(name).splitlines()),
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(template_resources())

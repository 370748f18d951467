"""Deploying the template's operability resources into the sandbox: the CloudWatch dashboard, and the
EventBridge schema registry that documents the control plane's events.

The dashboard is created with ``PutDashboard`` after its body has been resolved and parsed as JSON (a
body CloudWatch would refuse fails the deploy here, not in AWS). moto has no EventSchemas service: the
registry and its schemas are checked as CloudFormation and EventBridge would check them (a registry
name, an ``OpenApi3`` or ``JSONSchemaDraft4`` document that parses) and kept in the sandbox as
deployed resources with the ARNs AWS gives them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cpctl.sandbox.template import Resolver, TemplateError

if TYPE_CHECKING:
    from cpctl.sandbox.runtime import Sandbox

Creator = Callable[[str, dict[str, Any], Resolver], dict[str, str]]
SCHEMA_TYPES = frozenset({"OpenApi3", "JSONSchemaDraft4"})


def creators(sandbox: Sandbox) -> dict[str, Creator]:
    """Creators in deploy order (after alarms and queues, which the dashboard names)."""

    def dashboard(logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        body = str(p["DashboardBody"])
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"{logical_id}: DashboardBody is not JSON after substitution: {exc}") from None
        if not isinstance(parsed.get("widgets"), list):
            raise TemplateError(f"{logical_id}: DashboardBody has no widgets list")
        name = str(p.get("DashboardName") or f"{r.stack_name}-{logical_id}")
        sandbox.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=body)
        return {"Ref": name}

    def registry(logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        name = str(p.get("RegistryName") or f"{r.stack_name}-{logical_id}")
        arn = f"arn:aws:schemas:{r.region}:{r.account_id}:registry/{name}"
        sandbox.event_schemas[name] = {}
        return {"Ref": arn, "RegistryArn": arn, "RegistryName": name}

    def schema(logical_id: str, props: dict[str, Any], r: Resolver) -> dict[str, str]:
        p = r.resolve(props)
        registry_name, kind = str(p["RegistryName"]), str(p["Type"])
        if registry_name not in sandbox.event_schemas:
            raise TemplateError(f"{logical_id}: no registry {registry_name!r} deployed before it")
        if kind not in SCHEMA_TYPES:
            raise TemplateError(f"{logical_id}: Type must be one of {sorted(SCHEMA_TYPES)}, not {kind!r}")
        try:
            content = json.loads(str(p["Content"]))
        except json.JSONDecodeError as exc:
            raise TemplateError(f"{logical_id}: Content is not JSON: {exc}") from None
        name = str(p.get("SchemaName") or logical_id)
        sandbox.event_schemas[registry_name][name] = content
        arn = f"arn:aws:schemas:{r.region}:{r.account_id}:schema/{registry_name}/{name}"
        return {"Ref": arn, "SchemaArn": arn, "SchemaName": name, "SchemaVersion": "1"}

    return {
        "AWS::CloudWatch::Dashboard": dashboard,
        "AWS::EventSchemas::Registry": registry,
        "AWS::EventSchemas::Schema": schema,
    }

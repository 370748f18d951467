"""IAM in the sandbox, on modified copies of template.yaml: a missing grant fails as it would in AWS.

Each test deploys its own copy (one sandbox at a time per process: not beside a module-wide one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cpctl.sandbox.runtime import Sandbox
from tests.conftest import REPO, load_event, template_copy, without_action

pytestmark = pytest.mark.sandbox
SCALE = "ScaleStateMachine"


def test_a_missing_grant_reaches_the_workflow_as_access_denied(tmp_path: Path) -> None:
    path = template_copy(tmp_path, without_action("eks:UpdateNodegroupConfig"))
    with Sandbox(template_path=path) as sandbox:
        report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
        assert report.status == "FAILED", report.outcome
        assert "AccessDenied" in (report.cause or "")
        assert sandbox.nodegroup("general")["scalingConfig"]["desiredSize"] == 3
        assert sandbox.lock_items() == []
        [denied] = [d for d in sandbox.denials() if d.action == "eks:UpdateNodegroupConfig"]
        assert ":nodegroup/sip-dev/general/" in denied.resource
        assert "assumed-role/" in denied.principal
        # Each function that called AWS did so through a session of its own role, not a shared one.
        from cpctl.sandbox.moto_patches.lambda_bridge import REGISTRY

        used = [f for f in REGISTRY.functions.values() if f.sessions]
        assert len(used) >= 2
        for function in used:
            keys = {s.get_credentials().access_key for s in function.sessions}
            assert keys == {function.environment["AWS_ACCESS_KEY_ID"]}, function.logical_id


def test_a_state_machine_without_invoke_permission_cannot_run_the_task(tmp_path: Path) -> None:
    """The state machine's role needs lambda:InvokeFunction on each function it calls (LambdaInvokePolicy)."""

    def edit(template: dict[str, Any]) -> None:
        machine = template["Resources"][SCALE]["Properties"]
        first_state = json.loads((REPO / machine["DefinitionUri"]).read_text())["StartAt"]
        placeholder = json.loads((REPO / machine["DefinitionUri"]).read_text())["States"][first_state]["Resource"]
        function = machine["DefinitionSubstitutions"][placeholder.strip("${}")]["Fn::GetAtt"][0]
        machine["Policies"] = [
            p for p in machine["Policies"] if p != {"LambdaInvokePolicy": {"FunctionName": {"Ref": function}}}
        ]

    with Sandbox(template_path=template_copy(tmp_path, edit)) as sandbox:
        report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
        assert report.status == "FAILED"
        denied = [d for d in sandbox.denials() if d.action == "lambda:InvokeFunction"]
        assert denied and "assumed-role/" in denied[0].principal
        assert report.calls("UpdateNodegroupConfig") == 0

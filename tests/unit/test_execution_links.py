"""Every workflow's notification links its execution in the console, whether or not its record step was
given ``$$.Execution.Id``: the ARN follows from the state machines' naming pattern (template.yaml) and the
partition, region and account of the control plane's topic."""

from __future__ import annotations

import importlib
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from controlplane import audit
from controlplane.config import Settings
from controlplane.console import execution_arn_of
from controlplane.models.outcome import OutcomeStatus, WorkflowOutcome

from cpctl.sandbox.template import load_template
from tests.conftest import REPO

TEMPLATE = load_template(REPO / "template.yaml")
PATTERN = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["STATE_MACHINE_NAME_PATTERN"]["Fn::Sub"]
TOPIC = "arn:aws:sns:eu-west-1:123456789012:sip-controlplane-notify-dev"
OUTCOME_MODULES = [
    "controlplane.models.scale",
    "controlplane.remediation.finish",
    "controlplane.rotation.models",
    "controlplane.backup.models",
    "controlplane.backup.drill",
    "controlplane.backup.recovery",
    "controlplane.cleanup.models",
    "controlplane.costreview.models",
    "controlplane.deploy.models",
]


def _outcome_workflows() -> set[str]:
    for module in OUTCOME_MODULES:
        importlib.import_module(module)
    found: set[str] = set()
    pending: list[type[WorkflowOutcome]] = list(WorkflowOutcome.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        default = cls.model_fields["workflow"].default
        if isinstance(default, str):
            found.add(default)
    return found


def test_every_state_machine_is_named_by_the_pattern_and_every_workflow_has_one() -> None:
    assert PATTERN == "sip-controlplane-{workflow}-${Environment}"
    regex = re.escape(PATTERN).replace(re.escape("{workflow}"), "(?P<workflow>[a-z-]+)")
    named: set[str] = set()
    for logical_id, resource in TEMPLATE["Resources"].items():
        if resource["Type"] == "AWS::Serverless::StateMachine":
            match = re.fullmatch(regex, resource["Properties"]["Name"]["Fn::Sub"])
            assert match, f"{logical_id} is not named by {PATTERN}"
            named.add(match["workflow"])
    # Remediation's outcome is its own model and is given $$.Execution.Id; every other workflow records a
    # WorkflowOutcome whose ``workflow`` must name its state machine.
    assert _outcome_workflows() | {"remediation"} == named


def test_execution_arn_from_the_pattern_and_the_topic() -> None:
    arn = execution_arn_of("cost-review", "weekly-1", TOPIC, "sip-controlplane-{workflow}-dev")
    assert arn == "arn:aws:states:eu-west-1:123456789012:execution:sip-controlplane-cost-review-dev:weekly-1"
    assert execution_arn_of("cleanup", "x", TOPIC, None) is None
    assert execution_arn_of("cleanup", "x", TOPIC, "no-placeholder") is None


class _Captured(Exception):
    pass


def test_a_record_without_the_arn_still_links_the_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_MACHINE_NAME_PATTERN", "sip-controlplane-{workflow}-dev")
    sent: list[Any] = []
    monkeypatch.setattr(audit, "publish_event", lambda *a, **k: None)
    monkeypatch.setattr(audit, "notify", lambda outcome, settings: sent.append(outcome))

    class Store:
        def put_audit(self, *args: Any) -> None:
            pass

    outcome = WorkflowOutcome(
        workflow="cleanup",
        execution="daily-7",
        status=OutcomeStatus.BLOCKED,
        reason="breaker",
        recorded_at=datetime.now(UTC),
    )
    settings = Settings(environment="dev", state_table="tbl", notify_topic_arn=TOPIC, policy_name="dev")
    audit.record(outcome, Store(), settings, {OutcomeStatus.BLOCKED})  # type: ignore[arg-type]
    [told] = sent
    assert told.execution_arn == "arn:aws:states:eu-west-1:123456789012:execution:sip-controlplane-cleanup-dev:daily-7"
    assert any(
        line.startswith("Console: https://eu-west-1.console.aws.amazon.com/states/")
        for line in told.notification_lines()
    )

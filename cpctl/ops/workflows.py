"""Workflows as the template declares them, found generically: every ``AWS::Serverless::StateMachine``
(or ``AWS::StepFunctions::StateMachine``) is a workflow, named after its logical id
(``RestoreDrillStateMachine`` is ``restore-drill``), so a workflow added to the template shows up in
``cpctl`` without an edit here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cpctl import REPO_ROOT
from cpctl.ops.errors import CpctlError, Exit

SUFFIX = "StateMachine"
STATE_MACHINE_TYPES = frozenset({"AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"})


def name_of(logical_id: str) -> str:
    """``RestoreDrillStateMachine`` -> ``restore-drill`` (the name people type and audit records carry)."""
    stem = logical_id.removesuffix(SUFFIX) or logical_id
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", stem).lower()


def key_of(text: str) -> str:
    """What two spellings of one workflow have in common: ``restore-drill``, ``restore_drill``,
    ``RestoreDrill`` and ``RestoreDrillStateMachine`` all give ``restoredrill``."""
    squashed = re.sub(r"[^a-z0-9]", "", text.lower())
    return squashed.removesuffix("statemachine") or squashed


def resolve(wanted: str, logical_ids: list[str] | tuple[str, ...] | set[str]) -> str:
    """The logical id ``wanted`` names, or a not-found error that lists the workflows there are."""
    matches = [lid for lid in logical_ids if key_of(lid) == key_of(wanted)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(sorted(name_of(lid) for lid in logical_ids)) or "none"
    raise CpctlError(f"no workflow {wanted!r}", Exit.NOT_FOUND, f"workflows here: {known}")


@dataclass(frozen=True)
class TemplateWorkflow:
    logical_id: str
    definition_path: Path

    @property
    def name(self) -> str:
        return name_of(self.logical_id)


def template_state_machines(template_path: Path | None = None) -> dict[str, TemplateWorkflow]:
    """Every state machine in the template with its ASL file, by logical id (template order)."""
    return dict(_template_state_machines(template_path or REPO_ROOT / "template.yaml"))


@cache
def _template_state_machines(template_path: Path) -> tuple[tuple[str, TemplateWorkflow], ...]:
    from cpctl.sandbox.template import load_template

    template: dict[str, Any] = load_template(template_path)
    found = []
    for logical_id, spec in template.get("Resources", {}).items():
        if spec.get("Type") not in STATE_MACHINE_TYPES:
            continue
        uri = spec.get("Properties", {}).get("DefinitionUri")
        if isinstance(uri, str):
            found.append((logical_id, TemplateWorkflow(logical_id, template_path.parent / uri)))
    return tuple(found)

"""Validate each state-machine definition once per process, not once per CreateStateMachine.

moto checks a definition by parsing it with the full ASL (ANTLR) parser, about 0.2 s per state
machine; the sandbox creates all of the template's state machines every time it starts, so tests paid
~2 s per sandbox for parses whose answer cannot change. A definition that parsed is remembered (by its
exact text); one that did not raises ``InvalidDefinition`` every time, as before. Executions still
parse their definition as moto does (their program objects are not shared).
"""

from __future__ import annotations

import threading
from typing import Any

from moto.stepfunctions.parser.models import StepFunctionsParserBackend

_APPLIED: dict[str, Any] = {}
_VALID: set[str] = set()
_LOCK = threading.Lock()


def _validate_definition(definition: str) -> None:
    if definition in _VALID:
        return
    _APPLIED["validate"](definition)  # raises InvalidDefinition when it does not parse
    with _LOCK:
        _VALID.add(definition)


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["validate"] = StepFunctionsParserBackend._validate_definition
    StepFunctionsParserBackend._validate_definition = staticmethod(_validate_definition)  # type: ignore[method-assign]


def targets() -> list[str]:
    return ["moto.stepfunctions.parser.models.StepFunctionsParserBackend._validate_definition"]

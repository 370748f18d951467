"""Demo scenarios: each drives workflows in a sandbox and checks what it expects to see.

A scenario returns its execution reports and a list of failed expectations;
``cpctl sandbox demo`` runs them in order and exits non-zero if any expectation
failed, so the demo is a check, not only a show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from cpctl.sandbox.runtime import ExecutionReport, Sandbox


@dataclass
class ScenarioResult:
    reports: list[ExecutionReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            self.failures.append(message)


@dataclass(frozen=True)
class Scenario:
    title: str
    run: Callable[[Sandbox, TextIO], ScenarioResult]


def all_scenarios() -> list[Scenario]:
    from cpctl.sandbox.scenarios import (
        backup,
        cleanup,
        platform_deploy,
        remediation,
        rotation,
        scale_databases,
        scale_nodegroups,
    )

    return [
        *scale_nodegroups.SCENARIOS,
        *scale_databases.SCENARIOS,
        *remediation.SCENARIOS,
        *rotation.SCENARIOS,
        *backup.SCENARIOS,
        *cleanup.SCENARIOS,
        *platform_deploy.SCENARIOS,
    ]

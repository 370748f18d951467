"""``cpctl sandbox demo``: the control plane's workflows end to end in the emulated AWS."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from cpctl.sandbox import rotation_support
from cpctl.sandbox.report import print_calls, print_table
from cpctl.sandbox.runtime import ExecutionReport, Sandbox
from cpctl.sandbox.scenarios import all_scenarios


def run_demo(out: TextIO = sys.stdout, environment: str = "dev", verbose: bool = False, as_json: bool = False) -> int:
    """Run every scenario; 0 when every expectation held. With ``as_json`` the tables go to stderr and one
    JSON document (every scenario, its executions, notes and unexpected results) to ``out`` at the end."""
    if as_json:
        summary: list[dict[str, Any]] = []
        code = _run(sys.stderr, environment, verbose, summary)
        out.write(json.dumps({"ok": code == 0, "scenarios": summary}, indent=2) + "\n")
        return code
    return _run(out, environment, verbose, None)


def _execution(report: ExecutionReport) -> dict[str, Any]:
    return {
        "name": report.name, "arn": report.arn, "status": report.status, "outcome": report.outcome,
        "reason": report.reason, "states_entered": len(report.states_entered), "aws_calls": report.aws_calls,
        "seconds": round(report.duration_seconds, 2),
    }  # fmt: skip


def _run(out: TextIO, environment: str, verbose: bool, summary: list[dict[str, Any]] | None) -> int:
    started = time.monotonic()
    failures: list[str] = []
    out.write(f"Sandbox: template.yaml deployed into moto, platform seeded from {environment}.tfvars\n")
    with (
        rotation_support.real_servers(out) as servers,
        Sandbox(environment=environment, real_servers=servers) as sandbox,
    ):
        deployed = sorted(sandbox.resources)
        out.write(f"  {len(deployed)} resources: {', '.join(deployed)}\n")
        for index, scenario in enumerate(all_scenarios(), start=1):
            out.write(f"\n[{index}] {scenario.title}\n")
            result = scenario.run(sandbox, out)
            print_table(result.reports, out)
            if verbose:
                for report in result.reports:
                    print_calls(report, out)
            for note in result.notes:
                out.write(f"  - {note}\n")
            for failure in result.failures:
                out.write(f"  ! UNEXPECTED: {failure}\n")
            failures.extend(f"{scenario.title}: {f}" for f in result.failures)
            if summary is not None:
                summary.append(
                    {
                        "title": scenario.title,
                        "executions": [_execution(report) for report in result.reports],
                        "notes": list(result.notes),
                        "unexpected": list(result.failures),
                    }
                )
    out.write(
        f"\n{'FAILED' if failures else 'OK'}: {len(failures)} unexpected results in {time.monotonic() - started:.1f}s\n"
    )
    return 1 if failures else 0

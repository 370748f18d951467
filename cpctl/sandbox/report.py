"""Printing what executions did: one table row per execution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from cpctl.sandbox.runtime import ExecutionReport

COLUMNS = ("execution", "status", "outcome", "states", "aws calls", "duration", "reason")


def _row(report: ExecutionReport) -> tuple[str, ...]:
    reason = report.reason.replace("\n", " ")
    return (
        report.name,
        report.status,
        report.outcome,
        str(len(report.states_entered)),
        str(report.aws_calls),
        f"{report.duration_seconds:.2f}s",
        reason if len(reason) <= 90 else reason[:87] + "...",
    )


def print_table(reports: Sequence[ExecutionReport], out: TextIO) -> None:
    rows = [COLUMNS, *(_row(r) for r in reports)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        out.write("  " + "  ".join([*cells, row[-1]]) + "\n")
        if index == 0:
            out.write("  " + "  ".join("-" * w for w in [*widths, len(COLUMNS[-1])]) + "\n")


def print_calls(report: ExecutionReport, out: TextIO) -> None:
    calls = ", ".join(
        f"{service}:{operation} x{count}" for (service, operation), count in sorted(report.api_calls.items())
    )
    out.write(f"    {report.name}: {calls}\n")

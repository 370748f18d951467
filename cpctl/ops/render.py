"""How results look: Rich tables on stdout for people, JSON for scripts, progress on stderr (a spinner
on a terminal, one plain line per state otherwise), errors as one line plus what to do."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cpctl.ops.errors import CpctlError

_STATUS_STYLE = {
    "SUCCEEDED": "green",
    "RUNNING": "cyan",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "ABORTED": "yellow",
    "Succeeded": "green",
    "NoChange": "green",
    "DryRun": "cyan",
    "Blocked": "yellow",
    "Failed": "red",
    "TimedOut": "red",
    "Rejected": "red",
    "Escalated": "red",
}


# Output fields the headline already shows, or that say nothing to a person reading the result.
_NOT_SHOWN = frozenset({"status", "workflow", "execution", "execution_arn", "recorded_at", "started_at", "dry_run"})


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    # Not a terminal (a pipe, a log, CI): no colour, and wide enough that tables do not fold.
    width = None if terminal else int(os.environ.get("COLUMNS", "160"))
    return Console(file=stream, width=width, no_color=not terminal, highlight=False, soft_wrap=not terminal)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def error(exc: CpctlError, as_json: bool) -> None:
    if as_json:
        emit_json(exc.as_json())
    err = sys.stderr
    err.write(f"cpctl: {exc.message}\n")
    if exc.hint:
        err.write(f"  hint: {exc.hint}\n")
    err.flush()


def styled(status: str | None) -> str:
    if not status:
        return "-"
    style = _STATUS_STYLE.get(status)
    return f"[{style}]{escape(status)}[/]" if style else escape(status)


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def short_time(iso: str | None) -> str:
    return (iso or "-").replace("T", " ")[:19]


def execution_result(view: dict[str, Any]) -> None:
    out = console()
    head = f"{escape(view['workflow'])} [bold]{escape(str(view['name']))}[/]: {styled(view['status'])}"
    if view.get("outcome"):
        head += f", outcome {styled(view['outcome'])}"
    head += f" in {seconds(view.get('seconds'))}" if view.get("seconds") is not None else ""
    out.print(head)
    output = view.get("output")
    if isinstance(output, dict):
        # The output's plain facts (reason, resource, before and after); nested plans and checks are in --json.
        table = Table(show_header=False, box=None, padding=(0, 2))
        for key, value in output.items():
            if key in _NOT_SHOWN or value in (None, "", False) or isinstance(value, list):
                continue
            if isinstance(value, dict) and key != "requester":
                continue
            text = f"{value.get('type')}:{value.get('id')}" if isinstance(value, dict) else str(value)
            table.add_row(escape(key), escape(text if len(text) <= 200 else text[:199] + "…"))
        out.print(table)
    if view.get("error"):
        out.print(f"  error  [red]{escape(str(view['error']))}[/]: {escape(str(view.get('cause') or ''))}")
    failed = [s for s in view.get("states", []) if s.get("error")]
    for state in failed:
        out.print(
            f"  state  {escape(state['name'])}: {escape(str(state['error']))} {escape(str(state.get('cause') or ''))}"
        )
    out.print(f"  console {view['consoleUrl']}", soft_wrap=True)  # one line: terminals make it a link


def executions_table(rows: list[dict[str, Any]]) -> None:
    table = Table(title=None)
    for column in ("workflow", "name", "status", "started (UTC)", "duration"):
        table.add_column(column, no_wrap=column != "name")
    for row in rows:
        table.add_row(
            escape(row["workflow"]),
            escape(row["name"]),
            styled(row["status"]),
            short_time(row["startDate"]),
            seconds(row["seconds"]),
        )
    out = console()
    out.print(table) if rows else out.print("no executions")


def history_table(view: dict[str, Any]) -> None:
    out = console()
    head = f"{escape(view['workflow'])} [bold]{escape(str(view['name']))}[/]: {styled(view['status'])}"
    if view.get("outcome"):
        head += f", outcome {styled(view['outcome'])}"
    out.print(head + f"  ({seconds(view.get('seconds'))})")
    table = Table()
    for column in ("#", "state", "type", "entered (UTC)", "duration", "result"):
        table.add_column(column, no_wrap=column not in {"result"})
    for index, state in enumerate(view["states"], start=1):
        if state.get("error"):
            result = f"[red]{escape(state['error'])}[/] {escape(state.get('cause') or '')}"
        elif state.get("exited") is None:
            result = "[cyan]running[/]" if view["status"] == "RUNNING" else "-"
        else:
            result = "ok"
        if state.get("retries"):
            result += f" (retried {state['retries']}x)"
        table.add_row(
            str(index),
            escape(state["name"]),
            state["type"],
            short_time(state["entered"]),
            seconds(state["seconds"]),
            result,
        )
    out.print(table)
    if view.get("error"):
        out.print(f"error [red]{escape(str(view['error']))}[/]: {escape(str(view.get('cause') or ''))}")
    out.print(f"console {view['consoleUrl']}", soft_wrap=True)


def audit_table(rows: list[dict[str, Any]]) -> None:
    table = Table()
    for column in ("when (UTC)", "resource", "status", "who", "why", "result", "before → after", "execution"):
        table.add_column(column, no_wrap=column in {"when (UTC)", "status"}, overflow="fold")
    for row in rows:
        change = "-" if row["before"] is None and row["after"] is None else f"{row['before']} → {row['after']}"
        status = styled(row["status"]) + (" (dry run)" if row["dry_run"] else "")
        table.add_row(
            short_time(row["at"]),
            escape(row["resource"]),
            status,
            escape(str(row["who"] or "-")),
            escape(str(row["why"] or "-")),
            escape(str(row["result"] or "-")),
            escape(change),
            escape(row["execution"]),
        )
    out = console()
    out.print(table) if rows else out.print("no audit items")

"""Finish: tally the batches' results, write the run's report (JSON and Markdown) next to its plan, record."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from controlplane import audit
from controlplane.cleanup import steps
from controlplane.cleanup.models import CleanupOutcome, CleanupState
from controlplane.cleanup.policy import CleanupPolicy
from controlplane.cleanup.reports import ObjectStore
from controlplane.config import Settings
from controlplane.observability import metrics
from controlplane.store import DynamoStateStore


def markdown(outcome: CleanupOutcome, items: list[dict[str, Any]], pol: CleanupPolicy) -> str:
    lines = [
        f"# Cleanup {outcome.environment}: {outcome.status.value}",
        "",
        f"- Execution: `{outcome.execution}`",
        f"- Reason: {outcome.reason}",
        f"- Policy time zone: {pol.timezone}; breaker "
        f"{pol.breaker.max_deletions} deletions / {pol.breaker.max_percent}%",
    ]
    if outcome.plan_key:
        lines.append(f"- Full plan (every artefact, kept or not, and why): `{outcome.plan_key}`")
    if outcome.breakdown is not None:
        b = outcome.breakdown
        lines += [
            "",
            "## Plan",
            "",
            f"{b.artifacts} artefacts, {b.candidates} candidates, {b.deletions} planned deletions, {b.kept} kept, "
            f"{b.orphans} orphans.",
            "",
            "| reason | artefacts |",
            "|---|---|",
            *[f"| {reason} | {count} |" for reason, count in b.by_reason.items()],
        ]
    if outcome.kept_sample:
        lines += ["", "## Kept, and why (sample)", "", *[f"- {line}" for line in outcome.kept_sample]]
    if items:
        by_result: dict[str, list[str]] = defaultdict(list)
        for item in items:
            by_result[item["result"]].append(f"{item['kind']} {item['id']} ({item['region']}) {item.get('detail', '')}")
        lines += ["", "## Results", ""]
        for result, names in sorted(by_result.items()):
            lines += [f"### {result} ({len(names)})", "", *[f"- {n}" for n in names[:200]]]
            if len(names) > 200:
                lines.append(f"- ... and {len(names) - 200} more (report.json)")
            lines.append("")
    return "\n".join(lines) + "\n"


def finish(
    state: CleanupState,
    execution: str,
    store: ObjectStore,
    cfg: Settings,
    pol: CleanupPolicy,
    now: datetime,
    started: datetime | None,
) -> CleanupOutcome:
    results: dict[str, int] = {}
    items: list[dict[str, Any]] = []
    if state.plan is not None and state.plan.units:
        results, items = steps.tally(store, state.plan.prefix)
        if state.plan.deferred_items:
            results["deferred_to_next_run"] = state.plan.deferred_items
    outcome = steps.outcome_of(state, execution, pol.environment, results, now, started)
    if state.plan is not None:
        key = f"{state.plan.prefix}report"
        outcome = outcome.model_copy(update={"report_key": f"s3://{state.plan.bucket}/{key}.md"})
        store.put_json(f"{key}.json", {"outcome": outcome.model_dump(mode="json"), "items": items})
        store.put(f"{key}.md", markdown(outcome, items, pol), content_type="text/markdown")
    metrics.add_metric(name="CleanupDeleted", unit=MetricUnit.Count, value=results.get("deleted", 0))
    if outcome.breakdown is not None:
        metrics.add_metric(name="CleanupPlannedDeletions", unit=MetricUnit.Count, value=outcome.breakdown.deletions)
    audit.record(outcome, DynamoStateStore(cfg.state_table), cfg, pol.notify_on)
    return outcome

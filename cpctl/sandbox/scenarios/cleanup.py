"""Cleanup over months of seeded backups (dry run, real run with what was kept and why, the breaker) and the
weekly cost review."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, TextIO

from controlplane import clock

from cpctl.sandbox import cleanup_support as cs
from cpctl.sandbox.runtime import Sandbox
from cpctl.sandbox.scenarios import Scenario, ScenarioResult

CLEANUP = "CleanupStateMachine"
MUTATING = ("DeleteDBSnapshot", "DeleteSnapshot", "DeleteDBInstance", "DeleteObjects")


def _snapshots(sandbox: Sandbox) -> set[str]:
    from moto.rds.models import rds_backends

    return {
        name
        for region in (sandbox.region, cs.dr_region(sandbox))
        for name in rds_backends[cs.ACCOUNT][region].database_snapshots
    }


def _s3_json(sandbox: Sandbox, key: str) -> Any:
    return json.loads(
        sandbox.client("s3").get_object(Bucket=cs.buckets(sandbox)[sandbox.region], Key=key)["Body"].read()
    )


def dry_run_then_clean(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    history = cs.seed_history(sandbox, clock.now())
    result.notes.append(
        f"seeded {len(history.rds)} nightly RDS snapshots (and their DR copies), {len(history.cache)} cache snapshots "
        f"with exports, 2 protected, 1 foreign, 1 automated, 2 restore drills (one past its deadline)"
    )
    before = _snapshots(sandbox)
    dry = sandbox.run(CLEANUP, {"dry_run": True, "requester": {"type": "person", "id": "demo"}})
    result.reports.append(dry)
    result.expect(dry.outcome == "DryRun", f"dry run ended {dry.outcome}: {dry.reason}")
    result.expect(dry.calls(*MUTATING) == 0 and _snapshots(sandbox) == before, "the dry run deleted something")
    result.notes.append(f"dry run: {dry.reason}")

    real = sandbox.run(CLEANUP, {"requester": {"type": "person", "id": "demo"}})
    result.reports.append(real)
    output = real.output or {}
    result.expect(real.outcome == "Succeeded", f"cleanup ended {real.outcome}: {real.reason}")
    after = _snapshots(sandbox)
    never = set(history.protected + history.foreign + history.automated + [history.rds[-1]])
    result.expect(never <= after, f"deleted what must stay: {sorted(never - after)}")
    result.expect(not sandbox.lock_items(), "leases left behind")
    plan = _s3_json(sandbox, output.get("plan_key", ""))
    reasons = Counter(r for d in plan["decisions"] if d["action"] == "keep" for r in d["reasons"])
    result.notes.append(f"real run: {real.reason}")
    result.notes.append("kept, by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    result.notes.extend(f"  {line}" for line in output.get("kept_sample", [])[:6])
    result.notes.append(f"report: {output.get('report_key')}")
    return result


def breaker_blocks(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    cs.create_buckets(sandbox)
    cs.seed_burst(sandbox, clock.now(), 45)
    before = _snapshots(sandbox)
    blocked = sandbox.run(CLEANUP, {"requester": {"type": "schedule", "id": "cleanup"}})
    result.reports.append(blocked)
    result.expect(blocked.outcome == "Blocked", f"ended {blocked.outcome}: {blocked.reason}")
    result.expect(blocked.calls(*MUTATING) == 0 and _snapshots(sandbox) == before, "a Blocked run deleted something")
    alerted = [n for n in sandbox.notifications() if n["Subject"].startswith("[dev] cleanup Blocked")]
    result.expect(bool(alerted), "no notification for the Blocked run")
    result.notes.append(f"Blocked, nothing deleted, people alerted: {blocked.reason}")
    return result


def cost_review(sandbox: Sandbox, out: TextIO) -> ScenarioResult:
    result = ScenarioResult()
    cs.create_buckets(sandbox)
    cs.seed_metrics(sandbox, clock.now())
    review = sandbox.run("CostReviewStateMachine", {"requester": {"type": "schedule", "id": "cost-review"}})
    result.reports.append(review)
    summary = (review.output or {}).get("summary") or {}
    result.expect(review.outcome == "Succeeded", f"review ended {review.outcome}: {review.reason}")
    result.expect(summary.get("recommendations", 0) > 0, "no recommendation from an idle cache and spot group")
    result.notes.append(f"review: {review.reason}")
    result.notes.extend(f"  {line}" for line in summary.get("top", [])[:5])
    result.notes.append(f"report: {summary.get('html_key')}")
    return result


SCENARIOS = [
    Scenario("Cleanup over months of backups: dry run, then for real (kept and why)", dry_run_then_clean),
    Scenario("Cleanup of a backlog past the circuit breaker: Blocked, nothing deleted", breaker_blocks),
    Scenario("Weekly cost and utilization review: recommendations, savings, own cost", cost_review),
]

"""Which artefacts stay and why: grandfather-father-son retention, protections, orphans, the breaker.

Pure functions (no AWS): the plan step feeds them what it listed, the tests feed them tables.

Periods are calendar periods in the policy's time zone: the newest artefact of each of the last
``daily`` local days (today included), of each of the last ``weekly`` ISO weeks (Monday to Sunday,
this week included) and of each of the last ``monthly`` months (this month included) is kept, and
so are the newest ``keep_last`` of every source. A period's keeper is its *newest* artefact, so the
keeper of a finished period never changes from one run to the next. Only artefacts the control plane
made (``ManagedBy=controlplane``), that are manual, ``available`` and carry no protection tag count
for retention or can ever be deleted; the newest such artefact of a source (its latest good backup)
is kept whatever the policy says.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from controlplane.cleanup.models import (
    Artifact,
    Breakdown,
    BreakerDecision,
    Decision,
    Reason,
)
from controlplane.cleanup.policy import Breaker, CleanupPolicy, Retention

RETAINED_KINDS = frozenset({"rds_snapshot", "cache_snapshot", "cache_export"})


def protection(artifact: Artifact, protection_tags: Mapping[str, str]) -> Reason | None:
    """Why an artefact may never be deleted, whatever the policy: None when nothing protects it."""
    if artifact.snapshot_type != "manual":
        return Reason.AUTOMATED
    if not artifact.managed:
        return Reason.FOREIGN
    for tag, value in protection_tags.items():
        if artifact.tags.get(tag, "").lower() == value.lower():
            return Reason.LEGAL_HOLD if tag == "LegalHold" else Reason.PROTECTED
    if artifact.kind in ("rds_snapshot", "cache_snapshot") and artifact.status != "available":
        return Reason.NOT_AVAILABLE  # being created, copied or deleted: AWS would refuse, and it may be the newest
    return None


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def retained(artifacts: list[Artifact], rule: Retention, now: datetime, zone: ZoneInfo) -> dict[str, list[Reason]]:
    """For the eligible artefacts of one source: id -> the reasons it is kept (absent: not kept)."""
    ordered = sorted(artifacts, key=lambda a: (a.created_at, a.id), reverse=True)
    today = now.astimezone(zone).date()
    this_week, this_month = _week_start(today), today.year * 12 + today.month - 1
    keep: dict[str, list[Reason]] = defaultdict(list)
    if ordered:
        keep[ordered[0].id].append(Reason.LATEST_GOOD)
    for artifact in ordered[: rule.keep_last]:
        keep[artifact.id].append(Reason.NEWEST_N)
    seen: dict[Reason, set[object]] = {Reason.DAILY: set(), Reason.WEEKLY: set(), Reason.MONTHLY: set()}
    for artifact in ordered:  # newest first: the first one met in a period is that period's keeper
        local = artifact.created_at.astimezone(zone).date()
        periods: list[tuple[Reason, object, bool]] = [
            (Reason.DAILY, local, (today - local).days < rule.daily),
            (Reason.WEEKLY, _week_start(local), (this_week - _week_start(local)).days // 7 < rule.weekly),
            (
                Reason.MONTHLY,
                (local.year, local.month),
                this_month - (local.year * 12 + local.month - 1) < rule.monthly,
            ),
        ]
        for reason, period, in_range in periods:
            if in_range and period not in seen[reason]:
                seen[reason].add(period)
                keep[artifact.id].append(reason)
    return dict(keep)


def decide(
    artifacts: Iterable[Artifact],
    policy: CleanupPolicy,
    now: datetime,
    in_use: Mapping[str, str] | None = None,
) -> list[Decision]:
    """Every artefact's decision. ``in_use`` maps artefact ids to the holder of their lease (a drill, a recovery)."""
    in_use = in_use or {}
    decisions: list[Decision] = []
    groups: dict[tuple[str, str, str], list[Artifact]] = defaultdict(list)
    for artifact in artifacts:
        reason = protection(artifact, policy.protection_tags)
        if reason is not None:
            decisions.append(Decision(artifact=artifact, action="keep", reasons=[reason]))
        elif artifact.kind in RETAINED_KINDS:
            groups[artifact.group].append(artifact)
        else:
            decisions.append(_orphan(artifact, policy, now))
    for (kind, _, _), members in sorted(groups.items()):
        kept = retained(members, policy.retention[kind], now, policy.zone)  # type: ignore[index]
        exports = policy.orphan_rule("exports")
        for artifact in members:
            if artifact.id in kept:
                decisions.append(Decision(artifact=artifact, action="keep", reasons=kept[artifact.id]))
            elif kind == "cache_export" and not exports.delete:
                decisions.append(
                    Decision(artifact=artifact, action="keep", reasons=[Reason.ORPHAN_REPORT_ONLY], orphan=True)
                )
            else:
                decisions.append(
                    Decision(
                        artifact=artifact, action="delete", reasons=[Reason.EXPIRED], orphan=kind == "cache_export"
                    )
                )
    return [_unless_in_use(decision, in_use) for decision in decisions]


def _orphan(artifact: Artifact, policy: CleanupPolicy, now: datetime) -> Decision:  # noqa: PLR0911
    if artifact.kind == "drill_instance":
        rule = policy.orphan_rule("drill_instances")
        if artifact.deadline is None:
            return Decision(
                artifact=artifact, action="keep", reasons=[Reason.DRILL_RUNNING], detail="no DrillDeadline tag"
            )
        if artifact.deadline > now:
            return Decision(artifact=artifact, action="keep", reasons=[Reason.DRILL_RUNNING])
        if not rule.delete:
            return Decision(artifact=artifact, action="keep", reasons=[Reason.ORPHAN_REPORT_ONLY], orphan=True)
        return Decision(artifact=artifact, action="delete", reasons=[Reason.DRILL_PAST_DEADLINE], orphan=True)
    rule = policy.orphan_rule("replicas")
    if artifact.accounted_for:
        return Decision(artifact=artifact, action="keep", reasons=[Reason.REPLICA_ACCOUNTED])
    if (now - artifact.created_at).total_seconds() < rule.min_age_seconds:
        return Decision(artifact=artifact, action="keep", reasons=[Reason.REPLICA_TOO_YOUNG], orphan=True)
    if not rule.delete:
        return Decision(artifact=artifact, action="keep", reasons=[Reason.ORPHAN_REPORT_ONLY], orphan=True)
    return Decision(artifact=artifact, action="delete", reasons=[Reason.ORPHAN_REPLICA], orphan=True)


def _unless_in_use(decision: Decision, in_use: Mapping[str, str]) -> Decision:
    holder = in_use.get(decision.artifact.id)
    if decision.action != "delete" or holder is None:
        return decision
    return decision.model_copy(update={"action": "keep", "reasons": [Reason.IN_USE], "detail": f"held by {holder}"})


def breakdown(decisions: list[Decision]) -> Breakdown:
    by_reason: dict[str, int] = defaultdict(int)
    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    candidates = deletions = orphans = 0
    for decision in decisions:
        for reason in decision.reasons:
            by_reason[reason.value] += 1
        by_kind[decision.artifact.kind][decision.action] += 1
        deletions += decision.action == "delete"
        orphans += decision.orphan
        candidates += decision.action == "delete" or not _untouchable(decision)
    return Breakdown(
        artifacts=len(decisions),
        candidates=candidates,
        deletions=deletions,
        kept=len(decisions) - deletions,
        orphans=orphans,
        by_reason=dict(sorted(by_reason.items())),
        by_kind={kind: dict(counts) for kind, counts in sorted(by_kind.items())},
    )


_UNTOUCHABLE = frozenset(
    {
        Reason.AUTOMATED,
        Reason.FOREIGN,
        Reason.LEGAL_HOLD,
        Reason.PROTECTED,
        Reason.NOT_AVAILABLE,
        Reason.REPLICA_ACCOUNTED,
    }
)


def _untouchable(decision: Decision) -> bool:
    """Kept because it can never be a candidate (not the policy's to judge)."""
    return any(reason in _UNTOUCHABLE for reason in decision.reasons)


def breaker(counts: Breakdown, rule: Breaker, allow_deletions: int | None = None) -> BreakerDecision:
    """Past either cap nothing is deleted; an operator's ``allow_deletions`` (at least the planned count, at most
    the policy's ``max_override``) lets one run past it."""
    percent = round(100.0 * counts.deletions / counts.candidates, 2) if counts.candidates else 0.0
    common = {
        "deletions": counts.deletions,
        "candidates": counts.candidates,
        "percent": percent,
        "max_deletions": rule.max_deletions,
        "max_percent": rule.max_percent,
    }
    problems = []
    if counts.deletions > rule.max_deletions:
        problems.append(f"{counts.deletions} deletions exceed the cap of {rule.max_deletions} per run")
    if percent > rule.max_percent:
        problems.append(f"{percent}% of {counts.candidates} candidates exceeds the cap of {rule.max_percent}%")
    if not problems:
        return BreakerDecision(allowed=True, reason="within the breaker", **common)
    if allow_deletions is not None:
        if allow_deletions > rule.max_override:
            problems.append(f"allow_deletions {allow_deletions} is above the policy's max_override {rule.max_override}")
        elif allow_deletions < counts.deletions:
            problems.append(f"allow_deletions {allow_deletions} is below the {counts.deletions} planned deletions")
        else:
            return BreakerDecision(
                allowed=True, overridden=True, reason=f"past the breaker by request ({'; '.join(problems)})", **common
            )
    return BreakerDecision(allowed=False, reason="circuit breaker: " + "; ".join(problems), **common)

"""Retention as a table: period boundaries in the policy's time zone, DST, the cut-off, protections, the breaker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from controlplane.cleanup.models import Artifact, Reason
from controlplane.cleanup.policy import (
    Breaker,
    CleanupPolicy,
    Retention,
    load_cleanup_policy,
    parse_cleanup_policy,
)
from controlplane.cleanup.retention import breakdown, breaker, decide, retained
from controlplane.config import POLICY_DIR
from controlplane.models.errors import InvalidPolicy

BERLIN = "Europe/Berlin"
MANAGED = {"ManagedBy": "controlplane"}


def policy(
    timezone: str = BERLIN, daily: int = 7, weekly: int = 4, monthly: int = 6, keep_last: int = 1
) -> CleanupPolicy:
    data = json.loads((POLICY_DIR / "cleanup-dev.json").read_text())
    rule = {"daily": daily, "weekly": weekly, "monthly": monthly, "keep_last": keep_last}
    data["timezone"] = timezone
    data["retention"] = {"rds_snapshot": rule, "cache_snapshot": rule, "cache_export": rule}
    return parse_cleanup_policy(data)


def snap(when: str, name: str | None = None, source: str = "db", **extra: object) -> Artifact:
    created = datetime.fromisoformat(when)
    fields: dict[str, object] = {
        "kind": "rds_snapshot",
        "id": name or f"cp-{source}-{created:%Y%m%dT%H%M}",
        "region": "us-east-1",
        "source": source,
        "created_at": created,
        "tags": dict(MANAGED),
    }
    fields.update(extra)
    return Artifact.model_validate(fields)


def kept_ids(artifacts: list[Artifact], pol: CleanupPolicy, now: str) -> set[str]:
    return {d.artifact.id for d in decide(artifacts, pol, datetime.fromisoformat(now)) if d.action == "keep"}


@pytest.mark.parametrize(
    ("case", "now", "snapshots", "rule", "kept"),
    [
        # Daily window: the last 3 local days including today; a snapshot exactly at the first local midnight
        # of the window (the cut-off) is in, one second before it is out.
        (
            "cut-off is inclusive",
            "2026-03-10T12:00:00+01:00",
            ["2026-03-08T00:00:00+01:00", "2026-03-07T23:59:59+01:00"],
            {"daily": 3, "weekly": 0, "monthly": 0},
            {"2026-03-08T00:00:00+01:00"},
        ),
        # 23:30 UTC on 31 Dec is 1 Jan in Berlin: it is this year's, this month's and today's snapshot.
        (
            "year boundary in local time",
            "2027-01-01T10:00:00+00:00",
            ["2026-12-31T23:30:00+00:00", "2026-12-31T22:30:00+00:00"],
            {"daily": 1, "weekly": 0, "monthly": 1},
            {"2026-12-31T23:30:00+00:00"},
        ),
        # Monthly across a year boundary: Nov, Dec, Jan are the last three months on 15 Jan.
        (
            "monthly over the year boundary",
            "2027-01-15T12:00:00+01:00",
            [
                "2026-10-31T12:00:00+01:00",
                "2026-11-02T12:00:00+01:00",
                "2026-11-30T12:00:00+01:00",
                "2026-12-31T12:00:00+01:00",
                "2027-01-01T12:00:00+01:00",
            ],
            {"daily": 0, "weekly": 0, "monthly": 3},
            {"2026-11-30T12:00:00+01:00", "2026-12-31T12:00:00+01:00", "2027-01-01T12:00:00+01:00"},
        ),
        # DST ends in Berlin on 25 Oct 2026 (a 25-hour day): two snapshots that day, 24 h apart from the day
        # before's, are still two different local days apart by the calendar.
        (
            "DST end is one local day",
            "2026-10-26T09:00:00+01:00",
            ["2026-10-25T00:30:00+02:00", "2026-10-25T23:30:00+01:00", "2026-10-24T23:30:00+02:00"],
            {"daily": 2, "weekly": 0, "monthly": 0},
            {"2026-10-25T23:30:00+01:00"},
        ),
        # DST starts on 29 Mar 2026: 00:30 +01:00 and 23:30 +02:00 are the same local day (23 hours).
        (
            "DST start is one local day",
            "2026-03-30T09:00:00+02:00",
            ["2026-03-29T00:30:00+01:00", "2026-03-29T23:30:00+02:00"],
            {"daily": 2, "weekly": 0, "monthly": 0},
            {"2026-03-29T23:30:00+02:00"},
        ),
        # ISO weeks start on Monday: Sunday 22 Nov and Monday 23 Nov are different weeks.
        (
            "weekly periods start on Monday",
            "2026-11-27T12:00:00+01:00",
            ["2026-11-22T12:00:00+01:00", "2026-11-21T12:00:00+01:00", "2026-11-23T12:00:00+01:00"],
            {"daily": 0, "weekly": 2, "monthly": 0},
            {"2026-11-22T12:00:00+01:00", "2026-11-27T12:00:00+01:00"},
        ),
        # One snapshot, far past every window: the latest good backup stays.
        (
            "source with one snapshot",
            "2026-11-27T12:00:00+01:00",
            ["2025-01-01T12:00:00+01:00"],
            {"daily": 1, "weekly": 1, "monthly": 1},
            {"2025-01-01T12:00:00+01:00"},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and not v[:1].isdigit() else "",
)
def test_retention_table(case: str, now: str, snapshots: list[str], rule: dict[str, int], kept: set[str]) -> None:
    pol = policy(**rule, keep_last=1)
    artifacts = [snap(s, name=s) for s in snapshots]
    if case == "weekly periods start on Monday":
        artifacts.append(snap("2026-11-27T12:00:00+01:00", name="2026-11-27T12:00:00+01:00"))
    assert kept_ids(artifacts, pol, now) == kept, case


def test_utc_policy_sees_the_year_boundary_elsewhere() -> None:
    """The same two snapshots in a UTC policy: both on 31 Dec, only the newer kept by a one-day window."""
    pol = policy(timezone="UTC", daily=1, weekly=0, monthly=0)
    snaps = [snap("2026-12-31T23:30:00+00:00", name="late"), snap("2026-12-31T22:30:00+00:00", name="early")]
    assert kept_ids(snaps, pol, "2026-12-31T23:50:00+00:00") == {"late"}
    assert kept_ids(snaps, pol, "2027-01-01T00:10:00+00:00") == {"late"}  # latest good: outside the window


def test_newest_n_are_kept_even_when_every_window_is_zero() -> None:
    pol = policy(daily=0, weekly=0, monthly=0, keep_last=3)
    snaps = [snap(f"2026-0{m}-01T12:00:00+01:00", name=f"m{m}") for m in range(1, 7)]
    assert kept_ids(snaps, pol, "2026-11-27T12:00:00+01:00") == {"m6", "m5", "m4"}


def test_gfs_over_half_a_year_keeps_daily_weekly_monthly() -> None:
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    snaps = [snap((now - timedelta(days=d)).isoformat(), name=f"d{d:03d}") for d in range(0, 200)]
    kept = retained(snaps, Retention(daily=7, weekly=4, monthly=6, keep_last=3), now, policy().zone)
    reasons = {reason for rs in kept.values() for reason in rs}
    assert {Reason.DAILY, Reason.WEEKLY, Reason.MONTHLY, Reason.NEWEST_N, Reason.LATEST_GOOD} <= reasons
    # Friday 27 Nov: 7 days (21-27 Nov); weekly keepers are today, Sun 22 (a daily already), Sun 15 and Sun 8;
    # monthly keepers are today and the last days of Oct, Sep, Aug, Jul and Jun.
    assert len(kept) == 7 + 2 + 5
    assert {"d012", "d019", "d027", "d058", "d088", "d119", "d150"} <= set(kept)
    assert kept["d000"][:2] == [Reason.LATEST_GOOD, Reason.NEWEST_N]


@pytest.mark.parametrize(
    ("tags", "extra", "reason"),
    [
        ({"ManagedBy": "controlplane", "LegalHold": "true"}, {}, Reason.LEGAL_HOLD),
        ({"ManagedBy": "controlplane", "Protected": "TRUE"}, {}, Reason.PROTECTED),
        ({"ManagedBy": "terraform"}, {}, Reason.FOREIGN),
        ({}, {}, Reason.FOREIGN),
        ({"ManagedBy": "controlplane"}, {"snapshot_type": "automated"}, Reason.AUTOMATED),
        ({"ManagedBy": "controlplane"}, {"status": "creating"}, Reason.NOT_AVAILABLE),
    ],
)
def test_protected_snapshots_are_never_deleted(tags: dict[str, str], extra: dict[str, str], reason: Reason) -> None:
    pol = policy(daily=0, weekly=0, monthly=0, keep_last=1)
    old = snap("2024-01-01T12:00:00+01:00", name="old", tags=tags, **extra)
    newest = snap("2026-11-26T12:00:00+01:00", name="new")
    decisions = {d.artifact.id: d for d in decide([old, newest], pol, datetime(2026, 11, 27, tzinfo=UTC))}
    assert decisions["old"].action == "keep" and decisions["old"].reasons == [reason]
    assert decisions["new"].action == "keep"


def test_protected_ones_do_not_count_as_the_latest_good_backup() -> None:
    """A protected newest snapshot is kept anyway; the newest *eligible* one is the latest good backup."""
    pol = policy(daily=0, weekly=0, monthly=0, keep_last=1)
    snaps = [
        snap("2026-11-26T12:00:00+01:00", name="held", tags={**MANAGED, "LegalHold": "true"}),
        snap("2026-10-01T12:00:00+01:00", name="good"),
        snap("2026-09-01T12:00:00+01:00", name="old"),
    ]
    decisions = {d.artifact.id: d for d in decide(snaps, pol, datetime(2026, 11, 27, tzinfo=UTC))}
    assert Reason.LATEST_GOOD in decisions["good"].reasons
    assert decisions["old"].action == "delete"


def test_a_snapshot_in_use_is_kept_with_its_holder() -> None:
    pol = policy(daily=0, weekly=0, monthly=0, keep_last=1)
    snaps = [snap("2026-11-26T12:00:00+01:00", name="new"), snap("2026-01-01T12:00:00+01:00", name="drilled")]
    found = decide(snaps, pol, datetime(2026, 11, 27, tzinfo=UTC), in_use={"drilled": "restore-drill/run-1"})
    drilled = next(d for d in found if d.artifact.id == "drilled")
    assert (drilled.action, drilled.reasons, drilled.detail) == ("keep", [Reason.IN_USE], "held by restore-drill/run-1")


def test_sources_and_regions_are_judged_apart() -> None:
    pol = policy(daily=0, weekly=0, monthly=0, keep_last=1)
    snaps = [
        snap("2026-01-01T12:00:00+01:00", name="a-home", source="a"),
        snap("2026-01-01T12:00:00+01:00", name="a-dr", source="a", region="us-west-2"),
        snap("2025-01-01T12:00:00+01:00", name="b-old", source="b"),
        snap("2026-02-01T12:00:00+01:00", name="b-new", source="b"),
    ]
    assert kept_ids(snaps, pol, "2026-11-27T12:00:00+01:00") == {"a-home", "a-dr", "b-new"}


def test_orphans() -> None:
    pol = policy()
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    drill = {"kind": "drill_instance", "region": "us-east-1", "source": "db", "created_at": now - timedelta(hours=5)}
    replica = {"kind": "replica", "region": "us-east-1", "source": "db", "created_at": now - timedelta(days=3)}
    artifacts = [
        Artifact.model_validate({**drill, "id": "drill-late", "tags": MANAGED, "deadline": now - timedelta(minutes=1)}),
        Artifact.model_validate(
            {**drill, "id": "drill-running", "tags": MANAGED, "deadline": now + timedelta(hours=1)}
        ),
        Artifact.model_validate({**replica, "id": "db-cp-1", "tags": MANAGED, "accounted_for": True}),
        Artifact.model_validate({**replica, "id": "db-cp-2", "tags": MANAGED, "accounted_for": False}),
    ]
    found = {d.artifact.id: d for d in decide(artifacts, pol, now)}
    assert (found["drill-late"].action, found["drill-late"].reasons) == ("delete", [Reason.DRILL_PAST_DEADLINE])
    assert found["drill-running"].action == "keep"
    assert found["db-cp-1"].reasons == [Reason.REPLICA_ACCOUNTED]
    # dev's policy reports orphan replicas and deletes none.
    assert (found["db-cp-2"].action, found["db-cp-2"].reasons) == ("keep", [Reason.ORPHAN_REPORT_ONLY])
    assert found["db-cp-2"].orphan


@pytest.mark.parametrize(
    ("deletions", "candidates", "allow", "allowed"),
    [
        (25, 100, None, True),  # at both caps: allowed
        (26, 100, None, False),  # one past the absolute cap
        (10, 24, None, False),  # 41.67% of candidates
        (10, 25, None, True),  # exactly 40%
        (0, 0, None, True),
        (300, 400, 300, True),  # an operator's override naming the count
        (300, 400, 299, False),  # below the planned count
        (300, 400, 20_001, False),  # above max_override
    ],
)
def test_breaker(deletions: int, candidates: int, allow: int | None, allowed: bool) -> None:
    from controlplane.cleanup.models import Breakdown

    rule = Breaker(max_deletions=25, max_percent=40, max_override=20_000)
    decision = breaker(Breakdown(deletions=deletions, candidates=candidates), rule, allow)
    assert decision.allowed is allowed
    assert decision.overridden is (allowed and allow is not None)


def test_breakdown_counts_candidates_not_untouchables() -> None:
    pol = policy(daily=0, weekly=0, monthly=0, keep_last=1)
    snaps = [
        snap("2026-11-26T12:00:00+01:00", name="new"),
        snap("2026-01-01T12:00:00+01:00", name="old"),
        snap("2026-01-01T12:00:00+01:00", name="foreign", tags={}),
    ]
    counts = breakdown(decide(snaps, pol, datetime(2026, 11, 27, tzinfo=UTC)))
    assert (counts.artifacts, counts.candidates, counts.deletions, counts.kept) == (3, 2, 1, 2)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_environment_has_a_valid_policy(env: str) -> None:
    assert load_cleanup_policy(env).environment == env


def test_an_invalid_policy_lists_every_problem() -> None:
    data = json.loads((POLICY_DIR / "cleanup-dev.json").read_text())
    data["timezone"] = "Mars/Olympus"
    data["batch_size"] = 0
    with pytest.raises(InvalidPolicy) as raised:
        parse_cleanup_policy(data)
    assert "timezone" in str(raised.value) and "batch_size" in str(raised.value)

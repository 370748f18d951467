"""Cost review analysis without AWS: recommendations and savings from the dated price table, tags, spot share."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from controlplane.costreview import analysis, collect
from controlplane.costreview.models import Resource, load_prices, load_review_policy

POLICY = load_review_policy("dev")
PRICES = load_prices()


def nodegroup(
    name: str, count: int, size: str = "c6i.xlarge", capacity: str = "ON_DEMAND", minimum: int = 1
) -> Resource:
    return Resource(
        kind="nodegroup",
        id=name,
        size=size,
        count=count,
        capacity_type=capacity,
        role=f"min {minimum}",
        tags={"Project": "sip", "Environment": "dev"},
    )


def test_the_price_table_says_when_and_where_from() -> None:
    assert PRICES.as_of <= date.today() and "price list" in PRICES.source.lower()
    assert analysis.stale(PRICES, PRICES.as_of + timedelta(days=PRICES.stale_after_days + 1))
    assert not analysis.stale(PRICES, PRICES.as_of)


@pytest.mark.parametrize(("cpu", "count", "expected"), [(12.0, 4, 1), (29.9, 4, 2), (30.0, 4, None), (10.0, 1, None)])
def test_nodegroup_right_size_one_step_either_side_of_the_threshold(
    cpu: float, count: int, expected: int | None
) -> None:
    resource = nodegroup("general", count)
    found = analysis.recommend([resource], {"nodegroup:general": {"cpu": cpu}}, POLICY, PRICES)
    sizes = [r for r in found if r.action == "right_size"]
    if expected is None:
        assert not sizes
    else:
        assert sizes[0].detail.startswith(f"{count} -> {expected} nodes")
        assert sizes[0].monthly_saving == round(PRICES.ec2_hourly["c6i.xlarge"] * (count - expected) * 730, 2)


def test_no_datapoints_means_no_recommendation() -> None:
    assert analysis.recommend([nodegroup("general", 4)], {"nodegroup:general": {"cpu": None}}, POLICY, PRICES) == []


def test_idle_replica_and_where_to_remove_it() -> None:
    replica = Resource(
        kind="rds_instance", id="db-cp-1", size="db.r6g.large", role="replica", managed_by="controlplane"
    )
    baseline = Resource(kind="rds_instance", id="db-replica-1", size="db.r6g.large", role="replica")
    used = {
        "rds_instance:db-cp-1": {"cpu": 2.0, "connections": 0.0},
        "rds_instance:db-replica-1": {"cpu": 2.0, "connections": 0.5},
    }
    found = {r.resource: r for r in analysis.recommend([replica, baseline], used, POLICY, PRICES)}
    assert "Scale workflow" in found["rds_instance:db-cp-1"].detail
    assert "Terraform" in found["rds_instance:db-replica-1"].detail
    assert found["rds_instance:db-cp-1"].monthly_saving == round(0.225 * 730, 2)


def test_shards_spot_tags() -> None:
    cache = Resource(kind="cache_group", id="redis", size="cache.r6g.large", shards=4, replicas_per_shard=1, count=8)
    found = analysis.recommend([cache], {"cache_group:redis": {"memory": 20.0}}, POLICY, PRICES)
    assert found[0].action == "lower_shard_count" and found[0].detail.startswith("4 -> 2 shards")
    assert found[0].monthly_saving == round(0.206 * 2 * 2 * 730, 2)
    groups = [nodegroup("spot", 2, capacity="SPOT"), nodegroup("cpu_optimized", 6), nodegroup("general", 3)]
    assert analysis.spot_share(groups, POLICY) == 25.0
    untagged = groups[0].model_copy(update={"tags": {"Project": "sip"}})
    assert analysis.missing_tags([untagged, groups[1]], POLICY.required_tags) == {"nodegroup:spot": ["Environment"]}


class FakeCloudWatch:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def get_paginator(self, name: str) -> Any:
        outer = self

        class Pages:
            def paginate(self, MetricDataQueries: list[dict[str, Any]], **_: Any) -> Any:
                outer.calls.append(len(MetricDataQueries))
                yield {"MetricDataResults": [{"Id": q["Id"], "Values": [1.0]} for q in MetricDataQueries]}

        return Pages()


def test_get_metric_data_sends_at_most_500_queries_a_call(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCloudWatch()
    monkeypatch.setattr(collect.aws, "client", lambda service, region=None: fake)
    resources = [
        Resource(kind="rds_instance", id=f"db{n}", size="db.r6g.large", metric_ids={"db": [f"db{n}"]})
        for n in range(600)
    ]
    queries, index = collect.metric_queries(resources, 3600)
    assert len(queries) == 1200 and len(index) == 1200
    end = datetime(2026, 11, 27, tzinfo=UTC)
    values, calls = collect.get_metric_data(queries, end - timedelta(days=7), end)
    assert fake.calls == [500, 500, 200] and calls == 3 and len(values) == 1200


def test_the_longest_period_fits_one_call_of_datapoints() -> None:
    """100,800 datapoints per GetMetricData call (CloudWatch API reference): 500 queries of 14 days hourly is
    168,000, so the client pages (NextToken); a day of points per query is 14 x 500 = 7,000."""
    assert POLICY.period_days * 24 * 3600 // POLICY.period_seconds_per_point * 500 <= 100_800


def test_the_period_includes_a_run_started_earlier_in_the_same_second() -> None:
    """Regression: the end was rounded down to the second, so a Scale run started 0.3 s before the review
    (same second) fell outside the period and the control plane's own cost missed it."""
    from datetime import UTC, datetime, timedelta

    from controlplane.costreview.collect import period

    now = datetime(2026, 11, 27, 10, 35, 1, 900_000, tzinfo=UTC)
    start, end = period(now, 7)
    assert start <= now - timedelta(seconds=0.3) <= end
    assert end.microsecond == 0 and end - start == timedelta(days=7)
    assert period(now.replace(microsecond=0), 7)[1] == now.replace(microsecond=0)

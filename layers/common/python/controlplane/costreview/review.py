"""The review's steps: collect and analyse, write the report (JSON, Markdown, HTML) to S3, record."""

from __future__ import annotations

import html
import json
import os
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from controlplane import aws
from controlplane.costreview import analysis, collect
from controlplane.costreview.models import (
    PriceTable,
    Recommendation,
    Review,
    ReviewOutcome,
    ReviewPolicy,
    ReviewRequest,
    ReviewState,
    ReviewSummary,
)
from controlplane.models.errors import InvalidRequest, TransientAwsError, validation_problems
from controlplane.models.outcome import OutcomeStatus

REPORT_ROOT = "reports/cost"


def parse_request(raw: Any, execution: str) -> ReviewRequest:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidRequest("the request must be a JSON object")
    try:
        return ReviewRequest.model_validate({**raw, "execution": execution})
    except ValidationError as exc:
        raise InvalidRequest(f"invalid cost review request: {validation_problems(exc, 'request')}") from None


def review(request: ReviewRequest, policy: ReviewPolicy, prices: PriceTable, now: datetime) -> Review:
    start, end = collect.period(now, request.period_days or policy.period_days)
    resources = (
        collect.nodegroups(os.environ["CLUSTER_NAME"])
        + collect.db_instances(os.environ["RDS_PRIMARY_IDENTIFIER"])
        + collect.cache_groups(os.environ["CACHE_REPLICATION_GROUP_ID"])
    )
    queries, index = collect.metric_queries(resources, policy.period_seconds_per_point)
    values, calls = collect.get_metric_data(queries, start, end)
    series: dict[str, dict[str, list[float]]] = {}
    for qid, (resource, key) in index.items():
        series.setdefault(resource, {}).setdefault(key, []).extend(values.get(qid, []))
    used = analysis.utilization(resources, series)
    missing = analysis.missing_tags(resources, policy.required_tags)
    recommendations = analysis.recommend(resources, used, policy, prices)
    if missing:
        recommendations.append(
            Recommendation(
                action="tag_resources",
                resource=", ".join(sorted(missing))[:300],
                detail=f"{len(missing)} resources lack cost-allocation tags {policy.required_tags}: "
                "their cost is not attributed",
            )
        )
    own, own_queries, own_calls = collect.own_cost(policy, prices, start, end)
    return Review(
        environment=policy.environment,
        period_start=start,
        period_end=end,
        prices_as_of=prices.as_of,
        prices_source=prices.source,
        prices_stale=analysis.stale(prices, now.date()),
        utilization=used,
        spot_share_percent=analysis.spot_share(resources, policy),
        missing_tags=missing,
        recommendations=recommendations,
        monthly_saving=round(sum(r.monthly_saving for r in recommendations), 2),
        own_cost=own,
        metric_queries=len(queries) + own_queries,
        metric_calls=calls + own_calls,
    )


def markdown(result: Review, currency: str = "USD") -> str:
    lines = [
        f"# Cost and utilization review: {result.environment}",
        "",
        f"Period {result.period_start:%Y-%m-%d %H:%M} to {result.period_end:%Y-%m-%d %H:%M} UTC. "
        f"Prices as of {result.prices_as_of} ({result.prices_source})"
        + (" **STALE: refresh the price table**" if result.prices_stale else "")
        + ".",
        "",
        f"**Estimated saving: {result.monthly_saving:.2f} {currency}/month** "
        f"from {len(result.recommendations)} recommendations.",
        "",
        "## Recommendations",
        "",
        "| action | resource | detail | saving / month |",
        "|---|---|---|---|",
        *[f"| {r.action} | {r.resource} | {r.detail} | {r.monthly_saving:.2f} |" for r in result.recommendations],
        "",
        "## Utilization (period averages)",
        "",
        "| resource | metrics |",
        "|---|---|",
        *[f"| {name} | {_metrics_text(metrics)} |" for name, metrics in sorted(result.utilization.items())],
        "",
        f"Spot share of non-critical capacity: {_percent(result.spot_share_percent)}",
        "",
        "## Missing cost-allocation tags",
        "",
        *([f"- {name}: {', '.join(tags)}" for name, tags in sorted(result.missing_tags.items())] or ["- none"]),
        "",
        "## The control plane's own cost",
        "",
        "| state machine | executions | transitions |",
        "|---|---|---|",
        *[
            f"| {m} | {n} | {result.own_cost.transitions.get(m, 0)} |"
            for m, n in sorted(result.own_cost.executions.items())
        ],
        "",
        f"Lambda: {sum(result.own_cost.lambda_gb_seconds.values()):.1f} GB-seconds, "
        f"{sum(result.own_cost.lambda_invocations.values())} invocations. "
        f"Total {result.own_cost.cost:.4f} {currency} for the period.",
        "",
        f"Metric queries: {result.metric_queries} in {result.metric_calls} GetMetricData calls "
        "(at most 500 queries each).",
    ]
    return "\n".join(lines) + "\n"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value}%"


def _metrics_text(metrics: dict[str, float | None]) -> str:
    return ", ".join(f"{k} {'no data' if v is None else v}" for k, v in metrics.items()) or "no data"


def to_html(text: str) -> str:
    """A readable page without a Markdown library: the Markdown in a <pre>, escaped."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Cost review</title></head>"
        f"<body><pre style='font-family: ui-monospace, monospace'>{html.escape(text)}</pre></body></html>"
    )


def write(result: Review, execution: str, bucket: str) -> tuple[str, str]:
    base = f"{REPORT_ROOT}/{result.period_end:%Y-%m-%d}/{execution}"
    s3 = aws.client("s3")
    text = markdown(result)
    for suffix, body, content_type in (
        ("json", json.dumps(result.model_dump(mode="json"), indent=1), "application/json"),
        ("md", text, "text/markdown"),
        ("html", to_html(text), "text/html"),
    ):
        try:
            s3.put_object(
                Bucket=bucket,
                Key=f"{base}.{suffix}",
                Body=body.encode(),
                ContentType=content_type,
                ServerSideEncryption="AES256",
            )
        except Exception as exc:
            if aws.is_retryable(exc):
                raise TransientAwsError(f"s3 PutObject: {aws.error_code(exc)}") from None
            raise
    return f"s3://{bucket}/{base}.json", f"s3://{bucket}/{base}.html"


def review_step(
    raw: Any, execution: str, policy: ReviewPolicy, prices: PriceTable, now: datetime, bucket: str
) -> ReviewState:
    request = parse_request(raw, execution)
    result = review(request, policy, prices, now)
    keys: tuple[str | None, str | None] = (None, None) if request.dry_run else write(result, execution, bucket)
    summary = ReviewSummary(
        report_key=keys[0],
        html_key=keys[1],
        recommendations=len(result.recommendations),
        monthly_saving=result.monthly_saving,
        own_cost=result.own_cost.cost,
        missing_tags=len(result.missing_tags),
        spot_share_percent=result.spot_share_percent,
        top=[
            f"{r.action} {r.resource}: {r.detail} (~{r.monthly_saving:.2f}/month)" for r in result.recommendations[:5]
        ],
    )
    return ReviewState(request=request, summary=summary)


def outcome_of(
    state: ReviewState, execution: str, environment: str, now: datetime, started: datetime | None
) -> ReviewOutcome:
    common: dict[str, Any] = {
        "execution": execution,
        "environment": environment,
        "recorded_at": now,
        "started_at": started,
        "dry_run": bool(state.request and state.request.dry_run),
        "requester": state.request.requester if state.request else None,
        "summary": state.summary,
    }
    if state.error is not None or state.summary is None:
        error = state.error or {"Error": "NoReview"}
        name = error.get("Error", "Failed")
        from controlplane.models.errors import error_message

        status = OutcomeStatus.REJECTED if name in ("InvalidRequest",) else OutcomeStatus.FAILED
        return ReviewOutcome(
            status=status, reason=error_message(error.get("Cause", name))[:500], error=name[:200], **common
        )
    s = state.summary
    reason = (
        f"{s.recommendations} recommendations, about {s.monthly_saving:.2f} USD/month; own cost {s.own_cost:.4f} USD"
    )
    status = OutcomeStatus.DRY_RUN if common["dry_run"] else OutcomeStatus.SUCCEEDED
    return ReviewOutcome(status=status, reason=reason, **common)

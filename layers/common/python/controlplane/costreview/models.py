"""The cost review's policy, price table, inventory and report, as validated data."""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from typing import Literal

from pydantic import Field, ValidationError

from controlplane.config import POLICY_DIR
from controlplane.models.base import LenientModel, Model
from controlplane.models.errors import InvalidPolicy, validation_problems
from controlplane.models.outcome import OutcomeStatus, Requester, WorkflowOutcome

WORKFLOW = "cost-review"


class ReviewPolicy(Model):
    environment: Literal["dev", "staging", "prod"]
    period_days: int = Field(ge=1, le=14)  # 1-hour datapoints are kept 63 days; 14 x 24 x 500 < 100,800 per call
    period_seconds_per_point: int = Field(ge=300, le=86_400)
    required_tags: list[str] = Field(min_length=1)
    non_critical_nodegroups: list[str] = Field(default_factory=list)
    spot_share_target_percent: float = Field(ge=0, le=100)
    nodegroup_low_cpu_percent: float = Field(gt=0, le=100)
    nodegroup_target_cpu_percent: float = Field(gt=0, le=100)
    replica_idle_cpu_percent: float = Field(gt=0, le=100)
    replica_idle_connections: float = Field(ge=0)
    primary_low_cpu_percent: float = Field(gt=0, le=100)
    cache_low_memory_percent: float = Field(gt=0, le=100)
    cache_target_memory_percent: float = Field(gt=0, le=100)
    executions_sampled_per_state_machine: int = Field(ge=1, le=200)
    notify_on: list[OutcomeStatus] = Field(default_factory=lambda: [OutcomeStatus.SUCCEEDED, OutcomeStatus.FAILED])


class PriceTable(Model):
    """Prices as data, with the date they are from and where they come from (the report prints both)."""

    as_of: date
    source: str = Field(min_length=10)
    currency: str
    region: str
    hours_per_month: float = Field(gt=0)
    stale_after_days: int = Field(ge=1)
    ec2_hourly: dict[str, float]
    spot_discount_estimate: float = Field(gt=0, lt=1)
    rds_hourly: dict[str, float]
    rds_multi_az_factor: float = Field(ge=1)
    elasticache_hourly: dict[str, float]
    downsize: dict[str, str] = Field(default_factory=dict)
    stepfunctions_per_1000_transitions: float = Field(ge=0)
    lambda_per_gb_second: float = Field(ge=0)
    lambda_per_million_requests: float = Field(ge=0)

    def monthly(self, hourly: float) -> float:
        return round(hourly * self.hours_per_month, 2)


def _load(name: str, model: type[Model]) -> Model:
    path = POLICY_DIR / name
    if not path.is_file():
        raise InvalidPolicy(f"no {name} in {POLICY_DIR.name}/")
    try:
        return model.model_validate(json.loads(path.read_text()))
    except ValidationError as exc:
        raise InvalidPolicy(f"{name} is invalid: {validation_problems(exc, name)}") from None


@cache
def load_review_policy(environment: str) -> ReviewPolicy:
    found = _load(f"cost-review-{environment}.json", ReviewPolicy)
    assert isinstance(found, ReviewPolicy)
    return found


@cache
def load_prices() -> PriceTable:
    found = _load("prices.json", PriceTable)
    assert isinstance(found, PriceTable)
    return found


class ReviewRequest(Model):
    dry_run: bool = False
    requester: Requester | None = None
    period_days: int | None = Field(default=None, ge=1, le=14)
    execution: str = Field(min_length=1, max_length=80)


class Resource(Model):
    """One priced thing: a node group, a DB instance, a replication group."""

    kind: Literal["nodegroup", "rds_instance", "cache_group"]
    id: str
    size: str  # instance type / class / node type
    count: int = 1  # nodes (node group desired size, cache nodes)
    capacity_type: str = "ON_DEMAND"
    role: str = ""  # rds: primary / replica; cache: shards x replicas
    multi_az: bool = False
    shards: int = 0
    replicas_per_shard: int = 0
    managed_by: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    metric_ids: dict[str, list[str]] = Field(default_factory=dict)  # what -> metric dimension values


class Recommendation(Model):
    action: Literal["right_size", "remove_idle_replica", "move_to_spot", "lower_shard_count", "tag_resources"]
    resource: str
    detail: str
    monthly_saving: float = 0.0
    evidence: dict[str, float] = Field(default_factory=dict)


class OwnCost(Model):
    """The control plane's own cost over the period."""

    executions: dict[str, int] = Field(default_factory=dict)
    transitions: dict[str, int] = Field(default_factory=dict)
    lambda_gb_seconds: dict[str, float] = Field(default_factory=dict)
    lambda_invocations: dict[str, int] = Field(default_factory=dict)
    cost: float = 0.0


class Review(Model):
    environment: str
    period_start: datetime
    period_end: datetime
    prices_as_of: date
    prices_source: str
    prices_stale: bool
    utilization: dict[str, dict[str, float | None]]
    spot_share_percent: float | None
    missing_tags: dict[str, list[str]]
    recommendations: list[Recommendation]
    monthly_saving: float
    own_cost: OwnCost
    metric_queries: int
    metric_calls: int


class ReviewSummary(Model):
    report_key: str | None
    html_key: str | None
    recommendations: int
    monthly_saving: float
    own_cost: float
    missing_tags: int
    spot_share_percent: float | None
    top: list[str] = Field(default_factory=list)


class ReviewState(LenientModel):
    request: ReviewRequest | None = None
    summary: ReviewSummary | None = None
    error: dict[str, str] | None = None


class ReviewOutcome(WorkflowOutcome):
    workflow: str = WORKFLOW
    environment: str = ""
    summary: ReviewSummary | None = None

    def audit_key(self) -> str:
        return f"cost-review#{self.environment or 'unknown'}"

    def target(self) -> str:
        return f"cost and utilization of {self.environment or 'the platform'}"

    def notification_lines(self) -> list[str]:
        lines = super().notification_lines()
        if self.summary is not None:
            s = self.summary
            lines += [
                f"Recommendations: {s.recommendations}, est. saving {s.monthly_saving:.2f} USD/month",
                f"Control plane's own cost: {s.own_cost:.2f} USD over the period",
                *s.top[:3],
            ]
            if s.report_key:
                lines.append(f"Report: {s.html_key or s.report_key}")
        return lines

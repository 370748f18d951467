"""Settings from the environment, and policy (bounds, cooldowns, windows, breakers) as validated data.

Nothing is read at import time: handlers call ``settings()`` / ``policy()`` inside
the invocation, so tests and the sandbox can set the environment first.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, time
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator

from controlplane.models.base import Model
from controlplane.models.errors import InvalidPolicy, validation_problems
from controlplane.models.outcome import OutcomeStatus

POLICY_DIR = Path(__file__).parent / "policies"

# Limits that tie the policy to the Scale state machine (tests/infra checks them against the ASL and
# the template): the longest verify must fit the execution's TimeoutSeconds, and a lease must outlive
# the longest gap between two renewals (one Wait of at most the largest poll interval, then the
# slowest lease-renewing task with all its retries and timeouts).
MAX_COOLDOWN_SECONDS = 86_400
MAX_VERIFY_SECONDS = 3 * 3600
MAX_POLL_INTERVAL_SECONDS = 300
WORST_TASK_SECONDS = 1_200
LEASE_RENEWAL_GAP_SECONDS = MAX_POLL_INTERVAL_SECONDS + WORST_TASK_SECONDS


class Settings(Model):
    """Where the control plane keeps its state and sends its news (from the Lambda environment)."""

    environment: Literal["dev", "staging", "prod"]
    state_table: str = Field(min_length=3)
    notify_topic_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:")
    event_bus_name: str = "default"
    policy_name: str

    @classmethod
    def from_env(cls) -> Settings:
        environment = os.environ.get("ENVIRONMENT", "")
        try:
            return cls(
                environment=environment,
                state_table=os.environ.get("STATE_TABLE_NAME", ""),
                notify_topic_arn=os.environ.get("NOTIFY_TOPIC_ARN", ""),
                event_bus_name=os.environ.get("EVENT_BUS_NAME", "default"),
                policy_name=os.environ.get("POLICY_NAME", environment),
            )
        except ValidationError as exc:
            raise RuntimeError(f"control plane environment is incomplete: {exc.errors(include_input=False)}") from exc


def settings() -> Settings:
    return Settings.from_env()


def managed_nodegroups() -> frozenset[str] | None:
    """The node groups this deployment may scale (the NodegroupNames parameter); None means any."""
    names = os.environ.get("MANAGED_NODEGROUPS", "")
    return frozenset(n.strip() for n in names.split(",") if n.strip()) or None


# The platform's resources this deployment manages, one per kind (template parameters ClusterName,
# RdsPrimaryIdentifier, CacheReplicationGroupId, in every function's environment). The functions' roles are
# scoped to them too; checking here first names the mistake (InvalidRequest) before any AWS call, instead
# of an AccessDenied from the first read. Unset (a test, a tool): any.
MANAGED_CLUSTER = "MANAGED_CLUSTER"
MANAGED_DB_INSTANCE = "MANAGED_DB_INSTANCE"
MANAGED_CACHE_GROUP = "MANAGED_CACHE_GROUP"


def require_managed(what: str, name: str, variable: str, derived: bool = False) -> None:
    """Refuse ``name`` unless it is the managed resource of ``variable`` (or, with ``derived``, one named
    after it: ``<managed>-...``, as the replicas the control plane creates are)."""
    from controlplane.models.errors import InvalidRequest

    managed = os.environ.get(variable, "").strip()
    if not managed or name == managed or (derived and name.startswith(f"{managed}-")):
        return
    also = f" (or one named {managed}-...)" if derived else ""
    raise InvalidRequest(f"{what} {name!r} is not the one this control plane manages: {managed!r}{also}")


class Weekday(StrEnum):
    MON = "Mon"
    TUE = "Tue"
    WED = "Wed"
    THU = "Thu"
    FRI = "Fri"
    SAT = "Sat"
    SUN = "Sun"


_WEEKDAYS = list(Weekday)
_BOTH_DIRECTIONS: list[Literal["out", "in"]] = ["out", "in"]


class CapacityBounds(Model):
    """Floor and ceiling of one capacity dimension (for kinds that scale more than one, e.g. shards and replicas)."""

    min_capacity: int | None = Field(default=None, ge=0)
    max_capacity: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> CapacityBounds:
        if self.min_capacity is not None and self.max_capacity is not None and self.min_capacity > self.max_capacity:
            raise ValueError("min_capacity is above max_capacity")
        return self


class ScalingPolicy(Model):
    """Per resource kind: how far and how often the control plane may move capacity.

    The optional fields are read only by the kinds that need them: ``replica_lag_max_seconds``
    (rds_replicas: verify waits until every new replica's ReplicaLag is below it),
    ``scale_in_memory_max_percent`` (cache_shards: refuse removing shards when the remaining
    shards would hold more than this percentage of their memory), ``dimensions`` (cache_shards:
    bounds per dimension, ``shards`` and ``replicas_per_shard``).
    """

    # Units are the kind's (nodes, replicas, shards, GiB of storage): RDS storage steps reach thousands.
    max_step: int = Field(ge=1, le=65_536)
    cooldown_seconds: int = Field(ge=0, le=MAX_COOLDOWN_SECONDS)
    # How long verification may take before the change is reported TimedOut (a time, not a number of
    # polls: the poll interval is a deploy parameter, and the verify must fit the execution's timeout).
    verify_timeout_seconds: int = Field(ge=60, le=MAX_VERIFY_SECONDS)
    min_capacity: int | None = Field(default=None, ge=0)
    max_capacity: int | None = Field(default=None, ge=0)
    replica_lag_max_seconds: float | None = Field(default=None, gt=0, le=3_600)
    scale_in_memory_max_percent: float | None = Field(default=None, gt=0, le=100)
    dimensions: dict[str, CapacityBounds] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> ScalingPolicy:
        if self.min_capacity is not None and self.max_capacity is not None and self.min_capacity > self.max_capacity:
            raise ValueError("min_capacity is above max_capacity")
        return self

    def bounds(self, dimension: str | None = None) -> CapacityBounds:
        """The floor/ceiling of ``dimension`` (or of the kind's only dimension when None or not listed)."""
        if dimension is not None and dimension in self.dimensions:
            return self.dimensions[dimension]
        return CapacityBounds(min_capacity=self.min_capacity, max_capacity=self.max_capacity)


class FreezeWindow(Model):
    """A change freeze: weekly (days + times in a time zone) or one-off (start_at/end_at)."""

    name: str = Field(min_length=1)
    timezone: str = "UTC"
    days: list[Weekday] = Field(default_factory=list)
    start: time | None = None
    end: time | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    kinds: list[str] = Field(default_factory=list, description="empty: every kind")
    directions: list[Literal["out", "in"]] = Field(default_factory=_BOTH_DIRECTIONS.copy)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _weekly_or_one_off(self) -> FreezeWindow:
        weekly = bool(self.days) and self.start is not None and self.end is not None
        one_off = self.start_at is not None and self.end_at is not None
        if weekly == one_off:
            raise ValueError("a freeze window is either weekly (days, start, end) or one-off (start_at, end_at)")
        if one_off and self.start_at and self.end_at:
            if self.start_at.tzinfo is None or self.end_at.tzinfo is None:
                raise ValueError("start_at and end_at need a UTC offset")
            if self.end_at <= self.start_at:
                raise ValueError("end_at must be after start_at")
        return self

    def covers(self, moment: datetime, kind: str, direction: str) -> bool:
        """True when a change of ``kind`` in ``direction`` at ``moment`` (aware) falls in this window."""
        if self.kinds and kind not in self.kinds:
            return False
        if direction not in self.directions:
            return False
        if self.start_at and self.end_at:
            return self.start_at <= moment < self.end_at
        assert self.start is not None and self.end is not None
        local = moment.astimezone(ZoneInfo(self.timezone))
        day = _WEEKDAYS[local.weekday()]
        clock = local.time().replace(tzinfo=None)
        if self.start <= self.end:
            return day in self.days and self.start <= clock < self.end
        # Over midnight: the window opens on a listed day and closes the next morning.
        previous_day = _WEEKDAYS[(local.weekday() - 1) % 7]
        return (day in self.days and clock >= self.start) or (previous_day in self.days and clock < self.end)


class CircuitBreaker(Model):
    """At most so many applied changes per rolling window, over all resources: a runaway stops itself."""

    max_changes_per_window: int = Field(ge=1)
    window_seconds: int = Field(ge=60, le=86_400)


class Policy(Model):
    """The whole policy of one environment, loaded from ``policies/<name>.json``."""

    scaling: dict[str, ScalingPolicy]
    freeze_windows: list[FreezeWindow] = Field(default_factory=list)
    circuit_breaker: CircuitBreaker
    # Renewed on every verify poll; must outlive the longest gap between two renewals.
    lock_ttl_seconds: int = Field(ge=LEASE_RENEWAL_GAP_SECONDS, le=43_200)
    protection_tag: str = "controlplane:protected"
    notify_on: list[OutcomeStatus] = Field(
        default_factory=lambda: [
            OutcomeStatus.SUCCEEDED,
            OutcomeStatus.BLOCKED,
            OutcomeStatus.REJECTED,
            OutcomeStatus.TIMED_OUT,
            OutcomeStatus.FAILED,
        ]
    )

    @field_validator("scaling")
    @classmethod
    def _known_kinds(cls, value: dict[str, ScalingPolicy]) -> dict[str, ScalingPolicy]:
        from controlplane.resources import known_kinds

        unknown = sorted(set(value) - set(known_kinds()))
        if unknown:
            raise ValueError(f"unknown resource kinds {unknown}; known: {sorted(known_kinds())}")
        return value

    def for_kind(self, kind: str) -> ScalingPolicy:
        try:
            return self.scaling[kind]
        except KeyError:
            raise InvalidPolicy(f"the policy has no scaling entry for kind {kind!r}") from None


def parse_policy(data: object) -> Policy:
    """Validate policy data, raising ``InvalidPolicy`` with every problem listed."""
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise InvalidPolicy(f"policy is invalid: {validation_problems(exc, 'policy')}") from None


@cache
def load_policy(name: str) -> Policy:
    path = POLICY_DIR / f"{name}.json"
    if not path.is_file():
        raise InvalidPolicy(f"no policy named {name!r} in {POLICY_DIR.name}/")
    return parse_policy(json.loads(path.read_text()))


def policy() -> Policy:
    return load_policy(settings().policy_name)

"""The remediation policy: which alarm (or Alertmanager alert) leads to which action, as validated data.

One JSON file per environment, ``controlplane/policies/remediation-<env>.json``:

    {
      "alarms": {"sip-dev-eks-cpu-high": {"action": {...}, "cooldown_seconds": 900, "cap": {...}}},
      "alerts": {"HighErrorRate": {"action": {"type": "notify"}, ...}}
    }

``alarms`` are keyed by CloudWatch alarm name (every alarm of the template has an entry and
no entry lacks an alarm: tests/infra checks both ways); ``alerts`` by Alertmanager ``alertname``.
The actions change nothing themselves: a ``scale``/``grow_storage`` action becomes a Scale
workflow request, so every guard of the Scale workflow still applies.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import Field, SerializeAsAny, ValidationError, field_validator, model_validator

from controlplane.config import POLICY_DIR
from controlplane.models.base import Model
from controlplane.models.errors import InvalidPolicy, validation_problems
from controlplane.models.outcome import OutcomeStatus
from controlplane.models.scale import ResourceTarget

# Scale-in is conservative: one step at a time, and a long quiet time since the resource last changed.
SCALE_IN_MIN_COOLDOWN_SECONDS = 1800
MAX_SCALE_OUT_STEP = 5
# RDS refuses storage growth below 10 percent.
RDS_MIN_GROWTH_PERCENT = 10
ALARM_NAME = r"^sip-(dev|staging|prod)-[a-z0-9]+(-[a-z0-9]+)*-(high|low)$"
ALERT_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ActionType(StrEnum):
    SCALE = "scale"
    GROW_STORAGE = "grow_storage"
    NOTIFY = "notify"


class TriggerState(StrEnum):
    ALARM = "ALARM"
    OK = "OK"


class Action(Model):
    """What to do. ``scale`` moves a node group, read replicas or shards by ``by`` (signed);
    ``grow_storage`` grows RDS storage by ``percent`` within MaxAllocatedStorage; ``notify`` only tells people."""

    type: ActionType
    resource: SerializeAsAny[ResourceTarget] | None = None
    by: int | None = None
    percent: int | None = Field(default=None, ge=RDS_MIN_GROWTH_PERCENT, le=100)

    @field_validator("resource", mode="before")
    @classmethod
    def _known_kind(cls, value: Any) -> ResourceTarget | None:
        from controlplane.resources import target_from_dict

        if value is None or isinstance(value, ResourceTarget):
            return value
        return target_from_dict(value)

    @model_validator(mode="after")
    def _consistent(self) -> Action:
        kind = self.resource.kind if self.resource else None
        if self.type == ActionType.NOTIFY:
            if self.resource is not None or self.by is not None or self.percent is not None:
                raise ValueError("a notify action takes no resource, 'by' or 'percent'")
            return self
        if self.resource is None:
            raise ValueError(f"a {self.type.value} action needs a 'resource'")
        if self.type == ActionType.GROW_STORAGE:
            if kind != "rds_storage":
                raise ValueError(f"grow_storage acts on kind 'rds_storage', not {kind!r}")
            if self.percent is None or self.by is not None:
                raise ValueError("grow_storage takes 'percent' (at least 10, as RDS requires), not 'by'")
            return self
        if kind == "rds_storage":
            raise ValueError("storage only grows: use a grow_storage action for kind 'rds_storage'")
        if self.by is None or self.percent is not None:
            raise ValueError("a scale action takes a signed step 'by', not 'percent'")
        if self.by == 0:
            raise ValueError("'by' must not be 0")
        if self.by < -1:
            raise ValueError(f"scale-in moves one step at a time: 'by' is {self.by}, the least allowed is -1")
        if self.by > MAX_SCALE_OUT_STEP:
            raise ValueError(f"'by' {self.by} is above the largest automatic step {MAX_SCALE_OUT_STEP}")
        return self

    @property
    def scale_in(self) -> bool:
        return self.type == ActionType.SCALE and (self.by or 0) < 0

    def grown(self, current: int, maximum: int) -> int:
        """The storage to ask for: ``percent`` more than ``current``, capped at ``maximum`` while the
        capped growth is still one RDS accepts (10%); otherwise the full growth, which the Scale
        workflow's bounds guard refuses (Blocked, escalated) instead of a silent "no change"."""
        assert self.percent is not None
        wanted = math.ceil(current * (100 + self.percent) / 100)
        capped = min(maximum, wanted)
        return capped if capped - current >= math.ceil(current * RDS_MIN_GROWTH_PERCENT / 100) else wanted


class Cap(Model):
    """At most ``max_actions`` admitted remediations per rule in a fixed window of ``window_seconds``."""

    max_actions: int = Field(ge=1, le=20)
    window_seconds: int = Field(ge=300, le=7 * 86_400)


DEFAULT_ESCALATE_ON = [OutcomeStatus.BLOCKED, OutcomeStatus.REJECTED, OutcomeStatus.TIMED_OUT, OutcomeStatus.FAILED]


class Rule(Model):
    """One alarm's (or alert's) remediation: the action, when it fires, and how often it may."""

    description: str = Field(default="", max_length=300)
    trigger: TriggerState = TriggerState.ALARM
    action: Action
    cooldown_seconds: int = Field(ge=60, le=86_400)
    cap: Cap
    # Seconds the resource must have been left alone (by any change) before this rule acts; scale-in only.
    quiet_seconds: int | None = Field(default=None, ge=0, le=86_400)
    escalate_on: list[OutcomeStatus] = Field(default_factory=lambda: list(DEFAULT_ESCALATE_ON))

    @model_validator(mode="after")
    def _conservative_scale_in(self) -> Rule:
        if self.cap.window_seconds < self.cooldown_seconds:
            raise ValueError("cap.window_seconds is shorter than cooldown_seconds: the cap could never bind")
        if self.action.scale_in:
            if self.cooldown_seconds < SCALE_IN_MIN_COOLDOWN_SECONDS:
                raise ValueError(
                    f"scale-in needs cooldown_seconds >= {SCALE_IN_MIN_COOLDOWN_SECONDS}, got {self.cooldown_seconds}"
                )
            if self.quiet_seconds is None or self.quiet_seconds < SCALE_IN_MIN_COOLDOWN_SECONDS:
                raise ValueError(f"scale-in needs quiet_seconds >= {SCALE_IN_MIN_COOLDOWN_SECONDS}")
        elif self.quiet_seconds is not None and self.action.type == ActionType.NOTIFY:
            raise ValueError("quiet_seconds applies to actions that change a resource")
        return self

    @property
    def resource_key(self) -> str | None:
        resource = self.action.resource
        return f"{resource.kind}#{resource.resource_id}" if resource else None


AlarmName = Annotated[str, Field(pattern=ALARM_NAME, max_length=255)]
AlertName = Annotated[str, Field(pattern=ALERT_NAME, max_length=200)]


class RemediationPolicy(Model):
    environment: Literal["dev", "staging", "prod"]
    alarms: dict[AlarmName, Rule]
    alerts: dict[AlertName, Rule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_of_this_environment(self) -> RemediationPolicy:
        foreign = sorted(name for name in self.alarms if not name.startswith(f"sip-{self.environment}-"))
        if foreign:
            raise ValueError(f"alarms of another environment in the {self.environment} policy: {foreign}")
        by_resource: dict[str, tuple[int, int]] = {}
        for rule in self.alarms.values():
            key = rule.resource_key
            if key is None:
                continue
            longest_out, shortest_in = by_resource.get(key, (0, 86_400))
            if rule.action.scale_in:
                shortest_in = min(shortest_in, rule.quiet_seconds or 0)
            else:
                longest_out = max(longest_out, rule.cooldown_seconds)
            by_resource[key] = (longest_out, shortest_in)
        for key, (longest_out, shortest_in) in by_resource.items():
            if shortest_in < longest_out:
                raise ValueError(
                    f"{key}: scale-in quiet_seconds {shortest_in} is shorter than the scale-out cooldown {longest_out}"
                )
        return self

    def rule_for(self, source: str, name: str) -> Rule | None:
        return (self.alerts if source == "alertmanager" else self.alarms).get(name)


def parse_remediation_policy(data: object) -> RemediationPolicy:
    """Validate remediation policy data; ``InvalidPolicy`` lists every problem with its path."""
    try:
        return RemediationPolicy.model_validate(data)
    except ValidationError as exc:
        raise InvalidPolicy(f"remediation policy is invalid: {validation_problems(exc, 'policy')}") from None


@cache
def load_remediation_policy(environment: str) -> RemediationPolicy:
    path = POLICY_DIR / f"remediation-{environment}.json"
    if not path.is_file():
        raise InvalidPolicy(f"no remediation policy {path.name} in {POLICY_DIR.name}/")
    policy = parse_remediation_policy(json.loads(path.read_text()))
    if policy.environment != environment:
        raise InvalidPolicy(f"{path.name} declares environment {policy.environment!r}")
    return policy

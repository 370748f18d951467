"""The rotation policy of one environment (``policies/rotation-<env>.json``), as validated data.

It is also the registry of the platform's secrets the control plane rotates: which strategy, which
physical resource (its lease), how often. The rotation functions read it to pick the strategy of a
secret by its name (never from the secret's own content, which a tampered version could change).
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from functools import cache

from pydantic import Field, ValidationError, model_validator

from controlplane import leases
from controlplane.config import LEASE_RENEWAL_GAP_SECONDS, MAX_VERIFY_SECONDS, POLICY_DIR, FreezeWindow
from controlplane.models.base import Model
from controlplane.models.errors import InvalidPolicy, validation_problems

# Secrets Manager's RotationSchedule allows 1..1000 days. The template's RotationSchedules rotate every
# FALLBACK_DAYS as a fallback; the workflow must rotate before that (tests/infra checks both).
MAX_ROTATION_DAYS = 1000
FALLBACK_DAYS = 30
# The Rotation state machine's TimeoutSeconds, what one action costs at most besides its verify budget
# (lease, apply, one more poll, verify, observe, release, each task at its worst with every retry), and
# what the run costs around its actions (plan, record): every planned action must fit the execution.
# tests/infra/test_timeouts.py derives both costs from the ASL.
EXECUTION_TIMEOUT_SECONDS = 28_800
ACTION_OVERHEAD_SECONDS = 3_300
RUN_OVERHEAD_SECONDS = 1_000


class StrategyName(StrEnum):
    POSTGRES_ALTERNATING = "postgres_alternating"
    POSTGRES_SINGLE_USER = "postgres_single_user"
    REDIS_AUTH_TOKEN = "redis_auth_token"


class ManagedSecret(Model):
    """One secret the control plane rotates."""

    strategy: StrategyName
    db_instance: str | None = Field(default=None, pattern=r"^[a-z](-?[a-z0-9])*$")
    replication_group: str | None = Field(default=None, pattern=r"^[a-z](-?[a-z0-9])*$")
    rotate_every_days: int = Field(default=28, ge=1, lt=FALLBACK_DAYS)

    @model_validator(mode="after")
    def _one_resource(self) -> ManagedSecret:
        redis = self.strategy == StrategyName.REDIS_AUTH_TOKEN
        if redis and (self.replication_group is None or self.db_instance is not None):
            raise ValueError("a redis_auth_token secret names its replication_group (and no db_instance)")
        if not redis and (self.db_instance is None or self.replication_group is not None):
            raise ValueError("a PostgreSQL secret names its db_instance (and no replication_group)")
        return self

    @property
    def lease_key(self) -> str:
        """The same key the Scale workflow takes for the database or replication group."""
        if self.replication_group is not None:
            return leases.replication_group_key(self.replication_group)
        assert self.db_instance is not None
        return leases.db_instance_key(self.db_instance)

    @property
    def resource(self) -> str:
        return self.replication_group or self.db_instance or ""


class RotationPolicy(Model):
    secrets: dict[str, ManagedSecret]
    # The master user's own secret (single-user rotation): rotated only where RDS does not manage the
    # master password. Where it does (Terraform's manage_master_user_password, the deploy parameter
    # MasterSecretManagedByRds), the instances in rds_managed_masters are checked instead (``effective``).
    master_secret: str | None = None
    rds_managed_masters: list[str] = Field(default_factory=list)
    rds_managed_max_age_days: int = Field(default=7, ge=1, le=MAX_ROTATION_DAYS)
    # After a ROTATE, the old Redis token stays accepted this long before the workflow SETs the new one.
    token_grace_seconds: int = Field(ge=300, le=7 * 86_400)
    verify_timeout_seconds: int = Field(ge=60, le=MAX_VERIFY_SECONDS)
    lock_ttl_seconds: int = Field(ge=LEASE_RENEWAL_GAP_SECONDS, le=43_200)
    max_rotations_per_run: int = Field(ge=1, le=20)
    freeze_windows: list[FreezeWindow] = Field(default_factory=list)
    protection_tag: str = "controlplane:protected"

    @model_validator(mode="after")
    def _names(self) -> RotationPolicy:
        for name in self.secrets:
            if not name or len(name) > 256 or any(ch.isspace() for ch in name):
                raise ValueError(f"not a secret name: {name[:60]!r}")
        if self.master_secret is not None and self.master_secret not in self.secrets:
            raise ValueError("master_secret must be one of the secrets")
        worst = self.max_rotations_per_run * (self.verify_timeout_seconds + ACTION_OVERHEAD_SECONDS)
        if worst + RUN_OVERHEAD_SECONDS > EXECUTION_TIMEOUT_SECONDS:
            raise ValueError(
                f"{self.max_rotations_per_run} rotations of up to {self.verify_timeout_seconds}s each do not fit "
                f"the execution's {EXECUTION_TIMEOUT_SECONDS}s"
            )
        return self

    def effective(self, master_managed_by_rds: bool) -> RotationPolicy:
        """The policy of one deployment: the master's secret rotated, or the RDS-managed ones checked."""
        if master_managed_by_rds:
            secrets = {k: v for k, v in self.secrets.items() if k != self.master_secret}
            return self.model_copy(update={"secrets": secrets})
        return self.model_copy(update={"rds_managed_masters": []})

    def secret(self, name: str) -> ManagedSecret | None:
        """The entry of a secret by its name or ARN (ARNs end in ``:secret:<name>-<6 characters>``)."""
        if name in self.secrets:
            return self.secrets[name]
        if ":secret:" in name:
            tail = name.split(":secret:", 1)[1]
            base = tail.rsplit("-", 1)[0] if len(tail.rsplit("-", 1)[-1]) == 6 else tail
            return self.secrets.get(base)
        return None

    def name_of(self, name_or_arn: str) -> str | None:
        entry = self.secret(name_or_arn)
        if entry is None:
            return None
        return next(name for name, value in self.secrets.items() if value is entry)


def master_managed_by_rds() -> bool:
    """The deploy parameter MasterSecretManagedByRds, as the functions' environment carries it."""
    return os.environ.get("MASTER_SECRET_MANAGED_BY_RDS", "false").lower() == "true"


def deployed_rotation_policy(environment: str) -> RotationPolicy:
    return load_rotation_policy(environment).effective(master_managed_by_rds())


def parse_rotation_policy(data: object) -> RotationPolicy:
    try:
        return RotationPolicy.model_validate(data)
    except ValidationError as exc:
        raise InvalidPolicy(f"rotation policy is invalid: {validation_problems(exc, 'policy')}") from None


@cache
def load_rotation_policy(environment: str) -> RotationPolicy:
    path = POLICY_DIR / f"rotation-{environment}.json"
    if not path.is_file():
        raise InvalidPolicy(f"no rotation policy rotation-{environment}.json")
    return parse_rotation_policy(json.loads(path.read_text()))

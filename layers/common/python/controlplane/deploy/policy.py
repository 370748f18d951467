"""The PlatformDeploy policy per environment (``policies/platform-deploy-<env>.json``), as validated data."""

from __future__ import annotations

import json
from functools import cache

from pydantic import Field, ValidationError

from controlplane.config import LEASE_RENEWAL_GAP_SECONDS, POLICY_DIR
from controlplane.models.base import Model
from controlplane.models.errors import InvalidPolicy, validation_problems
from controlplane.models.outcome import OutcomeStatus

# CodeBuild's own build timeout is at most 36 hours (timeoutInMinutes <= 2160).
MAX_BUILD_SECONDS = 36 * 3600


class BuildBudgets(Model):
    """How long the workflow follows each build before it reports it failed. At least the project's
    queued timeout plus its build timeout (tests/infra checks it), so CodeBuild ends a build itself
    (TIMED_OUT) before the workflow gives up on it and releases the lease."""

    plan: int = Field(ge=300, le=MAX_BUILD_SECONDS)
    apply: int = Field(ge=300, le=MAX_BUILD_SECONDS)
    drift: int = Field(ge=300, le=MAX_BUILD_SECONDS)


class DeployPolicy(Model):
    budgets: BuildBudgets
    # The lease is renewed on every build poll; between plan and apply it must outlive the approval
    # wait, so the lock task takes the larger of this and (approval timeout + the renewal gap).
    lock_ttl_seconds: int = Field(ge=LEASE_RENEWAL_GAP_SECONDS, le=86_400)
    # Terraform resource types whose destruction loses data: flagged in summaries and notifications
    # (in addition to what the plan summary of the build flags itself).
    stateful_types: list[str] = Field(min_length=1)
    notify_on: list[OutcomeStatus]


def parse_deploy_policy(data: object) -> DeployPolicy:
    try:
        return DeployPolicy.model_validate(data)
    except ValidationError as exc:
        raise InvalidPolicy(f"platform-deploy policy is invalid: {validation_problems(exc, 'policy')}") from None


@cache
def load_deploy_policy(environment: str) -> DeployPolicy:
    path = POLICY_DIR / f"platform-deploy-{environment}.json"
    if not path.is_file():
        raise InvalidPolicy(f"no platform-deploy policy {path.name} in {POLICY_DIR.name}/")
    return parse_deploy_policy(json.loads(path.read_text()))

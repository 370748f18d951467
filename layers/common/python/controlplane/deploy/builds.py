"""CodeBuild, the one resource the PlatformDeploy workflow drives: start a build, read one poll of it.

- ``StartBuild`` carries the environment, the execution, where the plan goes (plan) or which plan to
  apply and its SHA-256 (apply) as ``environmentVariablesOverride``, and an ``idempotencyToken`` made
  from the execution and the action, so a retried task within CodeBuild's five minutes starts no
  second build.
- ``BatchGetBuilds``: ``buildStatus`` is ``IN_PROGRESS`` until the build ends ``SUCCEEDED``, ``FAILED``,
  ``FAULT``, ``TIMED_OUT`` or ``STOPPED``; the phase that failed carries ``contexts`` (statusCode,
  message). A successful plan build exports ``PLAN_KEY``, ``PLAN_SHA256``, ``SUMMARY_KEY`` and
  ``PLAN_EXIT_CODE`` (``exportedEnvironmentVariables``); the summary itself is read from the artefact
  bucket.
- The apply build refuses a plan whose SHA-256 is not the approved one: ``verify_plan.py`` exits 3 in
  PRE_BUILD; that failure is reported as ``refused``, not as a failed apply (nothing was applied).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from controlplane import aws
from controlplane.deploy.models import (
    BuildAction,
    BuildRef,
    BuildStatus,
    DeployRequest,
    PlanArtifact,
    PlanSummary,
)
from controlplane.models.base import Model
from controlplane.models.errors import ApplyFailed, InvalidRequest, TransientAwsError

TERMINAL_FAILURES = frozenset({"FAILED", "FAULT", "TIMED_OUT", "STOPPED"})
# The command of the apply buildspec that checks the plan's hash (its failure means "refused").
VERIFY_COMMAND = "verify_plan.py"
# What PlatformDeployFunction calls besides its lease (tests/infra compares the template's grants).
IAM_ACTIONS = (
    "codebuild:StartBuild",
    "codebuild:BatchGetBuilds",
    "codebuild:ListBuildsForProject",
    "s3:GetObject",
    "kms:Decrypt",
)
# How many of the project's newest builds an apply looks through for its own (one build at a time per project).
RECENT_BUILDS = 20


class BuildSettings(Model):
    """The deployment's projects and artefact bucket (the function's environment, from the template)."""

    plan_project: str
    apply_project: str
    drift_project: str
    artifact_bucket: str

    @classmethod
    def from_env(cls) -> BuildSettings:
        try:
            return cls(
                plan_project=os.environ.get("PLAN_PROJECT", ""),
                apply_project=os.environ.get("APPLY_PROJECT", ""),
                drift_project=os.environ.get("DRIFT_PROJECT", ""),
                artifact_bucket=os.environ.get("ARTIFACT_BUCKET", ""),
            )
        except ValidationError as exc:
            raise RuntimeError(f"platform deploy environment is incomplete: {exc.error_count()} problems") from exc

    def project(self, action: BuildAction) -> str:
        return {"plan": self.plan_project, "apply": self.apply_project, "drift": self.drift_project}[action]


def plan_prefix(environment: str, execution: str) -> str:
    """Where one execution's plan, its hash and its summary live in the artefact bucket."""
    return f"plans/{environment}/{execution}/"


def idempotency_token(execution: str, action: BuildAction) -> str:
    return hashlib.sha256(f"{execution}|{action}".encode()).hexdigest()[:64]


def _call(operation: str, **kwargs: Any) -> Any:
    client = aws.client("codebuild")
    try:
        return getattr(client, operation)(**kwargs)
    except Exception as exc:
        if aws.is_retryable(exc):
            raise TransientAwsError(f"codebuild {operation}: {aws.error_code(exc) or type(exc).__name__}") from None
        code = aws.error_code(exc)
        if code in {"ResourceNotFoundException", "InvalidInputException"}:
            raise InvalidRequest(f"codebuild {operation}: {code}") from None
        if code is not None:
            raise ApplyFailed(f"codebuild {operation}: {code}") from None
        raise


def already_started(action: BuildAction, request: DeployRequest, cfg: BuildSettings, now: datetime) -> BuildRef | None:
    """This execution's build of ``action``, if one was started before (the newest builds of the project).

    StartBuild's idempotency token lasts five minutes; a StartApply retried later must still not start a
    second apply, so the apply looks for its own build first (DEPLOY_EXECUTION in its environment)."""
    ids = _call("list_builds_for_project", projectName=cfg.project(action), sortOrder="DESCENDING").get("ids", [])
    if not ids:
        return None
    for build in _call("batch_get_builds", ids=ids[:RECENT_BUILDS]).get("builds", []):
        variables = {
            v.get("name"): v.get("value") for v in build.get("environment", {}).get("environmentVariables", [])
        }
        if variables.get("DEPLOY_EXECUTION") == request.execution:
            return BuildRef(action=action, project=cfg.project(action), build_id=build["id"], started_at=now)
    return None


def start(
    action: BuildAction,
    request: DeployRequest,
    cfg: BuildSettings,
    now: datetime,
    artifact: PlanArtifact | None = None,
) -> BuildRef:
    """Start one build; the same (execution, action) sends the same idempotency token."""
    variables = {
        "TF_ENV": request.environment,
        "DEPLOY_EXECUTION": request.execution,
        "ARTIFACT_BUCKET": cfg.artifact_bucket,
        "PLAN_PREFIX": plan_prefix(request.environment, request.execution),
    }
    if action == "apply":
        if artifact is None:
            raise InvalidRequest("an apply needs the plan's key and SHA-256")
        variables.update({"PLAN_KEY": artifact.key, "EXPECTED_PLAN_SHA256": artifact.sha256})
        found = already_started(action, request, cfg, now)
        if found is not None:
            return found
    params: dict[str, Any] = {
        "projectName": cfg.project(action),
        "environmentVariablesOverride": [
            {"name": name, "value": value, "type": "PLAINTEXT"} for name, value in variables.items()
        ],
        "idempotencyToken": idempotency_token(request.execution, action),
    }
    if request.source_version:
        params["sourceVersion"] = request.source_version
    build = _call("start_build", **params)["build"]
    return BuildRef(action=action, project=cfg.project(action), build_id=build["id"], started_at=now)


def _failure_detail(build: dict[str, Any]) -> tuple[str | None, str]:
    for phase in build.get("phases", []):
        if phase.get("phaseStatus") in TERMINAL_FAILURES:
            messages = "; ".join(str(c.get("message", "")) for c in phase.get("contexts", []) if c.get("message"))
            return str(phase.get("phaseType")), messages or f"{phase.get('phaseType')} {phase.get('phaseStatus')}"
    return build.get("currentPhase"), f"build ended {build.get('buildStatus')}"


def _exported(build: dict[str, Any]) -> dict[str, str]:
    return {str(v["name"]): str(v.get("value", "")) for v in build.get("exportedEnvironmentVariables", [])}


def read_summary(bucket: str, key: str, stateful_types: list[str]) -> PlanSummary:
    """The plan summary the build wrote; stateful destroys flagged by the policy's types as well."""
    try:
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        code = aws.error_code(exc)
        if aws.is_retryable(exc):
            raise TransientAwsError(f"s3 GetObject: {code or type(exc).__name__}") from None
        if code is not None:
            raise ApplyFailed(f"the plan summary s3://{bucket}/{key} cannot be read: {code}") from None
        raise
    try:
        summary = PlanSummary.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise ApplyFailed(f"the plan summary s3://{bucket}/{key} is malformed: {type(exc).__name__}") from None
    flagged = list(summary.stateful_destroys)
    resources = []
    for change in summary.resources:
        stateful = change.stateful or change.type in stateful_types
        if stateful and "delete" in change.actions and change.address not in flagged:
            flagged.append(change.address)
        resources.append(change.model_copy(update={"stateful": stateful}))
    return summary.model_copy(update={"stateful_destroys": flagged, "resources": resources})


def status(ref: BuildRef, cfg: BuildSettings, polls: int, stateful_types: list[str]) -> BuildStatus:
    """One poll of a build (BatchGetBuilds); for a finished plan, its summary and saved plan."""
    builds = _call("batch_get_builds", ids=[ref.build_id]).get("builds", [])
    if not builds:
        raise ApplyFailed(f"CodeBuild does not know build {ref.build_id}")
    build = builds[0]
    build_status = str(build.get("buildStatus", "IN_PROGRESS"))
    phase = build.get("currentPhase")
    if build_status == "IN_PROGRESS":
        return BuildStatus(state="in_progress", status=build_status, phase=phase, polls=polls)
    if build_status != "SUCCEEDED":
        failed_phase, detail = _failure_detail(build)
        refused = ref.action == "apply" and VERIFY_COMMAND in detail
        return BuildStatus(
            state="refused" if refused else "failed",
            status=build_status,
            phase=failed_phase,
            detail=detail[:1000],
            polls=polls,
        )
    if ref.action == "apply":
        return BuildStatus(state="succeeded", status=build_status, phase=phase, polls=polls)
    exported = _exported(build)
    missing = {"PLAN_KEY", "PLAN_SHA256", "SUMMARY_KEY"} - set(exported)
    if missing:
        return BuildStatus(
            state="failed",
            status=build_status,
            phase=phase,
            detail=f"the plan build exported no {sorted(missing)}",
            polls=polls,
        )
    summary = read_summary(cfg.artifact_bucket, exported["SUMMARY_KEY"], stateful_types)
    artifact = PlanArtifact(
        bucket=cfg.artifact_bucket,
        key=exported["PLAN_KEY"],
        sha256=exported["PLAN_SHA256"],
        summary_key=exported["SUMMARY_KEY"],
    )
    return BuildStatus(
        state="succeeded", status=build_status, phase=phase, polls=polls, summary=summary, artifact=artifact
    )

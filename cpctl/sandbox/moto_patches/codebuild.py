"""CodeBuild builds that end as a Terraform build would: moto's StartBuild and BatchGetBuilds run nothing.

moto 5.2.5 ignores ``environmentVariablesOverride``, ``idempotencyToken`` and ListBuildsForProject's
``sortOrder`` (newest first is DESCENDING; moto lists oldest first) and reports every build
``SUCCEEDED`` on its first poll (appending the phases again on every poll). Here:

- ``StartBuild`` keeps the overrides and the token (the same token within five minutes returns the
  same build, as CodeBuild does), and decides how the build will end: an *outcome fault* armed with
  ``SANDBOX_STATE.arm_outcome("codebuild", "StartBuild", "FAILED")`` (``cpctl sandbox fault
  fail-build``) ends it with that status in the BUILD phase; otherwise it runs its buildspec's
  action (the project's ``source.buildspec``: plan, drift or apply).
- The build stays ``IN_PROGRESS`` for ``default_polls`` polls, or for the ``polls`` of a hold
  ``SANDBOX_STATE.hold("codebuild", <project name>, polls, "IN_PROGRESS")`` armed before it started.
- A plan or drift build reports the changes the platform's Terraform would make now
  (``EMULATION.set_changes(...)``; none by default): it writes the plan file, its SHA-256 and the
  summary (made by the real ``infra/buildspecs/plan_summary.py`` from a ``terraform show -json``
  document) under ``PLAN_PREFIX`` in the artefact bucket and exports ``PLAN_KEY``, ``PLAN_SHA256``,
  ``SUMMARY_KEY``, ``PLAN_EXIT_CODE`` (0 or 2, as ``-detailed-exitcode``).
- An apply build reads the object at ``PLAN_KEY`` and compares its SHA-256 with
  ``EXPECTED_PLAN_SHA256`` (what ``verify_plan.py`` does): a mismatch or a missing plan fails the
  PRE_BUILD phase with exit status 3; otherwise the changes are applied (the platform now matches
  its Terraform, so the next plan is empty).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cpctl import REPO_ROOT
from cpctl.sandbox.moto_patches.state import SANDBOX_STATE

_APPLIED: dict[str, Any] = {}
_LOCK = threading.RLock()
IDEMPOTENCY_SECONDS = 300
PHASES = [
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
]
FAILED_STATUSES = frozenset({"FAILED", "FAULT", "TIMED_OUT", "STOPPED"})


@dataclass
class EmulatedBuild:
    build_id: str
    project: str
    action: str
    variables: dict[str, str]
    polls_left: int
    account: str
    region: str
    token: str | None = None
    started: Any = None
    failure: tuple[str, str, str] | None = None  # (status, phase, message)
    finished: bool = False


@dataclass
class CodeBuildEmulation:
    """The builds the sandbox started, and what the platform's Terraform would change now."""

    changes: list[dict[str, Any]] = field(default_factory=list)
    builds: dict[str, EmulatedBuild] = field(default_factory=dict)
    default_polls: int = 1

    def set_changes(self, changes: list[dict[str, Any]]) -> None:
        """What a plan finds: ``[{"address": "aws_db_instance.main", "type": "aws_db_instance",
        "actions": ["delete", "create"]}, ...]`` (``resource_changes`` of ``terraform show -json``)."""
        with _LOCK:
            self.changes = [dict(c) for c in changes]

    def reset(self) -> None:
        with _LOCK:
            self.changes = []
            self.builds.clear()
            self.default_polls = 1


EMULATION = CodeBuildEmulation()


def reset() -> None:
    EMULATION.reset()


def _summariser() -> Any:
    found = _APPLIED.get("summariser")
    if found is None:
        path = REPO_ROOT / "infra" / "buildspecs" / "plan_summary.py"
        spec = importlib.util.spec_from_file_location("sandbox_plan_summary", path)
        assert spec is not None and spec.loader is not None
        found = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(found)
        _APPLIED["summariser"] = found
    return found


def _s3(account: str) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[account]["aws"]


def _action_of(project: Any) -> str:
    buildspec = str((project.project_metadata.get("source") or {}).get("buildspec", ""))
    name = buildspec.rsplit("/", 1)[-1].split(".", 1)[0]
    return name if name in {"plan", "apply", "drift"} else "other"


def _now() -> Any:
    from controlplane import clock

    return clock.now()


def on_start(backend: Any, build: dict[str, Any], overrides: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    """Record a started build and decide how it ends (the outcome fault is taken here, once per build)."""
    project = backend.codebuild_projects[build["projectName"]]
    variables = {
        str(v["name"]): str(v.get("value", ""))
        for v in project.project_metadata.get("environment", {}).get("environmentVariables", [])
    }
    variables.update({str(v["name"]): str(v.get("value", "")) for v in overrides or []})
    with _LOCK:
        with SANDBOX_STATE._lock:
            hold = SANDBOX_STATE.holds.pop(("codebuild", build["projectName"]), None)
        outcome = SANDBOX_STATE.take_outcome("codebuild", "StartBuild")
        emulated = EmulatedBuild(
            build_id=build["id"],
            project=build["projectName"],
            action=_action_of(project),
            variables=variables,
            polls_left=hold.polls if hold else EMULATION.default_polls,
            account=backend.account_id,
            region=backend.region_name,
            token=token,
            started=_now(),
        )
        if outcome is not None:
            status = outcome.code if outcome.code in FAILED_STATUSES else "FAILED"
            message = (
                outcome.message
                or "COMMAND_EXECUTION_ERROR: Error while executing command: terraform. Reason: exit status 1"
            )
            emulated.failure = (status, "BUILD", message)
        EMULATION.builds[build["id"]] = emulated
    build["environment"] = {
        **build.get("environment", {}),
        "environmentVariables": [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()],
    }
    build["phases"] = [dict(p) for p in build.get("phases", [])[:1]]
    build["currentPhase"] = "QUEUED"
    return build


def _same_token(backend: Any, project: str, token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    now = _now()
    with _LOCK:
        for emulated in EMULATION.builds.values():
            if (
                emulated.project == project
                and emulated.token == token
                and now - emulated.started <= timedelta(seconds=IDEMPOTENCY_SECONDS)
            ):
                for build in backend.build_metadata_history.get(project, []):
                    if build["id"] == emulated.build_id:
                        return dict(build)
    return None


def _phases(build: dict[str, Any], failed: tuple[str, str, str] | None) -> list[dict[str, Any]]:
    stamp = build["startTime"]
    phases: list[dict[str, Any]] = []
    stop = PHASES.index(failed[1]) if failed else len(PHASES) - 1
    for name in PHASES[:stop]:
        phases.append(
            {
                "phaseType": name,
                "phaseStatus": "SUCCEEDED",
                "startTime": stamp,
                "endTime": stamp,
                "durationInSeconds": 1,
            }
        )
    if failed:
        status, phase, message = failed
        phases.append(
            {
                "phaseType": phase,
                "phaseStatus": status,
                "startTime": stamp,
                "endTime": stamp,
                "durationInSeconds": 1,
                "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": message}],
            }
        )
        phases += [{"phaseType": "FINALIZING", "phaseStatus": "SUCCEEDED", "startTime": stamp, "endTime": stamp}]
    phases.append({"phaseType": "COMPLETED", "startTime": stamp})
    return phases


def _show_json(changes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "resource_changes": [
            {
                "address": c["address"],
                "mode": "managed",
                "type": c["type"],
                "name": c["address"].rsplit(".", 1)[-1],
                "change": {"actions": list(c["actions"])},
            }
            for c in changes
        ],
    }


def _run_plan(emulated: EmulatedBuild) -> tuple[tuple[str, str, str] | None, dict[str, str]]:
    bucket = emulated.variables.get("ARTIFACT_BUCKET", "")
    prefix = emulated.variables.get("PLAN_PREFIX", "")
    if not bucket or not prefix:
        return (
            "FAILED",
            "PRE_BUILD",
            "COMMAND_EXECUTION_ERROR: ARTIFACT_BUCKET and PLAN_PREFIX must be set. Reason: exit status 64",
        ), {}
    with _LOCK:
        changes = list(EMULATION.changes)
    document = _show_json(changes)
    # A saved plan is a binary file; here its bytes name the build, so every plan hashes differently.
    plan_bytes = json.dumps({"build": emulated.build_id, "plan": document}, sort_keys=True).encode()
    digest = hashlib.sha256(plan_bytes).hexdigest()
    summary = _summariser().summarise(document)
    s3 = _s3(emulated.account)
    keys = {"PLAN_KEY": f"{prefix}plan.tfplan", "SUMMARY_KEY": f"{prefix}summary.json"}
    s3.put_object(bucket, keys["PLAN_KEY"], plan_bytes)
    s3.put_object(bucket, f"{prefix}plan.tfplan.sha256", f"{digest}  plan.tfplan\n".encode())
    s3.put_object(bucket, f"{prefix}plan.json", json.dumps(document).encode())
    s3.put_object(bucket, keys["SUMMARY_KEY"], json.dumps(summary).encode())
    return None, {**keys, "PLAN_SHA256": digest, "PLAN_EXIT_CODE": "2" if changes else "0"}


def _verify_command() -> str:
    """The apply buildspec's command that checks the plan's hash (CodeBuild names it in the phase context)."""
    import yaml

    spec = yaml.safe_load((REPO_ROOT / "infra" / "buildspecs" / "apply.yml").read_text())
    commands = [c for phase in spec["phases"].values() for c in phase.get("commands", [])]
    return next(str(c) for c in commands if "verify_plan.py" in str(c))


def _run_apply(emulated: EmulatedBuild) -> tuple[str, str, str] | None:
    bucket = emulated.variables.get("ARTIFACT_BUCKET", "")
    key = emulated.variables.get("PLAN_KEY", "")
    expected = emulated.variables.get("EXPECTED_PLAN_SHA256", "")
    refused = f"COMMAND_EXECUTION_ERROR: Error while executing command: {_verify_command()}. Reason: exit status 3"
    try:
        found = _s3(emulated.account).get_object(bucket, key)
    except Exception:
        found = None
    if found is None or hashlib.sha256(found.value).hexdigest() != expected:
        return ("FAILED", "PRE_BUILD", refused)
    with _LOCK:
        EMULATION.changes = []
    return None


def _finish(build: dict[str, Any], emulated: EmulatedBuild) -> None:
    failure = emulated.failure
    exported: dict[str, str] = {}
    if failure is None and emulated.action in {"plan", "drift"}:
        failure, exported = _run_plan(emulated)
    elif failure is None and emulated.action == "apply":
        failure = _run_apply(emulated)
    build["phases"] = _phases(build, failure)
    build["buildStatus"] = failure[0] if failure else "SUCCEEDED"
    build["currentPhase"] = "COMPLETED"
    build["buildComplete"] = True
    build["endTime"] = build["startTime"]
    if exported:
        build["exportedEnvironmentVariables"] = [{"name": k, "value": v} for k, v in exported.items()]
    emulated.finished = True


def batch_get_builds(self: Any, ids: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for history in self.build_metadata_history.values():
        for build in history:
            if build["id"] not in ids:
                continue
            with _LOCK:
                emulated = EMULATION.builds.get(build["id"])
                if emulated is None:
                    continue
                if not emulated.finished:
                    if emulated.polls_left > 0:
                        emulated.polls_left -= 1
                        build["buildStatus"] = "IN_PROGRESS"
                        build["currentPhase"] = "BUILD"
                        build["phases"] = [
                            *_phases(build, None)[: PHASES.index("BUILD")],
                            {"phaseType": "BUILD", "startTime": build["startTime"]},
                        ]
                    else:
                        _finish(build, emulated)
            found.append(build)
    return found


def start_build(self: Any) -> Any:
    from moto.core.responses import ActionResult

    name = self._get_param("projectName")
    backend = self.codebuild_backend
    token = self._get_param("idempotencyToken")
    if name in backend.codebuild_projects:
        again = _same_token(backend, name, token)
        if again is not None:
            return ActionResult({"build": again})
    result = _APPLIED["start_build"](self)
    build = backend.build_metadata[name].build_metadata
    on_start(backend, build, self._get_param("environmentVariablesOverride") or [], token)
    source_version = self._get_param("sourceVersion")
    if source_version:
        build["sourceVersion"] = source_version
    return result


def list_builds_for_project(self: Any) -> Any:
    from moto.core.responses import ActionResult

    result = _APPLIED["list_builds_for_project"](self)
    if self._get_param("sortOrder") == "DESCENDING":
        return ActionResult({"ids": list(reversed(result.result["ids"]))})
    return result


def apply() -> None:
    if "start_build" in _APPLIED:
        return
    from moto.codebuild.models import CodeBuildBackend
    from moto.codebuild.responses import CodeBuildResponse

    _APPLIED["start_build"] = CodeBuildResponse.start_build
    _APPLIED["batch_get_builds"] = CodeBuildBackend.batch_get_builds
    CodeBuildResponse.start_build = start_build  # type: ignore[method-assign]
    _APPLIED["list_builds_for_project"] = CodeBuildResponse.list_builds_for_project
    CodeBuildResponse.list_builds_for_project = list_builds_for_project  # type: ignore[method-assign]
    CodeBuildBackend.batch_get_builds = batch_get_builds  # type: ignore[method-assign]


def targets() -> list[str]:
    return [
        "moto.codebuild.responses.CodeBuildResponse.start_build",
        "moto.codebuild.responses.CodeBuildResponse.list_builds_for_project",
        "moto.codebuild.responses.CodeBuildResponse._get_param",
        "moto.codebuild.models.CodeBuildBackend.batch_get_builds",
        "moto.core.responses.ActionResult",
        "moto.s3.models.s3_backends",
    ]

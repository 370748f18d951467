"""Entry points of the thin handlers: parse the event, build the default dependencies, route to a step."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from controlplane.cleanup import steps
from controlplane.cleanup.models import CleanupState, UnitTask
from controlplane.cleanup.policy import CleanupPolicy, load_cleanup_policy
from controlplane.cleanup.reports import S3ObjectStore
from controlplane.config import settings
from controlplane.leases import DynamoLeaseStore
from controlplane.models.errors import InvalidRequest


def _now() -> datetime:
    from controlplane import clock

    return clock.now()


def _policy() -> CleanupPolicy:
    return load_cleanup_policy(settings().environment)


def _task(event: Any, known: tuple[str, ...]) -> str:
    if not isinstance(event, dict) or event.get("task") not in known:
        raise InvalidRequest(f"the event must name a task, one of {list(known)}")
    return str(event["task"])


def _started(event: dict[str, Any]) -> datetime | None:
    raw = event.get("started_at")
    if not raw:
        return None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest("started_at must be an ISO 8601 time") from None


def _state(raw: Any) -> CleanupState:
    try:
        return CleanupState.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError as exc:
        raise InvalidRequest(f"malformed workflow state: {exc.error_count()} problems") from None


def _unit_task(raw: Any) -> UnitTask:
    try:
        return UnitTask.model_validate(raw)
    except ValidationError as exc:
        raise InvalidRequest(f"malformed unit task: {exc.error_count()} problems") from None


def handle_cleanup(event: Any) -> Any:
    """Plan, Finish and ReleaseAll of the Cleanup workflow (routed on ``task``)."""
    task = _task(event, ("plan", "finish", "release_all"))
    cfg = settings()
    leases = DynamoLeaseStore(cfg.state_table)
    where = steps.regions()
    home = next(iter(where))
    store = S3ObjectStore(where[home], home)
    now = _now()
    if task == "plan":
        execution = event.get("execution", "local")
        if not isinstance(execution, str) or not 1 <= len(execution) <= 80:
            raise InvalidRequest("execution must be a name of 1 to 80 characters")
        request = steps.parse_request(event.get("input"), execution)
        pol = _policy()
        artifacts = steps.list_artifacts(where, now)
        return steps.plan_step(request, pol, artifacts, leases, store, where[home], now, _started(event) or now)
    state = _state(event.get("state"))
    if task == "release_all":
        return steps.release_all(state, store, leases)
    from controlplane.cleanup import report

    return report.finish(state, str(event.get("execution", "")), store, cfg, _policy(), now, _started(event))


def handle_delete(event: Any) -> Any:
    """LockUnit, DeleteBatch, DeferUnit and UnitFailed of one Map iteration (routed on ``task``)."""
    from controlplane.cleanup import deleters

    task = _task(event, ("lock", "delete", "defer", "fail"))
    cfg = settings()
    unit = _unit_task(event.get("unit"))
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    store = S3ObjectStore(unit.bucket, region)
    leases = DynamoLeaseStore(cfg.state_table)
    if task == "lock":
        return steps.lock_unit(unit, store, leases, _policy(), _now())
    if task == "delete":
        return steps.delete_batch(unit, store, leases, _policy(), _now(), deleters.AwsDeleter())
    return steps.close_unit(unit, store, leases, "deferred" if task == "defer" else "failed")

"""Business-hours scaling: EventBridge Scheduler parks non-critical node groups after hours and
restores them before the working day, through the Scale workflow (requester type ``schedule``).

``park`` remembers the current desired size (once: a retried or repeated park keeps the first
size) and asks for the group's minimum; ``restore`` asks for the remembered size. Execution names
derive from the schedule and its scheduled time, so a retried invocation starts nothing new.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

from controlplane.config import settings
from controlplane.models.base import Model
from controlplane.models.errors import InvalidRequest
from controlplane.observability import logger
from controlplane.remediation.entry import slug, start_execution
from controlplane.remediation.store import DynamoRemediationStore, RemediationStore
from controlplane.resources import adapter_for, target_from_dict


class ScheduledScaling(Model):
    """The input a schedule sends (its target ``Input``)."""

    action: Literal["park", "restore"]
    resource: dict[str, Any]
    schedule: str = Field(min_length=1, max_length=64)
    # Scheduler fills <aws.scheduler.scheduled-time>; the same firing always carries the same time.
    scheduled_time: str = Field(default="", max_length=40)


class ScheduledOutcome(Model):
    action: Literal["park", "restore"]
    status: Literal["Started", "AlreadyStarted", "NoChange", "NothingToRestore"]
    resource_key: str
    current: int
    desired: int | None = None
    remembered: int | None = None
    execution: str | None = None


def _stamp(request: ScheduledScaling, now: datetime) -> str:
    digits = "".join(ch for ch in request.scheduled_time if ch.isdigit())[:12]
    return digits or now.strftime("%Y%m%d%H%M")


def run_schedule(
    request: ScheduledScaling,
    store: RemediationStore,
    start: Callable[[str, str, dict[str, Any]], bool],
    scale_arn: str,
    now: datetime,
) -> ScheduledOutcome:
    target = target_from_dict(request.resource)
    state = adapter_for(target.kind).read(target)
    key = f"{target.kind}#{target.resource_id}"
    common: dict[str, Any] = {"action": request.action, "resource_key": key, "current": state.capacity}
    if request.action == "park":
        remembered = state.capacity
        if not store.remember_size(key, state.capacity, now):
            remembered = store.parked_size(key) or state.capacity
        desired = state.min_capacity
    else:
        parked = store.parked_size(key)
        if parked is None:
            return ScheduledOutcome(status="NothingToRestore", **common)
        remembered, desired = parked, parked
    if desired == state.capacity:
        if request.action == "restore":
            store.mark_restored(key, now)
        return ScheduledOutcome(status="NoChange", desired=desired, remembered=remembered, **common)
    name = f"sched-{request.action}-{slug(target.resource_id, 40)}-{_stamp(request, now)}"
    verb = "park after hours" if request.action == "park" else "restore for the working day"
    started = start(
        scale_arn,
        name,
        {
            "resource": target.model_dump(mode="json"),
            "desired": desired,
            "reason": f"schedule {request.schedule}: {verb} (remembered size {remembered})",
            "requester": {"type": "schedule", "id": request.schedule},
        },
    )
    if request.action == "restore":
        store.mark_restored(key, now)
    logger.info("scheduled scaling", extra={"action": request.action, "resource": key, "desired": desired})
    return ScheduledOutcome(
        status="Started" if started else "AlreadyStarted",
        desired=desired,
        remembered=remembered,
        execution=name,
        **common,
    )


def handle_schedule(event: Any) -> ScheduledOutcome:
    from controlplane import clock

    try:
        request = ScheduledScaling.model_validate(event)
    except ValidationError as exc:
        raise InvalidRequest(f"invalid schedule input: {exc.error_count()} problems") from None
    arn = os.environ.get("SCALE_STATE_MACHINE_ARN", "")
    if not arn:
        raise RuntimeError("the scheduled scaling function needs SCALE_STATE_MACHINE_ARN")
    cfg = settings()
    return run_schedule(request, DynamoRemediationStore(cfg.state_table), start_execution, arn, clock.now())

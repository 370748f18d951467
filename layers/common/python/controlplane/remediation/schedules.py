"""Business-hours scaling: EventBridge Scheduler parks non-critical node groups after hours and
restores them before the working day, through the Scale workflow (requester type ``schedule``).

``park`` remembers the current desired size (once: a retried or repeated park keeps the first
size) and asks for the group's minimum; ``restore`` asks for the remembered size. Execution names
derive from the schedule and its scheduled time, so a retried invocation starts nothing new.

The remembered size is forgotten only when a restore really brought it back: its Scale execution
ended Succeeded or NoChange. A restore that a freeze window, a cooldown or the breaker Blocked (or
that failed) leaves the size remembered, so the next park keeps it and the next restore tries
again, instead of leaving the group at its minimum for good. Both park and restore first settle the
last restore on record by reading its Scale execution's outcome (Step Functions keeps it for 90
days): the execution's own result is the truth, and no event has to arrive for it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, SerializeAsAny, ValidationError, field_validator

from controlplane import aws
from controlplane.config import settings
from controlplane.models.base import Model
from controlplane.models.errors import InvalidRequest, validation_problems
from controlplane.models.scale import ResourceState, ResourceTarget
from controlplane.observability import logger
from controlplane.remediation.entry import execution_arn, slug, start_execution
from controlplane.remediation.store import DynamoRemediationStore, RemediationStore
from controlplane.resources import adapter_for, target_from_dict

# Scale outcomes after which the remembered size is back (anything else: try again next time).
RESTORED = frozenset({"Succeeded", "NoChange"})
RESOURCE_ID_MAX = 200
# The outcome of a Scale execution by name: (execution status, outcome status) or None if there is none.
ScaleLookup = Callable[[str], tuple[str, str | None] | None]


class ScheduledScaling(Model):
    """The input a schedule sends (its target ``Input``)."""

    action: Literal["park", "restore"]
    resource: SerializeAsAny[ResourceTarget]
    schedule: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    # Scheduler fills <aws.scheduler.scheduled-time>; the same firing always carries the same time.
    scheduled_time: str = Field(default="", max_length=40)

    @field_validator("resource", mode="before")
    @classmethod
    def _known_kind(cls, value: Any) -> ResourceTarget:
        target = value if isinstance(value, ResourceTarget) else target_from_dict(value)
        if len(target.resource_id) > RESOURCE_ID_MAX:
            raise ValueError(f"resource id is longer than {RESOURCE_ID_MAX} characters")
        return target


class ScheduledOutcome(Model):
    action: Literal["park", "restore"]
    status: Literal["Started", "AlreadyStarted", "NoChange", "NothingToRestore"]
    resource_key: str
    current: int
    desired: int | None = None
    remembered: int | None = None
    execution: str | None = None
    # The last restore on record and how it ended, when this run settled it.
    previous_restore: str | None = None


def _stamp(request: ScheduledScaling, now: datetime) -> str:
    digits = "".join(ch for ch in request.scheduled_time if ch.isdigit())[:12]
    return digits or now.strftime("%Y%m%d%H%M")


def _settle_last_restore(key: str, store: RemediationStore, lookup: ScaleLookup, now: datetime) -> str | None:
    """Forget the parked size if the last restore on record brought it back; say how that restore ended."""
    parking = store.parking(key)
    if parking is None or not parking.parked or not parking.restore_execution:
        return None
    found = lookup(parking.restore_execution)
    if found is None:
        return f"{parking.restore_execution}: not found"
    status, outcome = found
    if status == "SUCCEEDED" and outcome in RESTORED:
        store.mark_restored(key, now, parking.restore_execution)
    return f"{parking.restore_execution}: {status} {outcome or ''}".strip()


def run_schedule(
    request: ScheduledScaling,
    store: RemediationStore,
    start: Callable[[str, str, dict[str, Any]], bool],
    scale_arn: str,
    now: datetime,
    lookup: ScaleLookup,
    read: Callable[[ResourceTarget], ResourceState] | None = None,
) -> ScheduledOutcome:
    target = request.resource
    state = read(target) if read else adapter_for(target.kind).read(target)
    key = f"{target.kind}#{target.resource_id}"
    previous = _settle_last_restore(key, store, lookup, now)
    common: dict[str, Any] = {
        "action": request.action,
        "resource_key": key,
        "current": state.capacity,
        "previous_restore": previous,
    }
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
        # Forgotten only once this execution ends Succeeded or NoChange (settled by the next run).
        store.restore_started(key, name, now)
    logger.info("scheduled scaling", extra={"action": request.action, "resource": key, "desired": desired})
    return ScheduledOutcome(
        status="Started" if started else "AlreadyStarted",
        desired=desired,
        remembered=remembered,
        execution=name,
        **common,
    )


def scale_outcome(state_machine_arn: str, name: str) -> tuple[str, str | None] | None:
    """How the Scale execution ``name`` ended: its status and its output's ``status`` (the Outcome)."""
    try:
        found = aws.client("stepfunctions").describe_execution(executionArn=execution_arn(state_machine_arn, name))
    except Exception as exc:
        if aws.error_code(exc) == "ExecutionDoesNotExist":
            return None
        raise
    try:
        output = json.loads(found.get("output") or "null")
    except ValueError:
        output = None
    outcome = output.get("status") if isinstance(output, dict) else None
    return str(found["status"]), str(outcome) if outcome is not None else None


def handle_schedule(event: Any) -> ScheduledOutcome:
    from controlplane import clock

    try:
        request = ScheduledScaling.model_validate(event)
    except ValidationError as exc:
        raise InvalidRequest(f"invalid schedule input: {validation_problems(exc, 'input')}") from None
    arn = os.environ.get("SCALE_STATE_MACHINE_ARN", "")
    if not arn:
        raise RuntimeError("the scheduled scaling function needs SCALE_STATE_MACHINE_ARN")
    cfg = settings()
    return run_schedule(
        request,
        DynamoRemediationStore(cfg.state_table),
        start_execution,
        arn,
        clock.now(),
        lambda name: scale_outcome(arn, name),
    )

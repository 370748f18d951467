"""The remediation entry point: alarm state changes and Alertmanager notifications in, at most one
Remediation workflow per resource and cooldown out; every other event recorded, none dropped silently.

For each signal: check it is ours (account, region, a rule for the alarm, the rule's trigger state),
apply the scale-in quiet time, then admit it with one conditional transaction (see ``store``), and
start the Remediation workflow under a deterministic execution name. The workflow starts the Scale
workflow, so every guard, the lock and verification apply to what the alarm asked for.

Each signal is decided on its own: one that fails (a bug, a permanent AWS refusal) is recorded as
``Failed`` and the others of the same notification are still decided. A transient failure (throttling)
is raised after the others were decided, so Lambda retries the whole event; what was decided before
is then a duplicate, and a duplicate whose workflow never started (a crash between admission and
``StartExecution``) is started then.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from controlplane import aws
from controlplane.config import Settings, settings
from controlplane.models.base import Model
from controlplane.models.errors import InvalidRequest, TransientAwsError
from controlplane.observability import emit, logger, metrics
from controlplane.remediation.events import Signal, Unusable, signals_of
from controlplane.remediation.policy import ActionType, RemediationPolicy, Rule, load_remediation_policy
from controlplane.remediation.store import (
    Admission,
    DynamoRemediationStore,
    NotAdmitted,
    RemediationStore,
    key_part,
)
from controlplane.store import DynamoStateStore, StateStore

# A claim outlives the longest Remediation run (its 5.5 h timeout, which exceeds the Scale workflow's 5 h).
INFLIGHT_SECONDS = 6 * 3600
STATS_WINDOW_SECONDS = 3600

DecisionStatus = Literal["Admitted", "Suppressed", "Ignored", "Rejected", "Failed"]
# Starts an execution: (state machine ARN, name, input) -> True when started, False when it already existed.
Starter = Callable[[str, str, dict[str, Any]], bool]
# Whether an execution exists: (state machine ARN, name) -> bool.
Finder = Callable[[str, str], bool]


class Decision(Model):
    status: DecisionStatus
    reason: str
    event_id: str
    rule: str | None = None
    state: str | None = None
    resource_key: str | None = None
    execution: str | None = None
    # Admitted by the sweep of alarms still in ALARM rather than by a state-change event.
    swept: bool = False


class EntryReport(Model):
    decisions: list[Decision]
    counts: dict[str, int] = Field(default_factory=dict)


@dataclass
class EntryContext:
    account_id: str
    region: str
    policy: RemediationPolicy
    store: RemediationStore
    audit: StateStore
    remediation_arn: str
    start: Starter
    read_capacity: Callable[[dict[str, Any]], tuple[int, int]]
    now: datetime
    exists: Finder


def count_metric(name: str, value: int) -> None:
    """Add a count metric. The namespace is read when the handler runs, not when the module was first
    imported (a process that imported the layer before its environment was set has none)."""
    provider = metrics.provider
    if not getattr(provider, "namespace", None):
        provider.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "SIP/ControlPlane"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def suppressed_metrics(decisions: list[Decision]) -> None:
    """Actions the remediation did not take because another is in flight or cooling down, by kind."""
    kinds = Counter((d.resource_key or "unknown").split("#", 1)[0] for d in decisions if d.status == "Suppressed")
    for kind, count in kinds.items():
        emit("ActionsSuppressed", count, Workflow="remediation", Kind=kind)


def slug(text: str, limit: int) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:limit] or "x"


def execution_names(signal: Signal) -> tuple[str, str]:
    """Remediation and Scale execution names: the same event always gets the same names."""
    digest = hashlib.sha256(f"{signal.source}|{signal.name}|{signal.event_id}".encode()).hexdigest()[:16]
    stem = slug(signal.name.removeprefix("sip-"), 48)
    return f"rem-{stem}-{digest}", f"scale-{stem}-{digest}"


def stats_window(now: datetime) -> str:
    return str(int(now.timestamp()) // STATS_WINDOW_SECONDS * STATS_WINDOW_SECONDS)


def scale_request(signal: Signal, rule: Rule, ctx: EntryContext) -> dict[str, Any] | None:
    action = rule.action
    if action.type == ActionType.NOTIFY or action.resource is None:
        return None
    target = action.resource.model_dump(mode="json")
    change: dict[str, int]
    if action.type == ActionType.GROW_STORAGE:
        current, maximum = ctx.read_capacity(target)
        change = {"desired": action.grown(current, maximum)}
    else:
        assert action.by is not None
        change = {"delta": action.by}
    reason = f"{signal.source} {signal.name} is {signal.state}: {signal.reason}".strip().rstrip(":")
    return {
        "resource": target,
        **change,
        "reason": reason[:500],
        "requester": {"type": "alarm", "id": signal.name[:256]},
    }


def quiet_refusal(rule: Rule, ctx: EntryContext) -> str | None:
    """Scale-in waits until the resource has been left alone for ``quiet_seconds``."""
    if not rule.action.scale_in or rule.resource_key is None or rule.quiet_seconds is None:
        return None
    last = ctx.audit.last_change(rule.resource_key)
    if last is None:
        return None
    elapsed = (ctx.now - last).total_seconds()
    if elapsed < rule.quiet_seconds:
        return f"{rule.resource_key} changed {int(elapsed)}s ago; scale-in waits {rule.quiet_seconds}s of quiet"
    return None


def admission_for(signal: Signal, rule: Rule, resource_key: str, owner: str, ctx: EntryContext) -> Admission:
    cap_window = int(ctx.now.timestamp()) // rule.cap.window_seconds * rule.cap.window_seconds
    return Admission(
        event_id=f"{signal.source}#{signal.event_id}",
        rule=signal.name,
        resource_key=resource_key,
        owner=owner,
        now=ctx.now,
        cooldown_seconds=rule.cooldown_seconds,
        inflight_seconds=INFLIGHT_SECONDS,
        cap_window=str(cap_window),
        cap_max=rule.cap.max_actions,
        cap_keep_seconds=rule.cap.window_seconds * 2,
    )


def _payload(signal: Signal, rule: Rule, resource_key: str, ctx: EntryContext) -> dict[str, Any]:
    remediation_name, scale_name = execution_names(signal)
    request = scale_request(signal, rule, ctx)
    return {
        "rule": signal.name,
        "source": signal.source,
        "state": signal.state,
        "event_id": signal.event_id,
        "signal_reason": signal.reason,
        "action": rule.action.model_dump(mode="json", exclude_none=True),
        "resource_key": resource_key,
        "owner": remediation_name,
        "scale_execution": scale_name if request else None,
        "scale_request": request,
        "escalate_on": [status.value for status in rule.escalate_on],
        "admitted_at": ctx.now.isoformat(),
    }


def _recover(signal: Signal, rule: Rule, resource_key: str, ctx: EntryContext) -> str | None:
    """A duplicate of an admitted event: start its workflow if the admitting delivery never did.

    A crash (timeout, out of memory) between the admission and ``StartExecution`` leaves the event
    seen and the in-flight claim held by this event's execution name, with no execution. The claim
    says the admission was ours and was not taken back; the missing execution says nothing runs it.
    """
    remediation_name, _ = execution_names(signal)
    if ctx.store.holder(resource_key, ctx.now) != remediation_name:
        return None
    if ctx.exists(ctx.remediation_arn, remediation_name):
        return None
    started = ctx.start(ctx.remediation_arn, remediation_name, _payload(signal, rule, resource_key, ctx))
    return remediation_name if started else None


def decide(signal: Signal, ctx: EntryContext) -> Decision:  # noqa: PLR0911
    common = {"event_id": signal.event_id, "rule": signal.name, "state": signal.state}
    if signal.account != ctx.account_id:
        return Decision(
            status="Ignored", reason=f"event of account {signal.account or '?'}, not {ctx.account_id}", **common
        )
    if signal.region != ctx.region:
        return Decision(status="Ignored", reason=f"event of region {signal.region or '?'}, not {ctx.region}", **common)
    if signal.is_controlplane_reset:
        return Decision(
            status="Ignored", reason=f"not a recovery: the control plane reset the alarm ({signal.reason})", **common
        )
    rule = ctx.policy.rule_for(signal.source, signal.name)
    if rule is None:
        return Decision(status="Ignored", reason=f"no remediation rule for {signal.source} {signal.name}", **common)
    if signal.state != rule.trigger.value:
        return Decision(
            status="Ignored", reason=f"state {signal.state}: the rule acts on {rule.trigger.value}", **common
        )
    resource_key = rule.resource_key or f"{signal.source}#{signal.name}"
    quiet = quiet_refusal(rule, ctx)
    if quiet:
        return Decision(status="Suppressed", reason=quiet, resource_key=resource_key, **common)
    remediation_name, _ = execution_names(signal)
    admission = admission_for(signal, rule, resource_key, remediation_name, ctx)
    try:
        ctx.store.admit(admission)
    except NotAdmitted as refused:
        recovered = _recover(signal, rule, resource_key, ctx) if refused.duplicate else None
        if recovered:
            reason = "started now: the event was admitted before, but its workflow was never started"
            return Decision(status="Admitted", reason=reason, resource_key=resource_key, execution=recovered, **common)
        return Decision(status="Suppressed", reason=str(refused), resource_key=resource_key, **common)
    try:
        started = ctx.start(ctx.remediation_arn, remediation_name, _payload(signal, rule, resource_key, ctx))
    except Exception:
        # Nothing started: take the admission back so the retried delivery can act.
        ctx.store.undo(admission)
        raise
    reason = f"started {rule.action.type.value}" if started else "already started under the same name"
    return Decision(status="Admitted", reason=reason, resource_key=resource_key, execution=remediation_name, **common)


def _record(decision: Decision, ctx: EntryContext) -> None:
    """Count every decision, audit every one that is not an admission (admissions are audited at the end)."""
    rule = decision.rule or "unknown"
    ctx.store.count(rule, decision.status, stats_window(ctx.now))
    if decision.status != "Admitted":
        ctx.audit.put_audit(
            f"remediation#{key_part(rule)}",
            ctx.now,
            key_part(decision.event_id),
            {"workflow": "remediation", **decision.model_dump()},
        )


def _unusable(item: Unusable) -> Decision:
    return Decision(status=item.status, reason=item.reason, event_id=item.event_id[:256], rule=None)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying the whole event later (throttling, a service hiccup), as opposed to a bug or a refusal."""
    return isinstance(exc, TransientAwsError) or aws.is_retryable(exc)


def decide_each(items: list[Signal | Unusable], ctx: EntryContext) -> list[Decision]:
    """Decide and record every item on its own; raise the first transient error after all were tried."""
    decisions: list[Decision] = []
    transient: BaseException | None = None
    for item in items:
        try:
            decision = _unusable(item) if isinstance(item, Unusable) else decide(item, ctx)
        except Exception as exc:
            if is_transient(exc):
                transient = transient or exc
                logger.warning("transient failure, the event will be retried", extra={"error": str(exc)})
                continue
            logger.exception("could not decide a signal")
            decision = Decision(
                status="Failed",
                reason=f"{type(exc).__name__}: {exc}"[:500],
                event_id=item.event_id[:256],
                rule=item.name if isinstance(item, Signal) else None,
                state=item.state if isinstance(item, Signal) else None,
            )
        try:
            _record(decision, ctx)
        except Exception as exc:
            if not is_transient(exc):
                raise
            transient = transient or exc
        decisions.append(decision)
    if transient is not None:
        raise transient
    return decisions


def handle(event: Any, ctx: EntryContext) -> EntryReport:
    decisions = decide_each(signals_of(event), ctx)
    counts = Counter(d.status for d in decisions)
    for status, count in counts.items():
        count_metric(f"Remediation{status}", count)
    suppressed_metrics(decisions)
    logger.info("remediation entry", extra={"counts": dict(counts)})
    return EntryReport(decisions=decisions, counts=dict(counts))


# --- default dependencies (Lambda) ---------------------------------------------------------------


def execution_arn(state_machine_arn: str, name: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def execution_exists(state_machine_arn: str, name: str) -> bool:
    try:
        aws.client("stepfunctions").describe_execution(executionArn=execution_arn(state_machine_arn, name))
    except Exception as exc:
        if aws.error_code(exc) == "ExecutionDoesNotExist":
            return False
        raise
    return True


def start_execution(arn: str, name: str, payload: dict[str, Any]) -> bool:
    try:
        aws.client("stepfunctions").start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))
    except Exception as exc:
        if aws.error_code(exc) == "ExecutionAlreadyExists":
            return False
        raise
    return True


def read_capacity(target: dict[str, Any]) -> tuple[int, int]:
    from controlplane.resources import adapter_for, target_from_dict

    resource = target_from_dict(target)
    state = adapter_for(resource.kind).read(resource)
    return state.capacity, state.max_capacity


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"the remediation entry point needs {name} in its environment")
    return value


def default_context(cfg: Settings | None = None) -> EntryContext:
    from controlplane import clock

    cfg = cfg or settings()
    return EntryContext(
        account_id=_env("ACCOUNT_ID"),
        region=os.environ.get("AWS_REGION") or _env("AWS_DEFAULT_REGION"),
        policy=load_remediation_policy(cfg.environment),
        store=DynamoRemediationStore(cfg.state_table),
        audit=DynamoStateStore(cfg.state_table),
        remediation_arn=_env("REMEDIATION_STATE_MACHINE_ARN"),
        start=start_execution,
        read_capacity=read_capacity,
        now=clock.now(),
        exists=execution_exists,
    )


def handle_event(event: Any) -> EntryReport:
    if event is None:
        raise InvalidRequest("no event")
    return handle(event, default_context())

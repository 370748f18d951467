"""The Rotation workflow's steps (statemachines/rotation.asl.json), one function per task.

Plan reads each secret's metadata (never its value) and decides per secret: ``rotate`` (due, or
asked for), ``drop_old_token`` (a Redis token ROTATEd at least the grace period ago: ``SET`` the
current token, in a run of its own), or nothing. Guards: freeze windows, the secret's protection
tag, a rotation already in progress, a function attached, the per-run cap and the circuit breaker.
Each action then runs under the lease of its database or replication group (the Scale workflow's
key): RotateSecret, a Wait/Choice loop on DescribeSecret, a verification with the new credentials
from outside the rotation function, and the release.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from controlplane import aws, guards, leases
from controlplane.config import Policy, settings
from controlplane.leases import DynamoLeaseStore, LeaseStore
from controlplane.models.errors import GuardRefused, InvalidRequest, error_message, validation_problems
from controlplane.models.lease import Lease
from controlplane.models.outcome import OutcomeStatus
from controlplane.observability import logger
from controlplane.rotation.errors import RotationError
from controlplane.rotation.models import (
    ChangeStarted,
    ItemProgress,
    ItemState,
    ManagedCheck,
    RotationAction,
    RotationOutcome,
    RotationPlan,
    RotationRequest,
    RotationState,
    SecretResult,
    SkippedSecret,
    Verification,
)
from controlplane.rotation.policy import ManagedSecret, RotationPolicy, StrategyName, deployed_rotation_policy
from controlplane.store import DynamoStateStore, StateStore

WORKFLOW = "rotation"
# Tag on a Redis token secret: the AWSCURRENT version whose token was SET (the old one dropped).
TOKEN_SET_TAG = "controlplane:auth-token-set"
_NAMESPACE = uuid.UUID("0b5f3c1e-7a0e-4c59-9d6f-6f1f6a2b7c11")
BLOCKING = frozenset({"LockHeld", "GuardRefused", "ResourceBusy"})


def now_utc() -> datetime:
    from controlplane import clock

    return clock.now()


def parse_request(raw: Any, execution: str) -> RotationRequest:
    if not isinstance(raw, dict):
        raise InvalidRequest("the request must be a JSON object")
    try:
        return RotationRequest.model_validate({**raw, "execution": execution})
    except ValidationError as exc:
        raise InvalidRequest(f"invalid rotation request: {validation_problems(exc, 'request')}") from None


def rotation_token(execution: str, secret: str) -> str:
    """The ClientRequestToken of one execution's rotation of one secret: a retried apply repeats it."""
    return str(uuid.uuid5(_NAMESPACE, f"{execution}|{secret}"))


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    from datetime import UTC

    return datetime.fromtimestamp(float(value), UTC)


def _current_version(metadata: dict[str, Any]) -> str | None:
    stages = metadata.get("VersionIdsToStages", {})
    return next((v for v, labels in stages.items() if "AWSCURRENT" in labels), None)


def _in_progress(metadata: dict[str, Any]) -> bool:
    stages = metadata.get("VersionIdsToStages", {})
    return any("AWSPENDING" in labels and "AWSCURRENT" not in labels for labels in stages.values())


def _tags(metadata: dict[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in metadata.get("Tags", [])}


def _frozen(pol: RotationPolicy, now: datetime) -> str | None:
    for window in pol.freeze_windows:
        if window.covers(now, "rotation", "out"):
            return window.name
    return None


def _decide(  # noqa: PLR0911
    name: str,
    entry: ManagedSecret,
    metadata: dict[str, Any],
    request: RotationRequest,
    pol: RotationPolicy,
    now: datetime,
) -> tuple[str | None, str, bool]:
    """(action or None, why, blocked?) for one secret."""
    if _tags(metadata).get(pol.protection_tag, "").lower() == "true":
        return None, f"tagged {pol.protection_tag}=true", True
    if not metadata.get("RotationLambdaARN"):
        return None, "no rotation function is attached (RotationSchedule missing)", True
    if _in_progress(metadata):
        return None, "a rotation is in progress (AWSPENDING on a version that is not AWSCURRENT)", True
    last = _when(metadata.get("LastRotatedDate"))
    current = _current_version(metadata)
    if entry.strategy == StrategyName.REDIS_AUTH_TOKEN and last is not None:
        token_set = _tags(metadata).get(TOKEN_SET_TAG)
        if token_set != current:
            set_at = last + timedelta(seconds=pol.token_grace_seconds)
            if now >= set_at:
                return "drop_old_token", f"old token accepted since {last.isoformat()}: SET the current one", False
            # Asked for by name: refused (a ROTATE now would drop a token consumers may still hold).
            blocked = request.secret is not None
            return None, f"the old token stays accepted until {set_at.isoformat()} (grace period)", blocked
    if request.secret is not None:
        return "rotate", request.reason, False
    since = last or _when(metadata.get("CreatedDate")) or now
    due = since + timedelta(days=entry.rotate_every_days)
    if now >= due:
        return "rotate", f"due since {due.isoformat()} (every {entry.rotate_every_days} days)", False
    return None, f"not due until {due.isoformat()}", False


def check_rds_managed(pol: RotationPolicy, now: datetime, rds: Any = None, sm: Any = None) -> list[ManagedCheck]:
    """RDS-managed master secrets: rotation on, and last rotated within its period (or the policy's)."""
    rds = rds or aws.client("rds")
    sm = sm or aws.client("secretsmanager")
    checks = []
    for instance in pol.rds_managed_masters:
        found = rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]
        arn = (found.get("MasterUserSecret") or {}).get("SecretArn")
        if not arn:
            checks.append(ManagedCheck(db_instance=instance, status="missing", detail="no RDS-managed master secret"))
            continue
        metadata = sm.describe_secret(SecretId=arn)
        if not metadata.get("RotationEnabled"):
            checks.append(
                ManagedCheck(db_instance=instance, secret_arn=arn, status="not_rotating", detail="rotation off")
            )
            continue
        days = int((metadata.get("RotationRules") or {}).get("AutomaticallyAfterDays") or pol.rds_managed_max_age_days)
        last = _when(metadata.get("LastRotatedDate")) or _when(metadata.get("CreatedDate"))
        limit = timedelta(days=max(days, pol.rds_managed_max_age_days))
        if last is None or now - last > limit:
            when = last.isoformat() if last else "never"
            checks.append(
                ManagedCheck(db_instance=instance, secret_arn=arn, status="stale", detail=f"last rotated {when}")
            )
        else:
            checks.append(
                ManagedCheck(
                    db_instance=instance, secret_arn=arn, status="ok", detail=f"last rotated {last.isoformat()}"
                )
            )
    return checks


def plan_step(
    raw: Any,
    execution: str,
    pol: RotationPolicy,
    main: Policy,
    store: StateStore,
    now: datetime,
    poll_seconds: int = 30,
    sm: Any = None,
) -> RotationState:
    """Validate, read the secrets' metadata, decide and guard. No side effect."""
    request = parse_request(raw, execution)
    sm = sm or aws.client("secretsmanager")
    if request.secret is not None:
        name = pol.name_of(request.secret)
        if name is None:
            raise InvalidRequest("that secret is not one the control plane rotates (not in the rotation policy)")
        names = [name]
    else:
        names = list(pol.secrets)
    plan_actions: list[RotationAction] = []
    skipped: list[SkippedSecret] = []
    frozen = _frozen(pol, now)
    breaker = guards.check_circuit_breaker(main, store, now)
    for name in names:
        entry = pol.secrets[name]
        try:
            metadata = sm.describe_secret(SecretId=name)
        except sm.exceptions.ResourceNotFoundException:
            skipped.append(SkippedSecret(secret=name, reason="the secret does not exist", blocked=True))
            continue
        action, why, blocked = _decide(name, entry, metadata, request, pol, now)
        if action is None:
            skipped.append(SkippedSecret(secret=name, reason=why, blocked=blocked))
            continue
        refusal = (
            (f"change freeze {frozen!r} is in force" if frozen else None)
            or (None if breaker.passed else breaker.reason)
            or (
                f"more than {pol.max_rotations_per_run} rotations in one run"
                if len(plan_actions) >= pol.max_rotations_per_run
                else None
            )
        )
        if refusal:
            skipped.append(SkippedSecret(secret=name, reason=refusal, blocked=True))
            continue
        plan_actions.append(
            RotationAction(
                secret=name,
                secret_arn=str(metadata["ARN"]),
                strategy=entry.strategy.value,
                action=action,
                resource=entry.resource,
                lease_key=entry.lease_key,
                version_before=str(_current_version(metadata)),
                token=rotation_token(execution, name),
                last_rotated_before=_when(metadata.get("LastRotatedDate")),
            )
        )
    checks = check_rds_managed(pol, now, sm=sm) if request.all_due and pol.rds_managed_masters else []
    plan = RotationPlan(actions=plan_actions, skipped=skipped, managed_checks=checks)
    proceed = bool(plan_actions) and not request.dry_run
    return RotationState(request=request, plan=plan, proceed=proceed, poll_seconds=poll_seconds)


# --- one action (one iteration of the Map) --------------------------------------------------------


def owner(execution: str) -> str:
    return leases.owner_of(WORKFLOW, execution)


def lock_step(item: ItemState, lease_store: LeaseStore, pol: RotationPolicy, now: datetime) -> Lease:
    return lease_store.acquire(
        item.action.lease_key, owner(item.execution), pol.lock_ttl_seconds, now, workflow=WORKFLOW
    )


def apply_step(
    item: ItemState,
    lease_store: LeaseStore,
    store: StateStore,
    pol: RotationPolicy,
    main: Policy,
    now: datetime,
    sm: Any = None,
) -> ChangeStarted:
    """Start the change under the lease (renewed first). Idempotent: a retry finds its own version."""
    action = item.action
    lease_store.renew(action.lease_key, owner(item.execution), pol.lock_ttl_seconds, now)
    sm = sm or aws.client("secretsmanager")
    metadata = sm.describe_secret(SecretId=action.secret_arn)
    if action.action == "drop_old_token":
        return _drop_old_token(action, metadata, sm, now)
    if action.token in metadata.get("VersionIdsToStages", {}):
        return ChangeStarted(started_at=now, already_applied=True)
    if _in_progress(metadata):
        raise GuardRefused("another rotation of this secret started since the plan")
    breaker = main.circuit_breaker
    store.count_change(
        guards.breaker_window(now, breaker.window_seconds),
        f"{item.execution}#{action.token[:8]}",
        breaker.max_changes_per_window,
        keep_seconds=breaker.window_seconds * 2,
    )
    sm.rotate_secret(SecretId=action.secret_arn, ClientRequestToken=action.token, RotateImmediately=True)
    logger.info("rotation started", extra={"secret": action.secret, "version": action.token})
    return ChangeStarted(started_at=now)


def _drop_old_token(action: RotationAction, metadata: dict[str, Any], sm: Any, now: datetime) -> ChangeStarted:
    from controlplane.rotation.redis_token import modify_token
    from controlplane.rotation.values import RedisSecret, parse

    current = _current_version(metadata)
    if current != action.version_before:
        raise GuardRefused("the secret was rotated since the plan: its old token must wait its own grace period")
    if _tags(metadata).get(TOKEN_SET_TAG) == current:
        return ChangeStarted(started_at=now, already_applied=True)
    text = sm.get_secret_value(SecretId=action.secret_arn, VersionId=current, VersionStage="AWSCURRENT")["SecretString"]
    secret = parse(RedisSecret, text, "current")
    modify_token(secret.replication_group_id, secret.auth_token, "SET")
    sm.tag_resource(SecretId=action.secret_arn, Tags=[{"Key": TOKEN_SET_TAG, "Value": str(current)}])
    logger.info("old AUTH token dropped (SET)", extra={"secret": action.secret, "group": secret.replication_group_id})
    return ChangeStarted(started_at=now)


def check_step(
    item: ItemState, lease_store: LeaseStore, pol: RotationPolicy, now: datetime, sm: Any = None
) -> ItemProgress:
    """One poll (renewing the lease): done when the new version is AWSCURRENT (only finishSecret moves
    it), no AWSPENDING is left elsewhere and LastRotatedDate has not gone back; for a SET, when the
    group is available again. LastRotatedDate is not required to move: two rotations of one secret
    within its resolution (whole seconds in moto; AWS sets it after finishSecret returns) look equal."""
    action, change = item.action, item.change
    if change is None:
        raise InvalidRequest("the item has no change to check")
    lease_store.renew(action.lease_key, owner(item.execution), pol.lock_ttl_seconds, now)
    polls = (item.progress.polls if item.progress else 0) + 1
    if action.action == "drop_old_token":
        from controlplane.rotation.redis_token import group_status

        status = group_status(action.resource).get("Status")
        done, detail = status == "available", f"replication group {status}"
    else:
        sm = sm or aws.client("secretsmanager")
        metadata = sm.describe_secret(SecretId=action.secret_arn)
        labels = metadata.get("VersionIdsToStages", {}).get(action.token, [])
        last = _when(metadata.get("LastRotatedDate"))
        before = action.last_rotated_before
        recorded = last is not None and (before is None or last >= before)
        moved = last is not None and (before is None or last > before)
        done = "AWSCURRENT" in labels and not _in_progress(metadata) and recorded
        detail = f"new version {'/'.join(labels) or 'missing'}; LastRotatedDate {'moved' if moved else 'unchanged'}"
    elapsed = max(polls * item.poll_seconds, (now - change.started_at).total_seconds())
    if done:
        return ItemProgress(polls=polls, state="done", detail=detail)
    if elapsed >= pol.verify_timeout_seconds:
        return ItemProgress(polls=polls, state="timed_out", detail=f"after {int(elapsed)}s: {detail}")
    return ItemProgress(polls=polls, state="in_progress", detail=detail)


def _read(sm: Any, arn: str, stage: str) -> str | None:
    try:
        return str(sm.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"])
    except sm.exceptions.ResourceNotFoundException:
        return None


def _works(strategy: str, text: str | None, token: str | None = None) -> bool:
    from controlplane.rotation import connections
    from controlplane.rotation.values import PostgresSecret, RedisSecret, parse

    if text is None:
        return False
    if strategy == StrategyName.REDIS_AUTH_TOKEN:
        return connections.redis_works(parse(RedisSecret, text, "secret"), token)
    return connections.postgres_works(parse(PostgresSecret, text, "secret"))


def verify_step(item: ItemState, sm: Any = None) -> Verification:
    """Log in with the new AWSCURRENT credentials, from outside the rotation function; where the old
    ones must be gone (single user; a Redis token after SET), prove they are refused."""
    from controlplane.rotation.values import RedisSecret, parse

    action = item.action
    sm = sm or aws.client("secretsmanager")
    current = _read(sm, action.secret_arn, "AWSCURRENT")
    new_works = _works(action.strategy, current)
    old_refused: bool | None = None
    previous = _read(sm, action.secret_arn, "AWSPREVIOUS")
    if action.strategy == StrategyName.POSTGRES_SINGLE_USER and previous is not None:
        old_refused = not _works(action.strategy, previous)
    if action.action == "drop_old_token" and previous is not None and current is not None:
        old_token = parse(RedisSecret, previous, "previous").auth_token
        old_refused = not _works(action.strategy, current, token=old_token)
    if not new_works:
        raise RotationError(f"{action.secret}: the AWSCURRENT credentials do not log in after the change")
    if old_refused is False:
        raise RotationError(f"{action.secret}: the old credentials still log in")
    detail = "new credentials log in" + ("; old ones refused" if old_refused else "")
    return Verification(new_works=True, old_refused=old_refused, detail=detail)


def observe_step(item: ItemState, sm: Any = None) -> Verification:
    """After a failed step: do the AWSCURRENT credentials still work? (A failed rotation must leave them so.)"""
    sm = sm or aws.client("secretsmanager")
    try:
        works = _works(item.action.strategy, _read(sm, item.action.secret_arn, "AWSCURRENT"))
    except Exception as exc:  # the record must still be written
        return Verification(new_works=False, detail=f"could not check AWSCURRENT: {type(exc).__name__}")
    return Verification(new_works=works, detail="AWSCURRENT still logs in" if works else "AWSCURRENT does NOT log in")


# --- outcome ------------------------------------------------------------------------------------------


def _item_result(item: ItemState) -> SecretResult:
    action = item.action
    if item.error is not None:
        error = item.error.Error
        status = OutcomeStatus.BLOCKED if error in BLOCKING else OutcomeStatus.FAILED
        reason = f"{error}: {error_message(item.error.Cause)}"[:400]
        if item.observation is not None:
            reason += f"; {item.observation.detail}"
        return SecretResult(secret=action.secret, action=action.action, status=status, reason=reason)
    if item.progress is not None and item.progress.state == "timed_out":
        reason = item.progress.detail + (f"; {item.observation.detail}" if item.observation else "")
        return SecretResult(secret=action.secret, action=action.action, status=OutcomeStatus.TIMED_OUT, reason=reason)
    if item.verification is not None:
        return SecretResult(
            secret=action.secret, action=action.action, status=OutcomeStatus.SUCCEEDED, reason=item.verification.detail
        )
    return SecretResult(secret=action.secret, action=action.action, status=OutcomeStatus.FAILED, reason="not verified")


_PRIORITY = [OutcomeStatus.FAILED, OutcomeStatus.TIMED_OUT, OutcomeStatus.BLOCKED, OutcomeStatus.SUCCEEDED]


def outcome_of(  # noqa: PLR0911
    state: RotationState, execution: str, now: datetime, started_at: datetime | None = None
) -> RotationOutcome:
    request, plan = state.request, state.plan
    common: dict[str, Any] = {
        "execution": execution,
        "recorded_at": now,
        "started_at": started_at,
        "dry_run": bool(request and request.dry_run),
        "requester": request.requester if request else None,
        "target_secret": request.secret if request else None,
        "skipped": plan.skipped if plan else [],
        "managed_checks": plan.managed_checks if plan else [],
    }
    if state.error is not None:
        status = OutcomeStatus.REJECTED if state.error.Error in {"InvalidRequest"} else OutcomeStatus.FAILED
        return RotationOutcome(
            status=status,
            reason=error_message(state.error.Cause) or state.error.Error,
            error=state.error.Error[:200],
            **common,
        )
    if plan is None or request is None:
        return RotationOutcome(
            status=OutcomeStatus.FAILED, reason="the workflow ended before a plan was made", error="NoPlan", **common
        )
    stale = [c for c in plan.managed_checks if c.status != "ok"]
    note = (
        f"; RDS-managed secrets not rotating as they should: {', '.join(c.db_instance for c in stale)}" if stale else ""
    )
    if not plan.actions:
        blocked = [s for s in plan.skipped if s.blocked]
        if blocked:
            return RotationOutcome(
                status=OutcomeStatus.BLOCKED,
                reason="; ".join(f"{s.secret}: {s.reason}" for s in blocked) + note,
                **common,
            )
        return RotationOutcome(status=OutcomeStatus.NO_CHANGE, reason="nothing is due" + note, **common)
    if request.dry_run:
        what = ", ".join(f"{a.action} {a.secret}" for a in plan.actions)
        return RotationOutcome(status=OutcomeStatus.DRY_RUN, reason=f"would {what}; nothing changed" + note, **common)
    results = [_item_result(item) for item in state.results]
    if not results:
        return RotationOutcome(status=OutcomeStatus.FAILED, reason="no action ran", error="NotRun", **common)
    status = next(s for s in _PRIORITY if any(r.status == s for r in results))
    reason = "; ".join(
        f"{r.secret}: {r.action} {r.status.value}" + ("" if r.status == OutcomeStatus.SUCCEEDED else f" ({r.reason})")
        for r in results
    )
    reason += note
    error = None
    if status.is_failure:
        error = "RotationFailed" if status == OutcomeStatus.FAILED else "VerifyTimeout"
        reason += ". A failed rotation leaves AWSCURRENT as it was (see each secret's result)"
    return RotationOutcome(status=status, reason=reason, error=error, secrets=results, **common)


# --- entry points for the thin handlers ----------------------------------------------------------


def _rotation_policy() -> RotationPolicy:
    return deployed_rotation_policy(settings().environment)


def _main_policy() -> Policy:
    from controlplane.config import policy

    return policy()


def _task(event: Any, known: tuple[str, ...]) -> str:
    if not isinstance(event, dict) or event.get("task") not in known:
        raise InvalidRequest(f"the event must name a task, one of {list(known)}")
    return str(event["task"])


def _item(event: dict[str, Any]) -> ItemState:
    try:
        return ItemState.model_validate(event.get("item", {}))
    except ValidationError as exc:
        raise InvalidRequest(f"malformed rotation item: {exc.error_count()} problems") from None


def handle_change(event: Any) -> Any:
    """Plan, AcquireLease, Apply and Record of the Rotation workflow (routed on ``task``)."""
    task = _task(event, ("plan", "lock", "apply", "record"))
    cfg, now = settings(), now_utc()
    if task == "plan":
        poll_seconds = event.get("poll_seconds", 30)
        if not isinstance(poll_seconds, int) or isinstance(poll_seconds, bool) or not 1 <= poll_seconds <= 300:
            raise InvalidRequest("poll_seconds must be an integer from 1 to 300")
        execution = event.get("execution", "local")
        if not isinstance(execution, str) or not 1 <= len(execution) <= 80:
            raise InvalidRequest("execution must be a name of 1 to 80 characters")
        return plan_step(
            event.get("input"),
            execution,
            _rotation_policy(),
            _main_policy(),
            DynamoStateStore(cfg.state_table),
            now,
            poll_seconds,
        )
    if task == "lock":
        return lock_step(_item(event), DynamoLeaseStore(cfg.state_table), _rotation_policy(), now)
    if task == "apply":
        return apply_step(
            _item(event),
            DynamoLeaseStore(cfg.state_table),
            DynamoStateStore(cfg.state_table),
            _rotation_policy(),
            _main_policy(),
            now,
        )
    return handle_record(event)


def handle_check(event: Any) -> Any:
    """CheckProgress (renews the lease), Verify and ObserveAfterError: they read, and log in."""
    task = _task(event, ("check", "verify", "observe"))
    item = _item(event)
    if task == "check":
        return check_step(item, DynamoLeaseStore(settings().state_table), _rotation_policy(), now_utc())
    if task == "verify":
        return verify_step(item)
    return observe_step(item)


def handle_record(event: dict[str, Any]) -> RotationOutcome:
    from controlplane import audit

    cfg = settings()
    from controlplane.models.outcome import started_at_of

    started_at = started_at_of(event)
    try:
        state = RotationState.model_validate(event.get("state", {}))
    except ValidationError as exc:
        raise InvalidRequest(f"malformed workflow state: {exc.error_count()} problems") from None
    outcome = outcome_of(state, str(event.get("execution", "")), now_utc(), started_at)
    notify_on = set(_main_policy().notify_on)
    if any(c.status != "ok" for c in outcome.managed_checks):
        notify_on.add(outcome.status)  # a stale RDS-managed secret is always reported
    audit.record(outcome, DynamoStateStore(cfg.state_table), cfg, notify_on)
    return outcome

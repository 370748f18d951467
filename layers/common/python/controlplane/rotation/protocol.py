"""The Secrets Manager rotation protocol: createSecret, setSecret, testSecret, finishSecret.

Secrets Manager invokes a rotation function once per step with ``{"Step", "SecretId",
"ClientRequestToken"}`` and retries the whole rotation when a step fails. The rules every step
keeps, whatever the credential (a PostgreSQL user, a Redis AUTH token):

- the secret must have rotation enabled;
- the token must be a version of the secret; a version already ``AWSCURRENT`` makes the step a
  no-op (a retry after finishSecret); a version without ``AWSPENDING`` is an error;
- an unknown step is an error (checked before any call);
- versions are read by explicit stage or version id, never "the default version";
- createSecret keeps an existing ``AWSPENDING`` value (a retry never generates a second password)
  and otherwise stores a new one as ``AWSPENDING`` only;
- finishSecret moves ``AWSCURRENT`` to the token (Secrets Manager labels the old one
  ``AWSPREVIOUS``) and is idempotent.

What differs per credential is a ``Strategy``. Nothing here logs or raises a secret value.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controlplane import aws
from controlplane.leases import LeaseStore
from controlplane.models.errors import LockHeld
from controlplane.observability import logger
from controlplane.rotation.errors import RotationError, RotationNotEnabled, UnknownStep, VersionNotPending

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
# A rotation Secrets Manager starts on its own schedule (not the workflow's) takes the resource's lease
# from setSecret to finishSecret; if it dies in between, the lease expires after this long.
SCHEDULED_LEASE_SECONDS = 900
WORKFLOW = "rotation"


@dataclass(frozen=True)
class RotationEvent:
    step: str
    secret_id: str
    token: str


def parse_event(event: Any) -> RotationEvent:
    """The step, secret and token, or ``UnknownStep`` / ``RotationError`` before any AWS call."""
    if not isinstance(event, dict):
        raise RotationError("a rotation event is a JSON object with Step, SecretId and ClientRequestToken")
    step, secret_id, token = event.get("Step"), event.get("SecretId"), event.get("ClientRequestToken")
    if step not in STEPS:
        raise UnknownStep(f"unknown rotation step {str(step)[:40]!r}; expected one of {list(STEPS)}")
    if not isinstance(secret_id, str) or not secret_id or not isinstance(token, str) or not 32 <= len(token) <= 64:
        raise RotationError("the event needs a SecretId and a ClientRequestToken of 32 to 64 characters")
    return RotationEvent(step=step, secret_id=secret_id, token=token)


class Versions:
    """Reads of one secret's versions, each by explicit stage or version id."""

    def __init__(self, client: Any, secret_id: str, token: str) -> None:
        self.client, self.secret_id, self.token = client, secret_id, token

    def stage(self, stage: str) -> str | None:
        """The value labelled ``stage`` (None when no version has it)."""
        try:
            return str(self.client.get_secret_value(SecretId=self.secret_id, VersionStage=stage)["SecretString"])
        except self.client.exceptions.ResourceNotFoundException:
            return None

    def current(self) -> str:
        value = self.stage(CURRENT)
        if value is None:
            raise RotationError("the secret has no AWSCURRENT value")
        return value

    def pending(self) -> str | None:
        """The pending value of this token (None when createSecret has not stored one yet)."""
        try:
            response = self.client.get_secret_value(SecretId=self.secret_id, VersionId=self.token, VersionStage=PENDING)
        except self.client.exceptions.ResourceNotFoundException:
            return None
        value = response.get("SecretString")
        return str(value) if value else None

    def require_pending(self) -> str:
        value = self.pending()
        if value is None:
            raise VersionNotPending("the AWSPENDING version of this token has no value: createSecret has not run")
        return value


class Strategy(ABC):
    """What one kind of credential does in each step."""

    name: str = ""

    @abstractmethod
    def new_pending(self, current: str, password: Any) -> str:
        """The pending secret JSON, from the current one; ``password()`` draws a new random password."""

    @abstractmethod
    def password_rules(self) -> dict[str, Any]:
        """GetRandomPassword parameters for this credential (length, characters excluded)."""

    @abstractmethod
    def set(self, versions: Versions) -> None:
        """Make the pending credentials valid on the resource (a no-op when they already work)."""

    @abstractmethod
    def test(self, versions: Versions) -> None:
        """Log in with the pending credentials and read something; raise when that fails."""

    @abstractmethod
    def lease_key(self, current: str) -> str:
        """The lease of the physical resource the credential belongs to (controlplane.leases)."""


def _metadata(client: Any, secret_id: str) -> dict[str, Any]:
    return dict(client.describe_secret(SecretId=secret_id))


def rotate(
    event: Any,
    strategy: Strategy,
    leases: LeaseStore | None = None,
    now: datetime | None = None,
    client: Any = None,
) -> dict[str, str]:
    """Run one step of the protocol for ``strategy``. Returns what was done (no secret in it)."""
    request = parse_event(event)
    client = client or aws.client("secretsmanager")
    metadata = _metadata(client, request.secret_id)
    if not metadata.get("RotationEnabled"):
        raise RotationNotEnabled(f"rotation is not enabled for {metadata.get('Name', request.secret_id)}")
    stages = metadata.get("VersionIdsToStages", {})
    if request.token not in stages:
        raise VersionNotPending(f"{request.token} is not a version of the secret")
    if CURRENT in stages[request.token]:
        logger.info("version already AWSCURRENT: nothing to do", extra={"step": request.step, "token": request.token})
        if request.step == "finishSecret":
            # A finishSecret retried after it moved AWSCURRENT still gives back a lease it took.
            give_back_lease(Versions(client, request.secret_id, request.token), strategy, leases, request.token)
        return {"step": request.step, "result": "already current"}
    if PENDING not in stages[request.token]:
        raise VersionNotPending(f"version {request.token} is not AWSPENDING")
    versions = Versions(client, request.secret_id, request.token)
    if request.step == "createSecret":
        result = create_secret(versions, strategy)
    elif request.step == "setSecret":
        take_lease(versions, strategy, leases, now, request.token)
        strategy.set(versions)
        result = "set"
    elif request.step == "testSecret":
        strategy.test(versions)
        result = "tested"
    else:
        result = finish_secret(versions, stages)
        give_back_lease(versions, strategy, leases, request.token)
    logger.info("rotation step done", extra={"step": request.step, "strategy": strategy.name, "result": result})
    return {"step": request.step, "result": result}


def create_secret(versions: Versions, strategy: Strategy) -> str:
    """Store a new pending value, unless this token already has one (a retry keeps it)."""
    current = versions.current()
    if versions.pending() is not None:
        return "kept the existing pending value"

    def password() -> str:
        response = versions.client.get_random_password(**strategy.password_rules())
        return str(response["RandomPassword"])

    versions.client.put_secret_value(
        SecretId=versions.secret_id,
        ClientRequestToken=versions.token,
        SecretString=strategy.new_pending(current, password),
        VersionStages=[PENDING],
    )
    return "created a pending value"


def finish_secret(versions: Versions, stages: dict[str, list[str]]) -> str:
    """``AWSCURRENT`` to the token (the old current becomes ``AWSPREVIOUS``); ``AWSPENDING`` removed."""
    current = next((version for version, labels in stages.items() if CURRENT in labels), None)
    move: dict[str, str] = {"MoveToVersionId": versions.token}
    if current is not None:
        move["RemoveFromVersionId"] = current
    versions.client.update_secret_version_stage(SecretId=versions.secret_id, VersionStage=CURRENT, **move)
    # Both states are valid after a rotation (AWSPENDING with AWSCURRENT, or on no version); removing it
    # leaves nothing that a later RotateSecret could take for a rotation still in progress.
    versions.client.update_secret_version_stage(
        SecretId=versions.secret_id, VersionStage=PENDING, RemoveFromVersionId=versions.token
    )
    return "promoted the pending version"


def _scheduled_owner(token: str) -> str:
    return f"{WORKFLOW}/secretsmanager-{token}"


def take_lease(
    versions: Versions, strategy: Strategy, leases: LeaseStore | None, now: datetime | None, token: str
) -> None:
    """No credential changes while another workflow changes the same database or replication group.

    The Rotation workflow holds the lease itself before it calls RotateSecret; a rotation Secrets
    Manager starts on its own schedule takes it here (until finishSecret, or expiry) and fails while
    another workflow holds it, so Secrets Manager retries later (docs/adr/0007-rotation.md).
    """
    if leases is None:
        return
    from controlplane import clock
    from controlplane.store import epoch

    moment = now or clock.now()
    key = strategy.lease_key(versions.current())
    held = leases.holder(key)
    if held is not None and held.expires_at >= epoch(moment):
        if held.owner.startswith(f"{WORKFLOW}/"):
            return
        raise LockHeld(f"{key} is held by {held.owner}: the rotation waits for that change to end")
    leases.acquire(key, _scheduled_owner(token), SCHEDULED_LEASE_SECONDS, moment, workflow=WORKFLOW)


def give_back_lease(versions: Versions, strategy: Strategy, leases: LeaseStore | None, token: str) -> None:
    if leases is None:
        return
    leases.release(strategy.lease_key(versions.current()), _scheduled_owner(token))

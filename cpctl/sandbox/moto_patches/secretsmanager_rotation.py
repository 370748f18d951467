"""Secrets Manager rotation as AWS runs it: the rotation function really runs, step by step.

Why: moto 5.2.5's ``RotateSecret`` invokes the function's four steps through Lambda and ignores
what they answer, then makes the new version current itself and sets ``LastRotatedDate`` before
anything ran. In AWS (RotateSecret and "How rotation works" in the Secrets Manager user guide):

- ``RotateSecret`` needs a rotation function (given now or configured before) and turns rotation on;
- a version labelled ``AWSPENDING`` that is not also ``AWSCURRENT`` means a previous rotation is not
  complete: ``InvalidRequestException``;
- Secrets Manager adds an empty ``AWSPENDING`` version for the token and invokes the function with
  ``createSecret``, ``setSecret``, ``testSecret``, ``finishSecret``; only ``finishSecret`` moves
  ``AWSCURRENT``; a failing step stops the rotation (``AWSPENDING`` stays), and Secrets Manager retries
  the rotation later with the same pending version;
- ``LastRotatedDate`` moves when a rotation completes.

Here the steps run through the Lambda bridge (the real handler, with its own role), one after the
other, before ``RotateSecret`` answers (AWS runs them asynchronously: the Rotation workflow polls
``DescribeSecret`` either way). ``retry(secret)`` is Secrets Manager's retry of a failed rotation.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.secretsmanager.exceptions import (
    InvalidRequestException,
    OperationNotPermittedOnReplica,
    ResourceNotFoundException,
    SecretNotFoundException,
)
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend

from cpctl.sandbox.moto_patches import lambda_bridge

_LOCK = threading.RLock()
_MARKER = "_cpctl_rotation_patched"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


@dataclass
class Attempt:
    """One rotation attempt of one secret: the steps that ran and how the last one ended (no values)."""

    secret: str
    token: str
    steps: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.steps == list(STEPS)


ATTEMPTS: list[Attempt] = []


def reset() -> None:
    with _LOCK:
        ATTEMPTS.clear()


def _pending_version(secret: Any) -> str | None:
    for version_id, version in secret.versions.items():
        stages = version["version_stages"]
        if "AWSPENDING" in stages and "AWSCURRENT" not in stages:
            return str(version_id)
    return None


def _invoke(function_arn: str, event: dict[str, Any]) -> tuple[bool, Any]:
    """The bridged function, from inside another call (the caller's invocation context is kept)."""
    saved = dict(lambda_bridge._current.__dict__)
    try:
        return lambda_bridge.invoke_function(lambda_bridge.REGISTRY.resolve(function_arn), event)
    finally:
        lambda_bridge._current.__dict__.clear()
        lambda_bridge._current.__dict__.update(saved)


def run_steps(backend: SecretsManagerBackend, secret: Any, token: str, steps: tuple[str, ...] = STEPS) -> Attempt:
    attempt = Attempt(secret=secret.name, token=token)
    ATTEMPTS.append(attempt)
    for step in steps:
        ok, payload = _invoke(
            secret.rotation_lambda_arn, {"Step": step, "SecretId": secret.arn, "ClientRequestToken": token}
        )
        attempt.steps.append(step)
        if not ok:
            attempt.error = {"step": step, "errorType": payload.get("errorType") if isinstance(payload, dict) else None}
            return attempt
    if steps == STEPS:
        now = int(time.time())
        secret.last_rotation_date = now
        if secret.auto_rotate_after_days:
            secret.next_rotation_date = now + int(secret.auto_rotate_after_days) * 86400
    return attempt


def _configure(secret: FakeSecret, function_arn: str, rotation_rules: dict[str, Any] | None) -> None:
    """RotateSecret's configuration part: the function, the interval, rotation on."""
    if rotation_rules and "AutomaticallyAfterDays" in rotation_rules:
        days = int(rotation_rules["AutomaticallyAfterDays"])
        if not 1 <= days <= 1000:
            raise InvalidRequestException("RotationRules.AutomaticallyAfterDays must be within 1-1000.")
        secret.auto_rotate_after_days = days
    secret.rotation_lambda_arn = function_arn
    secret.rotation_enabled = True
    secret.rotation_requested = True


def rotate_secret(
    self: SecretsManagerBackend,
    secret_id: str,
    client_request_token: str | None = None,
    rotation_lambda_arn: str | None = None,
    rotation_rules: dict[str, Any] | None = None,
    rotate_immediately: bool = True,
) -> str:
    if not self._is_valid_identifier(secret_id):
        raise SecretNotFoundException()
    found = self.secrets[secret_id]
    if not isinstance(found, FakeSecret):
        raise OperationNotPermittedOnReplica
    secret = found
    if secret.is_deleted():
        raise InvalidRequestException("You can't perform this operation on a secret that's currently marked deleted.")
    function_arn = rotation_lambda_arn or secret.rotation_lambda_arn
    if not function_arn:
        raise InvalidRequestException("No Lambda rotation function ARN is associated with this secret.")
    try:
        lambda_bridge.REGISTRY.resolve(function_arn)
    except KeyError:
        raise ResourceNotFoundException(f"Resource not found for ARN '{function_arn}'.") from None
    with _LOCK:
        if _pending_version(secret) is not None:
            raise InvalidRequestException("A previous rotation isn't complete. That rotation will be reattempted.")
        _configure(secret, function_arn, rotation_rules)
        token = client_request_token or str(uuid.uuid4())
        if client_request_token:
            self._client_request_token_validator(client_request_token)
        secret.remove_version_stages_from_old_versions(["AWSPENDING"])
        secret.versions[token] = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}
        if rotate_immediately:
            run_steps(self, secret, token)
        else:
            # AWS tests the configuration with testSecret on a pending copy of the current value, then removes it.
            current = secret.versions[str(secret.default_version_id)]
            for key in ("secret_string", "secret_binary"):
                if key in current:
                    secret.versions[token][key] = current[key]
            run_steps(self, secret, token, steps=("testSecret",))
            del secret.versions[token]
    return str(secret.to_short_dict(version_id=token))


def retry(backend: SecretsManagerBackend, secret_id: str) -> Attempt:
    """Secrets Manager's retry of a rotation that failed: the same pending version, every step again."""
    secret = backend.secrets[secret_id]
    token = _pending_version(secret)
    if token is None:
        raise ValueError(f"{secret_id} has no rotation to retry")
    with _LOCK:
        attempt = run_steps(backend, secret, token)
    return attempt


def apply() -> None:
    with _LOCK:
        if getattr(SecretsManagerBackend, _MARKER, False):
            return
        SecretsManagerBackend.rotate_secret = rotate_secret  # type: ignore[method-assign]
        setattr(SecretsManagerBackend, _MARKER, True)


def targets() -> list[str]:
    return [
        "moto.secretsmanager.models.SecretsManagerBackend.rotate_secret",
        "moto.secretsmanager.models.SecretsManagerBackend._is_valid_identifier",
        "moto.secretsmanager.models.SecretsManagerBackend._client_request_token_validator",
        "moto.secretsmanager.models.FakeSecret.remove_version_stages_from_old_versions",
        "moto.secretsmanager.models.FakeSecret.to_short_dict",
        "moto.secretsmanager.exceptions.InvalidRequestException",
        "cpctl.sandbox.moto_patches.lambda_bridge._current",
        "cpctl.sandbox.moto_patches.lambda_bridge.invoke_function",
    ]

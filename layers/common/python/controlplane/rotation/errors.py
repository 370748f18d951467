"""Errors of the rotation functions and the Rotation workflow. Their names are what Secrets Manager
and Step Functions see; their messages never carry a secret (no password, token or connection string)."""

from __future__ import annotations

from controlplane.models.errors import ControlPlaneError


class RotationError(ControlPlaneError):
    """A rotation step refused or failed; Secrets Manager retries the rotation, AWSCURRENT is untouched."""


class RotationNotEnabled(RotationError):
    """The secret has no rotation enabled: a step invoked for it is refused."""


class UnknownStep(RotationError):
    """The event names a step that is not one of createSecret, setSecret, testSecret, finishSecret."""


class VersionNotPending(RotationError):
    """The token is not a version of the secret, or that version is not AWSPENDING."""


class PendingTampered(RotationError):
    """The pending version names another user, host, database or group than the current one may rotate to."""


class CredentialsRefused(RotationError):
    """None of the credentials the step may use logged in (current, previous, or the master's)."""


class ResourceNotReady(RotationError):
    """The database or replication group is not ready for the change yet; Secrets Manager retries."""

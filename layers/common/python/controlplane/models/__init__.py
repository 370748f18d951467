"""Pydantic models of every task input/output and event; domain errors."""

from controlplane.models.errors import (
    ApplyFailed,
    ControlPlaneError,
    GuardRefused,
    InvalidPolicy,
    InvalidRequest,
    LeaseLost,
    LockHeld,
    PlanStale,
    ResourceBusy,
    ResourceNotFound,
    TransientAwsError,
)

__all__ = [
    "ApplyFailed",
    "ControlPlaneError",
    "GuardRefused",
    "InvalidPolicy",
    "InvalidRequest",
    "LeaseLost",
    "LockHeld",
    "PlanStale",
    "ResourceBusy",
    "ResourceNotFound",
    "TransientAwsError",
]

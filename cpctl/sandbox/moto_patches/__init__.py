"""Every patch the sandbox makes to moto's (and botocore's) internals, in one place.

moto is pinned exactly (pyproject.toml): these patches reach into its private
classes. ``verify()`` resolves every attribute they rely on, and a test calls
it, so a moto upgrade that moves one fails loudly instead of silently running
unpatched code.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import moto

from cpctl.sandbox.moto_patches import (
    backup,
    clock,
    codebuild,
    dynamodb_atomic,
    dynamodb_ttl,
    eks,
    events,
    events_envelope,
    faults,
    iam_enforcement,
    kms_keys,
    lambda_bridge,
    rds,
    sfn_callbacks,
    sfn_definitions,
    sfn_integration,
    snapshots,
)

PINNED_MOTO = "5.2.5"


def _modules() -> list[ModuleType]:
    modules: list[ModuleType] = [
        clock,
        lambda_bridge,
        faults,
        dynamodb_atomic,
        kms_keys,
        eks,
        rds,
        events,
        events_envelope,
        sfn_integration,
        sfn_callbacks,
        sfn_definitions,
        codebuild,
        iam_enforcement,
        dynamodb_ttl,
        snapshots,
        # After snapshots: its fast lookup by id would otherwise skip backup's holds (creating, pending).
        backup,
    ]
    try:
        from cpctl.sandbox.moto_patches import elasticache

        modules.append(elasticache)
    except ImportError:  # pragma: no cover - only while the module is being written
        pass
    from cpctl.sandbox.moto_patches import elasticache_auth, endpoints, secretsmanager_rotation

    modules += [elasticache_auth, secretsmanager_rotation, endpoints]
    return modules


def apply_all() -> None:
    """Apply every patch (idempotent)."""
    if moto.__version__ != PINNED_MOTO:
        raise RuntimeError(f"the sandbox patches moto {PINNED_MOTO}; found {moto.__version__}: re-check the patches")
    for module in _modules():
        module.apply()


def targets() -> list[str]:
    return [target for module in _modules() for target in module.targets()]


def verify() -> list[str]:
    """Dotted names of patch targets that no longer resolve (empty when all is well)."""
    missing = []
    for target in targets():
        parts = target.split(".")
        for split in range(len(parts) - 1, 0, -1):
            try:
                obj: object = importlib.import_module(".".join(parts[:split]))
            except ImportError:
                continue
            try:
                for attribute in parts[split:]:
                    obj = getattr(obj, attribute)
            except AttributeError:
                missing.append(target)
            break
        else:
            missing.append(target)
    return missing

"""Entry points of the rotation functions Secrets Manager invokes (one per kind of credential).

The strategy of a secret comes from the rotation policy by the secret's name; a secret the policy
does not list, or lists for the other function, is refused before any change.
"""

from __future__ import annotations

import os
from typing import Any

from controlplane.rotation.errors import RotationError
from controlplane.rotation.policy import StrategyName, deployed_rotation_policy
from controlplane.rotation.protocol import Strategy, rotate

_POSTGRES = {StrategyName.POSTGRES_ALTERNATING, StrategyName.POSTGRES_SINGLE_USER}


def _leases() -> Any:
    from controlplane.config import settings
    from controlplane.leases import DynamoLeaseStore

    return DynamoLeaseStore(settings().state_table)


def _entry(event: Any, allowed: set[StrategyName]) -> tuple[Any, StrategyName]:
    secret_id = event.get("SecretId") if isinstance(event, dict) else None
    policy = deployed_rotation_policy(os.environ.get("ENVIRONMENT", ""))
    entry = policy.secret(str(secret_id or ""))
    if entry is None or entry.strategy not in allowed:
        raise RotationError("this function does not rotate that secret (not in the rotation policy for it)")
    return entry, entry.strategy


def strategy_for(event: Any, allowed: set[StrategyName]) -> Strategy:
    entry, name = _entry(event, allowed)
    if name == StrategyName.REDIS_AUTH_TOKEN:
        from controlplane.rotation.redis_token import RedisTokenRotation

        return RedisTokenRotation()
    from controlplane.rotation.postgres import PostgresRotation

    return PostgresRotation(alternating=name == StrategyName.POSTGRES_ALTERNATING, db_instance=entry.db_instance)


def handle_postgres(event: Any) -> dict[str, str]:
    from controlplane.rotation.protocol import parse_event

    parse_event(event)
    return rotate(event, strategy_for(event, _POSTGRES), leases=_leases())


def handle_redis(event: Any) -> dict[str, str]:
    from controlplane.rotation.protocol import parse_event

    parse_event(event)
    return rotate(event, strategy_for(event, {StrategyName.REDIS_AUTH_TOKEN}), leases=_leases())

"""DynamoDB Time to Live as AWS runs it: expired items go away late, at a moment nobody chooses.

moto stores a table's TTL specification and never deletes anything. AWS's documentation: "Items
with valid, expired TTL attributes may be deleted by the system at any time, typically within a
few days of their expiration" and "expired items that haven't been deleted will still appear in
reads, queries, and scans"; an item whose TTL attribute is not a Number, or is more than five
years in the past, is never deleted.

Before every DynamoDB request the sandbox deletes, in each table whose TTL is enabled, the items
whose TTL attribute (epoch seconds, per the table's specification) is at or before the control
plane's clock (``controlplane.clock.now()``, which the sandbox moves forward) and whose deletion
moment has come. ``SANDBOX_STATE.ttl`` decides that moment:

- ``random`` (the default): expiry plus a delay drawn per item from a seeded generator, zero for
  a quarter of the items (deleted at once) and otherwise up to ``max_delay_seconds`` (two days).
  The seed is taken from Python's ``random`` module when the sandbox starts, so pytest-randomly's
  ``-p randomly_seed=N`` replays it; ``set_ttl("random", seed=N)`` fixes it.
- ``immediate``: every expired item is deleted on the next request.
- ``never``: expired items stay for ever.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from moto.dynamodb.responses import DynamoHandler

from cpctl.sandbox.moto_patches import dynamodb_atomic
from cpctl.sandbox.moto_patches.state import SANDBOX_STATE

_APPLIED: dict[str, Any] = {}
# The DynamoDB backend's own lock (dynamodb_atomic): a deletion never lands inside a transaction.
_LOCK = dynamodb_atomic._LOCK
FIVE_YEARS_SECONDS = 5 * 365 * 24 * 3600
IMMEDIATE_SHARE = 0.25
deleted: list[dict[str, str]] = []


def deletion_delay(seed: int, table: str, key: str, expires: float) -> float:
    """Seconds after ``expires`` at which this item is deleted in ``random`` mode (stable per item)."""
    digest = hashlib.sha256(f"{seed}|{table}|{key}|{expires}".encode()).digest()
    draw = random.Random(int.from_bytes(digest[:8], "big")).random()
    if draw < IMMEDIATE_SHARE:
        return 0.0
    return (draw - IMMEDIATE_SHARE) / (1 - IMMEDIATE_SHARE) * SANDBOX_STATE.ttl.max_delay_seconds


def _seed() -> int:
    settings = SANDBOX_STATE.ttl
    if settings.seed is None:
        settings.seed = random.getrandbits(32)
    return settings.seed


def sweep(backend: Any) -> int:
    """Delete what DynamoDB's TTL process would have deleted by now; returns how many items."""
    from controlplane import clock

    settings = SANDBOX_STATE.ttl
    if settings.mode == "never":
        return 0
    now = clock.now().timestamp()
    removed = 0
    with _LOCK:
        for table in list(backend.tables.values()):
            if table.ttl.get("TimeToLiveStatus") != "ENABLED":
                continue
            attribute = table.ttl.get("AttributeName")
            for item in table.all_items():
                value = item.attrs.get(attribute)
                if value is None or value.type != "N":
                    continue
                expires = float(value.value)
                if expires > now or expires < now - FIVE_YEARS_SECONDS:
                    continue
                key = f"{item.hash_key.value}|{item.range_key.value if item.range_key else ''}"
                if settings.mode == "random" and now < expires + deletion_delay(_seed(), table.name, key, expires):
                    continue
                table.delete_item(item.hash_key, item.range_key)
                deleted.append({"table": table.name, "key": key, "expired": str(expires), "deleted_at": str(now)})
                removed += 1
    return removed


def _call_action(self: DynamoHandler) -> Any:
    sweep(self.dynamodb_backend)
    return _APPLIED["call_action"](self)


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["call_action"] = DynamoHandler.call_action
    DynamoHandler.call_action = _call_action  # type: ignore[method-assign]


def reset() -> None:
    with _LOCK:
        deleted.clear()


def targets() -> list[str]:
    return [
        "moto.dynamodb.responses.DynamoHandler.call_action",
        "moto.dynamodb.responses.DynamoHandler.dynamodb_backend",
        "moto.dynamodb.models.table.Table.all_items",
        "moto.dynamodb.models.table.Table.delete_item",
    ]

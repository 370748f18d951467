"""DynamoDB operations are atomic towards each other, as in AWS, where moto's are not.

moto's ``transact_write_items`` copies every table it touches, applies the items, and on a
cancelled transaction (a failed condition) puts the copies back: any write another thread made in
between is lost, and an item deleted meanwhile comes back. In AWS a cancelled transaction changes
nothing else. Under an alarm storm (concurrent admissions, most of them cancelled) this resurrected
a lease the Scale workflow had just released. Here every item operation of the DynamoDB backend
runs under one lock, so a transaction and its rollback are atomic with respect to every other call.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_LOCK = threading.RLock()
_APPLIED: dict[str, Any] = {}
OPERATIONS = (
    "put_item",
    "get_item",
    "query",
    "scan",
    "update_item",
    "delete_item",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
)


def _serialized(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(self, *args, **kwargs)

    return locked


def apply() -> None:
    if _APPLIED:
        return
    for name in OPERATIONS:
        _APPLIED[name] = getattr(DynamoDBBackend, name)
        setattr(DynamoDBBackend, name, _serialized(_APPLIED[name]))


def targets() -> list[str]:
    return [f"moto.dynamodb.models.DynamoDBBackend.{name}" for name in OPERATIONS]

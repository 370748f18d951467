"""The control plane's own state: leases, cooldowns, circuit-breaker counters, audit.

One abstract base, a DynamoDB implementation (one table, ``pk``/``sk``, TTL on
``expires_at``) and an in-memory one for unit tests, as Powertools' idempotency
persistence does. Every write that guards a change is a conditional write.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Any

from controlplane import aws
from controlplane.models.errors import GuardRefused, LockHeld
from controlplane.models.scale import Lease


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def delete_if_owner(client: Any, table_name: str, pk: str, sk: str, owner: str) -> bool:
    """Delete an owned item (a lease, a claim) only if ``owner`` still owns it; False when it did not."""
    try:
        client.delete_item(
            TableName=table_name,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}},
        )
    except Exception as exc:
        if aws.error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


class StateStore(ABC):
    """What the guards and the workflow tasks need from persistent state."""

    @abstractmethod
    def acquire_lease(self, key: str, owner: str, ttl_seconds: int, now: datetime) -> Lease:
        """Take the lease on ``key`` for ``owner``; re-taking one's own lease renews it. Raises LockHeld."""

    @abstractmethod
    def release_lease(self, key: str, owner: str) -> bool:
        """Give the lease back if ``owner`` holds it; True when something was released."""

    @abstractmethod
    def last_change(self, key: str) -> datetime | None:
        """When the resource was last changed by the control plane (for cooldowns)."""

    @abstractmethod
    def mark_change(self, key: str, at: datetime, keep_seconds: int, execution: str = "") -> None:
        """Remember a change of ``key`` at ``at`` by ``execution``; forgotten after ``keep_seconds``."""

    @abstractmethod
    def last_changed_by(self, key: str) -> str | None:
        """Which execution made the last remembered change of ``key``."""

    @abstractmethod
    def changes_in_window(self, window: str) -> int:
        """How many changes were counted in the circuit-breaker window ``window``."""

    @abstractmethod
    def count_change(self, window: str, execution: str, limit: int, keep_seconds: int) -> int:
        """Count ``execution``'s change in ``window`` unless ``limit`` is reached (raises GuardRefused).

        Counting the same execution twice (a retried apply) counts it once.
        """

    @abstractmethod
    def put_audit(self, resource_key: str, at: datetime, execution: str, record: dict[str, Any]) -> None:
        """Keep an audit record of one outcome."""


class DynamoTable:
    """The control plane's table and a DynamoDB client, made on first use unless one is injected."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb")
        return self._client


class DynamoStateStore(DynamoTable, StateStore):
    """The DynamoDB table of the template (``StateTable``)."""

    AUDIT_KEEP_SECONDS = 400 * 86_400

    def acquire_lease(self, key: str, owner: str, ttl_seconds: int, now: datetime) -> Lease:
        expires_at = _epoch(now) + ttl_seconds
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "pk": {"S": f"LOCK#{key}"},
                    "sk": {"S": "LOCK"},
                    "owner": {"S": owner},
                    "expires_at": {"N": str(expires_at)},
                    "acquired_at": {"S": now.isoformat()},
                },
                # Free, expired (TTL deletion lags by hours), or already ours (a retried acquire).
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR #owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":now": {"N": str(_epoch(now))}, ":owner": {"S": owner}},
            )
        except Exception as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                holder = self._lease_holder(key)
                raise LockHeld(f"{key} is locked by execution {holder}") from None
            raise
        return Lease(key=key, owner=owner, expires_at=expires_at)

    def _lease_holder(self, key: str) -> str:
        item = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": f"LOCK#{key}"}, "sk": {"S": "LOCK"}}, ConsistentRead=True
        ).get("Item", {})
        return str(item.get("owner", {}).get("S", "unknown"))

    def release_lease(self, key: str, owner: str) -> bool:
        return delete_if_owner(self.client, self.table_name, f"LOCK#{key}", "LOCK", owner)

    def last_change(self, key: str) -> datetime | None:
        item = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": f"CHANGE#{key}"}, "sk": {"S": "LAST"}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return datetime.fromisoformat(item["changed_at"]["S"])

    def mark_change(self, key: str, at: datetime, keep_seconds: int, execution: str = "") -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item={
                "pk": {"S": f"CHANGE#{key}"},
                "sk": {"S": "LAST"},
                "changed_at": {"S": at.isoformat()},
                "execution": {"S": execution},
                "expires_at": {"N": str(_epoch(at) + keep_seconds)},
            },
        )

    def last_changed_by(self, key: str) -> str | None:
        item = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": f"CHANGE#{key}"}, "sk": {"S": "LAST"}}, ConsistentRead=True
        ).get("Item")
        return str(item["execution"]["S"]) if item and item.get("execution", {}).get("S") else None

    def changes_in_window(self, window: str) -> int:
        item = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": f"BREAKER#{window}"}, "sk": {"S": "COUNT"}}, ConsistentRead=True
        ).get("Item")
        return len(item["executions"]["SS"]) if item else 0

    def count_change(self, window: str, execution: str, limit: int, keep_seconds: int) -> int:
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"BREAKER#{window}"}, "sk": {"S": "COUNT"}},
                UpdateExpression="ADD executions :me SET expires_at = if_not_exists(expires_at, :expires)",
                ConditionExpression="attribute_not_exists(executions) OR size(executions) < :limit"
                " OR contains(executions, :execution)",
                ExpressionAttributeValues={
                    ":me": {"SS": [execution]},
                    ":execution": {"S": execution},
                    ":limit": {"N": str(limit)},
                    ":expires": {"N": str(_epoch(datetime.now(UTC)) + keep_seconds)},
                },
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                raise GuardRefused(f"circuit breaker open: {limit} changes already made in window {window}") from None
            raise
        return len(response["Attributes"]["executions"]["SS"])

    def put_audit(self, resource_key: str, at: datetime, execution: str, record: dict[str, Any]) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item={
                "pk": {"S": f"AUDIT#{resource_key}"},
                "sk": {"S": f"{at.isoformat()}#{execution}"},
                "status": {"S": str(record.get("status", ""))},
                "record": {"S": json.dumps(record, default=str, sort_keys=True)},
                "expires_at": {"N": str(_epoch(at) + self.AUDIT_KEEP_SECONDS)},
            },
        )


class InMemoryStateStore(StateStore):
    """Same contract in a dict: for unit tests of guards and planning."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.leases: dict[str, Lease] = {}
        self.changes: dict[str, datetime] = {}
        self.changed_by: dict[str, str] = {}
        self.breaker: dict[str, set[str]] = {}
        self.audit: list[dict[str, Any]] = []

    def acquire_lease(self, key: str, owner: str, ttl_seconds: int, now: datetime) -> Lease:
        with self._lock:
            held = self.leases.get(key)
            if held and held.owner != owner and held.expires_at >= _epoch(now):
                raise LockHeld(f"{key} is locked by execution {held.owner}")
            lease = Lease(key=key, owner=owner, expires_at=_epoch(now) + ttl_seconds)
            self.leases[key] = lease
            return lease

    def release_lease(self, key: str, owner: str) -> bool:
        with self._lock:
            held = self.leases.get(key)
            if held and held.owner == owner:
                del self.leases[key]
                return True
            return False

    def last_change(self, key: str) -> datetime | None:
        return self.changes.get(key)

    def mark_change(self, key: str, at: datetime, keep_seconds: int, execution: str = "") -> None:
        self.changes[key] = at
        self.changed_by[key] = execution

    def last_changed_by(self, key: str) -> str | None:
        return self.changed_by.get(key) or None

    def changes_in_window(self, window: str) -> int:
        return len(self.breaker.get(window, set()))

    def count_change(self, window: str, execution: str, limit: int, keep_seconds: int) -> int:
        with self._lock:
            seen = self.breaker.setdefault(window, set())
            if execution not in seen and len(seen) >= limit:
                raise GuardRefused(f"circuit breaker open: {limit} changes already made in window {window}")
            seen.add(execution)
            return len(seen)

    def put_audit(self, resource_key: str, at: datetime, execution: str, record: dict[str, Any]) -> None:
        self.audit.append({"resource": resource_key, "at": at, "execution": execution, **record})

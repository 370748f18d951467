"""The control plane's own state: change marks (cooldowns and intents), circuit-breaker counters, audit.

One abstract base, a DynamoDB implementation (one table, ``pk``/``sk``, TTL on ``expires_at``) and
an in-memory one for unit tests, as Powertools' idempotency persistence does. Leases live in
``controlplane.leases`` (same table). Rules every method keeps:

- Every write that guards a change is a conditional write.
- DynamoDB deletes expired items late (typically within days) or at once: no answer here depends
  on it. Times are compared in code, and items are kept at least as long as the longest rule that
  reads them (``CHANGE_KEEP_SECONDS`` covers every cooldown and quiet time a policy may set).
- Throttling and service faults of the table become ``TransientAwsError`` (retried by the state
  machine), not a failed change.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from pydantic import Field

from controlplane import aws
from controlplane.models.base import Model
from controlplane.models.errors import GuardRefused, LeaseLost, TransientAwsError

# Cooldowns and quiet times are at most a day (config.ScalingPolicy, remediation.policy.Rule): keep
# change marks twice as long, so a late reader never mistakes "forgotten" for "never changed".
CHANGE_KEEP_SECONDS = 2 * 86_400
AUDIT_KEEP_SECONDS = 400 * 86_400


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class ConditionFailed(Exception):
    """A conditional write's condition did not hold (DynamoDB ConditionalCheckFailedException)."""


class DynamoTable:
    """The control plane's table and a DynamoDB client, made on first use unless one is injected."""

    ConditionFailed = ConditionFailed

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb")
        return self._client

    def call(self, operation: str, **kwargs: Any) -> Any:
        """One DynamoDB call: a failed condition is ``ConditionFailed``, throttling ``TransientAwsError``."""
        try:
            return getattr(self.client, operation)(**kwargs)
        except Exception as exc:
            code = aws.error_code(exc)
            if code == "ConditionalCheckFailedException":
                raise ConditionFailed(operation) from None
            if aws.is_retryable(exc):
                raise TransientAwsError(f"state table {operation}: {code or type(exc).__name__}") from None
            raise


def delete_if_owner(client: Any, table_name: str, pk: str, sk: str, owner: str) -> bool:
    """Delete an owned item (a lease, a claim) only if ``owner`` still owns it; False when it did not."""
    table = DynamoTable(table_name, client)
    try:
        table.call(
            "delete_item",
            TableName=table_name,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}},
        )
    except ConditionFailed:
        return False
    return True


class ChangeMark(Model):
    """The last change the control plane started on a resource: written *before* the AWS call.

    ``status`` is ``applying`` from the intent until the call returned (``applied``). A mark left at
    ``applying`` means the change may or may not have reached AWS: its execution crashed in between.
    """

    key: str
    changed_at: datetime
    execution: str = Field(default="", max_length=200)
    token: str = ""
    target: int | None = None
    status: str = "applied"


class StateStore(ABC):
    """What the guards and the workflow tasks need from persistent state."""

    @abstractmethod
    def change_mark(self, key: str) -> ChangeMark | None:
        """The last change the control plane started on ``key`` (cooldowns, ownership of a result)."""

    def last_change(self, key: str) -> datetime | None:
        """When the resource was last changed by the control plane (for cooldowns)."""
        mark = self.change_mark(key)
        return mark.changed_at if mark else None

    def last_changed_by(self, key: str) -> str | None:
        """Which execution made the last remembered change of ``key``."""
        mark = self.change_mark(key)
        return mark.execution or None if mark else None

    @abstractmethod
    def put_mark(self, mark: ChangeMark) -> None:
        """Remember ``mark`` as the last change of its resource (kept ``CHANGE_KEEP_SECONDS``)."""

    def mark_change(self, key: str, at: datetime, keep_seconds: int = 0, execution: str = "") -> None:
        """Remember a finished change of ``key`` at ``at`` by ``execution``."""
        self.put_mark(ChangeMark(key=key, changed_at=at, execution=execution))

    @abstractmethod
    def forget_mark(self, key: str, execution: str) -> None:
        """Delete ``key``'s mark if ``execution`` wrote it (an intent whose change AWS refused)."""

    @abstractmethod
    def record_intent(self, mark: ChangeMark, lease_key: str, owner: str, lease_ttl_seconds: int) -> None:
        """Write ``mark`` (status ``applying``) and renew the lease in one transaction, before the AWS call.

        Raises ``LeaseLost`` when ``owner`` no longer holds ``lease_key``: nothing is written then.
        """

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
        """Keep an audit record of one outcome. Idempotent for the same (resource, at, execution)."""


def _mark_item(mark: ChangeMark) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": f"CHANGE#{mark.key}"},
        "sk": {"S": "LAST"},
        "changed_at": {"S": mark.changed_at.isoformat()},
        "execution": {"S": mark.execution},
        "token": {"S": mark.token},
        "status": {"S": mark.status},
        "expires_at": {"N": str(epoch(mark.changed_at) + CHANGE_KEEP_SECONDS)},
    }
    if mark.target is not None:
        item["target"] = {"N": str(mark.target)}
    return item


class DynamoStateStore(DynamoTable, StateStore):
    """The DynamoDB table of the template (``StateTable``)."""

    AUDIT_KEEP_SECONDS = AUDIT_KEEP_SECONDS

    def change_mark(self, key: str) -> ChangeMark | None:
        item = self.call(
            "get_item",
            TableName=self.table_name,
            Key={"pk": {"S": f"CHANGE#{key}"}, "sk": {"S": "LAST"}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return ChangeMark(
            key=key,
            changed_at=datetime.fromisoformat(item["changed_at"]["S"]),
            execution=item.get("execution", {}).get("S", ""),
            token=item.get("token", {}).get("S", ""),
            target=int(item["target"]["N"]) if "target" in item else None,
            status=item.get("status", {}).get("S", "applied"),
        )

    def put_mark(self, mark: ChangeMark) -> None:
        self.call("put_item", TableName=self.table_name, Item=_mark_item(mark))

    def forget_mark(self, key: str, execution: str) -> None:
        with contextlib.suppress(ConditionFailed):
            self.call(
                "delete_item",
                TableName=self.table_name,
                Key={"pk": {"S": f"CHANGE#{key}"}, "sk": {"S": "LAST"}},
                ConditionExpression="execution = :execution",
                ExpressionAttributeValues={":execution": {"S": execution}},
            )

    def record_intent(self, mark: ChangeMark, lease_key: str, owner: str, lease_ttl_seconds: int) -> None:
        from controlplane.leases import DynamoLeaseStore

        renewal = DynamoLeaseStore(self.table_name, self.client).renewal_item(
            lease_key, owner, lease_ttl_seconds, mark.changed_at
        )
        put = {
            "Put": {"TableName": self.table_name, "Item": _mark_item(mark.model_copy(update={"status": "applying"}))}
        }
        try:
            self.call("transact_write_items", TransactItems=[renewal, put])
        except Exception as exc:
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                raise LeaseLost(f"{owner} no longer holds {lease_key}; the change was not started") from None
            if aws.error_code(exc) == "TransactionCanceledException":
                raise TransientAwsError(
                    f"state table transaction cancelled: {[r.get('Code') for r in reasons]}"
                ) from None
            raise

    def changes_in_window(self, window: str) -> int:
        item = self.call(
            "get_item",
            TableName=self.table_name,
            Key={"pk": {"S": f"BREAKER#{window}"}, "sk": {"S": "COUNT"}},
            ConsistentRead=True,
        ).get("Item")
        return len(item["executions"]["SS"]) if item else 0

    def count_change(self, window: str, execution: str, limit: int, keep_seconds: int) -> int:
        try:
            response = self.call(
                "update_item",
                TableName=self.table_name,
                Key={"pk": {"S": f"BREAKER#{window}"}, "sk": {"S": "COUNT"}},
                UpdateExpression="ADD executions :me SET expires_at = if_not_exists(expires_at, :expires)",
                ConditionExpression="attribute_not_exists(executions) OR size(executions) < :limit"
                " OR contains(executions, :execution)",
                ExpressionAttributeValues={
                    ":me": {"SS": [execution]},
                    ":execution": {"S": execution},
                    ":limit": {"N": str(limit)},
                    # TTL only tidies: the window's name, not its age, decides what is counted.
                    ":expires": {"N": str(int(time.time()) + keep_seconds)},
                },
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            raise GuardRefused(f"circuit breaker open: {limit} changes already made in window {window}") from None
        return len(response["Attributes"]["executions"]["SS"])

    def put_audit(self, resource_key: str, at: datetime, execution: str, record: dict[str, Any]) -> None:
        self.call(
            "put_item",
            TableName=self.table_name,
            Item={
                "pk": {"S": f"AUDIT#{resource_key}"},
                "sk": {"S": f"{at.isoformat()}#{execution}"},
                "status": {"S": str(record.get("status", ""))},
                "record": {"S": json.dumps(record, default=str, sort_keys=True)},
                "expires_at": {"N": str(epoch(at) + self.AUDIT_KEEP_SECONDS)},
            },
        )


class InMemoryStateStore(StateStore):
    """Same contract in dicts: for unit tests of guards and planning."""

    def __init__(self, leases: Any | None = None) -> None:
        from controlplane.leases import InMemoryLeaseStore

        self._lock = threading.Lock()
        self.leases = leases or InMemoryLeaseStore()
        self.marks: dict[str, ChangeMark] = {}
        self.breaker: dict[str, set[str]] = {}
        self.audit: dict[tuple[str, str, str], dict[str, Any]] = {}

    def change_mark(self, key: str) -> ChangeMark | None:
        return self.marks.get(key)

    def put_mark(self, mark: ChangeMark) -> None:
        self.marks[mark.key] = mark

    def forget_mark(self, key: str, execution: str) -> None:
        if key in self.marks and self.marks[key].execution == execution:
            del self.marks[key]

    def record_intent(self, mark: ChangeMark, lease_key: str, owner: str, lease_ttl_seconds: int) -> None:
        with self._lock:
            self.leases.renew(lease_key, owner, lease_ttl_seconds, mark.changed_at)
            self.marks[mark.key] = mark.model_copy(update={"status": "applying"})

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
        self.audit[(resource_key, at.isoformat(), execution)] = {
            "resource": resource_key,
            "at": at,
            "execution": execution,
            **record,
        }

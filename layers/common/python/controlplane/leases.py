"""One lease per physical resource, shared by every workflow that changes it.

Scaling, rotation, backup, cleanup, recovery and platform deploys all take the lease of the
resource they change, keyed by the *physical* resource (one DB instance, one replication group,
one node group), so no two of them ever change it at once: a storage growth and a replica
creation of the same primary, or a token rotation and a reshard of the same group, exclude each
other.

- Keys come from the functions below and nowhere else (``db_instance_key`` ...).
- The owner is ``<workflow>/<execution name>``: unique across state machines, stable across retries
  of one execution (re-acquiring one's own lease renews it; a retried task is not refused).
- Expiry is compared in code (``expires_at`` against ``now`` in every condition). DynamoDB's TTL
  deletes expired items late (typically within days) or at once: it only tidies, and no outcome
  depends on when it runs. An expired lease is lost, whether or not its item is still there.
- A lease outlives the change it protects because its holder renews it on every verify poll,
  conditional on still owning it (``LeaseLost`` otherwise), and a mutating step renews it in the
  same transaction that records its intent (``renewal_item``), so a change never starts under a
  lease that has run out.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from controlplane.models.errors import LeaseLost, LockHeld
from controlplane.models.lease import Lease
from controlplane.store import DynamoTable, delete_if_owner, epoch

LEASE_SK = "LOCK"


def _identifier(value: str) -> str:
    if not value or len(value) > 200 or any(ch.isspace() for ch in value):
        raise ValueError(f"not a resource identifier: {value[:60]!r}")
    return value


def db_instance_key(identifier: str) -> str:
    """An RDS DB instance (RDS stores identifiers lower-cased)."""
    return f"rds:db:{_identifier(identifier).lower()}"


def replication_group_key(identifier: str) -> str:
    """An ElastiCache replication group (shards, replicas, AUTH token, snapshots)."""
    return f"elasticache:replicationgroup:{_identifier(identifier).lower()}"


def nodegroup_key(cluster: str, nodegroup: str) -> str:
    """An EKS managed node group."""
    return f"eks:nodegroup:{_identifier(cluster)}/{_identifier(nodegroup)}"


def bucket_key(name: str) -> str:
    """An S3 bucket (versioning, lifecycle, exports)."""
    return f"s3:bucket:{_identifier(name)}"


def snapshot_key(kind: str, identifier: str) -> str:
    """A backup artefact (``rds-snapshot``, ``elasticache-snapshot``): held by a restore drill or a
    recovery while it restores from it, so cleanup never deletes a snapshot in use."""
    return f"snapshot:{_identifier(kind)}:{_identifier(identifier)}"


def platform_key(environment: str) -> str:
    """A Terraform environment: one plan/apply at a time."""
    return f"terraform:platform:{_identifier(environment)}"


def owner_of(workflow: str, execution: str) -> str:
    """The lease owner for one execution of one workflow."""
    return f"{_identifier(workflow)}/{_identifier(execution)}"


def _pk(key: str) -> str:
    return f"LOCK#{key}"


class LeaseStore(ABC):
    """Take, renew, release and inspect leases. Every write is conditional."""

    @abstractmethod
    def acquire(self, key: str, owner: str, ttl_seconds: int, now: datetime, workflow: str = "") -> Lease:
        """Take the lease for ``owner`` (free, expired, or already ``owner``'s). Raises ``LockHeld``."""

    @abstractmethod
    def renew(self, key: str, owner: str, ttl_seconds: int, now: datetime) -> Lease:
        """Extend ``owner``'s unexpired lease to ``now + ttl_seconds``. Raises ``LeaseLost``."""

    @abstractmethod
    def release(self, key: str, owner: str) -> bool:
        """Give the lease back if ``owner`` holds it (expired or not); True when something was released."""

    @abstractmethod
    def holder(self, key: str) -> Lease | None:
        """Who holds ``key`` (possibly expired: compare ``expires_at`` with now), or None."""


def _held_message(key: str, held: Lease | None) -> str:
    if held is None:
        return f"{key} is held by another execution"
    return f"{key} is held by {held.owner} until {held.expires.isoformat()}"


class DynamoLeaseStore(DynamoTable, LeaseStore):
    """Leases as items ``LOCK#<key>`` / ``LOCK`` in the control plane's state table."""

    def acquire(self, key: str, owner: str, ttl_seconds: int, now: datetime, workflow: str = "") -> Lease:
        lease = Lease(key=key, owner=owner, expires_at=epoch(now) + ttl_seconds, workflow=workflow)
        try:
            self.call(
                "put_item",
                TableName=self.table_name,
                Item={
                    "pk": {"S": _pk(key)},
                    "sk": {"S": LEASE_SK},
                    "owner": {"S": owner},
                    "workflow": {"S": workflow},
                    "acquired_at": {"S": now.isoformat()},
                    "expires_at": {"N": str(lease.expires_at)},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR #owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":now": {"N": str(epoch(now))}, ":owner": {"S": owner}},
            )
        except self.ConditionFailed:
            raise LockHeld(_held_message(key, self.holder(key))) from None
        return lease

    def renewal_item(self, key: str, owner: str, ttl_seconds: int, now: datetime) -> dict[str, Any]:
        """The renewal as a ``TransactWriteItems`` element: a write that must go with it needs the lease."""
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {"pk": {"S": _pk(key)}, "sk": {"S": LEASE_SK}},
                "UpdateExpression": "SET expires_at = :expires, renewed_at = :renewed",
                "ConditionExpression": "#owner = :owner AND expires_at >= :now",
                "ExpressionAttributeNames": {"#owner": "owner"},
                "ExpressionAttributeValues": {
                    ":owner": {"S": owner},
                    ":now": {"N": str(epoch(now))},
                    ":expires": {"N": str(epoch(now) + ttl_seconds)},
                    ":renewed": {"S": now.isoformat()},
                },
            }
        }

    def renew(self, key: str, owner: str, ttl_seconds: int, now: datetime) -> Lease:
        update = self.renewal_item(key, owner, ttl_seconds, now)["Update"]
        try:
            response = self.call("update_item", ReturnValues="ALL_NEW", **update)
        except self.ConditionFailed:
            raise LeaseLost(f"{owner} no longer holds {key}: {_held_message(key, self.holder(key))}") from None
        item = response["Attributes"]
        return Lease(
            key=key,
            owner=owner,
            expires_at=int(item["expires_at"]["N"]),
            workflow=item.get("workflow", {}).get("S", ""),
        )

    def release(self, key: str, owner: str) -> bool:
        return delete_if_owner(self.client, self.table_name, _pk(key), LEASE_SK, owner)

    def holder(self, key: str) -> Lease | None:
        item = self.call(
            "get_item",
            TableName=self.table_name,
            Key={"pk": {"S": _pk(key)}, "sk": {"S": LEASE_SK}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return Lease(
            key=key,
            owner=item["owner"]["S"],
            expires_at=int(item["expires_at"]["N"]),
            workflow=item.get("workflow", {}).get("S", ""),
        )


class InMemoryLeaseStore(LeaseStore):
    """The same contract in a dict (unit tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.leases: dict[str, Lease] = {}

    def acquire(self, key: str, owner: str, ttl_seconds: int, now: datetime, workflow: str = "") -> Lease:
        with self._lock:
            held = self.leases.get(key)
            if held and held.owner != owner and held.expires_at >= epoch(now):
                raise LockHeld(_held_message(key, held))
            lease = Lease(key=key, owner=owner, expires_at=epoch(now) + ttl_seconds, workflow=workflow)
            self.leases[key] = lease
            return lease

    def renew(self, key: str, owner: str, ttl_seconds: int, now: datetime) -> Lease:
        with self._lock:
            held = self.leases.get(key)
            if held is None or held.owner != owner or held.expires_at < epoch(now):
                raise LeaseLost(f"{owner} no longer holds {key}: {_held_message(key, held)}")
            lease = held.model_copy(update={"expires_at": epoch(now) + ttl_seconds})
            self.leases[key] = lease
            return lease

    def release(self, key: str, owner: str) -> bool:
        with self._lock:
            held = self.leases.get(key)
            if held and held.owner == owner:
                del self.leases[key]
                return True
            return False

    def holder(self, key: str) -> Lease | None:
        return self.leases.get(key)

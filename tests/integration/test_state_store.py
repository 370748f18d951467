"""DynamoStateStore and DynamoLeaseStore against the template's table in moto: conditional writes guard."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from controlplane import leases
from controlplane.leases import DynamoLeaseStore
from controlplane.models.errors import GuardRefused, LeaseLost, LockHeld
from controlplane.store import ChangeMark, DynamoStateStore

# Now, not a fixed date: the sandbox's DynamoDB deletes items whose TTL has passed (at a random moment,
# as DynamoDB does), so marks written "at" a date long gone may already have been swept.
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def tables() -> Iterator[tuple[DynamoStateStore, DynamoLeaseStore]]:
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox(seed_platform=False) as running:
        # These tests pass the store explicit times, not the clock's: DynamoDB's TTL deleting their items
        # "at any time" after those times is tested in tests/sandbox/test_dynamodb_ttl.py.
        running.state.set_ttl("never")
        name, client = running.resources["StateTable"]["Ref"], running.client("dynamodb")
        yield DynamoStateStore(name, client=client), DynamoLeaseStore(name, client=client)


@pytest.fixture
def store(tables: tuple[DynamoStateStore, DynamoLeaseStore]) -> DynamoStateStore:
    return tables[0]


@pytest.fixture
def lease_store(tables: tuple[DynamoStateStore, DynamoLeaseStore]) -> DynamoLeaseStore:
    return tables[1]


def test_lease_is_exclusive_until_released(lease_store: DynamoLeaseStore) -> None:
    key = leases.nodegroup_key("c", "a")
    lease = lease_store.acquire(key, "scale/exec-1", 60, NOW, workflow="scale")
    assert lease.expires_at == int(NOW.timestamp()) + 60
    assert lease_store.acquire(key, "scale/exec-1", 60, NOW).owner == "scale/exec-1"
    with pytest.raises(LockHeld, match="scale/exec-1"):
        lease_store.acquire(key, "rotation/exec-2", 60, NOW)
    assert lease_store.release(key, "rotation/exec-2") is False
    assert lease_store.release(key, "scale/exec-1") is True
    assert lease_store.acquire(key, "rotation/exec-2", 60, NOW).owner == "rotation/exec-2"


def test_expired_lease_can_be_taken_whether_or_not_ttl_deleted_it(lease_store: DynamoLeaseStore) -> None:
    key = leases.nodegroup_key("c", "b")
    lease_store.acquire(key, "scale/crashed", 60, NOW)
    later = NOW + timedelta(seconds=61)
    assert lease_store.acquire(key, "scale/exec-3", 60, later).owner == "scale/exec-3"


def test_renewal_needs_an_unexpired_lease_of_ones_own(lease_store: DynamoLeaseStore) -> None:
    key = leases.db_instance_key("sip-dev-postgres")
    lease_store.acquire(key, "scale/a", 60, NOW)
    assert lease_store.renew(key, "scale/a", 600, NOW + timedelta(seconds=30)).expires_at == int(NOW.timestamp()) + 630
    with pytest.raises(LeaseLost):
        lease_store.renew(key, "backup/b", 600, NOW)
    # Expired: lost, even though nobody took it and TTL has not deleted the item.
    with pytest.raises(LeaseLost):
        lease_store.renew(key, "scale/a", 600, NOW + timedelta(seconds=631))
    lease_store.release(key, "scale/a")


def test_intent_is_written_only_under_the_lease(store: DynamoStateStore, lease_store: DynamoLeaseStore) -> None:
    key = leases.replication_group_key("sip-dev-redis")
    mark = ChangeMark(key="cache_shards#sip-dev-redis", changed_at=NOW, execution="e1", token="t", target=4)
    with pytest.raises(LeaseLost):
        store.record_intent(mark, key, "scale/e1", 600)
    assert store.change_mark(mark.key) is None
    lease_store.acquire(key, "scale/e1", 60, NOW)
    store.record_intent(mark, key, "scale/e1", 600)
    written = store.change_mark(mark.key)
    assert written is not None and written.status == "applying" and written.target == 4
    assert lease_store.holder(key) is not None and lease_store.holder(key).expires_at == int(NOW.timestamp()) + 600  # type: ignore[union-attr]
    lease_store.release(key, "scale/e1")


def test_cooldown_marks(store: DynamoStateStore) -> None:
    assert store.last_change("nodegroup#c/c") is None
    store.mark_change("nodegroup#c/c", NOW, keep_seconds=300)
    assert store.last_change("nodegroup#c/c") == NOW


def test_breaker_counts_executions_once_and_stops_at_the_limit(store: DynamoStateStore) -> None:
    window = str(int(NOW.timestamp()))
    assert store.count_change(window, "exec-1", limit=2, keep_seconds=60) == 1
    assert store.count_change(window, "exec-1", limit=2, keep_seconds=60) == 1
    assert store.count_change(window, "exec-2", limit=2, keep_seconds=60) == 2
    with pytest.raises(GuardRefused, match="circuit breaker"):
        store.count_change(window, "exec-3", limit=2, keep_seconds=60)
    assert store.changes_in_window(window) == 2
    # An execution already counted may still retry its apply.
    assert store.count_change(window, "exec-2", limit=2, keep_seconds=60) == 2


def test_store_throttling_is_transient(store: Any) -> None:
    from controlplane.models.errors import TransientAwsError

    from cpctl.sandbox.moto_patches.state import SANDBOX_STATE

    SANDBOX_STATE.inject("dynamodb", "GetItem", "ProvisionedThroughputExceededException", times=50)
    try:
        with pytest.raises(TransientAwsError):
            store.last_change("nodegroup#c/d")
    finally:
        SANDBOX_STATE.faults.clear()

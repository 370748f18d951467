"""DynamoStateStore against the template's table in moto: conditional writes do the guarding."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from controlplane.models.errors import GuardRefused, LockHeld
from controlplane.store import DynamoStateStore

# Now, not a fixed date: the sandbox's DynamoDB deletes items whose TTL has passed (at a random moment,
# as DynamoDB does), so marks written "at" a date long gone may already have been swept.
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def store() -> Iterator[DynamoStateStore]:
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox(seed_platform=False) as running:
        yield DynamoStateStore(running.resources["StateTable"]["Ref"], client=running.client("dynamodb"))


def test_lease_is_exclusive_until_released(store: DynamoStateStore) -> None:
    lease = store.acquire_lease("nodegroup#c/a", "exec-1", 60, NOW)
    assert lease.expires_at == int(NOW.timestamp()) + 60
    assert store.acquire_lease("nodegroup#c/a", "exec-1", 60, NOW).owner == "exec-1"
    with pytest.raises(LockHeld, match="exec-1"):
        store.acquire_lease("nodegroup#c/a", "exec-2", 60, NOW)
    assert store.release_lease("nodegroup#c/a", "exec-2") is False
    assert store.release_lease("nodegroup#c/a", "exec-1") is True
    assert store.acquire_lease("nodegroup#c/a", "exec-2", 60, NOW).owner == "exec-2"


def test_expired_lease_can_be_taken(store: Any) -> None:
    store.acquire_lease("nodegroup#c/b", "crashed", 60, NOW)
    later = NOW + timedelta(seconds=61)
    assert store.acquire_lease("nodegroup#c/b", "exec-3", 60, later).owner == "exec-3"


def test_cooldown_marks(store: DynamoStateStore) -> None:
    assert store.last_change("nodegroup#c/c") is None
    store.mark_change("nodegroup#c/c", NOW, keep_seconds=300)
    assert store.last_change("nodegroup#c/c") == NOW


def test_breaker_counts_executions_once_and_stops_at_the_limit(store: DynamoStateStore) -> None:
    assert store.count_change("w1", "exec-1", limit=2, keep_seconds=60) == 1
    assert store.count_change("w1", "exec-1", limit=2, keep_seconds=60) == 1
    assert store.count_change("w1", "exec-2", limit=2, keep_seconds=60) == 2
    with pytest.raises(GuardRefused, match="circuit breaker"):
        store.count_change("w1", "exec-3", limit=2, keep_seconds=60)
    assert store.changes_in_window("w1") == 2
    # An execution already counted may still retry its apply.
    assert store.count_change("w1", "exec-2", limit=2, keep_seconds=60) == 2

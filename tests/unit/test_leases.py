"""Lease keys name physical resources, so every workflow changing one resource takes the same lease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from controlplane import leases
from controlplane.leases import InMemoryLeaseStore
from controlplane.models.errors import LeaseLost, LockHeld
from controlplane.resources import target_from_dict

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def test_storage_and_replicas_of_one_primary_share_one_lease() -> None:
    replicas = target_from_dict({"kind": "rds_replicas", "primary": "SIP-Dev-Postgres"})
    storage = target_from_dict({"kind": "rds_storage", "db_instance": "sip-dev-postgres"})
    assert replicas.lease_key == storage.lease_key == leases.db_instance_key("sip-dev-postgres")


def test_shards_and_replicas_per_shard_share_the_group_lease() -> None:
    shards = target_from_dict({"kind": "cache_shards", "replication_group": "sip-dev-redis"})
    replicas = target_from_dict(
        {"kind": "cache_shards", "replication_group": "sip-dev-redis", "dimension": "replicas_per_shard"}
    )
    assert shards.lease_key == replicas.lease_key == leases.replication_group_key("sip-dev-redis")


def test_node_groups_have_a_lease_each() -> None:
    general = target_from_dict({"kind": "nodegroup", "cluster": "sip-dev", "nodegroup": "general"})
    spot = target_from_dict({"kind": "nodegroup", "cluster": "sip-dev", "nodegroup": "spot"})
    assert general.lease_key != spot.lease_key


@pytest.mark.parametrize("bad", ["", "has space", "x" * 201])
def test_keys_refuse_what_is_not_an_identifier(bad: str) -> None:
    with pytest.raises(ValueError):
        leases.db_instance_key(bad)


def test_owners_of_different_workflows_differ() -> None:
    assert leases.owner_of("scale", "run-1") != leases.owner_of("rotation", "run-1")


def test_in_memory_store_keeps_the_contract() -> None:
    store, key = InMemoryLeaseStore(), leases.db_instance_key("db")
    store.acquire(key, "scale/a", 60, NOW)
    with pytest.raises(LockHeld, match="scale/a"):
        store.acquire(key, "backup/b", 60, NOW)
    assert store.renew(key, "scale/a", 120, NOW + timedelta(seconds=59)).expires_at == int(NOW.timestamp()) + 179
    with pytest.raises(LeaseLost):
        store.renew(key, "scale/a", 120, NOW + timedelta(seconds=180))
    assert store.acquire(key, "backup/b", 60, NOW + timedelta(seconds=180)).owner == "backup/b"
    assert store.release(key, "scale/a") is False
    assert store.release(key, "backup/b") is True

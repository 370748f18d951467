"""DynamoDB TTL in the sandbox: expired items go at some moment after expiry, possibly at once, or never.

AWS: "Items with valid, expired TTL attributes may be deleted by the system at any time, typically
within a few days of their expiration" and "expired items that haven't been deleted will still appear
in reads, queries, and scans". So code compares timestamps itself; these tests run the Scale workflow
with the leases and cooldown marks it writes, in both extreme modes.
"""

from __future__ import annotations

from typing import Any

import pytest

from cpctl.sandbox.moto_patches import dynamodb_ttl
from cpctl.sandbox.runtime import Sandbox
from tests.conftest import load_event

pytestmark = pytest.mark.sandbox
SCALE = "ScaleStateMachine"


def _items(sandbox: Sandbox, prefix: str) -> list[dict[str, Any]]:
    table = sandbox.resources["StateTable"]["Ref"]
    items = sandbox.client("dynamodb").scan(TableName=table)["Items"]
    return [item for item in items if item["pk"]["S"].startswith(prefix)]


def _expires(item: dict[str, Any]) -> float:
    return float(item["expires_at"]["N"])


def _now() -> float:
    from controlplane import clock

    return clock.now().timestamp()


def _leave_a_lease_behind(sandbox: Sandbox) -> dict[str, Any]:
    """A Scale whose lease release fails every time it is tried: the lease stays behind."""

    def lease(params: dict[str, Any]) -> bool:
        return str(params.get("Key", {}).get("pk", {}).get("S", "")).startswith("LOCK#")

    sandbox.state.inject("dynamodb", "DeleteItem", "InternalServerError", times=50, http_status=500, matches=lease)
    sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert sandbox.state.faults_taken("dynamodb", "DeleteItem") > 0
    sandbox.state.faults.clear()
    [left] = sandbox.lock_items()
    return left


def _cooldown_mark(sandbox: Sandbox) -> dict[str, Any]:
    report = sandbox.run(SCALE, load_event("scale/nodegroup_scale_up.json"))
    assert report.outcome == "Succeeded", report.reason
    [mark] = _items(sandbox, "CHANGE#")
    return mark


def test_lease_deleted_at_once_after_expiry(sandbox: Sandbox) -> None:
    sandbox.state.set_ttl("immediate")
    lease = _leave_a_lease_behind(sandbox)
    sandbox.advance_clock(_expires(lease) - _now() - 1)
    assert sandbox.lock_items() != []  # not yet expired: never deleted early
    sandbox.advance_clock(2)
    assert sandbox.lock_items() == []


def test_lease_never_deleted_and_code_still_takes_it_over(sandbox: Sandbox) -> None:
    sandbox.state.set_ttl("never")
    lease = _leave_a_lease_behind(sandbox)
    sandbox.advance_clock(_expires(lease) - _now() + 3 * 24 * 3600)
    assert sandbox.lock_items() != []  # long expired, still there
    again = sandbox.run(SCALE, {**load_event("scale/nodegroup_scale_up.json"), "desired": 6})
    assert again.outcome == "Succeeded", again.reason  # the expired lease is compared, not trusted to vanish
    assert sandbox.lock_items() == []


def test_cooldown_mark_deleted_at_once_after_expiry(sandbox: Sandbox) -> None:
    sandbox.state.set_ttl("immediate")
    mark = _cooldown_mark(sandbox)
    sandbox.advance_clock(_expires(mark) - _now() - 1)
    assert _items(sandbox, "CHANGE#") != []
    sandbox.advance_clock(2)
    assert _items(sandbox, "CHANGE#") == []


def test_cooldown_mark_never_deleted_and_the_cooldown_still_ends(sandbox: Sandbox) -> None:
    sandbox.state.set_ttl("never")
    mark = _cooldown_mark(sandbox)
    sandbox.advance_clock(_expires(mark) - _now() + 3 * 24 * 3600)
    assert _items(sandbox, "CHANGE#") != []  # long expired, still there
    again = sandbox.run(SCALE, {**load_event("scale/nodegroup_scale_up.json"), "desired": 6})
    assert again.outcome == "Succeeded", again.reason  # the stale mark does not block for ever


def test_random_mode_is_seeded_and_deletes_some_at_once_and_some_later(sandbox: Sandbox) -> None:
    delays = [dynamodb_ttl.deletion_delay(7, "t", f"k{i}", 1000.0) for i in range(400)]
    assert delays == [dynamodb_ttl.deletion_delay(7, "t", f"k{i}", 1000.0) for i in range(400)]
    assert delays != [dynamodb_ttl.deletion_delay(8, "t", f"k{i}", 1000.0) for i in range(400)]
    at_once = sum(1 for d in delays if d == 0)
    assert 40 < at_once < 160
    assert max(delays) <= sandbox.state.ttl.max_delay_seconds
    assert max(delays) > sandbox.state.ttl.max_delay_seconds / 2


def test_random_mode_deletes_each_item_at_its_own_moment(sandbox: Sandbox) -> None:
    sandbox.state.set_ttl("random", seed=11, max_delay_seconds=1000)
    table = sandbox.resources["StateTable"]["Ref"]
    dynamodb = sandbox.client("dynamodb")
    expiry = int(_now()) + 100
    for index in range(40):
        item = {"pk": {"S": f"TTLTEST#{index}"}, "sk": {"S": "x"}, "expires_at": {"N": str(expiry)}}
        dynamodb.put_item(TableName=table, Item=item)
    sandbox.advance_clock(expiry - _now() - 30)
    assert len(_items(sandbox, "TTLTEST#")) == 40
    sandbox.advance_clock(60)
    left = len(_items(sandbox, "TTLTEST#"))
    assert 0 < left < 40  # some went at once
    sandbox.advance_clock(1000)
    assert _items(sandbox, "TTLTEST#") == []


def test_items_ttl_does_not_touch(sandbox: Sandbox) -> None:
    """Not a Number, no TTL attribute, or more than five years in the past: never deleted."""
    sandbox.state.set_ttl("immediate")
    table = sandbox.resources["StateTable"]["Ref"]
    dynamodb = sandbox.client("dynamodb")
    old = int(_now()) - 6 * 365 * 24 * 3600
    for key, extra in [("a", {"expires_at": {"S": "1"}}), ("b", {}), ("c", {"expires_at": {"N": str(old)}})]:
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"KEEP#{key}"}, "sk": {"S": "x"}, **extra})
    sandbox.advance_clock(3600)
    assert len(_items(sandbox, "KEEP#")) == 3

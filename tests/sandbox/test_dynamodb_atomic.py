"""A cancelled DynamoDB transaction changes nothing else, even when other writes run at the same time.

moto's transact_write_items snapshots the tables it touches and puts the snapshot back when the
transaction is cancelled; a delete made by another thread in between came back (a released lease,
resurrected by a storm of cancelled admissions). The test holds a transaction between its snapshot
and its rollback and deletes an item meanwhile.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest


@pytest.fixture
def table() -> Any:
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox(seed_platform=False) as sandbox:
        yield sandbox.client("dynamodb"), sandbox.resources["StateTable"]["Ref"]


def test_a_cancelled_transaction_does_not_resurrect_an_item_deleted_meanwhile(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moto.dynamodb.models as dynamodb_models

    client, name = table
    lease = {"pk": {"S": "LOCK#x"}, "sk": {"S": "LOCK"}}
    client.put_item(TableName=name, Item={**lease, "owner": {"S": "a"}})
    client.put_item(TableName=name, Item={"pk": {"S": "SEEN#1"}, "sk": {"S": "SEEN"}})
    snapshot_taken, proceed = threading.Event(), threading.Event()
    real_deepcopy = copy.deepcopy

    def slow_snapshot(value: Any, memo: Any = None) -> Any:
        copied = real_deepcopy(value, memo)
        snapshot_taken.set()
        proceed.wait(timeout=2)
        return copied

    monkeypatch.setattr(dynamodb_models.copy, "deepcopy", slow_snapshot)
    cancelled: list[str] = []

    def cancelled_transaction() -> None:
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": name,
                            "Item": {"pk": {"S": "SEEN#1"}, "sk": {"S": "SEEN"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                ]
            )
        except client.exceptions.TransactionCanceledException:
            cancelled.append("yes")

    worker = threading.Thread(target=cancelled_transaction)
    worker.start()
    assert snapshot_taken.wait(timeout=10)
    deleter = threading.Thread(target=lambda: client.delete_item(TableName=name, Key=lease))
    deleter.start()
    deleter.join(timeout=0.5)
    proceed.set()
    worker.join(timeout=10)
    deleter.join(timeout=10)
    monkeypatch.setattr(dynamodb_models.copy, "deepcopy", real_deepcopy)
    assert cancelled == ["yes"]
    assert "Item" not in client.get_item(TableName=name, Key=lease, ConsistentRead=True)

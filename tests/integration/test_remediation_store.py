"""DynamoRemediationStore against the template's table in moto: bounded keys, timestamps over TTL,
DynamoDB's "try again later" as TransientAwsError, parked sizes that only a finished restore forgets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from controlplane.models.errors import TransientAwsError
from controlplane.remediation.store import EVENT_KEEP_SECONDS, Admission, DynamoRemediationStore, NotAdmitted, key_part

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from cpctl.sandbox.runtime import Sandbox

    with Sandbox(seed_platform=False) as running:
        # The store is given explicit times (NOW, a fixed date), not the clock's: the sandbox's TTL would
        # delete those "expired" items at random. TTL timing is tested in test_remediation_retention.py.
        running.state.set_ttl("never")
        yield running


@pytest.fixture
def store(sandbox: Any) -> DynamoRemediationStore:
    return DynamoRemediationStore(sandbox.resources["StateTable"]["Ref"], client=sandbox.client("dynamodb"))


def admission(tag: str, now: datetime = NOW, **changes: Any) -> Admission:
    fields: dict[str, Any] = {
        "event_id": f"cloudwatch#event-{tag}",
        "rule": f"sip-dev-{tag}-high",
        "resource_key": f"nodegroup#sip-dev/{tag}",
        "owner": f"rem-{tag}",
        "now": now,
        "cooldown_seconds": 600,
        "inflight_seconds": 4 * 3600,
        "cap_window": str(int(now.timestamp()) // 3600 * 3600),
        "cap_max": 3,
        "cap_keep_seconds": 7200,
    }
    return Admission(**(fields | changes))


def test_key_parts_are_bounded_stable_and_distinct() -> None:
    short = "sip-dev-eks-cpu-high"
    assert key_part(short) == short
    long_a, long_b = "é" * 3000 + "a", "é" * 3000 + "b"
    assert len(key_part(long_a).encode()) <= 200
    assert key_part(long_a) == key_part(long_a) != key_part(long_b)


def test_names_longer_than_any_key_allows_are_admitted_counted_and_released(store: DynamoRemediationStore) -> None:
    """DynamoDB refuses a partition key over 2048 bytes and a sort key over 1024 bytes (ValidationException)."""
    huge = "x" * 5000
    a = admission("huge", event_id=f"alertmanager#{huge}", rule=huge, resource_key=f"alertmanager#{huge}")
    store.admit(a)
    store.count(huge, "Admitted", huge)
    assert store.stats(huge, huge) == {"Admitted": 1}
    assert store.holder(a.resource_key, NOW) == a.owner
    assert store.release(a.resource_key, a.owner) is True
    with pytest.raises(NotAdmitted) as refused:
        store.admit(a)
    assert refused.value.duplicate


def test_an_expired_item_counts_as_gone_whether_or_not_dynamodb_deleted_it(store: DynamoRemediationStore) -> None:
    """TTL deletes expired items "typically within a few days": until then they are still read."""
    first = admission("linger")
    store.admit(first)
    # A day later the event-seen item, the claim (never released: a crash) and the cooldown are all
    # expired but still in the table; the same event id must not count as a duplicate any more.
    later = NOW + timedelta(seconds=EVENT_KEEP_SECONDS + 1)
    store.admit(admission("linger", now=later, owner="rem-linger-2"))
    assert store.holder(first.resource_key, later) == "rem-linger-2"


def test_an_expired_claim_has_no_holder_and_refuses_nothing(store: DynamoRemediationStore) -> None:
    a = admission("stale")
    store.admit(a)
    assert store.refusals(admission("stale", owner="other")) == [
        f"a remediation of {a.resource_key} is in flight",
        f"{a.rule} is cooling down (600s between remediations)",
    ]
    after = NOW + timedelta(hours=5)
    assert store.holder(a.resource_key, after) is None
    assert store.refusals(admission("stale", now=after)) == []


def test_the_cap_counts_admissions_in_its_window(store: DynamoRemediationStore) -> None:
    for n in range(3):
        a = admission("capped", now=NOW + timedelta(seconds=601 * n), owner=f"rem-capped-{n}", event_id=f"e{n}")
        a = Admission(**(a.__dict__ | {"cap_window": "w"}))
        store.admit(a)
        store.release(a.resource_key, a.owner)
    fourth = Admission(**(admission("capped", now=NOW + timedelta(seconds=1900)).__dict__ | {"cap_window": "w"}))
    assert store.refusals(fourth) == ["sip-dev-capped-high reached its cap of 3 remediations in window w"]


def test_stats_items_expire_instead_of_piling_up(sandbox: Any, store: DynamoRemediationStore) -> None:
    store.count("sip-dev-stats-high", "Suppressed", "1764147600")
    item = sandbox.client("dynamodb").get_item(
        TableName=store.table_name,
        Key={"pk": {"S": "REMEDIATION#STATS#sip-dev-stats-high"}, "sk": {"S": "1764147600"}},
    )["Item"]
    assert int(item["expires_at"]["N"]) > int(datetime.now(UTC).timestamp())
    assert store.stats("sip-dev-stats-high", "1764147600") == {"Suppressed": 1}


class Refusing:
    """A DynamoDB client whose every call fails with ``code`` (as botocore raises it after its retries)."""

    def __init__(self, code: str, reasons: list[str] | None = None) -> None:
        self.code, self.reasons = code, reasons

    def __getattr__(self, operation: str) -> Any:
        def call(**kwargs: Any) -> Any:
            response: dict[str, Any] = {"Error": {"Code": self.code, "Message": "refused"}}
            if self.reasons is not None:
                response["CancellationReasons"] = [{"Code": code} for code in self.reasons]
            raise ClientError(response, operation)  # type: ignore[arg-type]

        return call


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_dynamodb_throttling_and_faults_are_transient(code: str) -> None:
    store = DynamoRemediationStore("t", client=Refusing(code))
    for call in (
        lambda: store.admit(admission("t")),
        lambda: store.release("k", "o"),
        lambda: store.count("r", "Admitted", "w"),
        lambda: store.holder("k", NOW),
        lambda: store.remember_size("k", 2, NOW),
        lambda: store.mark_restored("k", NOW),
    ):
        with pytest.raises(TransientAwsError, match=code):
            call()


def test_a_throttled_transaction_is_transient_and_a_conflict_in_the_end_is_a_refusal() -> None:
    cancelled = "TransactionCanceledException"
    throttled = DynamoRemediationStore("t", client=Refusing(cancelled, ["None", "ThrottlingError"]))
    with pytest.raises(TransientAwsError, match="ThrottlingError"):
        throttled.admit(admission("t"))
    conflicted = DynamoRemediationStore("t", client=Refusing(cancelled, ["TransactionConflict"]))
    with pytest.raises(NotAdmitted, match="concurrent admission"):
        conflicted.admit(admission("t"))


def test_a_validation_error_is_not_made_transient() -> None:
    store = DynamoRemediationStore("t", client=Refusing("ValidationException"))
    with pytest.raises(ClientError):
        store.count("r", "Admitted", "w")


def test_a_parked_size_is_forgotten_only_for_the_restore_on_record(store: DynamoRemediationStore) -> None:
    key = "nodegroup#sip-dev/parked"
    assert store.remember_size(key, 4, NOW) is True
    assert store.remember_size(key, 0, NOW) is False  # parked again: the first size stays
    store.restore_started(key, "sched-restore-1", NOW)
    assert store.mark_restored(key, NOW, "sched-restore-0") is False  # a stale restore
    assert store.parked_size(key) == 4
    assert store.mark_restored(key, NOW, "sched-restore-1") is True
    assert store.parked_size(key) is None
    assert store.remember_size(key, 3, NOW) is True
    assert store.mark_restored("nodegroup#sip-dev/never-parked", NOW) is False

"""State the remediation entry point and the schedules keep in the control plane's table.

Admission is one DynamoDB transaction of four conditional writes, so a storm of events for one
alarm cannot admit two remediations however the events interleave:

- ``REMEDIATION#EVENT#<event id>``: the event was seen (a redelivery is a duplicate);
- ``REMEDIATION#INFLIGHT#<kind#resource>``: one remediation in flight per resource (released at the end,
  or expired after the workflow's longest run);
- ``REMEDIATION#COOLDOWN#<rule>``: one admission per cooldown window per rule;
- ``REMEDIATION#CAP#<rule>#<window>``: at most so many admissions per cap window.

Every event that is not admitted is counted (``REMEDIATION#STATS#<rule>``) and audited by the caller.

Rules that hold in AWS, not only here:

- Keys are built with ``key_part``: any text longer than DynamoDB allows in a key (2048 bytes for the
  partition key, 1024 for the sort key) becomes a bounded prefix plus a hash, so no input can make a
  write fail with "key too large".
- Nothing depends on TTL deletion: every condition compares the stored timestamps with ``now``, so an
  expired item that DynamoDB has not deleted yet (it may take days) counts as gone, and one it deletes
  right after expiry changes nothing. ``expires_at`` only tidies the table.
- Throttling, internal errors and transaction conflicts that outlive botocore's retries become
  ``TransientAwsError`` (``DynamoTable.call``; the callers' retries act on it); a refused admission
  is ``NotAdmitted``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controlplane import aws
from controlplane.models.errors import TransientAwsError
from controlplane.store import ConditionFailed, DynamoTable, delete_if_owner

EVENT_KEEP_SECONDS = 86_400
STATS_KEEP_SECONDS = 35 * 86_400
_CONFLICT_RETRIES = 3
# Longest text used verbatim in a key part; several parts and a prefix stay far below 1024 bytes.
KEY_PART_BYTES = 200
# What a transaction's CancellationReasons call a retryable refusal.
_RETRYABLE_CANCELLATIONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def key_part(text: str, limit: int = KEY_PART_BYTES) -> str:
    """``text`` itself when it is short, else a prefix of it and a hash of all of it (bounded bytes).

    The same text always gives the same part, and two long texts with the same prefix different parts.
    """
    raw = text.encode()
    if len(raw) <= limit:
        return text
    digest = hashlib.sha256(raw).hexdigest()[:24]
    prefix = raw[: limit - len(digest) - 1].decode(errors="ignore")
    return f"{prefix}~{digest}"


@dataclass(frozen=True)
class Admission:
    """What one admission claims (all or nothing)."""

    event_id: str
    rule: str
    resource_key: str
    owner: str
    now: datetime
    cooldown_seconds: int
    inflight_seconds: int
    cap_window: str
    cap_max: int
    cap_keep_seconds: int


@dataclass(frozen=True)
class Parking:
    """A parked resource's remembered size, and the restore started for it (if any)."""

    size: int
    parked: bool
    restore_execution: str | None = None


class NotAdmitted(Exception):
    """The admission's conditions refused it; ``reasons`` says which (duplicate, in flight, cooldown, cap)."""

    def __init__(self, reasons: list[str], duplicate: bool = False) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons
        # The event id was seen before: the caller checks that what it admitted back then was started.
        self.duplicate = duplicate


class RemediationStore(ABC):
    @abstractmethod
    def admit(self, admission: Admission) -> None:
        """Claim everything the admission needs, or raise NotAdmitted naming what refused it."""

    @abstractmethod
    def refusals(self, admission: Admission) -> list[str]:
        """What would refuse ``admission`` now (in flight, cooldown, cap), without claiming anything."""

    @abstractmethod
    def holder(self, resource_key: str, now: datetime) -> str | None:
        """Who holds the unexpired in-flight claim on ``resource_key``, if anyone."""

    @abstractmethod
    def release(self, resource_key: str, owner: str) -> bool:
        """Give back the in-flight claim if ``owner`` holds it."""

    @abstractmethod
    def undo(self, admission: Admission) -> None:
        """Take an admission back (nothing was started): a redelivery of the event may then act."""

    @abstractmethod
    def count(self, rule: str, outcome: str, window: str) -> None:
        """Count one event's outcome (Admitted, Suppressed, Ignored, Rejected, Failed) for ``rule`` in ``window``."""

    @abstractmethod
    def stats(self, rule: str, window: str) -> dict[str, int]:
        """The counts of ``rule`` in ``window``."""

    @abstractmethod
    def remember_size(self, key: str, size: int, now: datetime) -> bool:
        """Remember a size before parking, unless already parked (then keep the first). True when stored."""

    @abstractmethod
    def parking(self, key: str) -> Parking | None:
        """The parking record of ``key`` (parked or restored), if any."""

    @abstractmethod
    def restore_started(self, key: str, execution: str, now: datetime) -> None:
        """A restore of the parked ``key`` was started as Scale execution ``execution``."""

    @abstractmethod
    def mark_restored(self, key: str, now: datetime, execution: str | None = None) -> bool:
        """The parked size is back: forget it (the next park remembers again).

        With ``execution``, only if that is still the restore on record. True when forgotten.
        """

    def parked_size(self, key: str) -> int | None:
        """The remembered size while parked, else None."""
        found = self.parking(key)
        return found.size if found and found.parked else None


def _reasons(admission: Admission, failed: list[bool]) -> list[str]:
    names = [
        f"duplicate delivery of event {admission.event_id}",
        f"a remediation of {admission.resource_key} is in flight",
        f"{admission.rule} is cooling down ({admission.cooldown_seconds}s between remediations)",
        f"{admission.rule} reached its cap of {admission.cap_max} remediations in window {admission.cap_window}",
    ]
    return [name for name, refused in zip(names, failed, strict=True) if refused]


def _event_pk(a: Admission) -> str:
    return f"REMEDIATION#EVENT#{key_part(a.event_id)}"


def _inflight_pk(resource_key: str) -> str:
    return f"REMEDIATION#INFLIGHT#{key_part(resource_key)}"


def _cooldown_pk(rule: str) -> str:
    return f"REMEDIATION#COOLDOWN#{key_part(rule)}"


def _cap_pk(rule: str, window: str) -> str:
    return f"REMEDIATION#CAP#{key_part(rule)}#{key_part(window, 40)}"


def _parked_pk(key: str) -> str:
    return f"SCHEDULE#PARKED#{key_part(key)}"


class DynamoRemediationStore(DynamoTable, RemediationStore):
    """Admissions, claims and parked sizes in the control plane's table."""

    def _items(self, a: Admission) -> list[dict[str, Any]]:
        now = _epoch(a.now)
        table = self.table_name
        expired = {":now": {"N": str(now)}}
        return [
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "pk": {"S": _event_pk(a)},
                        "sk": {"S": "SEEN"},
                        "rule": {"S": key_part(a.rule)},
                        "expires_at": {"N": str(now + EVENT_KEEP_SECONDS)},
                    },
                    # Seen within the last day (an item DynamoDB has not deleted yet counts only until then).
                    "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                    "ExpressionAttributeValues": expired,
                }
            },
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "pk": {"S": _inflight_pk(a.resource_key)},
                        "sk": {"S": "INFLIGHT"},
                        "owner": {"S": a.owner},
                        "rule": {"S": key_part(a.rule)},
                        "expires_at": {"N": str(now + a.inflight_seconds)},
                    },
                    # Free, or the last holder outlived the workflow's longest run (TTL deletion lags).
                    "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                    "ExpressionAttributeValues": expired,
                }
            },
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "pk": {"S": _cooldown_pk(a.rule)},
                        "sk": {"S": "COOLDOWN"},
                        "until": {"N": str(now + a.cooldown_seconds)},
                        "owner": {"S": a.owner},
                        "expires_at": {"N": str(now + a.cooldown_seconds + 60)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk) OR #until <= :now",
                    "ExpressionAttributeNames": {"#until": "until"},
                    "ExpressionAttributeValues": expired,
                }
            },
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": _cap_pk(a.rule, a.cap_window)}, "sk": {"S": "CAP"}},
                    # The window is in the key: an old window's item, deleted or not, is never read again.
                    "UpdateExpression": "ADD admitted :one SET expires_at = if_not_exists(expires_at, :expires)",
                    "ConditionExpression": "attribute_not_exists(admitted) OR admitted < :max",
                    "ExpressionAttributeValues": {
                        ":one": {"N": "1"},
                        ":max": {"N": str(a.cap_max)},
                        ":expires": {"N": str(now + a.cap_keep_seconds)},
                    },
                }
            },
        ]

    def admit(self, admission: Admission) -> None:
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                self.call("transact_write_items", TransactItems=self._items(admission))
                return
            except Exception as exc:
                if aws.error_code(exc) != "TransactionCanceledException":
                    raise
                codes = [
                    str(r.get("Code") or "None") for r in getattr(exc, "response", {}).get("CancellationReasons", [])
                ]
                failed = [code == "ConditionalCheckFailed" for code in codes]
                if any(failed):
                    raise NotAdmitted(_reasons(admission, failed), duplicate=failed[0]) from None
                if any(code in _RETRYABLE_CANCELLATIONS for code in codes):
                    answer = ",".join(codes)
                    raise TransientAwsError(f"admit {admission.event_id}: DynamoDB answered {answer}") from None
                if attempt == _CONFLICT_RETRIES:
                    # Another admission for the same resource or rule kept winning: it is the one in flight.
                    raise NotAdmitted(
                        [f"concurrent admission for {admission.resource_key} ({','.join(codes)})"]
                    ) from None
                time.sleep(0.05 * (attempt + 1))

    def _get(self, pk: str, sk: str) -> dict[str, Any]:
        item = self.call(
            "get_item", TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        return dict(item or {})

    def refusals(self, admission: Admission) -> list[str]:
        now = _epoch(admission.now)
        inflight = self._get(_inflight_pk(admission.resource_key), "INFLIGHT")
        cooldown = self._get(_cooldown_pk(admission.rule), "COOLDOWN")
        cap = self._get(_cap_pk(admission.rule, admission.cap_window), "CAP")
        failed = [
            False,
            bool(inflight) and int(inflight["expires_at"]["N"]) >= now,
            bool(cooldown) and int(cooldown["until"]["N"]) > now,
            bool(cap) and int(cap.get("admitted", {}).get("N", "0")) >= admission.cap_max,
        ]
        return _reasons(admission, failed)

    def holder(self, resource_key: str, now: datetime) -> str | None:
        item = self._get(_inflight_pk(resource_key), "INFLIGHT")
        if not item or int(item["expires_at"]["N"]) < _epoch(now):
            return None
        return str(item["owner"]["S"])

    def release(self, resource_key: str, owner: str) -> bool:
        return delete_if_owner(self.client, self.table_name, _inflight_pk(resource_key), "INFLIGHT", owner)

    def undo(self, admission: Admission) -> None:
        a = admission
        self.release(a.resource_key, a.owner)
        self.call("delete_item", TableName=self.table_name, Key={"pk": {"S": _event_pk(a)}, "sk": {"S": "SEEN"}})
        delete_if_owner(self.client, self.table_name, _cooldown_pk(a.rule), "COOLDOWN", a.owner)
        self.call(
            "update_item",
            TableName=self.table_name,
            Key={"pk": {"S": _cap_pk(a.rule, a.cap_window)}, "sk": {"S": "CAP"}},
            UpdateExpression="ADD admitted :minus",
            ExpressionAttributeValues={":minus": {"N": "-1"}},
        )

    def count(self, rule: str, outcome: str, window: str) -> None:
        self.call(
            "update_item",
            TableName=self.table_name,
            Key={"pk": {"S": f"REMEDIATION#STATS#{key_part(rule)}"}, "sk": {"S": key_part(window, 40)}},
            UpdateExpression="ADD #outcome :one SET expires_at = if_not_exists(expires_at, :expires)",
            ExpressionAttributeNames={"#outcome": outcome},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":expires": {"N": str(int(time.time()) + STATS_KEEP_SECONDS)},
            },
        )

    def stats(self, rule: str, window: str) -> dict[str, int]:
        item = self._get(f"REMEDIATION#STATS#{key_part(rule)}", key_part(window, 40))
        return {k: int(v["N"]) for k, v in item.items() if "N" in v and k != "expires_at"}

    def remember_size(self, key: str, size: int, now: datetime) -> bool:
        try:
            self.call(
                "put_item",
                TableName=self.table_name,
                Item={
                    "pk": {"S": _parked_pk(key)},
                    "sk": {"S": "SIZE"},
                    "size": {"N": str(size)},
                    "parked": {"BOOL": True},
                    "parked_at": {"S": now.isoformat()},
                },
                # Parking twice (a retried schedule, or a restore that did not happen) keeps the first size.
                ConditionExpression="attribute_not_exists(pk) OR parked = :false",
                ExpressionAttributeValues={":false": {"BOOL": False}},
            )
        except ConditionFailed:
            return False
        return True

    def parking(self, key: str) -> Parking | None:
        item = self._get(_parked_pk(key), "SIZE")
        if not item:
            return None
        return Parking(
            size=int(item["size"]["N"]),
            parked=bool(item.get("parked", {}).get("BOOL")),
            restore_execution=item.get("restore_execution", {}).get("S") or None,
        )

    def restore_started(self, key: str, execution: str, now: datetime) -> None:
        self.call(
            "update_item",
            TableName=self.table_name,
            Key={"pk": {"S": _parked_pk(key)}, "sk": {"S": "SIZE"}},
            UpdateExpression="SET restore_execution = :execution, restore_started_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":execution": {"S": execution}, ":now": {"S": now.isoformat()}},
        )

    def mark_restored(self, key: str, now: datetime, execution: str | None = None) -> bool:
        condition = "attribute_exists(pk)"
        values: dict[str, Any] = {":false": {"BOOL": False}, ":now": {"S": now.isoformat()}}
        if execution is not None:
            condition += " AND restore_execution = :execution"
            values[":execution"] = {"S": execution}
        try:
            self.call(
                "update_item",
                TableName=self.table_name,
                Key={"pk": {"S": _parked_pk(key)}, "sk": {"S": "SIZE"}},
                UpdateExpression="SET parked = :false, restored_at = :now",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ConditionFailed:
            return False
        return True


class InMemoryRemediationStore(RemediationStore):
    """The same contract in dicts, one lock for the whole transaction (unit tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: dict[str, int] = {}
        self.inflight: dict[str, tuple[str, int]] = {}
        self.cooldown_until: dict[str, int] = {}
        self.cap: dict[tuple[str, str], int] = {}
        self.counts: dict[tuple[str, str], dict[str, int]] = {}
        self.parked: dict[str, Parking] = {}

    def _failed(self, admission: Admission) -> list[bool]:
        now = _epoch(admission.now)
        held = self.inflight.get(admission.resource_key)
        return [
            self.seen.get(admission.event_id, -1) >= now,
            held is not None and held[1] >= now,
            self.cooldown_until.get(admission.rule, 0) > now,
            self.cap.get((admission.rule, admission.cap_window), 0) >= admission.cap_max,
        ]

    def admit(self, admission: Admission) -> None:
        now = _epoch(admission.now)
        with self._lock:
            failed = self._failed(admission)
            if any(failed):
                raise NotAdmitted(_reasons(admission, failed), duplicate=failed[0])
            self.seen[admission.event_id] = now + EVENT_KEEP_SECONDS
            self.inflight[admission.resource_key] = (admission.owner, now + admission.inflight_seconds)
            self.cooldown_until[admission.rule] = now + admission.cooldown_seconds
            window = (admission.rule, admission.cap_window)
            self.cap[window] = self.cap.get(window, 0) + 1

    def refusals(self, admission: Admission) -> list[str]:
        with self._lock:
            return _reasons(admission, [False, *self._failed(admission)[1:]])

    def holder(self, resource_key: str, now: datetime) -> str | None:
        held = self.inflight.get(resource_key)
        return held[0] if held and held[1] >= _epoch(now) else None

    def release(self, resource_key: str, owner: str) -> bool:
        with self._lock:
            held = self.inflight.get(resource_key)
            if held and held[0] == owner:
                del self.inflight[resource_key]
                return True
            return False

    def undo(self, admission: Admission) -> None:
        with self._lock:
            self.seen.pop(admission.event_id, None)
            held = self.inflight.get(admission.resource_key)
            if held and held[0] == admission.owner:
                del self.inflight[admission.resource_key]
            self.cooldown_until.pop(admission.rule, None)
            window = (admission.rule, admission.cap_window)
            self.cap[window] = max(self.cap.get(window, 0) - 1, 0)

    def count(self, rule: str, outcome: str, window: str) -> None:
        with self._lock:
            bucket = self.counts.setdefault((rule, window), {})
            bucket[outcome] = bucket.get(outcome, 0) + 1

    def stats(self, rule: str, window: str) -> dict[str, int]:
        return dict(self.counts.get((rule, window), {}))

    def remember_size(self, key: str, size: int, now: datetime) -> bool:
        with self._lock:
            if key in self.parked and self.parked[key].parked:
                return False
            self.parked[key] = Parking(size=size, parked=True)
            return True

    def parking(self, key: str) -> Parking | None:
        return self.parked.get(key)

    def restore_started(self, key: str, execution: str, now: datetime) -> None:
        with self._lock:
            found = self.parked.get(key)
            if found:
                self.parked[key] = Parking(size=found.size, parked=found.parked, restore_execution=execution)

    def mark_restored(self, key: str, now: datetime, execution: str | None = None) -> bool:
        with self._lock:
            found = self.parked.get(key)
            if found is None or (execution is not None and found.restore_execution != execution):
                return False
            self.parked[key] = Parking(size=found.size, parked=False, restore_execution=found.restore_execution)
            return True

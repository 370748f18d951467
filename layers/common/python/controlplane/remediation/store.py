"""State the remediation entry point and the schedules keep in the control plane's table.

Admission is one DynamoDB transaction of four conditional writes, so a storm of events for one
alarm cannot admit two remediations however the events interleave:

- ``REMEDIATION#EVENT#<event id>``: the event was seen (a redelivery is a duplicate);
- ``REMEDIATION#INFLIGHT#<kind#resource>``: one remediation in flight per resource (released at the end,
  or expired after the workflow's longest run);
- ``REMEDIATION#COOLDOWN#<rule>``: one admission per cooldown window per rule;
- ``REMEDIATION#CAP#<rule>#<window>``: at most so many admissions per cap window.

Every event that is not admitted is counted (``REMEDIATION#STATS#<rule>``) and audited by the caller.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controlplane import aws
from controlplane.store import DynamoTable, delete_if_owner

EVENT_KEEP_SECONDS = 86_400
_CONFLICT_RETRIES = 3


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


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


class NotAdmitted(Exception):
    """The admission's conditions refused it; ``reasons`` says which (duplicate, in flight, cooldown, cap)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class RemediationStore(ABC):
    @abstractmethod
    def admit(self, admission: Admission) -> None:
        """Claim everything the admission needs, or raise NotAdmitted naming what refused it."""

    @abstractmethod
    def release(self, resource_key: str, owner: str) -> bool:
        """Give back the in-flight claim if ``owner`` holds it."""

    @abstractmethod
    def undo(self, admission: Admission) -> None:
        """Take an admission back (nothing was started): a redelivery of the event may then act."""

    @abstractmethod
    def count(self, rule: str, outcome: str, window: str) -> None:
        """Count one event's outcome (Admitted, Suppressed, Ignored, Rejected) for ``rule`` in ``window``."""

    @abstractmethod
    def stats(self, rule: str, window: str) -> dict[str, int]:
        """The counts of ``rule`` in ``window``."""

    @abstractmethod
    def remember_size(self, key: str, size: int, now: datetime) -> bool:
        """Remember a size before parking, unless already parked (then keep the first). True when stored."""

    @abstractmethod
    def parked_size(self, key: str) -> int | None:
        """The remembered size while parked, else None."""

    @abstractmethod
    def mark_restored(self, key: str, now: datetime) -> None:
        """The parked resource was asked back to its size: the next park may remember again."""


def _reasons(admission: Admission, failed: list[bool]) -> list[str]:
    names = [
        f"duplicate delivery of event {admission.event_id}",
        f"a remediation of {admission.resource_key} is in flight",
        f"{admission.rule} is cooling down ({admission.cooldown_seconds}s between remediations)",
        f"{admission.rule} reached its cap of {admission.cap_max} remediations in window {admission.cap_window}",
    ]
    return [name for name, refused in zip(names, failed, strict=True) if refused]


class DynamoRemediationStore(DynamoTable, RemediationStore):
    """Admissions, claims and parked sizes in the control plane's table."""

    def _items(self, a: Admission) -> list[dict[str, Any]]:
        now = _epoch(a.now)
        table = self.table_name
        return [
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "pk": {"S": f"REMEDIATION#EVENT#{a.event_id}"},
                        "sk": {"S": "SEEN"},
                        "rule": {"S": a.rule},
                        "expires_at": {"N": str(now + EVENT_KEEP_SECONDS)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "pk": {"S": f"REMEDIATION#INFLIGHT#{a.resource_key}"},
                        "sk": {"S": "INFLIGHT"},
                        "owner": {"S": a.owner},
                        "rule": {"S": a.rule},
                        "expires_at": {"N": str(now + a.inflight_seconds)},
                    },
                    # Free, or the last holder outlived the workflow's longest run (TTL deletion lags).
                    "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                    "ExpressionAttributeValues": {":now": {"N": str(now)}},
                }
            },
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "pk": {"S": f"REMEDIATION#COOLDOWN#{a.rule}"},
                        "sk": {"S": "COOLDOWN"},
                        "until": {"N": str(now + a.cooldown_seconds)},
                        "owner": {"S": a.owner},
                        "expires_at": {"N": str(now + a.cooldown_seconds + 60)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk) OR #until <= :now",
                    "ExpressionAttributeNames": {"#until": "until"},
                    "ExpressionAttributeValues": {":now": {"N": str(now)}},
                }
            },
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": f"REMEDIATION#CAP#{a.rule}#{a.cap_window}"}, "sk": {"S": "CAP"}},
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
                self.client.transact_write_items(TransactItems=self._items(admission))
                return
            except Exception as exc:
                if aws.error_code(exc) != "TransactionCanceledException":
                    raise
                codes = [
                    str(r.get("Code") or "None") for r in getattr(exc, "response", {}).get("CancellationReasons", [])
                ]
                failed = [code == "ConditionalCheckFailed" for code in codes]
                if any(failed):
                    raise NotAdmitted(_reasons(admission, failed)) from None
                if attempt == _CONFLICT_RETRIES:
                    # Another admission for the same resource or rule kept winning: it is the one in flight.
                    raise NotAdmitted(
                        [f"concurrent admission for {admission.resource_key} ({','.join(codes)})"]
                    ) from None
                time.sleep(0.05 * (attempt + 1))

    def release(self, resource_key: str, owner: str) -> bool:
        pk = f"REMEDIATION#INFLIGHT#{resource_key}"
        return delete_if_owner(self.client, self.table_name, pk, "INFLIGHT", owner)

    def undo(self, admission: Admission) -> None:
        a = admission
        self.release(a.resource_key, a.owner)
        self.client.delete_item(
            TableName=self.table_name, Key={"pk": {"S": f"REMEDIATION#EVENT#{a.event_id}"}, "sk": {"S": "SEEN"}}
        )
        delete_if_owner(self.client, self.table_name, f"REMEDIATION#COOLDOWN#{a.rule}", "COOLDOWN", a.owner)
        self.client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"REMEDIATION#CAP#{a.rule}#{a.cap_window}"}, "sk": {"S": "CAP"}},
            UpdateExpression="ADD admitted :minus",
            ExpressionAttributeValues={":minus": {"N": "-1"}},
        )

    def count(self, rule: str, outcome: str, window: str) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"REMEDIATION#STATS#{rule}"}, "sk": {"S": window}},
            UpdateExpression="ADD #outcome :one",
            ExpressionAttributeNames={"#outcome": outcome},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    def stats(self, rule: str, window: str) -> dict[str, int]:
        item = self.client.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"REMEDIATION#STATS#{rule}"}, "sk": {"S": window}},
            ConsistentRead=True,
        ).get("Item", {})
        return {k: int(v["N"]) for k, v in item.items() if "N" in v}

    def remember_size(self, key: str, size: int, now: datetime) -> bool:
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "pk": {"S": f"SCHEDULE#PARKED#{key}"},
                    "sk": {"S": "SIZE"},
                    "size": {"N": str(size)},
                    "parked": {"BOOL": True},
                    "parked_at": {"S": now.isoformat()},
                },
                # Parking twice (a retried schedule) must not overwrite the size with the parked one.
                ConditionExpression="attribute_not_exists(pk) OR parked = :false",
                ExpressionAttributeValues={":false": {"BOOL": False}},
            )
        except Exception as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def parked_size(self, key: str) -> int | None:
        item = self.client.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"SCHEDULE#PARKED#{key}"}, "sk": {"S": "SIZE"}},
            ConsistentRead=True,
        ).get("Item")
        if not item or not item.get("parked", {}).get("BOOL"):
            return None
        return int(item["size"]["N"])

    def mark_restored(self, key: str, now: datetime) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"SCHEDULE#PARKED#{key}"}, "sk": {"S": "SIZE"}},
            UpdateExpression="SET parked = :false, restored_at = :now",
            ExpressionAttributeValues={":false": {"BOOL": False}, ":now": {"S": now.isoformat()}},
        )


class InMemoryRemediationStore(RemediationStore):
    """The same contract in dicts, one lock for the whole transaction (unit tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: set[str] = set()
        self.inflight: dict[str, tuple[str, int]] = {}
        self.cooldown_until: dict[str, int] = {}
        self.cap: dict[tuple[str, str], int] = {}
        self.counts: dict[tuple[str, str], dict[str, int]] = {}
        self.parked: dict[str, tuple[int, bool]] = {}

    def admit(self, admission: Admission) -> None:
        now = _epoch(admission.now)
        with self._lock:
            held = self.inflight.get(admission.resource_key)
            failed = [
                admission.event_id in self.seen,
                held is not None and held[1] >= now,
                self.cooldown_until.get(admission.rule, 0) > now,
                self.cap.get((admission.rule, admission.cap_window), 0) >= admission.cap_max,
            ]
            if any(failed):
                raise NotAdmitted(_reasons(admission, failed))
            self.seen.add(admission.event_id)
            self.inflight[admission.resource_key] = (admission.owner, now + admission.inflight_seconds)
            self.cooldown_until[admission.rule] = now + admission.cooldown_seconds
            window = (admission.rule, admission.cap_window)
            self.cap[window] = self.cap.get(window, 0) + 1

    def release(self, resource_key: str, owner: str) -> bool:
        with self._lock:
            held = self.inflight.get(resource_key)
            if held and held[0] == owner:
                del self.inflight[resource_key]
                return True
            return False

    def undo(self, admission: Admission) -> None:
        with self._lock:
            self.seen.discard(admission.event_id)
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
            if key in self.parked and self.parked[key][1]:
                return False
            self.parked[key] = (size, True)
            return True

    def parked_size(self, key: str) -> int | None:
        found = self.parked.get(key)
        return found[0] if found and found[1] else None

    def mark_restored(self, key: str, now: datetime) -> None:
        with self._lock:
            if key in self.parked:
                self.parked[key] = (self.parked[key][0], False)

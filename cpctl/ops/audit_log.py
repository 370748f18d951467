"""``cpctl audit``: the audit items of the state table (``controlplane.store.DynamoStateStore.put_audit``:
``pk = AUDIT#<resource key>``, ``sk = <ISO time>#<execution>``, the outcome as JSON in ``record``),
newest first, as who / what / why / before / after."""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from cpctl.ops.errors import CpctlError, Exit
from cpctl.ops.executions import aws_call
from cpctl.ops.target import Target

PREFIX = "AUDIT#"
_AGO = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """``30m``, ``24h``, ``7d`` (ago) or an ISO 8601 time (UTC when it names no zone)."""
    if not text:
        return None
    now = now or datetime.now(UTC)
    match = _AGO.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CpctlError(
            f"--since {text!r} is neither a duration nor a time", Exit.USAGE, "e.g. 30m, 24h, 7d or 2026-11-27T06:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _row(item: dict[str, Any]) -> dict[str, Any]:
    resource = item["pk"]["S"].removeprefix(PREFIX)
    at, _, execution = item["sk"]["S"].partition("#")
    try:
        record = json.loads(item.get("record", {}).get("S", "{}"))
    except ValueError:
        record = {}
    requester = record.get("requester")
    who = f"{requester.get('type')}:{requester.get('id')}" if isinstance(requester, dict) else requester
    if who is None and record.get("rule"):  # a remediation: the alarm or alert that asked
        who = f"{record.get('source', 'alarm')}:{record['rule']}"
    before = record.get("before", record.get("current"))
    after = record.get("after", record.get("desired"))
    return {
        "at": at,
        "resource": resource,
        "workflow": record.get("workflow") or resource.split("#", 1)[0],
        "status": item.get("status", {}).get("S") or record.get("status"),
        "execution": execution,
        "who": who,
        "what": record.get("action") or record.get("kind") or resource,
        "why": record.get("request_reason") or record.get("reason"),
        "result": record.get("reason"),
        "before": before,
        "after": after,
        "dry_run": bool(record.get("dry_run", False)),
        "record": record,
    }


def query(target: Target, resource: str | None, since: datetime | None, limit: int) -> list[dict[str, Any]]:
    """Audit rows for one resource key (``nodegroup#sip-dev/general``) or, without one, for all; a
    resource text without ``#`` matches every key that contains it."""
    ddb = target.client("dynamodb")
    table = target.state_table
    floor = since.astimezone(UTC).isoformat(timespec="seconds").removesuffix("+00:00") if since else None
    items: list[dict[str, Any]] = []
    if resource and "#" in resource:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk" + (" AND sk >= :since" if floor else ""),
            "ExpressionAttributeValues": {
                ":pk": {"S": PREFIX + resource},
                **({":since": {"S": floor}} if floor else {}),
            },
            "ScanIndexForward": False,
        }
        items = _all(target, ddb.query, kwargs)
    else:
        condition = "begins_with(pk, :prefix)" + (" AND sk >= :since" if floor else "")
        values: dict[str, Any] = {":prefix": {"S": PREFIX}, **({":since": {"S": floor}} if floor else {})}
        if resource:
            condition += " AND contains(pk, :resource)"
            values[":resource"] = {"S": resource}
        kwargs = {"TableName": table, "FilterExpression": condition, "ExpressionAttributeValues": values}
        items = _all(target, ddb.scan, kwargs)
    rows = [_row(item) for item in items]
    rows.sort(key=lambda row: row["at"], reverse=True)
    return rows[:limit]


def _all(target: Target, call: Any, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = aws_call(target, functools.partial(call, **kwargs))
        items.extend(page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

"""Where a run keeps what does not fit in Step Functions' state: the plan, work units, results, the report.

Objects under ``s3://<backups bucket>/reports/cleanup/<YYYY-MM-DD>/<execution>/``: ``plan.json`` (every
decision), ``units/<n>.json`` (one source's deletions), ``results/<n>-<cursor>.json`` (one batch's
outcome, overwritten by a retried batch), ``report.json`` and ``report.md``. The state machine carries
only this prefix and unit numbers, so its payloads stay far below 256 KB whatever the number of snapshots.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from controlplane import aws
from controlplane.models.errors import TransientAwsError

REPORT_ROOT = "reports/cleanup"


def run_prefix(execution: str, started: datetime) -> str:
    return f"{REPORT_ROOT}/{started:%Y-%m-%d}/{execution}/"


class ObjectStore(ABC):
    @abstractmethod
    def put(self, key: str, body: str, content_type: str = "application/json") -> None: ...

    @abstractmethod
    def get(self, key: str) -> str: ...

    @abstractmethod
    def keys(self, prefix: str) -> list[str]: ...

    def put_json(self, key: str, value: Any) -> None:
        self.put(key, json.dumps(value, default=str, separators=(",", ":")))

    def get_json(self, key: str) -> Any:
        return json.loads(self.get(key))


class S3ObjectStore(ObjectStore):
    def __init__(self, bucket: str, region: str | None = None) -> None:
        self.bucket = bucket
        self.region = region

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(aws.client("s3", self.region), operation)(Bucket=self.bucket, **kwargs)
        except Exception as exc:
            if aws.is_retryable(exc):
                raise TransientAwsError(f"s3 {operation} on {self.bucket}: {aws.error_code(exc)}") from None
            raise

    def put(self, key: str, body: str, content_type: str = "application/json") -> None:
        self._call("put_object", Key=key, Body=body.encode(), ContentType=content_type, ServerSideEncryption="AES256")

    def get(self, key: str) -> str:
        return str(self._call("get_object", Key=key)["Body"].read().decode())

    def keys(self, prefix: str) -> list[str]:
        paginator = aws.client("s3", self.region).get_paginator("list_objects_v2")
        found: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(str(item["Key"]) for item in page.get("Contents", []))
        return found


class MemoryObjectStore(ObjectStore):
    """The same contract in a dict (unit tests)."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}

    def put(self, key: str, body: str, content_type: str = "application/json") -> None:
        self.objects[key] = body

    def get(self, key: str) -> str:
        return self.objects[key]

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

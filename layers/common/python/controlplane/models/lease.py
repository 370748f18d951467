"""The lease model: who holds the one lease of a physical resource, and until when."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field

from controlplane.models.base import Model

# Lease keys name a physical resource ("rds:db:sip-prod-postgres"); owners a workflow's execution.
KEY_MAX = 256
OWNER_MAX = 200


class Lease(Model):
    """A held lease. ``expires_at`` is epoch seconds; code compares it, DynamoDB's TTL only tidies."""

    key: str = Field(min_length=3, max_length=KEY_MAX)
    owner: str = Field(min_length=3, max_length=OWNER_MAX)
    expires_at: int = Field(ge=0)
    workflow: str = Field(default="", max_length=40)

    def remaining_seconds(self, now: datetime) -> int:
        return self.expires_at - int(now.timestamp())

    @property
    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)

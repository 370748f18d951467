"""Entry point of the cost review's thin handler: Review and Record (routed on ``task``)."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from controlplane.costreview import review
from controlplane.costreview.models import ReviewOutcome, ReviewState, load_prices, load_review_policy
from controlplane.models.errors import InvalidRequest


def handle_review(event: Any) -> Any:
    from controlplane import audit, clock
    from controlplane.config import settings
    from controlplane.store import DynamoStateStore

    if not isinstance(event, dict) or event.get("task") not in ("review", "record"):
        raise InvalidRequest("the event must name a task, one of ['review', 'record']")
    cfg = settings()
    policy = load_review_policy(cfg.environment)
    now = clock.now()
    execution = event.get("execution", "local")
    if not isinstance(execution, str) or not 1 <= len(execution) <= 80:
        raise InvalidRequest("execution must be a name of 1 to 80 characters")
    if event["task"] == "review":
        return review.review_step(
            event.get("input"), execution, policy, load_prices(), now, os.environ["BACKUPS_BUCKET"]
        )
    try:
        state = ReviewState.model_validate(event.get("state") if isinstance(event.get("state"), dict) else {})
    except ValidationError as exc:
        raise InvalidRequest(f"malformed workflow state: {exc.error_count()} problems") from None
    started = event.get("started_at")
    started_at = datetime.fromisoformat(str(started).replace("Z", "+00:00")) if started else None
    outcome: ReviewOutcome = review.outcome_of(state, execution, cfg.environment, now, started_at)
    audit.record(outcome, DynamoStateStore(cfg.state_table), cfg, policy.notify_on)
    return outcome

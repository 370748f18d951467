"""The Finish task: bad input refused before anything is released, the alarm reset so it can fire
again (and the reset never mistaken for a recovery), a retried task that changes nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from controlplane.config import Settings
from controlplane.models.errors import InvalidRequest, TransientAwsError
from controlplane.remediation import finish
from controlplane.remediation.events import RESET_REASON_PREFIX
from controlplane.remediation.store import InMemoryRemediationStore
from controlplane.store import InMemoryStateStore

from tests.conftest import load_event

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
SETTINGS = Settings(
    environment="dev",
    state_table="sip-controlplane-state-dev",
    notify_topic_arn="arn:aws:sns:us-east-1:123456789012:sip-controlplane-notify-dev",
    policy_name="dev",
)


@pytest.fixture(autouse=True)
def _metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    from controlplane.observability import metrics

    monkeypatch.setattr(metrics.provider, "namespace", "SIP/Test")


def sample() -> dict[str, Any]:
    return dict(load_event("finish_remediation/scale-succeeded.json"))


class Resets:
    def __init__(self, answer: str | Exception = "reset to OK") -> None:
        self.calls: list[tuple[str, str]] = []
        self.answer = answer

    def __call__(self, name: str, reason: str) -> str:
        self.calls.append((name, reason))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def run(
    event: dict[str, Any],
    store: InMemoryRemediationStore,
    audit: InMemoryStateStore,
    resets: Resets,
    now: datetime = NOW,
) -> Any:
    request = finish.FinishInput.model_validate(event)
    return finish.finish_step(
        request.remediation, request.execution, store, audit, SETTINGS, now, publish=False, reset=resets
    )


def claimed(event: dict[str, Any]) -> InMemoryRemediationStore:
    store = InMemoryRemediationStore()
    state = event["remediation"]
    store.inflight[state["resource_key"]] = (state["owner"], int(NOW.timestamp()) + 3600)
    return store


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("execution",), "x" * 300, "execution: String should have at most 80 characters"),
        (("remediation", "rule"), "r" * 3000, "remediation.rule: String should have at most 255 characters"),
        (("remediation", "resource_key"), "k" * 3000, "remediation.resource_key"),
        (("remediation", "owner"), "o" * 81, "remediation.owner"),
        (("remediation", "source"), "carrier-pigeon", "remediation.source"),
        (("remediation", "event_id"), None, "remediation.event_id"),
    ],
)
def test_bad_input_is_refused_by_name_before_the_claim_is_released(
    monkeypatch: pytest.MonkeyPatch, path: tuple[str, ...], value: Any, problem: str
) -> None:
    event = sample()
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    monkeypatch.setattr(finish, "finish_step", lambda *args, **kwargs: pytest.fail("acted on bad input"))
    with pytest.raises(InvalidRequest, match=problem.replace("(", r"\(")):
        finish.handle_finish(event)


def test_the_alarm_still_in_alarm_is_reset_after_the_claim_is_released() -> None:
    event = sample()
    store, audit, resets = claimed(event), InMemoryStateStore(), Resets()

    def reset(name: str, reason: str) -> str:
        assert store.holder(event["remediation"]["resource_key"], NOW) is None, "reset before release"
        return resets(name, reason)

    outcome = finish.finish_step(
        finish.RemediationState.model_validate(event["remediation"]),
        event["execution"],
        store,
        audit,
        SETTINGS,
        NOW,
        publish=False,
        reset=reset,
    )
    assert outcome.status == "Remediated" and outcome.released and outcome.alarm == "reset to OK"
    [(name, reason)] = resets.calls
    assert name == "sip-dev-eks-cpu-high"
    assert reason.startswith(RESET_REASON_PREFIX) and event["execution"] in reason


@pytest.mark.parametrize(
    ("source", "state"), [("alertmanager", "ALARM"), ("cloudwatch", "OK")], ids=["alertmanager", "ok-rule"]
)
def test_nothing_to_reset_for_alerts_and_rules_acting_on_ok(source: str, state: str) -> None:
    event = sample()
    event["remediation"] |= {"source": source, "state": state}
    resets = Resets()
    outcome = run(event, claimed(event), InMemoryStateStore(), resets)
    assert resets.calls == [] and outcome.alarm is None


def test_a_throttled_reset_asks_the_state_machine_to_retry_and_the_retry_changes_nothing_twice() -> None:
    event = sample()
    store, audit = claimed(event), InMemoryStateStore()
    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "SetAlarmState")
    with pytest.raises(TransientAwsError, match="Throttling"):
        run(event, store, audit, Resets(throttled))
    retried = run(event, store, audit, Resets())
    # Released by the first attempt: the retry still reports the claim as released.
    assert retried.released is True and retried.alarm == "reset to OK"


def test_a_reset_refused_for_good_is_reported_and_left_to_the_sweep() -> None:
    event = sample()
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "SetAlarmState")
    outcome = run(event, claimed(event), InMemoryStateStore(), Resets(denied))
    assert outcome.status == "Remediated" and outcome.alarm == "reset failed: AccessDenied"


def test_the_audit_item_of_a_retried_task_has_the_same_key() -> None:
    event = sample()
    event["remediation"]["admitted_at"] = "2026-11-26T14:52:01+00:00"
    store, audit = claimed(event), InMemoryStateStore()
    run(event, store, audit, Resets())
    run(event, store, audit, Resets(), now=NOW + timedelta(seconds=30))  # the state machine's retry
    keys = {(item["resource"], item["at"], item["execution"]) for item in audit.audit.values()}
    admitted = datetime(2026, 11, 26, 14, 52, 1, tzinfo=UTC)
    assert keys == {("remediation#sip-dev-eks-cpu-high", admitted, event["execution"])}

"""The scale request, policy files and outcome rules: bad input gets a named error with every problem."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from controlplane import scaling
from controlplane.config import POLICY_DIR, load_policy, parse_policy
from controlplane.models.errors import InvalidPolicy, InvalidRequest
from controlplane.models.scale import (
    GuardCheck,
    GuardDecision,
    OutcomeStatus,
    Progress,
    ScalePlan,
    ScaleRequest,
    ScaleState,
    StepError,
)

from tests.conftest import load_event

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def valid() -> dict[str, Any]:
    return load_event("scale/nodegroup_scale_up.json")


class TestScaleRequest:
    def test_sample_events_are_valid(self) -> None:
        for name in ("nodegroup_scale_up", "nodegroup_delta", "nodegroup_dry_run", "nodegroup_beyond_max"):
            request = scaling.parse_request(load_event(f"scale/{name}.json"), "exec-1")
            assert request.execution == "exec-1"
            assert request.resource.resource_id.startswith("sip-dev/")

    @pytest.mark.parametrize(
        ("change", "fragment"),
        [
            ({"desired": -1}, "desired"),
            ({"desired": "five"}, "desired"),
            ({"desired": 3, "delta": 1}, "exactly one"),
            ({"desired": None}, "exactly one"),
            ({"desired": None, "delta": 0}, "must not be 0"),
            ({"reason": ""}, "reason"),
            ({"requester": {"type": "robot", "id": "x"}}, "requester.type"),
            ({"resource": {"kind": "nodegroup", "cluster": "sip-dev"}}, "nodegroup"),
            ({"resource": {"kind": "nodegroup", "cluster": "sip dev!", "nodegroup": "general"}}, "cluster"),
            ({"resource": {"kind": "mainframe", "id": "x"}}, "unknown resource kind"),
            ({"resource": "sip-dev/general"}, "resource"),
            ({"surprise": True}, "surprise"),
        ],
    )
    def test_malformed_requests_name_the_problem(self, change: dict[str, Any], fragment: str) -> None:
        raw = {**valid(), **change}
        with pytest.raises(InvalidRequest) as caught:
            scaling.parse_request(raw, "exec-1")
        assert fragment in str(caught.value)

    def test_missing_fields_are_all_listed(self) -> None:
        with pytest.raises(InvalidRequest) as caught:
            scaling.parse_request({"resource": valid()["resource"]}, "exec-1")
        message = str(caught.value)
        assert "reason" in message
        assert "requester" in message

    def test_not_an_object(self) -> None:
        with pytest.raises(InvalidRequest, match="JSON object"):
            scaling.parse_request(["desired", 5], "exec-1")

    def test_round_trip_keeps_the_adapter_target(self) -> None:
        request = scaling.parse_request(valid(), "exec-1")
        again = ScaleRequest.model_validate(json.loads(request.model_dump_json()))
        assert again == request
        assert again.resource.resource_id == "sip-dev/general"


class TestPolicy:
    @pytest.mark.parametrize("path", [POLICY_DIR / f"{env}.json" for env in ("dev", "staging", "prod")], ids=str)
    def test_shipped_policies_are_valid(self, path: Any) -> None:
        load_policy.cache_clear()
        assert load_policy(path.stem).for_kind("nodegroup").max_step >= 1

    @pytest.mark.parametrize(
        ("change", "fragment"),
        [
            ({"scaling": {"toaster": {"max_step": 1, "cooldown_seconds": 0, "verify_timeout_seconds": 60}}}, "toaster"),
            (
                {"scaling": {"nodegroup": {"max_step": 0, "cooldown_seconds": 0, "verify_timeout_seconds": 60}}},
                "max_step",
            ),
            (
                {
                    "scaling": {
                        "nodegroup": {
                            "max_step": 1,
                            "cooldown_seconds": 0,
                            "verify_timeout_seconds": 60,
                            "min_capacity": 5,
                            "max_capacity": 2,
                        }
                    }
                },
                "min_capacity is above max_capacity",
            ),
            ({"lock_ttl_seconds": 5}, "lock_ttl_seconds"),
            ({"circuit_breaker": {"max_changes_per_window": 0, "window_seconds": 60}}, "max_changes_per_window"),
            ({"notify_on": ["Sometimes"]}, "notify_on"),
        ],
    )
    def test_bad_policies_are_rejected_clearly(self, change: dict[str, Any], fragment: str) -> None:
        data = json.loads((POLICY_DIR / "dev.json").read_text())
        data.update(change)
        with pytest.raises(InvalidPolicy) as caught:
            parse_policy(data)
        assert fragment in str(caught.value)

    def test_unknown_policy_name(self) -> None:
        with pytest.raises(InvalidPolicy, match="no policy named"):
            load_policy("moon")


def _state(**fields: Any) -> ScaleState:
    request = scaling.parse_request(valid(), "exec-1")
    plan = ScalePlan(
        kind="nodegroup",
        resource_id="sip-dev/general",
        current=3,
        desired=5,
        min_capacity=1,
        max_capacity=10,
        status="ACTIVE",
    )
    allowed = GuardDecision(checks=[GuardCheck(name="bounds", passed=True)])
    return ScaleState(**{"request": request, "plan": plan, "decision": allowed, **fields})


class TestOutcomeRules:
    def test_done_is_succeeded(self) -> None:
        progress = Progress(polls=2, state="done", observed=5, status="ACTIVE")
        outcome = scaling.outcome_of(_state(progress=progress), "exec-1", NOW)
        assert outcome.status is OutcomeStatus.SUCCEEDED
        assert outcome.observed == 5

    def test_refused_guard_is_blocked_not_failed(self) -> None:
        refused = GuardDecision(checks=[GuardCheck(name="bounds", passed=False, reason="above the maximum 10")])
        outcome = scaling.outcome_of(_state(decision=refused), "exec-1", NOW)
        assert outcome.status is OutcomeStatus.BLOCKED
        assert not outcome.status.is_failure
        assert "above the maximum" in outcome.reason

    def test_dry_run(self) -> None:
        request = scaling.parse_request({**valid(), "dry_run": True}, "exec-1")
        outcome = scaling.outcome_of(_state(request=request), "exec-1", NOW)
        assert outcome.status is OutcomeStatus.DRY_RUN

    def test_no_change(self) -> None:
        plan = _state().plan
        assert plan is not None
        same = plan.model_copy(update={"desired": 3})
        assert scaling.outcome_of(_state(plan=same), "exec-1", NOW).status is OutcomeStatus.NO_CHANGE

    @pytest.mark.parametrize(
        ("error", "status"),
        [
            ("InvalidRequest", OutcomeStatus.REJECTED),
            ("ResourceNotFound", OutcomeStatus.REJECTED),
            ("LockHeld", OutcomeStatus.BLOCKED),
            ("PlanStale", OutcomeStatus.BLOCKED),
            ("GuardRefused", OutcomeStatus.BLOCKED),
            ("ApplyFailed", OutcomeStatus.FAILED),
            ("States.Timeout", OutcomeStatus.FAILED),
        ],
    )
    def test_caught_errors(self, error: str, status: OutcomeStatus) -> None:
        cause = json.dumps({"errorType": error, "errorMessage": "what happened"})
        outcome = scaling.outcome_of(_state(error=StepError(Error=error, Cause=cause)), "exec-1", NOW)
        assert outcome.status is status
        if error.startswith("States."):  # a Fail state may not name it (test_outcome_errors.py)
            assert outcome.reason == f"what happened ({error})" and outcome.error == "Step" + error[len("States.") :]
        else:
            assert outcome.reason == "what happened" and outcome.error == error

    def test_timeout_and_failure_carry_error_names(self) -> None:
        timed_out = Progress(polls=40, state="timed_out", observed=3, status="UPDATING", detail="still UPDATING")
        failed = Progress(polls=3, state="failed", observed=3, status="DEGRADED", detail="AsgInstanceLaunchFailures")
        assert scaling.outcome_of(_state(progress=timed_out), "e", NOW).error == "VerifyTimeout"
        assert scaling.outcome_of(_state(progress=failed), "e", NOW).error == "ChangeFailed"


@pytest.mark.parametrize(
    ("name", "derived", "refused"),
    [
        ("sip-dev-postgres", False, False),
        ("sip-dev-postgres-cp-1", True, False),  # a replica the control plane made: its storage may grow
        ("sip-dev-postgres-cp-1", False, True),
        ("sip-dev-postgresql", True, True),  # a prefix is not a derived name
        ("billing-postgres", True, True),
    ],
)
def test_only_the_managed_resource_is_accepted(
    monkeypatch: pytest.MonkeyPatch, name: str, derived: bool, refused: bool
) -> None:
    from controlplane.config import MANAGED_DB_INSTANCE, require_managed
    from controlplane.models.errors import InvalidRequest

    monkeypatch.setenv(MANAGED_DB_INSTANCE, "sip-dev-postgres")
    if refused:
        with pytest.raises(InvalidRequest, match="not the one this control plane manages"):
            require_managed("DB instance", name, MANAGED_DB_INSTANCE, derived=derived)
    else:
        require_managed("DB instance", name, MANAGED_DB_INSTANCE, derived=derived)
    monkeypatch.delenv(MANAGED_DB_INSTANCE)
    require_managed("DB instance", "anything", MANAGED_DB_INSTANCE)  # unset: any (tests, tools)

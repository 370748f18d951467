"""The Rotation workflow's decisions without AWS: what rotates, what is Blocked and why, the outcome
rules, and the policy's limits. Secrets Manager and RDS are small fakes answering DescribeSecret and
DescribeDBInstances as AWS does (the shapes of botocore's model)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from controlplane.config import load_policy
from controlplane.models.errors import InvalidPolicy, InvalidRequest
from controlplane.rotation import workflow
from controlplane.rotation.models import ItemProgress, ItemState, RotationState, StepError, Verification
from controlplane.rotation.policy import load_rotation_policy, parse_rotation_policy
from controlplane.store import InMemoryStateStore

NOW = datetime(2026, 11, 27, 3, 30, tzinfo=UTC)
APP, MASTER, REDIS = "sip/dev/postgres/app", "sip/dev/postgres/master", "sip/dev/redis/auth-token"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:rotate"


class NotFound(Exception):
    pass


class FakeSecrets:
    class exceptions:
        ResourceNotFoundException = NotFound

    def __init__(self, **secrets: dict[str, Any]) -> None:
        self.secrets = secrets

    def describe_secret(self, SecretId: str) -> dict[str, Any]:
        if SecretId not in self.secrets:
            raise NotFound(SecretId)
        return {
            "ARN": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{SecretId}-AbCdEf",
            "Name": SecretId,
            **self.secrets[SecretId],
        }


def metadata(last: datetime | None = None, stages: dict[str, list[str]] | None = None, **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "RotationEnabled": True,
        "RotationLambdaARN": FUNCTION,
        "VersionIdsToStages": stages or {"v1": ["AWSCURRENT"]},
        "CreatedDate": NOW - timedelta(days=400),
        **extra,
    }
    if last is not None:
        found["LastRotatedDate"] = last
    return found


def plan(
    sm: FakeSecrets, request: dict[str, Any], pol: Any = None, store: Any = None, now: datetime = NOW
) -> RotationState:
    return workflow.plan_step(
        {"reason": "test rotation", "requester": {"type": "person", "id": "t"}, **request},
        "exec-1",
        pol or load_rotation_policy("dev").effective(master_managed_by_rds=False),
        load_policy("dev"),
        store or InMemoryStateStore(),
        now,
        sm=sm,
    )


def fresh() -> dict[str, Any]:
    return metadata(last=NOW - timedelta(days=1))


def test_all_due_rotates_what_is_older_than_its_interval_only() -> None:
    sm = FakeSecrets(
        **{
            APP: metadata(last=NOW - timedelta(days=28, seconds=1)),
            MASTER: fresh(),
            REDIS: fresh() | {"Tags": [{"Key": workflow.TOKEN_SET_TAG, "Value": "v1"}]},
        }
    )
    state = plan(sm, {"all_due": True})
    assert state.plan is not None and [a.secret for a in state.plan.actions] == [APP]
    assert state.proceed
    action = state.plan.actions[0]
    assert action.action == "rotate" and action.lease_key == "rds:db:sip-dev-postgres"
    assert action.token == workflow.rotation_token("exec-1", APP)  # the same on every retry
    assert {s.secret for s in state.plan.skipped} == {MASTER, REDIS}
    assert not any(s.blocked for s in state.plan.skipped)


def test_one_day_before_due_nothing_happens() -> None:
    sm = FakeSecrets(
        **{
            APP: metadata(last=NOW - timedelta(days=27)),
            MASTER: fresh(),
            REDIS: fresh() | {"Tags": [{"Key": workflow.TOKEN_SET_TAG, "Value": "v1"}]},
        }
    )
    state = plan(sm, {"all_due": True})
    assert state.plan is not None and state.plan.actions == [] and not state.proceed
    outcome = workflow.outcome_of(state, "exec-1", NOW)
    assert outcome.status == "NoChange"


def test_a_named_secret_rotates_even_when_not_due() -> None:
    state = plan(FakeSecrets(**{MASTER: fresh()}), {"secret": MASTER})
    assert state.plan is not None and [a.action for a in state.plan.actions] == ["rotate"]


def test_a_secret_by_arn_is_found() -> None:
    arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{MASTER}-AbCdEf"
    state = plan(FakeSecrets(**{MASTER: fresh()}), {"secret": arn})
    assert state.plan is not None and state.plan.actions[0].secret == MASTER


@pytest.mark.parametrize(
    "request_",
    [{}, {"secret": APP, "all_due": True}, {"secret": "sip/dev/not-ours"}, {"secret": APP, "reason": ""}],
)
def test_invalid_requests_are_refused(request_: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        plan(FakeSecrets(**{APP: fresh()}), request_)


def test_protected_secret_is_blocked() -> None:
    sm = FakeSecrets(**{APP: fresh() | {"Tags": [{"Key": "controlplane:protected", "Value": "true"}]}})
    state = plan(sm, {"secret": APP})
    assert state.plan is not None and state.plan.actions == []
    assert state.plan.skipped[0].blocked and "protected" in state.plan.skipped[0].reason
    assert workflow.outcome_of(state, "exec-1", NOW).status == "Blocked"


def test_no_function_attached_and_rotation_in_progress_are_blocked() -> None:
    sm = FakeSecrets(
        **{
            APP: fresh() | {"RotationLambdaARN": None},
            MASTER: metadata(stages={"v1": ["AWSCURRENT"], "v2": ["AWSPENDING"]}),
        }
    )
    assert "no rotation function" in plan(sm, {"secret": APP}).plan.skipped[0].reason  # type: ignore[union-attr]
    assert "in progress" in plan(sm, {"secret": MASTER}).plan.skipped[0].reason  # type: ignore[union-attr]
    # AWSPENDING on the AWSCURRENT version is a finished rotation (RotateSecret API reference).
    done = FakeSecrets(**{MASTER: metadata(stages={"v1": ["AWSPREVIOUS"], "v2": ["AWSCURRENT", "AWSPENDING"]})})
    assert plan(done, {"secret": MASTER}).plan.actions  # type: ignore[union-attr]


def test_a_freeze_window_blocks_rotation() -> None:
    data = load_rotation_policy("dev").effective(master_managed_by_rds=False).model_dump(mode="json")
    data["freeze_windows"] = [
        {
            "name": "release",
            "start_at": (NOW - timedelta(hours=1)).isoformat(),
            "end_at": (NOW + timedelta(hours=1)).isoformat(),
        }
    ]
    state = plan(FakeSecrets(**{APP: fresh()}), {"secret": APP}, pol=parse_rotation_policy(data))
    assert state.plan is not None and state.plan.skipped[0].blocked and "release" in state.plan.skipped[0].reason


def test_the_per_run_cap_blocks_the_rest() -> None:
    data = load_rotation_policy("dev").effective(master_managed_by_rds=False).model_dump(mode="json")
    data["max_rotations_per_run"] = 1
    old = metadata(last=NOW - timedelta(days=90))
    state = plan(
        FakeSecrets(**{APP: old, MASTER: old, REDIS: old | {"Tags": [{"Key": workflow.TOKEN_SET_TAG, "Value": "v1"}]}}),
        {"all_due": True},
        pol=parse_rotation_policy(data),
    )
    assert state.plan is not None and len(state.plan.actions) == 1
    assert sum(s.blocked for s in state.plan.skipped) == 2


def test_redis_token_set_waits_for_the_grace_period_then_is_its_own_action() -> None:
    grace = load_rotation_policy("dev").token_grace_seconds
    rotated = metadata(last=NOW - timedelta(seconds=grace - 1), stages={"v1": ["AWSPREVIOUS"], "v2": ["AWSCURRENT"]})
    waiting = plan(FakeSecrets(**{REDIS: rotated}), {"all_due": True})
    assert waiting.plan is not None and waiting.plan.actions == []
    skipped = next(s for s in waiting.plan.skipped if s.secret == REDIS)
    assert not skipped.blocked and "grace period" in skipped.reason
    asked = plan(FakeSecrets(**{REDIS: rotated}), {"secret": REDIS})
    assert asked.plan is not None and asked.plan.skipped[0].blocked and "grace" in asked.plan.skipped[0].reason
    later = plan(FakeSecrets(**{REDIS: rotated}), {"all_due": True}, now=NOW + timedelta(seconds=1))
    assert later.plan is not None and [a.action for a in later.plan.actions] == ["drop_old_token"]
    assert later.plan.actions[0].lease_key == "elasticache:replicationgroup:sip-dev-redis"
    done = rotated | {"Tags": [{"Key": workflow.TOKEN_SET_TAG, "Value": "v2"}]}
    assert plan(FakeSecrets(**{REDIS: done}), {"all_due": True}, now=NOW + timedelta(days=1)).plan.actions == []  # type: ignore[union-attr]


def test_dry_run_returns_the_plan_and_does_not_proceed() -> None:
    state = plan(FakeSecrets(**{APP: fresh()}), {"secret": APP, "dry_run": True})
    assert not state.proceed
    outcome = workflow.outcome_of(state, "exec-1", NOW)
    assert outcome.status == "DryRun" and "would rotate sip/dev/postgres/app" in outcome.reason


def _item(state: RotationState, **fields: Any) -> ItemState:
    assert state.plan is not None
    return ItemState(action=state.plan.actions[0], execution="exec-1", **fields)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"verification": Verification(new_works=True, detail="new credentials log in")}, "Succeeded"),
        ({"error": StepError(Error="LockHeld", Cause='{"errorMessage": "held by scale/x"}')}, "Blocked"),
        ({"error": StepError(Error="ResourceBusy", Cause="busy")}, "Blocked"),
        ({"progress": ItemProgress(polls=30, state="timed_out", detail="after 900s")}, "TimedOut"),
        ({"error": StepError(Error="RotationError", Cause="x")}, "Failed"),
        ({}, "Failed"),
    ],
)
def test_outcome_of_one_action(fields: dict[str, Any], status: str) -> None:
    state = plan(FakeSecrets(**{APP: fresh()}), {"secret": APP})
    done = state.model_copy(update={"results": [_item(state, **fields)]})
    outcome = workflow.outcome_of(done, "exec-1", NOW)
    assert outcome.status == status
    assert outcome.status.is_failure == (status in {"TimedOut", "Failed"})


def test_the_worst_result_decides_the_run() -> None:
    old = metadata(last=NOW - timedelta(days=90))
    state = plan(FakeSecrets(**{APP: old, MASTER: old}), {"all_due": True})
    assert state.plan is not None
    ok = ItemState(action=state.plan.actions[0], execution="e", verification=Verification(new_works=True))
    blocked = ItemState(action=state.plan.actions[1], execution="e", error=StepError(Error="LockHeld"))
    assert workflow.outcome_of(state.model_copy(update={"results": [ok, blocked]}), "e", NOW).status == "Blocked"


class FakeRds:
    def __init__(self, secret_arn: str | None) -> None:
        self.secret_arn = secret_arn

    def describe_db_instances(self, DBInstanceIdentifier: str) -> dict[str, Any]:
        found: dict[str, Any] = {"DBInstanceIdentifier": DBInstanceIdentifier}
        if self.secret_arn:
            found["MasterUserSecret"] = {"SecretArn": self.secret_arn, "SecretStatus": "active"}
        return {"DBInstances": [found]}


@pytest.mark.parametrize(
    ("secret", "status"),
    [
        (None, "missing"),
        ({"RotationEnabled": False}, "not_rotating"),
        (
            {
                "RotationEnabled": True,
                "RotationRules": {"AutomaticallyAfterDays": 7},
                "LastRotatedDate": NOW - timedelta(days=8),
            },
            "stale",
        ),
        (
            {
                "RotationEnabled": True,
                "RotationRules": {"AutomaticallyAfterDays": 7},
                "LastRotatedDate": NOW - timedelta(days=6),
            },
            "ok",
        ),
    ],
)
def test_rds_managed_master_secret_is_checked_not_rotated(secret: dict[str, Any] | None, status: str) -> None:
    pol = load_rotation_policy("prod").effective(master_managed_by_rds=True)
    assert pol.rds_managed_masters == ["sip-prod-postgres"] and "sip/prod/postgres/master" not in pol.secrets
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-123"
    sm = FakeSecrets(**({arn: {**secret, "CreatedDate": NOW - timedelta(days=100)}} if secret else {}))
    checks = workflow.check_rds_managed(pol, NOW, rds=FakeRds(arn if secret else None), sm=sm)
    assert [c.status for c in checks] == [status]


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_each_environment_has_a_valid_rotation_policy(environment: str) -> None:
    pol = load_rotation_policy(environment)
    assert f"sip/{environment}/postgres/app" in pol.secrets and f"sip/{environment}/redis/auth-token" in pol.secrets


def test_the_policy_refuses_what_does_not_fit() -> None:
    data = load_rotation_policy("dev").model_dump(mode="json")
    with pytest.raises(InvalidPolicy, match="do not fit"):
        parse_rotation_policy({**data, "max_rotations_per_run": 20, "verify_timeout_seconds": 3600})
    with pytest.raises(InvalidPolicy, match="lock_ttl_seconds"):
        parse_rotation_policy({**data, "lock_ttl_seconds": 600})
    entry = {"strategy": "redis_auth_token", "db_instance": "sip-dev-postgres"}
    with pytest.raises(InvalidPolicy, match="replication_group"):
        parse_rotation_policy({**data, "secrets": {"x": entry}})
    with pytest.raises(InvalidPolicy, match="rotate_every_days"):
        parse_rotation_policy(
            {
                **data,
                "secrets": {"x": {"strategy": "postgres_single_user", "db_instance": "a", "rotate_every_days": 30}},
            }
        )


def test_vpc_endpoint_parameters_become_the_clients_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rotation functions reach Secrets Manager and ElastiCache through the endpoints the template
    names; other services keep the regional endpoint."""
    from controlplane import aws

    host = "vpce-0abc-xyz.secretsmanager.us-east-1.vpce.amazonaws.com"
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SECRETS_MANAGER_ENDPOINT", host)
    monkeypatch.setenv("ELASTICACHE_ENDPOINT", "")
    assert aws.client("secretsmanager", "us-east-1").meta.endpoint_url == f"https://{host}"
    assert aws.client("elasticache", "us-east-1").meta.endpoint_url == "https://elasticache.us-east-1.amazonaws.com"
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert aws.client("secretsmanager").meta.endpoint_url == f"https://{host}"
    # the endpoint serves its own region only
    assert (
        aws.client("secretsmanager", "us-west-2").meta.endpoint_url == "https://secretsmanager.us-west-2.amazonaws.com"
    )


def test_a_vpc_endpoint_stays_with_its_parameter_not_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the endpoint was copied into AWS_ENDPOINT_URL_SECRETS_MANAGER, which outlived the
    invocation (a warm Lambda process; the sandbox's one process), so every later Secrets Manager client
    went to that host (in the test suite: "CreateSecret ... Not yet implemented", order-dependent)."""
    from controlplane import aws

    host = "vpce-0abc-xyz.secretsmanager.us-east-1.vpce.amazonaws.com"
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    before = {k: v for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL")}
    monkeypatch.setenv("SECRETS_MANAGER_ENDPOINT", host)
    assert aws.client("secretsmanager", "us-east-1").meta.endpoint_url == f"https://{host}"
    assert {k: v for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL")} == before
    monkeypatch.delenv("SECRETS_MANAGER_ENDPOINT")
    regional = "https://secretsmanager.us-east-1.amazonaws.com"
    assert aws.client("secretsmanager", "us-east-1").meta.endpoint_url == regional


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_where_rds_manages_the_master_it_is_checked_not_rotated(environment: str) -> None:
    """Terraform sets manage_master_user_password (samconfig: MasterSecretManagedByRds=true): the master's
    own secret is left out and the RDS-managed one is checked; otherwise (the sandbox) it is rotated."""
    pol = load_rotation_policy(environment)
    managed = pol.effective(master_managed_by_rds=True)
    assert pol.master_secret not in managed.secrets and managed.rds_managed_masters == [f"sip-{environment}-postgres"]
    own = pol.effective(master_managed_by_rds=False)
    assert pol.master_secret in own.secrets and own.rds_managed_masters == []


def _polled(last_before: datetime | None, last_now: datetime | None, stages: dict[str, list[str]]) -> ItemProgress:
    from controlplane.leases import InMemoryLeaseStore
    from controlplane.rotation.models import ChangeStarted, RotationAction

    action = RotationAction(
        secret=APP,
        secret_arn=f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{APP}-AbCdEf",
        strategy="postgres_alternating",
        action="rotate",
        resource="sip-dev-postgres",
        lease_key="rds#sip-dev-postgres",
        version_before="v1",
        token="v2",
        last_rotated_before=last_before,
    )
    item = ItemState(action=action, execution="exec-1", change=ChangeStarted(started_at=NOW))
    pol = load_rotation_policy("dev")
    leases = InMemoryLeaseStore()
    leases.acquire(action.lease_key, workflow.owner("exec-1"), pol.lock_ttl_seconds, NOW, workflow=workflow.WORKFLOW)
    sm = FakeSecrets(**{action.secret_arn: metadata(last=last_now, stages=stages)})
    return workflow.check_step(item, leases, pol, NOW + timedelta(seconds=5), sm=sm)


def test_a_second_rotation_within_the_same_second_is_done() -> None:
    """Regression: done needed LastRotatedDate to move; moto keeps whole seconds, so the second of two
    quick rotations (make demo rotates the app user twice) waited out the verify budget and TimedOut."""
    rotated = NOW.replace(microsecond=0)
    progress = _polled(rotated, rotated, {"v1": ["AWSPREVIOUS"], "v2": ["AWSCURRENT", "AWSPENDING"]})
    assert progress.state == "done" and "LastRotatedDate unchanged" in progress.detail


@pytest.mark.parametrize(
    ("stages", "last_now"),
    [
        ({"v1": ["AWSCURRENT"], "v2": ["AWSPENDING"]}, NOW),  # finishSecret has not run
        ({"v1": ["AWSCURRENT"]}, NOW),  # the new version is missing
        ({"v1": ["AWSPREVIOUS"], "v2": ["AWSCURRENT"]}, NOW - timedelta(days=1)),  # the date went back
    ],
)
def test_a_rotation_is_not_done_before_finish_moves_current(stages: dict[str, list[str]], last_now: datetime) -> None:
    assert _polled(NOW, last_now, stages).state == "in_progress"

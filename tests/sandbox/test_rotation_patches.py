"""The sandbox's rotation patches hold: ElastiCache's AUTH token rules, Secrets Manager's refusals, and
endpoint mapping. (The rotation steps running through the bridge are tests/workflows/test_rotation.py.)"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

GROUP = "patch-test"
TOKEN = "Abcdefghijklmnop-1234"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    import boto3
    from moto import mock_aws

    from cpctl.sandbox import moto_patches
    from cpctl.sandbox.moto_patches import elasticache_auth

    for name, setting in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, setting)
    moto_patches.apply_all()
    elasticache_auth.reset()
    with mock_aws():
        ec = boto3.client("elasticache")
        for group, transit in ((GROUP, True), (f"{GROUP}-plain", False)):
            ec.create_replication_group(
                ReplicationGroupId=group,
                ReplicationGroupDescription="t",
                Engine="redis",
                CacheNodeType="cache.t4g.small",
                NumNodeGroups=1,
                ReplicasPerNodeGroup=1,
                CacheParameterGroupName="default.redis7.cluster.on",
                TransitEncryptionEnabled=transit,
            )
        yield {"ec": ec, "sm": boto3.client("secretsmanager")}
    elasticache_auth.reset()


def modify(ec: Any, token: str = TOKEN, group: str = GROUP, **extra: Any) -> dict[str, Any]:
    params = {"ReplicationGroupId": group, "AuthToken": token, "ApplyImmediately": True, **extra}
    return dict(ec.modify_replication_group(**params)["ReplicationGroup"])


def error(call: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def test_auth_token_rules_as_elasticache_applies_them(aws: dict[str, Any]) -> None:
    from cpctl.sandbox.moto_patches import elasticache_auth

    ec = aws["ec"]
    assert error(lambda: modify(ec, AuthTokenUpdateStrategy="SET")) == "InvalidParameterCombination"
    assert error(lambda: modify(ec, AuthTokenUpdateStrategy="DELETE")) == "InvalidParameterCombination"
    assert error(lambda: modify(ec, token="short")) == "InvalidParameterValue"
    assert error(lambda: modify(ec, token="has/a/slash-in-it-1234")) == "InvalidParameterValue"
    assert error(lambda: modify(ec, ApplyImmediately=False)) == "InvalidParameterValue"
    assert error(lambda: modify(ec, group=f"{GROUP}-plain")) == "InvalidParameterCombination"
    group = modify(ec)  # ROTATE is the default strategy
    assert group["Status"] == "modifying" and group["AuthTokenEnabled"] is True
    assert ec.describe_replication_groups(ReplicationGroupId=GROUP)["ReplicationGroups"][0]["Status"] == "available"
    modify(ec, token=TOKEN + "x", AuthTokenUpdateStrategy="SET")
    state = elasticache_auth.state(GROUP)
    assert state is not None and state.changes == ["ROTATE", "SET"] and not state.rotated
    assert error(lambda: modify(ec, AuthTokenUpdateStrategy="SET")) == "InvalidParameterCombination"


def test_a_token_change_waits_for_a_held_group(aws: dict[str, Any]) -> None:
    from cpctl.sandbox.moto_patches.state import SANDBOX_STATE

    ec = aws["ec"]
    SANDBOX_STATE.hold("elasticache", GROUP, polls=2, status="modifying")
    modify(ec)
    assert ec.describe_replication_groups(ReplicationGroupId=GROUP)["ReplicationGroups"][0]["Status"] == "modifying"
    assert error(lambda: modify(ec, token=TOKEN + "y")) == "InvalidReplicationGroupState"
    SANDBOX_STATE.reset()


def test_rotate_secret_needs_a_function_and_refuses_a_rotation_in_progress(aws: dict[str, Any]) -> None:
    from moto.secretsmanager.models import secretsmanager_backends

    sm = aws["sm"]
    sm.create_secret(Name="s", SecretString="{}")
    assert error(lambda: sm.rotate_secret(SecretId="s")) == "InvalidRequestException"
    secret = secretsmanager_backends["123456789012"]["us-east-1"].secrets["s"]
    secret.rotation_lambda_arn = "arn:aws:lambda:us-east-1:123456789012:function:nowhere"
    assert error(lambda: sm.rotate_secret(SecretId="s")) == "ResourceNotFoundException"
    secret.versions["p"] = {"createdate": 0, "version_id": "p", "version_stages": ["AWSPENDING"]}
    from cpctl.sandbox.moto_patches import secretsmanager_rotation

    assert secretsmanager_rotation._pending_version(secret) == "p"


def test_emulated_endpoints_resolve_to_the_private_servers() -> None:
    from cpctl.sandbox.moto_patches import endpoints

    endpoints.apply()
    endpoints.map_endpoint("db.example.rds.amazonaws.com", 5432, "127.0.0.1", 54321)
    try:
        found = socket.getaddrinfo("db.example.rds.amazonaws.com", 5432, type=socket.SOCK_STREAM)
        assert {address[4][:2] for address in found} == {("127.0.0.1", 54321)}
        assert socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)[0][4][:2] == ("127.0.0.1", 80)
    finally:
        endpoints.reset()

"""The AUTH token of an ElastiCache Redis replication group (in-transit encryption on).

- createSecret: a token of 64 characters from GetRandomPassword, letters, digits and only the
  specials ElastiCache allows (``! & # $ ^ < > -``).
- setSecret: ``ModifyReplicationGroup(AuthToken, AuthTokenUpdateStrategy=ROTATE, ApplyImmediately)``:
  from then on the group accepts the old and the new token.
- testSecret: waits (bounded, well under the function's timeout) until the group is ``available``,
  then AUTH with the new token, PING and a read.
- finishSecret: the protocol's. The old token stays accepted until the Rotation workflow sends
  ``SET`` with the current token after the policy's grace period, in a later run (never ``DELETE``,
  which is for moving to RBAC).
"""

from __future__ import annotations

import os
import time
from typing import Any

from controlplane import aws, leases
from controlplane.models.errors import ResourceBusy
from controlplane.rotation import connections
from controlplane.rotation.connections import LoginFailed
from controlplane.rotation.errors import CredentialsRefused, PendingTampered, ResourceNotReady, RotationError
from controlplane.rotation.protocol import Strategy, Versions
from controlplane.rotation.values import RedisSecret, auth_token_exclusions, parse

TOKEN_LENGTH = 64
# testSecret waits for the group at most this long (the function's timeout is 300 s).
DEFAULT_WAIT_SECONDS = 180
DEFAULT_POLL_SECONDS = 10


def modify_token(group: str, token: str, strategy: str, client: Any = None) -> dict[str, Any]:
    """``ModifyReplicationGroup`` with an AUTH token: ``ROTATE`` or ``SET`` (never ``DELETE``)."""
    if strategy not in {"ROTATE", "SET"}:
        raise ValueError("the control plane only ROTATEs and SETs AUTH tokens")
    client = client or aws.client("elasticache")
    try:
        response = client.modify_replication_group(
            ReplicationGroupId=group, AuthToken=token, AuthTokenUpdateStrategy=strategy, ApplyImmediately=True
        )
    except client.exceptions.InvalidReplicationGroupStateFault:
        raise ResourceBusy(f"{group} is not available for an AUTH token change") from None
    except client.exceptions.ClientError as exc:
        if aws.error_code(exc) == "InvalidReplicationGroupState":
            raise ResourceBusy(f"{group} is not available for an AUTH token change") from None
        raise RotationError(f"{group}: ModifyReplicationGroup {strategy} refused ({aws.error_code(exc)})") from None
    return dict(response["ReplicationGroup"])


def group_status(group: str, client: Any = None) -> dict[str, Any]:
    client = client or aws.client("elasticache")
    groups = client.describe_replication_groups(ReplicationGroupId=group)["ReplicationGroups"]
    return dict(groups[0])


class RedisTokenRotation(Strategy):
    name = "redis-auth-token"

    def __init__(self, client: Any = None) -> None:
        self.client = client

    def password_rules(self) -> dict[str, Any]:
        return {"PasswordLength": TOKEN_LENGTH, "ExcludeCharacters": auth_token_exclusions()}

    def lease_key(self, current: str) -> str:
        return leases.replication_group_key(parse(RedisSecret, current, "current").replication_group_id)

    def new_pending(self, current: str, password: Any) -> str:
        secret = parse(RedisSecret, current, "current")
        return secret.model_copy(update={"auth_token": password()}).to_json()

    def _pair(self, versions: Versions) -> tuple[RedisSecret, RedisSecret]:
        current = parse(RedisSecret, versions.current(), "current")
        pending = parse(RedisSecret, versions.require_pending(), "pending")
        if pending.where() != current.where():
            raise PendingTampered("the pending version names another replication group, host or port")
        return current, pending

    def set(self, versions: Versions) -> None:
        current, pending = self._pair(versions)
        if connections.redis_works(pending):
            return
        group = group_status(current.replication_group_id, self.client)
        if not group.get("TransitEncryptionEnabled"):
            raise RotationError(f"{current.replication_group_id} has no in-transit encryption: AUTH is not available")
        if group.get("Status") != "available":
            raise ResourceBusy(f"{current.replication_group_id} is {group.get('Status')}")
        modify_token(current.replication_group_id, pending.auth_token, "ROTATE", self.client)

    def test(self, versions: Versions) -> None:
        _, pending = self._pair(versions)
        wait = float(os.environ.get("ROTATION_WAIT_SECONDS", DEFAULT_WAIT_SECONDS))
        poll = float(os.environ.get("ROTATION_POLL_SECONDS", DEFAULT_POLL_SECONDS))
        deadline = time.monotonic() + wait
        while True:
            status = group_status(pending.replication_group_id, self.client).get("Status")
            if status == "available":
                break
            if time.monotonic() + poll > deadline:
                raise ResourceNotReady(f"{pending.replication_group_id} still {status} after {wait:.0f}s")
            time.sleep(poll)
        try:
            connections.redis_login(pending)
        except LoginFailed as failed:
            raise CredentialsRefused(f"the pending token does not log in: {failed}") from None

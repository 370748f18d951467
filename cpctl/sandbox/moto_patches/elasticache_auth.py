"""ElastiCache AUTH tokens as AWS applies them, on the real Redis that stands in for the group.

Why: moto 5.2.5's ``ModifyReplicationGroup`` ignores ``AuthToken`` and ``AuthTokenUpdateStrategy``:
any token, any strategy, no effect. The rotation of the Redis AUTH token depends on exactly these
rules (ElastiCache API reference, ModifyReplicationGroup; "Authenticating with the Redis AUTH
command"):

- the token is 16-128 printable characters; the control plane's rule is stricter still (letters,
  digits and ``! & # $ ^ < > -``), and the sandbox refuses ``/ " @ %`` and spaces as AWS does;
- ``AuthToken`` requires in-transit encryption; the strategy defaults to ``ROTATE``;
- ``ROTATE`` adds the new token and keeps accepting the previous one; ``SET`` is allowed only after a
  ``ROTATE`` and leaves the new token alone; ``DELETE`` is only for moving to RBAC (refused here);
- the group is ``modifying`` for a while and must be ``available`` to accept the change.

A group bound to a real Redis (``bind``) gets the same tokens as ACL passwords of the ``default``
user, so both tokens really log in between ``ROTATE`` and ``SET``: ``ACL SETUSER default resetpass
>old >new``, then ``resetpass >new``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult
from moto.elasticache.exceptions import InvalidParameterCombinationException, InvalidParameterValueException
from moto.elasticache.responses import ElastiCacheResponse

from cpctl.sandbox.moto_patches import elasticache

_LOCK = threading.RLock()
_MARKER = "_cpctl_auth_token_patched"
_FORBIDDEN = set('/"@% ')


@dataclass
class TokenState:
    """What the group accepts, and whether the last change was a ROTATE (so SET is allowed)."""

    tokens: list[str] = field(default_factory=list, repr=False)
    rotated: bool = False
    changes: list[str] = field(default_factory=list)  # strategies applied, in order (no tokens)


_STATES: dict[str, TokenState] = {}
_SERVERS: dict[str, Any] = {}


def reset() -> None:
    with _LOCK:
        _STATES.clear()
        _SERVERS.clear()


def bind(group_id: str, server: Any, token: str) -> None:
    """Let ``server`` (a ``RedisServer``) stand in for the group, with ``token`` as its AUTH token."""
    with _LOCK:
        _SERVERS[group_id] = server
        _STATES[group_id] = TokenState(tokens=[token])
        _apply_to_server(group_id)


def state(group_id: str) -> TokenState | None:
    return _STATES.get(group_id)


def _apply_to_server(group_id: str) -> None:
    server = _SERVERS.get(group_id)
    if server is None:
        return
    tokens = _STATES[group_id].tokens
    admin = server.client()
    try:
        admin.execute_command("ACL", "SETUSER", "default", "on", "resetpass", *[f">{t}" for t in tokens])
    finally:
        admin.close()
    # The harness's own client logs in with the server's password: keep it the newest token.
    server.password = tokens[-1]


def _validate_token(token: str) -> None:
    if not 16 <= len(token) <= 128 or not token.isprintable() or not token.isascii():
        raise InvalidParameterValueException("AuthToken must be 16 to 128 printable ASCII characters.")
    if _FORBIDDEN & set(token):
        raise InvalidParameterValueException("AuthToken cannot contain '/', '\"', '@', '%' or spaces.")


def modify_auth_token(
    group_id: str, token: str, strategy: str | None, apply_immediately: bool | None, backend: Any
) -> Any:
    """Apply one AUTH token change to the group (and its real server), as ElastiCache does."""
    strategy = strategy or "ROTATE"
    if strategy not in {"ROTATE", "SET", "DELETE"}:
        raise InvalidParameterValueException(f"Invalid AuthTokenUpdateStrategy {strategy}.")
    if strategy == "DELETE":
        raise InvalidParameterCombinationException(
            "AuthTokenUpdateStrategy DELETE is allowed only when migrating to RBAC (UserGroupIdsToAdd)."
        )
    _validate_token(token)
    elasticache._require_apply_immediately(apply_immediately)
    with _LOCK:
        group = elasticache._modifiable_group(backend, group_id)
        if not group.transit_encryption_enabled:
            raise InvalidParameterCombinationException(
                "AuthToken can only be set on a replication group with TransitEncryptionEnabled."
            )
        current = _STATES.setdefault(group_id, TokenState())
        if strategy == "SET":
            if not current.rotated:
                raise InvalidParameterCombinationException("AuthTokenUpdateStrategy SET is allowed only after ROTATE.")
            current.tokens = [token]
            current.rotated = False
        else:
            current.tokens = [*current.tokens[-1:], token]
            current.rotated = True
        current.changes.append(strategy)
        group.auth_token_enabled = True
        from moto.core.utils import utcnow

        group.auth_token_last_modified_date = utcnow()
        _apply_to_server(group_id)
        elasticache._mark_modifying(group)
        return group


def _wrap_modify(
    original: Callable[[ElastiCacheResponse], ActionResult],
) -> Callable[[ElastiCacheResponse], ActionResult]:
    @functools.wraps(original)
    def modify_replication_group(self: ElastiCacheResponse) -> ActionResult:
        token = self._get_param("AuthToken")
        strategy = self._get_param("AuthTokenUpdateStrategy")
        if token is None:
            if strategy is not None:
                raise InvalidParameterCombinationException("AuthTokenUpdateStrategy requires AuthToken.")
            return original(self)
        group = modify_auth_token(
            self._get_param("ReplicationGroupId"),
            token,
            strategy,
            self._get_bool_param("ApplyImmediately"),
            self.elasticache_backend,
        )
        return ActionResult({"ReplicationGroup": group})

    return modify_replication_group


def apply() -> None:
    with _LOCK:
        if getattr(ElastiCacheResponse, _MARKER, False):
            return
        ElastiCacheResponse.modify_replication_group = _wrap_modify(ElastiCacheResponse.modify_replication_group)  # type: ignore[method-assign,assignment]
        setattr(ElastiCacheResponse, _MARKER, True)


def targets() -> list[str]:
    return [
        "moto.elasticache.responses.ElastiCacheResponse.modify_replication_group",
        "moto.elasticache.models.ReplicationGroup",
        "moto.core.utils.utcnow",
        "cpctl.sandbox.moto_patches.elasticache._modifiable_group",
        "cpctl.sandbox.moto_patches.elasticache._mark_modifying",
        "cpctl.sandbox.moto_patches.elasticache._require_apply_immediately",
    ]

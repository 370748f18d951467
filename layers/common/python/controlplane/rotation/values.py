"""The JSON inside the platform's secrets, as models (the password or token never in repr or errors).

PostgreSQL secrets use the structure AWS documents for RDS credential secrets (``engine``, ``host``,
``port``, ``username``, ``password``, ``dbname``, and ``masterarn`` for the alternating-users
strategy); keys the control plane does not know are kept as they are. The Redis secret holds the
replication group's AUTH token and where to reach it.
"""

from __future__ import annotations

import json
import re
import string
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from controlplane.models.errors import validation_problems
from controlplane.rotation.errors import RotationError

# ElastiCache AUTH token rules (ElastiCache user guide, "Authenticating with the Redis AUTH command"):
# 16 to 128 printable characters; the only non-alphanumeric characters allowed are ! & # $ ^ < > -
AUTH_TOKEN_SPECIALS = "!&#$^<>-"
AUTH_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9!&#$^<>\-]{16,128}$")
# Characters that break connection strings, .pgpass files, URLs and shells (docs/rotation.md).
PASSWORD_EXCLUDED = ":/@\"'\\ %`?#&=;,[]{}()<>|~^*!$+"
# GetRandomPassword's punctuation set; an AUTH token excludes all of it but the allowed specials.
_PUNCTUATION = string.punctuation


def auth_token_exclusions() -> str:
    """``ExcludeCharacters`` for GetRandomPassword so that every result is a valid AUTH token."""
    return "".join(ch for ch in _PUNCTUATION if ch not in AUTH_TOKEN_SPECIALS)


class SecretValue(BaseModel):
    """Base: frozen, unknown keys kept (other tools may store more in the secret)."""

    model_config = ConfigDict(frozen=True, extra="allow", hide_input_in_errors=True)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True))


T = TypeVar("T", bound=SecretValue)


class PostgresSecret(SecretValue):
    engine: Literal["postgres"] = "postgres"
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=5432, ge=1, le=65535)
    username: str = Field(min_length=1, max_length=63)
    password: str = Field(min_length=8, max_length=128, repr=False)
    dbname: str = Field(default="postgres", min_length=1, max_length=63)
    masterarn: str | None = None

    @field_validator("username")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
            raise ValueError("username must be lower-case letters, digits and underscores")
        return value

    def where(self) -> tuple[str, int, str]:
        return (self.host, self.port, self.dbname)


class RedisSecret(SecretValue):
    replication_group_id: str = Field(min_length=1, max_length=40)
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=6379, ge=1, le=65535)
    auth_token: str = Field(repr=False)
    ssl: bool = True

    @field_validator("auth_token")
    @classmethod
    def _valid_token(cls, value: str) -> str:
        if not AUTH_TOKEN_PATTERN.fullmatch(value):
            raise ValueError(f"an AUTH token is 16-128 letters, digits or {AUTH_TOKEN_SPECIALS}")
        return value

    def where(self) -> tuple[str, str, int]:
        return (self.replication_group_id, self.host, self.port)


def parse(model: type[T], text: str | None, what: str) -> T:
    """A secret string as ``model``, or ``RotationError`` naming the problems (never the value)."""
    try:
        data: Any = json.loads(text or "")
    except ValueError:
        raise RotationError(f"the {what} version is not JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RotationError(f"the {what} version is invalid: {validation_problems(exc, what)}") from None

"""Resource adapters by kind: the registry the Scale workflow dispatches on.

Adding a kind is one module with a ``ScalableResource`` subclass decorated
with ``@register``, imported at the bottom of this file, plus its tests.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError

from controlplane.models.errors import InvalidRequest, validation_problems
from controlplane.models.scale import ResourceTarget
from controlplane.resources.base import ClientFactory, ScalableResource

_ADAPTERS: dict[str, type[ScalableResource]] = {}

AdapterT = TypeVar("AdapterT", bound=type[ScalableResource])


def register(cls: AdapterT) -> AdapterT:
    if cls.kind in _ADAPTERS:
        raise RuntimeError(f"two adapters for kind {cls.kind!r}")
    _ADAPTERS[cls.kind] = cls
    return cls


def known_kinds() -> list[str]:
    return sorted(_ADAPTERS)


def adapter_class(kind: str) -> type[ScalableResource]:
    try:
        return _ADAPTERS[kind]
    except KeyError:
        raise InvalidRequest(f"unknown resource kind {kind!r}; known: {known_kinds()}") from None


def adapter_for(kind: str, clients: ClientFactory | None = None) -> ScalableResource:
    cls = adapter_class(kind)
    return cls(clients) if clients is not None else cls()


def target_from_dict(value: Any) -> ResourceTarget:
    """Validate a resource reference with its kind's own model (pydantic errors pass through)."""
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
        raise ValueError("resource must be an object with a string 'kind'")
    cls = _ADAPTERS.get(value["kind"])
    if cls is None:
        raise ValueError(f"unknown resource kind {value['kind']!r}; known: {known_kinds()}")
    try:
        return cls.target_model.model_validate(value)
    except ValidationError as exc:
        raise ValueError(validation_problems(exc, "resource")) from None


from controlplane.resources import (  # noqa: E402  (importing a module registers its adapter)
    cache_shards,  # noqa: F401
    nodegroup,  # noqa: F401
    rds_replicas,  # noqa: F401
    rds_storage,  # noqa: F401
)

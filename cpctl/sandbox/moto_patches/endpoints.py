"""Emulated RDS and ElastiCache endpoints lead to the sandbox's real PostgreSQL and Redis.

The control plane connects to the host and port a secret names (an RDS endpoint, an ElastiCache
configuration endpoint), as it does in AWS. Here those names resolve to nothing, so name
resolution (``socket.getaddrinfo``, which pg8000 and redis-py use to connect) answers for the
mapped (host, port) pairs with the private server's address and port. Every other name resolves
as usual.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

_LOCK = threading.Lock()
_MAP: dict[tuple[str, int], tuple[str, int]] = {}
_ORIGINAL: dict[str, Any] = {}


def map_endpoint(host: str, port: int, to_host: str, to_port: int) -> None:
    with _LOCK:
        _MAP[(host.lower(), int(port))] = (to_host, int(to_port))


def reset() -> None:
    with _LOCK:
        _MAP.clear()


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, str):
        try:
            key = (host.lower(), int(port))
        except (TypeError, ValueError):
            key = None
        target = _MAP.get(key) if key else None
        if target is not None:
            return _ORIGINAL["getaddrinfo"](target[0], target[1], *args, **kwargs)
    return _ORIGINAL["getaddrinfo"](host, port, *args, **kwargs)


def apply() -> None:
    with _LOCK:
        if _ORIGINAL:
            return
        _ORIGINAL["getaddrinfo"] = socket.getaddrinfo
        socket.getaddrinfo = _getaddrinfo


def targets() -> list[str]:
    return ["socket.getaddrinfo"]

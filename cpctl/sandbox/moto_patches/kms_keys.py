"""KMS keys without a needless RSA key pair: the sandbox starts faster.

moto generates an RSA-2048 private key for every KMS key, symmetric ones included (its fallback for a
key spec it does not sign with), which is most of the time a sandbox spends creating the template's
and the platform's keys. A symmetric key never signs, verifies or shows a public key (AWS refuses
those calls for it), so here it gets none.
"""

from __future__ import annotations

from typing import Any

import moto.kms.models as kms_models

_APPLIED: dict[str, Any] = {}
_WITHOUT_KEY_PAIR = frozenset({"SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"})


def _generate_private_key(key_spec: str) -> Any:
    if key_spec in _WITHOUT_KEY_PAIR:
        return None
    return _APPLIED["generate_private_key"](key_spec)


def apply() -> None:
    if _APPLIED:
        return
    _APPLIED["generate_private_key"] = getattr(kms_models, "generate_private_key")  # noqa: B009
    setattr(kms_models, "generate_private_key", _generate_private_key)  # noqa: B010


def targets() -> list[str]:
    return ["moto.kms.models.generate_private_key", "moto.kms.models.Key"]

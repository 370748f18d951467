#!/usr/bin/env python3
"""Refuse to apply a plan that is not the approved one (run by apply.yml before terraform apply).

    python3 infra/buildspecs/verify_plan.py tfplan "$EXPECTED_PLAN_SHA256"

Exit 0 when the file's SHA-256 is the expected one; exit 3 (the control plane reads this build's
failure as "refused", not as a failed apply) when it differs, the file is missing, or no hash was given.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

MISMATCH = 3


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str) -> tuple[bool, str]:
    if not re.fullmatch(r"[0-9a-f]{64}", expected or ""):
        return False, "no approved SHA-256 was given"
    if not path.is_file():
        return False, f"{path} does not exist"
    found = sha256_of(path)
    if found != expected:
        return False, f"PLAN HASH MISMATCH: {path} has SHA-256 {found}, the approved plan {expected}"
    return True, f"{path} is the approved plan ({found})"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: verify_plan.py PLAN_FILE EXPECTED_SHA256", file=sys.stderr)
        return 64
    ok, message = verify(Path(argv[1]), argv[2])
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else MISMATCH


if __name__ == "__main__":
    sys.exit(main(sys.argv))

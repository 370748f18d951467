"""Every benchmark, in turn. Figures are printed; nothing here asserts a time."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

MODULES = ["cold_imports", "scale_workflow", "remediation", "platform_deploy", "rotation", "backup", "cleanup"]


def main() -> None:
    for name in MODULES:
        if not (HERE / f"{name}.py").exists():
            continue
        print(f"\n=== {name} ===")
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()

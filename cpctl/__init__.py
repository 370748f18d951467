"""cpctl: the operator CLI of the control plane, and the sandbox that emulates AWS for it."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAYER_PATH = REPO_ROOT / "layers" / "common" / "python"

# Lambda puts the layer at /opt/python; locally the same code is imported from the repo.
if str(LAYER_PATH) not in sys.path:
    sys.path.insert(0, str(LAYER_PATH))

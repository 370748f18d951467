"""`sam build` works offline-from-AWS and yields a layer Lambda can import on arm64 / Python 3.13."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build_dir = tmp_path_factory.mktemp("sam-build")
    python313 = shutil.which("python3.13", path=f"{BIN}:{os.environ.get('PATH', '')}")
    if python313 is None:
        pytest.fail("sam build needs a python3.13 on PATH (make venv creates .venv with it when present)")
    result = subprocess.run(
        [str(BIN / "sam"), "build", "--build-dir", str(build_dir), "--cache-dir", str(build_dir / ".cache")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "SAM_CLI_TELEMETRY": "0"},
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return build_dir


def test_layer_has_the_package_and_arm64_wheels(built: Path) -> None:
    layer = built / "CommonLayer" / "python"
    assert (layer / "controlplane" / "scaling.py").is_file()
    assert (layer / "controlplane" / "policies" / "prod.json").is_file()
    assert not list(layer.rglob("__pycache__"))
    [core] = list((layer / "pydantic_core").glob("_pydantic_core*.so"))
    assert "cpython-313-aarch64" in core.name
    assert (layer / "aws_lambda_powertools").is_dir()


def test_every_function_is_built_from_its_handler_only(built: Path) -> None:
    functions = [d for d in built.iterdir() if d.is_dir() and d.name.endswith("Function")]
    assert functions
    for function in functions:
        assert (function / "app.py").is_file()
        assert not (function / "controlplane").exists(), "shared code belongs in the layer"

"""``cpctl sandbox up`` as a separate process, for tests that drive it as outside clients do."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import REPO

BIN = Path(sys.executable).parent
CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_PAGER": "",
    # No profile or config from the machine: the endpoint and keys above are all a client needs.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_SERVING = re.compile(r"serving the emulated AWS at (http://\S+)")


def tool(name: str) -> str:
    """A console script of the venv that runs the tests (cpctl, aws, sam)."""
    path = BIN / name
    assert path.exists(), f"{path} is missing: make venv installs it"
    return str(path)


@dataclass
class ServedSandbox:
    process: subprocess.Popen[str]
    endpoint: str
    output: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The environment of a client of this sandbox (AWS CLI, boto3, cpctl sandbox fault)."""
        return {**os.environ, **CLIENT_ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, env=self.env(), capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False
        )


def _pump(stream: Any, lines: queue.Queue[str], keep: list[str]) -> None:
    for line in stream:
        keep.append(line)
        lines.put(line)


@contextmanager
def served_sandbox(*extra: str, startup_seconds: float = 120) -> Iterator[ServedSandbox]:
    """Start ``cpctl sandbox up --port 0`` and wait for the endpoint it prints; SIGTERM it afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    process = subprocess.Popen(
        [tool("cpctl"), "sandbox", "up", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**env, **CLIENT_ENV},
        cwd=REPO,
    )
    lines: queue.Queue[str] = queue.Queue()
    kept: list[str] = []
    threading.Thread(target=_pump, args=(process.stdout, lines, kept), daemon=True).start()
    deadline = time.monotonic() + startup_seconds
    endpoint = None
    try:
        while endpoint is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                raise AssertionError(f"cpctl sandbox up did not come up:\n{''.join(kept)}")
            try:
                match = _SERVING.search(lines.get(timeout=min(remaining, 1.0)))
            except queue.Empty:
                continue
            endpoint = match.group(1) if match else None
        yield ServedSandbox(process=process, endpoint=endpoint, output=kept)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

"""Private PostgreSQL and Redis servers that stand in for the RDS and ElastiCache endpoints.

Wherever a workflow talks to the database or the cache itself (rotation's set and test steps,
restore verification), the sandbox maps the emulated endpoint to one of these: a real server
from the binaries on the machine, started in a temporary directory on a free port of 127.0.0.1,
with password authentication on (PostgreSQL ``scram-sha-256`` for every connection, Redis with a
password on the ``default`` user), and nothing kept after ``stop()``.

PostgreSQL refuses to run as root: when the sandbox runs as root, the server runs as the
``postgres`` system user (``runuser``), in a directory that user owns.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
START_TIMEOUT_SECONDS = 30.0


class ServerUnavailable(RuntimeError):
    """The server's binaries are missing or it did not start; the message says which and why."""


def find_binary(name: str, extra_dirs: list[Path] | None = None) -> Path:
    """``name`` on PATH or in the given directories (PostgreSQL's bin directories by default)."""
    found = shutil.which(name)
    if found:
        return Path(found)
    for directory in extra_dirs if extra_dirs is not None else POSTGRES_BIN_DIRS:
        candidate = directory / name
        if candidate.exists():
            return candidate
    raise ServerUnavailable(f"{name} is not installed (looked on PATH and in {[str(d) for d in POSTGRES_BIN_DIRS]})")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def generate_password(length: int = 32) -> str:
    """Letters and digits only: safe in connection strings, .pgpass files and URLs."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _wait_for_port(port: int, process: subprocess.Popen[bytes] | None, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerUnavailable(f"{what} exited with {process.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerUnavailable(f"{what} did not listen on port {port} within {START_TIMEOUT_SECONDS:.0f}s")


def _as_postgres_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServerUnavailable("running as root needs runuser to start PostgreSQL as the postgres user")
    return [runuser, "-u", "postgres", "--", *command]


@dataclass
class PostgresServer:
    """A private PostgreSQL (the machine's major, 15 here) for one sandbox or test session."""

    superuser: str = "sip_admin"
    database: str = "sip"
    port: int = 0
    password: str = field(default_factory=generate_password, repr=False)
    directory: Path | None = None
    _log: Path | None = None

    host = "127.0.0.1"

    @property
    def data_dir(self) -> Path:
        assert self.directory is not None, "the server is not started"
        return self.directory / "data"

    def start(self) -> PostgresServer:
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        self.port = self.port or free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="sandbox-postgres-"))
        pwfile = self.directory / "pwfile"
        pwfile.write_text(self.password)
        self._log = self.directory / "server.log"
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        self._run(
            [
                str(initdb),
                "--pgdata",
                str(self.data_dir),
                "--username",
                self.superuser,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--no-sync",
            ],
            "initdb",
        )
        pwfile.unlink()
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        self._run(
            [str(pg_ctl), "--pgdata", str(self.data_dir), "--log", str(self._log), "-o", options, "-w", "start"],
            "pg_ctl start",
        )
        _wait_for_port(self.port, None, "PostgreSQL")
        with self.connect() as admin:
            admin.run(f"CREATE DATABASE {self.database}")
        return self

    def _run(self, command: list[str], what: str) -> None:
        result = subprocess.run(_as_postgres_user(command), capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            log = self._log.read_text()[-2000:] if self._log and self._log.exists() else ""
            raise ServerUnavailable(f"{what} failed ({result.returncode}): {result.stderr[-2000:]}{log}")

    def connect(self, user: str | None = None, password: str | None = None, database: str = "postgres") -> Any:
        """A pg8000 native connection (the caller closes it; it is a context manager)."""
        import pg8000.native

        return pg8000.native.Connection(
            user=user or self.superuser,
            password=self.password if password is None else password,
            host=self.host,
            port=self.port,
            database=database,
            timeout=5,
        )

    def stop(self) -> None:
        if self.directory is None:
            return
        if self.data_dir.exists():
            pg_ctl = find_binary("pg_ctl")
            subprocess.run(
                _as_postgres_user([str(pg_ctl), "--pgdata", str(self.data_dir), "-m", "immediate", "-w", "stop"]),
                capture_output=True,
                check=False,
                timeout=60,
            )
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class RedisServer:
    """A private Redis (7 here) with a password on the ``default`` user and no persistence."""

    port: int = 0
    password: str = field(default_factory=generate_password, repr=False)
    _process: subprocess.Popen[bytes] | None = None
    _directory: Path | None = None

    host = "127.0.0.1"

    def start(self) -> RedisServer:
        binary = find_binary("redis-server", extra_dirs=[])
        self.port = self.port or free_port()
        self._directory = Path(tempfile.mkdtemp(prefix="sandbox-redis-"))
        config = "\n".join(
            [
                "bind 127.0.0.1",
                f"port {self.port}",
                f"dir {self._directory}",
                'save ""',
                "appendonly no",
                "protected-mode yes",
                f"requirepass {self.password}",
                "",
            ]
        )
        # The password goes through stdin, not the command line (ps would show it).
        self._process = subprocess.Popen(
            [str(binary), "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        assert self._process.stdin is not None
        self._process.stdin.write(config.encode())
        self._process.stdin.close()
        _wait_for_port(self.port, self._process, "Redis")
        return self

    def client(self, password: str | None = None, username: str | None = None) -> Any:
        import redis

        return redis.Redis(
            host=self.host,
            port=self.port,
            username=username,
            password=self.password if password is None else password,
            socket_connect_timeout=2,
            socket_timeout=2,
        )

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

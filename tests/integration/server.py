"""Run the real `python -m app serve` in a subprocess on free loopback ports.

Used by every test that needs a real server (signals, read-only run, live Prometheus, faults):
`with ServerProcess(env) as server: httpx.get(server.url + "/health/live")`. The process is always
stopped, and its output is kept for assertions (`server.output()`, `server.access_lines(...)`).
`run_app` runs a command that ends by itself (`migrate`, a `serve` that must refuse to start). Both
run in APP_CWD: no `.env` is read.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx

from tests.conftest import API_KEY, APP_CWD, OLD_API_KEY, REDIS_URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """Poll until `condition()` holds. The timeout only bounds a test that would otherwise hang: it is
    not a speed assertion."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{condition.__qualname__} did not hold within {timeout} s")
        time.sleep(0.05)


def server_env(database_url: str, redis_prefix: str, **extra: str) -> dict[str, str]:
    """The environment of a test server: the caller's PATH etc., explicit app settings, no .env file."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "FF_"))}
    env.update(
        {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": redis_prefix,
            "API_KEYS": f"{API_KEY},{OLD_API_KEY}",
            "PORT": str(free_port()),
            "METRICS_PORT": str(free_port()),
            "DRAIN_SECONDS": "1",
            "GRACEFUL_TIMEOUT": "5",
            "LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env


def run_app(command: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m app <command>` with exactly `env`, to its end; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "app", command],
        env=env,
        cwd=APP_CWD,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class ServerProcess:
    def __init__(
        self,
        env: dict[str, str],
        command: list[str] | None = None,
        cwd: Path | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.env = env
        self.command = command or [sys.executable, "-m", "app", "serve"]
        self.cwd = cwd or APP_CWD  # never the repo: no .env file is picked up
        self.startup_timeout = startup_timeout
        self.url = f"http://127.0.0.1:{env['PORT']}"
        self.metrics_url = f"http://127.0.0.1:{env['METRICS_PORT']}/metrics"
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  # closed in __exit__
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(
            self.command, env=self.env, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.wait_until_live()
        return self

    def wait_until_live(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/health/live", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become live in {self.startup_timeout} s:\n{self.output()}")

    def wait_until_ready(self, timeout: float = 10.0) -> httpx.Response:
        """Poll readiness until it answers 200 (or the deadline passes); returns the last answer."""
        deadline = time.monotonic() + timeout
        while True:
            response = httpx.get(self.url + "/health/ready", timeout=5)
            if response.status_code == 200 or time.monotonic() > deadline:
                return response
            time.sleep(0.2)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def log_lines(self) -> list[dict[str, Any]]:
        """Every line the server has logged, each parsed as JSON (a line that is not JSON fails here)."""
        return [json.loads(line) for line in self.output().splitlines() if line.strip()]

    def access_lines(
        self, where: Callable[[dict[str, Any]], bool], *, at_least: int = 1
    ) -> list[dict[str, Any]]:
        """The access lines `where` selects, once there are `at_least` of them: the server writes a
        request's line as its response goes out, and the output reaches the file a moment later."""

        def selected() -> list[dict[str, Any]]:
            return [line for line in self.log_lines() if line["event"] == "request" and where(line)]

        wait_until(lambda: len(selected()) >= at_least)
        return selected()

    def output(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.terminate(timeout=15)  # a clean exit also lets coverage save its data
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()

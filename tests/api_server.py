"""A real ``pantry-alert serve`` in a subprocess on a free loopback port, for the API tests."""

from __future__ import annotations

import signal
import subprocess
import time

import httpx
from conftest import T0, Cli, _script, free_port

TOKEN = "test-token-0123456789abcdef"
START_TIMEOUT = 20  # seconds for uvicorn to answer its first request


class ApiServer:
    """``pantry-alert serve`` over a ``Cli``'s config and database.  Output goes to a log file."""

    def __init__(self, cli: Cli, *, now: int | None = T0, env: dict | None = None, args: tuple = ()):
        self.cli = cli
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full_env = dict(cli.env, PANTRY_ALERT_CONFIG=str(cli.config), PANTRY_ALERT_DB=str(cli.db))
        full_env["PANTRY_ALERT_API_TOKEN"] = TOKEN
        if now is not None:
            full_env["PANTRY_ALERT_NOW"] = str(now)
        full_env.update(env or {})
        self.log_path = cli.tmp / f"serve-{self.port}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            _script() + ["serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cli.tmp,
        )
        self._wait()
        self.client = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        self.anon = httpx.Client(base_url=self.base, timeout=30)

    def _wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                httpx.get(self.base + "/healthz", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"serve did not answer within {START_TIMEOUT}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for client in ("client", "anon"):
            if hasattr(self, client):
                getattr(self, client).close()
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> ApiServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

"""The API for the tests: in this process (``Api``: the application ``serve`` builds, called through
Starlette's TestClient, no socket) or as a real ``pantry-alert serve`` (``ApiServer``: uvicorn in a
subprocess on a free loopback port), for the few tests where the process matters (signals, a check
running beside it).  Both have ``client`` (with the token), ``anon`` (without), ``log()`` and ``stop()``."""

from __future__ import annotations

import io
import logging
import signal
import subprocess
import time
import warnings
from collections.abc import Mapping

import httpx
from conftest import T0, Cli, _script, free_port

TOKEN = "test-token-0123456789abcdef"
START_TIMEOUT = 20  # seconds for uvicorn to answer its first request


def server_env(cli: Cli, now: int | None, env: Mapping[str, str] | None) -> dict[str, str]:
    full_env = dict(cli.env, PANTRY_ALERT_CONFIG=str(cli.config), PANTRY_ALERT_DB=str(cli.db))
    full_env["PANTRY_ALERT_API_TOKEN"] = TOKEN
    if now is not None:
        full_env["PANTRY_ALERT_NOW"] = str(now)
    full_env.update(env or {})
    return full_env


class Api:
    """The application ``pantry-alert serve`` runs, after the same start-up checks and warnings, served
    in this process.  ``env`` is the server's environment: ``set_now`` moves its clock."""

    def __init__(self, cli: Cli, *, now: int | None = T0, env: dict | None = None, args: tuple = ()):
        with warnings.catch_warnings():  # starlette would have its TestClient on httpx2, which we do not use
            warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
            from starlette.testclient import TestClient

        from pantry_alert.cli.serve import server_context, warn_at_start
        from pantry_alert.http.app import create_app

        self.cli = cli
        self.env = server_env(cli, now, env)
        self._log = io.StringIO()
        self._handler = logging.StreamHandler(self._log)
        self._logger = logging.getLogger("pantry_alert.http")
        self._logger.addHandler(self._handler)
        self._level = self._logger.level
        self._logger.setLevel(logging.INFO)
        try:
            self.ctx = server_context(
                str(cli.config), str(cli.db), self.env, host="127.0.0.1", no_auth="--no-auth" in args
            )
            warn_at_start(self.ctx)
        except BaseException:
            self._unhook()
            raise
        app = create_app(self.ctx)
        base = "http://127.0.0.1"
        peer = ("127.0.0.1", 50000)  # the client address a loopback request has
        self.client = TestClient(
            app,
            base_url=base,
            headers={"Authorization": f"Bearer {TOKEN}"},
            raise_server_exceptions=False,
            client=peer,
        )
        self.anon = TestClient(app, base_url=base, raise_server_exceptions=False, client=peer)

    def set_now(self, now: int) -> None:
        self.env["PANTRY_ALERT_NOW"] = str(now)

    def log(self) -> str:
        return self._log.getvalue()

    def _unhook(self) -> None:
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._level)

    def stop(self) -> None:
        self.client.close()
        self.anon.close()
        self._unhook()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class ApiServer:
    """``pantry-alert serve`` over a ``Cli``'s config and database.  Output goes to a log file."""

    def __init__(self, cli: Cli, *, now: int | None = T0, env: dict | None = None, args: tuple = ()):
        self.cli = cli
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full_env = server_env(cli, now, env)
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

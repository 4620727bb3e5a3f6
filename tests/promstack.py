"""The real Prometheus and Alertmanager for tests, on free loopback ports.

Each server runs from the Debian binaries with a temporary data directory and
stops at fixture teardown.  Readiness is polled on the HTTP API with a bound.
A missing binary fails the test with the reason under CI (``CI`` set) and
skips it elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import conftest
import pytest
from conftest import free_port

INSTALL = "apt-get update && apt-get install -y --no-install-recommends prometheus-alertmanager prometheus"


def binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} is not installed (install it with: {INSTALL})"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def http_json(url: str, data=None, timeout: float = 5.0):
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def wait_for(condition, what: str, timeout: float = 10):
    """``conftest.wait_for``, where an error from a peer that is still starting or settling counts as not yet."""
    return conftest.wait_for(condition, what, timeout, retry_on=(Exception,))


class Server:
    """A server process; ``stop`` ends it and shows its log when it died early."""

    def __init__(self, args: list[str], log: Path, ready_url: str, name: str):
        self.name, self.log, self.ready_url = name, log, ready_url
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log.read_text()[-2000:]}")
            with urllib.request.urlopen(self.ready_url, timeout=2) as response:
                return response.status == 200

        try:
            wait_for(ready, f"{self.name} at {self.ready_url}", timeout)
        except AssertionError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


# ---------------------------------------------------------------- Alertmanager

AM_CONFIG = """
route:
  receiver: hook
  group_by: [alertname, service, severity]
  group_wait: 200ms
  group_interval: 200ms
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook}
        send_resolved: true
"""


class Alertmanager(Server):
    def __init__(self, workdir: Path, hook_url: str, port: int | None = None, cluster: tuple | None = None):
        """``cluster``: (own cluster port, peer cluster port) for a two-peer cluster on loopback."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "alertmanager.yml"
        config.write_text(AM_CONFIG.format(hook=hook_url))
        args = [
            binary("prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        if cluster:
            args += [
                f"--cluster.listen-address=127.0.0.1:{cluster[0]}",
                f"--cluster.peer=127.0.0.1:{cluster[1]}",
                "--cluster.gossip-interval=50ms",
                "--cluster.pushpull-interval=1s",
                "--cluster.peer-timeout=2s",
                "--cluster.settle-timeout=10s",
            ]
        else:
            args.append("--cluster.listen-address=")
        super().__init__(args, workdir / "alertmanager.log", f"{self.url}/-/ready", f"Alertmanager {self.url}")

    def alerts(self, service: str) -> list[dict]:
        """Active alerts of one service (Alertmanager leaves resolved ones out)."""
        from urllib.parse import quote

        return http_json(f"{self.url}/api/v2/alerts?filter={quote(f'service={json.dumps(service)}')}")

    def status(self) -> dict:
        return http_json(f"{self.url}/api/v2/status")


def start_alertmanagers(*servers: Alertmanager) -> None:
    for server in servers:
        server.wait_ready()


# ---------------------------------------------------------------- HTTP peers


class Recorder:
    """A loopback HTTP server that records every POSTed JSON body (the webhook receiver,
    or a stand-in Alertmanager that captures what pantry-alert posts)."""

    def __init__(self):
        self.bodies: list = []
        self.paths: list[str] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with recorder.lock:
                    recorder.bodies.append(json.loads(raw or b"null"))
                    recorder.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def matching(self, predicate) -> list:
        with self.lock:
            return [b for b in self.bodies if predicate(b)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Exporter:
    """A small exporter in the Prometheus text format; ``set`` changes what the next scrape sees."""

    def __init__(self):
        self.values: dict[str, float] = {}
        self.lock = threading.Lock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with exporter.lock:
                    lines = [f"{name} {value!r}" for name, value in exporter.values.items()]
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def set(self, values: dict[str, float]) -> None:
        with self.lock:
            self.values = dict(values)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- Prometheus

PROM_CONFIG = """
global:
  scrape_interval: 200ms
  scrape_timeout: 200ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: pantry
    static_configs:
      - targets: ['{target}']
"""


class Prometheus(Server):
    def __init__(self, workdir: Path, target: str):
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(PROM_CONFIG.format(target=target))
        args = [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        super().__init__(args, workdir / "prometheus.log", f"{self.url}/-/ready", f"Prometheus {self.url}")

    def query(self, promql: str):
        from urllib.parse import quote

        return http_json(f"{self.url}/api/v1/query?query={quote(promql)}")["data"]["result"]

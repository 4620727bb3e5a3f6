"""The real Prometheus and Alertmanager for tests, on free loopback ports.

Each server runs from the Debian binaries with a temporary data directory and
stops at fixture teardown.  Readiness is polled on the HTTP API with a bound.
A missing binary fails the test with the reason under CI (``CI`` set) and
skips it elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import conftest
import pytest
import yaml
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


PEER_TIMEOUT_S = 0.5


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
                # A peer counts as settled after four unchanged polls of its peer list, one every
                # ten gossip intervals: 10 ms settles in about half a second.
                "--cluster.gossip-interval=10ms",
                "--cluster.pushpull-interval=1s",
                # The second peer waits this long before asking its notification log whether
                # the first already sent; gossip at 10 ms leaves it ample time to learn that.
                f"--cluster.peer-timeout={PEER_TIMEOUT_S}s",
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

    def metric(self, name: str) -> float:
        """The value of one unlabelled metric on the ``/metrics`` page."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(f"{name} "):
                    return float(line.split()[1])
        raise AssertionError(f"{self.url}/metrics has no {name}")


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


# ---------------------------------------------------------------- Prometheus

# Prometheus 2.42 scrapes a new target no sooner than 5 s after it starts (its discovery
# and scrape-reload ticks are held at 5 s at least), while rule evaluation starts at once.
# So the series the tests query come from recording rules the test rewrites: the same
# TSDB, the same query engine and API that answer pantry-alert, ready in a fraction of that.
PROM_CONFIG = """
global:
  evaluation_interval: 100ms
rule_files: [series.yml]
"""
SERIES = re.compile(r"(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?")


class Prometheus(Server):
    def __init__(self, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.rules = workdir / "series.yml"
        self.rules.write_text("groups: []\n")
        config = workdir / "prometheus.yml"
        config.write_text(PROM_CONFIG)
        args = [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",  # POST /-/reload
            "--log.level=warn",
        ]
        super().__init__(args, workdir / "prometheus.log", f"{self.url}/-/ready", f"Prometheus {self.url}")

    def query(self, promql: str):
        from urllib.parse import quote

        return http_json(f"{self.url}/api/v1/query?query={quote(promql)}")["data"]["result"]

    def serve(self, series: dict[str, float]) -> None:
        """Make Prometheus hold ``series`` (``name`` or ``name{label="value"}`` to its value) from now
        on, and wait until its query API answers every one of them."""
        rules = []
        for selector, value in series.items():
            match = SERIES.fullmatch(selector)
            assert match, f"not a series: {selector!r}"
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
            rules.append({"record": match["name"], "expr": f"vector({value!r})", "labels": labels})
        self.rules.write_text(yaml.safe_dump({"groups": [{"name": "series", "rules": rules}]}))
        http_json(f"{self.url}/-/reload", data={})

        def answered():
            for selector, value in series.items():
                got = self.query(selector)
                if len(got) != 1 or float(got[0]["value"][1]) != value:
                    return False
            return True

        wait_for(answered, f"Prometheus to answer the new values of {', '.join(series)}", timeout=20)

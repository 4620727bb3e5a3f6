"""Hand-off benchmark: the alertmanager channel and the Prometheus source (run by hand, not in CI).

    python benchmarks/bench_handoff.py [--alerts 1000] [--queries 20] [--runs 10]

Needs the Debian binaries `prometheus-alertmanager` and `prometheus`; starts
two Alertmanagers, one Prometheus and a small exporter on free loopback ports
with temporary directories, and stops them at the end.

1. Alertmanager: a state database with N active alerts routed to the channel
   (one `check` run fires them all), then the run's sync (read the state,
   build the array, one POST per URL to both Alertmanagers) timed in process,
   and whole `check` runs that repeat the state.  Each Alertmanager's own
   request counter confirms one POST per URL per run.
2. Prometheus: M instant queries per run (concurrently), timed in process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} not ready within {timeout}s")


def start(args: list[str], ready: str, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(args, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    wait_ready(ready, proc)
    return proc


def am_received(url: str) -> int:
    """Alerts an Alertmanager has received through the v2 API (its own counter)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0
    for line in text.splitlines():
        if line.startswith("alertmanager_alerts_received_total") and 'version="v2"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


class CountRequests:
    """Counts the HTTP requests httpx sends from this process, by URL."""

    def __init__(self):
        import httpx

        self.counts: dict[str, int] = {}
        self._send = httpx.Client.send
        counts, send = self.counts, self._send

        def counting(client, request, *args, **kwargs):
            key = f"{request.method} {request.url}"
            counts[key] = counts.get(key, 0) + 1
            return send(client, request, *args, **kwargs)

        httpx.Client.send = counting

    def close(self) -> None:
        import httpx

        httpx.Client.send = self._send


def fmt(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"


def bench_alertmanager(tmp: Path, alerts: int, runs: int) -> None:
    from pantry_alert import config as config_mod
    from pantry_alert.notify import alertmanager
    from pantry_alert.store import open_store

    binary = shutil.which("prometheus-alertmanager") or sys.exit("prometheus-alertmanager is not installed")
    (tmp / "am.yml").write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    urls, procs = [], []
    for i in range(2):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        args = [
            binary,
            f"--config.file={tmp / 'am.yml'}",
            f"--storage.path={tmp / f'am{i}'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]
        procs.append(start(args, f"{url}/-/ready", tmp / f"am{i}.log"))
        urls.append(url)
    try:
        rules = ["channels:", f"  alertmanager: {{urls: [{', '.join(urls)}]}}", "rules:"]
        doc = {}
        for i in range(alerts):
            doc[f"m{i}"] = 1
            rules.append(
                f"  - {{id: r{i:04d}, name: Rule {i}, type: performance, severity: high, when: m{i} > 0, "
                f"channels: [alertmanager], labels: {{team: t{i % 7}}}, description: 'm{i} is {{{{ m{i} }}}}'}}"
            )
        cfg = tmp / "rules.yaml"
        cfg.write_text("\n".join(rules) + "\n")
        (tmp / "metrics.json").write_text(json.dumps(doc))
        env = dict(os.environ, PANTRY_ALERT_CONFIG=str(cfg), PANTRY_ALERT_DB=str(tmp / "state.db"))
        script = shutil.which("pantry-alert") or "pantry-alert"
        cmd = [script, "check", "--metrics-file", str(tmp / "metrics.json"), "--json"]
        started = time.perf_counter()
        first = subprocess.run(cmd, env=env, capture_output=True, text=True)
        took = time.perf_counter() - started
        summary = json.loads(first.stdout)
        print(
            f"first check: {len(summary['fired'])} alerts fired and synchronised, exit {first.returncode}, {took:.2f} s"
        )

        config = config_mod.load(cfg)
        settings = alertmanager.settings(config.channels["alertmanager"], {})
        times = []
        before = [am_received(u) for u in urls]
        requests = CountRequests()
        for _ in range(runs):
            with open_store(tmp / "state.db") as store:
                now = int(time.time() * 1000)
                t0 = time.perf_counter()
                outcome = alertmanager.sync(store, config, settings, now)
                times.append(time.perf_counter() - t0)
            assert outcome.ok and outcome.alerts == alerts, outcome.to_json()
        requests.close()
        received = [am_received(u) - b for u, b in zip(urls, before, strict=True)]
        held = []
        for url in urls:
            with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=10) as response:
                held.append(len(json.loads(response.read())))
        print(f"sync of {alerts} alerts to 2 Alertmanagers (in process): {fmt(times)}")
        print(f"  requests over {runs} syncs: {requests.counts}")
        print(f"  alerts received per Alertmanager: {received}; alerts held: {held}")

        whole = []
        for _ in range(max(3, runs // 2)):
            t0 = time.perf_counter()
            again = subprocess.run(cmd, env=env, capture_output=True, text=True)
            whole.append(time.perf_counter() - t0)
            assert again.returncode == 0, again.stderr
        print(f"whole `check` run repeating {alerts} alerts (evaluate, commit, sync): {fmt(whole)}")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def bench_prometheus(tmp: Path, queries: int, runs: int) -> None:
    from pantry_alert.config import PrometheusSource
    from pantry_alert.prometheus import read

    binary = shutil.which("prometheus") or sys.exit("prometheus is not installed")
    body = "".join(f'pantry_bench_gauge{{n="{i}"}} {i}\n' for i in range(queries)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    exporter = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\nscrape_configs:\n"
        f"  - {{job_name: bench, static_configs: [{{targets: ['127.0.0.1:{exporter.server_port}']}}]}}\n"
    )
    proc = start(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        f"{url}/-/ready",
        tmp / "prometheus.log",
    )
    try:
        source = PrometheusSource(
            url=url, queries={f"q{i}": f'max(pantry_bench_gauge{{n="{i}"}}) * 2' for i in range(queries)}
        )
        deadline = time.monotonic() + 30
        while True:  # until the first scrape landed
            doc = read(source)
            if all(isinstance(v, int) for v in doc.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert doc == {f"q{i}": 2 * i for i in range(queries)}, doc
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            read(source, now_ms=int(time.time() * 1000))
            times.append(time.perf_counter() - t0)
        print(f"{queries} Prometheus instant queries per run (concurrent, in process): {fmt(times)}")
    finally:
        proc.terminate()
        proc.wait(10)
        exporter.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-handoff-"))
    try:
        bench_alertmanager(tmp, args.alerts, args.runs)
        bench_prometheus(tmp, args.queries, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

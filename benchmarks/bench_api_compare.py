"""``bench_api.py --compare-alertmanager``: ours and Alertmanager's ``GET /api/v2/alerts`` side by
side, round after round, loaded by ``wrk`` or the asyncio client (see bench_api.py)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import urllib.request
from pathlib import Path

from api_load import TARGET_P99_MS, TOKEN, _free_port, _load, _peak_rss_mb, _wait_http

TARGET_RATIO = 2.0  # our throughput against Alertmanager's, same machine, same run
ALERTMANAGER = "prometheus-alertmanager"


def _start_alertmanager(work: Path, concurrency: int, alerts: list[dict]) -> tuple[subprocess.Popen, int]:
    """Alertmanager on a free port, holding ``alerts`` (our JSON shape) as active alerts."""
    binary = shutil.which(ALERTMANAGER)
    if binary is None:
        raise SystemExit(f"{ALERTMANAGER} not found: apt-get install -y prometheus-alertmanager")
    (work / "am.yml").write_text('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    port = _free_port()
    log = work / "alertmanager.log"
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={work / 'am.yml'}",
            f"--storage.path={work / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            f"--web.get-concurrency={concurrency}",
        ],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        cwd=work,
    )
    _wait_http(f"http://127.0.0.1:{port}/-/ready", {}, proc, log)
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC)
    posted = [
        {
            "labels": {"alertname": a["ruleId"], "alert_id": a["id"], "severity": a["severity"], "type": a["type"]},
            "annotations": {"summary": a["title"], "description": a["description"]},
            "startsAt": start.isoformat(),
            "endsAt": (start + timedelta(hours=6)).isoformat(),
        }
        for a in alerts
    ]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v2/alerts",
        data=json.dumps(posted).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()
    held = json.loads(_wait_http(f"http://127.0.0.1:{port}/api/v2/alerts", {}, proc, log))
    if len(held) != len(alerts):
        raise SystemExit(f"Alertmanager holds {len(held)} alerts, not {len(alerts)}")
    return proc, port


def _wrk(port: int, path: str, clients: int, seconds: float, headers: dict[str, str]) -> dict:
    """One ``wrk`` run: requests per second, p50 and p99 in ms, non-2xx answers and socket errors."""
    import re

    args = ["wrk", "-t2", f"-c{clients}", f"-d{seconds:g}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(pct: str) -> float:
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * units[m.group(2)] if m else float("nan")

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
    answered = int(total.group(1)) if total else 0
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "ok_rps": (float(rps.group(1)) * (answered - errors) / answered) if rps and answered else 0.0,
        "p50": latency("50"),
        "p99": latency("99"),
        "errors": errors,
    }


def _python_load(port: int, path: str, clients: int, seconds: float, headers: dict[str, str]) -> dict:
    latencies, errors, elapsed = asyncio.run(_load(port, path, clients, seconds, headers))
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "ok_rps": (len(latencies) - len(errors)) / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000,
        "errors": len(errors),
    }


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def compare(args, port: int, work: Path, server: subprocess.Popen) -> int:
    """Ours and Alertmanager's, alternating, ``args.rounds`` times; prints a table and the verdict."""
    ours_headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = json.loads(_wait_http(f"http://127.0.0.1:{port}/api/alerts", ours_headers, server, work / "serve.log"))
    alerts = answer["data"]
    am, am_port = _start_alertmanager(
        work, args.clients if args.am_get_concurrency is None else args.am_get_concurrency, alerts
    )
    load = args.load or ("wrk" if shutil.which("wrk") else "python")
    run = _wrk if load == "wrk" else _python_load
    rows = []
    try:
        for round_no in range(1, args.rounds + 1):
            before = _load_average()
            ours = run(port, "/api/alerts", args.clients, args.seconds, ours_headers)
            theirs = run(am_port, "/api/v2/alerts", args.clients, args.seconds, {})
            rows.append((round_no, before, ours, theirs))
            print(
                f"round {round_no}: load {before}; ours {ours['rps']:,.0f} req/s p99 {ours['p99']:.1f} ms; "
                f"Alertmanager {theirs['rps']:,.0f} req/s p99 {theirs['p99']:.1f} ms",
                file=sys.stderr,
            )
    finally:
        am.terminate()
        am.wait(timeout=30)
    rss = _peak_rss_mb(server.pid)
    print(
        f"\nGET /api/alerts (pantry-alert) vs GET /api/v2/alerts (Alertmanager 0.25), {len(alerts)} active alerts, "
        f"{args.clients} keep-alive connections, {args.seconds:g} s per run, load from {load}, "
        f"{os.cpu_count()} CPU(s)\n"
    )
    print(
        "| round | load avg before | ours req/s | ours p50 / p99 ms | AM req/s (200s) | AM p50 / p99 ms "
        "| ratio | non-200 ours / AM |"
    )
    print("|---|---|---|---|---|---|---|---|")
    ratios = []
    for round_no, before, ours, theirs in rows:
        ratio = ours["ok_rps"] / theirs["ok_rps"] if theirs["ok_rps"] else float("inf")
        ratios.append(ratio)
        am_rate = f"{theirs['rps']:,.0f}" + (f" ({theirs['ok_rps']:,.0f})" if theirs["errors"] else "")
        print(
            f"| {round_no} | {before} | {ours['ok_rps']:,.0f} | {ours['p50']:.1f} / {ours['p99']:.1f} | "
            f"{am_rate} | {theirs['p50']:.1f} / {theirs['p99']:.1f} | {ratio:.2f}x | "
            f"{ours['errors']} / {theirs['errors']} |"
        )
    ratio = statistics.median(ratios)
    p99 = statistics.median(r[2]["p99"] for r in rows)
    errors = sum(r[2]["errors"] for r in rows)
    print(
        f"\nmedian ratio {ratio:.2f}x (target >= {TARGET_RATIO:g}x); median p99 ours {p99:.1f} ms "
        f"(target <= {TARGET_P99_MS} ms); our errors {errors}; server peak RSS {rss:.1f} MB"
    )
    met = ratio >= TARGET_RATIO and p99 <= TARGET_P99_MS and not errors
    print("all targets met" if met else "TARGET MISSED")
    return 0 if met else 1

#!/usr/bin/env python3
"""Load ``GET /api/alerts`` of a real ``pantry-alert serve`` on a database of a million alerts,
or (``--pages``) time every page of the web console on it.

    python benchmarks/bench_api.py                          # seeds 1,000,000 alerts in a temp dir
    python benchmarks/bench_api.py --db /tmp/bench/state.db # reuse a database made by seed_db.py
    python benchmarks/bench_api.py --clients 16 --seconds 20
    python benchmarks/bench_api.py --alerts 100000 --compare-alertmanager --rounds 5 --seconds 10
    python benchmarks/bench_api.py --db /tmp/bench/state.db --pages   # console pages, p95 per page

``seed_db.py`` makes the database (the newest 100 alerts unresolved, the
rest resolved).  The server runs as the installed console script in a
subprocess (``serve --no-access-log``, one uvicorn process, as in
production but without the per-request log line).  The load comes from
``--clients`` keep-alive HTTP/1.1 connections driven by one asyncio loop in
this process (raw sockets: a light client, so the two share the machine's
cores fairly); each sends the next request as soon as the previous answer
is read.  Reported: requests per second, latency percentiles, errors, and
the server's peak RSS (``VmHWM`` from ``/proc/<pid>/status``).

``--compare-alertmanager`` loads Alertmanager's ``GET /api/v2/alerts`` in
the same run, on the same machine, holding the same 100 active alerts (ours,
posted to it with their rule, id, severity, title and description), round
after round, alternating the two servers (``--rounds``), so both see the
same background load.  Alertmanager is the Debian package's binary
(``prometheus-alertmanager``), started with ``--web.get-concurrency`` equal
to ``--clients``: its default admits max(GOMAXPROCS, 8) GETs at once and
answers the rest 503.  The load comes from ``wrk`` when it is installed
(``--load wrk``, the default then; Debian's ``wrk``), else from the asyncio
client above.  Target: our throughput at least twice Alertmanager's (the
median of the rounds' ratios), with our p99 at most 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from api_load import NOW, ROOT, TARGET_P99_MS, TOKEN, _free_port, _load, _peak_rss_mb, _script
from bench_api_compare import compare

TARGET_RPS, TARGET_RSS_MB = 500, 100
TARGET_PAGE_P95_MS = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1_000_000, help="alerts to seed when --db is not given")
    parser.add_argument("--db", help="an existing database made by seed_db.py (not modified)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--path", default="/api/alerts", help="the route to load")
    parser.add_argument(
        "--compare-alertmanager", action="store_true", help="load Alertmanager's GET /api/v2/alerts side by side"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds with --compare-alertmanager")
    parser.add_argument("--load", choices=("wrk", "python"), help="load generator [default: wrk when installed]")
    parser.add_argument(
        "--am-get-concurrency",
        type=int,
        help="Alertmanager's --web.get-concurrency [default: --clients; 0 is its own default, which answers "
        "the GETs beyond max(GOMAXPROCS, 8) with 503]",
    )
    parser.add_argument("--pages", action="store_true", help="time the console's pages instead (one client)")
    parser.add_argument("--requests", type=int, default=100, help="requests per page with --pages")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="with --pages: commit a change to the database before each request (no cache)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    try:
        db = Path(args.db) if args.db else work / "state.db"
        if not args.db:
            print(f"seeding {args.alerts:,} alerts ...", file=sys.stderr)
            env = dict(os.environ, PANTRY_ALERT_NOW=str(NOW))
            subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "benchmarks" / "seed_db.py"),
                    "--alerts",
                    str(args.alerts),
                    "--db",
                    str(db),
                ],
                check=True,
                env=env,
            )
        port = _free_port()
        env = dict(
            os.environ,
            PANTRY_ALERT_CONFIG=str(ROOT / "rules.yaml"),
            PANTRY_ALERT_DB=str(db),
            PANTRY_ALERT_NOW=str(NOW),
            PANTRY_ALERT_API_TOKEN=TOKEN,
        )
        log = open(work / "serve.log", "w")
        server = subprocess.Popen(
            _script() + ["serve", "--port", str(port), "--no-access-log"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=work,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    req = urllib.request.Request(base + args.path, headers={"Authorization": f"Bearer {TOKEN}"})
                    with urllib.request.urlopen(req, timeout=5) as response:
                        data = json.loads(response.read())["data"]
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit((work / "serve.log").read_text()) from None
                    time.sleep(0.1)
            if args.pages:
                results = _time_pages(port, args.requests, db if args.cold else None)
                return _report_pages(results, args.requests, _peak_rss_mb(server.pid), cold=args.cold)
            print(f"{args.path}: {len(data) if isinstance(data, list) else 1} item(s) per answer", file=sys.stderr)
            if args.compare_alertmanager:
                return compare(args, port, work, server)
            latencies, errors, elapsed = asyncio.run(_load(port, args.path, args.clients, args.seconds))
            rss = _peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    rps = len(latencies) / elapsed
    rows = [
        ("requests", f"{len(latencies):,} in {elapsed:.1f} s", ""),
        ("throughput", f"{rps:,.0f} req/s", f">= {TARGET_RPS}"),
        ("latency p50", f"{pct(50):.1f} ms", ""),
        ("latency p99", f"{pct(99):.1f} ms", f"< {TARGET_P99_MS} ms"),
        ("latency max", f"{latencies[-1] * 1000:.1f} ms", ""),
        ("mean", f"{statistics.fmean(latencies) * 1000:.1f} ms", ""),
        ("errors", str(len(errors)), "0"),
        ("server peak RSS", f"{rss:.1f} MB", f"< {TARGET_RSS_MB} MB"),
    ]
    print(f"\nGET {args.path}, {args.clients} concurrent clients, {args.seconds:g} s, {os.cpu_count()} CPU(s)\n")
    print("| measure | value | target |\n|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")
    ok = rps >= TARGET_RPS and pct(99) < TARGET_P99_MS and rss < TARGET_RSS_MB and not errors
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


# ------------------------------------------------------------------ console pages


def _sign_in(conn) -> str:
    """Sign in to the console with the bench token; returns the session cookie header."""
    import re

    conn.request("GET", "/login")
    response = conn.getresponse()
    page = response.read().decode()
    login_cookie = response.getheader("set-cookie").split(";")[0]
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"login_csrf": login_csrf, "token": TOKEN, "next": "/"})
    headers = {"Cookie": login_cookie, "Content-Type": "application/x-www-form-urlencoded"}
    conn.request("POST", "/login", body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    cookie = next(v for k, v in response.getheaders() if k.lower() == "set-cookie" and v.startswith("pantry_session="))
    return cookie.split(";")[0]


def _console_pages(conn, cookie: str) -> list[str]:
    """The pages to time: every kind, with filters and a deep history page."""
    import re

    def get(path: str) -> str:
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        return response.read().decode()

    first = re.search(r'href="/alerts/([^"]+)"', get("/history")).group(1)
    deep = get("/history?to=2025-09-01")  # near the oldest alerts: a page deep in the history
    older = re.search(r'href="(/history\?[^"]+)" rel="next"', deep)
    return [
        "/",
        "/fragments/active",
        f"/alerts/{first}",
        "/history",
        older.group(1).replace("&amp;", "&") if older else "/history?to=2025-09-01",
        "/history?rule=high_error_rate",
        "/history?severity=medium",
        "/history?rule=high_error_rate&severity=medium",
        "/history?status=resolved&from=2025-10-01&to=2025-10-02",
        "/history?status=active",
        "/silences",
        "/heartbeats",
        "/stats",
        "/stats?window=7d",
        "/rules",
    ]


def _time_pages(port: int, requests: int, touch: Path | None) -> list[tuple[str, list[float], int]]:
    """Each page ``requests`` times in a row; with ``touch``, a commit to that database before each
    request, as a check run makes every minute, so no answer comes from the server's cache."""
    import http.client
    import sqlite3

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    cookie = _sign_in(conn)
    writer = sqlite3.connect(touch, isolation_level=None, timeout=30) if touch else None
    if writer is not None:
        # Commits stay in the WAL, as a check run's do until the server checkpoints them: a foreign
        # write to the main file would make the server re-verify the whole database (quick_check).
        writer.execute("PRAGMA wal_autocheckpoint = 0")
    results = []
    for path in _console_pages(conn, cookie):
        latencies, status = [], 0
        for i in range(requests):
            if writer is not None:
                writer.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('bench_api', ?)", (str(i),))
            started = time.perf_counter()
            conn.request("GET", path, headers={"Cookie": cookie})
            response = conn.getresponse()
            response.read()
            latencies.append(time.perf_counter() - started)
            status = max(status, response.status)
        results.append((path, sorted(latencies), status))
    conn.close()
    if writer is not None:
        writer.close()
    return results


def _report_pages(results, requests: int, rss: float, *, cold: bool) -> int:
    after = ", each after a database change (nothing cached)" if cold else ""
    print(f"\nconsole pages, {requests} sequential requests each{after}, one client, {os.cpu_count()} CPU(s)\n")
    print("| page | p50 | p95 | max | status |\n|---|---|---|---|---|")
    worst = 0.0
    for path, latencies, status in results:
        p50 = latencies[len(latencies) // 2] * 1000
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] * 1000
        worst = max(worst, p95 if status == 200 else float("inf"))
        print(f"| `{path}` | {p50:.1f} ms | {p95:.1f} ms | {latencies[-1] * 1000:.1f} ms | {status} |")
    print(f"\nworst p95 {worst:.1f} ms (target <= {TARGET_PAGE_P95_MS} ms); server peak RSS {rss:.1f} MB")
    ok = worst <= TARGET_PAGE_P95_MS
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

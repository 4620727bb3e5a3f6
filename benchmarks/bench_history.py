"""Metric history benchmarks (run by hand, not in CI).

    python benchmarks/bench_history.py [size|check|backtest|all] [--runs 15]

- size: bytes per sample on disk, indexes included, at 1,000,000 samples:
  stored through ``store.history.record`` as ``check`` stores them, once with
  the shipped rules' 6 paths a run and once with 1 path a run (the worst
  case), then ``VACUUM``; the figure is the file's growth over an empty
  database, divided by the samples.
- check: median wall time of a quiet ``pantry-alert check`` (shipped rules,
  healthy metrics) with the history on and with ``history: {enabled: false}``,
  run interleaved as in bench_check.py.
- backtest: ``rules backtest`` of 30 days of one-minute history (43,200 runs)
  for the shipped rules: the library call in this process (median of 5) and
  the command's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pantry_alert.store import history as store_history  # noqa: E402
from pantry_alert.store import open_store  # noqa: E402

SHIPPED_PATHS = (
    "p95ResponseTime",
    "errorRate",
    "memoryUsage.current.heapUsed",
    "memoryUsage.current.heapTotal",
    "databaseErrors",
    "failedLogins",
)
T0 = 1764158400000
MINUTE = 60_000


def healthy(minute: int, rng: random.Random) -> dict[str, float]:
    """A day-shaped healthy series with a few breaches: what a month of one-minute runs reads."""
    values = {
        "p95ResponseTime": round(400 + 200 * rng.random()),
        "errorRate": round(0.002 + 0.01 * rng.random(), 5),
        "memoryUsage.current.heapUsed": round(400 + 100 * rng.random()),
        "memoryUsage.current.heapTotal": 1000,
        "databaseErrors": rng.randrange(3),
        "failedLogins": rng.randrange(20),
    }
    if minute % 1440 in range(600, 630):  # a daily half hour of errors
        values["errorRate"] = 0.07
    if minute % 4320 in range(100, 105):  # every 3 days, a login storm
        values["failedLogins"] = 80
    return values


def fill(db: Path, runs: int, paths: tuple[str, ...], seed: int = 1) -> None:
    rng = random.Random(seed)
    with open_store(db) as store:
        with store.transaction():
            for minute in range(runs):
                sample = healthy(minute, rng)
                store_history.record(store, T0 + minute * MINUTE, {p: sample.get(p, rng.random()) for p in paths})


def vacuumed_size(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(db)
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db.stat().st_size


def size(tmp: Path) -> None:
    empty = tmp / "empty.db"
    open_store(empty).close()
    base = vacuumed_size(empty)
    print("bytes per sample at 1,000,000 samples (file growth after VACUUM, indexes included):")
    for paths in (SHIPPED_PATHS, ("errorRate",)):
        runs = 1_000_000 // len(paths)
        db = tmp / f"size{len(paths)}.db"
        start = time.perf_counter()
        fill(db, runs, paths)
        took = time.perf_counter() - start
        grown = vacuumed_size(db) - base
        samples = runs * len(paths)
        print(
            f"  {len(paths)} path(s) a run: {runs:,} runs, {samples:,} samples, {grown:,} bytes: "
            f"{grown / samples:.2f} bytes/sample (filled in {took:.1f}s)"
        )


def timed_cpu(cmd, env) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, from ``wait4``) of one subprocess."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, _status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def check(tmp: Path, runs: int) -> None:
    script = shutil.which("pantry-alert") or "pantry-alert"
    shipped = (ROOT / "rules.yaml").read_text()
    (tmp / "on.yaml").write_text(shipped)
    (tmp / "off.yaml").write_text("history: {enabled: false}\n" + shipped)
    healthy_file = str(ROOT / "examples" / "metrics-healthy.json")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    variants = {
        "history on": dict(env, PANTRY_ALERT_CONFIG=str(tmp / "on.yaml"), PANTRY_ALERT_DB=str(tmp / "on.db")),
        "history off": dict(env, PANTRY_ALERT_CONFIG=str(tmp / "off.yaml"), PANTRY_ALERT_DB=str(tmp / "off.db")),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for round_ in range(runs + 1):
        for name, variant in variants.items():
            took = timed_cpu([script, "check", "--metrics-file", healthy_file], variant)
            if round_:  # the first round writes the .pyc files and creates the databases
                times[name].append(took)
    print(f"quiet check, shipped rules, median of {runs} (wall, CPU):")
    medians = {}
    for name, samples in times.items():
        medians[name] = [statistics.median(s[i] for s in samples) for i in (0, 1)]
        print(f"  {name:<12} {medians[name][0] * 1000:7.1f} ms  {medians[name][1] * 1000:7.1f} ms")
    (on_wall, on_cpu), (off_wall, off_cpu) = medians["history on"], medians["history off"]
    print(f"  overhead     {100 * (on_wall / off_wall - 1):+6.1f} %  {100 * (on_cpu / off_cpu - 1):+6.1f} %")


def backtest(tmp: Path) -> None:
    from pantry_alert import backtest as backtest_mod
    from pantry_alert.config import load

    runs = 30 * 1440
    db = tmp / "month.db"
    fill(db, runs, SHIPPED_PATHS)
    config = load(ROOT / "rules.yaml", env={})
    now = T0 + runs * MINUTE
    took, cpu = [], []
    result = None
    for _ in range(5):
        with open_store(db, readonly=True) as store:
            start, start_cpu = time.perf_counter(), time.process_time()
            result = backtest_mod.backtest(store, config, now=now, since=now - 30 * 86_400_000, env={})
            took.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    assert result is not None
    fired = {r.rule: len(r.would_fire) for r in result.rules}
    print(f"backtest of 30 days of one-minute history ({result.runs:,} runs), shipped rules:")
    print(
        f"  library call: median {statistics.median(took):.2f} s wall, {statistics.median(cpu):.2f} s CPU, "
        f"of 5 (would fire: {json.dumps(fired)})"
    )
    script = shutil.which("pantry-alert") or "pantry-alert"
    env = dict(os.environ, PANTRY_ALERT_CONFIG=str(ROOT / "rules.yaml"), PANTRY_ALERT_DB=str(db))
    env["PANTRY_ALERT_NOW"] = str(now)
    command = [script, "rules", "backtest", "--since", "30d", "--json"]
    measured = [timed_cpu(command, env) for _ in range(3)]
    wall, cpu_s = (statistics.median(m[i] for m in measured) for i in (0, 1))
    print(f"  {' '.join(command[1:])}: median {wall:.2f} s wall, {cpu_s:.2f} s CPU, of 3 (process start included)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", nargs="?", default="all", choices=("size", "check", "backtest", "all"))
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        if args.what in ("size", "all"):
            size(tmp)
        if args.what in ("check", "all"):
            check(tmp, args.runs)
        if args.what in ("backtest", "all"):
            backtest(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

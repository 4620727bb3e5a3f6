#!/usr/bin/env python3
"""Time the lifecycle commands on a database of a million alerts.

    python benchmarks/bench_lifecycle.py                 # 1,000,000 alerts
    python benchmarks/bench_lifecycle.py --alerts 100000

Seeds a temporary database with ``seed_db.py``, then runs the real
``pantry-alert`` console script in a subprocess, three times per command,
and reports the median wall-clock time and the peak RSS of the child
(``os.wait4``: per process, not the running maximum of RUSAGE_CHILDREN):

- ``list``, ``stats --window 30d``, ``history --limit 100`` (human output);
- ``prune --older-than 0`` on a fresh copy of the database each time
  (every resolved alert goes: ~999,900 of them, with their events and
  notifications; the 100 unresolved ones stay).

The database has the schema ``store/db.py`` creates (v2, with the reporting
indexes ``store/reports.py`` is written for).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOW = 1764158400000  # 2025-11-26T12:00:00Z: fixed, so runs compare
TARGETS = {"list": 0.3, "stats --window 30d": 0.5, "history --limit 100": 0.3, "prune --older-than 0": 10.0}
RSS_TARGET_MB = 100


def _script() -> list[str]:
    found = shutil.which("pantry-alert", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return [found] if found else [sys.executable, "-m", "pantry_alert"]


def run_once(args: list[str], db: Path, out_dir: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one ``pantry-alert`` run; fails loudly on a non-zero exit."""
    env = dict(
        os.environ,
        PANTRY_ALERT_CONFIG=str(ROOT / "rules.yaml"),
        PANTRY_ALERT_DB=str(db),
        PANTRY_ALERT_NOW=str(NOW),
        COLUMNS="100",
        TZ="UTC",
    )
    with open(out_dir / "stdout", "wb") as out, open(out_dir / "stderr", "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(_script() + args, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"pantry-alert {' '.join(args)} exited {proc.returncode}:\n{(out_dir / 'stderr').read_text()}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def seed(db: Path, alerts: int) -> dict:
    env = dict(os.environ, PANTRY_ALERT_NOW=str(NOW))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "seed_db.py"), "--alerts", str(alerts), "--db", str(db), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def bench(db: Path, work: Path, repeats: int) -> dict[str, dict]:
    results = {}
    for name in ("list", "stats --window 30d", "history --limit 100"):
        runs = [run_once(name.split(), db, work) for _ in range(repeats)]
        results[name] = {
            "median_s": statistics.median(r[0] for r in runs),
            "peak_rss_mb": max(r[1] for r in runs),
            "runs_s": [round(r[0], 3) for r in runs],
        }
    runs, deleted = [], None
    for i in range(repeats):
        copy = work / f"prune-{i}.db"
        shutil.copyfile(db, copy)
        runs.append(run_once(["prune", "--older-than", "0", "--json"], copy, work))
        deleted = json.loads((work / "stdout").read_text())["deleted"]
        copy.unlink()
        for suffix in ("-wal", "-shm"):
            Path(str(copy) + suffix).unlink(missing_ok=True)
    results["prune --older-than 0"] = {
        "median_s": statistics.median(r[0] for r in runs),
        "peak_rss_mb": max(r[1] for r in runs),
        "runs_s": [round(r[0], 3) for r in runs],
        "deleted": deleted,
    }
    return results


def report(results: dict[str, dict]) -> None:
    print()
    print(f"  {'command':<24}{'median':>9}{'target':>9}{'peak RSS':>11}   runs")
    for name, r in results.items():
        verdict = "ok" if r["median_s"] <= TARGETS[name] and r["peak_rss_mb"] <= RSS_TARGET_MB else "OVER"
        extra = f"  (deleted {r['deleted']:,})" if "deleted" in r else ""
        print(
            f"  {name:<24}{r['median_s']:>8.3f}s{TARGETS[name]:>8.1f}s{r['peak_rss_mb']:>8.1f} MB   "
            f"{', '.join(f'{s:.3f}' for s in r['runs_s'])}  {verdict}{extra}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and leave the databases there")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pantry-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        db = work / "state.db"
        for path in work.glob("state.db*"):
            path.unlink()
        start = time.perf_counter()
        counts = seed(db, args.alerts)
        print(
            f"seeded {counts['alerts']:,} alerts, {counts['events']:,} events, "
            f"{counts['notifications']:,} notifications in {time.perf_counter() - start:.1f}s "
            f"({db.stat().st_size / 1_048_576:,.0f} MiB)"
        )
        figures = {"alerts": counts["alerts"], "seed_s": round(time.perf_counter() - start, 1)}
        figures["commands"] = bench(db, work, args.repeats)
        report(figures["commands"])
        if args.json:
            print(json.dumps(figures, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The cost of a run must not grow with history: a quiet check beside 1,000,000 stored alerts.

    python benchmarks/bench_history_cost.py                  # 1,000,000 alerts, 15 rounds
    python benchmarks/bench_history_cost.py --alerts 100000 --rounds 9

Seeds a database with ``seed_db.py`` (1.05M notifications for 1M alerts), then
times ``pantry-alert check`` with healthy metrics (nothing fires: a quiet run)
on it and on a fresh database, interleaved round after round so that other
load on the machine spreads over both alike.  A warm-up run on each resolves
the seeded database's unresolved alerts and writes the ``.pyc`` files.  It also times
``Outbox.due`` in this process and prints the query plan of every statement
of the check path that reads the outbox.  Exit 1 when the big database's
median exceeds 1.2x the fresh one's (the target).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_lifecycle import NOW, ROOT, run_once, seed  # noqa: E402

TARGET = 1.2
CHECK = ["check", "--metrics-file", str(ROOT / "examples" / "metrics-healthy.json")]


def due_ms(db: Path, repeats: int = 20) -> float:
    from pantry_alert.store import open_store
    from pantry_alert.store.outbox import Outbox

    with open_store(db) as store:
        outbox = Outbox(store)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            outbox.due(NOW)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def plans(db: Path) -> list[str]:
    from pantry_alert.store import open_store

    with open_store(db) as store:
        assert store.conn is not None
        sql = (
            "SELECT id FROM notifications INDEXED BY idx_notifications_due "
            "WHERE status IN ('pending', 'failed', 'deferred') AND next_attempt_at IS NOT NULL ORDER BY id"
        )
        return [row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pantry-alert-history-") as tmp:
        work = Path(tmp)
        big, fresh = work / "big.db", work / "fresh.db"
        started = time.perf_counter()
        seeded = seed(big, args.alerts)
        print(f"seeded {seeded} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        for db in (big, fresh):
            run_once(CHECK, db, work)  # warm-up: resolves the seeded open alerts, writes .pyc files
        times: dict[str, list[float]] = {"fresh": [], "big": []}
        for _ in range(args.rounds):
            for name, db in (("fresh", fresh), ("big", big)):
                times[name].append(run_once(CHECK, db, work)[0])
        fresh_s, big_s = statistics.median(times["fresh"]), statistics.median(times["big"])
        ratio = big_s / fresh_s
        print(f"quiet check, fresh database:          {fresh_s * 1000:6.1f} ms (median of {args.rounds})")
        print(f"quiet check, {args.alerts:,} alerts: {big_s * 1000:6.1f} ms  ratio {ratio:.2f} (target <= {TARGET})")
        print(f"Outbox.due: fresh {due_ms(fresh):.2f} ms, big {due_ms(big):.2f} ms")
        print("plan of Outbox.due:", "; ".join(plans(big)))
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())

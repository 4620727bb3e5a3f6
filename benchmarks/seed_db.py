#!/usr/bin/env python3
"""Fill a pantry-alert state database with N synthetic alerts, for benchmarks.

    python benchmarks/seed_db.py --alerts 1000000 --db /tmp/bench/state.db

The database is created (or opened) through the project's own store code
(``open_store``: identity checks, schema, migrations, WAL) and filled with
``executemany`` inside ``store.transaction()``, one transaction per chunk.

What goes in, deterministically (a fixed random seed):

- N alerts spread evenly over the 90 days before now (``PANTRY_ALERT_NOW`` is
  honoured), cycling through the five rules of the shipped ``rules.yaml``
  (names, types and severities taken from it), ids ``<rule_id>_<epoch_ms>``;
- the newest 100 are unresolved (``firing``); every other one resolved
  (``auto``) 1 to 120 minutes after it fired;
- every 7th alert was acknowledged 1 to 30 minutes after it fired;
- events per alert: ``fired``, ``notified``, (``acknowledged``), ``resolved``;
- notifications per alert: a ``firing`` one to ``console``, ``sent``; every
  19th alert also a ``slack`` one that ``failed`` for good.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # works from a checkout even when not installed

from pantry_alert.config import load  # noqa: E402
from pantry_alert.store import open_store  # noqa: E402
from pantry_alert.timeutil import now_ms  # noqa: E402

DAY = 86_400_000
MINUTE = 60_000
SPAN = 90 * DAY
UNRESOLVED = 100
CHUNK = 50_000
ALERT_COLUMNS = (
    "id",
    "rule_id",
    "type",
    "severity",
    "title",
    "description",
    "timestamp",
    "count",
    "last_seen_at",
    "status",
    "acknowledged_at",
    "acknowledged_by",
    "ack_expires_at",
    "ack_note",
    "resolved_at",
    "resolved_by",
    "escalated",
    "silenced",
    "runbook_url",
    "labels",
    "metrics",
    "channels",
    "notified_channels",
    "rounds_at_severity",
    "last_notified_at",
)
_METRIC = {
    "high_response_time": ("p95ResponseTime", 2500),
    "high_error_rate": ("errorRate", 0.0734),
    "memory_usage_high": ("memoryUsage.current.heapUsed", 900),
    "database_connection_issues": ("databaseErrors", 12),
    "failed_login_attempts": ("failedLogins", 75),
}


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def seed(db: Path, alerts: int, now: int, config_path: Path, rng_seed: int = 42, quiet: bool = False) -> dict:
    config = load(config_path)
    rules = [r for r in config.rules if r.id in _METRIC] or config.rules
    prepared = []
    for rule in rules:
        path, value = _METRIC.get(rule.id, ("value", 1))
        prepared.append(
            (
                rule,
                _dumps({path: value}),
                _dumps(list(rule.channels)),
                _dumps(["console"]),
                _dumps(dict(rule.labels)),
                f"{rule.name}: synthetic alert for benchmarks",
            )
        )
    rng = random.Random(rng_seed)
    start = now - SPAN
    step = SPAN / max(alerts, 1)
    counts = {"alerts": 0, "events": 0, "notifications": 0}
    alert_sql = f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS)}) VALUES ({', '.join('?' * len(ALERT_COLUMNS))})"
    event_sql = "INSERT INTO events (alert_id, at, kind, detail) VALUES (?, ?, ?, ?)"
    notif_sql = (
        "INSERT INTO notifications (alert_id, channel, kind, status, attempts, error, created_at, "
        "next_attempt_at, sent_at, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    firing_notified = _dumps({"kind": "firing", "channels": ["console"]})
    resolved_auto = _dumps({"by": "auto"})
    started = time.monotonic()
    with open_store(db) as store:
        store.conn.execute("PRAGMA cache_size = -262144")  # 256 MiB page cache: this connection only
        for base in range(0, alerts, CHUNK):
            alert_rows, event_rows, notif_rows = [], [], []
            for i in range(base, min(base + CHUNK, alerts)):
                rule, metrics, channels, notified, labels, description = prepared[i % len(prepared)]
                ts = start + int(i * step)
                alert_id = f"{rule.id}_{ts}"
                fired_detail = (
                    f'{{"severity":"{rule.severity}","description":{_dumps(description)},"metrics":{metrics}}}'
                )
                event_rows.append((alert_id, ts, "fired", fired_detail))
                event_rows.append((alert_id, ts, "notified", firing_notified))
                acked_at = acked_by = None
                if i % 7 == 3:
                    acked_at, acked_by = ts + rng.randint(1, 30) * MINUTE, "oncall"
                if i >= alerts - UNRESOLVED:
                    status, resolved_at, resolved_by = ("acknowledged" if acked_at else "firing"), None, None
                    last_seen = now
                else:
                    status, resolved_by = "resolved", "auto"
                    resolved_at = max(ts + rng.randint(1, 120) * MINUTE, (acked_at or 0) + MINUTE)
                    last_seen = resolved_at - MINUTE
                if acked_at is not None:
                    event_rows.append((alert_id, acked_at, "acknowledged", '{"by":"oncall","note":null,"until":null}'))
                if resolved_at is not None:
                    event_rows.append((alert_id, resolved_at, "resolved", resolved_auto))
                alert_rows.append(
                    (
                        alert_id,
                        rule.id,
                        rule.type,
                        rule.severity,
                        rule.name,
                        description,
                        ts,
                        max(1, (last_seen - ts) // MINUTE),
                        last_seen,
                        status,
                        acked_at,
                        acked_by,
                        None,
                        None,
                        resolved_at,
                        resolved_by,
                        0,
                        0,
                        rule.runbook_url,
                        labels,
                        metrics,
                        channels,
                        notified,
                        1,
                        ts,
                    )
                )
                notif_rows.append((alert_id, "console", "firing", "sent", 1, None, ts, None, ts, f"{i:032x}"))
                if i % 19 == 0:
                    notif_rows.append(
                        (
                            alert_id,
                            "slack",
                            "firing",
                            "failed",
                            1,
                            "channel 'slack': HTTP 500 from slack.com",
                            ts,
                            None,
                            None,
                            f"s{i:031x}",
                        )
                    )
            with store.transaction():
                store.conn.executemany(alert_sql, alert_rows)
                store.conn.executemany(event_sql, event_rows)
                store.conn.executemany(notif_sql, notif_rows)
            counts["alerts"] += len(alert_rows)
            counts["events"] += len(event_rows)
            counts["notifications"] += len(notif_rows)
            if not quiet:
                print(
                    f"\r{counts['alerts']:>10,} alerts  {time.monotonic() - started:6.1f}s",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if not quiet:
        print(file=sys.stderr)
    counts["seconds"] = round(time.monotonic() - started, 1)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, required=True, help="how many alerts to create")
    parser.add_argument("--db", required=True, help="the state database to fill (created when missing)")
    parser.add_argument("--config", default=str(ROOT / "rules.yaml"), help="rules.yaml with the rules to use")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    if args.alerts < 1:
        parser.error("--alerts must be at least 1")
    counts = seed(Path(args.db), args.alerts, now_ms(), Path(args.config), args.seed, args.quiet)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())

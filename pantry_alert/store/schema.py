"""The state database's schema: its identity, its version, and the forward migrations.

``MIGRATIONS[n]`` takes a database from version ``n`` to ``n + 1``; version 0
is an empty file.  Each step runs inside the transaction that ``db.connect``
opens for the whole migration.  sqlite-utils is imported only here, when a
database is created or migrated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

APPLICATION_ID = 0x50414C54  # "PALT": marks a pantry-alert database in the SQLite header
SCHEMA_VERSION = 10


def _create_schema(conn: sqlite3.Connection) -> None:
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    db.table("meta").create({"key": str, "value": str}, pk="key")
    db.table("alerts").create(
        {
            "id": str,
            "rule_id": str,
            "type": str,
            "severity": str,
            "title": str,
            "description": str,
            "timestamp": int,
            "count": int,
            "last_seen_at": int,
            "status": str,
            "acknowledged_at": int,
            "acknowledged_by": str,
            "ack_expires_at": int,
            "ack_note": str,
            "resolved_at": int,
            "resolved_by": str,
            "escalated": int,
            "silenced": int,
            "runbook_url": str,
            "labels": str,
            "metrics": str,
            "channels": str,
            "notified_channels": str,
            "rounds_at_severity": int,
            "last_notified_at": int,
        },
        pk="id",
        not_null={"rule_id", "type", "severity", "title", "timestamp", "status"},
    )
    db.table("events").create({"id": int, "alert_id": str, "at": int, "kind": str, "detail": str}, pk="id")
    db.table("notifications").create(
        {
            "id": int,
            "alert_id": str,
            "channel": str,
            "kind": str,
            "status": str,
            "attempts": int,
            "error": str,
            "created_at": int,
            "next_attempt_at": int,
            "sent_at": int,
            "idempotency_key": str,
        },
        pk="id",
        not_null={"alert_id", "channel", "kind", "status"},
    )
    db.table("rule_state").create(
        {
            "rule_id": str,
            "last_fired_at": int,
            "pending_since": int,
            "consecutive_breaches": int,
            "last_error": str,
        },
        pk="rule_id",
    )
    db.table("runs").create(
        {"id": int, "started_at": int, "finished_at": int, "exit_code": int, "summary": str}, pk="id"
    )
    db.table("alerts").create_index(["rule_id", "timestamp"])
    db.table("alerts").create_index(["timestamp"])
    conn.execute("CREATE INDEX idx_alerts_active ON alerts(timestamp) WHERE status != 'resolved'")
    db.table("events").create_index(["alert_id", "id"])
    db.table("notifications").create_index(["alert_id"])
    conn.execute(
        "CREATE INDEX idx_notifications_due ON notifications(next_attempt_at) "
        "WHERE status IN ('pending', 'failed', 'deferred')"
    )
    db.table("runs").create_index(["started_at"])


def _reporting_indexes(conn: sqlite3.Connection) -> None:
    """v2: covering indexes for stats/history/prune at a million alerts (benchmarks/bench_lifecycle.py)."""
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    db.table("alerts").create_index(
        ["rule_id", "type", "severity", "timestamp", "resolved_at", "id"], index_name="idx_alerts_rollup"
    )
    conn.execute("CREATE INDEX idx_events_acknowledged ON events(at, alert_id) WHERE kind = 'acknowledged'")
    db.table("notifications").create_index(["alert_id", "status"], index_name="idx_notifications_alert_id_status")
    conn.execute("DROP INDEX IF EXISTS idx_notifications_alert_id")  # a prefix of the one above


def _silences(conn: sqlite3.Connection) -> None:
    """v3: silences, and the batch key that groups notifications into one digest."""
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    db.table("silences").create(
        {
            "id": str,
            "rule_id": str,
            "starts_at": int,
            "ends_at": int,
            "reason": str,
            "created_by": str,
            "expired_by": str,
        },
        pk="id",
        not_null={"rule_id", "starts_at", "ends_at"},
    )
    db.table("silences").create_index(["rule_id", "ends_at"])
    db.table("silences").create_index(["ends_at"])
    db.table("notifications").add_column("batch", str)


def _resolved_metrics(conn: sqlite3.Connection) -> None:
    """v4: the values a rule's condition read when its alert resolved (shown beside the firing ones)."""
    conn.execute("ALTER TABLE alerts ADD COLUMN resolved_metrics TEXT")


def _metric_history(conn: sqlite3.Connection) -> None:
    """v5: the metric history, one row per run (``store.history`` says how a row is encoded)."""
    conn.execute("CREATE TABLE metric_paths (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE)")
    conn.execute("CREATE TABLE metric_layouts (id INTEGER PRIMARY KEY, path_ids TEXT NOT NULL UNIQUE)")
    conn.execute("CREATE TABLE metric_samples (at INTEGER PRIMARY KEY, layout INTEGER NOT NULL, data BLOB NOT NULL)")


def _heartbeats(conn: sqlite3.Connection) -> None:
    """v6: heartbeats (what is known of each one's pings, and when a check first saw it) and
    the pings themselves (the newest ones of each heartbeat)."""
    conn.execute(
        "CREATE TABLE heartbeats (name TEXT PRIMARY KEY, first_seen_at INTEGER, first_ping_at INTEGER, "
        "last_ping_at INTEGER, last_ping_kind TEXT, last_success_at INTEGER, started_at INTEGER, "
        "last_end_kind TEXT, last_exit_code INTEGER, last_output TEXT)"
    )
    conn.execute(
        "CREATE TABLE pings (id INTEGER PRIMARY KEY, heartbeat TEXT NOT NULL, at INTEGER NOT NULL, "
        "kind TEXT NOT NULL, exit_code INTEGER, output TEXT)"
    )
    conn.execute("CREATE INDEX idx_pings_heartbeat ON pings(heartbeat, id)")
    conn.execute("CREATE INDEX idx_pings_at ON pings(at)")


def _time_policy(conn: sqlite3.Connection) -> None:
    """v7: escalation policy steps, inhibition and flapping: per alert the policy step reached, when it
    was sent and the time spent acknowledged, whether it is inhibited; per notification its policy step;
    and each rule's verdict changes (flap detection, ``stats``)."""
    conn.execute("ALTER TABLE alerts ADD COLUMN inhibited INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE alerts ADD COLUMN policy_step INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE alerts ADD COLUMN step_at INTEGER")
    conn.execute("ALTER TABLE alerts ADD COLUMN acked_ms INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE alerts ADD COLUMN held_by TEXT")
    conn.execute("ALTER TABLE notifications ADD COLUMN step INTEGER")
    conn.execute("CREATE TABLE transitions (id INTEGER PRIMARY KEY, rule_id TEXT NOT NULL, at INTEGER NOT NULL)")
    conn.execute("CREATE INDEX idx_transitions_rule_at ON transitions(rule_id, at)")
    conn.execute("CREATE INDEX idx_transitions_at ON transitions(at)")


def _handed_marker(conn: sqlite3.Connection) -> None:
    """v8: when a notice was handed to a channel's worker, kept until its answer is recorded, so
    that a notice whose send may have arrived is never said to be unsent."""
    conn.execute("ALTER TABLE notifications ADD COLUMN handed_at INTEGER")


def _tokens(conn: sqlite3.Connection) -> None:
    """v9: scoped API tokens (only their SHA-256 is stored), the console's sign-in sessions, and an
    index for the console's history filtered by severity (benchmarks/bench_api.py --pages)."""
    conn.execute("CREATE INDEX idx_alerts_severity_timestamp ON alerts(severity, timestamp)")
    conn.execute(
        "CREATE TABLE tokens (name TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, scopes TEXT NOT NULL, "
        "created_at INTEGER NOT NULL, expires_at INTEGER, last_used_at INTEGER)"
    )
    conn.execute(
        "CREATE TABLE sessions (id_hash TEXT PRIMARY KEY, token_name TEXT NOT NULL, token_hash TEXT NOT NULL, "
        "csrf TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)"
    )
    conn.execute("CREATE INDEX idx_sessions_token ON sessions(token_name)")
    conn.execute("CREATE INDEX idx_sessions_expires ON sessions(expires_at)")


def _audit(conn: sqlite3.Connection) -> None:
    """v10: the audit log (who did what, when, from where)."""
    conn.execute(
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, "
        "action TEXT NOT NULL, target TEXT NOT NULL, details TEXT, client TEXT)"
    )
    conn.execute("CREATE INDEX idx_audit_at ON audit(at)")
    conn.execute("CREATE INDEX idx_audit_actor_at ON audit(actor, at)")


# Forward migrations: MIGRATIONS[n] takes a database from version n to n + 1.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: _create_schema,
    1: _reporting_indexes,
    2: _silences,
    3: _resolved_metrics,
    4: _metric_history,
    5: _heartbeats,
    6: _time_policy,
    7: _handed_marker,
    8: _tokens,
    9: _audit,
}

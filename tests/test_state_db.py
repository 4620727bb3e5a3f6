"""The state database: refused files stay byte-for-byte, locks time out to exit 4, runs serialize."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import struct

import pytest
from conftest import SIMPLE_CONFIG, T0

from pantry_alert.store.schema import SCHEMA_VERSION

LOCKED_CONFIG = SIMPLE_CONFIG + "state: {{lock_timeout: 100ms}}\n"


def test_corrupt_file_exit_4_untouched(simple):
    simple.db.write_bytes(b"this is not a database at all" * 10)
    before = simple.db.read_bytes()
    result = simple.check({"cpu": 95})
    assert result.code == 4
    assert f"error: state database {simple.db} is not an SQLite database" in result.err
    assert "Traceback" not in result.err
    assert simple.db.read_bytes() == before
    assert simple("list").code == 4


def test_corrupt_pages_behind_our_header_exit_4_untouched(simple):
    simple.check({"cpu": 1})
    data = bytearray(simple.db.read_bytes())
    for suffix in ("-wal", "-shm"):
        if os.path.exists(str(simple.db) + suffix):
            os.remove(str(simple.db) + suffix)
    data[100:] = b"\xff" * (len(data) - 100)
    simple.db.write_bytes(bytes(data))
    result = simple.check({"cpu": 95})
    assert result.code == 4 and "is unusable" in result.err
    assert simple.db.read_bytes() == bytes(data)


def test_another_programs_sqlite_file_exit_4_untouched(simple):
    conn = sqlite3.connect(simple.db)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.commit()
    conn.close()
    before = simple.db.read_bytes()
    result = simple.check({"cpu": 95})
    assert result.code == 4
    assert "an SQLite database of another program, not pantry-alert's" in result.err
    assert simple.db.read_bytes() == before
    assert not os.path.exists(str(simple.db) + "-wal")
    assert not os.path.exists(str(simple.db) + ".lock")


def test_newer_schema_exit_4_untouched(simple):
    simple.check({"cpu": 1})
    conn = sqlite3.connect(simple.db)
    conn.execute("PRAGMA user_version = 99")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    before = simple.db.read_bytes()
    assert struct.unpack(">I", before[60:64])[0] == 99
    result = simple.check({"cpu": 95})
    assert (
        result.code == 4
        and f"schema version 99, newer than this pantry-alert understands ({SCHEMA_VERSION})" in result.err
    )
    assert simple.db.read_bytes() == before


@pytest.mark.slow
def test_database_locked_past_lock_timeout_exit_4(simple):
    simple.config.write_text(LOCKED_CONFIG.format(severity="high", cooldown="10m"))
    simple.check({"cpu": 1})
    holder = sqlite3.connect(simple.db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        # In a subprocess: the lock is another process's, taken through the file system.  Within
        # one process SQLite settles locks between its connections in its own tables instead.
        result = simple.spawn("check", "--metrics-file", str(simple.metrics({"cpu": 95})), now=T0 + 60_000)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.code == 4
    assert f"error: state database {simple.db} is locked by another process past the lock timeout" in result.err
    assert "internal error" not in result.err
    conn = sqlite3.connect(simple.db)
    assert conn.execute("SELECT COUNT(*) FROM alerts").fetchone() == (0,)
    conn.close()


@pytest.mark.slow
def test_run_lock_held_past_timeout_exit_4(simple):
    simple.config.write_text(LOCKED_CONFIG.format(severity="high", cooldown="10m"))
    fd = os.open(str(simple.db) + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result = simple.spawn("check", "--metrics-file", str(simple.metrics({"cpu": 95})))  # another process's lock
    finally:
        os.close(fd)
    assert result.code == 4 and "another pantry-alert run holds" in result.err
    assert not simple.db.exists()


@pytest.mark.slow
def test_four_concurrent_checks_give_one_alert_and_one_notification_per_channel(cli):
    path = cli.metrics(
        {
            "p95ResponseTime": 2500,
            "errorRate": 0.0734,
            "memoryUsage": {"current": {"heapUsed": 900, "heapTotal": 1000}},
            "databaseErrors": 12,
            "failedLogins": 75,
        }
    )
    # Four processes at once: the run lock and SQLite's locks between processes.
    procs = [cli.popen("check", "--metrics-file", str(path), "--json") for _ in range(4)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [o[1] for o in outputs]
    fired = [json.loads(out)["fired"] for out, _ in outputs]
    assert sorted(len(f) for f in fired) == [0, 0, 0, 5]
    conn = sqlite3.connect(cli.db)
    assert conn.execute("SELECT rule_id, COUNT(*) FROM alerts GROUP BY rule_id").fetchall() == [
        ("database_connection_issues", 1),
        ("failed_login_attempts", 1),
        ("high_error_rate", 1),
        ("high_response_time", 1),
        ("memory_usage_high", 1),
    ]
    assert conn.execute(
        "SELECT channel, COUNT(*) FROM notifications WHERE status = 'sent' GROUP BY channel"
    ).fetchall() == [("console", 5)]
    conn.close()


def test_a_version_1_database_migrates_forward_keeping_its_alerts(simple):
    from pantry_alert.store.schema import APPLICATION_ID, _create_schema

    conn = sqlite3.connect(simple.db, isolation_level=None)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("BEGIN")
    _create_schema(conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO alerts (id, rule_id, type, severity, title, description, timestamp, count, "
        "last_seen_at, status, escalated, silenced, labels, metrics, channels, notified_channels) "
        f"VALUES ('cpu_high_{T0}', 'cpu_high', 'performance', 'high', 'CPU High', 'old', {T0}, 3, {T0}, "
        "'firing', 0, 0, '{}', '{}', '[\"console\"]', '[\"console\"]')"
    )
    conn.execute("COMMIT")
    conn.close()
    result = simple("list", "--json")
    assert result.code == 0 and [(a["id"], a["count"]) for a in result.json()] == [(f"cpu_high_{T0}", 3)]
    conn = sqlite3.connect(simple.db)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"idx_alerts_rollup", "idx_events_acknowledged", "idx_notifications_alert_id_status"} <= names
    assert "idx_notifications_alert_id" not in names
    conn.close()


def test_newer_schema_still_in_the_wal_is_refused_without_a_checkpoint(simple):
    simple.check({"cpu": 1})
    holder = sqlite3.connect(simple.db, isolation_level=None)  # keeps the WAL from being checkpointed on close
    holder.execute("SELECT 1 FROM alerts").fetchall()
    writer = sqlite3.connect(simple.db, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    writer.close()
    try:
        wal = str(simple.db) + "-wal"
        before = (simple.db.read_bytes(), open(wal, "rb").read())
        result = simple.check({"cpu": 95})
        assert (
            result.code == 4
            and f"schema version {SCHEMA_VERSION + 1}, newer than this pantry-alert understands" in result.err
        )
        assert (simple.db.read_bytes(), open(wal, "rb").read()) == before
    finally:
        holder.close()


def test_the_alerts_columns_are_the_alert_records_fields_in_order():
    from pantry_alert.model import Alert
    from pantry_alert.store import ALERT_COLUMNS

    assert ALERT_COLUMNS == Alert._fields

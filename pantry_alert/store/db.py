"""Opening the state database safely: identity checks, schema, migrations, locks.

The file is checked *before* SQLite touches it: a file that is not SQLite,
is another program's SQLite database, or comes from a newer pantry-alert is
refused (``StateError``, exit 4) and left byte-for-byte as it was.  Schema
creation and migrations use sqlite-utils, imported only when they run; the
hot path of a cron run uses plain ``sqlite3``.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StateError, StateLocked

APPLICATION_ID = 0x50414C54  # "PALT": marks a pantry-alert database in the SQLite header
SCHEMA_VERSION = 2
_MAGIC = b"SQLite format 3\x00"


def default_path(env=None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "pantry-alert" / "state.db"


_HEADER_FDS: dict[str, tuple[tuple[int, int], int]] = {}
_HEADER_LOCK = threading.Lock()


def _read_header(path: Path) -> bytes:
    """The file's first 100 bytes, read through a descriptor kept open for the life of the process.

    Closing *any* descriptor of a file drops every POSIX lock the process
    holds on it, those of its open SQLite connections included.  In a
    long-running process with several connections (``serve``), a plain
    open/read/close here would let another process believe it holds the last
    connection and delete the WAL under the open ones; so the descriptor
    stays open (one per file)."""
    key = os.path.realpath(path)
    info = os.stat(key)
    identity = (info.st_dev, info.st_ino)
    with _HEADER_LOCK:
        known = _HEADER_FDS.get(key)
        if known is None or known[0] != identity:
            fd = os.open(key, os.O_RDONLY | os.O_CLOEXEC)
            if known is not None:
                os.close(known[1])  # the file at this path was replaced: the old one is not in use here
            _HEADER_FDS[key] = (identity, fd)
        else:
            fd = known[1]
        return os.pread(fd, 100, 0)


def _check_header(path: Path) -> bool:
    """True when the file holds a pantry-alert database; False when it is empty (new).

    Raises ``StateError`` for anything else, without opening it with SQLite.
    """
    try:
        header = _read_header(path)
    except OSError as exc:
        raise StateError(f"state database {path}: cannot read it: {exc.strerror}") from None
    if not header:
        return False
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise StateError(
            f"state database {path} is not an SQLite database (corrupt, or another kind of file); it was left untouched",
            hint="point --db / PANTRY_ALERT_DB at another path, or move the file away",
        )
    user_version, application_id = struct.unpack(">I4xI", header[60:72])
    if application_id != APPLICATION_ID:
        raise StateError(
            f"state database {path} is an SQLite database of another program, not pantry-alert's; it was left untouched",
            hint="point --db / PANTRY_ALERT_DB at a path of its own",
        )
    if user_version > SCHEMA_VERSION:
        raise StateError(_newer(path, user_version))
    return True


def _newer(path, version) -> str:
    return (
        f"state database {path} has schema version {version}, newer than this pantry-alert "
        f"understands ({SCHEMA_VERSION}); upgrade pantry-alert. The file was left untouched"
    )


def _database_error(path, exc: sqlite3.Error) -> StateError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StateLocked(
            f"state database {path} is locked by another process past the lock timeout",
            hint="another pantry-alert run (or a tool holding the file) is still busy; raise state.lock_timeout if runs are slow",
        )
    if "unable to open" in text or "readonly" in text:
        return StateError(
            f"state database {path} cannot be opened: {text}",
            hint="SQLite needs write access to the file and its directory (for the -wal and -shm "
            "files); check the permissions, or run as the user that owns it",
        )
    return StateError(
        f"state database {path} is unusable: {text}",
        hint="restore it from a backup or move it away; pantry-alert did not change it",
    )


def _create_schema(conn: sqlite3.Connection) -> None:
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["alerts"].create(
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
    db["events"].create({"id": int, "alert_id": str, "at": int, "kind": str, "detail": str}, pk="id")
    db["notifications"].create(
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
    db["rule_state"].create(
        {
            "rule_id": str,
            "last_fired_at": int,
            "pending_since": int,
            "consecutive_breaches": int,
            "last_error": str,
        },
        pk="rule_id",
    )
    db["runs"].create({"id": int, "started_at": int, "finished_at": int, "exit_code": int, "summary": str}, pk="id")
    db["alerts"].create_index(["rule_id", "timestamp"])
    db["alerts"].create_index(["timestamp"])
    conn.execute("CREATE INDEX idx_alerts_active ON alerts(timestamp) WHERE status != 'resolved'")
    db["events"].create_index(["alert_id", "id"])
    db["notifications"].create_index(["alert_id"])
    conn.execute(
        "CREATE INDEX idx_notifications_due ON notifications(next_attempt_at) "
        "WHERE status IN ('pending', 'failed', 'deferred')"
    )
    db["runs"].create_index(["started_at"])


def _reporting_indexes(conn: sqlite3.Connection) -> None:
    """v2: covering indexes for stats/history/prune at a million alerts (benchmarks/bench_lifecycle.py)."""
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    db["alerts"].create_index(
        ["rule_id", "type", "severity", "timestamp", "resolved_at", "id"], index_name="idx_alerts_rollup"
    )
    conn.execute("CREATE INDEX idx_events_acknowledged ON events(at, alert_id) WHERE kind = 'acknowledged'")
    db["notifications"].create_index(["alert_id", "status"], index_name="idx_notifications_alert_id_status")
    conn.execute("DROP INDEX IF EXISTS idx_notifications_alert_id")  # a prefix of the one above


# Forward migrations: MIGRATIONS[n] takes a database from version n to n + 1.
MIGRATIONS: dict[int, callable] = {0: _create_schema, 1: _reporting_indexes}


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(_newer(path, version))
        if version == 0:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](conn)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def inspect(path: str | os.PathLike) -> bool:
    """True when ``path`` holds a pantry-alert database, False when it is absent or empty.

    Raises ``StateError`` (exit 4) for a directory, a foreign or corrupt file,
    or a newer schema, without writing anything: the schema version is read
    through a read-only connection, which never checkpoints a WAL.
    """
    path = Path(path)
    if path.is_dir():
        raise StateError(f"state database {path} is a directory", hint="point --db at a file")
    if not path.exists() or not _check_header(path):
        return False
    try:
        peek = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            version = peek.execute("PRAGMA user_version").fetchone()[0]
        finally:
            peek.close()
    except sqlite3.Error as exc:
        raise _database_error(path, exc) from None
    if version > SCHEMA_VERSION:
        raise StateError(_newer(path, version))
    return True


def connect(
    path: str | os.PathLike, *, create: bool = True, readonly: bool = False, timeout_ms: int = 30_000
) -> sqlite3.Connection | None:
    """Open the state database.

    Returns None when it does not exist and ``create`` is False.  Creates it
    with mode 0600 (and its directory with 0700) otherwise.
    """
    path = Path(path)
    exists = path.exists()
    ours = inspect(path)
    if not ours and (readonly or not create):
        return None
    try:
        if not exists:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        elif not ours and path.is_file():
            os.chmod(path, 0o600)  # an empty file someone made for us: it will hold alert data
    except OSError as exc:
        raise StateError(
            f"cannot create state database {path}: {exc.strerror}",
            hint="check the directory's permissions, or choose another --db",
        ) from None
    try:
        if readonly:
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        else:
            conn = sqlite3.connect(str(path), timeout=timeout_ms / 1000, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # first real read: corrupt files fail here
        if version > SCHEMA_VERSION:
            conn.close()
            raise StateError(_newer(path, version))
        if not readonly:
            if version < SCHEMA_VERSION:
                _migrate(conn, path)
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        raise _database_error(path, exc) from None
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, path="state database") -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: the write lock is taken up front (see LIBRARY-NOTES)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise _database_error(path, exc) from None
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise _database_error(path, exc) from None


@contextmanager
def run_lock(path: str | os.PathLike, timeout_ms: int) -> Iterator[None]:
    """The run lock: one ``check`` evaluates and delivers at a time.

    An advisory ``flock`` on ``<db>.lock`` (mode 0600).  Waits up to
    ``timeout_ms``; past it, ``StateError`` (exit 4).  The kernel drops the
    lock when the process dies, so a killed run never leaves it stuck.
    """
    lock_path = Path(str(path) + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise StateError(f"cannot create lock file {lock_path}: {exc.strerror}") from None
    deadline = time.monotonic() + timeout_ms / 1000
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StateLocked(
                        f"another pantry-alert run holds {lock_path} past the lock timeout ({timeout_ms / 1000:g}s)",
                        hint="a previous run is still sending; raise state.lock_timeout if runs are slow",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)

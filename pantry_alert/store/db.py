"""Connections and the run lock: opening the state database, migrating it forward, transactions.

Before a connection is made the file's identity is checked (``store.identity``);
SQLite errors become ``StateError`` through ``store.failures``.  The schema
and its migrations are in ``store.schema``; they use sqlite-utils, imported
only when they run; the hot path of a cron run uses plain ``sqlite3``.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StateError, StateLocked
from .failures import WRITE_HINT, database_error, write_problem
from .identity import connect_readonly, inspect, lock_path, newer, seal, verify
from .schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "connect",
    "connect_query_only",
    "connect_readonly",
    "default_path",
    "inspect",
    "run_lock",
    "seal",
    "transaction",
    "verify",
    "write_problem",
]


def default_path(env=None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "pantry-alert" / "state.db"


def connect_query_only(path: str | os.PathLike, *, timeout: float) -> sqlite3.Connection:
    """A connection through which SQLite refuses every write (``PRAGMA query_only``).

    Not a ``mode=ro`` one: on a WAL database whose -shm file is missing, such a
    connection keeps a private index and never sees other processes' commits.
    """
    conn = sqlite3.connect(os.path.realpath(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


_BUGS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a failed transaction.

    After a failed COMMIT or a full disk SQLite may have rolled the
    transaction back by itself; a ROLLBACK then fails with "no transaction
    is active", so it is only issued while one is.
    """
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(newer(path, version))
        if version == 0:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](conn)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def connect(
    path: str | os.PathLike, *, create: bool = True, readonly: bool = False, timeout_ms: int = 30_000
) -> sqlite3.Connection | None:
    """Open the state database.

    Returns None when it does not exist and ``create`` is False.  Creates it
    with mode 0600 (and its directory with 0700) otherwise.  For writing, a
    file that cannot be written is refused (``write_problem``) and an
    existing one is checked for damaged pages first (``inspect``); both
    leave the file as it was.
    """
    path = Path(path)
    exists = path.exists()
    ours = inspect(path)
    if not readonly:
        problem = write_problem(path)
        if problem is not None:
            raise problem
        if ours:
            verify(path)
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
    conn = None
    migrated = False
    try:
        if readonly:
            conn = connect_readonly(path, timeout=timeout_ms / 1000)
        else:
            conn = sqlite3.connect(str(path), timeout=timeout_ms / 1000, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # first real read: corrupt files fail here
        if version > SCHEMA_VERSION:
            raise StateError(newer(path, version))
        if not readonly:
            if version < SCHEMA_VERSION:
                _migrate(conn, path)
                migrated = True
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
    except (sqlite3.Error, StateError) as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, StateError):
            raise
        raise database_error(path, exc, untouched=not migrated) from None
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, path="state database") -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: the write lock is taken up front, so a
    busy database waits for the lock timeout instead of failing half-way.

    Any SQLite error inside, or at COMMIT (a full disk, an I/O error, a
    damaged page), rolls the whole transaction back and becomes a
    ``StateError`` (exit 4): nothing of it is half-applied.
    """
    untouched = conn.total_changes == 0  # no earlier change of this connection was committed
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise database_error(path, exc) from None
    try:
        yield conn
    except _BUGS:  # a constraint violated or an API misused: a bug (exit 70), not the database's state
        _rollback(conn)
        raise
    except sqlite3.Error as exc:
        _rollback(conn)
        raise database_error(path, exc, untouched=untouched) from None
    except BaseException:
        _rollback(conn)
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        _rollback(conn)
        raise database_error(path, exc, untouched=untouched) from None


@contextmanager
def run_lock(path: str | os.PathLike, timeout_ms: int) -> Iterator[None]:
    """The run lock: one ``check`` evaluates and delivers at a time.

    An advisory ``flock`` on ``<db>.lock`` (mode 0600).  Waits up to
    ``timeout_ms``; past it, ``StateError`` (exit 4).  The kernel drops the
    lock when the process dies, so a killed run never leaves it stuck.
    """
    problem = write_problem(path)
    if problem is not None:
        raise problem
    lock = lock_path(Path(path))
    try:
        lock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise StateError(f"cannot create lock file {lock}: {exc.strerror}", hint=WRITE_HINT) from None
    deadline = time.monotonic() + timeout_ms / 1000
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StateLocked(
                        f"another pantry-alert run holds {lock} past the lock timeout ({timeout_ms / 1000:g}s)",
                        hint="a previous run is still sending; raise state.lock_timeout if runs are slow",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)

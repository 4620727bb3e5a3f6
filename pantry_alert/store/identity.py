"""File identity: is this pantry-alert's database, and is it as pantry-alert left it?

The file is checked *before* SQLite touches it: a file that is not SQLite,
is another program's SQLite database, or comes from a newer pantry-alert is
refused (``StateError``, exit 4) and left byte-for-byte as it was.  A file
unchanged since a checked session (``seal``) skips the page check.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from _thread import allocate_lock  # threading's Lock, without importing threading
from pathlib import Path

from ..errors import StateError
from .failures import database_error, write_problem
from .schema import APPLICATION_ID, SCHEMA_VERSION

_MAGIC = b"SQLite format 3\x00"


_HEADER_FDS: dict[str, tuple[tuple[int, int], int]] = {}
_HEADER_LOCK = allocate_lock()


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
        raise StateError(newer(path, user_version))
    return True


def newer(path, version) -> str:
    return (
        f"state database {path} has schema version {version}, newer than this pantry-alert "
        f"understands ({SCHEMA_VERSION}); upgrade pantry-alert. The file was left untouched"
    )


def readonly_uri(path: str | os.PathLike) -> str:
    """The URI to read the database at ``path`` without writing anything.

    ``mode=ro`` when the database can be written (or has a ``-wal`` file
    with changes to read): SQLite then shares the write-ahead log with
    writers.  When the file cannot be written and no ``-wal`` holds changes,
    ``immutable=1``: a read-only connection would otherwise create (or
    chmod) ``-wal``/``-shm`` files with the file's read-only mode beside it.
    An immutable connection takes no locks: it assumes that no-one writes
    meanwhile.  This user cannot; a user with more rights writing at the same
    moment can make the read fail (exit 4), and never loses a change by it.
    """
    path = Path(path)
    uri = path.resolve().as_uri()
    if not _wal_has_frames(path) and write_problem(path) is not None:
        return f"{uri}?immutable=1"
    return f"{uri}?mode=ro"


def connect_readonly(path: str | os.PathLike, *, timeout: float) -> sqlite3.Connection:
    """A connection that reads the database at ``path`` and never writes to it (``readonly_uri``)."""
    return sqlite3.connect(readonly_uri(path), uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)


def lock_path(path: Path) -> Path:
    return Path(str(path) + ".lock")


def _signature(path: Path) -> str:
    """What changes whenever anything writes the file: device, inode, size, mtime and ctime (which no-one can set)."""
    st = os.stat(path)
    return f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"


def _sealed(path: Path) -> bool:
    """True when the file is exactly as pantry-alert left it after a checked session (see ``seal``)."""
    try:
        with open(lock_path(path), "rb") as fh:
            recorded = fh.read(200).decode("ascii", "replace").strip()
        return recorded == _signature(path)
    except OSError:
        return False


def seal(path: str | os.PathLike) -> None:
    """Record the file's signature in ``<db>.lock`` after a session that checked the database.

    The next session that opens it for writing skips ``PRAGMA quick_check``
    (which reads every page) when the file has not changed since: only a
    file that something else wrote (another tool, a restored backup, a
    damaged disk block rewritten...) is checked again.  Best effort: a
    missing or stale record only costs one check.
    """
    path = Path(path)
    try:
        line = _signature(path).encode() + b"\n"
        fd = os.open(lock_path(path), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, line, 0)
            os.ftruncate(fd, len(line))
        finally:
            os.close(fd)
    except OSError:
        pass


def _quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """``PRAGMA quick_check`` (every page's structure, not the index contents); StateError when it fails."""
    problems = [row[0] for row in conn.execute("PRAGMA quick_check(10)").fetchall()]
    if problems != ["ok"]:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise StateError(
            f"state database {path} is unusable: it is corrupt ({problems[0]}{more}); pantry-alert did not change it",
            hint="restore it from a backup or move it away (a new, empty one is created then); "
            f"`sqlite3 {path} .recover` may save what is readable",
        )


def _wal_has_frames(path: Path) -> bool:
    try:
        return os.path.getsize(f"{os.path.realpath(path)}-wal") > 0
    except OSError:
        return False


def inspect(path: str | os.PathLike) -> bool:
    """True when ``path`` holds a pantry-alert database, False when it is absent or empty.

    Raises ``StateError`` (exit 4) for a directory, a foreign or corrupt file,
    or a newer schema, without writing anything.  The schema version is the
    header's, unless a ``-wal`` file holds changes not yet copied into the
    file: then it is read through a read-only connection, which never
    checkpoints a WAL.
    """
    path = Path(path)
    if path.is_dir():
        raise StateError(f"state database {path} is a directory", hint="point --db at a file")
    if not path.exists() or not _check_header(path):
        return False
    if _wal_has_frames(path):
        try:
            peek = connect_readonly(path, timeout=5)
            try:
                version = peek.execute("PRAGMA user_version").fetchone()[0]
            finally:
                peek.close()
        except sqlite3.Error as exc:
            raise database_error(path, exc) from None
        if version > SCHEMA_VERSION:
            raise StateError(newer(path, version))
    return True


def verify(path: str | os.PathLike) -> None:
    """``PRAGMA quick_check`` on a read-only connection, unless the file is as a checked session left it.

    Run before a session that writes: a damaged page is refused (exit 4)
    before anything is written, so the file stays as it was.
    """
    path = Path(path)
    if _sealed(path):
        return
    try:
        peek = connect_readonly(path, timeout=5)
        try:
            _quick_check(peek, path)
        finally:
            peek.close()
    except sqlite3.Error as exc:
        raise database_error(path, exc) from None

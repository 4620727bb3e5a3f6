"""Opening the state database safely: identity checks, migrating it forward, locks.

The file is checked *before* SQLite touches it: a file that is not SQLite,
is another program's SQLite database, or comes from a newer pantry-alert is
refused (``StateError``, exit 4) and left byte-for-byte as it was.  The
schema and its migrations are in ``store.schema``; they use sqlite-utils,
imported only when they run; the hot path of a cron run uses plain ``sqlite3``.
"""

from __future__ import annotations

import errno
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
from .schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

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


# SQLite's primary result codes (``sqlite3.Error.sqlite_errorcode & 0xFF``).
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR = 5, 6, 8, 10
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 11, 13, 14, 26

WRITE_HINT = (
    "SQLite needs write access to the file and its directory (for the -wal and -shm "
    "files); check the permissions, or run as the user that owns it"
)


def _database_error(path, exc: sqlite3.Error, *, untouched: bool = True) -> StateError:
    """The ``StateError`` (exit 4) for an SQLite error on the state database.

    ``untouched`` says whether the file is as it was before this command:
    true when the failing statement was the command's first change (SQLite
    rolled it back), false when earlier transactions of the command were
    committed before it.
    """
    text = str(exc)
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    kept = (
        "pantry-alert did not change it"
        if untouched
        else "the change being written was rolled back; what this command had saved before it was kept"
    )
    if code in (SQLITE_BUSY, SQLITE_LOCKED) or "locked" in text or "busy" in text:
        return StateLocked(
            f"state database {path} is locked by another process past the lock timeout",
            hint="another pantry-alert run (or a tool holding the file) is still busy; raise state.lock_timeout if runs are slow",
        )
    if code == SQLITE_FULL or "disk is full" in text or (code == SQLITE_IOERR and _no_space_left(path)):
        folder = Path(path).parent
        if code == SQLITE_IOERR:
            text = f"{text}, {getattr(exc, 'sqlite_errorname', 'SQLITE_IOERR')}, with no space left on the file system"
        return StateError(
            f"state database {path}: disk full ({text}); {kept}",
            hint=f"free space on the file system that holds {folder} (`df -h {folder}`), then run the command again",
        )
    if code == SQLITE_READONLY or "readonly" in text:
        return StateError(f"state database {path} cannot be written: {text}", hint=WRITE_HINT)
    if code == SQLITE_CANTOPEN or "unable to open" in text:
        return StateError(f"state database {path} cannot be opened: {text}", hint=WRITE_HINT)
    if code == SQLITE_IOERR:
        return StateError(
            f"state database {path}: disk I/O error ({text}, {getattr(exc, 'sqlite_errorname', 'SQLITE_IOERR')}); {kept}",
            hint="check the disk and the kernel log (`dmesg`): a failing disk, a full file system or one "
            "remounted read-only all give this",
        )
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return StateError(
            f"state database {path} is unusable: {text} (the file is corrupt); {kept}",
            hint="restore it from a backup or move it away (a new, empty one is created then)",
        )
    return StateError(
        f"state database {path} is unusable: {text}",
        hint=f"restore it from a backup or move it away; {kept}",
    )


def _no_space_left(path) -> bool:
    """True when the file system holding ``path`` has (almost) no space left for this user.

    SQLite reports some writes on a full disk as I/O errors (growing the
    ``-shm`` file, for one); less than 64 KiB free tells them apart.
    """
    try:
        st = os.statvfs(Path(path).parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 65536


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EPERM:
        return "operation not permitted (an immutable file? `lsattr` shows the i flag, `chattr -i` clears it)"
    if exc.errno == errno.EROFS:
        return "the file system is mounted read-only"
    if exc.errno == errno.EACCES:
        return "permission denied (the file is read-only for this user)"
    return exc.strerror or str(exc)


def _write_errno(path: Path) -> OSError:
    """Why ``access(path, W_OK)`` said no, as the error an open for writing would give."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return OSError(errno.EROFS, "read-only file system")
    except OSError:
        pass
    st = os.stat(path)
    if st.st_uid == os.geteuid():
        bit = 0o200
    elif st.st_gid == os.getegid() or st.st_gid in os.getgroups():
        bit = 0o020
    else:
        bit = 0o002
    if not st.st_mode & bit:
        return OSError(errno.EACCES, "permission denied")
    return OSError(errno.EPERM, "operation not permitted")  # the mode allows it: an immutable flag


def write_problem(path: str | os.PathLike) -> StateError | None:
    """Why SQLite could not write the existing database at ``path``; None when it can (or it does not exist).

    Checked before SQLite opens the file for writing: SQLite would open a
    read-only file read-only without a word, fail at the first write, and
    leave ``-wal``/``-shm`` files with the file's read-only mode beside it,
    which break later runs.  The directory must be writable too: SQLite
    creates those two files (and deletes the ``-wal``) there.
    """
    path = Path(path)
    if not path.is_file():
        return None
    # access(2), not open(2): opening and closing the file in this process would drop the POSIX
    # locks that this process's own SQLite connections hold on it (a long-running server has some).
    if not os.access(path, os.W_OK):
        return StateError(f"state database {path} cannot be written: {_reason(_write_errno(path))}", hint=WRITE_HINT)
    folder = Path(os.path.realpath(path)).parent  # SQLite puts -wal and -shm beside the real file
    companions = [Path(f"{folder / Path(os.path.realpath(path)).name}{suffix}") for suffix in ("-wal", "-shm")]
    for companion in companions:
        if companion.exists() and not os.access(companion, os.W_OK):
            return StateError(
                f"state database {path} cannot be written: {companion} is read-only for this user",
                hint=f"give the user running pantry-alert write access to {companion}; or, while no pantry-alert "
                "command runs, delete it (a -shm file always may go; a -wal file only when it is empty: "
                "otherwise it holds the last changes)",
            )
    if not os.access(folder, os.W_OK | os.X_OK) and not all(c.exists() for c in companions):
        try:
            readonly_fs = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            readonly_fs = False
        why = (
            "the file system is mounted read-only"
            if readonly_fs
            else "the directory is not writable for this user (permissions, or an immutable flag: `lsattr -d`)"
        )
        return StateError(
            f"state database {path} cannot be written: SQLite must create its -wal and -shm files in {folder}, and {why}",
            hint=WRITE_HINT,
        )
    return None


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
            raise StateError(_newer(path, version))
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


def _lock_path(path: Path) -> Path:
    return Path(str(path) + ".lock")


def _signature(path: Path) -> str:
    """What changes whenever anything writes the file: device, inode, size, mtime and ctime (which no-one can set)."""
    st = os.stat(path)
    return f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"


def _sealed(path: Path) -> bool:
    """True when the file is exactly as pantry-alert left it after a checked session (see ``seal``)."""
    try:
        with open(_lock_path(path), "rb") as fh:
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
        fd = os.open(_lock_path(path), os.O_WRONLY | os.O_CREAT, 0o600)
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
            raise _database_error(path, exc) from None
        if version > SCHEMA_VERSION:
            raise StateError(_newer(path, version))
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
        raise _database_error(path, exc) from None


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
            raise StateError(_newer(path, version))
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
        raise _database_error(path, exc, untouched=not migrated) from None
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
        raise _database_error(path, exc) from None
    try:
        yield conn
    except _BUGS:  # a constraint violated or an API misused: a bug (exit 70), not the database's state
        _rollback(conn)
        raise
    except sqlite3.Error as exc:
        _rollback(conn)
        raise _database_error(path, exc, untouched=untouched) from None
    except BaseException:
        _rollback(conn)
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        _rollback(conn)
        raise _database_error(path, exc, untouched=untouched) from None


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
    lock_path = _lock_path(Path(path))
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise StateError(f"cannot create lock file {lock_path}: {exc.strerror}", hint=WRITE_HINT) from None
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

"""Error translation: what an SQLite or OS error on the state database means, said as a ``StateError``.

``database_error`` turns an ``sqlite3.Error`` into the message and hint a
person can act on (locked, disk full, read-only, corrupt...);
``write_problem`` says, before SQLite opens the file, why it could not be
written.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from ..errors import StateError, StateLocked

# SQLite's primary result codes (``sqlite3.Error.sqlite_errorcode & 0xFF``).
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR = 5, 6, 8, 10
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 11, 13, 14, 26

WRITE_HINT = (
    "SQLite needs write access to the file and its directory (for the -wal and -shm "
    "files); check the permissions, or run as the user that owns it"
)


def database_error(path, exc: sqlite3.Error, *, untouched: bool = True) -> StateError:
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

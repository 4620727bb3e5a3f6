"""Replacing a file whole: never half-written, whatever fails (``rules.yaml`` edits, ``review -o``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(
    path: Path, text: str, *, mode: int, owner: tuple[int, int] | None = None, keep_locked: bool = False
) -> int | None:
    """Write ``text`` to a temporary file beside ``path`` (``mode``, and ``owner`` when the process
    may give it), flush it to disk and rename it over ``path``; then flush the directory.

    ``keep_locked``: the new file is ``flock``-ed before it takes ``path``'s place, and the
    descriptor holding that lock is returned, for the caller to close when its work is done:
    whoever opens ``path`` from the rename on waits for it.

    Raises ``OSError``; the temporary file is gone then and ``path`` is as it was."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    held = -1
    try:
        if keep_locked:
            import fcntl

            held = os.dup(fd)  # the same open file: its lock outlives the writer below
            fcntl.flock(held, fcntl.LOCK_EX)  # nobody else can have this new file yet
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if owner is not None and owner != (os.getuid(), os.getgid()):
            try:
                os.chown(tmp, *owner)
            except PermissionError:
                pass  # only root may give a file away; the file keeps its mode
        os.replace(tmp, path)
    except BaseException:
        if held >= 0:
            os.close(held)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return held if keep_locked else None

"""Replacing a file whole: never half-written, whatever fails (``rules.yaml`` edits, ``review -o``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(path: Path, text: str, *, mode: int, owner: tuple[int, int] | None = None) -> None:
    """Write ``text`` to a temporary file beside ``path`` (``mode``, and ``owner`` when the process
    may give it), flush it to disk and rename it over ``path``; then flush the directory.

    Raises ``OSError``; the temporary file is gone then and ``path`` is as it was."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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

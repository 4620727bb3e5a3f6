"""Where rules.yaml and the state database are, without loading anything heavy.

Shared by ``Workspace`` and by the light paths that must not load the whole
configuration (``ping``, on every job's cron line).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from .config import Config

DEFAULT_CONFIG = "rules.yaml"


def resolve_db_path(config: Config, db_option: str | None, env: Mapping[str, str]) -> Path:
    """The state database: ``--db``/``PANTRY_ALERT_DB``, else ``state.path`` (relative to the
    config file), else ``$XDG_STATE_HOME/pantry-alert/state.db``.  A path that exists but is not
    a regular file (a FIFO, a device, a directory) is refused (``StateError``)."""
    return db_path(config.path, config.state.path, db_option, env)


def db_path(config_file: Path, state_path: str | None, db_option: str | None, env: Mapping[str, str]) -> Path:
    """``resolve_db_path`` from the config file's path and its ``state.path``."""
    if db_option:
        path = Path(db_option)
    elif state_path:
        path = Path(os.path.expanduser(state_path))
        path = path if path.is_absolute() else config_file.parent / path
    else:
        from .store import default_path

        path = default_path(env)
    _refuse_non_regular(path)  # before anything opens it: opening a FIFO would wait forever
    return path


def _refuse_non_regular(path: Path) -> None:
    import stat

    from .errors import StateError

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing (created later) or unreadable: the store says what is wrong
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise StateError(
            f"state database {path} is {kind}; it was not opened",
            hint="point --db (or PANTRY_ALERT_DB, state.path) at a regular file or at a path that does not exist yet",
        )

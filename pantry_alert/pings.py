"""Recording a heartbeat's ping: the library call behind ``pantry-alert ping`` and ``/ping/...``.

A ping runs on every job's cron line, so this module stays light: no
dataclasses, no full configuration.  ``read_target`` reads only what a ping
needs from rules.yaml (the heartbeat names and the ``state`` settings);
``check`` and ``rules validate`` check the rest.  The server, which has the
whole configuration loaded, makes its ``Target`` with ``target_of``.

A ping never takes the run lock: it is one short ``BEGIN IMMEDIATE``
transaction, which waits at most ``state.lock_timeout`` for the few short
transactions of a running ``check``.
"""

from __future__ import annotations

from pathlib import Path

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping

    from .workspace import Workspace

KINDS = ("success", "start", "fail")
MAX_EXIT_CODE = 255
OUTPUT_LINES = 10  # lines of a job's output kept with a ping
OUTPUT_CHARS = 4000  # and at most this many characters of them (the last ones)


class Target:
    """Where pings go: the rules.yaml they are checked against, its heartbeat names, the state
    database and how long a ping may wait for it (None: ``state.lock_timeout``'s default, which
    is the store's)."""

    __slots__ = ("config_path", "names", "db_path", "lock_timeout_ms")

    def __init__(self, config_path: Path, names: list[str], db_path: Path, lock_timeout_ms: int | None):
        self.config_path = config_path
        self.names = names
        self.db_path = db_path
        self.lock_timeout_ms = lock_timeout_ms


def read_target(config_path: str | None, db_option: str | None, env: Mapping[str, str]) -> Target:
    """The ``Target`` of rules.yaml, from its heartbeat names and ``state`` section only, when
    those are plain values; otherwise (a ``${VAR}`` to fill in, a value to report with its line)
    through the whole loader.  Raises ``ConfigError`` (exit 2) for an invalid file."""
    from .config_file import read_document
    from .paths import DEFAULT_CONFIG, db_path

    path = Path(config_path or DEFAULT_CONFIG)
    data, _text = read_document(path)
    plain = _plain_settings(data)
    if plain is None:
        from .config import load
        from .paths import resolve_db_path

        config = load(path, env)
        names = [hb.name for hb in config.heartbeats]
        return Target(path, names, resolve_db_path(config, db_option, env), config.state.lock_timeout_ms)
    names, state_path, lock_timeout_ms = plain
    return Target(path, names, db_path(path, state_path, db_option, env), lock_timeout_ms)


def _plain_settings(data) -> tuple[list[str], str | None, int | None] | None:
    """(heartbeat names, ``state.path``, ``state.lock_timeout`` in ms) when each is absent or a
    plain valid value; None otherwise."""
    import re

    from .timeutil import parse_duration

    if not isinstance(data, dict):
        return None
    heartbeats, state = data.get("heartbeats"), data.get("state") or {}
    if not isinstance(heartbeats, dict) or not isinstance(state, dict):
        return None
    names = list(heartbeats)
    if not all(isinstance(name, str) and re.fullmatch(r"[a-z0-9_]+", name) for name in names):
        return None
    path, timeout = state.get("path"), state.get("lock_timeout")
    if any(isinstance(value, str) and "${" in value for value in (path, timeout)):
        return None
    if path is not None and not isinstance(path, str):
        return None
    lock_timeout_ms = None
    if timeout is not None:
        try:
            lock_timeout_ms = parse_duration(timeout, what="lock_timeout")
        except ValueError:
            return None
        if lock_timeout_ms <= 0:
            return None
    return names, path or None, lock_timeout_ms


def target_of(ws: Workspace) -> Target:
    """The ``Target`` of a workspace whose whole configuration is loaded (the server's)."""
    config = ws.config()
    return Target(config.path, [hb.name for hb in config.heartbeats], ws.db_path(), config.state.lock_timeout_ms)


def record_ping(
    target: Target,
    name: str,
    kind: str = "success",
    *,
    now: int,
    exit_code: int | None = None,
    output: str | None = None,
) -> None:
    """Record one ping of the heartbeat ``name``: ``success``, ``start`` or ``fail``, with the
    job's exit code and output (its last ``OUTPUT_LINES`` lines are kept).

    Raises ``UnknownHeartbeat`` for a name that rules.yaml does not define (nothing is
    recorded), ``UsageError`` for a bad kind or exit code, and ``StateError`` when the state
    database cannot be written (``StateLocked`` past ``state.lock_timeout``)."""
    from .errors import UnknownHeartbeat, UsageError
    from .store import DEFAULT_WAIT_MS, open_store
    from .store.pings import record

    if kind not in KINDS:
        raise UsageError(f"a ping is one of {', '.join(KINDS)}, not {kind!r}")
    if exit_code is not None and (isinstance(exit_code, bool) or not 0 <= exit_code <= MAX_EXIT_CODE):
        raise UsageError(f"an exit code is a whole number from 0 to {MAX_EXIT_CODE}, not {exit_code!r}")
    if name not in target.names:
        from .text import printable

        raise UnknownHeartbeat(
            f"unknown heartbeat '{printable(name)[:100]}' in {target.config_path}",
            hint=f"heartbeats: {', '.join(target.names) or 'none'} (add it under heartbeats: in rules.yaml)",
        )
    text = tail(clean_text(output)) if output else None
    with open_store(target.db_path, timeout_ms=target.lock_timeout_ms or DEFAULT_WAIT_MS) as store:
        record(store, name, kind, now, exit_code, text or None)


def tail(text: str, lines: int = OUTPUT_LINES, chars: int = OUTPUT_CHARS) -> str:
    """The last ``lines`` lines of ``text``, at most ``chars`` characters of them."""
    kept = "\n".join(text.rstrip("\n").splitlines()[-lines:])
    return kept[-chars:]


def clean_text(text: str) -> str:
    """Text that can be stored and sent: lone surrogates (undecodable bytes in an argument)
    become U+FFFD, and NUL characters are dropped."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")

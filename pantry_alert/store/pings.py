"""Heartbeat pings: recording one, reading what is known of each heartbeat, bounding and pruning.

A ping is one short ``BEGIN IMMEDIATE`` transaction (its row, the heartbeat's
summary, and the trim to the newest ``MAX_PINGS``); it never takes the run
lock, so a running ``check`` delays it only by the length of one of its own
short transactions.  The summary row in ``heartbeats`` is what a check reads:
it survives ``prune``, which deletes old pings only.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from . import Store

MAX_PINGS = 1000  # kept per heartbeat, the newest ones

# heartbeats.PingRecord's fields, in order (written out so that a ping need not import the
# heartbeats module; tests/test_heartbeats.py holds the two to each other).
_COLUMNS = (
    "name",
    "first_seen_at",
    "first_ping_at",
    "last_ping_at",
    "last_ping_kind",
    "last_success_at",
    "started_at",
    "last_end_kind",
    "last_exit_code",
    "last_output",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM heartbeats"
_SAVE = (
    f"INSERT INTO heartbeats ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    f"ON CONFLICT(name) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _COLUMNS[1:])}"
)
_TRIM = (
    "DELETE FROM pings WHERE heartbeat = ?1 AND id <= "
    "(SELECT id FROM pings WHERE heartbeat = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"
)


def record(store: Store, name: str, kind: str, at: int, exit_code: int | None, output: str | None) -> None:
    """Store one ping and what it changes in the heartbeat's summary, in one transaction."""
    with store.transaction() as conn:
        rows = conn.execute(_SELECT + " WHERE name = ?", (name,)).fetchall()
        summary = merge(
            dict(zip(_COLUMNS, rows[0], strict=True)) if rows else {"name": name}, kind, at, exit_code, output
        )
        conn.execute(_SAVE, tuple(summary.get(column) for column in _COLUMNS))
        conn.execute(
            "INSERT INTO pings (heartbeat, at, kind, exit_code, output) VALUES (?, ?, ?, ?, ?)",
            (name, at, kind, exit_code, output),
        )
        conn.execute(_TRIM, (name, MAX_PINGS))


def merge(summary: dict, kind: str, at: int, exit_code: int | None, output: str | None) -> dict:
    """A heartbeat's summary (the columns of ``PingRecord``) after one more ping, changed in place.

    Of several pings at the same instant, the one recorded last is the last ping; a ping
    older than the last one (from a clock that was behind) only counts where it is the latest
    of its kind."""
    if summary.get("first_ping_at") is None or at < summary["first_ping_at"]:
        summary["first_ping_at"] = at
    latest = summary.get("last_ping_at") is None or at >= summary["last_ping_at"]
    if latest:
        summary["last_ping_at"], summary["last_ping_kind"] = at, kind
    if kind == "success" and (summary.get("last_success_at") is None or at >= summary["last_success_at"]):
        summary["last_success_at"] = at
    if latest:
        if kind == "start":
            summary["started_at"] = at
        else:  # the run ended: this is how
            summary["started_at"] = None
            summary["last_end_kind"], summary["last_exit_code"], summary["last_output"] = kind, exit_code, output
    return summary


def records(store: Store) -> dict[str, dict]:
    """name -> what is known of that heartbeat's pings (the fields of ``heartbeats.PingRecord``)."""
    return {row[0]: dict(zip(_COLUMNS, row, strict=True)) for row in store._rows(_SELECT)}


def mark_seen(store: Store, names: list[str], now: int) -> None:
    """Remember when a check first saw each heartbeat (inside the caller's transaction)."""
    store.open_conn.executemany(
        "INSERT INTO heartbeats (name, first_seen_at) VALUES (?, ?) ON CONFLICT(name) "
        "DO UPDATE SET first_seen_at = excluded.first_seen_at WHERE first_seen_at IS NULL",
        [(name, now) for name in names],
    )


def last_successes(store: Store) -> dict[str, int]:
    """name -> its last success ping (epoch ms), for the heartbeats that had one."""
    return {name: at for name, at in store._rows("SELECT name, last_success_at FROM heartbeats") if at is not None}


def prune(conn, cutoff: int, *, dry_run: bool = False) -> int:
    """Delete (or, with ``dry_run``, count) the pings older than ``cutoff``; the heartbeats'
    summaries stay, so their states do not change."""
    if dry_run:
        return conn.execute("SELECT COUNT(*) FROM pings WHERE at < ?", (cutoff,)).fetchone()[0]
    return conn.execute("DELETE FROM pings WHERE at < ?", (cutoff,)).rowcount

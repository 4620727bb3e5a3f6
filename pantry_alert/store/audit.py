"""The audit log's rows: one per human action, written inside the action's own transaction.

Rows go in and come out as ``(at, actor, action, target, details, client)``;
``audit.Entry`` is the library's view of one.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from . import Store

_COLUMNS = "at, actor, action, target, details, client"


def _has_audit(store: Store) -> bool:
    """False for no database yet, or one opened read-only before its upgrade to the audit log."""
    return bool(store._rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'"))


def record(store: Store, entry) -> None:
    """Write ``entry`` (an ``audit.Entry``) inside the caller's transaction: it commits or rolls
    back with the action."""
    store.open_conn.execute(
        f"INSERT INTO audit ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (
            entry.at,
            entry.actor,
            entry.action,
            entry.target,
            json.dumps(entry.details, separators=(",", ":"), ensure_ascii=False),
            entry.client,
        ),
    )


def entries(
    store: Store, *, since: int | None = None, actor: str | None = None, limit: int | None = None
) -> list[tuple[int, str, str, str, dict[str, Any], str | None]]:
    """``(at, actor, action, target, details, client)`` of the entries at or after ``since``, of ``actor`` when given, newest first (at most ``limit``)."""
    if not _has_audit(store):
        return []
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    if actor is not None:
        where.append("actor = ?")
        params.append(actor)
    sql = f"SELECT {_COLUMNS} FROM audit" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY at DESC, id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [
        (at, who, action, target, json.loads(details) if details else {}, client)
        for at, who, action, target, details, client in store._rows(sql, params)
    ]


def prune(store: Store, *, cutoff: int, dry_run: bool = False) -> int:
    """Delete the entries older than ``cutoff`` (inside the caller's transaction); how many (would) go."""
    if not _has_audit(store):
        return 0
    if dry_run:
        ((count,),) = store._rows("SELECT COUNT(*) FROM audit WHERE at < ?", (cutoff,))
        return count
    return store.open_conn.execute("DELETE FROM audit WHERE at < ?", (cutoff,)).rowcount

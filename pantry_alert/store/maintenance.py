"""``prune`` and ``vacuum``: deleting old resolved alerts with everything that hangs on them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from . import history as store_history
from .failures import database_error
from .pings import prune as prune_pings

__all__ = ["PruneResult", "prune", "vacuum"]

# A resolved alert whose notifications are still on their way (a resolved
# notification recorded by `resolve` that the next check sends, a failed one
# still being retried, a deferred one) is kept until they are done: the
# partial index idx_notifications_due holds exactly those.
_UNDELIVERED = """
SELECT alert_id FROM notifications
WHERE status IN ('pending', 'failed', 'deferred') AND (status != 'failed' OR next_attempt_at IS NOT NULL)
"""
_PRUNABLE = f"status = 'resolved' AND timestamp < ?1 AND id NOT IN ({_UNDELIVERED})"
_SURVIVES = f"status != 'resolved' OR timestamp >= ?1 OR id IN ({_UNDELIVERED})"  # NOT _PRUNABLE
_KEPT = f"SELECT COUNT(*) FROM alerts WHERE status = 'resolved' AND timestamp < ?1 AND id IN ({_UNDELIVERED})"


@dataclass
class PruneResult:
    """What a prune removed, and its cutoff."""

    cutoff: int
    alerts: int = 0
    events: int = 0
    notifications: int = 0
    runs: int = 0
    audit: int = 0  # audit log entries older than their own cutoff (audit.retention)
    pings: int = 0  # heartbeat pings older than the cutoff
    silences: int = 0  # silences that ended before the cutoff
    kept: int = 0  # resolved alerts before the cutoff kept for their undelivered notifications
    dry_run: bool = False
    history_runs: int = 0  # runs whose metric samples were older than the history's own cutoff


def prune(
    store,
    *,
    cutoff: int,
    dry_run: bool = False,
    history_cutoff: int | None = None,
    audit_cutoff: int | None = None,
) -> PruneResult:
    """Delete resolved alerts fired before ``cutoff`` with their events and
    notifications, the runs and the heartbeat pings before it and the silences
    that ended before it, in one transaction; and the metric samples of the
    runs before ``history_cutoff`` and the audit entries older than
    ``audit_cutoff`` (each when given).
    Unresolved alerts are never touched.  With ``dry_run``, count what would
    go and change nothing.

    Two ways to delete, same result: row by row when up to two thirds of
    the alerts go (the hourly prune), or, when more go (a first prune
    of a big database), by copying the survivors aside, emptying the three
    tables (SQLite's truncate optimisation frees whole pages instead of
    unlinking rows from every index) and putting the survivors back.
    ``secure_delete`` is FAST meanwhile: freed pages are not overwritten
    with zeros one by one (``--vacuum`` drops them from the file).
    """
    from . import audit

    result = PruneResult(cutoff=cutoff, dry_run=dry_run)
    if store.conn is None:
        return result
    if dry_run:
        if audit_cutoff is not None:
            result.audit = audit.prune(store, cutoff=audit_cutoff, dry_run=True)
        ((result.alerts,),) = store._rows(f"SELECT COUNT(*) FROM alerts WHERE {_PRUNABLE}", (cutoff,))
        for table in ("events", "notifications"):
            ((count,),) = store._rows(
                f"SELECT COUNT(*) FROM {table} WHERE alert_id IN (SELECT id FROM alerts WHERE {_PRUNABLE})", (cutoff,)
            )
            setattr(result, table, count)
        ((result.runs,),) = store._rows("SELECT COUNT(*) FROM runs WHERE started_at < ?", (cutoff,))
        ((result.silences,),) = store._rows("SELECT COUNT(*) FROM silences WHERE ends_at < ?", (cutoff,))
        ((result.kept,),) = store._rows(_KEPT, (cutoff,))
        result.pings = prune_pings(store.conn, cutoff, dry_run=True)
        if history_cutoff is not None:
            result.history_runs = store_history.count_before(store, history_cutoff)
        return result
    conn = store.conn
    ((secure_delete,),) = store._rows("PRAGMA secure_delete")
    conn.execute("PRAGMA secure_delete = FAST")
    try:
        with store.transaction():
            ((result.kept,),) = conn.execute(_KEPT, (cutoff,)).fetchall()
            ((result.alerts,),) = conn.execute(f"SELECT COUNT(*) FROM alerts WHERE {_PRUNABLE}", (cutoff,)).fetchall()
            ((total,),) = conn.execute("SELECT COUNT(*) FROM alerts").fetchall()
            if result.alerts * 3 > total * 2:  # most go: copying the rest is cheaper
                _prune_by_copy(conn, cutoff, result)
            elif result.alerts:
                _prune_rows(conn, cutoff, result)
            result.runs = conn.execute("DELETE FROM runs WHERE started_at < ?", (cutoff,)).rowcount
            result.pings = prune_pings(conn, cutoff)
            result.silences = conn.execute("DELETE FROM silences WHERE ends_at < ?", (cutoff,)).rowcount
            if history_cutoff is not None:
                result.history_runs = store_history.prune(conn, history_cutoff)
            if audit_cutoff is not None:
                result.audit = audit.prune(store, cutoff=audit_cutoff)
    except sqlite3.Error as exc:
        raise database_error(store.path, exc) from None
    finally:
        conn.execute(f"PRAGMA secure_delete = {int(secure_delete)}")
    return result


def _prune_rows(conn, cutoff: int, result: PruneResult) -> None:
    """Children first, then the alerts; the ids are chosen once."""
    conn.execute(f"CREATE TEMP TABLE prune_ids AS SELECT id FROM main.alerts WHERE {_PRUNABLE}", (cutoff,))
    result.events = conn.execute("DELETE FROM main.events WHERE alert_id IN temp.prune_ids").rowcount
    result.notifications = conn.execute("DELETE FROM main.notifications WHERE alert_id IN temp.prune_ids").rowcount
    result.alerts = conn.execute("DELETE FROM main.alerts WHERE id IN temp.prune_ids").rowcount
    conn.execute("DROP TABLE temp.prune_ids")


def _prune_by_copy(conn, cutoff: int, result: PruneResult) -> None:
    """Keep the (fewer) survivors aside, empty the tables, put them back.

    Rows keep their ids (events' and notifications' are their rowids).  Events
    or notifications that belong to no alert at all would go too.
    """
    conn.execute(f"CREATE TEMP TABLE keep_alerts AS SELECT * FROM main.alerts WHERE {_SURVIVES}", (cutoff,))
    for table in ("events", "notifications"):
        conn.execute(
            f"CREATE TEMP TABLE keep_{table} AS SELECT * FROM main.{table} "
            f"WHERE alert_id IN (SELECT id FROM temp.keep_alerts)"
        )
    for table in ("events", "notifications", "alerts"):
        deleted = conn.execute(f"DELETE FROM main.{table}").rowcount  # no WHERE: the truncate optimisation
        restored = conn.execute(f"INSERT INTO main.{table} SELECT * FROM temp.keep_{table}").rowcount
        setattr(result, table, deleted - restored)
        conn.execute(f"DROP TABLE temp.keep_{table}")


def vacuum(store) -> None:
    """Give the freed pages back to the file system (outside any transaction)."""
    if store.conn is None:
        return
    try:
        store.conn.execute("VACUUM")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # in WAL mode the file shrinks at the checkpoint
    except sqlite3.Error as exc:  # locked, disk full...
        raise database_error(store.path, exc, untouched=store.conn.total_changes == 0) from None

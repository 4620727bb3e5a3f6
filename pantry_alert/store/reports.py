"""The SQL behind ``ack``, ``stats`` and ``prune`` (``history`` is ``Store.list_alerts``).

Every function takes a ``Store`` and does its work in SQLite: aggregates are
computed by SQL over indexes, never by looping over alert rows in Python, so
the commands stay fast on a database of a million alerts.  Reads go through
``Store._rows`` (a missing database reads as empty; SQLite errors become
``StateError``); writes run inside ``store.transaction()``.

Indexes these queries are written for (schema v2):

- ``idx_alerts_rollup ON alerts(rule_id, type, severity, timestamp, resolved_at, id)``:
  ``stats`` walks the few distinct (rule, type, severity) groups with index
  seeks and aggregates each group's time range from the index alone.
- ``idx_events_acknowledged ON events(at, alert_id) WHERE kind = 'acknowledged'``:
  mean time to acknowledge.
- ``idx_notifications_alert_id_status ON notifications(alert_id, status)``:
  notification counts of the alerts in the window (replaces
  ``idx_notifications_alert_id``, its prefix).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import Alert, Event
from .db import _database_error, readonly_uri

__all__ = ["NOTIFICATION_STATUSES", "PruneResult", "acknowledge", "prune", "stats", "vacuum"]

NOTIFICATION_STATUSES = ("pending", "sent", "failed", "skipped", "deferred")


# -------------------------------------------------------------------- ack


def acknowledge(
    store, alert_id: str, *, by: str, note: str | None, until: int | None, now: int
) -> tuple[str, Alert | None]:
    """Acknowledge a firing alert.

    Returns ``(outcome, alert)``: ``"acknowledged"`` when it was done (the
    alert as it is now), else why not: ``"missing"``, ``"resolved"`` or
    ``"already"`` (acknowledged, and that acknowledgement has not expired).
    An acknowledgement whose ``--for`` ran out before any ``check`` noticed
    counts as expired: it gets its ``ack_expired`` event (at the expiry time)
    and the new acknowledgement replaces it.
    """
    with store.transaction():
        alert = store.get_alert(alert_id)
        if alert is None:
            return "missing", None
        if alert.resolved:
            return "resolved", alert
        if alert.status == "acknowledged":
            if alert.ack_expires_at is None or alert.ack_expires_at > now:
                return "already", alert
            store.add_event(Event(alert.id, alert.ack_expires_at, "ack_expired", {}))
        store.conn.execute(
            "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, ack_note = ?, "
            "ack_expires_at = ? WHERE id = ?",
            (now, by, note, until, alert.id),
        )
        store.add_event(Event(alert.id, now, "acknowledged", {"by": by, "note": note, "until": until}))
        alert.status, alert.acknowledged_at, alert.acknowledged_by, alert.ack_expires_at = (
            "acknowledged",
            now,
            by,
            until,
        )
    return "acknowledged", alert


# ------------------------------------------------------------------ stats

# The distinct (rule_id, type, severity) groups, found with index seeks (a
# "loose index scan": a handful of MIN() lookups per group, however many rows).
_GROUP_WALK = """
WITH RECURSIVE
  rules(rule_id) AS (
    SELECT MIN(rule_id) FROM alerts
    UNION ALL
    SELECT (SELECT MIN(rule_id) FROM alerts WHERE rule_id > rules.rule_id) FROM rules WHERE rule_id IS NOT NULL),
  types(rule_id, type) AS (
    SELECT rule_id, (SELECT MIN(type) FROM alerts WHERE rule_id = rules.rule_id)
    FROM rules WHERE rule_id IS NOT NULL
    UNION ALL
    SELECT rule_id, (SELECT MIN(type) FROM alerts WHERE rule_id = types.rule_id AND type > types.type)
    FROM types WHERE type IS NOT NULL),
  groups(rule_id, type, severity) AS (
    SELECT rule_id, type, (SELECT MIN(severity) FROM alerts WHERE rule_id = types.rule_id AND type = types.type)
    FROM types WHERE type IS NOT NULL
    UNION ALL
    SELECT rule_id, type, (SELECT MIN(severity) FROM alerts WHERE rule_id = groups.rule_id
                                  AND type = groups.type AND severity > groups.severity)
    FROM groups WHERE severity IS NOT NULL)
"""
# Each group's window is one range of the index, (rule_id, type, severity) = g
# AND timestamp > cutoff, aggregated from the index alone: no sort, no table
# reads.  The aggregates come back packed as a JSON array per group.
_GROUPS = (
    _GROUP_WALK
    + """
SELECT g.rule_id, g.type, g.severity,
  (SELECT json_array(COUNT(*), COUNT(resolved_at), TOTAL(resolved_at - timestamp))
   FROM alerts WHERE rule_id = g.rule_id AND type = g.type AND severity = g.severity AND timestamp > ?1)
FROM groups g WHERE g.severity IS NOT NULL
"""
)
_STATUS_TOTALS = ", ".join(f"TOTAL(n.status = '{s}')" for s in NOTIFICATION_STATUSES)
_GROUP_NOTIFICATIONS = (
    _GROUP_WALK
    + f"""
SELECT (SELECT json_array({_STATUS_TOTALS})
        FROM alerts a JOIN notifications n ON n.alert_id = a.id
        WHERE a.rule_id = g.rule_id AND a.type = g.type AND a.severity = g.severity AND a.timestamp > ?1)
FROM groups g WHERE g.severity IS NOT NULL
"""
)

# Unresolved alerts per rule, whatever the window (the partial index idx_alerts_active).
_ACTIVE = "SELECT rule_id, COUNT(*) FROM alerts WHERE status != 'resolved' GROUP BY +rule_id"

# Time to acknowledge: from firing to the *first* 'acknowledged' event, which
# survives an expired acknowledgement (the engine clears acknowledged_at then).
# An alert fired after the cutoff was acknowledged after it too, so the
# events can be narrowed by time first (the partial index idx_events_acknowledged).
_ACKNOWLEDGE = """
SELECT COUNT(*), TOTAL(first_at - fired_at) FROM (
  SELECT MIN(a.timestamp) AS fired_at, MIN(e.at) AS first_at
  FROM events e JOIN alerts a ON a.id = e.alert_id
  WHERE e.kind = 'acknowledged' AND e.at > ?1 AND a.timestamp > ?1
  GROUP BY +e.alert_id)
"""


def _mean(total: float, count: int) -> int:
    return round(total / count) if count else 0


def _notification_counts(path: Path, cutoff: int) -> dict[str, int]:
    """Notifications of the alerts in the window, by status, on a read-only connection of its own."""
    conn = sqlite3.connect(readonly_uri(path), uri=True, timeout=30, isolation_level=None)
    try:
        packed = conn.execute(_GROUP_NOTIFICATIONS, (cutoff,)).fetchall()
    finally:
        conn.close()
    counts = [json.loads(row[0]) for row in packed]
    return {status: int(sum(c[i] for c in counts)) for i, status in enumerate(NOTIFICATION_STATUSES)}


def stats(store, *, now: int, window: int) -> dict[str, Any]:
    """The ``stats --json`` object (SPEC §6) over alerts with ``timestamp > now - window``.

    The notification counts (one index seek per alert in the window, the
    costliest part) run on a second read-only connection in a worker thread,
    in parallel with the alert aggregates: SQLite releases the GIL and WAL
    lets readers share the file.
    """
    from concurrent.futures import ThreadPoolExecutor

    cutoff = now - window
    notifications = dict.fromkeys(NOTIFICATION_STATUSES, 0)
    groups: list[tuple] = []
    active: dict[str, int] = {}
    acked_count, acked_total = 0, 0.0
    if store.conn is not None:
        with ThreadPoolExecutor(max_workers=1) as pool:
            counting = pool.submit(_notification_counts, store.path, cutoff)
            for rule_id, type_, severity, packed in store._rows(_GROUPS, (cutoff,)):
                count, resolved, resolution = json.loads(packed)
                if count:
                    groups.append((rule_id, type_, severity, count, resolved, resolution))
            active = dict(store._rows(_ACTIVE))
            ((acked_count, acked_total),) = store._rows(_ACKNOWLEDGE, (cutoff,))
            try:
                notifications = counting.result()
            except sqlite3.Error as exc:
                raise _database_error(store.path, exc) from None

    by_type: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    totals: dict[str, list] = {}  # rule id -> [count, resolved, resolution total]
    for rule_id, type_, severity, count, resolved, resolution in groups:  # a few rows per rule, not per alert
        by_type[type_] = by_type.get(type_, 0) + count
        by_severity[severity] = by_severity.get(severity, 0) + count
        t = totals.setdefault(rule_id, [0, 0, 0.0])
        t[0] += count
        t[1] += resolved
        t[2] += resolution
    by_rule = {}
    for rule_id in sorted(set(totals) | set(active)):
        count, resolved, resolution = totals.get(rule_id, (0, 0, 0.0))
        by_rule[rule_id] = {
            "count": count,
            "active": active.get(rule_id, 0),
            "averageResolutionTime": _mean(resolution, resolved),
        }
    return {
        "total": sum(t[0] for t in totals.values()),
        "active": sum(active.values()),
        "byType": by_type,
        "bySeverity": by_severity,
        "averageResolutionTime": _mean(sum(t[2] for t in totals.values()), sum(t[1] for t in totals.values())),
        "averageAcknowledgeTime": _mean(acked_total, acked_count),
        "byRule": by_rule,
        "notifications": notifications,
    }


# ------------------------------------------------------------------ prune

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
    cutoff: int
    alerts: int = 0
    events: int = 0
    notifications: int = 0
    runs: int = 0
    kept: int = 0  # resolved alerts before the cutoff kept for their undelivered notifications
    dry_run: bool = False


def prune(store, *, cutoff: int, dry_run: bool = False) -> PruneResult:
    """Delete resolved alerts fired before ``cutoff`` with their events and
    notifications, and the runs started before it, in one transaction.
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
    result = PruneResult(cutoff=cutoff, dry_run=dry_run)
    if store.conn is None:
        return result
    if dry_run:
        ((result.alerts,),) = store._rows(f"SELECT COUNT(*) FROM alerts WHERE {_PRUNABLE}", (cutoff,))
        for table in ("events", "notifications"):
            ((count,),) = store._rows(
                f"SELECT COUNT(*) FROM {table} WHERE alert_id IN (SELECT id FROM alerts WHERE {_PRUNABLE})", (cutoff,)
            )
            setattr(result, table, count)
        ((result.runs,),) = store._rows("SELECT COUNT(*) FROM runs WHERE started_at < ?", (cutoff,))
        ((result.kept,),) = store._rows(_KEPT, (cutoff,))
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
    except sqlite3.Error as exc:
        raise _database_error(store.path, exc) from None
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
        raise _database_error(store.path, exc, untouched=store.conn.total_changes == 0) from None

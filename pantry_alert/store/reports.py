"""The SQL behind ``stats`` (``history`` is ``Store.list_alerts``).

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
from pathlib import Path
from typing import Any

from .failures import database_error
from .identity import connect_readonly

__all__ = ["NOTIFICATION_STATUSES", "stats"]

NOTIFICATION_STATUSES = ("pending", "sent", "failed", "skipped", "deferred", "unknown")


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
    conn = connect_readonly(path, timeout=30)
    try:
        packed = conn.execute(_GROUP_NOTIFICATIONS, (cutoff,)).fetchall()
    finally:
        conn.close()
    counts = [json.loads(row[0]) for row in packed]
    return {status: int(sum(c[i] for c in counts)) for i, status in enumerate(NOTIFICATION_STATUSES)}


# Each rule's verdict changes (breach to clear or back) in the window (flap detection keeps them).
_TRANSITIONS = "SELECT rule_id, COUNT(*) FROM transitions WHERE at > ? GROUP BY rule_id"


def _has_transitions(store) -> bool:
    """False for a database opened read-only before its upgrade to verdict changes."""
    return bool(store._rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'transitions'"))


def stats(store, *, now: int, window: int) -> dict[str, Any]:
    """The ``stats --json`` object (docs/commands.md, ``stats``) over alerts with ``timestamp > now - window``.

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
    transitions: dict[str, int] = {}
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
            transitions = dict(store._rows(_TRANSITIONS, (cutoff,))) if _has_transitions(store) else {}
            try:
                notifications = counting.result()
            except sqlite3.Error as exc:
                raise database_error(store.path, exc) from None

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
    for rule_id in sorted(set(totals) | set(active) | set(transitions)):
        count, resolved, resolution = totals.get(rule_id, (0, 0, 0.0))
        by_rule[rule_id] = {
            "count": count,
            "active": active.get(rule_id, 0),
            "averageResolutionTime": _mean(resolution, resolved),
            "transitions": transitions.get(rule_id, 0),
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

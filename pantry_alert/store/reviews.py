"""The SQL behind ``review`` (the alerts that overlapped one) and ``report`` (a window's alerts)."""

from __future__ import annotations

from . import _SELECT_ALERT, alert_from_row

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from ..model import Alert
    from . import Store

MAX_OVERLAPPING = 50


def overlapping(store: Store, alert_id: str, start: int, end: int) -> list[Alert]:
    """Other alerts that were unresolved at some moment of [start, end], oldest first (at most 50)."""
    rows = store._rows(
        _SELECT_ALERT + " WHERE timestamp <= ? AND (resolved_at IS NULL OR resolved_at >= ?) AND id != ? "
        "ORDER BY timestamp, id LIMIT ?",
        (end, start, alert_id, MAX_OVERLAPPING),
    )
    return [alert_from_row(row) for row in rows]


def window_alerts(store: Store, since: int, until: int) -> list[tuple]:
    """``(id, rule_id, fired at, resolved at, first acknowledgement at)`` of the alerts fired in
    [since, until), oldest first."""
    return store._rows(
        "SELECT a.id, a.rule_id, a.timestamp, a.resolved_at, "
        "(SELECT MIN(e.at) FROM events e WHERE e.alert_id = a.id AND e.kind = 'acknowledged') "
        "FROM alerts a WHERE a.timestamp >= ? AND a.timestamp < ? ORDER BY a.timestamp, a.id",
        (since, until),
    )


def window_notifications(store: Store, since: int, until: int) -> list[tuple]:
    """``(rule_id, sent at)`` of every notification sent for the alerts fired in [since, until)."""
    return store._rows(
        "SELECT a.rule_id, n.sent_at FROM alerts a JOIN notifications n ON n.alert_id = a.id "
        "WHERE a.timestamp >= ? AND a.timestamp < ? AND n.status = 'sent' AND n.sent_at IS NOT NULL",
        (since, until),
    )

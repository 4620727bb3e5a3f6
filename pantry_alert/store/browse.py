"""The SQL behind the web console's pages: history pages, alerts per day, time to acknowledge per rule.

History is paged by key (``timestamp DESC, id DESC``, the next page starting
after the last row shown), never by ``OFFSET``: any page costs the same index
seek, on ten alerts or a million.  Indexes these queries use:
``idx_alerts_timestamp``, ``idx_alerts_active`` (unresolved alerts),
``idx_alerts_rule_id_timestamp`` and ``idx_alerts_severity_timestamp``.
"""

from __future__ import annotations

from typing import Any

from ..model import Alert
from . import _SELECT_ALERT, Store, alert_from_row

DAY = 86_400_000
STATUSES = ("active", "firing", "acknowledged", "resolved")


def history_page(
    store: Store,
    *,
    rule: str | None = None,
    severity: str | None = None,
    status: str | None = None,
    since: int | None = None,
    until: int | None = None,
    after: tuple[int, str] | None = None,
    limit: int = 50,
) -> tuple[list[Alert], tuple[int, str] | None]:
    """One page of alerts, newest first, and the key of the next page (None: this is the last).

    ``status`` is ``active`` (unresolved), ``firing``, ``acknowledged`` or
    ``resolved``; ``since``/``until`` bound the firing time (ms, until
    exclusive); ``after`` is the (timestamp, id) of the last alert of the
    previous page."""
    where: list[str] = []
    params: list[Any] = []
    if status == "active":
        where.append("status != 'resolved'")
    elif status in ("firing", "acknowledged"):
        where.append("status != 'resolved' AND +status = ?")
        params.append(status)
    elif status == "resolved":
        where.append("+status = 'resolved'")
    if rule is not None and severity is not None:
        return _by_rule_and_severity(store, rule, severity, where, params, after, limit)
    if rule is not None:
        where.append("rule_id = ?")
        params.append(rule)
    if severity is not None:
        where.append("severity = ?")
        params.append(severity)
    if since is not None:
        where.append("timestamp >= ?")
        params.append(since)
    if until is not None:
        where.append("timestamp < ?")
        params.append(until)
    _after(where, params, after)
    sql = (
        _SELECT_ALERT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY timestamp DESC, id DESC LIMIT ?"
    )
    params.append(limit + 1)
    return _page([alert_from_row(r) for r in store._rows(sql, params)], limit)


def _after(where: list[str], params: list[Any], after: tuple[int, str] | None) -> None:
    if after is not None:
        where.append("timestamp <= ? AND (timestamp < ? OR id < ?)")
        params.extend((after[0], after[0], after[1]))


def _by_rule_and_severity(store, rule, severity, where, params, after, limit):
    """A rule and a severity together: one seek per alert type in ``idx_alerts_rollup`` (rule, type,
    severity, timestamp...), each already in order, merged; one index alone would scan every alert
    of the rule (or of the severity) when the two rarely meet."""
    from ..config import TYPES

    _after(where, params, after)
    parts, all_params = [], []
    for type_ in TYPES:
        conditions = ["rule_id = ?", "type = ?", "severity = ?", *where]
        parts.append(
            f"SELECT * FROM ({_SELECT_ALERT} WHERE {' AND '.join(conditions)} ORDER BY timestamp DESC, id DESC LIMIT ?)"
        )
        all_params.extend([rule, type_, severity, *params, limit + 1])
    sql = " UNION ALL ".join(parts) + " ORDER BY timestamp DESC, id DESC LIMIT ?"
    rows = store._rows(sql, [*all_params, limit + 1])
    return _page([alert_from_row(r) for r in rows], limit)


def _page(alerts: list[Alert], limit: int) -> tuple[list[Alert], tuple[int, str] | None]:
    if len(alerts) > limit:
        last = alerts[limit - 1]
        return alerts[:limit], (last.timestamp, last.id)
    return alerts, None


def alerts_per_day(store: Store, *, first_day: int, last_day: int, offset_ms: int = 0) -> dict[int, int]:
    """Day number (days since 1970-01-01 in a zone ``offset_ms`` ahead of UTC) -> alerts fired that
    day, for the days ``first_day`` to ``last_day``, from the timestamp index alone."""
    rows = store._rows(
        "SELECT (timestamp + ?1) / ?2 AS day, COUNT(*) FROM alerts WHERE timestamp >= ?3 AND timestamp < ?4 GROUP BY day",
        (offset_ms, DAY, first_day * DAY - offset_ms, (last_day + 1) * DAY - offset_ms),
    )
    return dict(rows)


# Time to acknowledge per rule: from firing to the first 'acknowledged' event
# (the same measure as ``stats``, grouped by rule).
_ACKNOWLEDGE_BY_RULE = """
SELECT rule_id, COUNT(*), TOTAL(first_at - fired_at) FROM (
  SELECT MIN(a.rule_id) AS rule_id, MIN(a.timestamp) AS fired_at, MIN(e.at) AS first_at
  FROM events e JOIN alerts a ON a.id = e.alert_id
  WHERE e.kind = 'acknowledged' AND e.at > ?1 AND a.timestamp > ?1
  GROUP BY +e.alert_id)
GROUP BY rule_id
"""


def rule_summary(store: Store, *, since: int) -> dict[str, dict[str, Any]]:
    """Rule id -> ``{"count", "active", "resolved", "resolution", "acked", "acknowledge"}`` for the alerts
    fired after ``since`` (``resolution`` and ``acknowledge``: total ms, for means), from the indexes
    ``stats`` uses (its group walk), without the notification counts."""
    import json

    from .reports import _ACTIVE, _GROUPS

    out: dict[str, dict[str, Any]] = {}

    def entry(rule: str) -> dict[str, Any]:
        return out.setdefault(
            rule, {"count": 0, "active": 0, "resolved": 0, "resolution": 0.0, "acked": 0, "acknowledge": 0.0}
        )

    for rule, _type, _severity, packed in store._rows(_GROUPS, (since,)):
        count, resolved, resolution = json.loads(packed)
        if count:
            e = entry(rule)
            e["count"] += count
            e["resolved"] += resolved
            e["resolution"] += resolution
    for rule, active in store._rows(_ACTIVE):
        entry(rule)["active"] = active
    for rule, count, total in store._rows(_ACKNOWLEDGE_BY_RULE, (since,)):
        e = entry(rule)
        e["acked"], e["acknowledge"] = count, total
    return dict(sorted(out.items()))

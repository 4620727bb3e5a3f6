"""The SQL behind ``/healthz`` and ``/metrics``: the last run, and current counts.

Reads only, through ``Store._rows`` (a missing database reads as empty;
SQLite errors become ``StateError``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["last_run", "active_counts", "notification_counts"]


def last_run(store) -> dict[str, Any] | None:
    """The newest logged ``check`` run: ``{"startedAt", "finishedAt", "exitCode"}``, or None.

    Uses the index on ``runs(started_at)``."""
    rows = store._rows("SELECT started_at, finished_at, exit_code FROM runs ORDER BY started_at DESC, id DESC LIMIT 1")
    if not rows:
        return None
    started, finished, code = rows[0]
    return {"startedAt": started, "finishedAt": finished, "exitCode": code}


def active_counts(store) -> list[tuple[str, str, int]]:
    """``(rule_id, severity, count)`` of the unresolved alerts (the partial index of active alerts)."""
    return [
        (rule, severity, count)
        for rule, severity, count in store._rows(
            "SELECT rule_id, severity, COUNT(*) FROM alerts WHERE status != 'resolved' "
            "GROUP BY +rule_id, +severity ORDER BY 1, 2"
        )
    ]


def notification_counts(store) -> list[tuple[str, str, int]]:
    """``(channel, status, count)`` of every stored notification (a full scan: it runs per scrape,
    not per request)."""
    return [
        (channel, status, count)
        for channel, status, count in store._rows(
            "SELECT channel, status, COUNT(*) FROM notifications GROUP BY channel, status ORDER BY 1, 2"
        )
    ]

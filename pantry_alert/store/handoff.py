"""Reads for handing alert state to Alertmanager: recent resolutions and escalations."""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..model import Alert
from . import _SELECT_ALERT, Store, alert_from_row


def resolved_since(store: Store, since: int) -> list[Alert]:
    """Alerts resolved at or after ``since`` (epoch ms), oldest first."""
    rows = store._rows(_SELECT_ALERT + " WHERE status = 'resolved' AND resolved_at >= ? ORDER BY resolved_at", (since,))
    return [alert_from_row(row) for row in rows]


def escalations_since(store: Store, alert_ids: Iterable[str], since: int) -> list[tuple[str, str, int]]:
    """``(alert id, severity before, escalated at)`` for escalations at or after ``since``."""
    ids = list(dict.fromkeys(alert_ids))
    out: list[tuple[str, str, int]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        rows = store._rows(
            f"SELECT alert_id, at, detail FROM events WHERE alert_id IN ({marks}) AND kind = 'escalated' "
            "AND at >= ? ORDER BY id",
            (*chunk, since),
        )
        for alert_id, at, detail in rows:
            previous = json.loads(detail or "{}").get("from")
            if previous:
                out.append((alert_id, previous, at))
    return out

"""The rows the notification policy reads and writes: silences and digest batches.

A silence mutes one rule's notifications from ``starts_at`` until ``ends_at``
(epoch ms).  Expiring one by hand moves its ``ends_at`` to that moment, as
Alertmanager does, so "active" is always ``starts_at <= now < ends_at``.
While a silence covers a rule, the rule's unresolved alerts carry
``silenced = 1``; adding and expiring a silence update them at once (with a
timeline event), and a ``check`` keeps them right when a silence runs out.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..model import Event
from . import Store

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

_SILENCE_COLUMNS = "id, rule_id, starts_at, ends_at, reason, created_by, expired_by"


def _has_silences(store: Store) -> bool:
    """False for no database yet, or one opened read-only before its upgrade to silences."""
    return bool(store._rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'silences'"))


def silence_json(row: tuple, now: int) -> dict[str, Any]:
    silence_id, rule_id, starts_at, ends_at, reason, created_by, expired_by = row
    status = "active" if starts_at <= now < ends_at else ("upcoming" if starts_at > now else "expired")
    return {
        "kind": "silence",
        "id": silence_id,
        "ruleId": rule_id,
        "startsAt": starts_at,
        "endsAt": ends_at,
        "reason": reason,
        "createdBy": created_by,
        "status": status,
    }


def get_silence(store: Store, silence_id: str, now: int) -> dict[str, Any] | None:
    if not _has_silences(store):
        return None
    rows = store._rows(f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE id = ?", (silence_id,))
    return silence_json(rows[0], now) if rows else None


def list_silences(store: Store, now: int, limit: int | None = None) -> list[dict[str, Any]]:
    """The silences, the active ones first (ending soonest first), then the upcoming ones (starting
    soonest first), then the expired (latest first); at most ``limit`` of them (every active or
    upcoming one comes before any expired one)."""
    if not _has_silences(store):
        return []
    rows = store._rows(
        f"SELECT {_SILENCE_COLUMNS} FROM silences ORDER BY ends_at DESC, id LIMIT ?",
        (-1 if limit is None else limit,),
    )
    silences = [silence_json(row, now) for row in rows]
    active = sorted((s for s in silences if s["status"] == "active"), key=lambda s: (s["endsAt"], s["id"]))
    upcoming = sorted((s for s in silences if s["status"] == "upcoming"), key=lambda s: (s["startsAt"], s["id"]))
    return active + upcoming + [s for s in silences if s["status"] == "expired"]


def active_silences(store: Store, now: int) -> dict[str, dict[str, Any]]:
    """rule id -> the active silence that ends last."""
    if not _has_silences(store):
        return {}
    rows = store._rows(
        f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE ends_at > ? AND starts_at <= ? ORDER BY ends_at", (now, now)
    )
    return {row[1]: silence_json(row, now) for row in rows}


def add_silence(
    store: Store,
    rule_id: str,
    *,
    ends_at: int,
    reason: str | None,
    by: str,
    now: int,
    starts_at: int | None = None,
) -> dict[str, Any]:
    """Record a silence (from ``starts_at``, default now) and, when it is active already, mark the
    rule's unresolved alerts silenced (inside the caller's transaction).  A silence that starts
    later marks them at the first ``check`` after it starts."""
    import uuid  # here: uuid imports platform, which a check that adds no silence need not load

    silence_id = str(uuid.uuid4())
    starts_at = now if starts_at is None else starts_at
    store.open_conn.execute(
        f"INSERT INTO silences ({_SILENCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL)",
        (silence_id, rule_id, starts_at, ends_at, reason, by),
    )
    detail = {"silence": silence_id, "until": ends_at, "by": by}
    if reason:
        detail["reason"] = reason
    if starts_at <= now < ends_at:
        _mark(store, rule_id, True, detail, now)
    return silence_json((silence_id, rule_id, starts_at, ends_at, reason, by, None), now)


def expire_silence(store: Store, silence_id: str, *, by: str, now: int) -> dict[str, Any]:
    """End a silence now; the rule's alerts are unmuted unless another silence still covers it."""
    store.open_conn.execute(
        "UPDATE silences SET starts_at = MIN(starts_at, ?), ends_at = ?, expired_by = ? WHERE id = ?",
        (now, now, by, silence_id),
    )
    silence = get_silence(store, silence_id, now)
    assert silence is not None
    if silence["ruleId"] not in active_silences(store, now):
        _mark(store, silence["ruleId"], False, {"silence": silence_id, "reason": "the silence was expired"}, now)
    return silence


def _mark(store: Store, rule_id: str, silenced: bool, detail: dict[str, Any], now: int) -> None:
    rows = store._rows(
        "SELECT id FROM alerts WHERE rule_id = ? AND status != 'resolved' AND silenced = ?",
        (rule_id, int(not silenced)),
    )
    for (alert_id,) in rows:
        store.open_conn.execute("UPDATE alerts SET silenced = ? WHERE id = ?", (int(silenced), alert_id))
        store.add_event(Event(alert_id, now, "silenced" if silenced else "unsilenced", dict(detail)))


def batch_keys(store: Store, ids: Iterable[int]) -> dict[int, str]:
    """notification id -> its digest batch key, for the given undelivered notifications that have one."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = store._rows(
        "SELECT id, batch FROM notifications WHERE status IN ('pending', 'failed', 'deferred') "
        "AND next_attempt_at IS NOT NULL AND batch IS NOT NULL"
    )
    return {row_id: batch for row_id, batch in rows if row_id in wanted}


def capture_due(store: Store, now: int) -> list[tuple[str, str, str, int | None]]:
    """Mark every notification due at ``now`` as sent without sending it (``rules test --cases``);
    return ``(alert id, channel, kind, escalation step)`` of each, in the order they were recorded."""
    rows = store._rows(
        "SELECT id, alert_id, channel, kind, step FROM notifications "
        "WHERE status IN ('pending', 'failed', 'deferred') "
        "AND next_attempt_at IS NOT NULL AND next_attempt_at <= ? ORDER BY id",
        (now,),
    )
    for row_id, *_ in rows:
        store.open_conn.execute(
            "UPDATE notifications SET status = 'sent', attempts = attempts + 1, sent_at = ?, next_attempt_at = NULL "
            "WHERE id = ?",
            (now, row_id),
        )
    return [(alert_id, channel, kind, step) for _, alert_id, channel, kind, step in rows]


def recent_transitions(store: Store, since: int) -> dict[str, list[int]]:
    """rule id -> the times its verdict changed after ``since`` (oldest first); flap detection."""
    if not store._rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'transitions'"):
        return {}
    out: dict[str, list[int]] = {}
    for rule_id, at in store._rows("SELECT rule_id, at FROM transitions WHERE at > ? ORDER BY at, id", (since,)):
        out.setdefault(rule_id, []).append(at)
    return out


def plan_facts(store: Store, config, now: int) -> dict[str, Any]:
    """What ``planning.plan_step`` reads from the store besides the alerts: the rules' stored
    state, the active silences and the recent verdict changes."""
    from ..policy import lookback_ms

    lookback = lookback_ms(config)
    return {
        "rule_states": store.rule_states(),
        "silences": active_silences(store, now),
        "transitions": recent_transitions(store, now - lookback) if lookback else {},
    }

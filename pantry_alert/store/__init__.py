"""The SQLite state store: alerts, events, notifications, rule state, runs.

``Store`` never prints and never reads the clock: callers pass ``now``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from ..errors import StateError
from .db import SCHEMA_VERSION, connect, connect_query_only, default_path, run_lock, seal, transaction, write_problem

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from ..audit import Entry
    from ..model import Alert, Event, Intent, RuleState
    from .outbox import Outbox

# The model's dataclasses and the outbox load where they are used: a ping, which only writes its
# own rows, does without them (and without ``dataclasses``, ~10 ms of every run that imports it).


__all__ = ["Store", "open_store", "default_path", "run_lock", "SCHEMA_VERSION", "DEFAULT_WAIT_MS"]

DEFAULT_WAIT_MS = 30_000  # how long a write waits for the database by default (state.lock_timeout's default)


def record_audit(store: Store, entry: Entry) -> None:
    from .audit import record

    record(store, entry)


_JSON_FIELDS = ("labels", "metrics", "channels", "notified_channels", "resolved_metrics")
_BOOL_FIELDS = ("escalated", "silenced", "inhibited")
# The alerts table's columns, the Alert record's fields in the same order (written out here so that a
# ping need not import the model; tests/test_state_db.py holds the two to each other).
ALERT_COLUMNS = (
    "id",
    "rule_id",
    "type",
    "severity",
    "title",
    "description",
    "timestamp",
    "count",
    "last_seen_at",
    "status",
    "acknowledged_at",
    "acknowledged_by",
    "ack_expires_at",
    "resolved_at",
    "resolved_by",
    "escalated",
    "silenced",
    "runbook_url",
    "labels",
    "metrics",
    "channels",
    "notified_channels",
    "rounds_at_severity",
    "last_notified_at",
    "resolved_metrics",
    "inhibited",
    "policy_step",
    "step_at",
    "acked_ms",
    "held_by",
)
_SELECT_ALERT = "SELECT " + ", ".join(ALERT_COLUMNS) + " FROM alerts"


def alert_from_row(row: Iterable[Any]) -> Alert:
    from ..model import Alert

    values = dict(zip(ALERT_COLUMNS, row, strict=True))
    for key in _JSON_FIELDS:
        values[key] = (
            json.loads(values[key]) if values[key] else ({} if key in ("labels", "metrics", "resolved_metrics") else [])
        )
    for key in _BOOL_FIELDS:
        values[key] = bool(values[key])
    return Alert(**values)


def alert_to_row(alert: Alert) -> tuple:
    out = []
    for key in ALERT_COLUMNS:
        value = getattr(alert, key)
        if key in _JSON_FIELDS:
            value = json.dumps(value, separators=(",", ":"))
        elif key in _BOOL_FIELDS:
            value = int(value)
        out.append(value)
    return tuple(out)


_INSERT_ALERT = f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS)}) VALUES ({', '.join('?' * len(ALERT_COLUMNS))})"
_UPDATE_ALERT = f"UPDATE alerts SET {', '.join(f'{c} = ?' for c in ALERT_COLUMNS[1:])} WHERE id = ?"
_INSERT_EVENT = "INSERT INTO events (alert_id, at, kind, detail) VALUES (?, ?, ?, ?)"
_INSERT_NOTIFICATION = (
    "INSERT INTO notifications (alert_id, channel, kind, status, attempts, error, created_at, "
    "next_attempt_at, sent_at, idempotency_key, batch, step) VALUES (?, ?, ?, ?, 0, ?, ?, ?, NULL, ?, ?, ?)"
)
_SAVE_RULE_STATE = (
    "INSERT INTO rule_state (rule_id, last_fired_at, pending_since, consecutive_breaches, last_error) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(rule_id) DO UPDATE SET last_fired_at = excluded.last_fired_at, "
    "pending_since = excluded.pending_since, consecutive_breaches = excluded.consecutive_breaches, "
    "last_error = excluded.last_error"
)


def _update_row(alert: Alert) -> tuple:
    return alert_to_row(alert)[1:] + (alert.id,)


def _event_row(event: Event) -> tuple:
    return (event.alert_id, event.at, event.kind, json.dumps(event.detail, separators=(",", ":")))


def _notification_row(intent: Intent, now: int) -> tuple:
    import uuid  # here, not at the top: uuid imports platform (~2 ms) that a quiet run need not pay

    return (
        intent.alert_id,
        intent.channel,
        intent.kind,
        intent.status,
        intent.error,
        now,
        {"pending": now, "deferred": intent.not_before}.get(intent.status),
        uuid.uuid4().hex,
        intent.batch,
        intent.step,
    )


def _rule_state_row(state: RuleState) -> tuple:
    return (state.rule_id, state.last_fired_at, state.pending_since, state.consecutive_breaches, state.last_error)


class Store:
    def __init__(self, conn: sqlite3.Connection | None, path: Path, *, readonly: bool = False):
        self.conn = conn  # None: the database does not exist yet (read commands)
        self.path = path
        self.readonly = readonly
        # Why writing is impossible, when a command that may only read opened a read-only database.
        self.write_problem: Exception | None = None

    def close(self, *, clean: bool = False) -> None:
        """Close; after a clean session that could write, remember the file as checked (``db.seal``)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None
            if clean and not self.readonly:
                seal(self.path)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(clean=exc_type is None)

    @property
    def open_conn(self) -> sqlite3.Connection:
        """The connection, for work that needs the database to exist (writes, maintenance)."""
        if self.conn is None:
            raise StateError(f"state database {self.path} does not exist yet")
        return self.conn

    def transaction(self):
        if self.write_problem is not None:
            raise self.write_problem
        return transaction(self.open_conn, self.path)

    @property
    def outbox(self) -> Outbox:
        """The notifications waiting to be sent, and the recording of what became of them."""
        from .outbox import Outbox

        return Outbox(self)

    def _rows(self, sql: str, params: Iterable = ()) -> list[tuple]:
        if self.conn is None:
            return []
        try:
            return self.conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            from .failures import database_error

            raise database_error(self.path, exc, untouched=self.conn.total_changes == 0) from None

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: it changes whenever another connection commits."""
        return self.open_conn.execute("PRAGMA data_version").fetchone()[0]

    # ------------------------------------------------------------------ reads

    def active_alerts(self) -> dict[str, Alert]:
        """rule id -> its unresolved alert."""
        rows = self._rows(_SELECT_ALERT + " WHERE status != 'resolved' ORDER BY timestamp")
        return {alert.rule_id: alert for alert in map(alert_from_row, rows)}

    def rule_states(self) -> dict[str, RuleState]:
        from ..model import RuleState

        rows = self._rows(
            "SELECT rule_id, last_fired_at, pending_since, consecutive_breaches, last_error FROM rule_state"
        )
        return {r[0]: RuleState(*r) for r in rows}

    def alert_ids_at(self, timestamp: int) -> frozenset[str]:
        """Ids of the alerts fired at ``timestamp``, resolved ones included (alert ids must stay unique)."""
        return frozenset(r[0] for r in self._rows("SELECT id FROM alerts WHERE timestamp = ?", (timestamp,)))

    def get_alert(self, alert_id: str) -> Alert | None:
        rows = self._rows(_SELECT_ALERT + " WHERE id = ?", (alert_id,))
        return alert_from_row(rows[0]) if rows else None

    def get_alerts(self, alert_ids: list[str]) -> dict[str, Alert]:
        """id -> alert, for those of ``alert_ids`` that exist (one query; keep the list short)."""
        if not alert_ids:
            return {}
        rows = self._rows(f"{_SELECT_ALERT} WHERE id IN ({', '.join('?' * len(alert_ids))})", alert_ids)
        return {alert.id: alert for alert in map(alert_from_row, rows)}

    def list_alerts(
        self,
        *,
        active: bool = True,
        severity: str | None = None,
        type: str | None = None,
        rule: str | None = None,
        since: int | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        where: list[str] = []
        params: list[Any] = []
        if active:
            where.append("status != 'resolved'")
        for column, value in (("severity", severity), ("type", type), ("rule_id", rule)):
            if value is not None:
                # For active alerts, "+column" keeps the planner on the small partial index of unresolved ones.
                where.append(f"{'+' if active else ''}{column} = ?")
                params.append(value)
        if since is not None:
            where.append("timestamp >= ?")
            params.append(since)
        sql = _SELECT_ALERT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY timestamp DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [alert_from_row(r) for r in self._rows(sql, params)]

    def events(self, alert_id: str) -> list[dict[str, Any]]:
        rows = self._rows("SELECT at, kind, detail FROM events WHERE alert_id = ? ORDER BY id", (alert_id,))
        return [{"at": at, "kind": kind, "detail": json.loads(detail) if detail else {}} for at, kind, detail in rows]

    def notifications(self, alert_id: str) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT channel, kind, status, attempts, error, sent_at, created_at, next_attempt_at, id, step "
            "FROM notifications WHERE alert_id = ? ORDER BY id",
            (alert_id,),
        )
        return [
            {
                "channel": r[0],
                "kind": r[1],
                "status": r[2],
                "attempts": r[3],
                "error": r[4],
                "sentAt": r[5],
                "createdAt": r[6],
                "nextAttemptAt": r[7],
                "id": r[8],
                **({"step": r[9]} if r[9] is not None else {}),
            }
            for r in rows
        ]

    # ----------------------------------------------------------------- writes
    # Callers wrap these in ``store.transaction()``.

    def insert_alert(self, alert: Alert) -> None:
        self.open_conn.execute(_INSERT_ALERT, alert_to_row(alert))

    def update_alert(self, alert: Alert) -> None:
        self.open_conn.execute(_UPDATE_ALERT, _update_row(alert))

    def add_event(self, event: Event) -> None:
        self.open_conn.execute(_INSERT_EVENT, _event_row(event))

    def add_notification(self, intent: Intent, now: int) -> None:
        self.open_conn.execute(_INSERT_NOTIFICATION, _notification_row(intent, now))

    def save_rule_state(self, state: RuleState) -> None:
        self.open_conn.execute(_SAVE_RULE_STATE, _rule_state_row(state))

    def apply(self, plan, now: int) -> None:
        """Store an engine plan (inside the caller's transaction): one statement per kind of row,
        each row in the plan's order."""
        conn = self.open_conn
        conn.executemany(_INSERT_ALERT, [alert_to_row(alert) for alert in plan.new_alerts])
        conn.executemany(_UPDATE_ALERT, [_update_row(alert) for alert in plan.updated_alerts])
        conn.executemany(_INSERT_EVENT, [_event_row(event) for event in plan.events])
        # deferred notices that go now (before this plan's own notices are recorded)
        conn.executemany(
            "UPDATE notifications SET next_attempt_at = ?, batch = NULL WHERE alert_id = ? AND status = 'deferred'",
            [(now, alert_id) for alert_id in plan.released],
        )
        conn.executemany(_INSERT_NOTIFICATION, [_notification_row(intent, now) for intent in plan.intents])
        conn.executemany(_SAVE_RULE_STATE, [_rule_state_row(state) for state in plan.rule_states])
        conn.executemany("INSERT INTO transitions (rule_id, at) VALUES (?, ?)", plan.transitions)

    def log_run(self, started_at: int, finished_at: int, exit_code: int | None, summary: dict) -> None:
        self.open_conn.execute(
            "INSERT INTO runs (started_at, finished_at, exit_code, summary) VALUES (?, ?, ?, ?)",
            (started_at, finished_at, exit_code, json.dumps(summary, separators=(",", ":"))),
        )

    def acknowledge_alert(
        self,
        alert_id: str,
        *,
        by: str,
        note: str | None,
        until: int | None,
        now: int,
        audit: Entry | None = None,
        tell: frozenset[str] = frozenset(),
    ) -> tuple[str, Alert | None]:
        """Acknowledge a firing alert.

        Returns ``(outcome, alert)``: ``"acknowledged"`` when it was done (the
        alert as it is now), else why not: ``"missing"``, ``"resolved"`` or
        ``"already"`` (acknowledged, and that acknowledgement has not expired).
        An acknowledgement whose ``--for`` ran out before any ``check`` noticed
        counts as expired: it gets its ``ack_expired`` event (at the expiry time)
        and the new acknowledgement replaces it.  ``audit`` is written in the same
        transaction, when the acknowledgement is done, and so is an ``acknowledged``
        notification for each channel of ``tell`` the alert was notified on.
        """
        from ..model import Event

        with self.transaction():
            alert = self.get_alert(alert_id)
            if alert is None:
                return "missing", None
            if alert.resolved:
                return "resolved", alert
            if alert.status == "acknowledged":
                if alert.ack_expires_at is None or alert.ack_expires_at > now:
                    return "already", alert
                self.add_event(Event(alert.id, alert.ack_expires_at, "ack_expired", {}))
                if alert.acknowledged_at is not None:  # that acknowledged time does not count toward policy steps
                    alert.acked_ms += max(0, alert.ack_expires_at - alert.acknowledged_at)
                    self.open_conn.execute("UPDATE alerts SET acked_ms = ? WHERE id = ?", (alert.acked_ms, alert.id))
            self.open_conn.execute(
                "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, ack_note = ?, "
                "ack_expires_at = ? WHERE id = ?",
                (now, by, note, until, alert.id),
            )
            self.add_event(Event(alert.id, now, "acknowledged", {"by": by, "note": note, "until": until}))
            if audit is not None:
                record_audit(self, audit)
            for channel in alert.notified_channels:
                if channel in tell:
                    from ..model import Intent

                    self.add_notification(Intent(alert.id, channel, "acknowledged"), now)
            alert.status, alert.acknowledged_at, alert.acknowledged_by, alert.ack_expires_at = (
                "acknowledged",
                now,
                by,
                until,
            )
        return "acknowledged", alert

    def add_note(self, alert_id: str, *, by: str, text: str, now: int, audit: Entry | None = None) -> Alert | None:
        """Add a note to an alert's timeline (resolved alerts included), with ``audit`` in the same
        transaction; None (and nothing written) when the alert does not exist."""
        from ..model import Event

        with self.transaction():
            alert = self.get_alert(alert_id)
            if alert is None:
                return None
            self.add_event(Event(alert.id, now, "note", {"by": by, "text": text}))
            if audit is not None:
                record_audit(self, audit)
        return alert


def open_store(
    path: str | os.PathLike, *, create: bool = True, readonly: bool = False, timeout_ms: int = DEFAULT_WAIT_MS
) -> Store:
    """Open the store at ``path``.

    ``create=False`` (the commands that read, ack, resolve or prune) opens a
    database that cannot be written read-only instead of refusing it: reads
    work, and the first write raises the reason (``StateError``, exit 4).
    """
    path = Path(path)
    problem = None
    if not readonly and not create:
        problem = write_problem(path)
        readonly = problem is not None
    store = Store(connect(path, create=create, readonly=readonly, timeout_ms=timeout_ms), path, readonly=readonly)
    store.write_problem = problem
    return store


def open_watch(path: str | os.PathLike, *, timeout_ms: int = 1000) -> Store:
    """A store that only asks whether the database changed (``Store.data_version``), on a
    connection through which nothing can be written (``db.connect_query_only``)."""
    return Store(connect_query_only(path, timeout=timeout_ms / 1000), Path(path), readonly=True)

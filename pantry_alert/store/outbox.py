"""The outbox: the ``notifications`` table as delivery sees it.

A notification is written ``pending`` in the same transaction as the alert
change that calls for it (``Store.add_notification``).  Delivery asks the
outbox which notices are due, sends them, and hands the outcomes back here
to be recorded, several per transaction.  Delivery decides *what* happens to
a notice (sent, retry at, failed for good, skipped, outcome unknown); the outbox only knows
how that is stored, together with the alert's event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from ..record import FrozenRecord, Record

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from . import Store

# Statuses of a notification that may still be sent (the partial index
# idx_notifications_due covers exactly these, so the query below uses it).
UNDELIVERED = ("pending", "failed", "deferred")
_UNDELIVERED_SQL = ", ".join(f"'{status}'" for status in UNDELIVERED)  # as idx_notifications_due writes them


class Notice(FrozenRecord):
    """One undelivered notification."""

    id: int
    alert_id: str
    channel: str
    kind: str
    attempts: int
    created_at: int
    idempotency_key: str
    batch: str | None  # the digest it goes in (a storm in one run, or quiet hours that ended)
    step: int | None  # the escalation policy step it pages
    handed_at: int | None  # handed to a channel's worker then, and no answer recorded since

    __slots__ = (
        "id",
        "alert_id",
        "channel",
        "kind",
        "attempts",
        "created_at",
        "idempotency_key",
        "batch",
        "step",
        "handed_at",
    )
    _fields = __slots__
    _shown = _fields

    def __init__(
        self,
        id: int,
        alert_id: str,
        channel: str,
        kind: str,
        attempts: int,
        created_at: int,
        idempotency_key: str,
        batch: str | None = None,
        step: int | None = None,
        handed_at: int | None = None,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "alert_id", alert_id)
        object.__setattr__(self, "channel", channel)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "attempts", attempts)
        object.__setattr__(self, "created_at", created_at)
        object.__setattr__(self, "idempotency_key", idempotency_key)
        object.__setattr__(self, "batch", batch)
        object.__setattr__(self, "step", step)
        object.__setattr__(self, "handed_at", handed_at)


class Outcome(Record):
    """What became of one notice in this run.

    ``error`` None: the channel accepted it.  Otherwise it failed, with
    ``retry_at`` the time of the next attempt, or None when it failed for
    good.  ``attempted`` False: nothing was sent (e.g. it expired while its
    channel was not configured), so the attempt counter stays as it was.
    ``answered`` False: the send got no answer in time, so it may have arrived;
    the notice keeps its handed marker."""

    notice: Notice
    error: str | None
    retry_at: int | None
    attempted: bool
    answered: bool

    __slots__ = ("notice", "error", "retry_at", "attempted", "answered")
    _fields = ("notice", "error", "retry_at", "attempted", "answered")
    _shown = _fields

    def __init__(
        self,
        notice: Notice,
        error: str | None = None,
        retry_at: int | None = None,
        attempted: bool = True,
        answered: bool = True,
    ) -> None:
        self.notice = notice
        self.error = error
        self.retry_at = retry_at
        self.attempted = attempted
        self.answered = answered

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def final(self) -> bool:
        return self.error is not None and self.retry_at is None

    @property
    def alert_id(self) -> str:
        return self.notice.alert_id

    @property
    def channel(self) -> str:
        return self.notice.channel

    @property
    def kind(self) -> str:
        return self.notice.kind


class Outbox:
    def __init__(self, store: Store):
        self.store = store

    def due(self, now: int) -> list[Notice]:
        """Notices to send now, oldest first: every undelivered notice of an (alert,
        channel) whose oldest undelivered notice is due.  A group whose oldest notice
        waits for its retry time waits as a whole, so one alert's notices to one
        channel never overtake each other."""
        # The statuses are written as literals: only then does SQLite see that the query
        # implies the partial index idx_notifications_due's WHERE (bound parameters would
        # make it scan every notification ever recorded).  INDEXED BY holds the planner to
        # it (the ORDER BY id would otherwise tempt it into a scan in rowid order), and
        # makes the statement fail rather than silently scan should the two ever disagree.
        rows = self.store._rows(
            "SELECT id, alert_id, channel, kind, attempts, created_at, idempotency_key, batch, step, handed_at, "
            "next_attempt_at "
            "FROM notifications INDEXED BY idx_notifications_due "
            f"WHERE status IN ({_UNDELIVERED_SQL}) AND next_attempt_at IS NOT NULL ORDER BY id",
        )
        first_due: dict[tuple[str, str], bool] = {}
        out = []
        for row in rows:
            key = (row[1], row[2])
            if key not in first_due:
                first_due[key] = row[10] <= now
            if first_due[key]:
                out.append(Notice(*row[:10]))
        return out

    def hand_out(self, notices: Iterable[Notice], now: int) -> None:
        """Mark notices as handed to a channel's worker (one transaction, before any of them is sent):
        the attempt is counted, and ``handed_at`` stays set until an answer is recorded."""
        params = [(now, notice.attempts + 1, notice.id) for notice in notices]
        if not params:
            return
        with self.store.transaction() as conn:
            conn.executemany("UPDATE notifications SET handed_at = ?, attempts = ? WHERE id = ?", params)

    def skip(self, skips: Iterable[tuple[Notice, str]], status: str = "skipped") -> None:
        """Settle notices with a reason each (one transaction); they are never sent again.

        ``skipped``: never sent.  ``unknown``: handed to a channel earlier with no
        answer recorded, so it may have arrived."""
        if status not in ("skipped", "unknown"):
            raise ValueError(f"not a settled status: {status!r}")
        params = [(reason, notice.id) for notice, reason in skips]
        if not params:
            return
        with self.store.transaction() as conn:
            conn.executemany(
                f"UPDATE notifications SET status = '{status}', error = ?, next_attempt_at = NULL WHERE id = ?", params
            )

    def defer(self, notices: Iterable[Notice], until: int, reason: str) -> None:
        """Hold notices back until ``until`` without counting an attempt (one transaction)."""
        params = [(reason, until, notice.id) for notice in notices]
        if not params:
            return
        with self.store.transaction() as conn:
            conn.executemany(
                "UPDATE notifications SET status = 'deferred', error = ?, next_attempt_at = ? WHERE id = ?", params
            )

    def record(self, outcomes: Sequence[Outcome], now: int) -> None:
        """Store the outcomes of sends, and an event for each, in one transaction.

        ``sent`` clears the error and the next attempt; ``failed`` keeps the
        (already scrubbed) error and the retry time, or none when it failed for good."""
        if not outcomes:
            return
        sent, failed, events = [], [], []
        for outcome in outcomes:
            notice = outcome.notice
            attempts = notice.attempts + (1 if outcome.attempted else 0)
            if outcome.ok:
                sent.append((attempts, now, notice.id))
                events.append(
                    (notice.alert_id, now, "delivered", _dump({"channel": notice.channel, "kind": notice.kind}))
                )
            else:
                failed.append((attempts, outcome.error, outcome.retry_at, int(outcome.answered), notice.id))
                detail: dict[str, Any] = {
                    "channel": notice.channel,
                    "kind": notice.kind,
                    "error": outcome.error,
                    "retryAt": outcome.retry_at,
                }
                events.append((notice.alert_id, now, "delivery_failed", _dump(detail)))
        with self.store.transaction() as conn:
            if sent:
                conn.executemany(
                    "UPDATE notifications SET status = 'sent', attempts = ?, error = NULL, sent_at = ?, "
                    "next_attempt_at = NULL, handed_at = NULL WHERE id = ?",
                    sent,
                )
            if failed:
                conn.executemany(
                    "UPDATE notifications SET status = 'failed', attempts = ?, error = ?, next_attempt_at = ?, "
                    "handed_at = CASE WHEN ? THEN NULL ELSE handed_at END WHERE id = ?",
                    failed,
                )
            conn.executemany("INSERT INTO events (alert_id, at, kind, detail) VALUES (?, ?, ?, ?)", events)


def _dump(detail: dict) -> str:
    return json.dumps(detail, separators=(",", ":"))

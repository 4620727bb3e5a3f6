"""The outbox: send recorded notifications and record each outcome at once.

Notifications are rows in SQLite, written (``pending``) in the same
transaction as the alert changes that call for them.  ``deliver`` sends the
ones that are due, every send in its own daemon thread with its channel's
timeout, so one channel failing or hanging never stops another; each outcome
is committed as soon as it is known.  A failed send is retried in later runs
with backoff (1 min doubling to 1 h) for 24 h, then marked ``failed`` for
good; a send that cannot succeed on retry (``DeliveryError.retryable`` false)
fails at once.  Only the failed channel is retried.  A firing, reminder or
escalated notice still unsent when the alert's resolved notice for the same
channel exists is superseded (``skipped``): delivered after the resolved
notice it would reopen the incident at the receiver.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..errors import DeliveryError
from ..model import Event
from .base import Message, scrub

BACKOFF_START_MS = 60_000
BACKOFF_MAX_MS = 3_600_000
GIVE_UP_AFTER_MS = 24 * 3_600_000
GRACE_S = 2.0  # on top of a channel's own timeout before the run stops waiting
SUPERSEDED = "superseded: the alert was resolved before this notification was delivered"


@dataclass
class Outcome:
    id: int
    alert_id: str
    channel: str
    kind: str
    ok: bool
    error: str | None = None
    final: bool = False


@dataclass
class Report:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[Outcome] = field(default_factory=list)
    unconfigured: list[str] = field(default_factory=list)   # one channel name per row skipped as unconfigured


def backoff_ms(attempts: int, retry_after_ms: int | None = None) -> int:
    delay = min(BACKOFF_START_MS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_MS)
    return max(delay, retry_after_ms or 0)


def due(store, now: int) -> list[tuple]:
    """Notifications to send now: new ones and failed ones whose retry time came."""
    return store._rows(
        "SELECT id, alert_id, channel, kind, attempts, created_at, idempotency_key FROM notifications "
        "WHERE status IN ('pending', 'failed') AND next_attempt_at IS NOT NULL AND next_attempt_at <= ? "
        "ORDER BY id", (now,))


def superseded(store, row: tuple) -> bool:
    """True when a resolved notice of the same alert and channel was recorded after ``row``."""
    row_id, alert_id, channel, kind = row[:4]
    if kind == "resolved":
        return False
    return bool(store._rows(
        "SELECT 1 FROM notifications WHERE alert_id = ? AND channel = ? AND kind = 'resolved' AND id > ? LIMIT 1",
        (alert_id, channel, row_id)))


def _skip(store, row_id: int, reason: str) -> None:
    with store.transaction():
        store.conn.execute(
            "UPDATE notifications SET status = 'skipped', error = ?, next_attempt_at = NULL WHERE id = ?",
            (reason, row_id))


def make_message(config, alert_json: dict, kind: str, key: str, now: int) -> Message:
    return Message(kind=kind, alert=alert_json, idempotency_key=key, now_ms=now,
                   service=config.service, service_name=config.service_name,
                   dashboard_url=config.dashboard_url, timezone=config.timezone, version=__version__)


def _send(module, settings, message: Message, row_id: int, results: queue.Queue) -> None:
    try:
        module.send(settings, message)
        results.put((row_id, None))
    except DeliveryError as exc:
        results.put((row_id, exc))
    except Exception as exc:  # a channel bug must not lose the notification
        results.put((row_id, DeliveryError(f"{type(exc).__name__}: {exc}")))


def _send_in_order(jobs: list[tuple], results: queue.Queue) -> None:
    """One alert's notices to one channel, oldest first, so they arrive in order."""
    for module, settings, message, row_id in jobs:
        _send(module, settings, message, row_id, results)


def _record(store, row: tuple, error: DeliveryError | None, now: int, secrets: list[str]) -> Outcome:
    row_id, alert_id, channel, kind, attempts, created_at, _key = row
    attempts += 1
    with store.transaction():
        if error is None:
            store.conn.execute(
                "UPDATE notifications SET status = 'sent', attempts = ?, error = NULL, sent_at = ?, "
                "next_attempt_at = NULL WHERE id = ?", (attempts, now, row_id))
            store.add_event(Event(alert_id, now, "delivered", {"channel": channel, "kind": kind}))
            return Outcome(row_id, alert_id, channel, kind, True)
        text = scrub(error.message, secrets)
        final = not error.retryable or now - created_at >= GIVE_UP_AFTER_MS
        retry_at = None if final else now + backoff_ms(attempts, error.retry_after_ms)
        store.conn.execute(
            "UPDATE notifications SET status = 'failed', attempts = ?, error = ?, next_attempt_at = ? WHERE id = ?",
            (attempts, text, retry_at, row_id))
        detail = {"channel": channel, "kind": kind, "error": text, "retryAt": retry_at}
        store.add_event(Event(alert_id, now, "delivery_failed", detail))
        return Outcome(row_id, alert_id, channel, kind, False, text, final)


def deliver(store, config, channels: dict[str, Any], now: int, rows: list[tuple] | None = None) -> Report:
    """Send every due notification; ``channels`` maps configured names to settings."""
    from . import channel_module

    report = Report()
    rows = due(store, now) if rows is None else rows
    if not rows:
        return report
    alerts: dict[str, dict] = {}
    all_secrets = [s for settings in channels.values() for s in settings.secrets()]
    results: queue.Queue = queue.Queue()
    waiting: dict[int, tuple] = {}
    deadline = 0.0
    console_jobs = []
    groups: dict[tuple[str, str], list[tuple]] = {}
    for row in rows:
        row_id, alert_id, channel, kind, _attempts, _created, key = row
        settings = channels.get(channel)
        if settings is None:  # the config changed since the notification was recorded
            _skip(store, row_id, f"channel '{channel}' is not configured")
            report.skipped += 1
            report.unconfigured.append(channel)
            continue
        if superseded(store, row):
            _skip(store, row_id, SUPERSEDED)
            report.skipped += 1
            continue
        if alert_id not in alerts:
            alert = store.get_alert(alert_id)
            alerts[alert_id] = alert.to_json() if alert else None
        if alerts[alert_id] is None:  # cannot happen while prune keeps undelivered alerts; never leave it pending
            _skip(store, row_id, "the alert no longer exists")
            report.skipped += 1
            continue
        message = make_message(config, alerts[alert_id], kind, key, now)
        module = channel_module(channel)
        waiting[row_id] = row
        if channel == "console":
            console_jobs.append((module, settings, message, row_id))
        else:
            groups.setdefault((alert_id, channel), []).append((module, settings, message, row_id))
    # One thread per alert and channel: channels send concurrently, one channel's notices stay in order.
    start = time.monotonic()
    for jobs in groups.values():
        threading.Thread(target=_send_in_order, args=(jobs, results), daemon=True).start()
        deadline = max(deadline, start + sum(job[1].timeout for job in jobs) + GRACE_S)
    for job in console_jobs:  # printed in order, from this thread, while the others send
        _send(*job, results)
        deadline = max(deadline, time.monotonic() + GRACE_S)

    while waiting:
        remaining = deadline - time.monotonic()
        try:
            row_id, error = results.get(timeout=max(remaining, 0.01))
        except queue.Empty:
            break
        outcome = _record(store, waiting.pop(row_id), error, now, all_secrets)
        _count(report, outcome)
    for row_id, row in list(waiting.items()):  # still hanging past its timeout
        outcome = _record(store, row, DeliveryError(f"{row[2]}: no answer within its timeout"), now, all_secrets)
        _count(report, outcome)
    return report


def _count(report: Report, outcome: Outcome) -> None:
    if outcome.ok:
        report.sent += 1
    else:
        report.failed += 1
        report.failures.append(outcome)

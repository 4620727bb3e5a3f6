"""The outbox: send recorded notifications and record each outcome at once.

Notifications are rows in SQLite, written (``pending``) in the same
transaction as the alert changes that call for them.  ``deliver`` sends the
ones that are due; each outcome is committed as soon as it is known.

- One alert's channels send concurrently, each in its own daemon thread with
  the channel's timeout, so one channel failing or hanging never stops another.
- One alert's notices to one channel go in the order they were recorded.  A
  notice waits behind an earlier one of the same alert and channel that is
  still being retried, so a receiver never gets ``resolved`` before the
  ``firing`` it closes, and nothing is dropped.  When several reminders (or a
  reminder and a later escalation) of one alert wait for the same channel,
  only the newest goes: the older ones are ``skipped`` as superseded.
- Notifications the policy gave a batch key (a storm in one run, or quiet hours
  that ended) go to their channel as one digest message; its outcome is
  recorded for each of them.  Deferred notifications are due at the end of
  their quiet window.
- A failed send is retried in later runs with backoff (1 min doubling to 1 h,
  or the peer's Retry-After when longer) for 24 h, then marked ``failed`` for
  good; a send that cannot succeed on retry (``DeliveryError.retryable``
  false) fails at once.  Only the failed channel is retried.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from .. import __version__
from ..errors import DeliveryError
from ..model import Event
from .base import Message, scrub

BACKOFF_START_MS = 60_000
BACKOFF_MAX_MS = 3_600_000
GIVE_UP_AFTER_MS = 24 * 3_600_000
GRACE_S = 2.0  # on top of a channel's own timeout before the run stops waiting
COALESCED = "superseded by a later reminder of the same alert to this channel"
_STARTED = object()  # a sender thread's "about to send this row" marker
_HELD = object()  # "not attempted: an earlier notice of this alert and channel failed"


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
    unconfigured: list[str] = field(default_factory=list)  # one channel name per row skipped as unconfigured


def backoff_ms(attempts: int, retry_after_ms: int | None = None) -> int:
    delay = min(BACKOFF_START_MS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_MS)
    return max(delay, retry_after_ms or 0)


def due(store, now: int) -> list[tuple]:
    """Notifications to send now, in order: every undelivered notice of an
    (alert, channel) whose oldest undelivered notice is due.  A group whose
    oldest notice waits for its retry time waits as a whole."""
    rows = store._rows(
        "SELECT id, alert_id, channel, kind, attempts, created_at, idempotency_key, next_attempt_at "
        "FROM notifications WHERE status IN ('pending', 'failed', 'deferred') AND next_attempt_at IS NOT NULL "
        "ORDER BY id"
    )
    first_due: dict[tuple[str, str], bool] = {}
    out = []
    for row in rows:
        key = (row[1], row[2])
        if key not in first_due:
            first_due[key] = row[7] <= now
        if first_due[key]:
            out.append(row[:7])
    return out


def _skip(store, row_id: int, reason: str) -> None:
    with store.transaction():
        store.conn.execute(
            "UPDATE notifications SET status = 'skipped', error = ?, next_attempt_at = NULL WHERE id = ?",
            (reason, row_id),
        )


def make_message(config, alert_json: dict, kind: str, key: str, now: int) -> Message:
    return Message(
        kind=kind,
        alert=alert_json,
        idempotency_key=key,
        now_ms=now,
        service=config.service,
        service_name=config.service_name,
        dashboard_url=config.dashboard_url,
        timezone=config.timezone,
        version=__version__,
    )


def make_digest(config, members: list[tuple[tuple, dict]], batch: str, now: int) -> Message:
    """One message for several notifications: each alert once, with the kind of its newest notice
    (so an alert that resolved meanwhile shows as resolved)."""
    from ..policy import digest_reason

    latest: dict[str, tuple[str, dict]] = {}
    for row, alert_json in members:
        latest[row[1]] = (row[3], alert_json)
    events = [kind for kind, _ in latest.values()]
    alerts = [alert_json for _, alert_json in latest.values()]
    key = members[0][0][6]
    if len(alerts) == 1:  # one alert: its own message, of its newest kind
        return make_message(config, alerts[0], events[0], key, now)
    return replace(
        make_message(config, alerts[0], "digest", key, now), alerts=alerts, events=events, reason=digest_reason(batch)
    )


def _attempt(module, settings, message: Message) -> DeliveryError | None:
    """One send; the error, or None when the channel accepted it."""
    try:
        module.send(settings, message)
        return None
    except DeliveryError as exc:
        return exc
    except Exception as exc:  # a channel bug must not lose the notification
        return DeliveryError(f"{type(exc).__name__}: {exc}")


def _send_in_order(jobs: list[tuple], results: queue.Queue) -> None:
    """One alert's notices to one channel, oldest first; after a failure the rest are held."""
    for index, (module, settings, message, row_id) in enumerate(jobs):
        results.put((row_id, _STARTED))
        error = _attempt(module, settings, message)
        results.put((row_id, error))
        if error is not None:
            for *_job, held in jobs[index + 1 :]:
                results.put((held, _HELD))
            return


def _record(store, row: tuple, error: DeliveryError | None, now: int, secrets: list[str]) -> Outcome:
    row_id, alert_id, channel, kind, attempts, created_at, _key = row
    attempts += 1
    with store.transaction():
        if error is None:
            store.conn.execute(
                "UPDATE notifications SET status = 'sent', attempts = ?, error = NULL, sent_at = ?, "
                "next_attempt_at = NULL WHERE id = ?",
                (attempts, now, row_id),
            )
            store.add_event(Event(alert_id, now, "delivered", {"channel": channel, "kind": kind}))
            return Outcome(row_id, alert_id, channel, kind, True)
        text = scrub(error.message, secrets)
        final = not error.retryable or now - created_at >= GIVE_UP_AFTER_MS
        retry_at = None if final else now + backoff_ms(attempts, error.retry_after_ms)
        store.conn.execute(
            "UPDATE notifications SET status = 'failed', attempts = ?, error = ?, next_attempt_at = ? WHERE id = ?",
            (attempts, text, retry_at, row_id),
        )
        detail = {"channel": channel, "kind": kind, "error": text, "retryAt": retry_at}
        store.add_event(Event(alert_id, now, "delivery_failed", detail))
        return Outcome(row_id, alert_id, channel, kind, False, text, final)


def _coalesce(store, rows: list[tuple], report: Report) -> list[tuple]:
    """Skip a reminder when a later reminder or escalation of the same alert waits for the same channel."""
    later: set[tuple[str, str]] = set()
    keep = []
    for row in reversed(rows):
        key = (row[1], row[2])
        if row[3] == "reminder" and key in later:
            _skip(store, row[0], COALESCED)
            report.skipped += 1
            continue
        if row[3] in ("reminder", "escalated"):
            later.add(key)
        keep.append(row)
    return keep[::-1]


def deliver(store, config, channels: dict[str, Any], now: int, rows: list[tuple] | None = None) -> Report:
    """Send every due notification; ``channels`` maps configured names to settings."""
    from . import channel_module

    report = Report()
    rows = _coalesce(store, due(store, now) if rows is None else rows, report)
    if not rows:
        return report
    alerts: dict[str, dict] = {}
    all_secrets = [s for settings in channels.values() for s in settings.secrets()]
    results: queue.Queue = queue.Queue()
    waiting: dict[int, tuple] = {}
    deadline = 0.0
    groups: dict[tuple[str, str], list[tuple]] = {}
    # Digests: an alert's notices to a channel join the digest when any of them carries a batch key.
    from ..store.policy import batch_keys

    batch_of = batch_keys(store, (row[0] for row in rows))
    digest_of = {(row[1], row[2]): batch_of[row[0]] for row in rows if row[0] in batch_of}
    digests: dict[tuple[str, str], list[tuple[tuple, dict]]] = {}
    followers: dict[int, list[tuple]] = {}  # a digest's first row -> its other rows (same outcome)
    for row in rows:
        row_id, alert_id, channel, kind, _attempts, _created, key = row
        settings = channels.get(channel)
        if settings is None:  # the config changed since the notification was recorded
            _skip(store, row_id, f"channel '{channel}' is not configured")
            report.skipped += 1
            report.unconfigured.append(channel)
            continue
        if alert_id not in alerts:
            alert = store.get_alert(alert_id)
            alerts[alert_id] = alert.to_json() if alert else None
        if alerts[alert_id] is None:  # cannot happen while prune keeps undelivered alerts; never leave it pending
            _skip(store, row_id, "the alert no longer exists")
            report.skipped += 1
            continue
        if (alert_id, channel) in digest_of:
            digests.setdefault((channel, digest_of[(alert_id, channel)]), []).append((row, alerts[alert_id]))
            continue
        message = make_message(config, alerts[alert_id], kind, key, now)
        waiting[row_id] = row
        groups.setdefault((alert_id, channel), []).append((channel_module(channel), settings, message, row_id))
    for (channel, batch), members in digests.items():
        first = members[0][0]
        waiting[first[0]] = first
        followers[first[0]] = [row for row, _ in members[1:]]
        message = make_digest(config, members, batch, now)
        groups[("digest " + batch, channel)] = [(channel_module(channel), channels[channel], message, first[0])]
    # One thread per alert and channel: channels send concurrently, one channel's notices in order.
    # The console prints from this thread, in order, while the others send.
    start = time.monotonic()
    for (_alert, channel), jobs in groups.items():
        if channel != "console":
            threading.Thread(target=_send_in_order, args=(jobs, results), daemon=True).start()
            deadline = max(deadline, start + sum(job[1].timeout for job in jobs) + GRACE_S)
    for (_alert, channel), jobs in groups.items():
        if channel == "console":
            _send_in_order(jobs, results)
    deadline = max(deadline, time.monotonic() + GRACE_S)

    in_flight: set[int] = set()
    while waiting:
        try:
            row_id, result = results.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            break
        if result is _STARTED:
            in_flight.add(row_id)
            continue
        in_flight.discard(row_id)
        row = waiting.pop(row_id)
        if result is _HELD:
            continue  # stays as it is: sent after the earlier notice gets through
        for each in [row] + followers.get(row_id, []):
            _count(report, _record(store, each, result, now, all_secrets))
    for row_id in in_flight & set(waiting):  # still hanging past its timeout; the ones behind it stay as they are
        error = DeliveryError(f"{waiting[row_id][2]}: no answer within its timeout")
        for each in [waiting[row_id]] + followers.get(row_id, []):
            _count(report, _record(store, each, error, now, all_secrets))
    return report


def _count(report: Report, outcome: Outcome) -> None:
    if outcome.ok:
        report.sent += 1
    else:
        report.failed += 1
        report.failures.append(outcome)

"""What a person does to alerts, as library calls: resolve, acknowledge, note, silence.

The command line (``ack``, ``resolve``, ``note``...), the HTTP API and
Slack's button call these same functions, so all behave alike: same checks,
same events, same notifications.  Each write takes the run lock briefly (the
lock a ``check`` holds while it evaluates and sends), so a human action
never interleaves with a run; past ``state.lock_timeout`` it fails with
``StateError``.

Each takes an ``actor`` (``audit.Actor``: who acts, and from which client
address over HTTP; ``Actor.local()``, the user running the process, when
not given) and writes its audit entry in the same transaction as the action.
``by`` is the name the alert's timeline shows; when it names someone other
than the actor, the audit entry's details keep it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from . import audit
from .audit import Actor, by_details
from .errors import ConflictError, NotFoundError, UsageError
from .timeutil import format_time

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .model import Alert
    from .store import Store
    from .workspace import Workspace

HISTORY_HINT = "`pantry-alert history` lists recent alerts with their ids"
RESOLVE_NOT_FOUND = "Alert not found or already resolved"
MAX_NOTE = 4000  # characters of a note


@contextmanager
def writing(ws: Workspace, *, create: bool = False, lock_timeout_ms: int | None = None) -> Iterator[Store]:
    """The state database opened for a short write under the run lock (created when
    ``create``; otherwise a missing database gives a store without a connection).
    ``lock_timeout_ms`` waits less than ``state.lock_timeout`` for the lock (a face that
    must answer quickly); past it, ``StateLocked``."""
    from .store import Store, open_store, run_lock
    from .store.db import inspect

    config = ws.config()
    timeout_ms = config.state.lock_timeout_ms
    if lock_timeout_ms is not None:
        timeout_ms = min(lock_timeout_ms, timeout_ms)
    path = ws.db_path()
    if not inspect(path) and not create:  # no database yet (nothing to act on); a foreign or newer file is refused
        yield Store(None, path)
        return
    with run_lock(path, timeout_ms), open_store(path, create=create, timeout_ms=timeout_ms) as store:
        yield store


def _texts(**fields: str | None) -> None:
    """Every text a person hands in (CLI options, API bodies) passes the one input check:
    ``UsageError`` (exit 2, HTTP 400) naming the field for a lone surrogate."""
    from .text import check_input

    for key, value in fields.items():
        check_input(value, key.replace("_", " "))


def by_name(by: object, problem: str) -> str:
    """Who does an action, as every face records it on the timeline: the name given, without
    surrounding blanks (``UsageError(problem)`` when there is none)."""
    if not isinstance(by, str) or not by.strip():
        raise UsageError(problem)
    return by.strip()


def resolve(
    ws: Workspace,
    alert_id: str,
    *,
    by: str,
    note: str | None = None,
    now: int | None = None,
    lock_timeout_ms: int | None = None,
    actor: Actor | None = None,
) -> Alert:
    """Resolve an alert by hand.  Its resolved notifications (when the rule has
    ``notify_resolved``) are recorded for the next ``check`` to send, through the
    same notification policy as a run's: none while a silence covers the rule,
    deferred during quiet hours for a quiet severity.

    Raises ``NotFoundError`` when the alert does not exist or is already resolved."""
    _texts(alert_id=alert_id, by=by, note=note)
    from .notify.registry import channel_facts
    from .planning import plan_resolve
    from .store.policy import active_silences

    by = by_name(by, "a resolve needs the name of who does it (--by)")
    now = ws.now() if now is None else now
    config = ws.config()
    with writing(ws, lock_timeout_ms=lock_timeout_ms) as store:
        if store.conn is None:
            raise NotFoundError(RESOLVE_NOT_FOUND)
        with store.transaction():
            alert = store.get_alert(alert_id)
            if alert is None or alert.resolved:
                raise NotFoundError(RESOLVE_NOT_FOUND)
            silences = active_silences(store, now)
            plan = plan_resolve(config, alert, by=by, note=note, now=now, silences=silences, channels=channel_facts())
            store.apply(plan, now)
            actor = actor or Actor.local()
            details = {**by_details(actor, by), "note": note or None}
            audit.record(store, actor, audit.RESOLVE, alert_id, now, details)
        return plan.updated_alerts[0]


def acknowledge(
    ws: Workspace,
    alert_id: str,
    *,
    by: str,
    note: str | None = None,
    for_ms: int | None = None,
    now: int | None = None,
    lock_timeout_ms: int | None = None,
    actor: Actor | None = None,
) -> Alert:
    """Acknowledge a firing alert: no more reminders or escalation for it
    (until ``now + for_ms`` when given).  The channels that follow acknowledge/resolve
    (PagerDuty) it was notified on get an ``acknowledged`` notice, sent by the next ``check``.

    Raises ``NotFoundError`` for an unknown id, ``ConflictError`` when the
    alert is resolved or already acknowledged, and ``UsageError`` for a
    duration that is not positive."""
    from .timeutil import positive_duration

    by = by_name(by, "an acknowledgement needs the name of who does it (--by)")
    if for_ms is not None:
        positive_duration(for_ms, "an acknowledgement needs a positive duration, not {value!r}")
    _texts(alert_id=alert_id, by=by, note=note)
    now = ws.now() if now is None else now
    tz = ws.config().timezone
    with writing(ws, lock_timeout_ms=lock_timeout_ms) as store:
        if store.conn is None:
            raise NotFoundError(f"Alert {alert_id} not found", hint=HISTORY_HINT)
        until = None if for_ms is None else now + for_ms
        actor = actor or Actor.local()
        details = {**by_details(actor, by), "note": note or None, "until": until}
        entry = actor.entry(audit.ACKNOWLEDGE, alert_id, now, details)
        from .notify.registry import following_channels

        outcome, alert = store.acknowledge_alert(
            alert_id, by=by, note=note, until=until, now=now, audit=entry, tell=following_channels()
        )
    if outcome == "missing" or alert is None:
        raise NotFoundError(f"Alert {alert_id} not found", hint=HISTORY_HINT)
    if outcome == "resolved":
        raise ConflictError(
            f"Alert {alert_id} is already resolved ({format_time(alert.resolved_at, tz)} by "
            f"{alert.resolved_by or '?'}); there is nothing to acknowledge"
        )
    if outcome == "already":
        until_text = f" until {format_time(alert.ack_expires_at, tz)}" if alert.ack_expires_at is not None else ""
        raise ConflictError(
            f"Alert {alert_id} is already acknowledged (by {alert.acknowledged_by or '?'} at "
            f"{format_time(alert.acknowledged_at, tz)}{until_text})",
            hint=f"`pantry-alert show {alert_id}` shows its timeline",
        )
    return alert


def add_note(
    ws: Workspace,
    alert_id: str,
    text: str,
    *,
    by: str | None = None,
    now: int | None = None,
    lock_timeout_ms: int | None = None,
    actor: Actor | None = None,
) -> Alert:
    """Add a note to an alert's timeline (a resolved alert's too), signed ``by`` (the actor's
    name when not given).

    Raises ``NotFoundError`` for an unknown alert and ``UsageError`` for an empty
    note or one longer than 4,000 characters."""
    _texts(alert_id=alert_id, by=by, note=text)
    if not isinstance(text, str) or not text.strip():
        raise UsageError("a note needs some text")
    if len(text) > MAX_NOTE:
        raise UsageError(f"a note is at most {MAX_NOTE} characters, not {len(text)}")
    now = ws.now() if now is None else now
    actor = actor or Actor.local()
    signed = by.strip() if isinstance(by, str) and by.strip() else actor.name
    with writing(ws, lock_timeout_ms=lock_timeout_ms) as store:
        alert = None
        if store.conn is not None:
            entry = actor.entry(audit.NOTE, alert_id, now, {**by_details(actor, signed), "text": text})
            alert = store.add_note(alert_id, by=signed, text=text, now=now, audit=entry)
    if alert is None:
        raise NotFoundError(f"Alert {alert_id} not found", hint=HISTORY_HINT)
    return alert


# ----------------------------------------------------------------- silences

SILENCE_HINT = "`pantry-alert silence list` shows the silences with their ids"


def add_silence(
    ws: Workspace,
    rule_id: str,
    *,
    for_ms: int,
    reason: str | None = None,
    by: str,
    now: int | None = None,
    lock_timeout_ms: int | None = None,
    starts_at: int | None = None,
    actor: Actor | None = None,
) -> dict:
    """Mute a rule's notifications on every channel for ``for_ms`` milliseconds, from now or from
    ``starts_at`` (a scheduled silence; it must end in the future).

    Its alerts are still recorded and shown (``silenced: true``); once the
    silence ends, the next ``check`` notifies an alert that still fires.
    Returns the silence ``{"id", "ruleId", "startsAt", "endsAt", "reason",
    "createdBy", "status"}``.  Raises ``UnknownRule`` for a rule that
    rules.yaml does not define and ``UsageError`` for a duration that is not
    positive."""
    from .config import BUILTIN_SOURCE_RULE
    from .errors import UnknownRule
    from .store.policy import add_silence as store_add
    from .timeutil import positive_duration

    _texts(rule=rule_id, reason=reason, by=by)
    now = ws.now() if now is None else now
    config = ws.config()
    if config.rule(rule_id) is None and rule_id != BUILTIN_SOURCE_RULE:
        known = ", ".join(rule.id for rule in config.rules)
        raise UnknownRule(f"unknown rule '{rule_id}' in {config.path}", hint=f"rules: {known}")
    positive_duration(for_ms, "a silence needs a positive duration, not {value!r}")
    by = by_name(by, "a silence needs the name of who adds it (--by)")
    start = now if starts_at is None else starts_at
    if start + for_ms <= now:
        raise UsageError("the silence would end before now", hint="give a --start in the future, or a longer --for")
    actor = actor or Actor.local()
    with writing(ws, create=True, lock_timeout_ms=lock_timeout_ms) as store, store.transaction():
        silence = store_add(
            store, rule_id, starts_at=start, ends_at=start + for_ms, reason=reason or None, by=by, now=now
        )
        details = {"rule": rule_id, "until": silence["endsAt"], "reason": reason or None, **by_details(actor, by)}
        if starts_at is not None:
            details["from"] = start
        audit.record(store, actor, audit.SILENCE_ADD, silence["id"], now, details)
        return silence


SILENCE_LIST_LIMIT = 100  # silences a listing shows unless told otherwise


def list_silences(ws: Workspace, *, now: int | None = None, limit: int | None = SILENCE_LIST_LIMIT) -> list[dict]:
    """The silences: the active ones first (ending soonest first), then the upcoming ones, then
    the expired ones; at most ``limit`` (None: all).  ``prune`` deletes silences that ended before its cutoff."""
    from .store.policy import list_silences as store_list

    now = ws.now() if now is None else now
    with ws.store() as store:
        return store_list(store, now, limit)


def list_holds(ws: Workspace, *, now: int | None = None, limit: int | None = SILENCE_LIST_LIMIT) -> list[dict]:
    """``silence list``: the active and upcoming silences, each maintenance window's open or next
    opening (``{"kind": "maintenance", "name", "startsAt", "endsAt", "status", ...}``), then the
    expired silences; at most ``limit`` silences (``list_silences``)."""
    from .maintenance_windows import next_span, open_span

    now = ws.now() if now is None else now
    out = list_silences(ws, now=now, limit=limit)
    windows = []
    for window in ws.config().maintenance:
        span = open_span(window, now)
        status = "open" if span is not None else "upcoming"
        span = span or next_span(window, now)
        if span is None:
            continue
        windows.append(
            {
                "kind": "maintenance",
                "name": window.name,
                "startsAt": span[0],
                "endsAt": span[1],
                "status": status,
                "rules": list(window.rules),
                "match": {key: list(values) for key, values in window.match},
                "timezone": window.timezone,
            }
        )
    windows.sort(key=lambda w: (w["status"] != "open", w["startsAt"], w["name"]))
    live = [s for s in out if s["status"] != "expired"]
    return live + windows + [s for s in out if s["status"] == "expired"]


def expire_silence(
    ws: Workspace,
    silence_id: str,
    *,
    by: str,
    now: int | None = None,
    lock_timeout_ms: int | None = None,
    actor: Actor | None = None,
) -> dict:
    """End a silence now (``by`` is recorded); the next ``check`` notifies the rule's alerts that still fire.

    Raises ``NotFoundError`` for an unknown id and ``ConflictError`` for a
    silence that has already ended."""
    from .store.policy import expire_silence as store_expire
    from .store.policy import get_silence

    _texts(silence_id=silence_id, by=by)
    by = by_name(by, "expiring a silence needs the name of who does it (--by)")
    now = ws.now() if now is None else now
    tz = ws.config().timezone
    with writing(ws, lock_timeout_ms=lock_timeout_ms) as store:
        silence = get_silence(store, silence_id, now) if store.conn is not None else None
        if silence is None:
            raise NotFoundError(f"Silence {silence_id} not found", hint=SILENCE_HINT)
        if silence["status"] == "expired":
            raise ConflictError(f"Silence {silence_id} already expired at {format_time(silence['endsAt'], tz)}")
        actor = actor or Actor.local()
        with store.transaction():
            expired = store_expire(store, silence_id, by=by, now=now)
            details = {"rule": expired["ruleId"], **by_details(actor, by)}
            audit.record(store, actor, audit.SILENCE_EXPIRE, silence_id, now, details)
            return expired

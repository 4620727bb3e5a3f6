"""What a person does to alerts, as library calls: resolve and acknowledge.

The command line (``ack``, ``resolve``) and the HTTP API call these same
functions, so both behave alike: same checks, same events, same
notifications.  Each write takes the run lock briefly (the lock a ``check``
holds while it evaluates and sends), so a human action never interleaves
with a run; past ``state.lock_timeout`` it fails with ``StateError``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from .errors import ConflictError, NotFoundError
from .timeutil import format_time

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .model import Alert
    from .store import Store
    from .workspace import Workspace

HISTORY_HINT = "`pantry-alert history` lists recent alerts with their ids"
RESOLVE_NOT_FOUND = "Alert not found or already resolved"


@contextmanager
def writing(ws: Workspace) -> Iterator[Store]:
    """The state database opened for a short write under the run lock."""
    from .store import Store, open_store, run_lock
    from .store.db import inspect

    config = ws.config()
    path = ws.db_path()
    if not inspect(path):  # no database yet (nothing to act on); a foreign or newer file is refused here
        yield Store(None, path)
        return
    with (
        run_lock(path, config.state.lock_timeout_ms),
        open_store(path, create=False, timeout_ms=config.state.lock_timeout_ms) as store,
    ):
        yield store


def resolve(ws: Workspace, alert_id: str, *, by: str, note: str | None = None, now: int | None = None) -> Alert:
    """Resolve an alert by hand.  Its resolved notifications (when the rule has
    ``notify_resolved``) are recorded for the next ``check`` to send.

    Raises ``NotFoundError`` when the alert does not exist or is already resolved."""
    now = ws.now() if now is None else now
    config = ws.config()
    with writing(ws) as store:
        if store.conn is None:
            raise NotFoundError(RESOLVE_NOT_FOUND)
        alert = store.get_alert(alert_id)
        rule = config.rule(alert.rule_id) if alert else None
        return store.resolve_alert(
            alert_id, by=by, note=note, now=now, notify_resolved=rule.notify_resolved if rule else True
        )


def acknowledge(
    ws: Workspace,
    alert_id: str,
    *,
    by: str,
    note: str | None = None,
    for_ms: int | None = None,
    now: int | None = None,
) -> Alert:
    """Acknowledge a firing alert: no more reminders or escalation for it
    (until ``now + for_ms`` when given).

    Raises ``NotFoundError`` for an unknown id and ``ConflictError`` when the
    alert is resolved or already acknowledged."""
    now = ws.now() if now is None else now
    tz = ws.config().timezone
    with writing(ws) as store:
        if store.conn is None:
            raise NotFoundError(f"Alert {alert_id} not found", hint=HISTORY_HINT)
        until = None if for_ms is None else now + for_ms
        outcome, alert = store.acknowledge_alert(alert_id, by=by, note=note, until=until, now=now)
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

"""The JSON shapes that both the command line (``--json``) and the HTTP API return.

One builder per shape, so ``show --json`` and ``GET /api/alerts/{id}`` (and
the other pairs) cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import NotFoundError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .config import Config
    from .config.time_model import Maintenance
    from .model import Alert
    from .store import Store

HISTORY_HINT = "`pantry-alert history` lists recent alerts with their ids"


def alert_not_found(alert_id: str) -> NotFoundError:
    return NotFoundError(f"Alert {alert_id} not found", hint=HISTORY_HINT)


@dataclass
class AlertDetail:
    """One alert with its timeline of events and its notification attempts."""

    alert: Alert
    events: list[dict[str, Any]]
    notifications: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """The ``show --json`` object: the alert, plus ``events`` and ``notifications``."""
        return {**self.alert.to_json(), "events": self.events, "notifications": self.notifications}


def alert_detail(store: Store, alert_id: str) -> AlertDetail:
    """Raises ``NotFoundError`` for an unknown id."""
    alert = store.get_alert(alert_id)
    if alert is None:
        raise alert_not_found(alert_id)
    events = store.events(alert_id)
    notifications = [{k: v for k, v in n.items() if k != "id"} for n in store.notifications(alert_id)]
    return AlertDetail(alert, events, notifications)


def alerts_json(alerts: list[Alert]) -> list[dict[str, Any]]:
    """``list --json`` and ``history --json``: a bare array of alerts."""
    return [alert.to_json() for alert in alerts]


def rules_json(config: Config) -> list[dict[str, Any]]:
    """``rules list --json``: the rules with their rules.yaml keys."""
    return [rule.to_json() for rule in config.rules]


def event_text(kind: str, d: dict[str, Any], tz: str | None) -> str:
    """One timeline event's details, in words (``show``'s timeline, the review's)."""
    describe = _EVENT_TEXTS.get(kind)
    if describe is not None:
        return describe(d, tz)
    import json

    return json.dumps(d, separators=(", ", ": ")) if d else ""


def _channels(d: dict[str, Any]) -> str:
    return ", ".join(d.get("channels") or []) or "no configured channel"


def _notified_text(d: dict[str, Any], tz: str | None) -> str:
    step = f" (step {d['step']})" if d.get("step") else ""
    return f"{d.get('kind', '?')}{step} to {_channels(d)}"


def _escalated_text(d: dict[str, Any], tz: str | None) -> str:
    """A policy's next step, or a severity raised by count."""
    if d.get("step"):
        return f"step {d['step']} of its escalation policy to {_channels(d)}"
    return f"{d.get('from', '?')} -> {d.get('to', '?')}; channels now {_channels(d)}"


def _acknowledged_text(d: dict[str, Any], tz: str | None) -> str:
    text = f"by {d.get('by') or '?'}"
    if d.get("until") is not None:
        text += f" until {_clock(d['until'], tz)}"
    if d.get("note"):
        text += f": {d['note']}"
    return text


def _delivery_failed_text(d: dict[str, Any], tz: str | None) -> str:
    retry = f"; retry at {_clock(d['retryAt'], tz)}" if d.get("retryAt") else "; gave up"
    return f"{d.get('kind', '?')} via {d.get('channel', '?')}: {d.get('error', '?')}{retry}"


def held_by_window(alert: Alert, windows: Sequence[Maintenance] = (), now: int | None = None) -> bool:
    """Whether what mutes a silenced alert is a maintenance window rather than a silence: the
    hold that last held one of its notices, else (none held yet) an open window covering it."""
    held = alert.held_by or ""
    if held.startswith(("window:", "silence:")):
        return held.startswith("window:")
    if not alert.silenced or now is None:
        return False
    from .maintenance_windows import holding

    return holding(windows, alert, now) is not None


def hold_marks(alert: Alert, windows: Sequence[Maintenance] = (), now: int | None = None) -> list[str]:
    """What holds an alert's notices back, as the status column of ``list`` and the console
    show it: ``silenced`` (a silence), ``held by window`` (an open maintenance window),
    ``inhibited`` (an unresolved alert of a rule it is ``inhibited_by``)."""
    marks = []
    if alert.silenced:
        marks.append("held by window" if held_by_window(alert, windows, now) else "silenced")
    if getattr(alert, "inhibited", False):
        marks.append("inhibited")
    return marks


def _hold_text(d: dict[str, Any], tz: str | None) -> str:
    """What holds an alert's notices: a silence (id, reason), a maintenance window, or an inhibitor."""
    if d.get("inhibitor"):
        return f"while {d['inhibitor']} has an unresolved alert"
    until = f" until {_clock(d['until'], tz)}" if d.get("until") is not None else ""
    if d.get("window"):
        return f"maintenance window {d['window']}{until}"
    reason = f": {d['reason']}" if d.get("reason") else ""
    return f"silence {d.get('silence', '?')}{until}{reason}"


# event kind -> its details in words (``details``, the zone); any other kind shows its details as JSON
_EVENT_TEXTS: dict[str, Callable[[dict[str, Any], str | None], str]] = {
    "fired": lambda d, tz: f"{d.get('severity', '?')}: {d.get('description', '')}",
    "notified": _notified_text,
    "reminded": lambda d, tz: f"{d.get('kind', 'reminder')} to {_channels(d)} (seen {d.get('count', '?')} times)",
    "escalated": _escalated_text,
    "held": _hold_text,
    "silenced": _hold_text,
    "inhibited": _hold_text,
    "flapping": lambda d, tz: (
        f"{d.get('transitions', '?')} changes within {_duration(d.get('window'))}: notices held until stable"
    ),
    "stable": lambda d, tz: f"no change for the flapping window; now {d.get('state', '?')}",
    "acknowledged": _acknowledged_text,
    "note": lambda d, tz: f"{d.get('by') or '?'}: {d.get('text', '')}",
    "ack_expired": lambda d, tz: "acknowledgement expired; reminders resume",
    "resolved": lambda d, tz: f"by {d.get('by') or '?'}" + (f": {d['note']}" if d.get("note") else ""),
    "delivered": lambda d, tz: f"{d.get('kind', '?')} via {d.get('channel', '?')}",
    "delivery_failed": _delivery_failed_text,
}


def _duration(ms: Any) -> str:
    from .timeutil import format_duration

    return format_duration(ms) if isinstance(ms, int) else "?"


def _clock(ms: int | None, tz: str | None) -> str:
    """``2025-11-26 12:00:00``: the time in the zone, without the zone's name."""
    from .timeutil import format_time

    return " ".join(format_time(ms, tz).split(" ")[:2])

"""The JSON shapes that both the command line (``--json``) and the HTTP API return.

One builder per shape, so ``show --json`` and ``GET /api/alerts/{id}`` (and
the other pairs) cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import NotFoundError

if TYPE_CHECKING:
    from .config import Config
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
    import json

    def channels() -> str:
        return ", ".join(d.get("channels") or []) or "no configured channel"

    if kind == "fired":
        return f"{d.get('severity', '?')}: {d.get('description', '')}"
    if kind == "notified":
        step = f" (step {d['step']})" if d.get("step") else ""
        return f"{d.get('kind', '?')}{step} to {channels()}"
    if kind == "reminded":
        return f"{d.get('kind', 'reminder')} to {channels()} (seen {d.get('count', '?')} times)"
    if kind == "escalated" and d.get("step"):
        return f"step {d['step']} of its escalation policy to {channels()}"
    if kind == "escalated":
        return f"{d.get('from', '?')} -> {d.get('to', '?')}; channels now {channels()}"
    if kind in ("held", "silenced", "inhibited"):
        return _hold_text(d, tz)
    if kind == "flapping":
        return f"{d.get('transitions', '?')} changes within {_duration(d.get('window'))}: notices held until stable"
    if kind == "stable":
        return f"no change for the flapping window; now {d.get('state', '?')}"
    if kind == "acknowledged":
        text = f"by {d.get('by') or '?'}"
        if d.get("until") is not None:
            text += f" until {_clock(d['until'], tz)}"
        if d.get("note"):
            text += f": {d['note']}"
        return text
    if kind == "note":
        return f"{d.get('by') or '?'}: {d.get('text', '')}"
    if kind == "ack_expired":
        return "acknowledgement expired; reminders resume"
    if kind == "resolved":
        return f"by {d.get('by') or '?'}" + (f": {d['note']}" if d.get("note") else "")
    if kind == "delivered":
        return f"{d.get('kind', '?')} via {d.get('channel', '?')}"
    if kind == "delivery_failed":
        retry = f"; retry at {_clock(d['retryAt'], tz)}" if d.get("retryAt") else "; gave up"
        return f"{d.get('kind', '?')} via {d.get('channel', '?')}: {d.get('error', '?')}{retry}"
    return json.dumps(d, separators=(", ", ": ")) if d else ""


def _hold_text(d: dict[str, Any], tz: str | None) -> str:
    """What holds an alert's notices: a silence (id, reason), a maintenance window, or an inhibitor."""
    if d.get("inhibitor"):
        return f"while {d['inhibitor']} has an unresolved alert"
    until = f" until {_clock(d['until'], tz)}" if d.get("until") is not None else ""
    if d.get("window"):
        return f"maintenance window {d['window']}{until}"
    reason = f": {d['reason']}" if d.get("reason") else ""
    return f"silence {d.get('silence', '?')}{until}{reason}"


def _duration(ms: Any) -> str:
    from .timeutil import format_duration

    return format_duration(ms) if isinstance(ms, int) else "?"


def _clock(ms: int | None, tz: str | None) -> str:
    """``2025-11-26 12:00:00``: the time in the zone, without the zone's name."""
    from .timeutil import format_time

    return " ".join(format_time(ms, tz).split(" ")[:2])

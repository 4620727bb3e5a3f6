"""The Slack channel's rendering: a ``Message`` as Block Kit (docs/channels.md#slack).

Pure functions, no network and no slack_sdk: ``build_payload`` for one
notification, ``build_digest`` for several; text is escaped for Slack's
mrkdwn and cut to Block Kit's limits.  Settings and sending are in
``notify.slack``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from ..text import one_line
from .alert_text import RESOLVED_COLOR, SEVERITY_COLORS, resolution_text, resolved_after_text
from .messages import digest_reason_text

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

# Slack's Block Kit limits (https://docs.slack.dev/reference/block-kit/).
MAX_TEXT = 40000  # top-level text
MAX_SECTION_TEXT = 3000  # section text
MAX_CONTEXT_TEXT = 3000  # context element text
MAX_BUTTON_TEXT = 75  # button label
MAX_BUTTON_VALUE = 2000  # button value
MAX_BUTTON_URL = 3000  # button url
MAX_FALLBACK = 3000  # attachment fallback (no documented hard limit; kept short)
MAX_TITLE = 250  # our own cap, so a long title cannot crowd out the description
ELLIPSIS = "…"

# How each notification kind shows in ``text`` and in the section heading.
_TEXT_LABEL = {
    "firing": "Alert",
    "reminder": "Reminder",
    "escalated": "Escalated",
    "resolved": "Resolved",
    "flapping": "Flapping",
    "test": "[TEST] Alert",
}
_TITLE_PREFIX = {
    "firing": "",
    "reminder": "Reminder: ",
    "escalated": "Escalated: ",
    "resolved": "Resolved: ",
    "flapping": "Flapping: ",
    "test": "[TEST] ",
}


def escape(text: Any) -> str:
    """Slack's escaping of ``& < >`` (so ``<!channel>`` cannot ping anyone)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """Cut escaped ``text`` to ``limit`` characters ending in "…", never
    leaving half an entity (``&am``) behind."""
    if len(text) <= limit:
        return text
    cut = re.sub(r"&[a-z]*$", "", text[: limit - len(ELLIPSIS)])
    return cut + ELLIPSIS


def iso_time(ms: Any) -> str:
    """Epoch ms as JavaScript's ``toISOString()``: ``2025-11-26T12:26:40.000Z``."""
    if not isinstance(ms, (int, float)) or isinstance(ms, bool) or not math.isfinite(ms):
        return "unknown"
    secs, milli = divmod(int(ms), 1000)
    dt = datetime.fromtimestamp(secs, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{milli:03d}Z"


def build_payload(message: Message) -> dict[str, Any]:
    """The message: ``{"text", "blocks", "attachments"}`` (docs/channels.md#slack); a digest lists its alerts."""
    if message.digest:
        return build_digest(message)
    alert = message.alert
    kind = message.kind
    title = fit(escape(one_line(alert.get("title") or alert.get("id") or "alert")), MAX_TITLE)
    description = escape(alert.get("description", ""))

    label = _TEXT_LABEL.get(kind, "Alert") + (f" (step {message.step})" if message.step is not None else "")
    text = fit(f"{label}: {title}", MAX_TEXT)
    heading = f"*{_TITLE_PREFIX.get(kind, '')}{title}*\n"
    after = resolved_after_text(alert) if kind == "resolved" else None
    resolution = resolution_text(alert) if kind == "resolved" else None
    if resolution:  # the value now, beside the one it fired with
        description = f"{description}\nValue at resolution: {escape(resolution)}"
    if after:
        description = f"{description}\n{escape(after[0].upper() + after[1:])}"
    section_text = heading + fit(description, MAX_SECTION_TEXT - len(heading))

    context = f"Severity: {escape(alert.get('severity', ''))} | Time: {iso_time(alert.get('timestamp'))}"
    if message.step is not None:
        context += f" | Escalation: step {message.step}"
    if kind in ("reminder", "escalated") and alert.get("count") is not None:
        context += f" | Count: {escape(alert.get('count'))}"
    if kind == "resolved" and alert.get("resolvedAt") is not None:
        context += f" | Resolved: {iso_time(alert.get('resolvedAt'))}"

    buttons = _link_buttons(message.dashboard_url, alert.get("runbookUrl"))
    if kind not in ("resolved", "test"):  # a test alert is in no database: nothing to acknowledge
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "action_id": "acknowledge_alert",
                "value": fit(str(alert.get("id", "")), MAX_BUTTON_VALUE) or "unknown",
            }
        )

    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": section_text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(context, MAX_CONTEXT_TEXT)}]},
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return {
        "text": text,
        "blocks": blocks,
        "attachments": [{"color": _color(message), "fallback": fit(description, MAX_FALLBACK)}],
    }


def _url_ok(url: Any) -> bool:
    return isinstance(url, str) and bool(url.strip()) and len(url.strip()) <= MAX_BUTTON_URL


def _link_button(label: str, url: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url.strip()}


def _link_buttons(dashboard: Any, runbook: Any) -> list[dict[str, Any]]:
    """``View Dashboard`` and ``Runbook``, each when its URL is set."""
    buttons = []
    if _url_ok(dashboard):
        buttons.append(_link_button("View Dashboard", dashboard))
    if _url_ok(runbook):
        buttons.append(_link_button("Runbook", runbook))
    return buttons


# A digest shows this many alerts as sections, then "and N more" (Slack allows 50 blocks).
MAX_DIGEST_ALERTS = 10
_EVENT_LABEL = {"firing": "firing", "reminder": "reminder", "escalated": "escalated", "resolved": "resolved"}


def build_digest(message: Message) -> dict[str, Any]:
    """One message for several alerts: a heading, one section per alert (with its runbook
    button), "and N more" past ``MAX_DIGEST_ALERTS``, and the dashboard button."""
    count = len(message.alerts)
    service = escape(one_line(message.service_name))
    reason = digest_reason_text(message)
    heading = f"*{count} alerts for {service}*" + (f" ({reason})" if reason else "")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": heading}}]
    for alert, event in list(zip(message.alerts, message.events, strict=True))[:MAX_DIGEST_ALERTS]:
        title = fit(escape(one_line(alert.get("title") or alert.get("id") or "alert")), MAX_TITLE)
        state = "resolved" if alert.get("status") == "resolved" else _EVENT_LABEL.get(event, event)
        head = f"*[{escape(str(alert.get('severity', '')).upper())}] {title}* · {escape(state)}"
        if alert.get("count") not in (None, 1):
            head += f" · count {escape(alert.get('count'))}"
        head += f" · {iso_time(alert.get('timestamp'))}\n"
        section: dict[str, Any] = {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": head + fit(escape(alert.get("description", "")), MAX_SECTION_TEXT - len(head)),
            },
        }
        if _url_ok(alert.get("runbookUrl")):
            section["accessory"] = _link_button("Runbook", alert["runbookUrl"])
        blocks.append(section)
    if count > MAX_DIGEST_ALERTS:
        more = f"and {count - MAX_DIGEST_ALERTS} more (`pantry-alert list` shows every active alert)"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    buttons = _link_buttons(message.dashboard_url, None)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return {
        "text": fit(f"Digest: {count} alerts for {service}", MAX_TEXT),
        "blocks": blocks,
        "attachments": [{"color": _color(message), "fallback": fit(f"{count} alerts for {service}", MAX_FALLBACK)}],
    }


def _color(message: Message) -> str:
    if message.kind == "resolved":
        return RESOLVED_COLOR
    return SEVERITY_COLORS.get(str(message.severity), "#6c757d")

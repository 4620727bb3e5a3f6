"""Rendering of the email channel: subject, plain-text part, HTML part (Jinja2, autoescaped)."""

from __future__ import annotations

import math
import re
from pathlib import Path

from ..text import one_line
from ..timeutil import format_time
from ..urls import is_http_url
from .alert_text import RESOLVED_COLOR, SEVERITY_COLORS, resolution_text, resolved_after_text
from .messages import digest_reason_text

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

TEMPLATE_PATH = Path(__file__).with_name("templates") / "email.html"
DIGEST_TEMPLATE_PATH = Path(__file__).with_name("templates") / "digest.html"

# What each notification kind adds to the subject and shows in the header.
_SUBJECT_TAG = {"reminder": "[REMINDER] ", "escalated": "[ESCALATED] ", "flapping": "[FLAPPING] "}
_BANNER = {
    "firing": "Alert",
    "reminder": "Reminder",
    "escalated": "Escalated alert",
    "resolved": "Resolved",
    "flapping": "Flapping alert",
    "test": "Test notification",
}
# Text on the coloured header: white, except on the light yellow of "medium".
_DARK_TEXT_ON = {"#ffc107"}


def bare_address(address: str) -> str:
    """``a@x`` from ``Name <a@x>``."""
    from email.utils import parseaddr

    return parseaddr(address)[1] or address


def subject(message: Message) -> str:
    """``[HIGH] Kitchen Pantry CRM Alert: High Response Time`` and its variants:
    ``[HIGH] [REMINDER] ...``, ``[CRITICAL] [ESCALATED] ...``, ``[RESOLVED] ...``,
    ``[TEST] ...``."""
    alert = message.alert
    title = one_line(alert.get("title") or alert.get("id") or "alert")
    service = one_line(message.service_name)
    if message.digest:
        text = f"[{str(message.severity).upper()}] [DIGEST] {service} Alerts: {len(message.alerts)} alerts"
        return text if len(text) <= 250 else text[:249] + "…"
    if message.kind == "resolved":
        tag = "[RESOLVED] "
    elif message.kind == "test":
        tag = "[TEST] "
    else:
        tag = f"[{str(message.severity).upper()}] " + _SUBJECT_TAG.get(message.kind, "")
    text = f"{tag}{service} Alert: {title}" + (f" (step {message.step})" if message.step is not None else "")
    return text if len(text) <= 250 else text[:249] + "…"


def render_text(message: Message) -> str:
    """The plain-text part."""
    if message.digest:
        return _digest_text(message)
    view = _view(message)
    lines = [view["subject"], ""]
    lines += [f"{label}: {value}" for label, value in view["details"]]
    lines += ["", "Description:", view["description"], "", "Metadata:"]
    lines += [f"  {key}: {value}" for key, value in view["metrics"]]
    lines.append(f"  Count: {view['count']}")
    if view["labels"]:
        lines.append("  Labels: " + ", ".join(f"{k}={v}" for k, v in view["labels"]))
    if view["runbook_url"] or view["dashboard_url"] or view["ack_url"]:
        lines.append("")
    if view["runbook_url"]:
        lines.append(f"Runbook: {view['runbook_url']}")
    if view["dashboard_url"]:
        lines.append(f"Dashboard: {view['dashboard_url']}")
    if view["ack_url"]:
        lines.append(f"Acknowledge: {view['ack_url']}")
    version = f" {view['version']}" if view["version"] else ""
    lines += ["", "-- ", f"Alert ID {view['alert_id']}, sent by pantry-alert{version} for {view['service_name']}"]
    return "\n".join(lines) + "\n"


def render_html(message: Message) -> str:
    """The HTML part (templates/email.html): a header in the severity colour, then the details;
    every value escaped (Jinja2 autoescape)."""
    if message.digest:
        return _template(DIGEST_TEMPLATE_PATH).render(**_digest_view(message))
    return _template().render(**_view(message))


def _digest_view(message: Message) -> dict[str, Any]:
    """A digest's rows (one per alert) and heading, as plain strings."""
    rows = []
    for alert, event in zip(message.alerts, message.events, strict=True):
        severity = str(alert.get("severity", ""))
        resolved = alert.get("status") == "resolved"
        rows.append(
            {
                "severity": severity.upper(),
                "color": SEVERITY_COLORS.get(severity, "#6c757d"),
                "text_color": "#212529" if SEVERITY_COLORS.get(severity) in _DARK_TEXT_ON else "#ffffff",
                "title": str(alert.get("title", "")),
                "description": str(alert.get("description", "")),
                "state": "resolved" if resolved else str(event),
                "count": format_value(alert.get("count", 1)),
                "time": format_time(alert.get("timestamp"), message.timezone),
                "resolved_at": format_time(alert.get("resolvedAt"), message.timezone) if resolved else "",
                "alert_id": str(alert.get("id", "")),
                "runbook_url": _safe_url(alert.get("runbookUrl")),
            }
        )
    color = SEVERITY_COLORS.get(message.severity, "#6c757d")
    return {
        "subject": subject(message),
        "service_name": str(message.service_name),
        "count": len(rows),
        "reason": digest_reason_text(message),
        "severity_upper": message.severity.upper(),
        "color": color,
        "header_text_color": "#212529" if color in _DARK_TEXT_ON else "#ffffff",
        "rows": rows,
        "dashboard_url": _safe_url(message.dashboard_url),
        "version": str(message.version or ""),
    }


def _digest_text(message: Message) -> str:
    view = _digest_view(message)
    lines = [view["subject"], ""]
    if view["reason"]:
        lines += [f"{view['count']} alerts, {view['reason']}.", ""]
    for row in view["rows"]:
        state = row["state"] + (f" at {row['resolved_at']}" if row["resolved_at"] else "")
        lines.append(f"[{row['severity']}] {one_line(row['title'])} ({state}, count {row['count']})")
        lines.append(f"  {row['description']}")
        lines.append(f"  Fired: {row['time']} · Alert ID {row['alert_id']}")
        if row["runbook_url"]:
            lines.append(f"  Runbook: {row['runbook_url']}")
        lines.append("")
    if view["dashboard_url"]:
        lines += [f"Dashboard: {view['dashboard_url']}", ""]
    version = f" {view['version']}" if view["version"] else ""
    lines += ["-- ", f"sent by pantry-alert{version} for {view['service_name']}"]
    return "\n".join(lines) + "\n"


def build_email(settings, message: Message):
    """The complete ``email.message.EmailMessage`` (multipart/alternative)."""
    from email.message import EmailMessage
    from email.utils import formatdate

    msg = EmailMessage()
    msg["Subject"] = subject(message)
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.recipients)
    msg["Date"] = formatdate(localtime=True)
    # Stable across retries of one notification, so a mail system can drop a repeat.
    key = re.sub(r"[^A-Za-z0-9._-]", "-", message.idempotency_key)[:200] or "notification"
    domain = bare_address(settings.sender).rpartition("@")[2] or "pantry-alert"
    msg["Message-ID"] = f"<pantry-alert.{key}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Pantry-Alert-Id"] = one_line(str(message.alert.get("id", "")))[:200]
    msg["X-Pantry-Alert-Event"] = message.kind
    msg.set_content(render_text(message))
    msg.add_alternative(render_html(message), subtype="html")
    return msg


def _template(path: Path = TEMPLATE_PATH):
    if path not in _TEMPLATES:
        import jinja2

        env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        _TEMPLATES[path] = env.from_string(path.read_text(encoding="utf-8"))
    return _TEMPLATES[path]


_TEMPLATES: dict[Path, Any] = {}


def _view(message: Message) -> dict[str, Any]:
    """Everything the text and HTML parts show, as plain strings."""
    alert = message.alert
    meta = _mapping(alert.get("metadata"))
    severity = str(alert.get("severity", ""))
    color = RESOLVED_COLOR if message.kind == "resolved" else SEVERITY_COLORS.get(severity, "#6c757d")
    count = alert.get("count", meta.get("alertCount", 1))
    return {
        "subject": subject(message),
        "service_name": str(message.service_name),
        "banner": _BANNER.get(message.kind, message.kind) + (f" (step {message.step})" if message.step else ""),
        "title": str(alert.get("title", "")),
        "severity_upper": severity.upper(),
        "color": color,
        "header_text_color": "#212529" if color in _DARK_TEXT_ON else "#ffffff",
        "details": _details(message, severity),
        "description": str(alert.get("description", "")),
        "metrics": [(str(k), format_value(v)) for k, v in _mapping(meta.get("metrics")).items()],
        "count": format_value(count),
        "labels": [(str(k), format_value(v)) for k, v in _mapping(alert.get("labels")).items()],
        "runbook_url": _safe_url(alert.get("runbookUrl")),
        "dashboard_url": _safe_url(message.dashboard_url),
        "ack_url": _safe_url(message.ack_url),
        "alert_id": str(alert.get("id", "")),
        "version": str(message.version or ""),
    }


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _details(message: Message, severity: str) -> list[tuple[str, str]]:
    """The label/value rows of the details table, in order."""
    alert, tz = message.alert, message.timezone
    details = [
        ("Severity", severity.upper()),
        ("Type", str(alert.get("type", ""))),
        ("Time", format_time(alert.get("timestamp"), tz)),
        ("Status", str(alert.get("status") or ("resolved" if alert.get("resolved") else "firing"))),
    ]
    if message.step is not None:
        details.append(("Escalation step", f"step {message.step}"))
    elif message.kind == "escalated" or alert.get("escalated"):
        details.append(("Escalated", f"yes, severity raised to {severity.upper()}"))
    if alert.get("lastSeenAt") and alert.get("lastSeenAt") != alert.get("timestamp"):
        details.append(("Last seen", format_time(alert.get("lastSeenAt"), tz)))
    if alert.get("acknowledgedAt"):
        by = f" by {alert['acknowledgedBy']}" if alert.get("acknowledgedBy") else ""
        details.append(("Acknowledged", format_time(alert["acknowledgedAt"], tz) + by))
    if alert.get("resolvedAt"):
        by = f" ({alert['resolvedBy']})" if alert.get("resolvedBy") else ""
        after = resolved_after_text(alert) if message.kind == "resolved" else None
        details.append(("Resolved", format_time(alert["resolvedAt"], tz) + by + (f", {after}" if after else "")))
    resolution = resolution_text(alert) if message.kind == "resolved" else None
    if resolution:
        details.append(("Value at resolution", resolution))
    return details


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


_URL_ESCAPES = {'"': "%22", "'": "%27", "<": "%3C", ">": "%3E"}


def _safe_url(url: Any) -> str | None:
    """Only absolute http(s) URLs become links (no ``javascript:``); a quote or an angle bracket
    in one is percent-encoded (the link still works, and cannot end an attribute or a tag)."""
    if isinstance(url, str) and is_http_url(url.strip()):
        return re.sub(r"[\"'<>]", lambda m: _URL_ESCAPES[m.group()], url.strip())
    return None

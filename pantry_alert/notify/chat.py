"""The words every paging and chat channel shows (ntfy, Teams, Telegram, Discord, Apprise).

Pure functions over a ``Message``: the headline (``[HIGH] High Error Rate``,
``[RESOLVED] ...``), the values, the resolution summary (``resolved after 42m;
value at resolution: ...``), the buttons (runbook, dashboard, acknowledge link),
and the escaping for each target: HTML (Telegram), Markdown (Discord, Teams'
Adaptive Card text).  Text from metrics and labels is escaped for its target
and ``defang``-ed, so it can neither format, mention, ping, nor turn into a link.
"""

from __future__ import annotations

import math
import re

from ..text import one_line
from ..urls import is_http_url
from .alert_text import resolution_summary

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

LABELS = {
    "reminder": "[REMINDER]",
    "escalated": "[ESCALATED]",
    "flapping": "[FLAPPING]",
    "test": "[TEST]",
    "acknowledged": "[ACKNOWLEDGED]",
}
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~@])")
_LINKISH = re.compile(r"(?i)(://|www\.)")
ZWSP = "\u200b"  # a zero-width space: breaks an auto-link or a template expression, shows nothing


def headline(message: Message) -> str:
    """``[HIGH] High Error Rate``; ``[HIGH] [REMINDER] ...``; ``[RESOLVED] ...``; one line."""
    alert = message.alert
    head = "[RESOLVED]" if message.kind == "resolved" else f"[{str(alert.get('severity', '')).upper()}]"
    label = LABELS.get(message.kind)
    title = one_line(alert.get("title") or alert.get("id") or "alert")
    return " ".join(part for part in (head, label, title) if part)


def number(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def metadata(alert: dict[str, Any]) -> dict[str, Any]:
    """The alert's ``metadata`` mapping (empty when it has none)."""
    meta = alert.get("metadata")
    return meta if isinstance(meta, dict) else {}


def values_text(alert: dict[str, Any]) -> str:
    """``errorRate 0.0734; p95ResponseTime 2500``: the values the alert fired with."""
    meta = metadata(alert)
    metrics = meta["metrics"] if isinstance(meta.get("metrics"), dict) else {}
    return "; ".join(f"{path} {number(value)}" for path, value in metrics.items())


def resolution(message: Message) -> str | None:
    """The resolved notice's ``resolved after 42m; value at resolution: ...`` line."""
    return resolution_summary(message.alert) if message.kind == "resolved" else None


def body_lines(message: Message) -> list[str]:
    """The plain lines under the headline: description, values or resolution, escalation."""
    alert = message.alert
    lines = [str(alert.get("description") or "")]
    summary = resolution(message)
    if summary:
        lines.append(summary)
    elif values_text(alert):
        lines.append(f"values: {values_text(alert)}")
    if alert.get("escalated") and message.kind != "resolved":
        lines.append("escalated")
    return [line for line in lines if line]


def buttons(message: Message) -> list[tuple[str, str]]:
    """(label, url) of the runbook, the dashboard and the signed acknowledge link, where there are."""
    out = []
    runbook = message.alert.get("runbookUrl")
    if isinstance(runbook, str) and is_http_url(runbook):
        out.append(("Runbook", runbook))
    if message.dashboard_url and is_http_url(message.dashboard_url):
        out.append(("Dashboard", message.dashboard_url))
    if message.ack_url:
        out.append(("Acknowledge", message.ack_url))
    return out


def defang(text: Any) -> str:
    """``text`` that no client turns into a link or a template call: a zero-width space after
    ``://``'s colon and in ``www.`` and ``{{``."""
    text = _LINKISH.sub(lambda m: m.group(1)[0] + ZWSP + m.group(1)[1:], str(text))
    return text.replace("{{", "{" + ZWSP + "{")


def html(text: Any) -> str:
    """Escaped for Telegram's HTML (``& < >`` and quotes), defanged."""
    import html as html_module

    return html_module.escape(defang(text), quote=True)


def markdown(text: Any) -> str:
    """Escaped for Markdown (Discord, Adaptive Card text): every markup character backslashed,
    defanged, so ``@everyone``, ``<!channel>``, ``**`` and ``[x](y)`` show as they are written."""
    return _MARKDOWN.sub(r"\\\1", defang(text))


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters ending in "…" (never inside a backslash escape)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if cut.endswith("\\") and not cut.endswith("\\\\"):
        cut = cut[:-1]
    return cut + "…"

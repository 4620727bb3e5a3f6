"""The console channel: the alert printed to the terminal (always configured)."""

from __future__ import annotations

import sys

from ..record import FrozenRecord
from ..text import printable
from ..timeutil import format_time
from .capabilities import Capabilities
from .messages import digest_reason_text

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any, TextIO

    from .base import Message

# always configured; one line at a time, so that lines never interleave
CAPABILITIES = Capabilities(always=True, digest=True, serial=True)
SECTION_KEYS: tuple[str, ...] = ()  # nothing to configure: always on

LABELS = {
    "firing": "",
    "reminder": " [REMINDER]",
    "escalated": " [ESCALATED]",
    "resolved": "",
    "flapping": " [FLAPPING]",
    "test": " [TEST]",
}


class ConsoleSettings(FrozenRecord):
    """The console channel's settings."""

    stream: Any
    timeout: float
    _fields = ("stream", "timeout")
    _shown = _fields

    def __init__(self, stream: Any = None, timeout: float = 10.0) -> None:
        object.__setattr__(self, "stream", stream)
        object.__setattr__(self, "timeout", timeout)

    def secrets(self) -> list[str]:
        return []

    def describe(self) -> str:
        return "stdout" if self.stream in (None, sys.stdout) else "stderr"


def settings(section: dict | None, env, stream: TextIO | None = None) -> ConsoleSettings:
    return ConsoleSettings(stream=stream)


def _step(message: Message) -> str:
    return f" · step {message.step}" if message.step is not None else ""


def render(message: Message) -> str:
    if message.digest:
        return render_digest(message)
    alert = message.alert
    head = "RESOLVED" if message.kind == "resolved" else alert["severity"].upper()
    lines = [
        f"[{head}]{LABELS.get(message.kind, '')} {printable(message.service_name)} Alert: {printable(alert['title'])}",
        f"  {printable(alert['description'])}",
        f"  alert {printable(alert['id'])} · {message.kind}{_step(message)} · count {alert['count']} · "
        f"{format_time(alert['timestamp'], message.timezone)}",
    ]
    from .base import resolution_summary

    resolution = resolution_summary(alert) if message.kind == "resolved" else None
    if resolution:
        lines.insert(2, f"  {printable(resolution)}")
    if alert.get("runbookUrl"):
        lines.append(f"  runbook: {printable(alert['runbookUrl'])}")
    if message.dashboard_url:
        lines.append(f"  dashboard: {printable(message.dashboard_url)}")
    return "\n".join(lines)


def render_digest(message: Message) -> str:
    """One line per alert (with its runbook), then the dashboard."""
    reason = digest_reason_text(message)
    lines = [
        f"[{message.severity.upper()}] [DIGEST] {message.service_name}: {len(message.alerts)} alerts"
        + (f" ({reason})" if reason else "")
    ]
    for alert, event in zip(message.alerts, message.events, strict=True):
        state = "resolved" if alert.get("status") == "resolved" else event
        lines.append(
            f"  [{str(alert.get('severity', '')).upper()}] {printable(alert.get('title'))}: {printable(alert.get('description'))} "
            f"· {state} · count {alert.get('count')} · {alert.get('id')}"
        )
        if alert.get("runbookUrl"):
            lines.append(f"    runbook: {printable(alert['runbookUrl'])}")
    if message.dashboard_url:
        lines.append(f"  dashboard: {message.dashboard_url}")
    return "\n".join(lines)


def send(settings: ConsoleSettings, message: Message) -> None:
    stream = settings.stream or sys.stdout
    try:
        if stream is None:
            raise OSError("standard output is closed")
        stream.write(render(message) + "\n")
        stream.flush()
    except (OSError, ValueError) as exc:
        from ..errors import DeliveryError

        # Nobody can read this notice: retrying would print it late to a later run's reader.
        raise DeliveryError(f"console: cannot write ({exc})", retryable=False) from None

"""What a notice says about its alert beyond the title, shared by the renderers: the severity
colours, and how long a resolved alert fired with the values it resolved at."""

from __future__ import annotations

import math

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

# The severity colours of email headers and Slack attachments; resolved notices use green.
SEVERITY_COLORS = {
    "low": "#28a745",
    "medium": "#ffc107",
    "high": "#fd7e14",
    "critical": "#dc3545",
}
RESOLVED_COLOR = "#28a745"


def _number(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def fired_for_ms(alert: dict[str, Any]) -> int | None:
    """How long a resolved alert fired (its resolution time minus its fire time), or None."""
    start, end = alert.get("timestamp"), alert.get("resolvedAt")
    if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int):
        return None
    return max(0, end - start)


def resolved_after_text(alert: dict[str, Any]) -> str | None:
    """``resolved after 42m`` (the compact duration the CLI prints), or None when unknown."""
    from ..timeutil import format_duration

    fired = fired_for_ms(alert)
    return None if fired is None else f"resolved after {format_duration(fired)}"


def resolution_summary(alert: dict[str, Any]) -> str | None:
    """What a resolved notice says beside its title: ``resolved after 42m; value at resolution:
    p95ResponseTime 420 (fired at 2500)`` (either part alone when the other is unknown)."""
    parts = [resolved_after_text(alert)]
    values = resolution_text(alert)
    if values:
        parts.append(f"value at resolution: {values}")
    found = [part for part in parts if part]
    return "; ".join(found) if found else None


def resolution_text(alert: dict[str, Any]) -> str | None:
    """``p95ResponseTime 420 (fired at 2500)``: each value the rule's condition read when
    the alert resolved, beside the value it fired with; None when there is none (resolved by
    hand, or the built-in source alert).  A resolved notice shows it, so nobody reads the
    breach value in a message that says the breach is over."""
    raw = alert.get("metadata")
    meta: dict[str, Any] = raw if isinstance(raw, dict) else {}
    now: dict[str, Any] = meta["resolvedMetrics"] if isinstance(meta.get("resolvedMetrics"), dict) else {}
    fired: dict[str, Any] = meta["metrics"] if isinstance(meta.get("metrics"), dict) else {}
    if not now:
        return None
    parts = []
    for path, value in now.items():
        was = fired.get(path)
        parts.append(f"{path} {_number(value)}" + (f" (fired at {_number(was)})" if was is not None else ""))
    return "; ".join(parts)

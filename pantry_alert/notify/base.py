"""What channels share: the message they render and setting helpers (secrets: ``pantry_alert.redact``).

The protocol a channel module implements is described in ``notify.registry``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC

from ..errors import ConfigError
from ..model import SEVERITY_ORDER

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

# Notification kinds.  The webhook's "event" field uses the same words; a "digest"
# carries several alerts at once (quiet hours ended, or a storm batched); an
# "acknowledged" notice goes only to the channels that follow acknowledge/resolve.
KINDS = ("firing", "reminder", "escalated", "resolved", "flapping", "test", "digest", "acknowledged")
# The kinds of a notice about an alert that still fires: they carry the acknowledge link.
FIRING_KINDS = ("firing", "reminder", "escalated", "flapping")
# Why a digest was sent.
DIGEST_REASONS = ("quiet_hours", "batching")


@dataclass(frozen=True)
class Message:
    """Everything a channel needs to render and send one notification.

    A message carries one alert, or several when ``kind`` is ``"digest"``:
    ``alerts`` lists them (each in the alert JSON shape) and ``events`` gives
    the notification kind of each (``firing``, ``reminder``, ``escalated`` or
    ``resolved``); ``alert`` is the first.  For a single alert ``alerts`` is
    ``[alert]`` and ``events`` is ``[kind]``, so a channel can always iterate.
    """

    kind: str  # one of KINDS
    alert: dict[str, Any]  # the alert in the JSON shape of ``Alert.to_json`` (a digest's first)
    idempotency_key: str  # stable across retries of this notification
    now_ms: int  # "now" of the sending run (epoch ms)
    service: str = "kitchen-pantry-crm"
    service_name: str = "Kitchen Pantry CRM"
    dashboard_url: str | None = None
    timezone: str | None = None  # IANA name used to show times; None = system's
    version: str = ""
    alerts: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    reason: str | None = None  # a digest's reason: one of DIGEST_REASONS
    step: int | None = None  # the escalation policy step this notice pages (1-based)
    ack_url: str | None = None  # the alert's signed acknowledge link (firing notices, links enabled)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown notification kind {self.kind!r} (kinds: {', '.join(KINDS)})")
        if not self.alerts:
            object.__setattr__(self, "alerts", [self.alert])
        if not self.events:
            object.__setattr__(self, "events", [self.kind] * len(self.alerts))
        if len(self.events) != len(self.alerts):
            raise ValueError("a message needs one event per alert")

    @property
    def digest(self) -> bool:
        return self.kind == "digest"

    @property
    def severity(self) -> str:
        """The severity shown: the alert's, or a digest's highest."""
        if self.digest:
            return max((str(a.get("severity")) for a in self.alerts), key=lambda s: SEVERITY_ORDER.get(s, -1))
        return str(self.alert.get("severity"))

    @property
    def color(self) -> str:
        return RESOLVED_COLOR if self.kind == "resolved" else SEVERITY_COLORS.get(self.severity, "#6c757d")


DEFAULT_TIMEOUT = 10.0


def check_section(section: dict | None, keys: Sequence[str]) -> dict:
    """A channel's ``channels.<name>`` section, checked to be a mapping of known keys."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError("must be a mapping of " + ", ".join(keys))
    unknown = sorted(set(section) - set(keys))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(keys)}")
    return section


def picker(section: dict, env: Mapping[str, str]):
    """``pick(key, VAR)`` -> (value, where it came from): the section's key, else the channel's
    environment variable, else (None, None).  Empty strings count as unset."""

    def pick(key: str, var: str | None) -> tuple[Any, str | None]:
        value = section.get(key)
        if value is not None and value != "":
            return value, key
        value = env.get(var) if var else None
        return (value, f"{var} (environment)") if value not in (None, "") else (None, None)

    return pick


def parse_timeout(value: Any, where: str) -> float:
    """A channel timeout in seconds from ``500ms``, ``10s``, ``1m``; default 10s.

    A bare number other than 0 is ambiguous (seconds? minutes?) and refused, as for every duration
    but a rule's cooldown."""
    from ..timeutil import parse_duration

    if value is None or value == "":
        return DEFAULT_TIMEOUT
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        raise ConfigError(f"{where}: a bare number ({value!r}) is ambiguous; add a unit, e.g. {value}s or {value}ms")
    try:
        ms = parse_duration(value, what=where)
    except ValueError as exc:
        if "ambiguous" in str(exc):
            raise ConfigError(f"{where}: a bare number ({value!r}) is ambiguous; add a unit, e.g. {value}s") from None
        raise ConfigError(f"{where}: invalid timeout {value!r} (use e.g. 10s, 500ms or 1m)") from None
    if ms <= 0:
        raise ConfigError(f"{where}: timeout must be positive, got {value!r}")
    return ms / 1000


def retry_after_ms(value: str | None, now_ms: int | None = None) -> int | None:
    """``Retry-After`` (seconds or an HTTP date, compared with ``now_ms``, the run's now, when
    given) in milliseconds, or None."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now_ms is None else now_ms / 1000)
    if not math.isfinite(seconds):
        return None
    return max(0, int(round(seconds * 1000)))


DEFAULT_MAX_PARALLEL = 8
MAX_PARALLEL_LIMIT = 64


def parse_max_parallel(value: Any, where: str) -> int:
    """How many sends of one channel may be in flight at once: a whole number 1-64; default 8."""
    if value is None or value == "":
        return DEFAULT_MAX_PARALLEL
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise ConfigError(f"{where}: must be a whole number from 1 to {MAX_PARALLEL_LIMIT}, not {value!r}")
    number = int(str(value).strip())
    if not 1 <= number <= MAX_PARALLEL_LIMIT:
        raise ConfigError(f"{where}: must be from 1 to {MAX_PARALLEL_LIMIT}, not {number}")
    return number


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

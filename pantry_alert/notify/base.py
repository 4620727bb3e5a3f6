"""What channels share: the message they render (secrets: ``pantry_alert.redact``).

The setting helpers live in ``notify.settings`` and the alert texts and colours in
``notify.alert_text`` (both light: config load uses them); they are re-exported here.

The protocol a channel module implements is described in ``notify.registry``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC

from ..model import SEVERITY_ORDER
from .alert_text import RESOLVED_COLOR as RESOLVED_COLOR
from .alert_text import SEVERITY_COLORS as SEVERITY_COLORS
from .alert_text import fired_for_ms as fired_for_ms
from .alert_text import resolution_summary as resolution_summary
from .alert_text import resolution_text as resolution_text
from .alert_text import resolved_after_text as resolved_after_text
from .settings import DEFAULT_MAX_PARALLEL as DEFAULT_MAX_PARALLEL
from .settings import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from .settings import MAX_PARALLEL_LIMIT as MAX_PARALLEL_LIMIT
from .settings import check_section as check_section
from .settings import parse_max_parallel as parse_max_parallel
from .settings import parse_timeout as parse_timeout
from .settings import picker as picker

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

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

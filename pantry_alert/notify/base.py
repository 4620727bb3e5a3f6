"""The small protocol every channel module implements.

A channel is a module ``pantry_alert.notify.<name>`` with two functions:

``settings(section: dict | None, env: Mapping[str, str]) -> Settings | None``
    Build the channel's settings from its ``channels.<name>`` section of
    rules.yaml (already ``${VAR}``-interpolated; ``None`` when absent) or,
    where that is absent, from the seed's environment variables.  Return
    ``None`` when the channel is not configured.  Raise ``ConfigError`` for a
    present but invalid section.  Must be cheap: no network, no heavy imports
    at module level (a cron run that fires nothing must not import slack_sdk).

``send(settings, message: Message) -> None``
    Deliver one notification, within ``settings.timeout`` seconds.  Return
    only once the peer accepted it.  On failure raise ``DeliveryError``
    (``retryable=False`` when a retry cannot help), with a message that
    names the channel's peer and what went wrong, scrubbed of secrets.

``Settings`` objects must expose ``timeout: float`` (seconds) and
``secrets() -> list[str]`` (values to scrub from any error text).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from ..errors import ConfigError

CHANNEL_NAMES = ("email", "slack", "webhook", "console")

# Severity colours of the seed (SPEC §7.1); resolved notices use green.
SEVERITY_COLORS = {
    "low": "#28a745",
    "medium": "#ffc107",
    "high": "#fd7e14",
    "critical": "#dc3545",
}
RESOLVED_COLOR = "#28a745"

# Notification kinds.  The webhook's "event" field uses the same words.
KINDS = ("firing", "reminder", "escalated", "resolved", "test")


@dataclass(frozen=True)
class Message:
    """Everything a channel needs to render and send one notification."""

    kind: str  # one of KINDS
    alert: dict[str, Any]  # the alert in the SPEC §6 JSON shape
    idempotency_key: str  # stable across retries of this notification
    now_ms: int  # "now" of the sending run (epoch ms)
    service: str = "kitchen-pantry-crm"
    service_name: str = "Kitchen Pantry CRM"
    dashboard_url: str | None = None
    timezone: str | None = None  # IANA name used to show times; None = system's
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return self.alert["severity"]

    @property
    def color(self) -> str:
        return RESOLVED_COLOR if self.kind == "resolved" else SEVERITY_COLORS[self.severity]


def scrub(text: str, secrets: list[str | None]) -> str:
    """Replace every secret in ``text`` with ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


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
    """``pick(key, VAR)`` -> (value, where it came from): the section's key, else the seed's
    environment variable, else (None, None).  Empty strings count as unset."""

    def pick(key: str, var: str | None) -> tuple[Any, str | None]:
        value = section.get(key)
        if value is not None and value != "":
            return value, key
        value = env.get(var) if var else None
        return (value, f"{var} (environment)") if value not in (None, "") else (None, None)

    return pick


def parse_timeout(value: Any, where: str) -> float:
    """A channel timeout in seconds: a number of seconds, or ``500ms``, ``10s``, ``1m``; default 10s."""
    from ..timeutil import parse_duration

    if value is None or value == "":
        return DEFAULT_TIMEOUT
    try:
        ms = parse_duration(value, bare_unit="s", what=where)
    except ValueError:
        raise ConfigError(f"{where}: invalid timeout {value!r} (use e.g. 10s, 500ms or a number of seconds)") from None
    if ms <= 0:
        raise ConfigError(f"{where}: timeout must be positive, got {value!r}")
    return ms / 1000


def retry_after_ms(value: str | None) -> int | None:
    """``Retry-After`` (seconds or an HTTP date) in milliseconds, or None."""
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
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0, int(round(seconds * 1000)))


def redact_url(url: str) -> str:
    """``https://user:pw@host/p?token=x#f`` -> ``https://host/p?…`` (no userinfo,
    query or fragment); works on malformed URLs too."""
    text = str(url).strip().split("#", 1)[0]
    if "?" in text:
        text = text.split("?", 1)[0] + "?…"
    return re.sub(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?[^/?@]*@", r"\1", text)


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

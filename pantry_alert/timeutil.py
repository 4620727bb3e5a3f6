"""Durations and "now".  No module-level clock: callers pass ``now`` around."""

from __future__ import annotations

import math
import os
import re
import time
from datetime import UTC, datetime, tzinfo

from .errors import UsageError

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
MAX_DURATION_MS = 36_500 * 86_400_000  # 100 years: longer durations are typos or attacks
# PANTRY_ALERT_NOW as epoch milliseconds: below 10^11 it can only be seconds (10^11 ms is March 1973).
MIN_EPOCH_MS = 10**11
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def parse_duration(value, *, bare_unit: str | None = None, what: str = "duration") -> int:
    """Parse ``30s``, ``15m``, ``2h``, ``7d`` (or a bare number) into milliseconds.

    ``bare_unit`` says what a bare number means (``"m"`` for a rule's
    cooldown, ``"ms"`` for ``stats --window``); without one a bare number
    other than 0 is rejected as ambiguous.  Raises ``ValueError`` with a
    message fit for the user.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what}: {value!r} is not a duration (use e.g. 30s, 15m, 2h, 7d)")
    if isinstance(value, (int, float)):
        try:
            number, unit = float(value), None
        except OverflowError:
            number, unit = math.inf, None
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{what}: {value!r} is not a duration (use e.g. 30s, 15m, 2h, 7d)")
        number, unit = float(match.group(1)), match.group(2)
    if number < 0:
        raise ValueError(f"{what}: {value!r} is negative")
    if not math.isfinite(number):
        raise ValueError(f"{what}: {_short(value)} is too long (at most 36500d)")
    if unit is None:
        if number == 0:
            return 0
        if bare_unit is None:
            raise ValueError(
                f"{what}: a bare number ({value!r}) is ambiguous; add a unit, e.g. {value}s, {value}m, {value}h or {value}d"
            )
        unit = bare_unit
    ms = number * _UNITS[unit]
    if ms > MAX_DURATION_MS:
        raise ValueError(f"{what}: {_short(value)} is too long (at most 36500d)")
    return int(ms)


def _short(value) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:30] + "…" + text[-5:]


def cli_duration(value: str, *, bare_unit: str | None = None, option: str) -> int:
    """``parse_duration`` for a command-line option: errors become exit 2."""
    try:
        return parse_duration(value, bare_unit=bare_unit, what=option)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def positive_duration(ms: object, problem: str) -> int:
    """``ms`` when it is a duration longer than 0 (whole milliseconds), else ``UsageError(problem)``;
    ``{value!r}`` in ``problem`` shows what was given.  Every face checks its durations through this."""
    if isinstance(ms, bool) or not isinstance(ms, int) or ms <= 0:
        raise UsageError(problem.format(value=ms))
    return ms


def exact_duration(ms: int) -> str:
    """``ms`` as rules.yaml writes a duration, exactly: in the largest unit that divides it
    (``15m``, ``90s``, ``1500ms``, ``0``); ``parse_duration`` reads it back."""
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms" if ms else "0"


def rfc3339(ms: int) -> str:
    """Epoch ms as RFC 3339 in UTC with milliseconds: ``2025-11-26T12:00:00.000Z``."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_duration(ms: int | float | None) -> str:
    """A readable duration, rounded to at most two units: ``2h 5m``, ``45s``, ``0s``."""
    if not ms:
        return "0s"
    seconds = int(round(ms / 1000))
    if seconds < 1:
        return f"{int(ms)}ms"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def now_ms(env=None) -> int:
    """``PANTRY_ALERT_NOW`` (ISO-8601 with offset, or epoch ms) or the real clock."""
    env = os.environ if env is None else env
    raw = (env.get("PANTRY_ALERT_NOW") or "").strip()
    if not raw:
        return int(time.time() * 1000)
    example = "e.g. PANTRY_ALERT_NOW=2026-11-26T12:00:00+00:00 or PANTRY_ALERT_NOW=1764158400000"
    shown = raw if len(raw) <= 40 else raw[:30] + "…"
    if re.fullmatch(r"\d+", raw):
        if len(raw) > 15 or int(raw) > MAX_EPOCH_MS:
            raise UsageError(f"PANTRY_ALERT_NOW={shown} is after the year 9999", hint=example)
        if int(raw) < MIN_EPOCH_MS:
            raise UsageError(
                f"PANTRY_ALERT_NOW={shown} looks like epoch seconds; it must be epoch milliseconds",
                hint=f"PANTRY_ALERT_NOW={raw}000, or an ISO-8601 timestamp such as 2026-11-26T12:00:00+00:00",
            )
        return int(raw)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise UsageError(
            f"PANTRY_ALERT_NOW={shown!r} is not an ISO-8601 timestamp with an offset or epoch milliseconds",
            hint=example,
        )
    try:
        ms = int(parsed.timestamp() * 1000)
    except (OverflowError, ValueError):
        ms = -1
    if not 0 <= ms <= MAX_EPOCH_MS:
        raise UsageError(f"PANTRY_ALERT_NOW={shown!r} is out of range (1970 to 9999)", hint=example)
    return ms


def iso_instant(text: str, what: str) -> int:
    """``text``, an ISO 8601 time with an offset (or ``Z``), as epoch ms in 1970 to 9999;
    ``UsageError`` naming ``what`` (``--start``, ``'start'``) otherwise."""
    shown = text if len(text) <= 40 else text[:30] + "…"
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        ms = int(parsed.timestamp() * 1000) if parsed.tzinfo is not None else -1
    except (ValueError, OverflowError):
        ms = -1
    if not 0 <= ms <= MAX_EPOCH_MS:
        raise UsageError(
            f"{what}: {shown!r} is not an ISO 8601 time with an offset", hint="e.g. 2025-11-30T02:00:00+01:00"
        )
    return ms


def format_time(ms, tz: str | None = None) -> str:
    """Epoch ms shown in the configured zone, the zone named: ``2025-11-26 13:26:40 CET (Europe/Berlin)``.

    The system's zone when ``tz`` is None; UTC when the name is unknown.
    """

    if ms is None:
        return "-"
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return "unknown"
    if tz:
        try:
            from zoneinfo import ZoneInfo

            zone: tzinfo = ZoneInfo(tz)
        except Exception:  # unknown zone: show UTC rather than fail
            zone, tz = UTC, "UTC"
        dt = datetime.fromtimestamp(ms / 1000, zone)
    else:
        dt = datetime.fromtimestamp(ms / 1000).astimezone()
    abbr = dt.tzname() or dt.strftime("%z")
    text = f"{dt:%Y-%m-%d %H:%M:%S} {abbr}"
    if tz and tz != abbr:
        text += f" ({tz})"
    return text


def budget_seconds(default: float, variable: str) -> float:
    """A built-in time budget: ``default`` seconds, or the positive number of seconds in the
    environment variable ``variable`` (read at each use, so a test can shorten a budget it waits
    out; unset in production).  Anything else in the variable leaves the default."""
    raw = (os.environ.get(variable) or "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if 0 < value < math.inf else default

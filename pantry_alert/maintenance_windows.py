"""Maintenance windows: when one is open, and which alerts it holds (pure: ``now`` comes in).

A window follows its zone's wall clock.  A weekly span starts on each of its
days at its start time and ends at its end time (the next day when the end is
at or before the start); each is turned into an instant through the zone's
rules for that date, so a window stays 02:00-04:00 local across a DST change.
A wall time inside a spring-forward gap is read as the first valid time after
the gap (02:30 on that night in Europe/Berlin is 03:00 summer time); a wall time
that occurs twice (autumn) is its first occurrence.  A cron window opens at each
time the expression matches in the zone (cronsim, DST handled as cron does)
and lasts its duration in real time.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from fnmatch import fnmatchcase

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from zoneinfo import ZoneInfo

    from .config.model import Maintenance
    from .model import Alert

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _zone(name: str) -> ZoneInfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def wall_instant(day: date, minutes: int, zone: ZoneInfo) -> int:
    """The instant (epoch ms) of the wall-clock time ``minutes`` after midnight of ``day`` in ``zone``.

    Inside a spring-forward gap: the first valid time after the gap (the moment of the change).
    A time that occurs twice: the first occurrence."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    first = wall.replace(tzinfo=zone, fold=0)
    seconds = int(first.timestamp())
    if datetime.fromtimestamp(seconds, zone).replace(tzinfo=None) == wall:
        return seconds * 1000
    # In a gap: fold=0 reads the wall time with the offset before the change (a later instant),
    # fold=1 with the offset after (an earlier one); the change lies between the two.
    low, high = int(wall.replace(tzinfo=zone, fold=1).timestamp()), seconds
    if low > high:
        low, high = high, low
    after = datetime.fromtimestamp(high, zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high * 1000


def _weekly_spans(window: Maintenance, now: int, days: range) -> Iterator[tuple[int, int]]:
    zone = _zone(window.timezone)
    today = datetime.fromtimestamp(now / 1000, zone).date()
    for offset in days:
        day = today + timedelta(days=offset)
        for span in window.weekly:
            if day.weekday() not in span.days:
                continue
            end_day = day + timedelta(days=1) if span.end <= span.start else day
            yield wall_instant(day, span.start, zone), wall_instant(end_day, span.end, zone)


def _cron_starts(window: Maintenance, after: int, *, backwards: bool = False) -> Iterator[int]:
    """The cron openings after ``after`` (epoch ms), in order; ``backwards``: those at or
    before it, newest first."""
    from cronsim import CronSim

    assert window.cron is not None
    seconds = after // 1000 + (1 if backwards else 0)  # cronsim steps strictly past its start
    start = datetime.fromtimestamp(seconds, _zone(window.timezone))
    for opening in CronSim(window.cron, start, reverse=backwards):
        yield int(opening.timestamp() * 1000)


def open_span(window: Maintenance, now: int) -> tuple[int, int] | None:
    """``(start, end)`` (epoch ms) of the opening of ``window`` that covers ``now``, or None.
    When openings overlap, the one that ends last."""
    found: tuple[int, int] | None = None
    if window.cron:
        start = next(_cron_starts(window, now, backwards=True), None)  # the latest opening; it ends last
        if start is not None and start <= now < start + window.duration_ms:
            found = (start, start + window.duration_ms)
        return found
    for start, end in _weekly_spans(window, now, range(-8, 1)):
        if start <= now < end and (found is None or end > found[1]):
            found = (start, end)
    return found


def next_span(window: Maintenance, now: int) -> tuple[int, int] | None:
    """``(start, end)`` of the first opening of ``window`` that starts after ``now``."""
    if window.cron:
        start = next(_cron_starts(window, now), None)
        return None if start is None else (start, start + window.duration_ms)
    later = [span for span in _weekly_spans(window, now, range(0, 9)) if span[0] > now]
    return min(later) if later else None


def matches(window: Maintenance, alert: Alert) -> bool:
    """Whether ``window`` covers ``alert``: its rule id matches one of ``rules`` (ids or shell
    patterns), and every ``match`` key accepts the alert's value."""
    if window.rules and not any(fnmatchcase(alert.rule_id, pattern) for pattern in window.rules):
        return False
    for key, accepted in window.match:
        if key.startswith("labels."):
            value = alert.labels.get(key[len("labels.") :])
        else:
            value = getattr(alert, key, None)
        if value is None or str(value) not in accepted:
            return False
    return True


def holding(windows: Sequence[Maintenance], alert: Alert, now: int) -> tuple[Maintenance, int] | None:
    """The open window that covers ``alert`` at ``now`` and closes last, with its close (epoch ms)."""
    best: tuple[Maintenance, int] | None = None
    for window in windows:
        if not matches(window, alert):
            continue
        span = open_span(window, now)
        if span is not None and (best is None or span[1] > best[1]):
            best = (window, span[1])
    return best


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a cron expression cronsim can evaluate, or None."""
    from cronsim import CronSim, CronSimError

    try:
        CronSim(expression, datetime(2025, 1, 1))
    except CronSimError as exc:
        return str(exc)
    return None

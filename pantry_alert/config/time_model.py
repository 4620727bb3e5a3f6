"""The time-policy records of the configuration: quiet hours, escalation steps, flapping
and maintenance windows (parsed by ``config.time_sections``; re-exported by ``config.model``)."""

from __future__ import annotations

from ..record import FrozenRecord


class QuietHours(FrozenRecord):
    """``quiet_hours``: a daily window of local time (it may cross midnight) in which
    notifications of ``severities`` are deferred.  Times are minutes after midnight."""

    start: int
    end: int
    timezone: str
    severities: tuple[str, ...]
    _fields = ("start", "end", "timezone", "severities")
    _shown = _fields

    def __init__(
        self, start: int, end: int, timezone: str = "UTC", severities: tuple[str, ...] = ("low", "medium")
    ) -> None:
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "timezone", timezone)
        object.__setattr__(self, "severities", severities)


class EscalationStep(FrozenRecord):
    """One step of an escalation policy: after ``after_ms`` of firing unacknowledged, page
    ``channels``; the last step may repeat every ``repeat_ms``."""

    after_ms: int
    channels: tuple[str, ...]
    repeat_ms: int | None
    __slots__ = ("after_ms", "channels", "repeat_ms")
    _fields = __slots__
    _shown = _fields

    def __init__(self, after_ms: int, channels: tuple[str, ...], repeat_ms: int | None = None) -> None:
        object.__setattr__(self, "after_ms", after_ms)
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "repeat_ms", repeat_ms)


class Flapping(FrozenRecord):
    """``flapping``: ``transitions`` changes of a rule's verdict within ``window_ms`` make it flap."""

    transitions: int
    window_ms: int
    __slots__ = ("transitions", "window_ms")
    _fields = __slots__
    _shown = _fields

    def __init__(self, transitions: int, window_ms: int) -> None:
        object.__setattr__(self, "transitions", transitions)
        object.__setattr__(self, "window_ms", window_ms)


class WeeklySpan(FrozenRecord):
    """One weekly span of a maintenance window: it starts on each of ``days`` (0 = Monday) at
    ``start`` and ends at ``end`` (minutes after midnight, local time; an end at or before the
    start is on the next day)."""

    days: tuple[int, ...]
    start: int
    end: int
    __slots__ = ("days", "start", "end")
    _fields = __slots__
    _shown = _fields

    def __init__(self, days: tuple[int, ...], start: int, end: int) -> None:
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)


class Maintenance(FrozenRecord):
    """A recurring maintenance window: the alerts it matches are held while it is open.

    It matches by rule id or shell-style pattern (``rules``) and/or by ``match`` (``type``,
    ``severity``, ``labels``: each a tuple of accepted values).  It opens by ``weekly`` spans or
    by a ``cron`` expression, each opening lasting ``duration_ms``, in ``timezone``."""

    name: str
    timezone: str
    rules: tuple[str, ...]
    match: tuple[tuple[str, tuple[str, ...]], ...]  # (key, accepted values); labels as "labels.<name>"
    weekly: tuple[WeeklySpan, ...]
    cron: str | None
    duration_ms: int
    __slots__ = ("name", "timezone", "rules", "match", "weekly", "cron", "duration_ms")
    _fields = __slots__
    _shown = _fields

    def __init__(
        self,
        name: str,
        timezone: str = "UTC",
        rules: tuple[str, ...] = (),
        match: tuple[tuple[str, tuple[str, ...]], ...] = (),
        weekly: tuple[WeeklySpan, ...] = (),
        cron: str | None = None,
        duration_ms: int = 0,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "timezone", timezone)
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "match", match)
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "cron", cron)
        object.__setattr__(self, "duration_ms", duration_ms)

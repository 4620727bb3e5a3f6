"""Window functions over a metric's recent samples: pure arithmetic, no I/O and no clock.

A condition such as ``avg_over(errorRate, "15m") > 0.05`` reads the samples
of ``errorRate`` that earlier runs stored plus the one this run read, in the
window ``(now - 15m, now]``.  The store loads the stored samples (the
``History`` below) and the engine hands them to the condition as a value.

- ``avg_over``, ``min_over``, ``max_over``: the mean, the least, the greatest;
- ``delta``: the newest sample minus the oldest;
- ``rate``: a counter's increase per second between the oldest and the
  newest sample, where a drop counts as a reset (the counter restarted from
  zero, so the new value is all increase), as Prometheus does, without
  extrapolating to the window's edges;
- ``pct_change``: ``100 * (now - old) / old``, where ``old`` is the stored
  sample nearest to ``now - d`` and within ``d/2`` of it (the older one on a
  tie).

A window holding fewer than two samples (for ``pct_change``: no ``old``, or
``old`` = 0) is "not enough history": the condition is unevaluable.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from .errors import Unevaluable
from .record import FrozenRecord

WINDOW_FUNCTIONS = ("avg_over", "min_over", "max_over", "delta", "rate", "pct_change")


class Window(FrozenRecord):
    """One window-function call of a condition: ``func(path, "duration")``, written as ``text``."""

    func: str
    path: str
    ms: int
    text: str
    _fields = ("func", "path", "ms", "text")
    _shown = _fields

    def __init__(self, func: str, path: str, ms: int, text: str) -> None:
        object.__setattr__(self, "func", func)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "ms", ms)
        object.__setattr__(self, "text", text)

    @property
    def lookback_ms(self) -> int:
        """How far before ``now`` this call may read a stored sample."""
        return self.ms + self.ms // 2 if self.func == "pct_change" else self.ms


class Series:
    """One metric's stored samples, oldest first (two parallel lists, for bisecting)."""

    __slots__ = ("ats", "values")

    def __init__(self, ats: list[int] | None = None, values: list[float] | None = None):
        self.ats = ats if ats is not None else []
        self.values = values if values is not None else []

    def append(self, at: int, value: float) -> None:
        self.ats.append(at)
        self.values.append(value)


class History:
    """The stored samples that a run's window functions read, and the run's time.

    Samples at or after ``now`` are ignored (a replay hands every run the same
    series): the run's own value comes from its metrics document."""

    __slots__ = ("now", "series")

    def __init__(self, now: int, series: dict[str, Series]):
        self.now = now
        self.series = series

    def window(self, path: str, start: int, *, closed: bool = False) -> tuple[list[int], list[float]]:
        """The stored samples of ``path`` after ``start`` (from it, with ``closed``) and before now."""
        series = self.series.get(path)
        if series is None:
            return [], []
        ats = series.ats
        lo = bisect_left(ats, start) if closed else bisect_right(ats, start)
        hi = bisect_left(ats, self.now)
        return ats[lo:hi], series.values[lo:hi]


def _not_enough(window: Window, detail: str) -> Unevaluable:
    return Unevaluable(f"not enough history for {window.text}: {detail}")


def _duration(ms: int) -> str:
    from .timeutil import exact_duration

    return exact_duration(ms)


def compute(window: Window, current: float, history: History | None) -> float:
    """The call's value at ``history.now``, ``current`` being the value this run read."""
    if history is None:
        raise _not_enough(window, "no stored samples are available here")
    if window.func == "pct_change":
        return _pct_change(window, current, history)
    ats, values = history.window(window.path, history.now - window.ms)
    ats, values = ats + [history.now], values + [current]
    if len(values) < 2:
        return _raise_short(window)
    func = window.func
    if func == "avg_over":
        return sum(values) / len(values)
    if func == "min_over":
        return min(values)
    if func == "max_over":
        return max(values)
    if func == "delta":
        return values[-1] - values[0]
    return increase(values) / ((ats[-1] - ats[0]) / 1000)  # rate


def _raise_short(window: Window) -> float:
    raise _not_enough(window, f"1 sample in the last {_duration(window.ms)} (a window needs at least 2)")


def increase(values: list[float]) -> float:
    """A counter's increase over ``values``: a drop is a reset, after which the new value is all increase."""
    total = 0.0
    previous = values[0]
    for value in values[1:]:
        total += value - previous if value >= previous else value
        previous = value
    return total


def _pct_change(window: Window, current: float, history: History) -> float:
    target = history.now - window.ms
    half = window.ms // 2
    ats, values = history.window(window.path, target - half, closed=True)
    best = None
    for at, value in zip(ats, values, strict=True):
        if at > target + half:
            break
        if best is None or abs(at - target) < abs(best[0] - target):
            best = (at, value)
    if best is None:
        raise _not_enough(
            window, f"no stored sample within {_duration(half)} of {_duration(window.ms)} ago (a change needs one)"
        )
    old = best[1]
    if old == 0:
        raise _not_enough(window, f"the sample of {_duration(window.ms)} ago is 0 (no percentage of zero)")
    return 100 * (current - old) / old

"""The metric history: which values a ``check`` keeps, and the samples its window functions read.

Each run that read metrics stores the numbers its rules read: every dotted
path a rule's ``when``, ``resolve_when`` or description names (a path that is
missing or not a number in that run is simply not stored), plus facts that
other parts hand in (heartbeats).  ``history: {enabled: false}`` turns it
off, and then a window function is a configuration error.  The SQL is in
``store.history``; the arithmetic in ``windows``.
"""

from __future__ import annotations

import math
import re

from .record import Record
from .windows import History, Series, Window

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from .config import Config, Rule
    from .config.checks import Problems

DEFAULT_HISTORY_RETENTION_MS = 30 * 86_400_000
HISTORY_KEYS = {"enabled", "retention"}
# A dotted name in a description's {{ ... }}: the template may show it, so the run keeps it.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")
_OUTPUT = re.compile(r"\{\{(.*?)\}\}", re.S)


class HistorySettings(Record):
    """``history``: whether each run keeps what it read, and for how long (``prune`` deletes older samples)."""

    enabled: bool
    retention_ms: int
    _fields = ("enabled", "retention_ms")
    _shown = _fields

    def __init__(self, enabled: bool = True, retention_ms: int = DEFAULT_HISTORY_RETENTION_MS) -> None:
        self.enabled = enabled
        self.retention_ms = retention_ms


def settings(value, rules: list[Rule], problems: Problems) -> HistorySettings:
    """Parse the ``history`` section; a window function is an error when history is off or too short."""
    from .config.checks import bool_setting, duration_setting, mapping_setting, unknown_keys

    keys = ("history",)
    section = mapping_setting(value, keys, problems)
    unknown_keys(section, HISTORY_KEYS, keys, problems)
    result = HistorySettings(
        enabled=bool_setting(section, "enabled", True, keys, problems),
        retention_ms=duration_setting(
            section, "retention", DEFAULT_HISTORY_RETENTION_MS, keys, problems, positive=True
        ),
    )
    for rule in rules:
        index = problems.rule_ids.index(rule.id) if rule.id in problems.rule_ids else 0
        for key in ("when", "resolve_when"):
            condition = getattr(rule, key)
            for window in condition.windows if condition is not None else ():
                problem = _window_problem(window, result)
                if problem:
                    problems.add(("rules", index, key), problem, rule.id)
    return result


def _window_problem(window: Window, settings: HistorySettings) -> str | None:
    from .timeutil import exact_duration

    if not settings.enabled:
        return (
            f"{window.text} reads the metric history, which is turned off (history: {{enabled: false}}); "
            "turn it on or use a plain condition"
        )
    if window.lookback_ms > settings.retention_ms:
        return (
            f"{window.text} reads {exact_duration(window.lookback_ms)} back, longer than history.retention "
            f"({exact_duration(settings.retention_ms)}) keeps samples"
        )
    return None


def rule_paths(rule: Rule) -> list[str]:
    """The dotted paths a rule reads: its conditions', then the names its description shows."""
    paths: list[str] = []
    for condition in (rule.when, rule.resolve_when):
        if condition is not None:
            paths.extend(condition.paths)
    if rule.description:
        for output in _OUTPUT.findall(rule.description):
            paths.extend(_NAME.findall(output))
    return list(dict.fromkeys(paths))


def recorded_paths(config: Config) -> list[str]:
    """Every path the enabled rules read (computed once per loaded config)."""
    cached = config.__dict__.get("_history_paths")
    if cached is None:
        cached = list(dict.fromkeys(p for rule in config.rules if rule.enabled for p in rule_paths(rule)))
        config.__dict__["_history_paths"] = cached
    return cached


def number_at(document: Mapping, path: str) -> float | None:
    """The finite number at a dotted path, else None."""
    node: Any = document
    for segment in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(segment)
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        return None
    return node if math.isfinite(node) else None


def values_read(config: Config, document: Mapping, extra: Mapping[str, float] | None = None) -> dict[str, float]:
    """The numbers this run keeps: each path the rules read that the document holds, and ``extra``."""
    out = {}
    for path in recorded_paths(config):
        value = number_at(document, path)
        if value is not None:
            out[path] = value
    if extra:
        out.update(extra)
    return out


def record(store, config: Config, document: Mapping | None, now: int, extra: Mapping[str, float] | None = None):
    """Keep what this run read (inside the run's transaction); nothing when history is off."""
    if document is None or not config.history.enabled:
        return
    from .store import history as store_history

    store_history.record(store, now, values_read(config, document, extra))


def windows_of(rules: list[Rule]) -> list[Window]:
    return [w for rule in rules if rule.enabled for c in (rule.when, rule.resolve_when) if c for w in c.windows]


def for_run(store, rules: list[Rule], now: int) -> History | None:
    """The stored samples that the rules' window functions read at ``now`` (None when none has any)."""
    windows = windows_of(rules)
    if not windows:
        return None
    from .store import history as store_history

    start = now - max(w.lookback_ms for w in windows)
    return History(now, store_history.load(store, {w.path for w in windows}, start, now))


def unflatten(values: Mapping[str, float]) -> dict:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``: a run's samples as the metrics document they came from."""
    document: dict = {}
    for path, value in values.items():
        if "." not in path and path not in document:  # most paths: a top-level name
            document[path] = value
            continue
        node = document
        *parents, last = path.split(".")
        for segment in parents:
            child = node.get(segment)
            if not isinstance(child, dict):
                child = node[segment] = {}
            node = child
        node[last] = value
    return document


DEFAULT_SINCE_MS = 6 * 3_600_000  # `metrics` and the API show the last 6 hours unless told
MAX_SAMPLES = 100_000  # one answer reads at most this many runs (the newest), so holds at most as many samples


def plain(value: float) -> float:
    """A stored sample as JSON shows it: a whole number without its ``.0``."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def samples(store, path: str, *, now: int, since_ms: int = DEFAULT_SINCE_MS) -> list[dict]:
    """``[{"at": ms, "value": n}]``: the samples of ``path`` in ``[now - since, now]``, oldest first
    (an unknown path: none)."""
    from .store import history as store_history

    rows = store_history.samples(store, path, now - since_ms, now + 1, limit=MAX_SAMPLES)
    return [{"at": at, "value": plain(value)} for at, value in rows]


HOUR_MS = 3_600_000


def alert_series(store, alert, config: Config | None, now: int) -> list[tuple[str, Series]]:
    """``[(path, samples)]`` for each value the alert's rule reads, from an hour before it fired to
    its resolution (or ``now``); only the paths with at least 2 samples."""
    from .store import history as store_history

    rule = config.rule(alert.rule_id) if config is not None else None
    paths = [p for c in (rule.when, rule.resolve_when) if c for p in c.paths] if rule else []
    paths += [p for p in alert.metrics if "(" not in p]  # a window call's text is not a path
    end = alert.resolved_at if alert.resolved_at is not None else now
    found = store_history.load(store, dict.fromkeys(paths), alert.timestamp - HOUR_MS, end + 1)
    return [(p, found[p]) for p in dict.fromkeys(paths) if p in found and len(found[p].values) >= 2]


def alert_trends(store, alert, config: Config | None, now: int) -> list[tuple[str, list[float]]]:
    """``[(path, values)]`` of ``alert_series`` (``show``'s sparklines)."""
    return [(path, series.values) for path, series in alert_series(store, alert, config, now)]

"""``rules backtest``: replay the stored metric history through the engine and the policy.

Each stored run becomes the metrics document it was read as (the values the
rules read), and the candidate rules are evaluated on it with the state the
replay itself built up, then the candidate's notification policy runs
(routes, quiet hours, batching).  The silences and acknowledgements stored in
the database are people's acts, not replayed.  Nothing is written and nothing
is sent: the replay keeps its alerts and rule states in memory.

For each rule it returns the alerts the candidate would have fired (start,
end = the run where it would have resolved or null, peak value, notifications
by channel) beside the alerts that really fired in the same span.  The peak
of both is the rule's value as the candidate computes it (the left side of
its comparison) over the alert's runs: the greatest, or the least for a rule
that fires below a threshold (``<``, ``<=``).
"""

from __future__ import annotations

import ast
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field

from . import history
from .errors import Unevaluable, UsageError
from .windows import History, Series

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from .config import Config, Rule
    from .model import Alert

# Notifications that go (or went, or were tried, "unknown" ones too): a "skipped" one was never meant to.
_NOTICES = ("pending", "deferred", "sent", "failed", "unknown")


@dataclass
class Episode:
    """One alert, would-be or real: from the run it fired to the run it resolved (None: still open)."""

    start: int
    end: int | None = None
    peak: float | None = None
    notifications: Counter = field(default_factory=Counter)
    id: str | None = None  # a real alert's id

    def to_json(self, until: int) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.id is None else {"id": self.id}
        out.update(
            start=self.start,
            end=self.end,
            duration=(until if self.end is None else self.end) - self.start,
            peak=self.peak,
            notifications=dict(sorted(self.notifications.items())),
        )
        return out


@dataclass
class RuleReplay:
    rule: str
    would_fire: list[Episode] = field(default_factory=list)
    actual: list[Episode] = field(default_factory=list)
    not_recorded: list[str] = field(default_factory=list)  # paths the rule reads that no run ever stored


@dataclass
class Backtest:
    since: int
    until: int
    runs: int
    rules: list[RuleReplay]

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "runs": self.runs,
            "rules": [
                {
                    "rule": r.rule,
                    "wouldFire": [e.to_json(self.until) for e in r.would_fire],
                    "actual": [e.to_json(self.until) for e in r.actual],
                    "notRecorded": list(r.not_recorded),
                }
                for r in self.rules
            ],
        }


def configured_names(config: Config, env: Mapping[str, str]) -> frozenset[str]:
    """The channels that count as configured (a section or its variables), without building their settings."""
    from .notify.registry import CHANNEL_NAMES, unconfigured

    return frozenset(name for name in CHANNEL_NAMES if not unconfigured(name, config.channels.get(name), env))


def select_rules(config: Config, rule_ids: Iterable[str] | None) -> list[Rule]:
    wanted = list(dict.fromkeys(rule_ids or ()))
    known = {rule.id for rule in config.rules}
    unknown = [rule_id for rule_id in wanted if rule_id not in known]
    if unknown:
        raise UsageError(
            f"no rule {', '.join(repr(u) for u in unknown)} in {config.path}",
            hint="`pantry-alert rules list` shows the rule ids",
        )
    return [rule for rule in config.rules if rule.enabled and rule.when and (not wanted or rule.id in wanted)]


class _Replay:
    """The in-memory state of a replay: the runs, the series the window functions read, the alerts."""

    def __init__(self, rules: list[Rule], runs: list[tuple[int, dict[str, float]]], since: int):
        self.rules = rules
        self.windows = history.windows_of(rules)
        paths = {w.path for w in self.windows}
        self.series: dict[str, Series] = {path: Series() for path in paths}
        for at, values in runs:
            for path in paths & values.keys():
                self.series[path].append(at, values[path])
        self.runs = [(at, history.unflatten(values)) for at, values in runs if at >= since]
        self.ats = [at for at, _ in self.runs]

    def history(self, at: int) -> History | None:
        return History(at, self.series) if self.windows else None

    def replay(self, config: Config, configured: frozenset[str]) -> dict[str, list[Episode]]:
        """Each run planned as ``check`` plans it (``planning.plan_step``), on the replay's own state."""
        from copy import copy

        from .notify.registry import channel_facts
        from .planning import plan_step

        facts = channel_facts()
        candidate = copy(config)  # the same config with the candidate rules
        candidate.rules = self.rules
        alerts: dict[str, Alert] = {}
        states: dict = {}
        transitions: dict[str, list[int]] = {}  # flap detection reads each rule's recent verdict changes
        episodes: dict[str, list[Episode]] = {rule.id: [] for rule in self.rules}
        by_alert: dict[str, Episode] = {}
        for at, document in self.runs:
            plan = plan_step(
                candidate,
                document,
                now=at,
                alerts=alerts,
                rule_states=states,
                silences={},  # people's acts: not replayed
                configured=configured,
                channels=facts,
                history=self.history(at),
                transitions=transitions,
            )
            for rule_id, changed_at in plan.transitions:
                transitions.setdefault(rule_id, []).append(changed_at)
            for alert in plan.new_alerts:
                by_alert[alert.id] = Episode(start=at)
                episodes[alert.rule_id].append(by_alert[alert.id])
                alerts[alert.rule_id] = alert
            for alert in plan.updated_alerts:
                if alert.resolved:
                    by_alert[alert.id].end = at
                    alerts.pop(alert.rule_id, None)
                else:
                    alerts[alert.rule_id] = alert
            for state in plan.rule_states:
                states[state.rule_id] = state
            for intent in plan.intents:
                if intent.status in _NOTICES and intent.alert_id in by_alert:
                    by_alert[intent.alert_id].notifications[intent.channel] += 1
        return episodes

    def peak(self, rule: Rule, episode: Episode) -> float | None:
        """The rule's most extreme value over the runs of ``episode``."""
        assert rule.when is not None
        lo = bisect_left(self.ats, episode.start)
        hi = bisect_right(self.ats, episode.end if episode.end is not None else self.ats[-1] if self.ats else 0)
        values = []
        for at, document in self.runs[lo:hi]:
            try:
                value = rule.when.evaluate(document, self.history(at))[2]
            except Unevaluable:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values.append(value)
        if not values:
            return None
        return min(values) if _fires_below(rule.when.source) else max(values)


def _fires_below(source: str) -> bool:
    tree = ast.parse(source.strip(), mode="eval").body
    return isinstance(tree, ast.Compare) and isinstance(tree.ops[0], (ast.Lt, ast.LtE))


def backtest(
    store,
    config: Config,
    *,
    now: int,
    since: int,
    rule_ids: Iterable[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Backtest:
    """Replay the runs stored in ``[since, now]`` with ``config`` (the candidate); read-only."""
    import os

    from .store import history as store_history

    rules = select_rules(config, rule_ids)
    windows = history.windows_of(rules)
    lookback = max((w.lookback_ms for w in windows), default=0)
    state = _Replay(rules, store_history.runs(store, since - lookback, now + 1), since)
    episodes = state.replay(config, configured_names(config, os.environ if env is None else env))
    recorded = store_history.known_paths(store)
    out = []
    for rule in rules:
        replay = RuleReplay(rule.id, not_recorded=[p for p in _condition_paths(rule) if p not in recorded])
        replay.would_fire = episodes[rule.id]
        replay.actual = _actual(store, rule.id, since, now)
        for episode in replay.would_fire + replay.actual:
            episode.peak = state.peak(rule, episode)
        out.append(replay)
    return Backtest(since=since, until=now, runs=len(state.runs), rules=out)


def _condition_paths(rule: Rule) -> list[str]:
    return list(dict.fromkeys(p for c in (rule.when, rule.resolve_when) if c is not None for p in c.paths))


def _actual(store, rule_id: str, since: int, now: int) -> list[Episode]:
    """The alerts of ``rule_id`` that really fired in ``[since, now]``, oldest first."""
    alerts = [a for a in store.list_alerts(active=False, rule=rule_id, since=since) if a.timestamp <= now]
    out = []
    for alert in reversed(alerts):
        sent = Counter(n["channel"] for n in store.notifications(alert.id) if n["status"] in _NOTICES)
        end = alert.resolved_at if alert.resolved_at is not None and alert.resolved_at <= now else None
        out.append(Episode(start=alert.timestamp, end=end, notifications=sent, id=alert.id))
    return out

"""Rule unit tests (``rules test --cases CASES.yaml``), in the spirit of ``promtool test rules``: running them.

Each test of a cases file (its format and checks: ``cases_file``) runs on
its own throw-away database.  A step optionally acts on alerts first
(acknowledge, resolve, silence), runs one evaluation with the real engine and
notification policy, and compares what it finds with what the step expects.
Every channel is captured: each notification the run would send is recorded
as sent and nothing leaves the machine.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cases_file import Case, Step, load
from .config import Config
from .timeutil import format_duration

CASE_ACTOR = "rules test"


@dataclass
class Failure:
    """One expectation of a case step that did not hold."""

    at: str  # the step's offset, e.g. "10m"
    what: str  # "firing", "notifications.email", "ack", ...
    expected: list[str]
    got: list[str]

    def diff(self) -> list[str]:
        """``- expected but missing`` / ``+ got but not expected`` lines."""
        return [line for line in difflib.ndiff(self.expected, self.got) if line[:1] in "-+"]

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "what": self.what, "expected": self.expected, "got": self.got}


@dataclass
class CaseResult:
    """A case's name and its failures (none when it passed)."""

    name: str
    failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "failures": [f.to_json() for f in self.failures]}


# ----------------------------------------------------------------- running


def run(config: Config, path: str | Path) -> list[CaseResult]:
    """Run every test of a cases file; each on its own throw-away database."""
    start, cases, config = load(path, config)
    return [_run_case(_with_policies(config, case.policies), case, start) for case in cases]


def _with_policies(config: Config, policies: dict[str, str]) -> Config:
    """The config as one test sees it: the rules it names paged by the escalation policies it gives."""
    if not policies:
        return config
    from copy import copy

    rules = []
    for rule in config.rules:
        rule = copy(rule)
        rule.escalation_policy = policies.get(rule.id, rule.escalation_policy)
        rules.append(rule)
    config = copy(config)
    config.rules = rules
    return config


def _run_case(config: Config, case: Case, start: int) -> CaseResult:
    import tempfile

    from . import history
    from .notify.registry import CHANNEL_NAMES, channel_facts
    from .planning import plan_step
    from .store import open_store
    from .store.policy import capture_due, plan_facts

    result = CaseResult(case.name)
    everything = frozenset(CHANNEL_NAMES)  # every channel is captured, so every channel counts as configured
    facts = channel_facts()
    with tempfile.TemporaryDirectory(prefix="pantry-alert-cases-") as tmp, open_store(Path(tmp) / "cases.db") as store:
        for step in case.steps:
            now = start + step.at_ms
            at = format_duration(step.at_ms) if step.at_ms else "0s"
            resolved = _act(config, step, store, now, at, result)
            with store.transaction():
                plan = plan_step(
                    config,
                    step.metrics,
                    now=now,
                    alerts=store.active_alerts(),
                    **plan_facts(store, config, now),
                    configured=everything,
                    channels=facts,
                    history=history.for_run(store, config.rules, now),  # the steps before: window functions
                )
                store.apply(plan, now)
                history.record(store, config, step.metrics, now)
                sent = capture_due(store, now)
            touched = {a.id: a for a in plan.new_alerts + plan.updated_alerts}
            resolved += [touched[alert_id].rule_id for alert_id in plan.resolved]
            result.failures += _compare(step, at, store, resolved, sent)
    return result


def _act(config: Config, step: Step, store, now: int, at: str, result: CaseResult) -> list[str]:
    """A step's actions, done as a person would (acknowledge, resolve, silence); the rule ids resolved."""
    from .notify.registry import channel_facts
    from .planning import plan_resolve
    from .store.policy import active_silences, add_silence

    resolved: list[str] = []
    for rule_id, for_ms in step.ack.items():
        alert = store.active_alerts().get(rule_id)
        if alert is None:
            result.failures.append(Failure(at, "ack", [rule_id], []))
            continue
        until = now + for_ms if for_ms else None
        store.acknowledge_alert(alert.id, by=CASE_ACTOR, note=None, until=until, now=now)
    for rule_id in step.resolve:
        alert = store.active_alerts().get(rule_id)
        if alert is None:
            result.failures.append(Failure(at, "resolve", [rule_id], []))
            continue
        with store.transaction():
            silences = active_silences(store, now)
            plan = plan_resolve(
                config, alert, by=CASE_ACTOR, note=None, now=now, silences=silences, channels=channel_facts()
            )
            store.apply(plan, now)
        resolved.append(rule_id)
    if step.silence:
        with store.transaction():
            for rule_id, (start, ms) in step.silence.items():
                add_silence(
                    store, rule_id, starts_at=now + start, ends_at=now + start + ms, reason=None, by=CASE_ACTOR, now=now
                )
    return resolved


Comparison = tuple[str, Iterable[Any], Iterable[Any]]  # what, expected, got

# expect key -> which open alerts it lists
_ALERT_SETS: dict[str, Callable[[Any], bool]] = {
    "firing": lambda alert: alert.status == "firing",
    "acknowledged": lambda alert: alert.status == "acknowledged",
    "silenced": lambda alert: alert.silenced,
    "inhibited": lambda alert: alert.inhibited,
}


def _compare(step: Step, at: str, store, resolved: list[str], sent) -> list[Failure]:
    failures = []
    for what, expected, got in _comparisons(step.expect, store, resolved, sent):
        expected, got = sorted(map(str, expected)), sorted(map(str, got))
        if expected != got:
            failures.append(Failure(at, what, expected, got))
    return failures


def _comparisons(expect: dict[str, Any], store, resolved: list[str], sent) -> Iterator[Comparison]:
    """What a step expects against what happened, in the order failures are reported."""
    active = store.active_alerts()
    for key, listed in _ALERT_SETS.items():
        if key in expect:
            yield key, expect[key], [rule for rule, alert in active.items() if listed(alert)]
    for rule_id, status in expect.get("status", {}).items():
        yield f"status.{rule_id}", [status], [active[rule_id].status if rule_id in active else "none"]
    for rule_id, number in expect.get("step", {}).items():
        yield f"step.{rule_id}", [number], [active[rule_id].policy_step if rule_id in active else "(no open alert)"]
    if "resolved" in expect:
        yield "resolved", expect["resolved"], resolved
    for rule_id, severity in expect.get("severity", {}).items():
        alert = active.get(rule_id) or _latest(store, rule_id)
        yield f"severity.{rule_id}", [severity], [alert.severity] if alert else ["(no alert)"]
    if "notifications" in expect:
        yield from _notification_comparisons(expect["notifications"] or {}, store, sent)


def _notification_comparisons(wanted: dict[str, list[str]], store, sent) -> Iterator[Comparison]:
    """Per channel, the notices expected against those sent (``rule kind [step N]``)."""
    by_channel: dict[str, list[str]] = {}
    for alert_id, channel, kind, number in sent:
        alert = store.get_alert(alert_id)
        item = f"{alert.rule_id if alert else alert_id} {kind}" + (f" step {number}" if number else "")
        by_channel.setdefault(channel, []).append(item)
    for channel in sorted(set(wanted) | set(by_channel)):
        yield f"notifications.{channel}", wanted.get(channel, []), by_channel.get(channel, [])


def _latest(store, rule_id: str):
    found = store.list_alerts(active=False, rule=rule_id, limit=1)
    return found[0] if found else None

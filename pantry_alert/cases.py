"""Rule unit tests (``rules test --cases CASES.yaml``), in the spirit of ``promtool test rules``.

A cases file lists tests; each test is a sequence of steps at offsets from a
start time.  A step's ``metrics`` are laid over the previous step's (the
first step's over the file's ``metrics``, when given): name only what
changes.  A step
optionally acts on alerts first (acknowledge, resolve, silence), runs one
evaluation with the real engine and notification policy on a throw-away
database, and compares what it finds with what the step expects.  Every
channel is captured: each notification the run would send is recorded as
sent and nothing leaves the machine.

```yaml
start: "2025-11-26T12:00:00+00:00"    # optional (this is the default)
metrics: {errorRate: 0.01}             # optional: what every test starts from
tests:
  - name: error rate fires, reminds after its cooldown, resolves
    steps:
      - at: 0m
        metrics: {errorRate: 0.09}
        expect:
          firing: [high_error_rate]
          notifications: {email: [high_error_rate firing], webhook: [high_error_rate firing]}
      - at: 5m                           # the metrics stay as they were
        expect: {notifications: {webhook: [high_error_rate escalated]}}
      - at: 6m
        metrics: {errorRate: 0.01}
        expect: {resolved: [high_error_rate], firing: []}
```

Expectations (each optional; a given one must match exactly):

- ``firing`` / ``acknowledged``: the rule ids whose unresolved alert is in that state after the run;
- ``resolved``: the rule ids whose alert was resolved in this step;
- ``severity``: ``{rule id: severity}`` of the rule's current (or just resolved) alert;
- ``notifications``: ``{channel: ["<rule id> <kind>", ...]}`` sent in this run; a channel not
  listed must have received nothing (``notifications: {}``: no notification at all).

Step actions, done before the run: ``ack: [rule ids]``, ``resolve: [rule ids]``,
``silence: {rule id: duration}``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import BUILTIN_SOURCE_RULE, SEVERITIES, Config
from .config.checks import Problems, unknown_keys
from .errors import ConfigError
from .timeutil import format_duration, parse_duration

DEFAULT_START = "2025-11-26T12:00:00+00:00"
TOP_KEYS = {"start", "metrics", "tests"}
TEST_KEYS = {"name", "steps"}
STEP_KEYS = {"at", "metrics", "ack", "resolve", "silence", "expect"}
EXPECT_KEYS = {"firing", "acknowledged", "resolved", "severity", "notifications"}
CASE_ACTOR = "rules test"


@dataclass
class Step:
    at_ms: int
    metrics: dict[str, Any]
    expect: dict[str, Any]
    ack: list[str] = field(default_factory=list)
    resolve: list[str] = field(default_factory=list)
    silence: dict[str, int] = field(default_factory=dict)


@dataclass
class Case:
    name: str
    steps: list[Step]


@dataclass
class Failure:
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
    name: str
    failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "failures": [f.to_json() for f in self.failures]}


# ----------------------------------------------------------------- loading


def load(path: str | Path, config: Config) -> tuple[int, list[Case]]:
    """Read and check a cases file against the config; ``ConfigError`` lists every problem."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read cases file {path}: {exc}") from exc
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{place}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    problems = Problems(path, text)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a cases file is a mapping with a 'tests' list")
    rule_ids = {rule.id for rule in config.rules} | {BUILTIN_SOURCE_RULE}
    unknown_keys(data, TOP_KEYS, (), problems)
    start = _start(data.get("start", DEFAULT_START), problems)
    base = data.get("metrics")
    if base is not None and not isinstance(base, dict):
        problems.add(("metrics",), "must be a mapping (a metrics document)")
        base = None
    raw_tests = data.get("tests")
    if not isinstance(raw_tests, list) or not raw_tests:
        problems.add(("tests",) if "tests" in data else (), "needs a non-empty 'tests' list")
        raw_tests = []
    cases = [case for t, raw in enumerate(raw_tests) if (case := _case(raw, t, base, rule_ids, problems))]
    if problems.items:
        count = len(problems.items)
        raise ConfigError(
            f"{path}: {count} problem{'s' if count > 1 else ''} in the cases file", problems=problems.items
        )
    return start, cases


def _case(raw: Any, t: int, base: dict | None, rule_ids: set[str], problems: Problems) -> Case | None:
    """One test: its name and steps, each step's metrics laid over the previous step's."""
    keys = ("tests", t)
    if not isinstance(raw, dict):
        problems.add(keys, "each test must be a mapping with name and steps")
        return None
    unknown_keys(raw, TEST_KEYS, keys, problems)
    name = raw.get("name")
    if not isinstance(name, str):
        name = f"test {t + 1}"
    steps, metrics, last = [], base, -1
    raw_steps = raw.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.add(keys, "needs a non-empty 'steps' list")
        raw_steps = []
    for s, step in enumerate(raw_steps):
        where = keys + ("steps", s)
        if not isinstance(step, dict):
            problems.add(where, "each step must be a mapping")
            continue
        unknown_keys(step, STEP_KEYS, where, problems)
        at = _duration(step.get("at"), where + ("at",), problems)
        if at is not None and at <= last:
            problems.add(where + ("at",), "steps must move forward in time")
        last = at if at is not None else last
        if "metrics" in step:
            if not isinstance(step["metrics"], dict):
                problems.add(where + ("metrics",), "must be a mapping (a metrics document)")
            else:
                metrics = {**(metrics or {}), **step["metrics"]}
        if metrics is None:
            problems.add(where, "the first step needs metrics (or give the file a top-level metrics)")
        expect = _expect(step, where, rule_ids, problems)
        silences = _silences(step, where, rule_ids, problems)
        steps.append(
            Step(
                at_ms=at or 0,
                metrics=dict(metrics or {}),
                expect=expect,
                ack=_rules(step.get("ack", []), where + ("ack",), rule_ids, problems),
                resolve=_rules(step.get("resolve", []), where + ("resolve",), rule_ids, problems),
                silence=silences,
            )
        )
    return Case(name, steps)


def _expect(step: dict, where: tuple, rule_ids: set[str], problems: Problems) -> dict[str, Any]:
    expect = step.get("expect") or {}
    if not isinstance(expect, dict):
        problems.add(where + ("expect",), "must be a mapping")
        expect = {}
    unknown_keys(expect, EXPECT_KEYS, where + ("expect",), problems)
    for key in ("firing", "acknowledged", "resolved"):
        if key in expect:
            _rules(expect[key], where + ("expect", key), rule_ids, problems)
    severity = expect.get("severity", {})
    if not isinstance(severity, dict) or not all(v in SEVERITIES for v in severity.values()):
        problems.add(where + ("expect", "severity"), f"must map rule ids to {', '.join(SEVERITIES)}")
    else:
        _rules(list(severity), where + ("expect", "severity"), rule_ids, problems)
    if "notifications" in expect:
        _notifications(expect["notifications"], where + ("expect", "notifications"), rule_ids, problems)
    return expect


def _silences(step: dict, where: tuple, rule_ids: set[str], problems: Problems) -> dict[str, int]:
    silence = step.get("silence") or {}
    silences: dict[str, int] = {}
    if not isinstance(silence, dict):
        problems.add(where + ("silence",), "must map rule ids to durations")
        return silences
    _rules(list(silence), where + ("silence",), rule_ids, problems)
    for rule_id, duration in silence.items():
        ms = _duration(duration, where + ("silence", rule_id), problems)
        if ms:
            silences[rule_id] = ms
    return silences


def _start(value: Any, problems: Problems) -> int:
    from datetime import datetime

    try:
        if isinstance(value, datetime):
            parsed = value
        else:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError
        return int(parsed.timestamp() * 1000)
    except ValueError:
        problems.add(("start",), f"{value!r} is not an ISO-8601 time with an offset (e.g. {DEFAULT_START})")
        return 0


def _duration(value: Any, keys: tuple, problems: Problems) -> int | None:
    if value is None:
        problems.add(keys, "needs a duration such as 0m, 30s, 2h")
        return None
    try:
        return parse_duration(value, what=str(keys[-1]))
    except ValueError as exc:
        problems.add(keys, str(exc).split(": ", 1)[-1])
        return None


def _rules(value: Any, keys: tuple, rule_ids: set[str], problems: Problems) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(keys, "must be a list of rule ids")
        return []
    for rule_id in value:
        if rule_id not in rule_ids:
            problems.add(keys, f"unknown rule '{rule_id}'")
    return [v for v in value if v in rule_ids]


def _notifications(value: Any, keys: tuple, rule_ids: set[str], problems: Problems) -> None:
    from .notify.base import KINDS
    from .notify.registry import CHANNEL_NAMES

    if not isinstance(value, dict):
        problems.add(keys, 'must map channels to lists of "<rule id> <kind>"')
        return
    for channel, items in value.items():
        if channel not in CHANNEL_NAMES:
            problems.add(keys + (channel,), f"unknown channel '{channel}' (channels: {', '.join(CHANNEL_NAMES)})")
        if not isinstance(items, list):
            problems.add(keys + (channel,), 'must be a list of "<rule id> <kind>"')
            continue
        for item in items:
            parts = str(item).split()
            if len(parts) != 2 or parts[0] not in rule_ids or parts[1] not in KINDS:
                problems.add(keys + (channel,), f'{item!r} is not "<rule id> <kind>" with a known rule and kind')


# ----------------------------------------------------------------- running


def run(config: Config, path: str | Path) -> list[CaseResult]:
    """Run every test of a cases file; each on its own throw-away database."""
    start, cases = load(path, config)
    return [_run_case(config, case, start) for case in cases]


def _run_case(config: Config, case: Case, start: int) -> CaseResult:
    import tempfile

    from . import history
    from .notify.registry import CHANNEL_NAMES, channel_facts
    from .planning import plan_step
    from .store import open_store
    from .store.policy import active_silences, capture_due

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
                    rule_states=store.rule_states(),
                    silences=active_silences(store, now),
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
    for rule_id in step.ack:
        alert = store.active_alerts().get(rule_id)
        if alert is None:
            result.failures.append(Failure(at, "ack", [rule_id], []))
            continue
        store.acknowledge_alert(alert.id, by=CASE_ACTOR, note=None, until=None, now=now)
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
            for rule_id, ms in step.silence.items():
                add_silence(store, rule_id, ends_at=now + ms, reason=None, by=CASE_ACTOR, now=now)
    return resolved


def _compare(step: Step, at: str, store, resolved: list[str], sent) -> list[Failure]:
    expect = step.expect
    active = store.active_alerts()
    failures = []

    def check(what: str, expected, got) -> None:
        expected, got = sorted(map(str, expected)), sorted(map(str, got))
        if expected != got:
            failures.append(Failure(at, what, expected, got))

    for state in ("firing", "acknowledged"):
        if state in expect:
            check(state, expect[state], [rule for rule, alert in active.items() if alert.status == state])
    if "resolved" in expect:
        check("resolved", expect["resolved"], resolved)
    if "severity" in expect:
        for rule_id, severity in expect["severity"].items():
            alert = active.get(rule_id) or _latest(store, rule_id)
            check(f"severity.{rule_id}", [severity], [alert.severity] if alert else ["(no alert)"])
    if "notifications" in expect:
        by_channel: dict[str, list[str]] = {}
        for alert_id, channel, kind in sent:
            alert = store.get_alert(alert_id)
            by_channel.setdefault(channel, []).append(f"{alert.rule_id if alert else alert_id} {kind}")
        wanted = expect["notifications"] or {}
        for channel in sorted(set(wanted) | set(by_channel)):
            check(f"notifications.{channel}", wanted.get(channel, []), by_channel.get(channel, []))
    return failures


def _latest(store, rule_id: str):
    found = store.list_alerts(active=False, rule=rule_id, limit=1)
    return found[0] if found else None

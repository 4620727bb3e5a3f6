"""The rule unit tests' file (``rules test --cases CASES.yaml``): its format, read and checked.


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
- ``status``: ``{rule id: status}`` of the rule's open alert (``firing``, ``acknowledged``,
  ``flapping``), or ``none`` when it has none;
- ``step``: ``{rule id: n}``: how many steps of its escalation policy the rule's open alert has reached;
- ``silenced`` / ``inhibited``: the rule ids whose open alert is held by a silence or window / by
  an inhibiting rule;
- ``notifications``: ``{channel: ["<rule id> <kind>", ...]}`` sent in this run (a notice of an
  escalation policy's step reads ``"<rule id> <kind> step <n>"``); a channel not listed must have
  received nothing (``notifications: {}``: no notification at all).

Step actions, done before the run: ``ack: [rule ids]`` (or ``{rule id: duration}`` for an
acknowledgement that expires), ``resolve: [rule ids]``, ``silence: {rule id: duration}`` (or
``{rule id: {start: offset, for: duration}}`` for a silence that starts later).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import BUILTIN_SOURCE_RULE, SEVERITIES, Config
from .config.checks import Problems, unknown_keys
from .errors import ConfigError
from .timeutil import parse_duration

DEFAULT_START = "2025-11-26T12:00:00+00:00"
TOP_KEYS = {"start", "metrics", "tests", "escalation_policies"}
TEST_KEYS = {"name", "steps", "escalation_policy"}
STEP_KEYS = {"at", "metrics", "ack", "resolve", "silence", "expect"}
EXPECT_KEYS = {
    "firing",
    "acknowledged",
    "resolved",
    "severity",
    "notifications",
    "status",
    "step",
    "silenced",
    "inhibited",
}
STATUSES = ("firing", "acknowledged", "flapping", "none")


@dataclass
class Step:
    """One step of a rule test case: metrics at a time and what to expect."""

    at_ms: int
    metrics: dict[str, Any]
    expect: dict[str, Any]
    ack: dict[str, int | None] = field(default_factory=dict)  # rule id -> how long (None: until resolved)
    resolve: list[str] = field(default_factory=list)
    silence: dict[str, tuple[int, int]] = field(default_factory=dict)  # rule id -> (start offset, duration)


@dataclass
class Case:
    """A named rule test case and its steps."""

    name: str
    steps: list[Step]
    policies: dict[str, str] = field(default_factory=dict)  # rule id -> escalation policy, for this test


def load(path: str | Path, config: Config) -> tuple[int, list[Case], Config]:
    """Read and check a cases file against the config; ``ConfigError`` lists every problem.
    Returns the start, the tests, and the config with the cases file's own escalation policies."""
    from .config import parse_yaml, read_limited

    path = Path(path)
    try:
        text = read_limited(path, "cases file")  # a regular file within the size limit: no FIFO, no /dev/zero
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read cases file {path}: {exc}") from None
    data = parse_yaml(text, path)  # the loader's alias and depth limits
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
    policies = _policies(data.get("escalation_policies"), config, path, problems)
    cases = [case for t, raw in enumerate(raw_tests) if (case := _case(raw, t, base, rule_ids, problems))]
    for t, case in enumerate(cases):
        for rule_id, name in case.policies.items():
            if name not in policies:
                known = ", ".join(sorted(policies)) or "none declared"
                problems.add(
                    ("tests", t, "escalation_policy", rule_id), f"unknown escalation policy {name!r} ({known})"
                )
    if problems.items:
        count = len(problems.items)
        raise ConfigError(
            f"{path}: {count} problem{'s' if count > 1 else ''} in the cases file", problems=problems.items
        )
    if policies != config.escalation_policies:
        from copy import copy

        config = copy(config)  # the same config with the cases file's policies too
        config.escalation_policies = policies
    return start, cases, config


def _policies(value: Any, config: Config, path: Path, problems: Problems) -> dict:
    """The config's escalation policies, plus those the cases file declares (same shape)."""
    if value is None:
        return config.escalation_policies
    from .config.model import Config as Blank
    from .config.sections import Parse, escalation_policies

    parsed = escalation_policies(value, Parse(data={}, config=Blank(path=path), env={}, problems=problems))
    return {**config.escalation_policies, **parsed}


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
                ack=_acks(step.get("ack", []), where + ("ack",), rule_ids, problems),
                resolve=_rules(step.get("resolve", []), where + ("resolve",), rule_ids, problems),
                silence=silences,
            )
        )
    policies = raw.get("escalation_policy") or {}
    if not isinstance(policies, dict) or not all(isinstance(v, str) for v in policies.values()):
        problems.add(keys + ("escalation_policy",), "must map rule ids to escalation policy names")
        policies = {}
    _rules(list(policies), keys + ("escalation_policy",), rule_ids, problems)
    return Case(name, steps, policies)


def _expect(step: dict, where: tuple, rule_ids: set[str], problems: Problems) -> dict[str, Any]:
    expect = step.get("expect") or {}
    if not isinstance(expect, dict):
        problems.add(where + ("expect",), "must be a mapping")
        expect = {}
    unknown_keys(expect, EXPECT_KEYS, where + ("expect",), problems)
    for key in ("firing", "acknowledged", "resolved", "silenced", "inhibited"):
        if key in expect:
            _rules(expect[key], where + ("expect", key), rule_ids, problems)
    status = expect.get("status", {})
    if not isinstance(status, dict) or not all(v in STATUSES for v in status.values()):
        problems.add(where + ("expect", "status"), f"must map rule ids to {', '.join(STATUSES)}")
    else:
        _rules(list(status), where + ("expect", "status"), rule_ids, problems)
    steps = expect.get("step", {})
    if not isinstance(steps, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in steps.values()):
        problems.add(where + ("expect", "step"), "must map rule ids to step numbers (0: no step yet)")
    else:
        _rules(list(steps), where + ("expect", "step"), rule_ids, problems)
    severity = expect.get("severity", {})
    if not isinstance(severity, dict) or not all(v in SEVERITIES for v in severity.values()):
        problems.add(where + ("expect", "severity"), f"must map rule ids to {', '.join(SEVERITIES)}")
    else:
        _rules(list(severity), where + ("expect", "severity"), rule_ids, problems)
    if "notifications" in expect:
        _notifications(expect["notifications"], where + ("expect", "notifications"), rule_ids, problems)
    return expect


def _silences(step: dict, where: tuple, rule_ids: set[str], problems: Problems) -> dict[str, tuple[int, int]]:
    silence = step.get("silence") or {}
    silences: dict[str, tuple[int, int]] = {}
    if not isinstance(silence, dict):
        problems.add(where + ("silence",), "must map rule ids to durations")
        return silences
    _rules(list(silence), where + ("silence",), rule_ids, problems)
    for rule_id, value in silence.items():
        keys = where + ("silence", rule_id)
        start = 0
        if isinstance(value, dict):
            unknown_keys(value, {"start", "for"}, keys, problems)
            start = _duration(value.get("start", "0s"), keys + ("start",), problems) or 0
            value = value.get("for")
            keys = keys + ("for",)
        ms = _duration(value, keys, problems)
        if ms:
            silences[rule_id] = (start, ms)
    return silences


def _acks(value: Any, keys: tuple, rule_ids: set[str], problems: Problems) -> dict[str, int | None]:
    """``[rule ids]``, or ``{rule id: duration}`` for acknowledgements that expire."""
    if isinstance(value, dict):
        _rules(list(value), keys, rule_ids, problems)
        return {rule_id: _duration(d, keys + (rule_id,), problems) for rule_id, d in value.items()}
    return dict.fromkeys(_rules(value, keys, rule_ids, problems))


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
            stepped = len(parts) == 4 and parts[2] == "step" and parts[3].isdigit()
            if len(parts) not in (2, 4) or (len(parts) == 4 and not stepped):
                parts = []
            if not parts or parts[0] not in rule_ids or parts[1] not in KINDS:
                problems.add(
                    keys + (channel,),
                    f'{item!r} is not "<rule id> <kind>" (or "<rule id> <kind> step <n>") with a known rule and kind',
                )

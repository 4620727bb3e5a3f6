"""The time-policy sections of ``rules.yaml``: escalation policies, quiet hours, maintenance
windows, flapping, and a rule's own time keys (``escalation_policy``, ``inhibited_by``,
``flapping``, ``notify_resolved_when_silenced``) with the checks of its inhibitions.

Parsers as in ``config.sections`` (which lists them all in ``SECTIONS``).
"""

from __future__ import annotations

import re

from ..model import SEVERITIES
from .checks import (
    Problems,
    bool_setting,
    channel_list,
    duration_setting,
    mapping_setting,
    unknown_keys,
    zone_ok,
)
from .model import BUILTIN_SOURCE_RULE, RULE_ID, TYPES, Rule
from .time_model import EscalationStep, Flapping, Maintenance, QuietHours, WeeklySpan

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .sections import Parse

QUIET_HOURS_KEYS = {"start", "end", "timezone", "severities"}
ESCALATION_POLICIES_KEYS = {"after", "channels", "repeat"}
FLAPPING_KEYS = {"transitions", "window"}
MAINTENANCE_KEYS = {"name", "rules", "match", "weekly", "cron", "duration", "timezone"}
MATCH_KEYS = {"type", "severity", "labels"}
WEEKLY_KEYS = {"days", "start", "end"}


# ----------------------------------------------------------------- a rule's time keys, inhibitions


def rule_time_keys(raw: dict, rule: Rule, keys: tuple, p: Parse) -> None:
    """A rule's ``escalation_policy``, ``inhibited_by``, ``flapping`` and ``notify_resolved_when_silenced``."""
    problems = p.problems
    if raw.get("escalation_policy") is not None:
        rule.escalation_policy = policy_name(raw["escalation_policy"], keys + ("escalation_policy",), p, rule.id)
    inhibitors = raw.get("inhibited_by", [])
    if not isinstance(inhibitors, list) or not all(isinstance(r, str) for r in inhibitors):
        problems.add(keys + ("inhibited_by",), "must be a list of rule ids", rule.id)
    else:
        rule.inhibited_by = list(dict.fromkeys(inhibitors))
    if "flapping" in raw:
        if raw["flapping"] is True:
            problems.add(
                keys + ("flapping",), "give {transitions, window}, or false to turn the global one off", rule.id
            )
        else:
            rule.flapping = _flapping(raw["flapping"], keys + ("flapping",), problems, rule.id)
    if raw.get("notify_resolved_when_silenced") is not None:
        rule.notify_resolved_when_silenced = bool_setting(
            raw, "notify_resolved_when_silenced", False, keys, problems, rule.id
        )


def check_inhibitions(rules: list[Rule], p: Parse) -> None:
    """``inhibited_by`` names other known rules and forms no cycle."""
    ids = {rule.id for rule in rules}
    graph: dict[str, list[str]] = {}
    for index, rule in enumerate(rules):
        keys = ("rules", index, "inhibited_by")
        for other in rule.inhibited_by:
            if other == rule.id:
                p.problems.add(keys, "a rule cannot inhibit itself", rule.id)
            elif other == BUILTIN_SOURCE_RULE:
                p.problems.add(keys, f"'{BUILTIN_SOURCE_RULE}' inhibits every rule already; leave it out", rule.id)
            elif other not in ids:
                p.problems.add(keys, f"unknown rule '{other}'", rule.id)
        graph[rule.id] = [other for other in rule.inhibited_by if other in ids and other != rule.id]
    for index, rule in enumerate(rules):
        cycle = _cycle_from(rule.id, graph)
        if cycle:
            p.problems.add(("rules", index, "inhibited_by"), f"inhibition cycle: {' -> '.join(cycle)}", rule.id)


def _cycle_from(start: str, graph: dict[str, list[str]]) -> list[str] | None:
    """A path of inhibitions from ``start`` back to ``start``, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for other in graph.get(node, []):
            if other == start:
                return path + [start]
            if other not in seen:
                seen.add(other)
                stack.append((other, path + [other]))
    return None


# ----------------------------------------------------------------- quiet hours, escalation policies


def _clock(value, keys, problems) -> int | None:
    """``"HH:MM"`` as minutes after midnight."""
    if isinstance(value, int) and not isinstance(value, bool):
        problems.add(keys, f'write the time as a quoted string, e.g. "22:00" (unquoted, YAML reads it as {value})')
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip()) if isinstance(value, str) else None
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        problems.add(keys, f'{value!r} is not a time of day; use "HH:MM" (00:00 to 23:59)')
        return None
    return int(match.group(1)) * 60 + int(match.group(2))


def quiet_hours(value: Any, p: Parse) -> QuietHours | None:
    default_tz, problems = p.config.timezone, p.problems
    keys = ("quiet_hours",)
    if value is None:
        return None
    section = mapping_setting(value, keys, problems)
    if not isinstance(value, dict):
        return None
    unknown_keys(section, QUIET_HOURS_KEYS, keys, problems)
    times: list[int | None] = []
    for key in ("start", "end"):
        if section.get(key) in (None, ""):
            problems.add(keys, f'needs {key} (a time of day such as "07:00")')
            times.append(None)
        else:
            times.append(_clock(section[key], keys + (key,), problems))
    start, end = times
    if start is not None and start == end:
        problems.add(keys + ("end",), "equals start: the window would be empty")
    zone = section.get("timezone") or default_tz or "UTC"
    if not zone_ok(zone):
        problems.add(keys + ("timezone",), f"unknown time zone {zone!r} (use an IANA name like Europe/Berlin)")
    severities = section.get("severities", ["low", "medium"])
    if not isinstance(severities, list) or not severities or not all(s in SEVERITIES for s in severities):
        problems.add(
            keys + ("severities",),
            f"must be a non-empty list of severities ({', '.join(SEVERITIES)}), not {severities!r}",
        )
        severities = []
    if start is None or end is None or start == end:
        return None
    return QuietHours(start=start, end=end, timezone=str(zone), severities=tuple(severities))


def policy_name(value: Any, keys: tuple, p: Parse, label: str | None = None) -> str | None:
    """An escalation policy's name, which must be declared under ``escalation_policies``."""
    if not isinstance(value, str) or value not in p.config.escalation_policies:
        known = ", ".join(sorted(p.config.escalation_policies)) or "none declared"
        p.problems.add(keys, f"unknown escalation policy {value!r} (escalation_policies: {known})", label)
        return None
    return value


def escalation_policies(value: Any, p: Parse) -> dict[str, tuple[EscalationStep, ...]]:
    """``escalation_policies: {name: [{after, channels, repeat}, ...]}``: steps in order of ``after``;
    only the last may ``repeat``."""
    problems = p.problems
    out = {}
    for name, steps in mapping_setting(value, ("escalation_policies",), problems).items():
        keys = ("escalation_policies", name)
        if not isinstance(name, str) or not RULE_ID.match(name):
            problems.add(keys, f"policy name {name!r} must match [a-z0-9_]+")
        if not isinstance(steps, list) or not steps:
            problems.add(keys, "must be a non-empty list of steps, each {after, channels}")
            continue
        parsed = [_escalation_step(raw, keys + (i,), i == len(steps) - 1, problems) for i, raw in enumerate(steps)]
        done = [step for step in parsed if step is not None]
        for i in range(1, len(done)):
            if done[i].after_ms < done[i - 1].after_ms:
                problems.add(
                    keys + (i, "after"), "steps must be in order of after (each no sooner than the one before)"
                )
        out[name] = tuple(done)
    # a policy name used before its section: routes and rules read this
    p.config.escalation_policies = out
    return out


def _escalation_step(raw: Any, keys: tuple, last: bool, problems: Problems) -> EscalationStep | None:
    if not isinstance(raw, dict):
        problems.add(keys, "each step must be a mapping {after, channels}")
        return None
    unknown_keys(raw, ESCALATION_POLICIES_KEYS, keys, problems)
    ok = True
    if raw.get("after") is None:
        problems.add(keys, "a step needs after (how long the alert fires unacknowledged first, e.g. 0m, 15m)")
        ok = False
    after = duration_setting(raw, "after", 0, keys, problems)
    if "channels" not in raw:
        problems.add(keys, "a step needs channels (a list of channel names)")
        ok = False
    channels = channel_list(raw.get("channels", []), keys + ("channels",), problems)
    if "channels" in raw and not channels:
        ok = False
    repeat = None
    if raw.get("repeat") is not None:
        if not last:
            problems.add(keys + ("repeat",), "only the last step may repeat")
        repeat = duration_setting(raw, "repeat", 0, keys, problems, positive=True) or None
    return EscalationStep(after_ms=after, channels=tuple(channels), repeat_ms=repeat) if ok else None


def flapping(value: Any, p: Parse) -> Flapping | None:
    """The global ``flapping: {transitions, window}`` (default off)."""
    if value is None:
        return None
    result = _flapping(value, ("flapping",), p.problems)
    return result if isinstance(result, Flapping) else None


def _flapping(value: Any, keys: tuple, problems: Problems, label: str | None = None) -> Flapping | bool | None:
    if value is False:
        return False
    section = mapping_setting(value, keys, problems, label)
    if not isinstance(value, dict):
        return None
    unknown_keys(section, FLAPPING_KEYS, keys, problems, label)
    transitions = section.get("transitions")
    if isinstance(transitions, bool) or not isinstance(transitions, int) or transitions < 2:
        problems.add(keys + ("transitions",), f"must be a whole number ≥ 2, not {transitions!r}", label)
        transitions = None
    if section.get("window") is None:
        problems.add(keys, "needs window (a duration such as 1h)", label)
    window = duration_setting(section, "window", 0, keys, problems, label, positive=True)
    if transitions is None or not window:
        return None
    return Flapping(transitions=transitions, window_ms=window)


def notify_resolved_when_silenced(value: Any, p: Parse) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        p.problems.add(("notify_resolved_when_silenced",), f"must be true or false, not {value!r}")
        return False
    return value


def maintenance(value: Any, p: Parse) -> list[Maintenance]:
    """``maintenance: [{name, rules | match, weekly | cron + duration, timezone}]``."""
    problems = p.problems
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(("maintenance",), "must be a list of windows, each {name, rules or match, weekly or cron}")
        return []
    out: list[Maintenance] = []
    for index, raw in enumerate(value):
        window = _maintenance(raw, ("maintenance", index), p)
        if window is None:
            continue
        if any(w.name == window.name for w in out):
            problems.add(("maintenance", index, "name"), f"duplicate window name {window.name!r}")
        out.append(window)
    return out


def _maintenance(raw: Any, keys: tuple, p: Parse) -> Maintenance | None:
    problems = p.problems
    if not isinstance(raw, dict):
        problems.add(keys, "each window must be a mapping {name, rules or match, weekly or cron}")
        return None
    unknown_keys(raw, MAINTENANCE_KEYS, keys, problems)
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        problems.add(
            keys + ("name",) if "name" in raw else keys, f"needs a name of letters, digits, . _ -, not {name!r}"
        )
    zone = raw.get("timezone") or p.config.timezone or "UTC"
    if not zone_ok(zone):
        problems.add(keys + ("timezone",), f"unknown time zone {zone!r} (use an IANA name like Europe/Berlin)")
    rules = raw.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, str) and r for r in rules):
        problems.add(keys + ("rules",), "must be a list of rule ids or shell-style patterns such as database_*")
        rules = []
    match = _window_match(raw.get("match"), keys + ("match",), problems)
    if not rules and not match:
        problems.add(keys, "needs rules (ids or patterns) or match ({type, severity, labels}) to say what it holds")
    weekly, cron, duration = _window_schedule(raw, keys, problems)
    if not isinstance(name, str) or (not weekly and not cron):
        return None
    return Maintenance(
        name=name,
        timezone=str(zone),
        rules=tuple(rules),
        match=match,
        weekly=weekly,
        cron=cron,
        duration_ms=duration,
    )


def _window_match(value: Any, keys: tuple, problems: Problems) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``match: {type, severity, labels: {name: value}}``: each a value or a list of values."""
    section = mapping_setting(value, keys, problems)
    unknown_keys(section, MATCH_KEYS, keys, problems)
    out = []
    for key in ("type", "severity"):
        if key in section:
            values = _accepted(section[key], keys + (key,), problems)
            allowed = TYPES if key == "type" else SEVERITIES
            for v in values:
                if v not in allowed:
                    problems.add(keys + (key,), f"unknown {key} {v!r} ({', '.join(allowed)})")
            out.append((key, values))
    for label, accepted in mapping_setting(section.get("labels"), keys + ("labels",), problems).items():
        out.append((f"labels.{label}", _accepted(accepted, keys + ("labels", label), problems)))
    return tuple(out)


def _accepted(value: Any, keys: tuple, problems: Problems) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
        problems.add(keys, "must be a value or a list of values")
        return ()
    return tuple(str(v) for v in values)


def _window_schedule(raw: dict, keys: tuple, problems: Problems) -> tuple[tuple[WeeklySpan, ...], str | None, int]:
    """``weekly: [{days, start, end}]``, or ``cron`` with ``duration``."""
    from ..maintenance_windows import cron_problem

    if ("weekly" in raw) == ("cron" in raw):
        problems.add(keys, "give either weekly ([{days, start, end}]) or cron with duration")
        return (), None, 0
    if "cron" in raw:
        expression = raw["cron"]
        problem = cron_problem(expression) if isinstance(expression, str) else "must be a string"
        if problem:
            problems.add(keys + ("cron",), f"invalid cron expression {expression!r}: {problem}")
        if raw.get("duration") is None:
            problems.add(keys, "a cron window needs duration (how long each opening lasts, e.g. 2h)")
        duration = duration_setting(raw, "duration", 0, keys, problems, positive=True)
        return (), (expression if not problem and duration else None), duration
    if "duration" in raw:
        problems.add(keys + ("duration",), "applies to a cron window (a weekly span has its own end)")
    spans = raw["weekly"]
    if not isinstance(spans, list) or not spans:
        problems.add(keys + ("weekly",), 'must be a list of spans such as {days: [sun], start: "02:00", end: "04:00"}')
        return (), None, 0
    out = []
    for i, span in enumerate(spans):
        parsed = _weekly_span(span, keys + ("weekly", i), problems)
        if parsed is not None:
            out.append(parsed)
    return (tuple(out) if len(out) == len(spans) else ()), None, 0


def _weekly_span(span: Any, keys: tuple, problems: Problems) -> WeeklySpan | None:
    from ..maintenance_windows import DAYS

    if not isinstance(span, dict):
        problems.add(keys, "each span must be a mapping {days, start, end}")
        return None
    unknown_keys(span, WEEKLY_KEYS, keys, problems)
    days = span.get("days")
    days = [days] if isinstance(days, str) else days
    if not isinstance(days, list) or not days or not all(isinstance(d, str) and d.lower() in DAYS for d in days):
        problems.add(keys + ("days",) if "days" in span else keys, f"days must be a list of {', '.join(DAYS)}")
        days = None
    times: list[int | None] = []
    for key in ("start", "end"):
        if span.get(key) in (None, ""):
            problems.add(keys, f'needs {key} (a time of day such as "02:00")')
            times.append(None)
        else:
            times.append(_clock(span[key], keys + (key,), problems))
    start, end = times
    if start is not None and start == end:
        problems.add(keys + ("end",), "equals start: the window would be empty")
        return None
    if days is None or start is None or end is None:
        return None
    return WeeklySpan(days=tuple(sorted({DAYS.index(d.lower()) for d in days})), start=start, end=end)

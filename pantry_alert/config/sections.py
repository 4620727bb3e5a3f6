"""One parser per section of ``rules.yaml``.

Each parser reads its section's value (already ``${VAR}``-interpolated),
reports every problem through ``p.problems`` (with file, line and key path)
and returns what ``Config`` keeps under the section's name.  ``SECTIONS``
lists them in the order they are checked, which is the order their problems
are reported.  Adding a section is one parser here plus one line in
``SECTIONS`` (and its field on ``Config``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from ..errors import ConfigError
from ..expressions import ExpressionError, compile_condition
from ..history import HistorySettings
from ..links import parse as parse_link_settings
from ..model import SEVERITIES
from ..notify.registry import CHANNEL_NAMES, channel_module, unconfigured
from ..record import Record
from .checks import (
    CONTROL_CHARS,
    Problems,
    bool_setting,
    channel_list,
    duration_setting,
    header_settings,
    mapping_setting,
    unknown_keys,
    url_setting,
)
from .model import (
    BUILTIN_SOURCE_RULE,
    DEFAULT_AUDIT_RETENTION_MS,
    DEFAULT_COOLDOWN_MS,
    DEFAULT_DELIVERY_BUDGET_MS,
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_RETENTION_MS,
    DEFAULT_SESSION_TTL_MS,
    DEFAULT_SOURCE_TIMEOUT_MS,
    DEFAULT_STALE_AFTER_MS,
    DEFAULT_THRESHOLDS,
    RULE_ID,
    TYPES,
    ApiSettings,
    AuditSettings,
    Batching,
    Config,
    Escalation,
    EscalationStep,
    Flapping,
    Maintenance,
    PrometheusSource,
    QuietHours,
    Rule,
    Source,
    StateSettings,
    WeeklySpan,
)

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

# The top-level keys that are plain values, not sections.
HEADER_KEYS = {"service", "service_name", "timezone", "dashboard_url"}
SOURCE_KEYS = {"url", "file", "prometheus", "timeout", "headers", "path", "alert_after"}
STATE_KEYS = {"path", "retention", "lock_timeout", "delivery_budget"}
ESCALATION_KEYS = {"thresholds", "add_channels"}
QUIET_HOURS_KEYS = {"start", "end", "timezone", "severities"}
BATCHING_KEYS = {"max_per_run"}
API_KEYS = {"token", "stale_after", "ping_key", "session_ttl", "public_url", "link_secret", "link_ttl"}
HEARTBEATS_KEYS = {
    "schedule",
    "every",
    "timezone",
    "grace",
    "max_runtime",
    "severity",
    "channels",
    "description",
    "runbook_url",
    "cooldown",
    "alert_if_never",
}
AUDIT_KEYS = {"retention"}
RULE_KEYS = {
    "id",
    "name",
    "type",
    "severity",
    "when",
    "cooldown",
    "channels",
    "description",
    "runbook_url",
    "for",
    "resolve_when",
    "auto_resolve",
    "notify_resolved",
    "labels",
    "enabled",
    "escalation_policy",
    "inhibited_by",
    "flapping",
    "notify_resolved_when_silenced",
}
ESCALATION_POLICIES_KEYS = {"after", "channels", "repeat"}
FLAPPING_KEYS = {"transitions", "window"}
MAINTENANCE_KEYS = {"name", "rules", "match", "weekly", "cron", "duration", "timezone"}
MATCH_KEYS = {"type", "severity", "labels"}
WEEKLY_KEYS = {"days", "start", "end"}
ROUTE_KEYS = {"policy"}


class Parse(Record):
    """What every section parser may read: the document, the config parsed so far, the environment."""

    data: dict
    config: Config
    env: Mapping[str, str]
    problems: Problems
    check_templates: bool
    _fields = ("data", "config", "env", "problems", "check_templates")
    _shown = _fields

    def __init__(
        self, data: dict, config: Config, env: Mapping[str, str], problems: Problems, check_templates: bool = False
    ) -> None:
        self.data = data
        self.config = config
        self.env = env
        self.problems = problems
        self.check_templates = check_templates


# ----------------------------------------------------------------- top-level values


def header(p: Parse) -> None:
    """``service``, ``service_name``, ``timezone`` and ``dashboard_url``."""
    data, config, problems = p.data, p.config, p.problems
    for key in ("service", "service_name"):
        if key in data:
            if not isinstance(data[key], str) or not data[key].strip():
                problems.add((key,), "must be a non-empty string")
            else:
                setattr(config, key, data[key])
    if data.get("timezone"):
        if _zone_ok(data["timezone"]):
            config.timezone = str(data["timezone"])
        else:
            problems.add(("timezone",), f"unknown time zone {data['timezone']!r} (use an IANA name like Europe/Berlin)")
    if "dashboard_url" in data:
        config.dashboard_url = url_setting(data["dashboard_url"], ("dashboard_url",), problems)
    elif p.env.get("FRONTEND_URL"):
        config.dashboard_url = p.env["FRONTEND_URL"].rstrip("/") + "/dashboard/performance"


def _zone_ok(name: Any) -> bool:
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(str(name))
    except Exception:
        return False
    return True


# ----------------------------------------------------------------- source, state


def source(value: Any, p: Parse) -> Source:
    problems = p.problems
    src = mapping_setting(value, ("source",), problems)
    unknown_keys(src, SOURCE_KEYS, ("source",), problems)
    given = [key for key in ("url", "file", "prometheus") if src.get(key)]
    if len(given) > 1:
        problems.add(("source",), f"give one of url, file or prometheus, not {' and '.join(given)}")
    headers = header_settings(src.get("headers"), ("source", "headers"), problems)
    alert_after = src.get("alert_after", 3)
    if isinstance(alert_after, bool) or not isinstance(alert_after, int) or alert_after < 1:
        problems.add(("source", "alert_after"), f"must be a whole number ≥ 1, not {alert_after!r}")
        alert_after = 3
    timeout_ms = duration_setting(src, "timeout", DEFAULT_SOURCE_TIMEOUT_MS, ("source",), problems, positive=True)
    return Source(
        url=url_setting(src.get("url"), ("source", "url"), problems),
        file=str(src["file"]) if src.get("file") else None,
        timeout_ms=timeout_ms,
        headers=headers,
        path=str(src["path"]) if src.get("path") else None,
        alert_after=alert_after,
        prometheus=_prometheus_source(src, problems, headers, timeout_ms),
    )


def state(value: Any, p: Parse) -> StateSettings:
    st = mapping_setting(value, ("state",), p.problems)
    unknown_keys(st, STATE_KEYS, ("state",), p.problems)
    return StateSettings(
        path=str(st["path"]) if st.get("path") else None,
        retention_ms=duration_setting(st, "retention", DEFAULT_RETENTION_MS, ("state",), p.problems),
        lock_timeout_ms=duration_setting(
            st, "lock_timeout", DEFAULT_LOCK_TIMEOUT_MS, ("state",), p.problems, positive=True
        ),
        delivery_budget_ms=duration_setting(
            st, "delivery_budget", DEFAULT_DELIVERY_BUDGET_MS, ("state",), p.problems, positive=True
        ),
    )


# ----------------------------------------------------------------- channels


def channels(value: Any, p: Parse) -> dict[str, dict | None]:
    """The ``channels.<name>`` sections; each configured channel's settings are built here, once
    (kept on ``Config.channel_settings``), so that each problem is reported with its file and line."""
    problems = p.problems
    sections: dict[str, dict | None] = {}
    for name, section in mapping_setting(value, ("channels",), problems).items():
        if name not in CHANNEL_NAMES:
            problems.add(("channels", name), f"unknown channel '{name}' (channels: {', '.join(CHANNEL_NAMES)})")
            continue
        section = mapping_setting(section, ("channels", name), problems)
        if "headers" in section:
            header_settings(section["headers"], ("channels", name, "headers"), problems)
        for key in ("token", "password", "user"):
            if isinstance(section.get(key), str) and CONTROL_CHARS.search(section[key]):
                problems.add(
                    ("channels", name, key),
                    "contains a control character (CR, LF or another; an env file with CRLF line endings?); "
                    "the value is not shown",
                )
        sections[name] = section
    p.config.channel_settings = _channel_settings(sections, p.env, problems)
    p.config.settings_env = p.env
    return sections


def _channel_settings(sections: Mapping[str, dict | None], env: Mapping[str, str], problems: Problems) -> dict:
    """name -> settings of every configured, valid channel (the console included)."""
    built = {}
    for name in CHANNEL_NAMES:
        if name in problems.channel_items:  # an unset ${VAR} or a malformed section: said already
            continue
        section = sections.get(name)
        if unconfigured(name, section, env):  # nothing to check, and no need to import the channel
            continue
        module = channel_module(name)
        keys = ("channels", name)
        if section:
            for key in section:
                if key not in module.SECTION_KEYS:
                    allowed = ", ".join(sorted(module.SECTION_KEYS)) or "none"
                    problems.add(keys + (key,), f"unknown key '{key}' (allowed: {allowed})")
            if name in problems.channel_items:
                continue
        try:
            settings = module.settings(section, env)
        except ConfigError as exc:
            path = exc.keys or _leading_keys(exc.message)
            if path and section and path[0] in section:
                problems.add(keys + path, exc.message.partition(": ")[2] if not exc.keys else exc.message)
            else:
                problems.add(keys, exc.message)
            continue
        if settings is not None:
            built[name] = settings
    return built


def _leading_keys(message: str) -> tuple[str, ...]:
    """The key path a channel's message starts with (``"port: ..."``), for a channel whose
    ``settings`` raises ``ConfigError`` without ``keys``."""
    head, sep, _rest = message.partition(": ")
    return tuple(head.split(".")) if sep else ()


# ----------------------------------------------------------------- notification policy


def escalation(value: Any, p: Parse) -> Escalation:
    problems = p.problems
    esc = mapping_setting(value, ("escalation",), problems)
    unknown_keys(esc, ESCALATION_KEYS, ("escalation",), problems)
    thresholds = dict(DEFAULT_THRESHOLDS)
    for sev, count in mapping_setting(esc.get("thresholds"), ("escalation", "thresholds"), problems).items():
        if sev not in SEVERITIES:
            problems.add(("escalation", "thresholds", sev), f"unknown severity '{sev}'")
        elif isinstance(count, bool) or not isinstance(count, int) or count < 1:
            problems.add(("escalation", "thresholds", sev), f"must be a whole number ≥ 1, not {count!r}")
        else:
            thresholds[sev] = count
    return Escalation(
        thresholds=thresholds,
        add_channels=channel_list(esc.get("add_channels", ["webhook"]), ("escalation", "add_channels"), problems),
    )


def api(value: Any, p: Parse) -> ApiSettings:
    problems = p.problems
    section = mapping_setting(value, ("api",), problems)
    unknown_keys(section, API_KEYS, ("api",), problems)
    token = section.get("token")
    if token is not None and not isinstance(token, str):
        problems.add(("api", "token"), 'must be a string (write it through ${VAR}, e.g. "${PANTRY_ALERT_API_TOKEN}")')
        token = None
    settings = ApiSettings(
        token=(token.strip() or None) if isinstance(token, str) else None,
        stale_after_ms=duration_setting(
            section, "stale_after", DEFAULT_STALE_AFTER_MS, ("api",), problems, positive=True
        ),
        session_ttl_ms=duration_setting(
            section, "session_ttl", DEFAULT_SESSION_TTL_MS, ("api",), problems, positive=True
        ),
        public_url=(public_url := url_setting(section.get("public_url"), ("api", "public_url"), problems)),
        links=parse_link_settings(section, p.env, problems, public_url),
    )
    if section.get("ping_key") is not None:
        from .heartbeats import ping_key

        settings.ping_key = ping_key(section["ping_key"], problems)
    return settings


def heartbeats(value: Any, p: Parse) -> list:
    """The other cron jobs, watched by their pings (``config/heartbeats.py``, loaded when present)."""
    if value is None:
        return []
    from .heartbeats import heartbeats as parse

    return parse(value, p, HEARTBEATS_KEYS)


def audit(value: Any, p: Parse) -> AuditSettings:
    section = mapping_setting(value, ("audit",), p.problems)
    unknown_keys(section, AUDIT_KEYS, ("audit",), p.problems)
    retention = duration_setting(
        section, "retention", DEFAULT_AUDIT_RETENTION_MS, ("audit",), p.problems, positive=True
    )
    return AuditSettings(retention_ms=retention)


# ----------------------------------------------------------------- rules


def rules(value: Any, p: Parse) -> list[Rule]:
    problems = p.problems
    raw_rules = value
    if value in (None, []) and p.data.get("heartbeats"):
        raw_rules = []  # a config may watch heartbeats only
    elif not isinstance(raw_rules, list) or not raw_rules:
        problems.add(("rules",) if "rules" in p.data else (), "the config needs a non-empty 'rules' list")
        raw_rules = []
    out: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        rule = _rule(raw, index, problems)
        if rule is None:
            continue
        if rule.id in seen:
            problems.add(("rules", index, "id"), f"duplicate rule id '{rule.id}'", rule.id)
        seen.add(rule.id)
        if p.check_templates and rule.description:
            _check_description(rule, index, problems)
        _rule_time_keys(raw_rules[index], rule, ("rules", index), p)
        out.append(rule)
    _check_inhibitions(out, p)
    return out


def _rule_time_keys(raw: dict, rule: Rule, keys: tuple, p: Parse) -> None:
    """A rule's ``escalation_policy``, ``inhibited_by``, ``flapping`` and ``notify_resolved_when_silenced``."""
    problems = p.problems
    if raw.get("escalation_policy") is not None:
        rule.escalation_policy = _policy_name(raw["escalation_policy"], keys + ("escalation_policy",), p, rule.id)
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


def _check_inhibitions(rules: list[Rule], p: Parse) -> None:
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


def _check_description(rule: Rule, index: int, problems: Problems) -> None:
    from ..templates import check_template

    try:
        check_template(rule.description or "")
    except ExpressionError as exc:
        problems.add(("rules", index, "description"), f"invalid description template: {exc}", rule.id)


_METRIC_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def _prometheus_source(src: dict, problems: Problems, base_headers: dict, timeout_ms: int) -> PrometheusSource | None:
    """``source.prometheus: {url, queries: {<dotted path>: <PromQL>}, headers, timeout}``."""
    keys = ("source", "prometheus")
    if src.get("prometheus") is None:
        return None
    prom = mapping_setting(src["prometheus"], keys, problems)
    unknown_keys(prom, {"url", "queries", "headers", "timeout"}, keys, problems)
    if src.get("path"):
        problems.add(("source", "path"), "applies to a JSON document (url or file), not to prometheus")
    url = url_setting(prom.get("url"), keys + ("url",), problems)
    if not prom.get("url") and keys + ("url",) not in problems.uninterpolated:
        problems.add(keys, "needs the Prometheus server's url, e.g. http://localhost:9090")
    queries: dict[str, str] = {}
    raw = mapping_setting(prom.get("queries"), keys + ("queries",), problems)
    if not raw:
        problems.add(keys, "needs queries: a mapping of metric paths (as rules read them) to PromQL")
    for path, query in raw.items():
        where = keys + ("queries", path)
        if not isinstance(path, str) or not _METRIC_PATH.match(path):
            problems.add(
                where, f"{path!r} is not a metric path (names joined by dots, e.g. memoryUsage.current.heapUsed)"
            )
        elif not isinstance(query, str) or not query.strip():
            problems.add(where, "must be a PromQL expression")
        else:
            queries[path] = query.strip()
    for path in queries:  # a path cannot be a number and an object at once
        for other in queries:
            if other.startswith(path + "."):
                problems.add(keys + ("queries", other), f"'{other}' lies inside '{path}', which is a query of its own")
    headers = dict(base_headers)  # source.headers, then the prometheus section's own
    headers.update(mapping_setting(prom.get("headers"), keys + ("headers",), problems))
    return PrometheusSource(
        url=url or "",
        queries=queries,
        headers={str(k): str(v) for k, v in headers.items()},
        timeout_ms=duration_setting(prom, "timeout", timeout_ms, keys, problems, positive=True),
    )


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
    if not _zone_ok(zone):
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


def batching(value: Any, p: Parse) -> Batching | None:
    problems = p.problems
    keys = ("batching",)
    if value is None:
        return None
    section = mapping_setting(value, keys, problems)
    unknown_keys(section, BATCHING_KEYS, keys, problems)
    limit = section.get("max_per_run")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        problems.add(
            keys + ("max_per_run",) if "max_per_run" in section else keys,
            f"max_per_run must be a whole number ≥ 1, not {limit!r}",
        )
        return None
    return Batching(max_per_run=limit)


def routes(value: Any, p: Parse) -> dict[str, list[str]]:
    """``routes: {severity: [channels]}``, or ``{severity: {policy: name}}`` to page a severity through
    an escalation policy (kept on ``Config.route_policies``; its steps name the channels)."""
    problems = p.problems
    keys = ("routes",)
    routes = {}
    for severity, channels in mapping_setting(value, keys, problems).items():
        if severity not in SEVERITIES:
            problems.add(keys + (severity,), f"unknown severity {severity!r} (severities: {', '.join(SEVERITIES)})")
            continue
        if isinstance(channels, dict):
            unknown_keys(channels, ROUTE_KEYS, keys + (severity,), problems)
            if "policy" in channels:
                name = _policy_name(channels["policy"], keys + (severity, "policy"), p)
                if name:
                    p.config.route_policies[severity] = name
            continue
        routes[severity] = channel_list(channels, keys + (severity,), problems)
    return routes


def _policy_name(value: Any, keys: tuple, p: Parse, label: str | None = None) -> str | None:
    """An escalation policy's name, which must be declared under ``escalation_policies``."""
    if not isinstance(value, str) or value not in p.config.escalation_policies:
        known = ", ".join(sorted(p.config.escalation_policies)) or "none declared"
        p.problems.add(keys, f"unknown escalation policy {value!r} (escalation_policies: {known})", label)
        return None
    return value


# ----------------------------------------------------------------- time: policies, windows, flapping


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
    if not _zone_ok(zone):
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


def _rule(raw, index: int, problems: Problems) -> Rule | None:
    keys = ("rules", index)
    if not isinstance(raw, dict):
        problems.add(keys, "each rule must be a mapping")
        return None
    rule_id = raw.get("id")
    label = rule_id if isinstance(rule_id, str) else f"#{index + 1}"
    unknown_keys(raw, RULE_KEYS, keys, problems, label)
    _rule_identity(raw, keys, problems, label)
    when, resolve_when = _conditions(raw, keys, problems, label)
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        problems.add(keys + ("description",), "must be a string (a Jinja2 template)", label)
        description = None
    labels = _labels(raw, keys, problems, label)
    return Rule(
        id=str(rule_id),
        name=str(raw.get("name")),
        type=str(raw.get("type")),
        severity=str(raw.get("severity")),
        when=when,
        cooldown_ms=duration_setting(raw, "cooldown", DEFAULT_COOLDOWN_MS, keys, problems, label, bare_unit="m"),
        channels=channel_list(raw.get("channels", ["console"]), keys + ("channels",), problems, label),
        description=description,
        runbook_url=url_setting(raw.get("runbook_url"), keys + ("runbook_url",), problems, label),
        for_ms=duration_setting(raw, "for", 0, keys, problems, label),
        resolve_when=resolve_when,
        auto_resolve=bool_setting(raw, "auto_resolve", True, keys, problems, label),
        notify_resolved=bool_setting(raw, "notify_resolved", True, keys, problems, label),
        labels=labels,
        enabled=bool_setting(raw, "enabled", True, keys, problems, label),
    )


def _rule_identity(raw: dict, keys: tuple, problems: Problems, label: str) -> None:
    """A rule's id, name, type and severity."""
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        problems.add(keys + ("id",), f"rule id {rule_id!r} must match [a-z0-9_]+", label)
    elif rule_id == BUILTIN_SOURCE_RULE:
        problems.add(keys + ("id",), f"'{BUILTIN_SOURCE_RULE}' is reserved for the built-in source alert", label)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add(keys + ("name",), "a rule needs a name (its alert title)", label)
    rule_type = raw.get("type")
    if rule_type not in TYPES:
        problems.add(keys + ("type",), f"type {rule_type!r} must be one of {', '.join(TYPES)}", label)
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        problems.add(keys + ("severity",), f"severity {severity!r} must be one of {', '.join(SEVERITIES)}", label)


def _conditions(raw: dict, keys: tuple, problems: Problems, label: str) -> tuple[Any, Any]:
    """A rule's ``when`` and ``resolve_when``, compiled."""
    when = None
    if "when" not in raw:
        problems.add(keys, "a rule needs a 'when' condition", label)
    elif keys + ("when",) not in problems.uninterpolated:  # else already reported: the unset variable
        when = _condition(raw, "when", keys, problems, label)
    resolve_when = None
    if raw.get("resolve_when") not in (None, "") and keys + ("resolve_when",) not in problems.uninterpolated:
        resolve_when = _condition(raw, "resolve_when", keys, problems, label)
    return when, resolve_when


def _condition(raw: dict, key: str, keys: tuple, problems: Problems, label: str) -> Any:
    try:
        return compile_condition(raw[key])
    except ExpressionError as exc:
        problems.add(keys + (key,), f"invalid condition {raw[key]!r}: {exc}", label)
        return None


def _labels(raw: dict, keys: tuple, problems: Problems, label: str) -> dict[str, str]:
    labels = mapping_setting(raw.get("labels"), keys + ("labels",), problems, label)
    for key, value in list(labels.items()):
        if isinstance(value, (dict, list)):
            problems.add(keys + ("labels", key), "a label value must be a string", label)
            del labels[key]
    labels = {str(k): str(v) for k, v in labels.items() if v is not None}
    from ..labels import label_problems

    for key, problem in label_problems(labels):
        problems.add(keys + ("labels", key), problem, label)
    return labels


def history_settings(value: Any, p: Parse) -> HistorySettings:
    """``history``: parsed by the history module, which knows the window functions' limits."""
    from ..history import settings

    return settings(value, p.config.rules, p.problems)


# Every section, in the order they are parsed: the config's attribute (and top-level key) and its parser.
SECTIONS: tuple[tuple[str, Callable[[Any, Parse], Any]], ...] = (
    ("source", source),
    ("state", state),
    ("channels", channels),
    ("escalation", escalation),
    ("escalation_policies", escalation_policies),
    ("quiet_hours", quiet_hours),
    ("batching", batching),
    ("routes", routes),
    ("maintenance", maintenance),
    ("flapping", flapping),
    ("notify_resolved_when_silenced", notify_resolved_when_silenced),
    ("api", api),
    ("audit", audit),
    ("rules", rules),
    ("history", history_settings),  # after the rules: it checks their window functions
    ("heartbeats", heartbeats),
)
TOP_KEYS = HEADER_KEYS | {name for name, _parser in SECTIONS}

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
from dataclasses import dataclass

from ..errors import ConfigError
from ..expressions import ExpressionError, compile_condition
from ..history import HistorySettings
from ..model import SEVERITIES
from ..notify.registry import CHANNEL_NAMES, channel_module, unconfigured
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
    PrometheusSource,
    QuietHours,
    Rule,
    Source,
    StateSettings,
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
API_KEYS = {"token", "stale_after", "ping_key"}
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
}


@dataclass
class Parse:
    """What every section parser may read: the document, the config parsed so far, the environment."""

    data: dict
    config: Config
    env: Mapping[str, str]
    problems: Problems
    check_templates: bool = False


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
        out.append(rule)
    return out


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
    problems = p.problems
    keys = ("routes",)
    routes = {}
    for severity, channels in mapping_setting(value, keys, problems).items():
        if severity not in SEVERITIES:
            problems.add(keys + (severity,), f"unknown severity {severity!r} (severities: {', '.join(SEVERITIES)})")
            continue
        routes[severity] = channel_list(channels, keys + (severity,), problems)
    return routes


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
    return {str(k): str(v) for k, v in labels.items() if v is not None}


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
    ("quiet_hours", quiet_hours),
    ("batching", batching),
    ("routes", routes),
    ("api", api),
    ("audit", audit),
    ("rules", rules),
    ("history", history_settings),  # after the rules: it checks their window functions
    ("heartbeats", heartbeats),
)
TOP_KEYS = HEADER_KEYS | {name for name, _parser in SECTIONS}

"""Load, interpolate and validate ``rules.yaml`` into typed objects.

Every problem is collected (not just the first) and reported together with
file, line and rule id; the caller gets one ``ConfigError`` (exit 2).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .config_checks import (
    CONTROL_CHARS,
    Problems,
    bool_setting,
    channel_list,
    check_shape,
    duration_setting,
    header_settings,
    interpolate,
    mapping_setting,
    unexpand,
    unknown_keys,
    url_setting,
)
from .errors import ConfigError
from .expressions import Condition, ExpressionError, compile_condition
from .model import SEVERITIES
from .notify.registry import CHANNEL_NAMES, channel_module, unconfigured
from .timeutil import exact_duration

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

TYPES = ("performance", "error", "security", "business")
RULE_ID = re.compile(r"^[a-z0-9_]+$")
BUILTIN_SOURCE_RULE = "metrics_source_unavailable"
DEFAULT_THRESHOLDS = {"low": 5, "medium": 3, "high": 2, "critical": 1}
# Defaults of the duration settings, in milliseconds.
DEFAULT_COOLDOWN_MS = 15 * 60_000
DEFAULT_SOURCE_TIMEOUT_MS = 10_000
DEFAULT_RETENTION_MS = 7 * 86_400_000
DEFAULT_LOCK_TIMEOUT_MS = 30_000
DEFAULT_DELIVERY_BUDGET_MS = 60_000  # a run starts no new send after this long
DEFAULT_STALE_AFTER_MS = 5 * 60_000

TOP_KEYS = {
    "service",
    "service_name",
    "timezone",
    "dashboard_url",
    "source",
    "state",
    "channels",
    "escalation",
    "quiet_hours",
    "batching",
    "routes",
    "api",
    "audit",
    "rules",
}
# Keys of the contract that a later stage delivers: rejected plainly, not half-working.
NOT_YET: dict[str, str] = {}
SOURCE_KEYS = {"url", "file", "prometheus", "timeout", "headers", "path", "alert_after"}
STATE_KEYS = {"path", "retention", "lock_timeout", "delivery_budget"}
ESCALATION_KEYS = {"thresholds", "add_channels"}
QUIET_HOURS_KEYS = {"start", "end", "timezone", "severities"}
BATCHING_KEYS = {"max_per_run"}
API_KEYS = {"token", "stale_after"}
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
# Limits on rules.yaml: a config is a few KB; these stop hostile documents early.
MAX_CONFIG_BYTES = 1024 * 1024  # file size


@dataclass
class Rule:
    id: str
    name: str
    type: str
    severity: str
    when: Condition | None
    cooldown_ms: int = DEFAULT_COOLDOWN_MS
    channels: list[str] = field(default_factory=lambda: ["console"])
    description: str | None = None
    runbook_url: str | None = None
    for_ms: int = 0
    resolve_when: Condition | None = None
    auto_resolve: bool = True
    notify_resolved: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    builtin: bool = False

    def to_json(self) -> dict[str, Any]:
        """The rule with its rules.yaml keys (``rules list --json``)."""
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "severity": self.severity,
            "when": self.when.source if self.when else None,
            "cooldown": exact_duration(self.cooldown_ms),
            "channels": list(self.channels),
            "description": self.description,
            "runbook_url": self.runbook_url,
            "for": exact_duration(self.for_ms),
            "resolve_when": self.resolve_when.source if self.resolve_when else None,
            "auto_resolve": self.auto_resolve,
            "notify_resolved": self.notify_resolved,
            "labels": dict(self.labels),
            "enabled": self.enabled,
        }


@dataclass
class Source:
    url: str | None = None
    file: str | None = None
    timeout_ms: int = DEFAULT_SOURCE_TIMEOUT_MS
    headers: dict[str, str] = field(default_factory=dict)
    path: str | None = None
    alert_after: int = 3
    prometheus: PrometheusSource | None = None


@dataclass
class PrometheusSource:
    """``source.prometheus``: instant queries whose results build the metrics document."""

    url: str
    queries: dict[str, str]  # dotted metric path -> PromQL
    headers: dict[str, str] = field(default_factory=dict)
    timeout_ms: int = DEFAULT_SOURCE_TIMEOUT_MS


@dataclass
class StateSettings:
    path: str | None = None
    retention_ms: int = DEFAULT_RETENTION_MS
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS
    delivery_budget_ms: int = DEFAULT_DELIVERY_BUDGET_MS


@dataclass
class Escalation:
    thresholds: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    add_channels: list[str] = field(default_factory=lambda: ["webhook"])


@dataclass(frozen=True)
class QuietHours:
    """``quiet_hours``: a daily window of local time (it may cross midnight) in which
    notifications of ``severities`` are deferred.  Times are minutes after midnight."""

    start: int
    end: int
    timezone: str = "UTC"
    severities: tuple[str, ...] = ("low", "medium")


@dataclass(frozen=True)
class Batching:
    """``batching``: more than ``max_per_run`` email or Slack notifications in one run
    go to that channel as one digest."""

    max_per_run: int


@dataclass
class ApiSettings:
    """``pantry-alert serve``: the bearer token (else ``PANTRY_ALERT_API_TOKEN``) and when
    ``/healthz`` calls the last check run stale."""

    token: str | None = field(default=None, repr=False)
    stale_after_ms: int = DEFAULT_STALE_AFTER_MS


@dataclass
class AuditSettings:
    """``audit``: how long ``prune`` keeps the audit log's entries."""

    retention_ms: int = 365 * 86_400_000


@dataclass
class Config:
    path: Path
    service: str = "kitchen-pantry-crm"
    service_name: str = "Kitchen Pantry CRM"
    timezone: str | None = None
    dashboard_url: str | None = None
    source: Source = field(default_factory=Source)
    state: StateSettings = field(default_factory=StateSettings)
    channels: dict[str, dict | None] = field(default_factory=dict)
    # Problems of a channel's settings (file:line messages), by channel.  They stop only what
    # sends through that channel (check, test-notify) and `rules validate`, not the commands
    # that read state or record human actions, which need no channel secrets.
    channel_problems: dict[str, list[str]] = field(default_factory=dict)
    escalation: Escalation = field(default_factory=Escalation)
    quiet_hours: QuietHours | None = None
    batching: Batching | None = None
    routes: dict[str, list[str]] = field(default_factory=dict)  # severity -> extra channels
    api: ApiSettings = field(default_factory=ApiSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    rules: list[Rule] = field(default_factory=list)
    # value filled in from the environment -> the ${VAR} it came from, to keep values out of messages
    substitutions: dict[str, str] = field(default_factory=dict, repr=False)

    def unexpand(self, text: str) -> str:
        """``text`` with every value filled in from a ${VAR} shown as that ${VAR} again."""
        return unexpand(text, self.substitutions)

    def rule(self, rule_id: str) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None


def source_rule() -> Rule:
    """The built-in alert for a metrics source that keeps failing (``source.alert_after`` reads in a row)."""
    return Rule(
        id=BUILTIN_SOURCE_RULE,
        name="Metrics Source Unavailable",
        type="error",
        severity="high",
        when=None,
        cooldown_ms=DEFAULT_COOLDOWN_MS,
        channels=list(CHANNEL_NAMES),
        builtin=True,
    )


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


def _quiet_hours(value, default_tz: str | None, problems: Problems) -> QuietHours | None:
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
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(str(zone))
    except Exception:
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


def _batching(value, problems: Problems) -> Batching | None:
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


def _routes(value, problems: Problems) -> dict[str, list[str]]:
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
    when = None
    if "when" not in raw:
        problems.add(keys, "a rule needs a 'when' condition", label)
    elif keys + ("when",) in problems.uninterpolated:
        pass  # already reported: the unset variable
    else:
        try:
            when = compile_condition(raw["when"])
        except ExpressionError as exc:
            problems.add(keys + ("when",), f"invalid condition {raw['when']!r}: {exc}", label)
    resolve_when = None
    if raw.get("resolve_when") not in (None, "") and keys + ("resolve_when",) not in problems.uninterpolated:
        try:
            resolve_when = compile_condition(raw["resolve_when"])
        except ExpressionError as exc:
            problems.add(keys + ("resolve_when",), f"invalid condition {raw['resolve_when']!r}: {exc}", label)
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        problems.add(keys + ("description",), "must be a string (a Jinja2 template)", label)
        description = None
    labels = mapping_setting(raw.get("labels"), keys + ("labels",), problems, label)
    for key, value in list(labels.items()):
        if isinstance(value, (dict, list)):
            problems.add(keys + ("labels", key), "a label value must be a string", label)
            del labels[key]
    labels = {str(k): str(v) for k, v in labels.items() if v is not None}
    rule = Rule(
        id=str(rule_id),
        name=str(name),
        type=str(rule_type),
        severity=str(severity),
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
    return rule


def _check_channels(config: Config, env: Mapping[str, str], problems: Problems) -> None:
    """Build every channel's settings once, so that each problem is reported with its file and line."""
    from .errors import ConfigError

    for name in CHANNEL_NAMES:
        if name in problems.channel_items:  # an unset ${VAR} or a malformed section: said already
            continue
        section = config.channels.get(name)
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
            module.settings(section, env)
        except ConfigError as exc:
            head, sep, rest = exc.message.partition(": ")
            first = head.split(".")[0]
            if sep and section and first in section:
                problems.add(keys + tuple(head.split(".")), rest)
            else:
                problems.add(keys, exc.message)


def parse(
    data: Any, path: Path, text: str, env: Mapping[str, str] | None = None, *, check_templates: bool = False
) -> Config:
    env = os.environ if env is None else env
    problems = Problems(path, text)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping with a 'rules' list",
            problems=[f"{path}:1: the top level must be a mapping"],
        )
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list):
        raw_rules = []
    problems.rule_ids = [r.get("id") if isinstance(r, dict) else None for r in raw_rules]
    problems.raw = data
    data = interpolate(data, (), env, problems)
    for key in data:
        if key in NOT_YET:
            problems.add((key,), NOT_YET[key])
    unknown_keys({k: v for k, v in data.items() if k not in NOT_YET}, TOP_KEYS, (), problems)

    config = Config(path=path)
    for key in ("service", "service_name"):
        if key in data:
            if not isinstance(data[key], str) or not data[key].strip():
                problems.add((key,), "must be a non-empty string")
            else:
                setattr(config, key, data[key])
    if data.get("timezone"):
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(str(data["timezone"]))
            config.timezone = str(data["timezone"])
        except Exception:
            problems.add(("timezone",), f"unknown time zone {data['timezone']!r} (use an IANA name like Europe/Berlin)")
    if "dashboard_url" in data:
        config.dashboard_url = url_setting(data["dashboard_url"], ("dashboard_url",), problems)
    elif env.get("FRONTEND_URL"):
        config.dashboard_url = env["FRONTEND_URL"].rstrip("/") + "/dashboard/performance"

    src = mapping_setting(data.get("source"), ("source",), problems)
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
    config.source = Source(
        url=url_setting(src.get("url"), ("source", "url"), problems),
        file=str(src["file"]) if src.get("file") else None,
        timeout_ms=timeout_ms,
        headers=headers,
        path=str(src["path"]) if src.get("path") else None,
        alert_after=alert_after,
        prometheus=_prometheus_source(src, problems, headers, timeout_ms),
    )

    st = mapping_setting(data.get("state"), ("state",), problems)
    unknown_keys(st, STATE_KEYS, ("state",), problems)
    config.state = StateSettings(
        path=str(st["path"]) if st.get("path") else None,
        retention_ms=duration_setting(st, "retention", DEFAULT_RETENTION_MS, ("state",), problems),
        lock_timeout_ms=duration_setting(
            st, "lock_timeout", DEFAULT_LOCK_TIMEOUT_MS, ("state",), problems, positive=True
        ),
        delivery_budget_ms=duration_setting(
            st, "delivery_budget", DEFAULT_DELIVERY_BUDGET_MS, ("state",), problems, positive=True
        ),
    )

    channels = mapping_setting(data.get("channels"), ("channels",), problems)
    for name, section in channels.items():
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
        config.channels[name] = section
    _check_channels(config, env, problems)

    esc = mapping_setting(data.get("escalation"), ("escalation",), problems)
    unknown_keys(esc, ESCALATION_KEYS, ("escalation",), problems)
    thresholds = dict(DEFAULT_THRESHOLDS)
    for sev, count in mapping_setting(esc.get("thresholds"), ("escalation", "thresholds"), problems).items():
        if sev not in SEVERITIES:
            problems.add(("escalation", "thresholds", sev), f"unknown severity '{sev}'")
        elif isinstance(count, bool) or not isinstance(count, int) or count < 1:
            problems.add(("escalation", "thresholds", sev), f"must be a whole number ≥ 1, not {count!r}")
        else:
            thresholds[sev] = count
    config.escalation = Escalation(
        thresholds=thresholds,
        add_channels=channel_list(esc.get("add_channels", ["webhook"]), ("escalation", "add_channels"), problems),
    )

    config.quiet_hours = _quiet_hours(data.get("quiet_hours"), config.timezone, problems)
    config.batching = _batching(data.get("batching"), problems)
    config.routes = _routes(data.get("routes"), problems)
    api = mapping_setting(data.get("api"), ("api",), problems)
    unknown_keys(api, API_KEYS, ("api",), problems)
    token = api.get("token")
    if token is not None and not isinstance(token, str):
        problems.add(("api", "token"), 'must be a string (write it through ${VAR}, e.g. "${PANTRY_ALERT_API_TOKEN}")')
        token = None
    config.api = ApiSettings(
        token=(token.strip() or None) if isinstance(token, str) else None,
        stale_after_ms=duration_setting(api, "stale_after", DEFAULT_STALE_AFTER_MS, ("api",), problems, positive=True),
    )

    audit = mapping_setting(data.get("audit"), ("audit",), problems)
    unknown_keys(audit, AUDIT_KEYS, ("audit",), problems)
    config.audit = AuditSettings(
        retention_ms=duration_setting(
            audit, "retention", AuditSettings.retention_ms, ("audit",), problems, positive=True
        )
    )

    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.add(("rules",) if "rules" in data else (), "the config needs a non-empty 'rules' list")
        raw_rules = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        rule = _rule(raw, index, problems)
        if rule is None:
            continue
        if rule.id in seen:
            problems.add(("rules", index, "id"), f"duplicate rule id '{rule.id}'", rule.id)
        seen.add(rule.id)
        if check_templates and rule.description:
            from .templates import check_template

            try:
                check_template(rule.description)
            except ExpressionError as exc:
                problems.add(("rules", index, "description"), f"invalid description template: {exc}", rule.id)
        config.rules.append(rule)

    config.channel_problems = problems.channel_items
    config.substitutions = dict(problems.substitutions)
    if problems.items:
        every = problems.items + [p for name in CHANNEL_NAMES for p in problems.channel_items.get(name, [])]
        count = len(every)
        raise ConfigError(
            f"{path}: {count} configuration problem{'s' if count > 1 else ''}",
            hint="fix them and check with: pantry-alert rules validate",
            problems=every,
        )
    return config


def load(path: str | os.PathLike, env: Mapping[str, str] | None = None, *, check_templates: bool = False) -> Config:
    """Read and validate a config file.  Raises ``ConfigError`` (exit 2)."""
    import yaml

    path = Path(path)
    try:
        text = _read_limited(path)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found",
            hint="point at one with --config PATH or PANTRY_ALERT_CONFIG=PATH "
            "(an example with the five standard rules is rules.yaml at the root of pantry-alert's source tree)",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except RecursionError:
        raise ConfigError(f"{path}: the document is nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
            problem = "a tab character in the indentation (YAML indents with spaces only)"
        raise ConfigError(f"{where}: invalid YAML: {problem}", problems=[f"{where}: invalid YAML: {problem}"]) from None
    check_shape(data, path)
    return parse(data, path, text, env, check_templates=check_templates)


def _read_limited(path: Path) -> str:
    """The config's text; a FIFO or device is refused (not waited on), and so is a file over the size limit."""
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"config file {path} is not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            data = fh.read(MAX_CONFIG_BYTES + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB")
    return data.decode("utf-8")

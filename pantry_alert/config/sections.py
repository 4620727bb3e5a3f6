"""One parser per section of ``rules.yaml``.

Each parser reads its section's value (already ``${VAR}``-interpolated),
reports every problem through ``p.problems`` (with file, line and key path)
and returns what ``Config`` keeps under the section's name.  ``SECTIONS``
lists them in the order they are checked, which is the order their problems
are reported.  The parsers of the sections that reach outside the process
(source, state, channels, api) live in ``config.io_sections``, those of the
time policies (escalation policies, quiet hours, maintenance, flapping,
inhibitions) in ``config.time_sections``; ``SECTIONS`` here is the one list.
Adding a section is one parser plus one line in ``SECTIONS`` (and its field
on ``Config``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..expressions import ExpressionError, compile_condition
from ..history import HistorySettings
from ..model import SEVERITIES
from ..record import Record
from .checks import (
    Problems,
    bool_setting,
    channel_list,
    duration_setting,
    mapping_setting,
    unknown_keys,
    url_setting,
    zone_ok,
)
from .io_sections import API_KEYS as API_KEYS
from .io_sections import SOURCE_KEYS as SOURCE_KEYS
from .io_sections import STATE_KEYS as STATE_KEYS
from .io_sections import api, source, state
from .io_sections import channels as channel_sections
from .model import (
    BUILTIN_SOURCE_RULE,
    DEFAULT_AUDIT_RETENTION_MS,
    DEFAULT_COOLDOWN_MS,
    DEFAULT_THRESHOLDS,
    RULE_ID,
    TYPES,
    AuditSettings,
    Batching,
    Config,
    Escalation,
    Rule,
)
from .time_sections import ESCALATION_POLICIES_KEYS as ESCALATION_POLICIES_KEYS
from .time_sections import FLAPPING_KEYS as FLAPPING_KEYS
from .time_sections import MAINTENANCE_KEYS as MAINTENANCE_KEYS
from .time_sections import QUIET_HOURS_KEYS as QUIET_HOURS_KEYS
from .time_sections import (
    check_inhibitions,
    escalation_policies,
    flapping,
    maintenance,
    notify_resolved_when_silenced,
    policy_name,
    quiet_hours,
    rule_time_keys,
)

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

# The top-level keys that are plain values, not sections.
HEADER_KEYS = {"service", "service_name", "timezone", "dashboard_url"}
ESCALATION_KEYS = {"thresholds", "add_channels"}
BATCHING_KEYS = {"max_per_run"}
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
        if zone_ok(data["timezone"]):
            config.timezone = str(data["timezone"])
        else:
            problems.add(("timezone",), f"unknown time zone {data['timezone']!r} (use an IANA name like Europe/Berlin)")
    if "dashboard_url" in data:
        config.dashboard_url = url_setting(data["dashboard_url"], ("dashboard_url",), problems)
    elif p.env.get("FRONTEND_URL"):
        config.dashboard_url = p.env["FRONTEND_URL"].rstrip("/") + "/dashboard/performance"


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
                name = policy_name(channels["policy"], keys + (severity, "policy"), p)
                if name:
                    p.config.route_policies[severity] = name
            continue
        routes[severity] = channel_list(channels, keys + (severity,), problems)
    return routes


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
        rule_time_keys(raw_rules[index], rule, ("rules", index), p)
        out.append(rule)
    check_inhibitions(out, p)
    return out


def _check_description(rule: Rule, index: int, problems: Problems) -> None:
    from ..templates import check_template

    try:
        check_template(rule.description or "")
    except ExpressionError as exc:
        problems.add(("rules", index, "description"), f"invalid description template: {exc}", rule.id)


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
    ("channels", channel_sections),
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

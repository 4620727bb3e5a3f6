"""The typed configuration: what ``rules.yaml`` becomes once parsed (``config.load``).

Plain records (``record.Record``) and their defaults; the parsers (one per section) live in
``config.sections``.  The time-policy records live in ``config.time_model`` and those of the
metrics source and state settings in ``config.source_model``; both are re-exported here.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..expressions import Condition
from ..history import HistorySettings
from ..links import LinkSettings
from ..notify.registry import CHANNEL_NAMES
from ..record import FrozenRecord, Record
from ..timeutil import exact_duration
from .checks import unexpand
from .source_model import DEFAULT_DELIVERY_BUDGET_MS as DEFAULT_DELIVERY_BUDGET_MS
from .source_model import DEFAULT_LOCK_TIMEOUT_MS as DEFAULT_LOCK_TIMEOUT_MS
from .source_model import DEFAULT_RETENTION_MS as DEFAULT_RETENTION_MS
from .source_model import DEFAULT_SOURCE_TIMEOUT_MS as DEFAULT_SOURCE_TIMEOUT_MS
from .source_model import PrometheusSource as PrometheusSource
from .source_model import Source, StateSettings
from .time_model import EscalationStep, Flapping, Maintenance, QuietHours
from .time_model import WeeklySpan as WeeklySpan

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ..heartbeats import Heartbeat

TYPES = ("performance", "error", "security", "business")
RULE_ID = re.compile(r"^[a-z0-9_]+$")
BUILTIN_SOURCE_RULE = "metrics_source_unavailable"
DEFAULT_THRESHOLDS = {"low": 5, "medium": 3, "high": 2, "critical": 1}
# Defaults of the duration settings, in milliseconds (the source's and state's: config.source_model).
DEFAULT_COOLDOWN_MS = 15 * 60_000
DEFAULT_AUDIT_RETENTION_MS = 365 * 86_400_000
DEFAULT_STALE_AFTER_MS = 5 * 60_000
DEFAULT_SESSION_TTL_MS = 12 * 3_600_000


class Rule(Record):
    id: str
    name: str
    type: str
    severity: str
    when: Condition | None
    cooldown_ms: int
    channels: list[str]
    description: str | None
    runbook_url: str | None
    for_ms: int
    resolve_when: Condition | None
    auto_resolve: bool
    notify_resolved: bool
    labels: dict[str, str]
    enabled: bool
    builtin: bool
    escalation_policy: str | None  # a name in ``escalation_policies``
    inhibited_by: list[str]  # rule ids whose unresolved alerts hold this rule's
    flapping: Flapping | bool | None  # None: the global setting; False: off for this rule
    notify_resolved_when_silenced: bool | None  # None: the global setting
    _fields = (
        "id",
        "name",
        "type",
        "severity",
        "when",
        "cooldown_ms",
        "channels",
        "description",
        "runbook_url",
        "for_ms",
        "resolve_when",
        "auto_resolve",
        "notify_resolved",
        "labels",
        "enabled",
        "builtin",
        "escalation_policy",
        "inhibited_by",
        "flapping",
        "notify_resolved_when_silenced",
    )
    _shown = _fields

    def __init__(
        self,
        id: str,
        name: str,
        type: str,
        severity: str,
        when: Condition | None,
        cooldown_ms: int = DEFAULT_COOLDOWN_MS,
        channels: list[str] | None = None,
        description: str | None = None,
        runbook_url: str | None = None,
        for_ms: int = 0,
        resolve_when: Condition | None = None,
        auto_resolve: bool = True,
        notify_resolved: bool = True,
        labels: dict[str, str] | None = None,
        enabled: bool = True,
        builtin: bool = False,
        escalation_policy: str | None = None,
        inhibited_by: list[str] | None = None,
        flapping: Flapping | bool | None = None,
        notify_resolved_when_silenced: bool | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.type = type
        self.severity = severity
        self.when = when
        self.cooldown_ms = cooldown_ms
        self.channels = ["console"] if channels is None else channels
        self.description = description
        self.runbook_url = runbook_url
        self.for_ms = for_ms
        self.resolve_when = resolve_when
        self.auto_resolve = auto_resolve
        self.notify_resolved = notify_resolved
        self.labels = {} if labels is None else labels
        self.enabled = enabled
        self.builtin = builtin
        self.escalation_policy = escalation_policy
        self.inhibited_by = [] if inhibited_by is None else inhibited_by
        self.flapping = flapping
        self.notify_resolved_when_silenced = notify_resolved_when_silenced

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
            **self._time_json(),
        }

    def _time_json(self) -> dict[str, Any]:
        """The escalation policy, inhibition and flapping keys, where the rule sets them."""
        out: dict[str, Any] = {}
        if self.escalation_policy:
            out["escalation_policy"] = self.escalation_policy
        if self.inhibited_by:
            out["inhibited_by"] = list(self.inhibited_by)
        if isinstance(self.flapping, Flapping):
            out["flapping"] = {
                "transitions": self.flapping.transitions,
                "window": exact_duration(self.flapping.window_ms),
            }
        elif self.flapping is False:
            out["flapping"] = False
        if self.notify_resolved_when_silenced is not None:
            out["notify_resolved_when_silenced"] = self.notify_resolved_when_silenced
        return out


class Escalation(Record):
    thresholds: dict[str, int]
    add_channels: list[str]
    _fields = ("thresholds", "add_channels")
    _shown = _fields

    def __init__(self, thresholds: dict[str, int] | None = None, add_channels: list[str] | None = None) -> None:
        self.thresholds = dict(DEFAULT_THRESHOLDS) if thresholds is None else thresholds
        self.add_channels = ["webhook"] if add_channels is None else add_channels


class Batching(FrozenRecord):
    """``batching``: more than ``max_per_run`` email or Slack notifications in one run
    go to that channel as one digest."""

    max_per_run: int
    _fields = ("max_per_run",)
    _shown = _fields

    def __init__(self, max_per_run: int) -> None:
        object.__setattr__(self, "max_per_run", max_per_run)


class ApiSettings(Record):
    """``pantry-alert serve``: the bearer token (else ``PANTRY_ALERT_API_TOKEN``), when
    ``/healthz`` calls the last check run stale, the key of the ``/ping/`` URLs (else
    ``PANTRY_ALERT_PING_KEY``), how long a console sign-in lasts, and the address people reach
    the server at (an https one makes the session cookie Secure)."""

    token: str | None
    stale_after_ms: int
    ping_key: str | None
    session_ttl_ms: int
    public_url: str | None
    links: LinkSettings  # signed acknowledge links (pantry_alert.links)
    _fields = ("token", "stale_after_ms", "ping_key", "session_ttl_ms", "public_url", "links")
    _shown = ("stale_after_ms", "session_ttl_ms", "public_url", "links")

    def __init__(
        self,
        token: str | None = None,
        stale_after_ms: int = DEFAULT_STALE_AFTER_MS,
        ping_key: str | None = None,
        session_ttl_ms: int = DEFAULT_SESSION_TTL_MS,
        public_url: str | None = None,
        links: LinkSettings | None = None,
    ) -> None:
        self.token = token
        self.stale_after_ms = stale_after_ms
        self.ping_key = ping_key
        self.session_ttl_ms = session_ttl_ms
        self.public_url = public_url
        self.links = LinkSettings() if links is None else links


class AuditSettings(Record):
    """``audit``: how long ``prune`` keeps the audit log's entries."""

    retention_ms: int
    _fields = ("retention_ms",)
    _shown = _fields

    def __init__(self, retention_ms: int = DEFAULT_AUDIT_RETENTION_MS) -> None:
        self.retention_ms = retention_ms


class Config(Record):
    path: Path
    service: str
    service_name: str
    timezone: str | None
    dashboard_url: str | None
    source: Source
    state: StateSettings
    channels: dict[str, dict | None]
    # Problems of a channel's settings (file:line messages), by channel.  They stop only what
    # sends through that channel (check, test-notify) and `rules validate`, not the commands
    # that read state or record human actions, which need no channel secrets.
    channel_problems: dict[str, list[str]]
    escalation: Escalation
    quiet_hours: QuietHours | None
    batching: Batching | None
    routes: dict[str, list[str]]  # severity -> extra channels
    route_policies: dict[str, str]  # severity -> escalation policy name
    escalation_policies: dict[str, tuple[EscalationStep, ...]]
    maintenance: list[Maintenance]
    flapping: Flapping | None
    notify_resolved_when_silenced: bool
    api: ApiSettings
    audit: AuditSettings
    rules: list[Rule]
    heartbeats: list[Heartbeat]
    history: HistorySettings
    # value filled in from the environment -> the ${VAR} it came from, to keep values out of messages
    substitutions: dict[str, str]
    # The settings of each configured and valid channel, built once when the config loaded (from
    # ``settings_env``): ``notify.configured_channels`` reuses them for that same environment.
    channel_settings: dict[str, Any]
    settings_env: Mapping[str, str] | None
    _fields = (
        "path",
        "service",
        "service_name",
        "timezone",
        "dashboard_url",
        "source",
        "state",
        "channels",
        "channel_problems",
        "escalation",
        "quiet_hours",
        "batching",
        "routes",
        "route_policies",
        "escalation_policies",
        "maintenance",
        "flapping",
        "notify_resolved_when_silenced",
        "api",
        "audit",
        "rules",
        "heartbeats",
        "history",
        "substitutions",
        "channel_settings",
    )
    _shown = (
        "path",
        "service",
        "service_name",
        "timezone",
        "dashboard_url",
        "source",
        "state",
        "channels",
        "channel_problems",
        "escalation",
        "quiet_hours",
        "batching",
        "routes",
        "route_policies",
        "escalation_policies",
        "maintenance",
        "flapping",
        "notify_resolved_when_silenced",
        "api",
        "audit",
        "rules",
        "heartbeats",
        "history",
    )

    def __init__(
        self,
        path: Path,
        service: str = "kitchen-pantry-crm",
        service_name: str = "Kitchen Pantry CRM",
        timezone: str | None = None,
        dashboard_url: str | None = None,
        source: Source | None = None,
        state: StateSettings | None = None,
        channels: dict[str, dict | None] | None = None,
        channel_problems: dict[str, list[str]] | None = None,
        escalation: Escalation | None = None,
        quiet_hours: QuietHours | None = None,
        batching: Batching | None = None,
        routes: dict[str, list[str]] | None = None,
        route_policies: dict[str, str] | None = None,
        escalation_policies: dict[str, tuple[EscalationStep, ...]] | None = None,
        maintenance: list[Maintenance] | None = None,
        flapping: Flapping | None = None,
        notify_resolved_when_silenced: bool = False,
        api: ApiSettings | None = None,
        audit: AuditSettings | None = None,
        rules: list[Rule] | None = None,
        heartbeats: list[Heartbeat] | None = None,
        history: HistorySettings | None = None,
        substitutions: dict[str, str] | None = None,
        channel_settings: dict[str, Any] | None = None,
        settings_env: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.service = service
        self.service_name = service_name
        self.timezone = timezone
        self.dashboard_url = dashboard_url
        self.source = Source() if source is None else source
        self.state = StateSettings() if state is None else state
        self.channels = {} if channels is None else channels
        self.channel_problems = {} if channel_problems is None else channel_problems
        self.escalation = Escalation() if escalation is None else escalation
        self.quiet_hours = quiet_hours
        self.batching = batching
        self.routes = {} if routes is None else routes
        self.route_policies = {} if route_policies is None else route_policies
        self.escalation_policies = {} if escalation_policies is None else escalation_policies
        self.maintenance = [] if maintenance is None else maintenance
        self.flapping = flapping
        self.notify_resolved_when_silenced = notify_resolved_when_silenced
        self.api = ApiSettings() if api is None else api
        self.audit = AuditSettings() if audit is None else audit
        self.rules = [] if rules is None else rules
        self.heartbeats = [] if heartbeats is None else heartbeats
        self.history = HistorySettings() if history is None else history
        self.substitutions = {} if substitutions is None else substitutions
        self.channel_settings = {} if channel_settings is None else channel_settings
        self.settings_env = settings_env

    def unexpand(self, text: str) -> str:
        """``text`` with every value filled in from a ${VAR} shown as that ${VAR} again."""
        return unexpand(text, self.substitutions)

    def rule(self, rule_id: str) -> Rule | None:
        """The rule ``rule_id``: one of ``rules``, or the alert rule of a heartbeat."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        for hb in self.heartbeats:
            if hb.rule.id == rule_id:
                return hb.rule
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

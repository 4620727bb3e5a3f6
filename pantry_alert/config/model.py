"""The typed configuration: what ``rules.yaml`` becomes once parsed (``config.load``).

Plain dataclasses and their defaults; the parsers (one per section) live in
``config.sections``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..expressions import Condition
from ..history import HistorySettings
from ..notify.registry import CHANNEL_NAMES
from ..timeutil import exact_duration
from .checks import unexpand

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ..heartbeats import Heartbeat

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
DEFAULT_AUDIT_RETENTION_MS = 365 * 86_400_000
DEFAULT_STALE_AFTER_MS = 5 * 60_000


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
    """``pantry-alert serve``: the bearer token (else ``PANTRY_ALERT_API_TOKEN``), when
    ``/healthz`` calls the last check run stale, and the key of the ``/ping/`` URLs (else
    ``PANTRY_ALERT_PING_KEY``)."""

    token: str | None = field(default=None, repr=False)
    stale_after_ms: int = DEFAULT_STALE_AFTER_MS
    ping_key: str | None = field(default=None, repr=False)


@dataclass
class AuditSettings:
    """``audit``: how long ``prune`` keeps the audit log's entries."""

    retention_ms: int = DEFAULT_AUDIT_RETENTION_MS


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
    heartbeats: list[Heartbeat] = field(default_factory=list)
    history: HistorySettings = field(default_factory=HistorySettings)
    # value filled in from the environment -> the ${VAR} it came from, to keep values out of messages
    substitutions: dict[str, str] = field(default_factory=dict, repr=False)
    # The settings of each configured and valid channel, built once when the config loaded (from
    # ``settings_env``): ``notify.configured_channels`` reuses them for that same environment.
    channel_settings: dict[str, Any] = field(default_factory=dict, repr=False)
    settings_env: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

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

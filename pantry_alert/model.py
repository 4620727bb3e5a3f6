"""Plain data shared by the engine and the store (no I/O here)."""

from __future__ import annotations

from .record import Record

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")  # least to most severe
SEVERITY_ORDER = {severity: rank for rank, severity in enumerate(SEVERITIES)}
DEFAULT_DESCRIPTION = "Alert condition met"  # a rule without a description, or whose template failed
NEXT_SEVERITY = {"low": "medium", "medium": "high", "high": "critical", "critical": "critical"}


class Alert(Record):
    """One alert: the rule that fired, its state, and what was sent."""

    id: str
    rule_id: str
    type: str
    severity: str
    title: str
    description: str
    timestamp: int
    count: int
    last_seen_at: int
    status: str  # firing | acknowledged | flapping | resolved
    acknowledged_at: int | None
    acknowledged_by: str | None
    ack_expires_at: int | None
    resolved_at: int | None
    resolved_by: str | None
    escalated: bool
    silenced: bool
    runbook_url: str | None
    labels: dict[str, str]
    metrics: dict[str, Any]
    channels: list[str]  # current routing (escalation adds)
    notified_channels: list[str]  # channels that were sent to
    rounds_at_severity: int
    last_notified_at: int | None
    resolved_metrics: dict[str, Any]  # what the condition read when it cleared
    inhibited: bool  # held while another rule's alert (``inhibited_by``) is unresolved
    policy_step: int  # escalation policy: how many of its steps have run
    step_at: int | None  # escalation policy: when its last step (or repeat) was sent
    acked_ms: int  # escalation policy: time spent acknowledged (it does not count toward a step's after)
    held_by: str | None  # what holds its notices back now: "silence:<id>", "window:<name>", "inhibitor:<rule>"
    _fields = (
        "id",
        "rule_id",
        "type",
        "severity",
        "title",
        "description",
        "timestamp",
        "count",
        "last_seen_at",
        "status",
        "acknowledged_at",
        "acknowledged_by",
        "ack_expires_at",
        "resolved_at",
        "resolved_by",
        "escalated",
        "silenced",
        "runbook_url",
        "labels",
        "metrics",
        "channels",
        "notified_channels",
        "rounds_at_severity",
        "last_notified_at",
        "resolved_metrics",
        "inhibited",
        "policy_step",
        "step_at",
        "acked_ms",
        "held_by",
    )
    _shown = _fields

    def __init__(
        self,
        id: str,
        rule_id: str,
        type: str,
        severity: str,
        title: str,
        description: str,
        timestamp: int,
        count: int = 1,
        last_seen_at: int = 0,
        status: str = "firing",
        acknowledged_at: int | None = None,
        acknowledged_by: str | None = None,
        ack_expires_at: int | None = None,
        resolved_at: int | None = None,
        resolved_by: str | None = None,
        escalated: bool = False,
        silenced: bool = False,
        runbook_url: str | None = None,
        labels: dict[str, str] | None = None,
        metrics: dict[str, Any] | None = None,
        channels: list[str] | None = None,
        notified_channels: list[str] | None = None,
        rounds_at_severity: int = 0,
        last_notified_at: int | None = None,
        resolved_metrics: dict[str, Any] | None = None,
        inhibited: bool = False,
        policy_step: int = 0,
        step_at: int | None = None,
        acked_ms: int = 0,
        held_by: str | None = None,
    ) -> None:
        self.id = id
        self.rule_id = rule_id
        self.type = type
        self.severity = severity
        self.title = title
        self.description = description
        self.timestamp = timestamp
        self.count = count
        self.last_seen_at = last_seen_at
        self.status = status
        self.acknowledged_at = acknowledged_at
        self.acknowledged_by = acknowledged_by
        self.ack_expires_at = ack_expires_at
        self.resolved_at = resolved_at
        self.resolved_by = resolved_by
        self.escalated = escalated
        self.silenced = silenced
        self.runbook_url = runbook_url
        self.labels = {} if labels is None else labels
        self.metrics = {} if metrics is None else metrics
        self.channels = [] if channels is None else channels
        self.notified_channels = [] if notified_channels is None else notified_channels
        self.rounds_at_severity = rounds_at_severity
        self.last_notified_at = last_notified_at
        self.resolved_metrics = {} if resolved_metrics is None else resolved_metrics
        self.inhibited = inhibited
        self.policy_step = policy_step
        self.step_at = step_at
        self.acked_ms = acked_ms
        self.held_by = held_by

    @property
    def resolved(self) -> bool:
        return self.status == "resolved"

    def to_json(self) -> dict[str, Any]:
        """The alert's JSON shape (docs/commands.md): ``id`` to ``resolvedAt`` first, then the lifecycle fields."""
        return {
            "id": self.id,
            "type": self.type,
            "severity": self.severity,
            "title": self.title,
            "description": self.description,
            "timestamp": self.timestamp,
            "metadata": {
                "rule": self.rule_id,
                "metrics": dict(self.metrics),
                "escalated": self.escalated,
                "alertCount": self.count,
                # the values at resolution, next to the values it fired with (auto-resolved alerts only)
                **({"resolvedMetrics": dict(self.resolved_metrics)} if self.resolved_metrics else {}),
            },
            "resolved": self.resolved,
            "resolvedAt": self.resolved_at,
            "ruleId": self.rule_id,
            "status": self.status,
            "count": self.count,
            "lastSeenAt": self.last_seen_at,
            "acknowledgedAt": self.acknowledged_at,
            "acknowledgedBy": self.acknowledged_by,
            "resolvedBy": self.resolved_by,
            "escalated": self.escalated,
            "silenced": self.silenced,
            "inhibited": self.inhibited,
            "runbookUrl": self.runbook_url,
            "labels": dict(self.labels),
        }

    def copy(self) -> Alert:
        from copy import deepcopy  # here: a quiet run copies no alert

        return Alert(**{name: deepcopy(getattr(self, name)) for name in self._fields})  # lists and dicts too


class RuleState(Record):
    """What the engine remembers about a rule between runs."""

    rule_id: str
    last_fired_at: int | None
    pending_since: int | None
    consecutive_breaches: int  # for the built-in source rule: consecutive failed reads
    last_error: str | None
    _fields = ("rule_id", "last_fired_at", "pending_since", "consecutive_breaches", "last_error")
    _shown = _fields

    def __init__(
        self,
        rule_id: str,
        last_fired_at: int | None = None,
        pending_since: int | None = None,
        consecutive_breaches: int = 0,
        last_error: str | None = None,
    ) -> None:
        self.rule_id = rule_id
        self.last_fired_at = last_fired_at
        self.pending_since = pending_since
        self.consecutive_breaches = consecutive_breaches
        self.last_error = last_error


class Event(Record):
    """One entry of an alert's history."""

    alert_id: str
    at: int
    kind: str  # fired, notified, reminded, escalated, acknowledged, ack_expired, resolved, ...
    detail: dict[str, Any]
    _fields = ("alert_id", "at", "kind", "detail")
    _shown = _fields

    def __init__(self, alert_id: str, at: int, kind: str, detail: dict[str, Any] | None = None) -> None:
        self.alert_id = alert_id
        self.at = at
        self.kind = kind
        self.detail = {} if detail is None else detail


class Intent(Record):
    """A notification the engine asks for; the store records it, delivery sends it."""

    alert_id: str
    channel: str
    kind: str  # firing | reminder | escalated | resolved | flapping
    status: str  # pending | skipped | deferred (quiet hours: sent at not_before)
    error: str | None
    not_before: int | None  # a deferred notification's send time (epoch ms)
    batch: str | None  # notifications sharing a batch key go to their channel as one digest
    step: int | None  # the escalation policy step (1-based) this notice is for
    _fields = ("alert_id", "channel", "kind", "status", "error", "not_before", "batch", "step")
    _shown = _fields

    def __init__(
        self,
        alert_id: str,
        channel: str,
        kind: str,
        status: str = "pending",
        error: str | None = None,
        not_before: int | None = None,
        batch: str | None = None,
        step: int | None = None,
    ) -> None:
        self.alert_id = alert_id
        self.channel = channel
        self.kind = kind
        self.status = status
        self.error = error
        self.not_before = not_before
        self.batch = batch
        self.step = step


class ChannelFacts:
    """What the engine and the policy need to know about the channels, as data: the
    synchronising channels (no notifications of their own), the digest-capable ones and
    the batched ones, and the ones that follow acknowledge/resolve (an incident service
    told of both, whatever a rule's ``notify_resolved`` says).
    ``notify.registry.channel_facts()`` builds it from the channels' declared
    capabilities; the pure steps never import the channels."""

    __slots__ = ("sync", "digest", "batched", "follows")

    def __init__(
        self,
        sync: frozenset[str] = frozenset(),
        digest: frozenset[str] = frozenset(),
        batched: frozenset[str] = frozenset(),
        follows: frozenset[str] = frozenset(),
    ) -> None:
        self.sync, self.digest, self.batched = frozenset(sync), frozenset(digest), frozenset(batched)
        self.follows = frozenset(follows)

    def _key(self) -> tuple:
        return (self.sync, self.digest, self.batched, self.follows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChannelFacts) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"ChannelFacts(sync={sorted(self.sync)}, digest={sorted(self.digest)}, batched={sorted(self.batched)}, "
            f"follows={sorted(self.follows)})"
        )


def digest_reason(batch: str) -> str:
    """Why a digest goes, from the batch key the policy gave its notices: ``quiet_hours``
    (``quiet:<end of the window>``) or ``batching`` (``run:<now>``)."""
    return "quiet_hours" if batch.startswith("quiet:") else "batching"

"""Plain data shared by the engine and the store (no I/O here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")  # least to most severe
SEVERITY_ORDER = {severity: rank for rank, severity in enumerate(SEVERITIES)}
NEXT_SEVERITY = {"low": "medium", "medium": "high", "high": "critical", "critical": "critical"}


@dataclass
class Alert:
    id: str
    rule_id: str
    type: str
    severity: str
    title: str
    description: str
    timestamp: int
    count: int = 1
    last_seen_at: int = 0
    status: str = "firing"  # firing | acknowledged | resolved
    acknowledged_at: int | None = None
    acknowledged_by: str | None = None
    ack_expires_at: int | None = None
    resolved_at: int | None = None
    resolved_by: str | None = None
    escalated: bool = False
    silenced: bool = False
    runbook_url: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    channels: list[str] = field(default_factory=list)  # current routing (escalation adds)
    notified_channels: list[str] = field(default_factory=list)  # channels that were sent to
    rounds_at_severity: int = 0
    last_notified_at: int | None = None
    resolved_metrics: dict[str, Any] = field(default_factory=dict)  # what the condition read when it cleared

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
            "runbookUrl": self.runbook_url,
            "labels": dict(self.labels),
        }

    def copy(self) -> Alert:
        return Alert(**asdict(self))  # asdict copies the lists and dicts


@dataclass
class RuleState:
    rule_id: str
    last_fired_at: int | None = None
    pending_since: int | None = None
    consecutive_breaches: int = 0  # for the built-in source rule: consecutive failed reads
    last_error: str | None = None


@dataclass
class Event:
    alert_id: str
    at: int
    kind: str  # fired, notified, reminded, escalated, acknowledged, ack_expired, resolved, ...
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Intent:
    """A notification the engine asks for; the store records it, delivery sends it."""

    alert_id: str
    channel: str
    kind: str  # firing | reminder | escalated | resolved
    status: str = "pending"  # pending | skipped | deferred (quiet hours: sent at not_before)
    error: str | None = None
    not_before: int | None = None  # a deferred notification's send time (epoch ms)
    batch: str | None = None  # notifications sharing a batch key go to their channel as one digest


class ChannelFacts:
    """What the engine and the policy need to know about the channels, as data: the
    synchronising channels (no notifications of their own), the digest-capable ones and
    the batched ones.  ``notify.registry.channel_facts()`` builds it from the channels'
    declared capabilities; the pure steps never import the channels."""

    __slots__ = ("sync", "digest", "batched")

    def __init__(
        self,
        sync: frozenset[str] = frozenset(),
        digest: frozenset[str] = frozenset(),
        batched: frozenset[str] = frozenset(),
    ) -> None:
        self.sync, self.digest, self.batched = frozenset(sync), frozenset(digest), frozenset(batched)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChannelFacts) and (self.sync, self.digest, self.batched) == (
            other.sync,
            other.digest,
            other.batched,
        )

    def __hash__(self) -> int:
        return hash((self.sync, self.digest, self.batched))

    def __repr__(self) -> str:
        return f"ChannelFacts(sync={sorted(self.sync)}, digest={sorted(self.digest)}, batched={sorted(self.batched)})"


def digest_reason(batch: str) -> str:
    """Why a digest goes, from the batch key the policy gave its notices: ``quiet_hours``
    (``quiet:<end of the window>``) or ``batching`` (``run:<now>``)."""
    return "quiet_hours" if batch.startswith("quiet:") else "batching"

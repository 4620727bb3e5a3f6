"""The pure core: rules + metrics + stored state + ``now`` in, a plan out.

No I/O and no clock of its own.  ``evaluate`` returns a ``Plan``: the alerts
to insert or update, the timeline events, the notification intents and the
rule states to store.  The store commits a plan in one transaction; delivery
sends its intents afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable

from .config import Escalation, Rule, source_rule
from .errors import ExpressionError, Unevaluable
from .model import DEFAULT_DESCRIPTION, NEXT_SEVERITY, Alert, ChannelFacts, Event, Intent, RuleState
from .record import Record

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Protocol

    class PolicyFacts(Protocol):
        configured: frozenset[str]
        channels: ChannelFacts


class Plan(Record):
    """What a run decided: alerts to add and update, events, notification intents."""

    new_alerts: list[Alert]
    updated_alerts: list[Alert]
    events: list[Event]
    intents: list[Intent]
    rule_states: list[RuleState]
    fired: list[str]
    reminded: list[str]
    escalated: list[str]
    resolved: list[str]
    errors: list[dict[str, str]]  # unevaluable rules: exit 1
    warnings: list[dict[str, str]]  # a description failed: exit 1, alert still fires
    skipped: list[str]  # channels not configured: no exit change
    released: list[str]  # alerts whose deferred notifications go now
    transitions: list[tuple[str, int]]  # (rule id, at): its verdict changed
    # The ids of new_alerts, so that each new id is checked against them in constant time.
    new_ids: set[str]
    _fields = (
        "new_alerts",
        "updated_alerts",
        "events",
        "intents",
        "rule_states",
        "fired",
        "reminded",
        "escalated",
        "resolved",
        "errors",
        "warnings",
        "skipped",
        "released",
        "transitions",
    )
    _shown = _fields

    def __init__(
        self,
        new_alerts: list[Alert] | None = None,
        updated_alerts: list[Alert] | None = None,
        events: list[Event] | None = None,
        intents: list[Intent] | None = None,
        rule_states: list[RuleState] | None = None,
        fired: list[str] | None = None,
        reminded: list[str] | None = None,
        escalated: list[str] | None = None,
        resolved: list[str] | None = None,
        errors: list[dict[str, str]] | None = None,
        warnings: list[dict[str, str]] | None = None,
        skipped: list[str] | None = None,
        released: list[str] | None = None,
        transitions: list[tuple[str, int]] | None = None,
    ) -> None:
        self.new_alerts = [] if new_alerts is None else new_alerts
        self.updated_alerts = [] if updated_alerts is None else updated_alerts
        self.events = [] if events is None else events
        self.intents = [] if intents is None else intents
        self.rule_states = [] if rule_states is None else rule_states
        self.fired = [] if fired is None else fired
        self.reminded = [] if reminded is None else reminded
        self.escalated = [] if escalated is None else escalated
        self.resolved = [] if resolved is None else resolved
        self.errors = [] if errors is None else errors
        self.warnings = [] if warnings is None else warnings
        self.skipped = [] if skipped is None else skipped
        self.released = [] if released is None else released
        self.transitions = [] if transitions is None else transitions
        self.new_ids = set()

    @property
    def changed(self) -> bool:
        return bool(self.new_alerts or self.updated_alerts or self.rule_states)


class Context(Record):
    """The facts the engine evaluates against (time, escalation, channels)."""

    now: int
    escalation: Escalation
    configured: frozenset[str]  # channels that are configured (console always)
    channels: ChannelFacts  # what the channels can do (``notify.registry.channel_facts()``)
    alert_after: int
    # Ids of stored alerts fired at ``now`` (resolved ones included): a rule that fires again in the
    # same millisecond (a replay, a clock stepped back) gets ``<rule>_<ms>_2``, ``_3``... instead.
    taken_ids: frozenset[str]
    _fields = ("now", "escalation", "configured", "channels", "alert_after", "taken_ids")
    _shown = _fields

    def __init__(
        self,
        now: int,
        escalation: Escalation,
        configured: frozenset[str],
        channels: ChannelFacts,
        alert_after: int = 3,
        taken_ids: frozenset[str] = frozenset(),
    ) -> None:
        self.now = now
        self.escalation = escalation
        self.configured = configured
        self.channels = channels
        self.alert_after = alert_after
        self.taken_ids = taken_ids


def record_intents(
    plan: Plan, ctx: Context | PolicyFacts, alert: Alert, channels: Iterable[str], kind: str, step: int | None = None
) -> list[str]:
    """Record one notification per channel (of escalation policy ``step``, when given); return the
    channels actually sent to.  ``ctx`` is the engine's or the policy's context."""
    sent = []
    for channel in dict.fromkeys(channels):
        if channel in ctx.channels.sync and channel in ctx.configured:
            continue  # its run-level sync sends the alert's state; no notification of its own
        if channel in ctx.configured:
            plan.intents.append(Intent(alert.id, channel, kind, step=step))
            sent.append(channel)
        else:
            reason = f"channel '{channel}' is not configured"
            plan.intents.append(Intent(alert.id, channel, kind, status="skipped", error=reason, step=step))
            plan.skipped.append(channel)
    for channel in sent:
        if channel not in alert.notified_channels:
            alert.notified_channels.append(channel)
    return sent


def _describe(plan: Plan, rule: Rule, metrics: dict, value) -> str:
    if rule.builtin or not rule.description:
        return DEFAULT_DESCRIPTION
    from .templates import render_description  # here: a run that fires nothing renders nothing

    try:
        return render_description(rule.description, metrics, rule.to_json(), value)
    except ExpressionError as exc:
        plan.warnings.append(
            {"rule": rule.id, "error": f"description template failed ({exc}); used '{DEFAULT_DESCRIPTION}'"}
        )
        return DEFAULT_DESCRIPTION


def _fire(plan: Plan, ctx: Context, rule: Rule, state: RuleState, description: str, read: dict) -> Alert:
    now = ctx.now
    channels = sorted(ctx.configured) if rule.builtin else list(rule.channels)
    alert_id = base = f"{rule.id}_{now}"
    suffix = 2
    while alert_id in ctx.taken_ids or alert_id in plan.new_ids:
        alert_id = f"{base}_{suffix}"
        suffix += 1
    alert = Alert(
        id=alert_id,
        rule_id=rule.id,
        type=rule.type,
        severity=rule.severity,
        title=rule.name,
        description=description,
        timestamp=now,
        count=1,
        last_seen_at=now,
        runbook_url=rule.runbook_url,
        labels=dict(rule.labels),
        metrics=dict(read),
        channels=channels,
        rounds_at_severity=1,
        last_notified_at=now,
    )
    plan.new_alerts.append(alert)
    plan.new_ids.add(alert.id)
    plan.fired.append(alert.id)
    fired: dict[str, object] = {"severity": alert.severity, "description": description, "metrics": dict(read)}
    if rule.for_ms and state.pending_since is not None and state.pending_since < now:  # held for `for` first
        fired["breachSince"] = state.pending_since
    plan.events.append(Event(alert.id, now, "fired", fired))
    sent = record_intents(plan, ctx, alert, channels, "firing")
    plan.events.append(Event(alert.id, now, "notified", {"kind": "firing", "channels": sent}))
    state.last_fired_at = now
    return alert


def _breach(plan: Plan, ctx: Context, rule: Rule, alert: Alert, describe, read: dict) -> None:
    """The condition holds and the rule has an unresolved alert: deduplicate, maybe remind/escalate."""
    now = ctx.now
    alert.count += 1
    alert.last_seen_at = now
    if alert.status == "acknowledged" and alert.ack_expires_at is not None and alert.ack_expires_at <= now:
        alert.status = "firing"
        alert.acknowledged_at = None
        alert.acknowledged_by = None
        alert.ack_expires_at = None
        plan.events.append(Event(alert.id, now, "ack_expired", {}))
    if alert.status != "firing":
        return
    if alert.last_notified_at is not None and now - alert.last_notified_at < rule.cooldown_ms:
        return
    kind = "reminder" if alert.last_notified_at is not None else "firing"  # fired while silenced: first notice
    threshold = ctx.escalation.thresholds.get(alert.severity, 1)
    if alert.rounds_at_severity >= threshold and (alert.severity != "critical" or not alert.escalated):
        previous = alert.severity
        alert.severity = NEXT_SEVERITY[alert.severity]
        alert.escalated = True
        alert.rounds_at_severity = 0
        for channel in ctx.escalation.add_channels:
            if channel not in alert.channels:
                alert.channels.append(channel)
        kind = "escalated"
        plan.escalated.append(alert.id)
        plan.events.append(
            Event(
                alert.id, now, "escalated", {"from": previous, "to": alert.severity, "channels": list(alert.channels)}
            )
        )
    alert.rounds_at_severity += 1
    alert.last_notified_at = now
    alert.metrics = dict(read)
    alert.description = describe()
    plan.reminded.append(alert.id)
    sent = record_intents(plan, ctx, alert, alert.channels, kind)
    plan.events.append(Event(alert.id, now, "reminded", {"kind": kind, "count": alert.count, "channels": sent}))


def _resolve(plan: Plan, ctx: Context, rule: Rule, alert: Alert, read: dict | None = None) -> None:
    alert.status = "resolved"
    alert.resolved_metrics = dict(read or {})
    alert.resolved_at = ctx.now
    alert.resolved_by = "auto"
    plan.resolved.append(alert.id)
    plan.events.append(Event(alert.id, ctx.now, "resolved", {"by": "auto"}))
    # a channel that follows acknowledge/resolve (an incident service) is told whatever the rule says
    told = [c for c in alert.notified_channels if rule.notify_resolved or c in ctx.channels.follows]
    if told:
        sent = record_intents(plan, ctx, alert, told, "resolved")
        plan.events.append(Event(alert.id, ctx.now, "notified", {"kind": "resolved", "channels": sent}))


def _step(
    plan: Plan,
    ctx: Context,
    rule: Rule,
    holds: bool,
    clears: bool,
    alert: Alert | None,
    state: RuleState,
    describe,
    read: dict,
) -> None:
    """One rule's transition given whether its condition holds (and whether it clears)."""
    now = ctx.now
    if holds:
        state.consecutive_breaches += 1
        if alert is not None:
            _breach(plan, ctx, rule, alert, describe, read)
            plan.updated_alerts.append(alert)
            return
        if state.pending_since is None:
            state.pending_since = now
        if now - state.pending_since < rule.for_ms:
            return  # pending: must hold for `for` before firing
        if state.last_fired_at is not None and now - state.last_fired_at < rule.cooldown_ms:
            return  # within the cooldown the breach is only counted
        _fire(plan, ctx, rule, state, describe(), read)
        return
    state.pending_since = None
    state.consecutive_breaches = 0
    if alert is not None and rule.auto_resolve and clears:
        _resolve(plan, ctx, rule, alert, read)
        plan.updated_alerts.append(alert)


def evaluate(
    rules: list[Rule],
    metrics: dict | None,
    *,
    alerts: dict[str, Alert],
    rule_states: dict[str, RuleState],
    ctx: Context,
    source_error: str | None = None,
    history=None,
    heartbeats: Iterable[tuple[Rule, bool, dict]] = (),
) -> Plan:
    """Evaluate one run.

    ``alerts`` maps rule id -> its unresolved alert; ``rule_states`` maps rule
    id -> stored state.  Neither is mutated: the plan carries copies.
    ``metrics`` is None when the source failed (``source_error`` says why):
    then only the built-in source rule and the heartbeats move.  ``history`` (a
    ``windows.History``) holds the stored samples that the rules' window functions read.
    ``heartbeats`` holds ``(rule, holds, values)`` for each heartbeat's alert
    rule: it holds while the heartbeat is late or failed, whatever the metrics.
    """
    plan = Plan()

    def state_of(rule_id: str) -> RuleState:
        stored = rule_states.get(rule_id)
        return RuleState(**vars(stored)) if stored else RuleState(rule_id)

    def alert_of(rule_id: str) -> Alert | None:
        stored = alerts.get(rule_id)
        return stored.copy() if stored else None

    # The built-in metrics-source rule: it fires after source.alert_after failed reads in a row.
    builtin = source_rule()
    state = state_of(builtin.id)
    before = (state.consecutive_breaches, state.pending_since, state.last_fired_at, state.last_error)
    alert = alert_of(builtin.id)
    if source_error is not None:
        failures = state.consecutive_breaches + 1
        state.last_error = source_error
        holds = failures >= ctx.alert_after
        description = f"Metrics could not be read {failures} times in a row: {source_error}"
        if holds:
            _step(plan, ctx, builtin, True, False, alert, state, lambda: description, {})
            state.consecutive_breaches = failures
        else:
            state.consecutive_breaches = failures
    else:
        state.last_error = None
        _step(plan, ctx, builtin, False, True, alert, state, lambda: DEFAULT_DESCRIPTION, {})
    if (state.consecutive_breaches, state.pending_since, state.last_fired_at, state.last_error) != before:
        plan.rule_states.append(state)
    for rule, holds, read in heartbeats:
        state = state_of(rule.id)
        state_before = vars(state).copy()
        description = rule.description or DEFAULT_DESCRIPTION
        _step(plan, ctx, rule, holds, True, alert_of(rule.id), state, lambda d=description: d, read)
        if vars(state) != state_before:
            plan.rule_states.append(state)
    if metrics is None:
        return plan

    for rule in rules:
        if not rule.enabled or rule.when is None:
            continue
        try:
            holds, read, value = rule.when.evaluate(metrics, history)
            clears = True
            if not holds and rule.resolve_when is not None and rule.id in alerts:
                clears, _, _ = rule.resolve_when.evaluate(metrics, history)
        except Unevaluable as exc:
            plan.errors.append({"rule": rule.id, "error": str(exc)})
            continue
        state = state_of(rule.id)
        state_before = vars(state).copy()
        _step(
            plan,
            ctx,
            rule,
            holds,
            clears,
            alert_of(rule.id),
            state,
            lambda rule=rule, read=read, value=value: _describe(plan, rule, metrics, value),
            read,
        )
        if vars(state) != state_before:
            plan.rule_states.append(state)
    return plan

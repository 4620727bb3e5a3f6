"""The pure core: rules + metrics + stored state + ``now`` in, a plan out.

No I/O and no clock of its own.  ``evaluate`` returns a ``Plan``: the alerts
to insert or update, the timeline events, the notification intents and the
rule states to store.  The store commits a plan in one transaction; delivery
sends its intents afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .config import Escalation, Rule, source_rule
from .errors import ExpressionError, Unevaluable
from .model import NEXT_SEVERITY, Alert, ChannelFacts, Event, Intent, RuleState
from .templates import DEFAULT_DESCRIPTION, render_description


@dataclass
class Plan:
    new_alerts: list[Alert] = field(default_factory=list)
    updated_alerts: list[Alert] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    intents: list[Intent] = field(default_factory=list)
    rule_states: list[RuleState] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)  # unevaluable rules: exit 1
    warnings: list[dict[str, str]] = field(default_factory=list)  # a description failed: exit 1, alert still fires
    skipped: list[str] = field(default_factory=list)  # channels not configured: no exit change
    released: list[str] = field(default_factory=list)  # alerts whose deferred notifications go now
    # The ids of new_alerts, so that each new id is checked against them in constant time.
    new_ids: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    @property
    def changed(self) -> bool:
        return bool(self.new_alerts or self.updated_alerts or self.rule_states)


@dataclass
class Context:
    now: int
    escalation: Escalation
    configured: frozenset[str]  # channels that are configured (console always)
    channels: ChannelFacts  # what the channels can do (``notify.registry.channel_facts()``)
    alert_after: int = 3
    # Ids of stored alerts fired at ``now`` (resolved ones included): a rule that fires again in the
    # same millisecond (a replay, a clock stepped back) gets ``<rule>_<ms>_2``, ``_3``... instead.
    taken_ids: frozenset[str] = frozenset()


def _intents(plan: Plan, ctx: Context, alert: Alert, channels: Iterable[str], kind: str) -> list[str]:
    """Record one notification per channel; return the channels actually sent to."""
    sent = []
    for channel in dict.fromkeys(channels):
        if channel in ctx.channels.sync and channel in ctx.configured:
            continue  # its run-level sync sends the alert's state; no notification of its own
        if channel in ctx.configured:
            plan.intents.append(Intent(alert.id, channel, kind))
            sent.append(channel)
        else:
            reason = f"channel '{channel}' is not configured"
            plan.intents.append(Intent(alert.id, channel, kind, status="skipped", error=reason))
            plan.skipped.append(channel)
    for channel in sent:
        if channel not in alert.notified_channels:
            alert.notified_channels.append(channel)
    return sent


def _describe(plan: Plan, rule: Rule, metrics: dict, value) -> str:
    if rule.builtin or not rule.description:
        return DEFAULT_DESCRIPTION
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
    sent = _intents(plan, ctx, alert, channels, "firing")
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
    sent = _intents(plan, ctx, alert, alert.channels, kind)
    plan.events.append(Event(alert.id, now, "reminded", {"kind": kind, "count": alert.count, "channels": sent}))


def _resolve(plan: Plan, ctx: Context, rule: Rule, alert: Alert, read: dict | None = None) -> None:
    alert.status = "resolved"
    alert.resolved_metrics = dict(read or {})
    alert.resolved_at = ctx.now
    alert.resolved_by = "auto"
    plan.resolved.append(alert.id)
    plan.events.append(Event(alert.id, ctx.now, "resolved", {"by": "auto"}))
    if rule.notify_resolved and alert.notified_channels:
        sent = _intents(plan, ctx, alert, list(alert.notified_channels), "resolved")
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

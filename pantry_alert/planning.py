"""One step planned: the rules evaluated, then the notification policy.

Every face that moves alerts plans through here, so each behaves alike: a
``check`` run (``runner``), a rule unit test (``cases``), a hand resolve
(``actions``) and a replay of the metric history (``backtest``).  Planning is pure: the stored state,
the active silences, ``now`` and the channel facts come in as data; the
store commits the plan that comes out (``Store.apply``).

The channel facts (``model.ChannelFacts``: which channels synchronise, take
digests, are batched) are built by the caller from the channel registry
(``notify.registry.channel_facts()``), so that neither the engine, the
policy nor this module imports a channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from . import policy
from .engine import Context, Plan, evaluate
from .model import Event, Intent
from .record import Record

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .config import Config, Rule
    from .model import Alert, ChannelFacts, RuleState
    from .windows import History


def plan_step(
    config: Config,
    metrics: dict | None,
    *,
    now: int,
    alerts: Mapping[str, Alert],
    rule_states: Mapping[str, RuleState],
    silences: Mapping[str, dict[str, Any]],
    configured: frozenset[str],
    channels: ChannelFacts,
    taken_ids: frozenset[str] = frozenset(),
    source_error: str | None = None,
    transitions: Mapping[str, Sequence[int]] | None = None,
    history: History | None = None,
    heartbeats: Iterable[tuple[Rule, bool, dict]] = (),
) -> Plan:
    """The rules (and the heartbeats' alert rules) evaluated on ``metrics`` against the stored
    state, then the notification policy.

    ``alerts`` maps rule id -> its stored unresolved alert, ``rule_states`` rule id -> its stored
    state, ``silences`` rule id -> its active silence; ``configured`` names the configured
    channels and ``channels`` says what the channels can do; ``taken_ids`` are the stored
    alert ids fired at ``now``; ``transitions`` rule id -> the times its verdict changed lately
    (``policy.lookback_ms``).  ``metrics`` is None when the source failed (``source_error`` says why).
    ``history`` holds the stored samples that the rules' window functions read.
    ``heartbeats`` holds ``(rule, holds, values)`` for each heartbeat (``heartbeats.alert_inputs``)."""
    ctx = Context(
        now=now,
        escalation=config.escalation,
        configured=configured,
        channels=channels,
        alert_after=config.source.alert_after,
        taken_ids=taken_ids,
    )
    plan = evaluate(
        config.rules,
        metrics,
        alerts=dict(alerts),
        rule_states=dict(rule_states),
        ctx=ctx,
        source_error=source_error,
        history=history,
        heartbeats=heartbeats,
    )
    facts = policy.Context.of(
        config,
        now,
        configured,
        channels=channels,
        active=alerts,
        silences=silences,
        rule_states=rule_states,
        transitions=transitions,
    )
    return policy.apply(plan, facts)


def plan_resolve(
    config: Config,
    alert: Alert,
    *,
    by: str,
    note: str | None,
    now: int,
    silences: Mapping[str, dict[str, Any]],
    channels: ChannelFacts,
) -> Plan:
    """A hand resolve of the unresolved ``alert``.  Its resolved notices (when the rule has
    ``notify_resolved``; to the channels that follow acknowledge/resolve in any case) go
    through the same notification policy as a run's: none while a silence covers the rule
    (but for those channels), deferred during quiet hours for a quiet severity."""
    resolved = alert.copy()
    resolved.status, resolved.resolved_at, resolved.resolved_by = "resolved", now, by
    detail = {"by": by}
    if note:
        detail["note"] = note
    rule = config.rule(alert.rule_id)
    plan = Plan(updated_alerts=[resolved])
    everywhere = rule.notify_resolved if rule else True
    told = [c for c in alert.notified_channels if everywhere or c in channels.follows]
    if told:
        plan.intents = [Intent(alert.id, channel, "resolved") for channel in told]
        configured = frozenset(alert.notified_channels)
        plan = policy.apply(plan, _policy_context(config, now, configured, channels, {}, silences))
    # Only the notices follow the policy: the stored alert changes by its resolve alone.
    return Plan(updated_alerts=[resolved], events=[Event(alert.id, now, "resolved", detail)], intents=plan.intents)


def _policy_context(
    config: Config,
    now: int,
    configured: frozenset[str],
    channels: ChannelFacts,
    alerts: Mapping[str, Alert],
    silences: Mapping[str, dict[str, Any]],
) -> policy.Context:
    return policy.Context.of(config, now, configured, channels=channels, active=alerts, silences=silences)


class Verdict(Record):
    """One rule judged on one metrics snapshot, without state (``rules test``)."""

    rule_id: str
    enabled: bool
    outcome: str  # fires | ok | unevaluable
    value: Any
    description: str | None
    error: str | None  # why it is unevaluable, or why its description fell back
    _fields = ("rule_id", "enabled", "outcome", "value", "description", "error")
    _shown = _fields

    def __init__(
        self,
        rule_id: str,
        enabled: bool,
        outcome: str,
        value: Any = None,
        description: str | None = None,
        error: str | None = None,
    ) -> None:
        self.rule_id = rule_id
        self.enabled = enabled
        self.outcome = outcome
        self.value = value
        self.description = description
        self.error = error


def verdicts(config: Config, metrics: dict) -> list[Verdict]:
    """Each rule's condition and description on ``metrics``, as the engine evaluates them."""
    from .errors import ExpressionError, Unevaluable
    from .model import DEFAULT_DESCRIPTION
    from .templates import render_description

    out = []
    for rule in config.rules:
        assert rule.when is not None  # only the built-in source rule has no condition, and it is not listed
        verdict = Verdict(rule.id, rule.enabled, "unevaluable")
        try:
            holds, _read, verdict.value = rule.when.evaluate(metrics)
        except Unevaluable as exc:
            verdict.error = str(exc)
        else:
            verdict.outcome = "fires" if holds else "ok"
            try:
                verdict.description = render_description(rule.description, metrics, rule.to_json(), verdict.value)
            except ExpressionError as exc:
                verdict.description = DEFAULT_DESCRIPTION
                verdict.error = f"description template failed: {exc}"
        out.append(verdict)
    return out

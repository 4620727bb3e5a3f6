"""The notification policy: one pure step between the engine's plan and the store.

The engine decides what happened to each alert and which notifications that
calls for; ``apply(plan, ctx)`` then decides how they go out, in stages (as
Alertmanager's notify pipeline does):

0. **flap** (``policy_time``): a rule whose verdict keeps changing is
   flapping: one notice, then none until it is stable again;
1. **route**: ``routes`` adds channels by the alert's current severity, on
   top of the rule's own channels;
1b. **escalate** (``policy_time``): alerts of rules with an escalation
   policy are paged by time, step by step, instead of by count;
2. **mute**: the alerts held by a silence, an open maintenance window or an
   inhibiting rule's unresolved alert are still recorded (``silenced`` /
   ``inhibited``) but notified on no channel, and a held round does not
   count toward escalation: the alert keeps the severity, round count and
   last notification time it had, so once the hold ends the next run
   notifies it.  A resolved notice passes an inhibition, and a silence or
   window only under ``notify_resolved_when_silenced``;
3. **time-mute**: inside the quiet hours, notifications of the quiet
   severities are recorded ``deferred`` until the window ends, then go out
   as one digest per channel that can show one (the webhook gets them one
   by one).  An alert that escalates out of a quiet severity goes at once,
   and its deferred notifications are released with it;
4. **batch**: more than ``batching.max_per_run`` (for each batched channel: email, Slack)
   notifications in one run go to that channel as one digest.

No I/O and no clock: ``now``, the active silences, the stored alerts, the
rules' stored verdicts and recent verdict changes and the settings come in
the ``Context``.  The plan is changed in place and returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from . import policy_time
from .model import Alert, ChannelFacts, Event, Intent
from .record import Record

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .config import Batching, Config, QuietHours
    from .config.model import EscalationStep, Flapping, Maintenance, Rule
    from .engine import Plan
    from .model import RuleState

SILENCED = "the rule is silenced: not notified"


class Context(Record):
    """The facts the notification policy decides with (time, channels, stored alerts)."""

    now: int
    configured: frozenset[str]
    channels: ChannelFacts  # which channels synchronise, take digests, are batched
    active: Mapping[str, Alert]  # rule id -> stored unresolved alert
    silences: Mapping[str, dict[str, Any]]  # rule id -> its active silence
    quiet_hours: QuietHours | None
    routes: Mapping[str, Sequence[str]]  # severity -> extra channels
    batching: Batching | None
    rules: Mapping[str, Rule]  # rule id -> rule (its time settings)
    policies: Mapping[str, tuple[EscalationStep, ...]]  # escalation policies
    route_policies: Mapping[str, str]  # severity -> escalation policy
    maintenance: Sequence[Maintenance]
    flapping: Flapping | None
    notify_resolved_when_silenced: bool
    rule_states: Mapping[str, RuleState]  # rule id -> stored state (its verdict)
    transitions: Mapping[str, Sequence[int]]  # rule id -> recent verdict changes
    _fields = (
        "now",
        "configured",
        "channels",
        "active",
        "silences",
        "quiet_hours",
        "routes",
        "batching",
        "rules",
        "policies",
        "route_policies",
        "maintenance",
        "flapping",
        "notify_resolved_when_silenced",
        "rule_states",
        "transitions",
    )
    _shown = _fields

    def __init__(
        self,
        now: int,
        configured: frozenset[str],
        channels: ChannelFacts,
        active: Mapping[str, Alert] | None = None,
        silences: Mapping[str, dict[str, Any]] | None = None,
        quiet_hours: QuietHours | None = None,
        routes: Mapping[str, Sequence[str]] | None = None,
        batching: Batching | None = None,
        rules: Mapping[str, Rule] | None = None,
        policies: Mapping[str, tuple[EscalationStep, ...]] | None = None,
        route_policies: Mapping[str, str] | None = None,
        maintenance: Sequence[Maintenance] = (),
        flapping: Flapping | None = None,
        notify_resolved_when_silenced: bool = False,
        rule_states: Mapping[str, RuleState] | None = None,
        transitions: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        self.now = now
        self.configured = configured
        self.channels = channels
        self.active = {} if active is None else active
        self.silences = {} if silences is None else silences
        self.quiet_hours = quiet_hours
        self.routes = {} if routes is None else routes
        self.batching = batching
        self.rules = {} if rules is None else rules
        self.policies = {} if policies is None else policies
        self.route_policies = {} if route_policies is None else route_policies
        self.maintenance = maintenance
        self.flapping = flapping
        self.notify_resolved_when_silenced = notify_resolved_when_silenced
        self.rule_states = {} if rule_states is None else rule_states
        self.transitions = {} if transitions is None else transitions

    @classmethod
    def of(
        cls,
        config: Config,
        now: int,
        configured: frozenset[str],
        *,
        channels: ChannelFacts,
        active: Mapping[str, Alert],
        silences: Mapping[str, dict[str, Any]],
        rule_states: Mapping[str, RuleState] | None = None,
        transitions: Mapping[str, Sequence[int]] | None = None,
    ) -> Context:
        return cls(
            now=now,
            configured=configured,
            channels=channels,
            active=active,
            silences=silences,
            quiet_hours=config.quiet_hours,
            routes=config.routes,
            batching=config.batching,
            rules={rule.id: rule for rule in config.rules},
            policies=config.escalation_policies,
            route_policies=config.route_policies,
            maintenance=config.maintenance,
            flapping=config.flapping,
            notify_resolved_when_silenced=config.notify_resolved_when_silenced,
            rule_states=rule_states or {},
            transitions=transitions or {},
        )


def apply(plan: Plan, ctx: Context) -> Plan:
    """Flap, route, escalate, mute, time-mute and batch the plan's notifications (see the module docstring)."""
    policy_time.flap(plan, ctx)
    held = policy_time.holds(plan, ctx)
    _route(plan, ctx)
    policy_time.escalate(plan, ctx, held)
    _mute(plan, ctx, held)
    _time_mute(plan, ctx)
    _batch(plan, ctx)
    plan.skipped = [intent.channel for intent in plan.intents if intent.status == "skipped"]
    return plan


def lookback_ms(config: Config) -> int:
    """How far back the policy needs each rule's verdict changes: the longest flapping window."""
    windows = [config.flapping.window_ms] if config.flapping else []
    windows += [policy_time.flap_settings_window(rule) for rule in config.rules]
    return max(windows, default=0)


# ----------------------------------------------------------------- quiet hours


def quiet_until(quiet: QuietHours, now: int) -> int | None:
    """The end of the quiet window ``now`` falls in (epoch ms), or None outside it.

    The window is a daily span of wall-clock time in ``quiet.timezone``; it may
    cross midnight.  Wall-clock times are turned into instants through the
    zone's rules, so a window keeps its local start and end across DST
    changes (a night that loses an hour has a shorter window).  A local time
    inside a spring-forward gap is read with the offset before the change
    (02:30 on that night is 03:30 summer time).
    """
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(quiet.timezone)
    local = datetime.fromtimestamp(now / 1000, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)

    def instant(day_offset: int, minutes: int) -> int:
        wall = midnight + timedelta(days=day_offset, minutes=minutes)
        return int(wall.replace(tzinfo=zone).timestamp() * 1000)

    # The windows that can contain now: the one starting yesterday and the one starting today.
    span = (quiet.end - quiet.start) % 1440
    for day in (-1, 0):
        start = instant(day, quiet.start)
        end = instant(day, quiet.start + span)
        if start <= now < end:
            return end
    return None


# ----------------------------------------------------------------- stages


def _alerts(plan: Plan) -> dict[str, Alert]:
    return {alert.id: alert for alert in plan.new_alerts + plan.updated_alerts}


def _route(plan: Plan, ctx: Context) -> None:
    """Add the routed channels of each alert's current severity to each of its notification rounds."""
    if not ctx.routes:
        return
    alerts = _alerts(plan)
    rounds: dict[tuple[str, str], list[str]] = {}
    for intent in plan.intents:
        rounds.setdefault((intent.alert_id, intent.kind), []).append(intent.channel)
    for (alert_id, kind), channels in rounds.items():
        alert = alerts.get(alert_id)
        if alert is None or kind == "resolved":  # resolved notices go where the alert was notified, routes included
            continue
        if policy_time.policy_of(ctx, alert) is not None:  # paged by its policy's steps, each to its own channels
            continue
        added = []
        for channel in ctx.routes.get(alert.severity, ()):
            if channel in channels:
                continue
            if channel in ctx.channels.sync and channel in ctx.configured:
                continue  # it synchronises state once per run (routes are read there), no notice of its own
            channels.append(channel)
            if channel in ctx.configured:
                plan.intents.append(Intent(alert_id, channel, kind))
                added.append(channel)
                if channel not in alert.notified_channels:
                    alert.notified_channels.append(channel)
            else:
                reason = f"channel '{channel}' is not configured"
                plan.intents.append(Intent(alert_id, channel, kind, status="skipped", error=reason))
        if added:
            for event in plan.events:
                if event.alert_id == alert_id and event.kind in ("notified", "reminded") and event.at == ctx.now:
                    if event.detail.get("kind") == kind:
                        event.detail["channels"] = list(event.detail.get("channels", [])) + added


def _mute(plan: Plan, ctx: Context, held: Mapping[str, list[policy_time.Hold]]) -> None:
    """Held alerts: keep the alerts, drop their notifications (a resolved one passes, or is recorded
    ``skipped``), and undo the round's bookkeeping so that the round does not count."""
    in_plan = _alerts(plan)
    muted: dict[str, Alert] = {}
    for alert in in_plan.values():
        found = held.get(alert.id, [])
        _flag(plan, ctx, alert, found)
        if found:
            muted[alert.id] = alert
        else:
            alert.held_by = None
    for intent in plan.intents:
        # a channel that follows acknowledge/resolve still hears the end: its incident must not stay open
        if intent.kind == "resolved" and intent.alert_id in muted and intent.channel not in ctx.channels.follows:
            alert = muted[intent.alert_id]
            if not policy_time.resolved_passes(ctx, alert, held[alert.id]):
                intent.status, intent.error = "skipped", _held_reason(held[alert.id][0])
    had_notices = policy_time.drop_rounds(plan, set(muted), ctx.now)
    for alert_id, alert in muted.items():
        if alert_id in had_notices:
            policy_time.held_event(plan, alert, held[alert_id][0], ctx.now)
        policy_time.restore_round(alert, policy_time.stored_of(ctx, alert))
    _mark_untouched(plan, ctx, in_plan, held)


def _held_reason(hold: policy_time.Hold) -> str:
    if hold.kind == "silence":
        return SILENCED
    return f"held by the maintenance window '{hold.detail['window']}': not notified"


def _flag(plan: Plan, ctx: Context, alert: Alert, found: list[policy_time.Hold]) -> None:
    """Keep ``silenced`` (a silence or an open window) and ``inhibited`` right, with their events."""
    silence = next((hold for hold in found if hold.silences), None)
    if silence is not None and not alert.silenced:
        detail = {key: value for key, value in silence.detail.items() if key != "reason"}
        plan.events.append(Event(alert.id, ctx.now, "silenced", detail))
    elif silence is None and alert.silenced:
        reason = "the maintenance window closed" if (alert.held_by or "").startswith("window:") else "the silence ended"
        plan.events.append(Event(alert.id, ctx.now, "unsilenced", {"reason": reason}))
    alert.silenced = silence is not None
    inhibition = next((hold for hold in found if not hold.silences), None)
    if inhibition is not None and not alert.inhibited:
        plan.events.append(Event(alert.id, ctx.now, "inhibited", dict(inhibition.detail)))
    elif inhibition is None and alert.inhibited:
        plan.events.append(Event(alert.id, ctx.now, "uninhibited", {"reason": "no inhibiting alert is unresolved"}))
    alert.inhibited = inhibition is not None


def _mark_untouched(
    plan: Plan, ctx: Context, in_plan: Mapping[str, Alert], held: Mapping[str, list[policy_time.Hold]]
) -> None:
    """Alerts this run did not touch (a rule that did not breach, an unevaluable one) still show
    whether something holds them now."""
    for stored in ctx.active.values():
        if stored.id in in_plan:
            continue
        found = held.get(stored.id, [])
        silenced = any(hold.silences for hold in found)
        inhibited = any(not hold.silences for hold in found)
        if (stored.silenced, stored.inhibited) == (silenced, inhibited):
            continue
        alert = stored.copy()
        _flag(plan, ctx, alert, found)
        if not found:
            alert.held_by = None
        plan.updated_alerts.append(alert)


def _time_mute(plan: Plan, ctx: Context) -> None:
    """Inside quiet hours, defer the notifications of alerts whose current severity is quiet."""
    quiet = ctx.quiet_hours
    if quiet is None:
        return
    alerts = _alerts(plan)
    until = quiet_until(quiet, ctx.now)
    if until is not None:
        for intent in plan.intents:
            alert = alerts.get(intent.alert_id)
            if intent.status != "pending" or alert is None or alert.severity not in quiet.severities:
                continue
            intent.status = "deferred"
            intent.not_before = until
            intent.batch = f"quiet:{until}" if intent.channel in ctx.channels.digest else None
    # An alert that escalated out of a quiet severity goes at once, and what it had deferred goes with it.
    for event in plan.events:
        if (
            event.kind == "escalated"
            and event.detail.get("from") in quiet.severities
            and event.detail.get("to") not in quiet.severities
        ):
            plan.released.append(event.alert_id)


def _batch(plan: Plan, ctx: Context) -> None:
    """More than ``max_per_run`` pending notifications for a batched channel: one digest."""
    if ctx.batching is None:
        return
    for channel in sorted(ctx.channels.batched):
        pending = [i for i in plan.intents if i.channel == channel and i.status == "pending" and i.batch is None]
        if len(pending) > ctx.batching.max_per_run:
            for intent in pending:
                intent.batch = f"run:{ctx.now}"

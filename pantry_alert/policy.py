"""The notification policy: one pure step between the engine's plan and the store.

The engine decides what happened to each alert and which notifications that
calls for; ``apply(plan, ctx)`` then decides how they go out, in four stages
(as Alertmanager's notify pipeline does):

1. **route**: ``routes`` adds channels by the alert's current severity, on
   top of the rule's own channels;
2. **mute**: a silenced rule's alerts are still recorded (``silenced``) but
   notified on no channel, and a muted round does not count toward
   escalation: the alert keeps the severity, round count and last
   notification time it had, so once the silence ends the next run
   notifies it;
3. **time-mute**: inside the quiet hours, notifications of the quiet
   severities are recorded ``deferred`` until the window ends, then go out
   as one digest per channel that can show one (the webhook gets them one
   by one).  An alert that escalates out of a quiet severity goes at once,
   and its deferred notifications are released with it;
4. **batch**: more than ``batching.max_per_run`` (for each batched channel: email, Slack)
   notifications in one run go to that channel as one digest.

No I/O and no clock: ``now``, the active silences, the stored alerts and the
settings come in the ``Context``.  The plan is changed in place and returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .model import Alert, ChannelFacts, Event, Intent

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .config import Batching, Config, QuietHours
    from .engine import Plan

# The events that stand for "this round notified the alert" (removed when the round is muted).
_ROUND_EVENTS = ("notified", "reminded", "escalated")


@dataclass
class Context:
    now: int
    configured: frozenset[str]
    channels: ChannelFacts  # which channels synchronise, take digests, are batched
    active: Mapping[str, Alert] = field(default_factory=dict)  # rule id -> stored unresolved alert
    silences: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # rule id -> its active silence
    quiet_hours: QuietHours | None = None
    routes: Mapping[str, Sequence[str]] = field(default_factory=dict)  # severity -> extra channels
    batching: Batching | None = None

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
        )


def apply(plan: Plan, ctx: Context) -> Plan:
    """Route, mute, time-mute and batch the plan's notifications (see the module docstring)."""
    _route(plan, ctx)
    _mute(plan, ctx)
    _time_mute(plan, ctx)
    _batch(plan, ctx)
    plan.skipped = [intent.channel for intent in plan.intents if intent.status == "skipped"]
    return plan


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


def _mute(plan: Plan, ctx: Context) -> None:
    """Silenced rules: keep the alerts, drop their notifications, undo the round's bookkeeping."""
    in_plan = _alerts(plan)
    muted: set[str] = set()
    for alert in list(in_plan.values()):
        silence = ctx.silences.get(alert.rule_id)
        if silence is None:
            if alert.silenced:
                alert.silenced = False
                plan.events.append(Event(alert.id, ctx.now, "unsilenced", {"reason": "the silence ended"}))
            continue
        muted.add(alert.id)
        _mute_round(plan, ctx, alert, silence)
    if muted:
        plan.intents = [i for i in plan.intents if i.alert_id not in muted]
        plan.events = [e for e in plan.events if not (e.alert_id in muted and e.kind in _ROUND_EVENTS)]
        plan.reminded = [a for a in plan.reminded if a not in muted]
        plan.escalated = [a for a in plan.escalated if a not in muted]
    _mark_untouched(plan, ctx, in_plan)


def _mute_round(plan: Plan, ctx: Context, alert: Alert, silence: Mapping[str, Any]) -> None:
    """A silenced alert of this plan: marked silenced, and its round does not count."""
    before = ctx.active.get(alert.rule_id)
    before = before if before is not None and before.id == alert.id else None
    if not alert.silenced:
        plan.events.append(Event(alert.id, ctx.now, "silenced", {"silence": silence["id"], "until": silence["endsAt"]}))
    alert.silenced = True
    if before is None:  # fired in this run: never notified
        alert.rounds_at_severity = 0
        alert.last_notified_at = None
        alert.notified_channels = []
    else:  # the round does not count: back to where it was
        alert.severity = before.severity
        alert.escalated = before.escalated
        alert.channels = list(before.channels)
        alert.rounds_at_severity = before.rounds_at_severity
        alert.last_notified_at = before.last_notified_at
        alert.notified_channels = list(before.notified_channels)


def _mark_untouched(plan: Plan, ctx: Context, in_plan: Mapping[str, Alert]) -> None:
    """Alerts this run did not touch (a rule that did not breach, an unevaluable one) still show
    whether a silence covers them now."""
    for rule_id, stored in ctx.active.items():
        if stored.id in in_plan or stored.silenced == (rule_id in ctx.silences):
            continue
        alert = stored.copy()
        alert.silenced = rule_id in ctx.silences
        if alert.silenced:
            silence = ctx.silences[rule_id]
            plan.events.append(
                Event(alert.id, ctx.now, "silenced", {"silence": silence["id"], "until": silence["endsAt"]})
            )
        else:
            plan.events.append(Event(alert.id, ctx.now, "unsilenced", {"reason": "the silence ended"}))
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

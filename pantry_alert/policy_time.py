"""The time-aware stages of the notification policy: flapping, holds and escalation policies.

Pure functions of the plan and the policy ``Context`` (``policy.Context``):
the stored alerts, the rules' stored verdicts and recent verdict changes, the
active silences and ``now`` come in as data; nothing here reads a clock or a
database.

- **flap**: a rule whose verdict changed ``transitions`` times within
  ``window`` is flapping: its alert stays open with status ``flapping`` and
  one ``flapping`` notice goes out; no fire or resolve notice follows until
  the verdict has not changed for ``window``, then one notice says how it
  settled (``firing`` or ``resolved``).
- **holds**: what holds an alert's notices back now: a silence of its rule,
  an open maintenance window that matches it, or an unresolved alert of a
  rule it is ``inhibited_by`` (the built-in source alert inhibits every rule).
- **escalate**: an alert whose rule has an escalation policy is paged by
  time, not by count: step ``i`` runs once the alert has fired, unresolved
  and unacknowledged, for its ``after`` (time acknowledged does not count);
  the last step may repeat; reminders (the rule's cooldown) go to the
  channels reached so far.  A held alert's steps wait, and all that fell due
  run in order at the first run after the hold.
"""

from __future__ import annotations

from .engine import record_intents
from .model import Alert, Event
from .record import FrozenRecord

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping

    from .config.model import EscalationStep, Flapping, Rule
    from .engine import Plan
    from .policy import Context

SOURCE_RULE = "metrics_source_unavailable"  # the built-in alert: it inhibits every rule
_ROUND_EVENTS = ("notified", "reminded", "escalated")


def plan_alerts(plan: Plan) -> dict[str, Alert]:
    return {alert.id: alert for alert in plan.new_alerts + plan.updated_alerts}


def stored_of(ctx: Context, alert: Alert) -> Alert | None:
    """The stored version of ``alert`` (None when it fired in this run)."""
    stored = ctx.active.get(alert.rule_id)
    return stored if stored is not None and stored.id == alert.id else None


def drop_rounds(plan: Plan, alert_ids: str | set[str], now: int, *, resolved_too: bool = False) -> set[str]:
    """Remove this run's notification round of the given alerts (their notices, round events and
    listing), in one pass; return the ids of those that had notices."""
    ids = {alert_ids} if isinstance(alert_ids, str) else alert_ids
    if not ids:
        return set()

    def in_round(alert_id: str, kind: str | None) -> bool:
        return alert_id in ids and (resolved_too or kind != "resolved")

    had = {i.alert_id for i in plan.intents if in_round(i.alert_id, i.kind)}
    plan.intents = [i for i in plan.intents if not in_round(i.alert_id, i.kind)]
    plan.events = [
        e
        for e in plan.events
        if not (e.at == now and e.kind in _ROUND_EVENTS and in_round(e.alert_id, e.detail.get("kind")))
    ]
    plan.reminded = [a for a in plan.reminded if a not in ids]
    plan.escalated = [a for a in plan.escalated if a not in ids]
    return had


def restore_round(alert: Alert, before: Alert | None) -> None:
    """Undo a round's bookkeeping: the alert as it was stored (or never notified, when new)."""
    if before is None:
        alert.rounds_at_severity = 0
        alert.last_notified_at = None
        alert.notified_channels = []
        return
    alert.severity = before.severity
    alert.escalated = before.escalated
    alert.channels = list(before.channels)
    alert.rounds_at_severity = before.rounds_at_severity
    alert.last_notified_at = before.last_notified_at
    alert.notified_channels = list(before.notified_channels)


# ----------------------------------------------------------------- flapping


def flap_settings(ctx: Context, rule: Rule) -> Flapping | None:
    if rule.flapping is False:
        return None
    if rule.flapping is None or rule.flapping is True:
        return ctx.flapping
    return rule.flapping


def flap_settings_window(rule: Rule) -> int:
    """The rule's own flapping window (0 when it has none of its own)."""
    return rule.flapping.window_ms if rule.flapping not in (None, False, True) else 0  # type: ignore[union-attr]


def flap(plan: Plan, ctx: Context) -> None:
    """Record each rule's verdict changes, and hold back the notices of flapping alerts."""
    now = ctx.now
    new_states = {state.rule_id: state for state in plan.rule_states}
    in_plan = {alert.rule_id: alert for alert in plan_alerts(plan).values()}
    for rule_id, rule in ctx.rules.items():
        stored_state = ctx.rule_states.get(rule_id)
        was_breach = bool(stored_state and stored_state.consecutive_breaches > 0)
        state = new_states.get(rule_id)
        breach = state.consecutive_breaches > 0 if state is not None else was_breach
        changed = breach != was_breach
        if changed:
            plan.transitions.append((rule_id, now))
        settings = flap_settings(ctx, rule)
        if settings is None:
            continue
        recent = [t for t in ctx.transitions.get(rule_id, ()) if t > now - settings.window_ms]
        recent += [now] if changed else []
        alert = in_plan.get(rule_id)
        if alert is None:
            stored = ctx.active.get(rule_id)
            if stored is None or stored.status != "flapping":
                continue
            alert = stored.copy()  # a flapping alert this run did not touch (e.g. its rule was unevaluable)
            plan.updated_alerts.append(alert)
        before = stored_of(ctx, alert)
        if before is not None and before.status == "flapping":
            if recent:
                _keep_flapping(plan, alert, before, now)
            else:
                _settle(plan, ctx, alert, breach)
        elif len(recent) >= settings.transitions:
            _start_flapping(plan, ctx, alert, before, len(recent), settings)


def _unresolve(plan: Plan, alert: Alert, now: int) -> None:
    if alert.status != "resolved":
        return
    alert.resolved_at = alert.resolved_by = None
    alert.resolved_metrics = {}
    plan.resolved = [a for a in plan.resolved if a != alert.id]
    plan.events = [e for e in plan.events if not (e.alert_id == alert.id and e.at == now and e.kind == "resolved")]


def _keep_flapping(plan: Plan, alert: Alert, before: Alert, now: int) -> None:
    _unresolve(plan, alert, now)
    drop_rounds(plan, alert.id, now, resolved_too=True)
    restore_round(alert, before)
    alert.status = "flapping"


def _start_flapping(
    plan: Plan, ctx: Context, alert: Alert, before: Alert | None, transitions: int, settings: Flapping
) -> None:
    now = ctx.now
    _unresolve(plan, alert, now)
    drop_rounds(plan, alert.id, now, resolved_too=True)
    restore_round(alert, before)
    alert.status = "flapping"
    alert.acknowledged_at = alert.acknowledged_by = alert.ack_expires_at = None
    plan.events.append(Event(alert.id, now, "flapping", {"transitions": transitions, "window": settings.window_ms}))
    sent = record_intents(plan, ctx, alert, list(alert.channels) + list(alert.notified_channels), "flapping")
    alert.last_notified_at = now
    plan.events.append(Event(alert.id, now, "notified", {"kind": "flapping", "channels": sent}))


def _settle(plan: Plan, ctx: Context, alert: Alert, breach: bool) -> None:
    """A flapping alert whose verdict has not changed for the window: one notice of its state."""
    now = ctx.now
    if alert.status == "resolved":  # cleared: the engine's resolution and its notice stand
        plan.events.append(Event(alert.id, now, "stable", {"state": "resolved"}))
        return
    alert.status = "firing"
    plan.events.append(Event(alert.id, now, "stable", {"state": "firing"}))
    if not breach:
        return  # cleared, but the rule does not resolve by itself: open again, nothing to say
    drop_rounds(plan, alert.id, now)
    sent = record_intents(plan, ctx, alert, alert.channels, "firing")
    alert.last_notified_at = now
    alert.rounds_at_severity = 1
    plan.events.append(Event(alert.id, now, "notified", {"kind": "firing", "channels": sent}))


# ----------------------------------------------------------------- holds


class Hold(FrozenRecord):
    """What holds an alert's notices back: ``kind`` silence, maintenance or inhibition."""

    kind: str
    key: str  # "silence:<id>", "window:<name>", "inhibitor:<rule id>"
    detail: dict
    __slots__ = ("kind", "key", "detail")
    _fields = __slots__
    _shown = _fields

    def __init__(self, kind: str, key: str, detail: dict) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "detail", detail)

    @property
    def silences(self) -> bool:
        """A silence or a maintenance window (the alert shows ``silenced``), not an inhibition."""
        return self.kind != "inhibition"


def unresolved_rules(plan: Plan, ctx: Context) -> set[str]:
    """The rules with an unresolved alert once this plan is applied."""
    rules = {alert.rule_id for alert in ctx.active.values()}
    for alert in plan_alerts(plan).values():
        if alert.resolved:
            rules.discard(alert.rule_id)
        else:
            rules.add(alert.rule_id)
    return rules


def holds(plan: Plan, ctx: Context) -> dict[str, list[Hold]]:
    """alert id -> what holds it now, silences and windows first, for every alert of the plan
    and every stored unresolved alert."""
    from .maintenance_windows import matches, open_span

    open_windows = [(w, span) for w in ctx.maintenance if (span := open_span(w, ctx.now)) is not None]
    unresolved = unresolved_rules(plan, ctx)
    alerts = {alert.id: alert for alert in ctx.active.values()}
    alerts.update(plan_alerts(plan))
    out: dict[str, list[Hold]] = {}
    for alert in alerts.values():
        found: list[Hold] = []
        silence = ctx.silences.get(alert.rule_id)
        if silence is not None:
            detail = {"silence": silence["id"], "until": silence["endsAt"]}
            if silence.get("reason"):
                detail["reason"] = silence["reason"]
            found.append(Hold("silence", f"silence:{silence['id']}", detail))
        covering = [(span[1], w.name) for w, span in open_windows if matches(w, alert)]
        if covering:
            until, name = max(covering)
            found.append(Hold("maintenance", f"window:{name}", {"window": name, "until": until}))
        rule = ctx.rules.get(alert.rule_id)
        if rule is not None:  # a rule of rules.yaml (a heartbeat's alert does not read the metrics)
            inhibitors = [SOURCE_RULE] + list(rule.inhibited_by)
            inhibitor = next((r for r in inhibitors if r in unresolved and r != alert.rule_id), None)
            if inhibitor is not None:
                found.append(Hold("inhibition", f"inhibitor:{inhibitor}", {"inhibitor": inhibitor}))
        if found:
            out[alert.id] = found
    return out


def resolved_passes(ctx: Context, alert: Alert, found: list[Hold]) -> bool:
    """Whether the resolved notice of a held alert still goes: always past an inhibition;
    past a silence or window only with ``notify_resolved_when_silenced`` (the rule's own
    setting wins over the global one)."""
    if not any(hold.silences for hold in found):
        return True
    rule = ctx.rules.get(alert.rule_id)
    own = rule.notify_resolved_when_silenced if rule is not None else None
    return ctx.notify_resolved_when_silenced if own is None else own


def held_event(plan: Plan, alert: Alert, hold: Hold, now: int) -> None:
    """A ``held`` event the first time ``hold`` holds a notice of ``alert`` back."""
    if alert.held_by != hold.key:
        alert.held_by = hold.key
        plan.events.append(Event(alert.id, now, "held", dict(hold.detail)))


# ----------------------------------------------------------------- escalation policies


def policy_of(ctx: Context, alert: Alert) -> tuple[EscalationStep, ...] | None:
    """The steps paging ``alert``: its rule's own policy, else the one its severity routes to."""
    rule = ctx.rules.get(alert.rule_id)
    name = (rule.escalation_policy if rule is not None else None) or ctx.route_policies.get(alert.severity)
    return ctx.policies.get(name) if name else None


def escalate(plan: Plan, ctx: Context, held: Mapping[str, list[Hold]]) -> None:
    """Page the alerts of rules with an escalation policy by time (see the module docstring)."""
    now = ctx.now
    paged = _paged(plan, ctx)
    engine_rounds = drop_rounds(plan, {alert.id for alert, _ in paged}, now)  # the engine's count-based rounds
    for alert, steps in paged:
        before = stored_of(ctx, alert)
        _count_acknowledged(alert, before, now)
        engine_round = alert.id in engine_rounds
        _restore(ctx, alert, before)
        if alert.status != "firing":
            continue
        due = _due(alert, steps, now)
        if alert.id in held:
            if due or engine_round:
                held_event(plan, alert, held[alert.id][0], now)
        elif due:
            _run_steps(plan, ctx, alert, steps, due)
        elif engine_round and _reminder_due(ctx, alert, before):
            _remind(plan, ctx, alert)


def _paged(plan: Plan, ctx: Context) -> list[tuple[Alert, tuple[EscalationStep, ...]]]:
    """The open alerts an escalation policy pages, with its steps.  A flapping alert's notices
    are the flap stage's."""
    flap_notices = {e.alert_id for e in plan.events if e.at == ctx.now and e.kind in ("flapping", "stable")}
    paged = []
    for alert in plan_alerts(plan).values():
        steps = policy_of(ctx, alert)
        if steps is None or alert.resolved or alert.status == "flapping" or alert.id in flap_notices:
            continue
        paged.append((alert, steps))
    return paged


def _restore(ctx: Context, alert: Alert, before: Alert | None) -> None:
    """Undo the engine's count-based round on ``alert``; but an alert that has just escalated by
    count into a severity routed to a policy keeps that severity."""
    entering = before is not None and policy_of(ctx, before) is None
    severity, escalated, channels = alert.severity, alert.escalated, list(alert.channels)
    restore_round(alert, before)
    if entering:
        alert.severity, alert.escalated, alert.channels = severity, escalated, channels


def _reminder_due(ctx: Context, alert: Alert, before: Alert | None) -> bool:
    """A policy that has paged someone reminds them once the rule's cooldown has passed."""
    if before is None or before.last_notified_at is None or not alert.notified_channels:
        return False
    rule = ctx.rules.get(alert.rule_id)
    return rule is None or ctx.now - before.last_notified_at >= rule.cooldown_ms


def _count_acknowledged(alert: Alert, before: Alert | None, now: int) -> None:
    """An acknowledgement that expired in this run: its time does not count toward ``after``."""
    if before is None or before.status != "acknowledged" or alert.status != "firing":
        return
    if before.acknowledged_at is None:
        return
    end = min(before.ack_expires_at or now, now)
    alert.acked_ms += max(0, end - before.acknowledged_at)


def elapsed(alert: Alert, now: int) -> int:
    """How long the alert has fired unacknowledged (its steps' clock)."""
    return now - alert.timestamp - alert.acked_ms


def _due(alert: Alert, steps: tuple[EscalationStep, ...], now: int) -> list[int]:
    """The step indexes to run now: those not yet run whose ``after`` has passed, or the last
    step again when its ``repeat`` has passed since it was last sent."""
    spent = elapsed(alert, now)
    due = [i for i in range(alert.policy_step, len(steps)) if steps[i].after_ms <= spent]
    if not due and alert.policy_step == len(steps):
        last = steps[-1]
        if last.repeat_ms and alert.step_at is not None and now - alert.step_at >= last.repeat_ms:
            return [len(steps) - 1]
    return due


def _run_steps(plan: Plan, ctx: Context, alert: Alert, steps: tuple[EscalationStep, ...], due: list[int]) -> None:
    now = ctx.now
    for index in due:
        number = index + 1
        kind = "firing" if index == 0 else "escalated"
        sent = record_intents(plan, ctx, alert, steps[index].channels, kind, step=number)
        if index == 0:
            plan.events.append(Event(alert.id, now, "notified", {"kind": "firing", "step": 1, "channels": sent}))
        else:
            plan.events.append(Event(alert.id, now, "escalated", {"step": number, "channels": sent}))
        alert.policy_step = max(alert.policy_step, number)
    alert.step_at = now
    alert.last_notified_at = now
    alert.rounds_at_severity += 1
    if any(index > 0 for index in due) or alert.id not in plan.fired:
        plan.reminded.append(alert.id)
        if any(index > 0 for index in due):
            alert.escalated = True
            plan.escalated.append(alert.id)


def _remind(plan: Plan, ctx: Context, alert: Alert) -> None:
    """A reminder (the rule's cooldown) to every channel the policy has reached so far."""
    sent = record_intents(plan, ctx, alert, list(alert.notified_channels), "reminder")
    alert.last_notified_at = ctx.now
    alert.rounds_at_severity += 1
    plan.reminded.append(alert.id)
    plan.events.append(
        Event(alert.id, ctx.now, "reminded", {"kind": "reminder", "count": alert.count, "channels": sent})
    )

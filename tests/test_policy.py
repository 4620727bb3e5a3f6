"""The policy step as a pure function: an engine plan and a context in, the decided plan out."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import MINUTE, T0

from pantry_alert import policy
from pantry_alert.config import Batching, Escalation, QuietHours, Rule
from pantry_alert.engine import Context as EngineContext
from pantry_alert.engine import evaluate
from pantry_alert.expressions import compile_condition
from pantry_alert.notify.registry import channel_facts

ALL = frozenset({"email", "slack", "webhook", "console"})
SILENCE = {"id": "s1", "endsAt": T0 + 60 * MINUTE}


def rule(rule_id="cpu_high", severity="high", channels=("email", "webhook")) -> Rule:
    return Rule(
        id=rule_id,
        name=rule_id,
        type="performance",
        severity=severity,
        when=compile_condition("cpu > 90"),
        cooldown_ms=10 * MINUTE,
        channels=list(channels),
    )


def run(rules, metrics, now, stored=None, **policy_kw):
    """One engine evaluation and the policy step on it; returns (plan, alerts by rule)."""
    stored = stored or {}
    ctx = EngineContext(
        now=now,
        escalation=Escalation(thresholds={"low": 1, "medium": 1, "high": 2}),
        configured=ALL,
        channels=channel_facts(),
    )
    plan = evaluate(rules, metrics, alerts=stored, rule_states={}, ctx=ctx)
    plan = policy.apply(
        plan, policy.Context(now=now, configured=ALL, channels=channel_facts(), active=stored, **policy_kw)
    )
    alerts = {a.rule_id: a for a in plan.new_alerts + plan.updated_alerts}
    return plan, alerts


def intents(plan):
    return [(i.alert_id.rsplit("_", 1)[0], i.channel, i.kind, i.status, i.batch) for i in plan.intents]


def test_no_policy_leaves_the_plan_as_the_engine_made_it():
    plan, _ = run([rule()], {"cpu": 95}, T0)
    assert intents(plan) == [
        ("cpu_high", "email", "firing", "pending", None),
        ("cpu_high", "webhook", "firing", "pending", None),
    ]
    assert plan.released == [] and plan.skipped == []


def test_mute_keeps_the_alert_and_drops_its_notifications():
    plan, alerts = run([rule()], {"cpu": 95}, T0, silences={"cpu_high": SILENCE})
    alert = alerts["cpu_high"]
    assert plan.fired == [alert.id] and plan.intents == []
    assert (alert.silenced, alert.rounds_at_severity, alert.last_notified_at, alert.notified_channels) == (
        True,
        0,
        None,
        [],
    )
    assert [(e.kind, e.detail) for e in plan.events] == [
        ("fired", plan.events[0].detail),
        ("silenced", {"silence": "s1", "until": T0 + 60 * MINUTE}),
        ("held", {"silence": "s1", "until": T0 + 60 * MINUTE}),
    ]


def test_a_muted_round_does_not_count_toward_escalation():
    _, first = run([rule()], {"cpu": 95}, T0)
    stored = {"cpu_high": first["cpu_high"]}
    stored["cpu_high"].rounds_at_severity = 2  # the next round would escalate
    plan, alerts = run([rule()], {"cpu": 95}, T0 + 10 * MINUTE, stored=stored, silences={"cpu_high": SILENCE})
    alert = alerts["cpu_high"]
    assert (alert.severity, alert.escalated, alert.rounds_at_severity, alert.last_notified_at) == ("high", False, 2, T0)
    assert alert.count == 2  # the breach itself is still counted
    assert plan.intents == [] and plan.reminded == [] and plan.escalated == []
    assert [e.kind for e in plan.events] == ["silenced", "held"]
    # the silence over: the same round escalates
    plan, alerts = run([rule()], {"cpu": 95}, T0 + 10 * MINUTE, stored=stored)
    assert plan.escalated == [alerts["cpu_high"].id] and alerts["cpu_high"].severity == "critical"


def test_the_silenced_flag_follows_the_silence_for_alerts_the_run_did_not_touch():
    _, first = run([rule()], {"cpu": 95}, T0)
    stored = {"cpu_high": first["cpu_high"]}
    # the rule is unevaluable in this run (no cpu metric), so the engine leaves the alert alone
    plan, alerts = run([rule()], {}, T0 + MINUTE, stored=stored, silences={"cpu_high": SILENCE})
    assert alerts["cpu_high"].silenced is True and [e.kind for e in plan.events] == ["silenced"]
    assert stored["cpu_high"].silenced is False  # the input is not changed
    stored["cpu_high"].silenced = True
    plan, alerts = run([rule()], {}, T0 + 2 * MINUTE, stored=stored)
    assert alerts["cpu_high"].silenced is False and [e.kind for e in plan.events] == ["unsilenced"]


def test_routes_add_channels_of_the_current_severity_once():
    routes = {"high": ["slack", "email"], "critical": ["webhook"]}
    plan, alerts = run([rule()], {"cpu": 95}, T0, routes=routes)
    assert [(i[1], i[3]) for i in intents(plan)] == [("email", "pending"), ("webhook", "pending"), ("slack", "pending")]
    assert alerts["cpu_high"].notified_channels == ["email", "webhook", "slack"]
    assert plan.events[1].detail == {"kind": "firing", "channels": ["email", "webhook", "slack"]}


def test_a_route_to_an_unconfigured_channel_is_skipped():
    rules = [rule(channels=("console",))]
    stored = {}
    ctx = EngineContext(now=T0, escalation=Escalation(), configured=frozenset({"console"}), channels=channel_facts())
    plan = evaluate(rules, {"cpu": 95}, alerts=stored, rule_states={}, ctx=ctx)
    plan = policy.apply(
        plan,
        policy.Context(now=T0, configured=frozenset({"console"}), channels=channel_facts(), routes={"high": ["email"]}),
    )
    assert intents(plan)[1] == ("cpu_high", "email", "firing", "skipped", None)
    assert plan.skipped == ["email"]


QUIET = QuietHours(start=22 * 60, end=7 * 60, timezone="UTC", severities=("low", "medium"))
NIGHT = 1764198000000  # 2025-11-26T23:00:00Z
MORNING = 1764226800000  # 2025-11-27T07:00:00Z


def test_time_mute_defers_the_quiet_severities_only():
    rules = [rule("disk", "low", ("email", "webhook")), rule("cpu", "high", ("email",))]
    plan, _ = run(rules, {"cpu": 95}, NIGHT, quiet_hours=QUIET)
    assert intents(plan) == [
        ("disk", "email", "firing", "deferred", f"quiet:{MORNING}"),
        ("disk", "webhook", "firing", "deferred", None),  # the webhook gets them one by one
        ("cpu", "email", "firing", "pending", None),
    ]
    assert {i.not_before for i in plan.intents if i.status == "deferred"} == {MORNING}
    plan, _ = run(rules, {"cpu": 95}, MORNING, quiet_hours=QUIET)
    assert {i.status for i in plan.intents} == {"pending"}


def test_escalating_out_of_a_quiet_severity_releases_what_was_deferred():
    _, first = run([rule("disk", "medium")], {"cpu": 95}, NIGHT, quiet_hours=QUIET)
    stored = {"disk": first["disk"]}
    plan, alerts = run([rule("disk", "medium")], {"cpu": 95}, NIGHT + 10 * MINUTE, stored=stored, quiet_hours=QUIET)
    assert alerts["disk"].severity == "high"
    assert {i.status for i in plan.intents} == {"pending"} and plan.released == [alerts["disk"].id]


@pytest.mark.parametrize(
    ("zone", "start", "end", "now", "until"),
    [
        ("UTC", "22:00", "07:00", "2025-11-26T21:59:59+00:00", None),
        ("UTC", "22:00", "07:00", "2025-11-26T22:00:00+00:00", "2025-11-27T07:00:00+00:00"),
        ("UTC", "22:00", "07:00", "2025-11-27T06:59:59+00:00", "2025-11-27T07:00:00+00:00"),
        ("UTC", "22:00", "07:00", "2025-11-27T07:00:00+00:00", None),
        ("UTC", "01:00", "05:00", "2025-11-27T03:00:00+00:00", "2025-11-27T05:00:00+00:00"),
        ("UTC", "01:00", "05:00", "2025-11-26T23:00:00+00:00", None),
        # Europe/Berlin: the spring-forward night is an hour shorter, the fall-back night an hour longer
        ("Europe/Berlin", "22:00", "07:00", "2026-03-28T21:00:00+00:00", "2026-03-29T05:00:00+00:00"),
        ("Europe/Berlin", "22:00", "07:00", "2025-10-25T20:00:00+00:00", "2025-10-26T06:00:00+00:00"),
        # a window edge inside the spring-forward gap: 02:30 does not exist, it reads as 03:30 CEST
        ("Europe/Berlin", "00:00", "02:30", "2026-03-29T00:59:00+00:00", "2026-03-29T01:30:00+00:00"),
    ],
)
def test_quiet_until(zone, start, end, now, until):
    def minutes(text):
        h, m = text.split(":")
        return int(h) * 60 + int(m)

    def ms(iso):
        return int(datetime.fromisoformat(iso).timestamp() * 1000)

    quiet = QuietHours(start=minutes(start), end=minutes(end), timezone=zone)
    assert policy.quiet_until(quiet, ms(now)) == (ms(until) if until else None)


def test_batch_gives_a_storm_one_key_per_channel_and_leaves_the_webhook_alone():
    rules = [rule(f"r{i}", channels=("email", "slack", "webhook")) for i in range(6)]
    plan, _ = run(rules, {"cpu": 95}, T0, batching=Batching(max_per_run=5))
    batches = {(i[1], i[4]) for i in intents(plan)}
    assert batches == {("email", f"run:{T0}"), ("slack", f"run:{T0}"), ("webhook", None)}
    plan, _ = run(rules[:5], {"cpu": 95}, T0, batching=Batching(max_per_run=5))
    assert {i[4] for i in intents(plan)} == {None}  # five is not more than five
    plan, _ = run(rules, {"cpu": 95}, T0)
    assert {i[4] for i in intents(plan)} == {None}  # no batching key: nothing is batched

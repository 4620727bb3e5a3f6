"""The pure engine: every transition, with explicit ``now`` values."""

from __future__ import annotations

from pathlib import Path

import pytest

from pantry_alert.config import Escalation, parse
from pantry_alert.engine import Context, evaluate
from pantry_alert.notify.registry import channel_facts


@pytest.fixture(autouse=True)
def short_render_budget(monkeypatch):
    """Renders that run out of time do so in 0.2 s instead of the 1 s built in."""
    monkeypatch.setenv("PANTRY_ALERT_RENDER_SECONDS", "0.2")


T0 = 1_764_158_400_000
MIN = 60_000


def make_rules(**overrides):
    rule = {
        "id": "cpu_high",
        "name": "CPU High",
        "type": "performance",
        "severity": "high",
        "when": "cpu > 90",
        "cooldown": "10m",
        "channels": ["console", "email"],
        "description": "CPU at {{ cpu }}%",
    }
    rule.update(overrides)
    return parse({"rules": [rule]}, Path("rules.yaml"), "", env={}).rules


class World:
    """Carries stored state between runs the way the store would."""

    def __init__(self, rules, configured=("console",), escalation=None, alert_after=3):
        self.rules = rules
        self.alerts = {}
        self.states = {}
        self.configured = frozenset(configured)
        self.escalation = escalation or Escalation()
        self.alert_after = alert_after

    def run(self, metrics, now, source_error=None):
        ctx = Context(
            now=now,
            escalation=self.escalation,
            configured=self.configured,
            channels=channel_facts(),
            alert_after=self.alert_after,
        )
        plan = evaluate(
            self.rules, metrics, alerts=self.alerts, rule_states=self.states, ctx=ctx, source_error=source_error
        )
        for alert in plan.new_alerts + plan.updated_alerts:
            if alert.resolved:
                self.alerts.pop(alert.rule_id, None)
            else:
                self.alerts[alert.rule_id] = alert
        for state in plan.rule_states:
            self.states[state.rule_id] = state
        return plan


def kinds(plan):
    return [(i.channel, i.kind, i.status) for i in plan.intents]


def test_fire_creates_alert_with_rule_and_time_id_and_notifies_configured_channels():
    world = World(make_rules())
    plan = world.run({"cpu": 95}, T0)
    assert plan.fired == ["cpu_high_1764158400000"]
    alert = plan.new_alerts[0]
    assert (alert.severity, alert.count, alert.description, alert.metrics) == ("high", 1, "CPU at 95%", {"cpu": 95})
    assert kinds(plan) == [("console", "firing", "pending"), ("email", "firing", "skipped")]
    assert plan.intents[1].error == "channel 'email' is not configured"
    assert plan.skipped == ["email"]
    assert alert.notified_channels == ["console"]
    assert [e.kind for e in plan.events] == ["fired", "notified"]


def test_dedup_counts_and_moves_last_seen_without_notifying_within_cooldown():
    world = World(make_rules())
    world.run({"cpu": 95}, T0)
    plan = world.run({"cpu": 96}, T0 + MIN)
    assert plan.fired == [] and plan.reminded == [] and plan.intents == []
    alert = plan.updated_alerts[0]
    assert (alert.count, alert.last_seen_at, alert.timestamp) == (2, T0 + MIN, T0)


def test_reminder_after_cooldown_then_escalation_at_threshold():
    world = World(make_rules())  # high: threshold 2
    world.run({"cpu": 95}, T0)  # first notification (round 1)
    plan = world.run({"cpu": 95}, T0 + 10 * MIN)  # reminder (round 2)
    assert plan.reminded == ["cpu_high_1764158400000"] and plan.escalated == []
    assert kinds(plan) == [("console", "reminder", "pending"), ("email", "reminder", "skipped")]
    plan = world.run({"cpu": 95}, T0 + 20 * MIN)  # 2 rounds at high -> escalate
    assert plan.escalated == ["cpu_high_1764158400000"] and plan.reminded == ["cpu_high_1764158400000"]
    alert = plan.updated_alerts[0]
    assert (alert.severity, alert.escalated) == ("critical", True)
    assert kinds(plan) == [
        ("console", "escalated", "pending"),
        ("email", "escalated", "skipped"),
        ("webhook", "escalated", "skipped"),
    ]
    plan = world.run({"cpu": 95}, T0 + 30 * MIN)  # later rounds are reminders again
    assert plan.escalated == [] and plan.reminded == ["cpu_high_1764158400000"]
    assert kinds(plan)[0] == ("console", "reminder", "pending")
    assert plan.updated_alerts[0].severity == "critical"


def test_escalation_never_mutates_the_rule_and_next_alert_starts_at_rule_severity():
    rules = make_rules(cooldown="1m")
    world = World(rules, escalation=Escalation(thresholds={"low": 5, "medium": 3, "high": 1, "critical": 1}))
    world.run({"cpu": 95}, T0)
    world.run({"cpu": 95}, T0 + MIN)
    assert world.alerts["cpu_high"].severity == "critical"
    assert rules[0].severity == "high"
    world.run({"cpu": 10}, T0 + 2 * MIN)
    plan = world.run({"cpu": 95}, T0 + 3 * MIN)
    assert plan.new_alerts[0].severity == "high" and plan.new_alerts[0].escalated is False


def test_critical_escalates_once_then_reminds():
    world = World(make_rules(severity="critical", cooldown="1m"), configured=("console", "webhook"))
    world.run({"cpu": 95}, T0)
    plan = world.run({"cpu": 95}, T0 + MIN)
    assert plan.escalated and kinds(plan) == [
        ("console", "escalated", "pending"),
        ("email", "escalated", "skipped"),
        ("webhook", "escalated", "pending"),
    ]
    plan = world.run({"cpu": 95}, T0 + 2 * MIN)
    assert not plan.escalated and plan.reminded


def test_acknowledged_alert_gets_no_reminders_until_ack_expires():
    world = World(make_rules())
    world.run({"cpu": 95}, T0)
    alert = world.alerts["cpu_high"]
    alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", T0 + MIN, "ops"
    alert.ack_expires_at = T0 + 60 * MIN
    for minutes in (10, 20, 30):
        plan = world.run({"cpu": 95}, T0 + minutes * MIN)
        assert plan.reminded == [] and plan.escalated == [] and plan.intents == []
    plan = world.run({"cpu": 95}, T0 + 60 * MIN)
    assert plan.reminded == ["cpu_high_1764158400000"]
    assert [e.kind for e in plan.events][:2] == ["ack_expired", "reminded"]
    assert plan.updated_alerts[0].status == "firing"


def test_auto_resolve_notifies_the_channels_that_were_notified():
    world = World(make_rules())
    world.run({"cpu": 95}, T0)
    plan = world.run({"cpu": 50}, T0 + MIN)
    assert plan.resolved == ["cpu_high_1764158400000"]
    alert = plan.updated_alerts[0]
    assert (alert.status, alert.resolved_at, alert.resolved_by) == ("resolved", T0 + MIN, "auto")
    assert kinds(plan) == [("console", "resolved", "pending")]


def test_notify_resolved_off_and_auto_resolve_off():
    world = World(make_rules(notify_resolved=False))
    world.run({"cpu": 95}, T0)
    plan = world.run({"cpu": 50}, T0 + MIN)
    assert plan.resolved and plan.intents == []
    world = World(make_rules(auto_resolve=False))
    world.run({"cpu": 95}, T0)
    plan = world.run({"cpu": 50}, T0 + MIN)
    assert plan.resolved == [] and world.alerts["cpu_high"].status == "firing"


def test_resolve_when_hysteresis():
    world = World(make_rules(resolve_when="cpu < 70"))
    world.run({"cpu": 95}, T0)
    plan = world.run({"cpu": 80}, T0 + MIN)  # no longer > 90, but not < 70 yet
    assert plan.resolved == [] and "cpu_high" in world.alerts
    plan = world.run({"cpu": 60}, T0 + 2 * MIN)
    assert plan.resolved == ["cpu_high_1764158400000"]


def test_for_delays_firing_until_the_condition_held_long_enough():
    world = World(make_rules(**{"for": "5m"}))
    assert world.run({"cpu": 95}, T0).fired == []
    assert world.states["cpu_high"].pending_since == T0
    assert world.run({"cpu": 95}, T0 + 4 * MIN).fired == []
    assert world.run({"cpu": 95}, T0 + 5 * MIN).fired == ["cpu_high_1764158700000"]


def test_for_resets_when_the_condition_clears():
    world = World(make_rules(**{"for": "5m"}))
    world.run({"cpu": 95}, T0)
    world.run({"cpu": 10}, T0 + 2 * MIN)
    assert world.states["cpu_high"].pending_since is None
    assert world.run({"cpu": 95}, T0 + 5 * MIN).fired == []


def test_cooldown_after_resolve_only_counts_breaches():
    world = World(make_rules())
    world.run({"cpu": 95}, T0)
    world.run({"cpu": 10}, T0 + MIN)
    plan = world.run({"cpu": 95}, T0 + 2 * MIN)
    assert plan.fired == [] and world.states["cpu_high"].consecutive_breaches == 1
    plan = world.run({"cpu": 95}, T0 + 10 * MIN)
    assert plan.fired == ["cpu_high_1764159000000"]


def test_unevaluable_rule_is_reported_and_changes_nothing():
    world = World(make_rules())
    world.run({"cpu": 95}, T0)
    plan = world.run({"mem": 1}, T0 + 30 * MIN)
    assert plan.errors == [{"rule": "cpu_high", "error": "metric 'cpu' is missing from the metrics document"}]
    assert plan.updated_alerts == [] and plan.intents == []
    plan = world.run({"cpu": "high"}, T0 + 31 * MIN)
    assert plan.errors[0]["error"] == "metric 'cpu' is not a number (got str: 'high')"


def test_description_failure_falls_back_to_default_and_warns():
    world = World(make_rules(description="{{ nothere }} left"))
    plan = world.run({"cpu": 95}, T0)
    assert plan.new_alerts[0].description == "Alert condition met"
    assert plan.warnings == [
        {
            "rule": "cpu_high",
            "error": "description template failed (UndefinedError: 'nothere' is undefined); used 'Alert condition met'",
        }
    ]


def test_source_failures_fire_builtin_alert_on_nth_and_resolve_on_success():
    world = World(make_rules(), configured=("console", "webhook"))
    assert world.run(None, T0, source_error="boom").fired == []
    assert world.run(None, T0 + MIN, source_error="boom").fired == []
    plan = world.run(None, T0 + 2 * MIN, source_error="HTTP 500")
    assert plan.fired == ["metrics_source_unavailable_1764158520000"]
    alert = plan.new_alerts[0]
    assert (alert.type, alert.severity, alert.channels) == ("error", "high", ["console", "webhook"])
    assert alert.description == "Metrics could not be read 3 times in a row: HTTP 500"
    plan = world.run(None, T0 + 3 * MIN, source_error="HTTP 500")
    assert plan.fired == [] and plan.updated_alerts[0].count == 2
    plan = world.run({"cpu": 10}, T0 + 4 * MIN)
    assert plan.resolved == ["metrics_source_unavailable_1764158520000"]
    assert world.states["metrics_source_unavailable"].consecutive_breaches == 0


def test_source_failure_leaves_other_rules_untouched():
    world = World(make_rules())
    world.run({"cpu": 95}, T0)
    plan = world.run(None, T0 + 30 * MIN, source_error="down")
    assert plan.updated_alerts == [] and plan.reminded == []


def test_disabled_rule_is_not_evaluated():
    world = World(make_rules(enabled=False))
    assert world.run({"cpu": 95}, T0).fired == []


def test_evaluate_does_not_mutate_its_inputs():
    world = World(make_rules())
    world.run({"cpu": 95}, T0)
    before = world.alerts["cpu_high"].count
    ctx = Context(now=T0 + MIN, escalation=Escalation(), configured=frozenset({"console"}), channels=channel_facts())
    evaluate(world.rules, {"cpu": 95}, alerts=world.alerts, rule_states=world.states, ctx=ctx)
    assert world.alerts["cpu_high"].count == before


@pytest.mark.parametrize(
    "when,metrics,holds",
    [
        ("a > 1 and b > 1", {"a": 2, "b": 2}, True),
        ("not a > 1", {"a": 2}, False),
        ("abs(a - b) >= 3", {"a": 1, "b": 4}, True),
        ("max(a, b) % 5 == 4", {"a": 1, "b": 9}, True),
        ("min(a, b) < 0 or a * 2 > 3", {"a": 2, "b": 1}, True),
        ("1 < a < 3", {"a": 2}, True),
        ("-a < 0", {"a": 2}, True),
    ],
)
def test_condition_language(when, metrics, holds):
    world = World(make_rules(when=when, description=None))
    assert bool(world.run(metrics, T0).fired) is holds


def test_strict_evaluation_no_short_circuit_rescue():
    world = World(make_rules(when="a > 1 or b > 1", description=None))
    plan = world.run({"a": 5}, T0)
    assert plan.fired == [] and plan.errors[0]["error"] == "metric 'b' is missing from the metrics document"


def test_division_by_zero_is_unevaluable():
    world = World(make_rules(when="a / b > 1", description=None))
    plan = world.run({"a": 5, "b": 0}, T0)
    assert plan.errors == [{"rule": "cpu_high", "error": "division by zero in 'a / b > 1'"}]


@pytest.mark.parametrize(
    "template, error",
    [
        ("{{ (cpu ** 999999999) | string | length }}", "SecurityError: exponent 999999999 is too large (at most 1000)"),
        ("{{ 'x' * 50000000 }}", "SecurityError: repeating a sequence to more than 10000 items"),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "RenderTimeout: rendering took longer than 0.2s",
        ),
    ],
)
def test_descriptions_are_bounded_in_time_and_size(template, error):
    plan = World(make_rules(description=template)).run({"cpu": 95}, T0)
    assert plan.fired and plan.new_alerts[0].description == "Alert condition met"
    assert plan.warnings == [
        {"rule": "cpu_high", "error": f"description template failed ({error}); used 'Alert condition met'"}
    ]


def test_small_powers_and_repeats_still_render():
    plan = World(make_rules(description="{{ cpu ** 2 }} {{ 'ab' * 3 }}")).run({"cpu": 95}, T0)
    assert plan.new_alerts[0].description == "9025 ababab" and plan.warnings == []

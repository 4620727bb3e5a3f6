"""Properties of the time-aware policy (hypothesis), on random timelines of breaches, acks,
silences and a maintenance window, one run a minute, through the one plan step on an
in-memory state:

1. no notice that a hold kept back is dropped: at the first run after the hold, an alert that
   still fires (unacknowledged) has every policy step that fell due sent, and a rule without
   a policy gets the firing notice it never had;
2. no step runs before its ``after`` (time acknowledged does not count);
3. no notice goes out while an open window or silence covers the alert, except resolved
   notices under ``notify_resolved_when_silenced``.

A fourth property: a weekly window opens on its day at its start and closes at its end, on its
zone's wall clock (a start in a spring-forward gap: the first valid time after it).

The window and the silences are judged here from their own definitions (a cron window
``*/20 * * * *`` lasting 6 minutes is open in the first 6 minutes of every 20), not through
the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import MINUTE, T0
from hypothesis import given, settings
from hypothesis import strategies as st

from pantry_alert.config import parse
from pantry_alert.model import Alert
from pantry_alert.notify.registry import channel_facts
from pantry_alert.planning import plan_step

ALL = frozenset({"email", "slack", "webhook", "console"})
AFTER = {1: 0, 2: 5 * MINUTE, 3: 12 * MINUTE}  # step -> after
CONFIG = """
escalation_policies:
  oncall:
    - {after: 0m, channels: [slack]}
    - {after: 5m, channels: [email]}
    - {after: 12m, channels: [webhook], repeat: 10m}
maintenance:
  - name: every-twenty
    rules: [cpu, "mem*"]
    cron: "*/20 * * * *"
    duration: 6m
    timezone: UTC
notify_resolved_when_silenced: %s
rules:
  - id: cpu
    name: CPU
    type: performance
    severity: high
    when: cpu > 90
    cooldown: 3m
    channels: [slack]
    escalation_policy: oncall
  - id: mem
    name: Memory
    type: performance
    severity: high
    when: mem > 90
    cooldown: 4m
    channels: [email, console]
"""


def window_open(now: int) -> bool:
    return (now // MINUTE) % 20 < 6  # T0 is on a whole hour


@dataclass
class World:
    """The stored state, kept in memory: what the store would hold after each plan."""

    config: object
    active: dict[str, Alert] = field(default_factory=dict)
    states: dict = field(default_factory=dict)
    transitions: dict[str, list[int]] = field(default_factory=dict)
    silences: list[tuple[str, int, int]] = field(default_factory=list)  # (rule, start, end)
    acks: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # alert id -> [(from, until)]
    sent: list[tuple[int, Alert, str, str, int | None]] = field(default_factory=list)

    def silenced(self, rule: str, now: int) -> bool:
        return any(r == rule and start <= now < end for r, start, end in self.silences)

    def held(self, rule: str, now: int) -> bool:
        return self.silenced(rule, now) or window_open(now)

    def acked_ms(self, alert_id: str, now: int) -> int:
        return sum(min(until, now) - start for start, until in self.acks.get(alert_id, []) if until <= now)

    def run(self, now: int, metrics: dict) -> None:
        active_silences = {
            rule: {"id": f"s{start}", "endsAt": end, "reason": None}
            for rule, start, end in self.silences
            if start <= now < end
        }
        plan = plan_step(
            self.config,
            metrics,
            now=now,
            alerts=self.active,
            rule_states=self.states,
            silences=active_silences,
            configured=ALL,
            channels=channel_facts(),
            transitions=self.transitions,
        )
        for alert in plan.new_alerts + plan.updated_alerts:
            if alert.resolved:
                if self.active.get(alert.rule_id) is not None and self.active[alert.rule_id].id == alert.id:
                    del self.active[alert.rule_id]
            else:
                self.active[alert.rule_id] = alert
        for state in plan.rule_states:
            self.states[state.rule_id] = state
        for rule, at in plan.transitions:
            self.transitions.setdefault(rule, []).append(at)
        touched = {a.id: a for a in plan.new_alerts + plan.updated_alerts}
        for intent in plan.intents:
            if intent.status == "pending":
                self.sent.append((now, touched[intent.alert_id], intent.channel, intent.kind, intent.step))

    def ack(self, rule: str, now: int, for_ms: int) -> None:
        alert = self.active.get(rule)
        if alert is None or alert.status != "firing":
            return
        alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", now, "prop"
        alert.ack_expires_at = now + for_ms
        self.acks.setdefault(alert.id, []).append((now, now + for_ms))


minute = st.fixed_dictionaries(
    {
        "cpu": st.sampled_from([95, 95, 10]),
        "mem": st.sampled_from([95, 10]),
        "ack": st.none() | st.tuples(st.sampled_from(["cpu", "mem"]), st.integers(1, 15)),
        "silence": st.none() | st.tuples(st.sampled_from(["cpu", "mem"]), st.integers(0, 10), st.integers(1, 15)),
    }
)


@pytest.mark.slow
@settings(max_examples=50, deadline=None)
@given(timeline=st.lists(minute, min_size=20, max_size=70), resolved_through=st.booleans())
def test_random_timelines_keep_the_hold_and_step_promises(timeline, resolved_through):
    config = parse(yaml.safe_load(CONFIG % str(resolved_through).lower()), Path("rules.yaml"), "", {})
    world = World(config)
    owed_firing: dict[str, str] = {}  # rule without a policy: alert id fired while held, never notified
    for index, step in enumerate(timeline):
        now = T0 + (index + 7) * MINUTE  # start inside the first window's end, so holds end early on
        if step["silence"]:
            rule, start, length = step["silence"]
            world.silences.append((rule, now + start * MINUTE, now + (start + length) * MINUTE))
        if step["ack"]:
            rule, length = step["ack"]
            world.ack(rule, now, length * MINUTE)
        before = len(world.sent)
        world.run(now, {"cpu": step["cpu"], "mem": step["mem"]})
        this_run = world.sent[before:]

        for at, alert, _channel, kind, number in this_run:
            # (3) nothing goes out while a window or silence covers the alert, resolved notices aside
            if world.held(alert.rule_id, at):
                assert kind == "resolved" and resolved_through, (at, alert.rule_id, kind)
            # (2) no step before its after
            if number is not None:
                assert at - alert.timestamp - world.acked_ms(alert.id, at) >= AFTER[number], (at, number)

        # (1) nothing held is dropped
        cpu = world.active.get("cpu")
        if cpu is not None and cpu.status == "firing" and not world.held("cpu", now):
            spent = now - cpu.timestamp - world.acked_ms(cpu.id, now)
            reached = {n for _, a, _, _, n in world.sent if a.id == cpu.id and n is not None}
            assert reached >= {n for n, after in AFTER.items() if after <= spent}, (now, reached, spent)
        mem = world.active.get("mem")
        if mem is not None:
            notified = any(a.id == mem.id and kind == "firing" for _, a, _, kind, _ in world.sent)
            if not notified and mem.status == "firing":
                if world.held("mem", now):
                    owed_firing["mem"] = mem.id
                else:
                    raise AssertionError(f"{mem.id} fired and is not held at {now}, yet was never notified")
            if notified:
                owed_firing.pop("mem", None)


# ----------------------------------------------------------------- windows on the wall clock

YEAR_2026 = (1767222000000, 1767222000000 + 365 * 86_400_000)  # from 2026-01-01 00:00 in Berlin, a year


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    now=st.integers(*YEAR_2026),
    day=st.integers(0, 6),
    start=st.integers(0, 1439),
    length=st.integers(1, 1439),
)
def test_a_weekly_window_opens_and_closes_on_its_wall_clock(now, day, start, length):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from pantry_alert.config.model import Maintenance, WeeklySpan
    from pantry_alert.maintenance_windows import next_span, open_span

    zone = ZoneInfo("Europe/Berlin")
    end = (start + length) % 1440
    window = Maintenance(name="w", timezone="Europe/Berlin", rules=("*",), weekly=(WeeklySpan((day,), start, end),))

    def wall(instant: int) -> datetime:
        return datetime.fromtimestamp(instant / 1000, zone)

    def on_the_clock(instant: int, minutes: int) -> bool:
        """Local time ``minutes`` after midnight, or the first valid time after a gap it fell in."""
        local = wall(instant)
        at = local.hour * 60 + local.minute
        return at == minutes or (at > minutes and at - minutes <= 60 and local.dst() == timedelta(hours=1))

    span = open_span(window, now)
    if span is not None:
        opened, closed = span
        assert opened <= now < closed
        assert wall(opened).weekday() == day and on_the_clock(opened, start)
        assert on_the_clock(closed, end)
        assert closed - opened <= (length + 60) * MINUTE  # a DST night adds or removes one hour at most
    upcoming = next_span(window, now)
    assert upcoming is not None and upcoming[0] > now
    assert wall(upcoming[0]).weekday() == day and on_the_clock(upcoming[0], start)
    assert open_span(window, upcoming[0]) is not None

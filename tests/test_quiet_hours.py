"""Quiet hours end to end: deferred notifications, one digest per human channel when the window
ends, the webhook one POST each; windows across midnight and across DST changes (Europe/Berlin)."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import MINUTE
from delivery_world import DASHBOARD, notifications, rows

HOUR = 60 * MINUTE


def at(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def config(quiet: str, thresholds: str = "{low: 5, medium: 3, high: 2, critical: 1}") -> str:
    rule = """
  - id: {id}
    name: {name}
    type: performance
    severity: {severity}
    when: {metric} > 90
    cooldown: {cooldown}
    channels: [email, slack, webhook]
    runbook_url: https://wiki.example.com/runbooks/{id}
    description: "{name} at {{{{ {metric} }}}}%"
"""
    rules = "".join(
        rule.format(id=i, name=n, severity=s, metric=m, cooldown=c)
        for i, n, s, m, c in (
            ("disk_full", "Disk Full", "low", "disk", "1h"),
            ("memory_high", "Memory High", "medium", "mem", "1h"),
            ("cpu_high", "CPU High", "high", "cpu", "1h"),
        )
    )
    return f"""
service_name: Kitchen Pantry CRM
dashboard_url: {DASHBOARD}
escalation: {{thresholds: {thresholds}, add_channels: []}}
quiet_hours: {quiet}
rules:{rules}"""


def hook_events(world) -> list[tuple[str, str]]:
    return [(r.body["alert"]["ruleId"], r.body["event"]) for r in world.hook.received]


def test_quiet_hours_across_midnight_defer_then_one_digest_per_channel(world):
    quiet = '{start: "22:00", end: "07:00", timezone: UTC, severities: [low, medium]}'
    world.cli.config.write_text(config(quiet).replace("cooldown: 1h", "cooldown: 1d"))
    night = at("2025-11-26T23:00:00+00:00")
    all_breach = {"disk": 95, "mem": 95, "cpu": 95}
    first = world.check(all_breach, "--json", now=night)
    assert first.code == 0, first.err
    assert first.json()["notifications"] == {"sent": 3, "failed": 0, "deferred": 6, "skipped": 0}
    # the high alert went at once; the low and medium ones wait
    assert world.mailbox.subjects == ["[HIGH] Kitchen Pantry CRM Alert: CPU High"]
    assert hook_events(world) == [("cpu_high", "firing")]
    deferred = rows(world.db, "SELECT channel, next_attempt_at FROM notifications WHERE status = 'deferred'")
    assert len(deferred) == 6 and {r[1] for r in deferred} == {at("2025-11-27T07:00:00+00:00")}

    # after midnight the disk recovers: its resolved notices wait too
    recovered = world.check({"disk": 10, "mem": 95, "cpu": 95}, "--json", now=at("2025-11-27T03:00:00+00:00"))
    assert recovered.json()["resolved"] == [f"disk_full_{night}"]
    assert recovered.json()["notifications"]["deferred"] == 3
    assert world.check({"disk": 10, "mem": 95, "cpu": 95}, now=at("2025-11-27T06:59:00+00:00")).code == 0
    assert len(world.mailbox.messages) == 1 and len(world.hook.received) == 1

    # the first run after the window: one digest per human channel, the webhook one POST per notification
    morning = world.check({"disk": 10, "mem": 95, "cpu": 95}, "--json", now=at("2025-11-27T07:00:00+00:00"))
    assert morning.code == 0, morning.err
    assert morning.json()["notifications"] == {"sent": 9, "failed": 0, "deferred": 0, "skipped": 0}
    digest = world.mailbox.messages[1]
    assert digest["Subject"] == "[MEDIUM] [DIGEST] Kitchen Pantry CRM Alerts: 2 alerts"
    text = digest.get_body(("plain",)).get_content()
    assert "2 alerts, held back during quiet hours." in text
    assert "[LOW] Disk Full (resolved at 2025-11-27 03:00:00 UTC, count 1)" in text
    assert "[MEDIUM] Memory High (firing, count 4)" in text
    assert "Runbook: https://wiki.example.com/runbooks/memory_high" in text
    html = digest.get_body(("html",)).get_content()
    assert html.count('class="digest-row"') == 2
    assert 'href="https://wiki.example.com/runbooks/disk_full"' in html
    slack = world.slack.received[1].body
    assert slack["text"] == "Digest: 2 alerts for Kitchen Pantry CRM"
    assert slack["blocks"][1]["text"]["text"].startswith("*[LOW] Disk Full* · resolved")
    assert slack["blocks"][1]["accessory"]["url"] == "https://wiki.example.com/runbooks/disk_full"
    assert sorted(hook_events(world)) == [
        ("cpu_high", "firing"),
        ("disk_full", "firing"),
        ("disk_full", "resolved"),
        ("memory_high", "firing"),
    ]
    assert [e for e in hook_events(world) if e[0] == "disk_full"] == [
        ("disk_full", "firing"),
        ("disk_full", "resolved"),
    ]
    assert {n[2] for n in notifications(world.db)} == {"sent"}
    # all the digest's rows carry its send time
    assert {r[0] for r in rows(world.db, "SELECT sent_at FROM notifications WHERE batch IS NOT NULL")} == {
        at("2025-11-27T07:00:00+00:00")
    }


def test_an_alert_escalating_out_of_a_quiet_severity_goes_at_once(world):
    world.cli.config.write_text(
        config(
            '{start: "22:00", end: "07:00", timezone: UTC, severities: [low, medium]}',
            thresholds="{low: 1, medium: 1, high: 2, critical: 1}",
        ).replace("cooldown: 1h", "cooldown: 10m")
    )
    night = at("2025-11-26T23:00:00+00:00")
    disk = {"disk": 95, "mem": 10, "cpu": 10}
    assert world.check(disk, now=night).code == 0  # low: deferred
    assert world.check(disk, now=night + 10 * MINUTE).code == 0  # escalated to medium: still quiet
    assert world.hook.received == [] and world.mailbox.messages == []
    result = world.check(disk, "--json", now=night + 20 * MINUTE)  # escalated to high: out of the quiet severities
    assert result.json()["escalated"] == [f"disk_full_{night}"]
    assert result.json()["notifications"]["deferred"] == 0
    # what it had deferred goes with it, in order, one by one
    assert hook_events(world) == [("disk_full", "firing"), ("disk_full", "escalated"), ("disk_full", "escalated")]
    assert {r.body["alert"]["severity"] for r in world.hook.received} == {"high"}
    assert world.mailbox.subjects[-1] == "[HIGH] [ESCALATED] Kitchen Pantry CRM Alert: Disk Full"
    assert rows(world.db, "SELECT count(*) FROM notifications WHERE status != 'sent'") == [(0,)]


# Europe/Berlin changes clocks at 01:00 UTC: 2026-03-29 02:00 CET -> 03:00 CEST, 2025-10-26 03:00 CEST -> 02:00 CET.
# Each run falls before the change, so the window's end has another UTC offset than "now".
@pytest.mark.parametrize(
    ("inside", "end"),
    [
        # spring forward: 01:00 CET to 04:00 CEST is 00:00 to 02:00 UTC (two hours)
        ("2026-03-29T00:30:00+00:00", "2026-03-29T02:00:00+00:00"),
        # fall back: 01:00 CEST to 04:00 CET is 23:00 to 03:00 UTC (four hours)
        ("2025-10-26T00:30:00+00:00", "2025-10-26T03:00:00+00:00"),
    ],
)
def test_quiet_hours_follow_the_zone_across_dst_changes(world, inside, end):
    world.cli.config.write_text(
        config('{start: "01:00", end: "04:00", timezone: Europe/Berlin, severities: [low]}').replace(
            "cooldown: 1h", "cooldown: 1d"
        )
    )
    disk = {"disk": 95, "mem": 10, "cpu": 10}
    deferred = world.check(disk, "--json", now=at(inside))
    assert deferred.json()["notifications"] == {"sent": 0, "failed": 0, "deferred": 3, "skipped": 0}
    assert rows(world.db, "SELECT DISTINCT next_attempt_at FROM notifications") == [(at(end),)]
    assert world.check(disk, now=at(end) - 1).code == 0
    assert world.hook.received == []
    sent = world.check(disk, "--json", now=at(end))
    assert sent.json()["notifications"]["sent"] == 3
    assert hook_events(world) == [("disk_full", "firing")]
    # one alert in the window: its own message, not a digest of one
    assert world.mailbox.subjects == ["[LOW] Kitchen Pantry CRM Alert: Disk Full"]

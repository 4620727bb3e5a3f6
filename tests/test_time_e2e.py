"""Time-aware paging end to end: real SMTP, Slack and webhook peers on loopback, ``check`` run
once a minute with PANTRY_ALERT_NOW, and which channel got what, when."""

from __future__ import annotations

from conftest import MINUTE, T0
from delivery_world import ALERT_ID, BREACH, HEALTHY, rules_yaml

POLICY = """
escalation_policies:
  oncall:
    - {after: 0m, channels: [slack]}
    - {after: 3m, channels: [email]}
    - {after: 6m, channels: [webhook], repeat: 7m}
"""


def got(world, since: tuple[int, int, int]) -> dict[str, list[str]]:
    """What each peer received after ``since`` (counts of mails, Slack posts, webhook posts)."""
    mails, posts, hooks = since
    out = {
        "email": [m["Subject"] for m in world.mailbox.messages[mails:]],
        "slack": [r.body["text"] for r in world.slack.received[posts:]],
        "webhook": [(r.body["event"], r.body.get("step")) for r in world.hook.received[hooks:]],
    }
    return {channel: items for channel, items in out.items() if items}


def counts(world) -> tuple[int, int, int]:
    return len(world.mailbox.messages), len(world.slack.received), len(world.hook.received)


def test_an_escalation_policy_minute_by_minute(world):
    world.cli.config.write_text(
        rules_yaml(cooldown="5m", sections=POLICY).replace(
            "description:", "escalation_policy: oncall\n    description:"
        )
    )
    # the rule's 5 minute cooldown counts from the alert's last notice, a step's included
    expected = {
        0: {"slack": ["Alert (step 1): CPU High"]},
        3: {"email": ["[HIGH] [ESCALATED] Kitchen Pantry CRM Alert: CPU High (step 2)"]},
        6: {"webhook": [("escalated", 3)]},
        11: {
            "slack": ["Reminder: CPU High"],
            "email": ["[HIGH] [REMINDER] Kitchen Pantry CRM Alert: CPU High"],
            "webhook": [("reminder", None)],
        },
        13: {"webhook": [("escalated", 3)]},
    }
    for minute in range(14):
        before = counts(world)
        assert world.check(BREACH, now=T0 + minute * MINUTE).code == 0
        assert got(world, before) == expected.get(minute, {}), minute
    shown = world.cli("show", ALERT_ID, "--json", now=T0 + 14 * MINUTE).json()
    steps = [(e["at"], e["detail"]["step"]) for e in shown["events"] if e["kind"] == "escalated"]
    assert steps == [(T0 + 3 * MINUTE, 2), (T0 + 6 * MINUTE, 3), (T0 + 13 * MINUTE, 3)]

    before = counts(world)
    assert world.check(HEALTHY, now=T0 + 14 * MINUTE).code == 0
    resolved = got(world, before)
    assert resolved["webhook"] == [("resolved", None)]
    assert resolved["email"] == ["[RESOLVED] Kitchen Pantry CRM Alert: CPU High"]
    assert resolved["slack"] == ["Resolved: CPU High"]


WINDOW = """
maintenance:
  - name: nightly
    rules: ["cpu_*"]
    weekly: [{days: [wed], start: "12:02", end: "12:05"}]
    timezone: UTC
"""


def test_a_maintenance_window_minute_by_minute(world):
    world.cli.config.write_text(rules_yaml(channels=("webhook",), sections=WINDOW))
    assert world.cli("silence", "list", "--json", now=T0).json() == [
        {
            "kind": "maintenance",
            "name": "nightly",
            "startsAt": T0 + 2 * MINUTE,
            "endsAt": T0 + 5 * MINUTE,
            "status": "upcoming",
            "rules": ["cpu_*"],
            "match": {},
            "timezone": "UTC",
        }
    ]
    sent, statuses = [], {}
    for minute in range(8):
        before = counts(world)
        assert world.check(BREACH if minute >= 3 else HEALTHY, now=T0 + minute * MINUTE).code == 0
        sent.append(got(world, before).get("webhook", []))
        if minute in (4, 5):  # held by the window, then out at its close
            statuses[minute] = world.cli("list", now=T0 + minute * MINUTE).out
    alert_id = f"cpu_high_{T0 + 3 * MINUTE}"
    assert "held by window" in statuses[4] and "silenced" not in statuses[4]
    assert "held by window" not in statuses[5] and "firing" in statuses[5]
    assert sent == [[], [], [], [], [], [("firing", None)], [], []]  # held at 3 and 4, out at the close
    shown = world.cli("show", alert_id, "--json", now=T0 + 8 * MINUTE).json()
    held = [e["detail"] for e in shown["events"] if e["kind"] == "held"]
    assert held == [{"window": "nightly", "until": T0 + 5 * MINUTE}]
    listed = world.cli("silence", "list", "--json", now=T0 + 3 * MINUTE).json()
    assert [(w["name"], w["status"]) for w in listed] == [("nightly", "open")]


def test_a_scheduled_silence_from_the_command_line(world):
    add = world.cli(
        "silence",
        "add",
        "cpu_high",
        "--start",
        "2025-11-26T13:05:00+01:00",
        "--for",
        "10m",
        "--reason",
        "deploy",
        now=T0,
    )
    assert add.code == 0, add.err
    silence_id = add.out.strip()
    assert "rule 'cpu_high' silenced from 2025-11-26 12:05:00 UTC for 10m (until 2025-11-26 12:15:00 UTC)" in add.err
    listed = world.cli("silence", "list", "--json", now=T0).json()
    assert [(s["kind"], s["id"], s["status"], s["startsAt"]) for s in listed] == [
        ("silence", silence_id, "upcoming", T0 + 5 * MINUTE)
    ]
    assert world.check(BREACH, now=T0).code == 0
    before = counts(world)
    for minute in (5, 10):
        assert world.check(BREACH, now=T0 + minute * MINUTE).code == 0
    assert got(world, before) == {}  # the 10 minute reminder is held
    shown = world.cli("show", ALERT_ID, "--json", now=T0 + 10 * MINUTE).json()
    assert [e["detail"] for e in shown["events"] if e["kind"] == "held"] == [
        {"silence": silence_id, "until": T0 + 15 * MINUTE, "reason": "deploy"}
    ]
    assert world.check(BREACH, now=T0 + 15 * MINUTE).code == 0
    assert [(e, s) for e, s in got(world, before)["webhook"]] == [("reminder", None)]
    bad = world.cli("silence", "add", "cpu_high", "--start", "tomorrow", "--for", "1h", now=T0)
    assert bad.code == 2 and "--start: 'tomorrow' is not an ISO 8601 time with an offset" in bad.err


def test_flapping_shows_in_list_show_and_stats(world):
    world.cli.config.write_text(
        rules_yaml(channels=("webhook",), cooldown="0m", sections="flapping: {transitions: 3, window: 10m}")
    )
    verdicts = [BREACH, HEALTHY, BREACH, HEALTHY, BREACH]
    events = []
    for minute, metrics in enumerate(verdicts):
        before = counts(world)
        world.check(metrics, now=T0 + minute * MINUTE)
        events.append(got(world, before).get("webhook", []))
    assert events == [[("firing", None)], [("resolved", None)], [("flapping", None)], [], []]
    listed = world.cli("list", "--json", now=T0 + 5 * MINUTE).json()
    assert [(a["id"], a["status"]) for a in listed] == [(f"cpu_high_{T0 + 2 * MINUTE}", "flapping")]
    stats = world.cli("stats", "--json", now=T0 + 5 * MINUTE).json()
    assert stats["byRule"]["cpu_high"]["transitions"] == 5
    before = counts(world)
    world.check(BREACH, now=T0 + 14 * MINUTE)  # no change for 10 minutes: one notice of its state
    assert got(world, before) == {"webhook": [("firing", None)]}
    assert world.cli("list", "--json", now=T0 + 14 * MINUTE).json()[0]["status"] == "firing"


def test_an_inhibition_minute_by_minute(world):
    sections = """
escalation: {add_channels: []}
"""
    text = (
        rules_yaml(channels=("webhook",), sections=sections)
        + """
  - id: db_down
    name: Database down
    type: error
    severity: critical
    when: db > 0
    cooldown: 10m
    channels: [email]
"""
    )
    world.cli.config.write_text(text.replace("description:", "inhibited_by: [db_down]\n    description:", 1))
    timeline = [
        ({"cpu": 95, "db": 1}, {"email": ["[CRITICAL] Kitchen Pantry CRM Alert: Database down"]}),
        ({"cpu": 95, "db": 1}, {}),
        (
            {"cpu": 95, "db": 0},
            {"email": ["[RESOLVED] Kitchen Pantry CRM Alert: Database down"], "webhook": [("firing", None)]},
        ),
        ({"cpu": 95, "db": 0}, {}),
    ]
    for minute, (metrics, expected) in enumerate(timeline):
        before = counts(world)
        path = world.cli.metrics(metrics, f"m{minute}.json")
        result = world.cli("check", "--metrics-file", str(path), now=T0 + minute * MINUTE)
        assert result.code == 0, result.err
        assert got(world, before) == expected, minute
    listed = world.cli("list", "--json", now=T0 + 3 * MINUTE).json()
    assert [(a["ruleId"], a["inhibited"]) for a in listed] == [("cpu_high", False)]

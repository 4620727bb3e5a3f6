"""Silences end to end: real SMTP, Slack and webhook peers on loopback, time moved by PANTRY_ALERT_NOW."""

from __future__ import annotations

from conftest import MINUTE, T0
from delivery_world import ALERT_ID, BREACH, HEALTHY, notifications, rows


def received(world) -> tuple[list[str], list[str], list[str]]:
    """(mail subjects, Slack texts, webhook events) so far."""
    return (
        world.mailbox.subjects,
        [r.body["text"] for r in world.slack.received],
        [r.body["event"] for r in world.hook.received],
    )


def alert_row(world) -> tuple:
    return rows(
        world.db,
        "SELECT severity, escalated, silenced, rounds_at_severity, last_notified_at FROM alerts WHERE id = ?",
        ALERT_ID,
    )[0]


def silenced_flag(world) -> bool:
    result = world.cli("list", "--json", now=None)
    assert result.code == 0
    return {a["id"]: a["silenced"] for a in result.json()}[ALERT_ID]


def test_a_silenced_rule_fires_unnotified_and_its_rounds_do_not_count_until_the_silence_ends(world):
    add = world.cli("silence", "add", "cpu_high", "--for", "30m", "--reason", "deploy", "--by", "ops", now=T0)
    assert add.code == 0, add.err
    silence_id = add.out.strip()
    assert "rule 'cpu_high' silenced for 30m (until 2025-11-26 12:30:00 UTC)" in add.err
    listed = world.cli("silence", "list", "--json", now=T0).json()
    assert listed == [
        {
            "kind": "silence",
            "id": silence_id,
            "ruleId": "cpu_high",
            "startsAt": T0,
            "endsAt": T0 + 30 * MINUTE,
            "reason": "deploy",
            "createdBy": "ops",
            "status": "active",
        }
    ]

    first = world.check(BREACH, now=T0)
    assert (first.code, first.out) == (
        0,
        f"FIRED     {ALERT_ID} [high] CPU High: CPU at 95% (silenced: not notified)\n",
    )
    summary = world.check(BREACH, "--json", now=T0 + MINUTE).json()
    assert summary["notifications"] == {"sent": 0, "failed": 0, "deferred": 0, "skipped": 0}
    # reminder rounds at +10m and +20m: high escalates after 2 rounds, but silenced rounds do not count
    for minutes in (10, 20):
        assert world.check(BREACH, now=T0 + minutes * MINUTE).code == 0
    assert received(world) == ([], [], [])
    assert notifications(world.db) == []
    assert alert_row(world) == ("high", 0, 1, 0, None)
    shown = world.cli("show", ALERT_ID, "--json", now=T0 + 20 * MINUTE).json()
    assert shown["silenced"] is True
    assert [e["kind"] for e in shown["events"]] == ["fired", "silenced", "held"]
    assert shown["events"][1]["detail"] == {"silence": silence_id, "until": T0 + 30 * MINUTE}

    # the silence runs out at +30m: the next run notifies the alert as firing, on every channel
    assert world.cli("silence", "list", "--json", now=T0 + 30 * MINUTE).json()[0]["status"] == "expired"
    after = world.check(BREACH, "--json", now=T0 + 31 * MINUTE)
    assert after.code == 0, after.err
    assert after.json()["notifications"]["sent"] == 3
    assert received(world) == (
        ["[HIGH] Kitchen Pantry CRM Alert: CPU High"],
        ["Alert: CPU High"],
        ["firing"],
    )
    assert world.hook.received[0].body["alert"]["silenced"] is False
    assert silenced_flag(world) is False
    # then the usual rhythm: a reminder after the cooldown, the escalation one round later
    assert world.check(BREACH, now=T0 + 41 * MINUTE).code == 0
    assert world.check(BREACH, now=T0 + 51 * MINUTE).code == 0
    assert received(world)[2] == ["firing", "reminder", "escalated"]
    assert alert_row(world)[:3] == ("critical", 1, 0)


def test_expiring_a_silence_by_hand_lets_the_next_run_remind(world):
    assert world.check(BREACH, now=T0).code == 0  # notified before the silence
    assert received(world)[2] == ["firing"]
    add = world.cli("silence", "add", "cpu_high", "--for", "2h", "--by", "ops", now=T0 + MINUTE)
    silence_id = add.out.strip()
    assert silenced_flag(world) is True  # marked at once, before any check
    assert world.check(BREACH, now=T0 + 10 * MINUTE).code == 0  # the reminder round is muted
    assert received(world)[2] == ["firing"]
    assert alert_row(world) == ("high", 0, 1, 1, T0)  # the muted round did not count

    expired = world.cli("silence", "expire", silence_id, now=T0 + 12 * MINUTE)
    assert (expired.code, expired.out) == (0, "Silence expired\n")
    assert silenced_flag(world) is False
    assert world.cli("silence", "list", "--json", now=T0 + 12 * MINUTE).json()[0]["endsAt"] == T0 + 12 * MINUTE
    assert world.check(BREACH, now=T0 + 13 * MINUTE).code == 0
    assert received(world)[2] == ["firing", "reminder"]
    events = [e["kind"] for e in world.cli("show", ALERT_ID, "--json", now=None).json()["events"]]
    assert [kind for kind in events if kind != "delivered"] == [
        "fired",
        "notified",
        "silenced",
        "held",
        "unsilenced",
        "reminded",
    ]

    again = world.cli("silence", "expire", silence_id, now=T0 + 14 * MINUTE)
    assert again.code == 1
    assert again.err == f"error: Silence {silence_id} already expired at 2025-11-26 12:12:00 UTC\n"


def test_a_silence_mutes_the_resolved_notice_too(world):
    assert world.check(BREACH, now=T0).code == 0
    world.cli("silence", "add", "cpu_high", "--for", "1h", "--by", "ops", now=T0 + MINUTE)
    result = world.check(HEALTHY, "--json", now=T0 + 2 * MINUTE)
    assert result.json()["resolved"] == [ALERT_ID]
    assert received(world)[2] == ["firing"]
    assert [n[:3] for n in notifications(world.db)] == [
        ("email", "firing", "sent"),
        ("slack", "firing", "sent"),
        ("webhook", "firing", "sent"),
        ("email", "resolved", "skipped"),
        ("slack", "resolved", "skipped"),
        ("webhook", "resolved", "skipped"),
    ]


def test_silence_errors(world):
    unknown = world.cli("silence", "add", "nope", "--for", "2h", "--by", "ops")
    assert unknown.code == 2
    assert unknown.err == (f"error: unknown rule 'nope' in {world.cli.config}\nhint: rules: cpu_high\n")
    assert not world.db.exists()  # nothing written
    zero = world.cli("silence", "add", "cpu_high", "--for", "0", "--by", "ops")
    assert zero.code == 2 and "--for: give a duration longer than 0" in zero.err
    bare = world.cli("silence", "add", "cpu_high", "--for", "5", "--by", "ops")
    assert bare.code == 2 and "a bare number ('5') is ambiguous" in bare.err
    missing = world.cli("silence", "expire", "0000")
    assert (missing.code, missing.err) == (
        1,
        "error: Silence 0000 not found\nhint: `pantry-alert silence list` shows the silences with their ids\n",
    )
    assert world.cli("silence", "list", "--json").json() == []

"""Each new channel end to end: fire, remind, acknowledge, resolve, against its local stand-in;
nothing secret in the output or the database.  PagerDuty's first check goes through the installed
command (a fresh process loads the channel and sends); every other step, and the other channels,
run the same command lines in-process (the process adds nothing there)."""

from __future__ import annotations

import json

import pytest
from conftest import T0, rows
from reach_world import SECRETS

MINUTE = 60_000
ALERT_ID = f"cpu_high_{T0}"
LINK_SECRET = "link-secret-0123456789abcdefghijklmnop"
NEW = ("pagerduty", "ntfy", "teams", "telegram", "discord", "apprise")


def config(cli, reach, channels, public_url="https://alerts.example.com"):
    sections = {name: reach.sections()[name] for name in channels}
    cli.config.write_text(
        "service_name: Kitchen Pantry CRM\n"
        "dashboard_url: https://crm.example.com/dashboard/performance\n"
        f"api: {json.dumps({'public_url': public_url, 'link_secret': LINK_SECRET})}\n"
        f"channels: {json.dumps(sections)}\n"
        "rules:\n"
        "  - {id: cpu_high, name: CPU High, type: performance, severity: high, when: cpu > 90, cooldown: 10m,"
        f" channels: [{', '.join(channels)}], description: 'CPU at {{{{ cpu }}}}%'}}\n"
    )


def kinds(cli) -> list[tuple]:
    return rows(cli.db, "SELECT channel, kind, status, error FROM notifications ORDER BY id")


def scan(cli, *results) -> None:
    """No secret in any output, nor anywhere in the database file."""
    data = cli.db.read_bytes() + b"".join(p.read_bytes() for p in cli.db.parent.glob("state.db-*"))
    for secret in (*SECRETS, LINK_SECRET):
        assert secret.encode() not in data, secret
        for result in results:
            assert secret not in result.out + result.err, secret


@pytest.mark.parametrize("name", NEW)
def test_fire_remind_acknowledge_resolve(cli, reach, name):
    config(cli, reach, [name])
    breach, healthy = cli.metrics({"cpu": 95}, "breach.json"), cli.metrics({"cpu": 10}, "healthy.json")
    peer = reach[name]
    fired = (cli.spawn if name == "pagerduty" else cli)("check", "--metrics-file", str(breach), now=T0)
    reminded = cli("check", "--metrics-file", str(breach), now=T0 + 11 * MINUTE)
    acked = cli("ack", ALERT_ID, "--by", "dana", now=T0 + 12 * MINUTE)
    quiet = cli("check", "--metrics-file", str(breach), now=T0 + 25 * MINUTE)
    resolved = cli("check", "--metrics-file", str(healthy), now=T0 + 30 * MINUTE)
    for result in (fired, reminded, acked, quiet, resolved):
        assert result.code == 0, result.err
    bodies = [r.body for r in peer.received]
    if name == "pagerduty":
        assert [b["event_action"] for b in bodies] == ["trigger", "trigger", "acknowledge", "resolve"]
        assert {b["dedup_key"] for b in bodies} == {ALERT_ID}
        expected = [("firing", "sent"), ("reminder", "sent"), ("acknowledged", "sent"), ("resolved", "sent")]
    else:
        assert len(bodies) == 3  # the acknowledgement stops reminders; these channels are not told of it
        expected = [("firing", "sent"), ("reminder", "sent"), ("resolved", "sent")]
    assert [(kind, status) for _, kind, status, _ in kinds(cli)] == expected
    text = json.dumps(bodies[-1])
    if name != "pagerduty":  # the resolved notice says how long the alert fired; the firing ones carry the link
        assert "resolved after 30m" in text
        first = json.dumps(bodies[0])
        has_link = f"https://alerts.example.com/ack/{ALERT_ID}?exp={T0 + 24 * 60 * MINUTE}&sig=" in first
        assert has_link == (name in ("ntfy", "teams", "telegram", "apprise"))
    scan(cli, fired, reminded, acked, quiet, resolved)


def test_pagerduty_is_told_of_a_resolution_by_hand_even_without_notify_resolved(cli, reach):
    config(cli, reach, ["pagerduty", "ntfy"])
    cli.config.write_text(cli.config.read_text().replace("cooldown: 10m,", "cooldown: 10m, notify_resolved: false,"))
    breach = cli.metrics({"cpu": 95})
    assert cli("check", "--metrics-file", str(breach)).code == 0
    assert cli("resolve", ALERT_ID, "--by", "dana", now=T0 + MINUTE).code == 0
    assert cli("check", "--metrics-file", str(cli.metrics({"cpu": 10}, "h.json")), now=T0 + 2 * MINUTE).code == 0
    assert [b["event_action"] for b in (r.body for r in reach["pagerduty"].received)] == ["trigger", "resolve"]
    assert len(reach["ntfy"].received) == 1


def test_a_failed_pagerduty_send_is_retried_after_its_retry_after(cli, reach):
    from reach_world import json_answer

    config(cli, reach, ["pagerduty"])
    answer = {"status": "throttle event", "message": "Requests are arriving too quickly"}
    reach["pagerduty"].then(json_answer(429, answer, headers={"Retry-After": "300"}))
    breach = cli.metrics({"cpu": 95})
    assert cli("check", "--metrics-file", str(breach)).code == 1  # a delivery failed: retried later
    ((_, kind, status, error),) = kinds(cli)
    assert (kind, status) == ("firing", "failed")
    peer = reach["pagerduty"].url("/v2/enqueue")
    assert (
        error == f"pagerduty {peer}: HTTP 429 TOO MANY REQUESTS: Requests are arriving too quickly (retry after 300s)"
    )
    (retry_at,) = rows(cli.db, "SELECT next_attempt_at FROM notifications")[0]
    assert retry_at == T0 + 300_000
    assert cli("check", "--metrics-file", str(breach), now=T0 + 5 * MINUTE).code == 0
    assert [(k, s) for _, k, s, _ in kinds(cli)] == [("firing", "sent")]
    shown = cli("show", ALERT_ID, "--json").json()
    assert shown["notifications"][0]["status"] == "sent"


def test_a_silence_does_not_keep_a_pagerduty_incident_open(cli, reach):
    config(cli, reach, ["pagerduty", "ntfy"])
    assert cli("check", "--metrics-file", str(cli.metrics({"cpu": 95}))).code == 0
    assert cli("silence", "add", "cpu_high", "--for", "2h", "--by", "dana", now=T0 + MINUTE).code == 0
    assert cli("check", "--metrics-file", str(cli.metrics({"cpu": 10}, "h.json")), now=T0 + 2 * MINUTE).code == 0
    assert [r.body["event_action"] for r in reach["pagerduty"].received] == ["trigger", "resolve"]
    assert len(reach["ntfy"].received) == 1  # the silenced rule's resolved notice is muted there

"""Batching (an alert storm gives one digest per human channel) and severity routes, end to end."""

from __future__ import annotations

from conftest import MINUTE, T0, free_port
from delivery_world import DASHBOARD, notifications, rows

STORM = 12


def storm_config(batching: str = "batching: {max_per_run: 5}") -> str:
    rules = "".join(
        f"""
  - id: queue_{i:02d}
    name: {"'Queue <b>&</b> 00'" if i == 0 else f"Queue {i:02d}"}
    type: performance
    severity: {"critical" if i == 3 else "high"}
    when: q{i} > 10
    channels: [email, slack, webhook]
    runbook_url: https://wiki.example.com/runbooks/queue?n={i}&x=1
    description: "{"<!channel> " if i == 0 else ""}Queue {i} holds {{{{ q{i} }}}} jobs"
"""
        for i in range(STORM)
    )
    return f"""
service_name: Kitchen Pantry CRM
dashboard_url: {DASHBOARD}
{batching}
rules:{rules}"""


STORM_METRICS = {f"q{i}": 50 + i for i in range(STORM)}


def test_a_storm_gives_one_digest_per_human_channel_and_one_post_per_alert_to_the_webhook(world):
    from slack_sdk.models.blocks import Block

    world.cli.config.write_text(storm_config())
    result = world.check(STORM_METRICS, "--json", now=T0)
    assert result.code == 0, result.err
    assert len(result.json()["fired"]) == STORM
    assert result.json()["notifications"] == {"sent": 3 * STORM, "failed": 0, "deferred": 0, "skipped": 0}

    # webhook: one POST per notification, each with its own Idempotency-Key
    assert sorted(r.body["alert"]["ruleId"] for r in world.hook.received) == [f"queue_{i:02d}" for i in range(STORM)]
    assert {r.body["event"] for r in world.hook.received} == {"firing"}
    assert len({r.headers["Idempotency-Key"] for r in world.hook.received}) == STORM

    # email: one message with a table of the twelve, escaped
    assert len(world.mailbox.messages) == 1
    mail = world.mailbox.messages[0]
    assert mail["Subject"] == "[CRITICAL] [DIGEST] Kitchen Pantry CRM Alerts: 12 alerts"
    html = mail.get_body(("html",)).get_content()
    assert html.count('class="digest-row"') == STORM
    assert "<strong>Queue &lt;b&gt;&amp;&lt;/b&gt; 00</strong>" in html and "<b>&</b>" not in html
    assert "&lt;!channel&gt; Queue 0 holds 50 jobs" in html
    assert 'href="https://wiki.example.com/runbooks/queue?n=7&amp;x=1"' in html
    assert f'href="{DASHBOARD}"' in html
    text = mail.get_body(("plain",)).get_content()
    assert "12 alerts, batched: many alerts in one run." in text
    assert "[HIGH] Queue <b>&</b> 00 (firing, count 1)" in text
    assert "Runbook: https://wiki.example.com/runbooks/queue?n=11&x=1" in text

    # Slack: one message within the block limits, ten alerts shown, "and 2 more"
    assert len(world.slack.received) == 1
    payload = world.slack.received[0].body
    assert payload["text"] == "Digest: 12 alerts for Kitchen Pantry CRM"
    blocks = payload["blocks"]
    for block in blocks:
        Block.parse(block).validate_json()
    assert len(blocks) == 1 + 10 + 1 + 1
    assert blocks[1]["text"]["text"].startswith("*[HIGH] Queue &lt;b&gt;&amp;&lt;/b&gt; 00* · firing")
    assert "&lt;!channel&gt; Queue 0 holds 50 jobs" in blocks[1]["text"]["text"]
    assert blocks[1]["accessory"]["text"]["text"] == "Runbook"
    assert blocks[11]["elements"][0]["text"].startswith("and 2 more")
    assert blocks[12]["elements"][0]["url"] == DASHBOARD
    assert payload["attachments"][0]["color"] == "#dc3545"

    # every notification row is marked sent; the digest rows share one batch key
    assert {n[:3] for n in notifications(world.db) if n[0] != "webhook"} == {
        ("email", "firing", "sent"),
        ("slack", "firing", "sent"),
    }
    assert rows(world.db, "SELECT channel, count(DISTINCT batch) FROM notifications GROUP BY channel") == [
        ("email", 1),
        ("slack", 1),
        ("webhook", 0),
    ]


def test_a_failed_digest_is_retried_as_one_digest(world):
    world.cli.config.write_text(storm_config())
    port = world.cli.env["SMTP_PORT"]
    world.cli.env["SMTP_PORT"] = str(free_port())  # nothing listens: the email digest fails
    result = world.check(STORM_METRICS, "--json", now=T0)
    assert result.code == 1
    assert result.json()["notifications"] == {"sent": 2 * STORM, "failed": STORM, "deferred": 0, "skipped": 0}
    failed = "SELECT count(*), max(attempts), min(next_attempt_at) FROM notifications WHERE status = 'failed'"
    assert rows(world.db, failed) == [(STORM, 1, T0 + MINUTE)]
    world.cli.env["SMTP_PORT"] = port
    retry = world.check(STORM_METRICS, "--json", now=T0 + MINUTE)
    assert retry.json()["notifications"]["sent"] == STORM
    assert world.mailbox.subjects == ["[CRITICAL] [DIGEST] Kitchen Pantry CRM Alerts: 12 alerts"]
    assert rows(world.db, "SELECT DISTINCT status, attempts FROM notifications WHERE channel = 'email'") == [
        ("sent", 2)
    ]


def test_without_batching_nothing_is_batched(world):
    world.cli.config.write_text(storm_config(batching=""))
    result = world.check({f"q{i}": 50 for i in range(7)} | {f"q{i}": 0 for i in range(7, STORM)}, now=T0)
    assert result.code == 0, result.err
    assert len(world.mailbox.messages) == 7 and len(world.slack.received) == 7 and len(world.hook.received) == 7
    assert rows(world.db, "SELECT count(*) FROM notifications WHERE batch IS NOT NULL") == [(0,)]


def test_routes_add_channels_by_current_severity(world):
    world.cli.config.write_text(
        f"""
dashboard_url: {DASHBOARD}
escalation: {{thresholds: {{high: 1}}, add_channels: []}}
routes: {{critical: [webhook, slack], high: [email]}}
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: high
    when: cpu > 90
    cooldown: 10m
    channels: [slack]
    description: "CPU at {{{{ cpu }}}}%"
"""
    )
    assert world.check({"cpu": 95}, now=T0).code == 0
    # high: the rule's slack, plus the route's email; no webhook yet
    assert (len(world.slack.received), world.mailbox.subjects, world.hook.received) == (
        1,
        ["[HIGH] Kitchen Pantry CRM Alert: CPU High"],
        [],
    )
    assert world.check({"cpu": 95}, now=T0 + 10 * MINUTE).code == 0  # escalates to critical
    assert [r.body["event"] for r in world.hook.received] == ["escalated"]
    assert world.hook.received[0].body["alert"]["severity"] == "critical"
    assert len(world.slack.received) == 2  # slack once: it is both the rule's and the route's
    assert world.mailbox.subjects == ["[HIGH] Kitchen Pantry CRM Alert: CPU High"]  # email routes only high
    # the resolved notice goes everywhere the alert was notified
    assert world.check({"cpu": 10}, now=T0 + 11 * MINUTE).code == 0
    assert [r.body["event"] for r in world.hook.received] == ["escalated", "resolved"]
    assert world.mailbox.subjects[-1] == "[RESOLVED] Kitchen Pantry CRM Alert: CPU High"
    assert [e for e in world.cli("show", f"cpu_high_{T0}", "--json").json()["events"] if e["kind"] == "notified"][0][
        "detail"
    ] == {"kind": "firing", "channels": ["slack", "email"]}


def test_a_route_to_an_unknown_channel_is_a_configuration_error(world):
    world.cli.config.write_text(storm_config(batching="routes:\n  critical: [pager]"))
    result = world.cli("rules", "validate")
    assert result.code == 2
    assert f"{world.cli.config}:5: routes.critical: unknown channel 'pager'" in result.err

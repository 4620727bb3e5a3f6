"""A resolved notice shows the value at resolution beside the value the alert fired with, on every channel."""

from __future__ import annotations

from conftest import T0
from delivery_world import ALERT_ID, BREACH

MINUTE = 60_000
RECOVERED = {"cpu": 42.5}
SHOWN = "cpu 42.5 (fired at 95)"


def test_resolved_notice_shows_the_value_now_and_when_it_fired_on_every_channel(world):
    world.config(channels=("email", "slack", "webhook", "console"))
    assert world.check(BREACH).code == 0
    world.mailbox.messages.clear()
    world.slack.reset()
    world.hook.reset()

    result = world.check(RECOVERED, now=T0 + 5 * MINUTE)
    assert result.code == 0, result.err
    # console
    assert result.out.splitlines()[1:4] == [
        "[RESOLVED] Kitchen Pantry CRM Alert: CPU High",
        "  CPU at 95%",
        f"  resolved after 5m; value at resolution: {SHOWN}",
    ]
    # email: both parts
    (mail,) = world.mailbox.messages
    assert mail["Subject"] == "[RESOLVED] Kitchen Pantry CRM Alert: CPU High"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert f"Value at resolution: {SHOWN}" in text
    assert "Resolved: 2025-11-26 12:05:00 UTC (auto), resolved after 5m" in text
    assert "resolved after 5m" in html
    assert "Value at resolution" in html and SHOWN in html
    # slack
    (post,) = world.slack.received
    section = post.body["blocks"][0]["text"]["text"]
    assert section.endswith(f"CPU at 95%\nValue at resolution: {SHOWN}\nResolved after 5m")
    # webhook: the metrics read at resolution, beside those it fired with
    (hook,) = world.hook.received
    assert hook.body["event"] == "resolved"
    assert hook.body["alert"]["id"] == ALERT_ID
    assert hook.body["alert"]["metadata"]["metrics"] == {"cpu": 95}
    assert hook.body["alert"]["metadata"]["resolvedMetrics"] == {"cpu": 42.5}
    assert hook.body["alert"]["metadata"]["resolvedAfterMs"] == 5 * MINUTE


def test_firing_messages_and_hand_resolved_alerts_carry_no_resolution_values(world):
    world.config(channels=("webhook",))
    assert world.check(BREACH).code == 0
    (fired,) = world.hook.received
    assert "resolvedMetrics" not in fired.body["alert"]["metadata"]
    world.hook.reset()
    assert world.cli("resolve", ALERT_ID, now=T0 + MINUTE).code == 0
    assert world.check(BREACH, now=T0 + 2 * MINUTE).code == 0
    resolved = [r for r in world.hook.received if r.body["event"] == "resolved"]
    assert len(resolved) == 1 and "resolvedMetrics" not in resolved[0].body["alert"]["metadata"]


def test_alertmanager_gets_how_long_a_resolved_alert_fired():
    from conftest import SAMPLE_ALERT

    from pantry_alert.notify.alertmanager import postable

    alert = {
        **SAMPLE_ALERT,
        "status": "resolved",
        "resolved": True,
        "resolvedAt": SAMPLE_ALERT["timestamp"] + 65 * MINUTE,
    }
    entry = postable(alert, now=alert["resolvedAt"], service="crm", dashboard_url=None, interval_ms=MINUTE)
    assert entry["annotations"]["resolved_after"] == "resolved after 1h 5m"
    assert entry["endsAt"] == "2025-11-26T13:31:40.000Z"

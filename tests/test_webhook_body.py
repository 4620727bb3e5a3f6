"""``channels.webhook.body``: a bounded Jinja template rendering the webhook's JSON body."""

from __future__ import annotations

import json

from conftest import T0
from delivery_world import BREACH, rules_yaml

TEMPLATE = """|
      {"text": {{ ("[" ~ alert.severity | upper ~ "] " ~ alert.title ~ ": " ~ alert.description) | tojson }},
       "event": {{ event | tojson }}, "service": {{ service | tojson }}, "at": {{ timestamp }},
       "labels": {{ alert.labels | tojson }}}"""


def webhook_section(world, body=TEMPLATE):
    return f"channels:\n  webhook:\n    url: {world.hook.url('/hook')}\n    body: {body}\n"


def test_the_template_renders_the_body_sent(world):
    world.cli.config.write_text(rules_yaml(channels=("webhook",), sections=webhook_section(world)))
    assert world.check(BREACH).code == 0
    (received,) = world.hook.received
    assert received.body == {
        "text": "[HIGH] CPU High: CPU at 95%",
        "event": "firing",
        "service": "kitchen-pantry-crm",
        "at": T0,
        "labels": {},
    }
    assert received.headers["Content-Type"] == "application/json" and received.headers["Idempotency-Key"]


def test_hostile_values_stay_json_strings(world):
    world.cli.config.write_text(rules_yaml(channels=("webhook",), sections=webhook_section(world)))
    world.cli.config.write_text(world.cli.config.read_text().replace('"CPU at {{ cpu }}%"', '"{{ note }}"'))
    assert world.check({"cpu": 95, "note": '", "evil": true, "x": "</script>\\u0000'}).code == 0
    (received,) = world.hook.received
    assert set(received.body) == {"text", "event", "service", "at", "labels"}
    assert received.body["text"].endswith('", "evil": true, "x": "</script>\\u0000')


def test_rules_validate_renders_it_with_a_sample_alert(world):
    bad = '|\n      {"a": {{ alert.title | tojson }},\n       "b": {{ alert.title }}}'
    world.cli.config.write_text(rules_yaml(channels=("webhook",), sections=webhook_section(world, bad)))
    result = world.cli("rules", "validate")
    assert result.code == 2
    assert (
        f"{world.cli.config}:7: channels.webhook.body: the body template does not render valid JSON "
        "(rendered line 2: Expecting value)" in result.err
    )
    failing = '|\n      {"a": 1,\n       "b": {{ alert.nothing.here }}}'
    world.cli.config.write_text(rules_yaml(channels=("webhook",), sections=webhook_section(world, failing)))
    result = world.cli("rules", "validate")
    assert result.code == 2 and "UndefinedError on template line 2" in result.err


def test_test_notify_render_prints_the_body_and_sends_nothing(world):
    world.cli.config.write_text(rules_yaml(channels=("webhook",), sections=webhook_section(world)))
    result = world.cli("test-notify", "webhook", "--render")
    assert result.code == 0, result.err
    body = json.loads(result.out)
    assert body["event"] == "test" and body["text"].startswith("[LOW] Test notification: ")
    assert world.hook.received == []
    other = world.cli("test-notify", "console", "--render")
    assert other.code == 2 and "--render shows the webhook's body; channel 'console' has no body template" in other.err


def test_without_a_template_render_prints_the_default_body(world):
    world.config(channels=("webhook",))
    result = world.cli("test-notify", "webhook", "--render")
    assert result.code == 0, result.err
    assert set(json.loads(result.out)) == {"alert", "timestamp", "service", "version", "event"}
    assert world.hook.received == []

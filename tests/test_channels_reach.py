"""PagerDuty, ntfy, Teams, Telegram, Discord and Apprise against local stand-ins of each service:
the wire format field by field, the shared answer rules, escaping, and secrets kept out."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLE_ALERT, T0
from reach_world import (
    APPRISE_TOKEN,
    DASHBOARD,
    DISCORD_TOKEN,
    NTFY_TOKEN,
    PD_KEY,
    RUNBOOK,
    SECRETS,
    TEAMS_SIG,
    TG_TOKEN,
    json_answer,
    message,
)
from werkzeug import Response

from pantry_alert.errors import ConfigError, DeliveryError
from pantry_alert.notify import registry
from pantry_alert.notify.http_channel import RETRY_AFTER_CAP_MS, check_answer, peer_reason, retry_after

ACK = "https://alerts.example.com/ack/high_error_rate_1764160000000?exp=1764244460000&sig=" + "ab" * 32
NEW = ("pagerduty", "ntfy", "teams", "telegram", "discord", "apprise")
HOSTILE = {
    "title": "<b>Boom</b> **bold** @everyone",
    "description": "<!channel> @here <@123> [click](https://evil.example) <a href='x'>a</a> `code` _i_ {{DATE()}}",
    "labels": {"team": "<script>alert(1)</script>"},
}


def send(reach, name, msg, **extra):
    module = registry.channel_module(name)
    module.send(reach.settings(name, **extra), msg)


def only(reach, name):
    (received,) = reach[name].received
    return received


# ---------------------------------------------------------------- wire formats


def test_pagerduty_trigger_acknowledge_resolve(reach):
    fired = message(runbookUrl=RUNBOOK, labels={"team": "ops"}, escalated=True)
    send(reach, "pagerduty", fired)
    send(reach, "pagerduty", message("acknowledged"))
    send(reach, "pagerduty", message("resolved", status="resolved", resolvedAt=T0 + 42 * 60_000))
    trigger, ack, resolve = (r.body for r in reach["pagerduty"].received)
    assert trigger == {
        "routing_key": PD_KEY,
        "event_action": "trigger",
        "dedup_key": "high_error_rate_1764160000000",
        "payload": {
            "summary": "High Error Rate: Error rate is 7.34% (threshold: 5%)",
            "source": "kitchen-pantry-crm",
            "severity": "critical",
            "timestamp": "2025-11-26T12:26:40.000Z",
            "component": "high_error_rate",
            "group": "kitchen-pantry-crm",
            "class": "error",
            "custom_details": {
                "metrics": {"errorRate": 0.0734},
                "count": 1,
                "escalated": True,
                "labels": {"team": "ops"},
            },
        },
        "links": [{"href": RUNBOOK, "text": "Runbook"}, {"href": DASHBOARD, "text": "Dashboard"}],
        "client": "pantry-alert",
    }
    key = {"routing_key": PD_KEY, "dedup_key": "high_error_rate_1764160000000"}
    assert ack == {**key, "event_action": "acknowledge"}
    assert resolve == {**key, "event_action": "resolve"}
    assert reach["pagerduty"].received[0].headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("severity, expected", [("high", "error"), ("medium", "warning"), ("low", "info")])
def test_pagerduty_severity_and_summary_limit(reach, severity, expected):
    send(reach, "pagerduty", message(severity=severity, description="x" * 2000))
    payload = only(reach, "pagerduty").body["payload"]
    assert payload["severity"] == expected and len(payload["summary"]) == 1024 and payload["summary"].endswith("…")


def test_ntfy_publish(reach):
    send(reach, "ntfy", message(runbookUrl=RUNBOOK, ack_url=ACK))
    received = only(reach, "ntfy")
    assert received.path == "/"
    assert received.headers["Authorization"] == f"Bearer {NTFY_TOKEN}"
    assert received.body == {
        "topic": "pantry-alerts",
        "title": "[CRITICAL] High Error Rate",
        "message": "Error rate is 7.34% (threshold: 5%)\nvalues: errorRate 0.0734",
        "priority": 5,
        "tags": ["critical", "high_error_rate"],
        "click": DASHBOARD,
        "actions": [
            {"action": "view", "label": "Runbook", "url": RUNBOOK},
            {"action": "view", "label": "Dashboard", "url": DASHBOARD},
            {"action": "view", "label": "Acknowledge", "url": ACK},
        ],
    }


def test_ntfy_resolved_and_basic_auth(reach):
    resolved = message(
        "resolved",
        dashboard=None,
        status="resolved",
        resolvedAt=1764160000000 + 65 * 60_000,
        metadata={**SAMPLE_ALERT["metadata"], "resolvedMetrics": {"errorRate": 0.01}},
    )
    send(reach, "ntfy", resolved, token=None, user="ops", password="pw-ntfy-123")
    received = only(reach, "ntfy")
    assert received.headers["Authorization"] == "Basic b3BzOnB3LW50ZnktMTIz"
    assert received.body["title"] == "[RESOLVED] High Error Rate"
    assert received.body["message"] == (
        "Error rate is 7.34% (threshold: 5%)\nresolved after 1h 5m; value at resolution: errorRate 0.01 (fired at 0.0734)"
    )
    assert (received.body["priority"], received.body["tags"]) == (2, ["white_check_mark", "high_error_rate"])
    assert "click" not in received.body and "actions" not in received.body


def test_teams_adaptive_card(reach):
    send(reach, "teams", message(severity="high", runbookUrl=RUNBOOK, ack_url=ACK))
    received = only(reach, "teams")
    assert set(received.body) == {"type", "attachments"} and received.body["type"] == "message"
    (attachment,) = received.body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, description, facts = card["body"]
    assert title == {
        "type": "TextBlock",
        "text": "\\[HIGH\\] High Error Rate",
        "weight": "Bolder",
        "size": "Medium",
        "color": "attention",
        "wrap": True,
    }
    assert description == {"type": "TextBlock", "text": "Error rate is 7.34% (threshold: 5%)", "wrap": True}
    assert facts["type"] == "FactSet"
    assert [(f["title"], f["value"]) for f in facts["facts"]] == [
        ("Severity", "high"),
        ("Rule", "high\\_error\\_rate"),
        ("Values", "errorRate 0.0734"),
        ("Count", "1"),
        ("Since", "2025-11-26 12:26:40 UTC"),
    ]
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Runbook", "url": RUNBOOK},
        {"type": "Action.OpenUrl", "title": "Dashboard", "url": DASHBOARD},
        {"type": "Action.OpenUrl", "title": "Acknowledge", "url": ACK},
    ]


def test_teams_colours(reach):
    for severity in ("critical", "medium"):
        send(reach, "teams", message(severity=severity))
    send(reach, "teams", message("resolved", status="resolved", resolvedAt=1764160000000 + 42 * 60_000))
    colours = [r.body["attachments"][0]["content"]["body"][0]["color"] for r in reach["teams"].received]
    assert colours == ["attention", "warning", "good"]
    resolved_card = reach["teams"].received[-1].body["attachments"][0]["content"]["body"]
    assert resolved_card[2]["text"] == "resolved after 42m"


def test_telegram_send_message(reach):
    send(reach, "telegram", message(runbookUrl=RUNBOOK, ack_url=ACK))
    received = only(reach, "telegram")
    assert received.path == f"/bot{TG_TOKEN}/sendMessage"
    assert received.body == {
        "chat_id": "-1001234567",
        "text": "<b>[CRITICAL] High Error Rate</b>\nError rate is 7.34% (threshold: 5%)\n<i>values: errorRate 0.0734</i>",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
        "reply_markup": {
            "inline_keyboard": [
                [
                    {"text": "Runbook", "url": RUNBOOK},
                    {"text": "Dashboard", "url": DASHBOARD},
                    {"text": "Acknowledge", "url": ACK},
                ]
            ]
        },
    }


def test_telegram_ok_false_is_a_failure_with_its_description(reach):
    reach["telegram"].then(json_answer(200, {"ok": False, "description": "Bad Request: chat not found"}))
    with pytest.raises(DeliveryError) as caught:
        send(reach, "telegram", message())
    assert caught.value.message == f"telegram {reach.base('telegram')}: Bad Request: chat not found"
    assert not caught.value.retryable


def test_discord_embed(reach):
    send(reach, "discord", message(runbookUrl=RUNBOOK))
    received = only(reach, "discord")
    assert received.body["allowed_mentions"] == {"parse": []}
    (embed,) = received.body["embeds"]
    assert embed == {
        "title": "\\[CRITICAL\\] High Error Rate",
        "description": f"Error rate is 7.34% (threshold: 5%)\n[Runbook]({RUNBOOK}) · [Dashboard]({DASHBOARD})",
        "color": 0xDC3545,
        "fields": [
            {"name": "Severity", "value": "critical", "inline": True},
            {"name": "Rule", "value": "high\\_error\\_rate", "inline": True},
            {"name": "Values", "value": "errorRate 0.0734", "inline": True},
            {"name": "Count", "value": "1", "inline": True},
        ],
        "timestamp": "2025-11-26T12:26:40.000Z",
        "url": DASHBOARD,
    }


@pytest.mark.slow  # the first import of apprise takes more than a second
def test_apprise_posts_title_and_body(reach):
    send(reach, "apprise", message(ack_url=ACK))
    received = only(reach, "apprise")
    assert received.body["title"] == "[CRITICAL] High Error Rate"
    assert received.body["message"] == (
        f"Error rate is 7.34% (threshold: 5%)\nvalues: errorRate 0.0734\nDashboard: {DASHBOARD}\nAcknowledge: {ACK}"
    )
    assert received.headers["Authorization"].startswith("Basic ")


def test_apprise_failure_is_retried_and_scrubbed(reach):
    reach["apprise"].then(lambda request: Response("down", status=500))
    with pytest.raises(DeliveryError) as caught:
        send(reach, "apprise", message())
    assert caught.value.retryable and caught.value.message.startswith("apprise json://: not delivered")
    assert APPRISE_TOKEN not in caught.value.message


# ---------------------------------------------------------------- the shared answer rules


@pytest.mark.parametrize("name", NEW[:-1])
def test_a_400_fails_for_good_with_the_peers_reason(reach, name):
    reach[name].then(json_answer(400, {"message": "Invalid routing key", "errors": ["routing_key is invalid"]}))
    with pytest.raises(DeliveryError) as caught:
        send(reach, name, message())
    assert not caught.value.retryable
    assert caught.value.message.endswith("HTTP 400 BAD REQUEST: Invalid routing key; routing_key is invalid")


@pytest.mark.parametrize("name", NEW[:-1])
def test_429_and_503_are_retried_honouring_retry_after(reach, name):
    reach[name].then(
        json_answer(429, {"message": "slow down"}, headers={"Retry-After": "30"}),
        lambda request: Response("maintenance", status=503),
    )
    with pytest.raises(DeliveryError) as first:
        send(reach, name, message())
    with pytest.raises(DeliveryError) as second:
        send(reach, name, message())
    assert (first.value.retryable, first.value.retry_after_ms) == (True, 30_000)
    assert first.value.message.endswith("HTTP 429 TOO MANY REQUESTS: slow down (retry after 30s)")
    assert (second.value.retryable, second.value.retry_after_ms) == (True, None)
    assert second.value.message.endswith("HTTP 503 SERVICE UNAVAILABLE: maintenance")


def test_retry_after_as_an_http_date_against_the_runs_now_capped_at_an_hour():
    now = T0  # 2025-11-26T12:00:00Z
    assert retry_after("Wed, 26 Nov 2025 12:02:00 GMT", now) == 120_000
    assert retry_after("Wed, 26 Nov 2025 11:00:00 GMT", now) == 0
    assert retry_after("86400", now) == RETRY_AFTER_CAP_MS
    assert retry_after(None, now, b'{"ok":false,"parameters":{"retry_after":7}}') == 7_000
    assert retry_after(None, now, b'{"retry_after": 1.5}') == 1_500
    assert retry_after("soon", now) is None


def test_the_classification_is_one_rule():
    from pantry_alert.fetch import Reply

    def outcome(status, body=b"", headers=None):
        try:
            check_answer("x", "peer", Reply(status, "R", headers or {}, body), now_ms=T0, secrets=["s3cr3t"])
        except DeliveryError as exc:
            return exc.retryable, exc.message
        return "sent"

    assert outcome(200) == outcome(202) == outcome(204) == "sent"
    assert outcome(408)[0] and outcome(429)[0] and outcome(500)[0] and outcome(502)[0]
    assert outcome(401) == (False, "x peer: HTTP 401 R")
    assert outcome(404, b"no such s3cr3t here") == (False, "x peer: HTTP 404 R: no such *** here")
    assert peer_reason(b'{"error": "topic invalid", "code": 40010}') == "topic invalid"
    assert len(peer_reason(b"y" * 5000)) == 200


# ---------------------------------------------------------------- escaping


def test_hostile_content_cannot_format_mention_or_link(reach):
    for name in NEW:
        send(reach, name, message(**HOSTILE))
    telegram = only(reach, "telegram").body["text"]
    assert "<b>" not in telegram.replace("<b>[CRITICAL]", "") and "&lt;b&gt;Boom&lt;/b&gt;" in telegram
    assert "&lt;!channel&gt;" in telegram and "<a " not in telegram and "https:\u200b//evil" in telegram
    discord = only(reach, "discord").body
    embed = discord["embeds"][0]
    assert discord["allowed_mentions"] == {"parse": []}
    assert "\\@everyone" in embed["title"] and "\\*\\*bold\\*\\*" in embed["title"]
    assert "\\<!channel\\>" in embed["description"] and "\\@here" in embed["description"]
    assert "\\[click\\](https:\u200b//evil.example)" in embed["description"]
    assert "{\u200b{DATE()}}" in embed["description"]
    card = only(reach, "teams").body["attachments"][0]["content"]
    assert card["body"][1]["text"].startswith("\\<!channel\\> \\@here \\<\\@123\\> \\[click\\]")
    assert "{\u200b{DATE" in card["body"][1]["text"]
    ntfy = only(reach, "ntfy").body  # plain text: shown as written, nothing is markup there
    assert ntfy["title"] == "[CRITICAL] <b>Boom</b> **bold** @everyone" and "markdown" not in ntfy
    pagerduty = only(reach, "pagerduty").body
    assert pagerduty["payload"]["custom_details"]["labels"] == {"team": "<script>alert(1)</script>"}  # JSON data
    apprise = only(reach, "apprise").body
    assert apprise["title"] == "[CRITICAL] <b>Boom</b> **bold** @everyone"


# ---------------------------------------------------------------- secrets


@pytest.mark.parametrize("name", NEW)
def test_a_connection_error_names_the_host_only(reach, name):
    from conftest import free_port

    port = free_port()
    sections = reach.sections()
    moved = json.loads(json.dumps(sections[name]).replace(f":{reach[name].server.port}", f":{port}"))
    module = registry.channel_module(name)
    with pytest.raises(DeliveryError) as caught:
        module.send(module.settings(moved, {}), message())
    text = caught.value.message
    assert not any(secret in text for secret in SECRETS), text
    assert TEAMS_SIG not in text and "invoke" not in text and "webhooks/1234567890" not in text
    if name != "apprise":
        assert f"127.0.0.1:{port}" in text and "connect" in text


@pytest.mark.parametrize("name", NEW)
def test_descriptions_and_reprs_hold_no_secret(reach, name):
    settings = reach.settings(name)
    shown = settings.describe() + repr(settings)
    assert not any(secret in shown for secret in SECRETS), shown
    assert set(settings.secrets()) & set(SECRETS) or name in ("teams", "discord")
    if name in ("teams", "discord"):
        assert TEAMS_SIG in " ".join(settings.secrets()) or DISCORD_TOKEN in " ".join(settings.secrets())


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "name, section, needle",
    [
        ("pagerduty", {"routing_key": "k", "url": "events.pagerduty.com"}, "invalid URL"),
        ("ntfy", {"token": "t"}, "topic: required"),
        ("ntfy", {"topic": "a/b"}, "a single name"),
        ("ntfy", {"topic": "t", "user": "u"}, "user and password go together"),
        ("telegram", {"bot_token": TG_TOKEN}, "chat_id: required"),
        ("telegram", {"chat_id": "1"}, "bot_token: required"),
        ("telegram", {"bot_token": "a/b", "chat_id": "1"}, "not a bot token"),
        ("teams", {"webhook_url": f"ftp://x/{TEAMS_SIG}"}, "invalid webhook URL"),
        ("discord", {"webhook_url": f"discord.com/api/webhooks/1/{DISCORD_TOKEN}"}, "invalid webhook URL"),
        ("apprise", {"urls": "not a url"}, "not an Apprise URL"),
        ("apprise", {"urls": []}, "must be a list"),
    ],
)
def test_invalid_settings_are_configuration_errors_without_secrets(name, section, needle):
    with pytest.raises(ConfigError) as caught:
        registry.channel_module(name).settings(section, {})
    assert needle in caught.value.message
    assert not any(secret in caught.value.message for secret in SECRETS)


def test_settings_from_the_environment():
    env = {
        "PAGERDUTY_ROUTING_KEY": PD_KEY,
        "NTFY_TOPIC": "ops",
        "TEAMS_WEBHOOK_URL": f"https://x.logic.azure.com/w?sig={TEAMS_SIG}",
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_CHAT_ID": "42",
        "DISCORD_WEBHOOK_URL": f"https://discord.com/api/webhooks/1/{DISCORD_TOKEN}",
        "APPRISE_URLS": "json://a.example/x, mailto://u:p@b.example",
    }
    got = {name: registry.channel_module(name).settings(None, env).describe() for name in NEW}
    assert got == {
        "pagerduty": "Events API v2 at https://events.pagerduty.com/v2/enqueue",
        "ntfy": "topic ops at https://ntfy.sh",
        "teams": "Workflows webhook at https://x.logic.azure.com",
        "telegram": "chat 42 via https://api.telegram.org",
        "discord": "webhook at https://discord.com",
        "apprise": "2 Apprise URLs (json://, mailto://)",
    }


def test_apprise_without_the_extra_names_the_pip_command(cli, monkeypatch):
    from pantry_alert.notify import apprise as channel

    monkeypatch.setattr(channel, "installed", lambda: False)
    cli.config.write_text(
        "rules:\n  - {id: a, name: A, type: error, severity: high, when: x > 1, channels: [apprise]}\n"
        "channels:\n  apprise:\n    urls: ['json://127.0.0.1:9/x']\n"
    )
    result = cli("rules", "validate")
    assert result.code == 2
    assert (
        "channels.apprise.urls: the apprise channel needs the optional extra: pip install 'pantry-alert[apprise]'"
        in (result.err)
    )


@pytest.mark.parametrize("name", NEW[:-1])
def test_test_notify_sends_a_marked_test(cli, reach, name):
    cli.config.write_text(
        "rules:\n  - {id: a, name: A, type: error, severity: high, when: x > 1}\n"
        f"channels: {json.dumps({name: reach.sections()[name]})}\n"
    )
    result = cli("test-notify", name)
    assert result.code == 0, result.err
    assert result.out == f"Test notification sent via {name} ({reach.settings(name).describe()})\n"
    bodies = [r.body for r in reach[name].received]
    text = json.dumps(bodies)
    assert "Test notification" in text and not any(secret in result.out + result.err for secret in SECRETS)
    if name == "pagerduty":
        assert [b["event_action"] for b in bodies] == ["trigger", "resolve"]
        assert bodies[0]["payload"]["summary"].startswith("[TEST] Test notification: ")
    else:
        assert len(bodies) == 1 and ("[TEST]" in text or "\\\\[TEST\\\\]" in text)


@pytest.mark.slow
def test_a_timed_out_send_may_have_arrived_and_a_refused_one_did_not(reach):
    import threading

    from hostile_peers import RawServer

    release = threading.Event()
    silent = RawServer(lambda conn, server: release.wait(5))  # reads the request, never answers
    try:
        module = registry.channel_module("ntfy")
        settings = module.settings({"url": silent.url(""), "topic": "t", "timeout": "300ms"}, {})
        with pytest.raises(DeliveryError) as timed_out:
            module.send(settings, message())
    finally:
        release.set()
        silent.stop()
    assert (timed_out.value.retryable, timed_out.value.answered) == (True, False)
    assert timed_out.value.message.endswith("timed out after 0.3s")
    reach["ntfy"].then(json_answer(503, {"error": "down"}))
    with pytest.raises(DeliveryError) as refused:
        send(reach, "ntfy", message())
    assert (refused.value.retryable, refused.value.answered) == (True, True)

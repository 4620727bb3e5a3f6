"""The Slack channel against pytest-httpserver playing the Web API and an incoming webhook."""

from __future__ import annotations

import copy
import json
import threading
import time

import pytest
from conftest import SAMPLE_ALERT, free_port
from slack_sdk.models.blocks import Block
from werkzeug import Response

from pantry_alert.errors import ConfigError, DeliveryError
from pantry_alert.notify import slack
from pantry_alert.notify.base import Message

TOKEN = "xoxb-1234-5678-SECRETtoken"
HOOK_PATH = "/services/T0000/B0000/XXXXhooksecretXXXX"

ALERT = SAMPLE_ALERT
DASHBOARD = "https://crm.example.com/dashboard/performance"

EXPECTED_PAYLOAD = {
    "text": "Alert: High Error Rate",
    "blocks": [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*High Error Rate*\nError rate is 7.34% (threshold: 5%)"},
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "Severity: critical | Time: 2025-11-26T12:26:40.000Z"}],
        },
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "View Dashboard"}, "url": DASHBOARD},
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Acknowledge"},
                    "action_id": "acknowledge_alert",
                    "value": "high_error_rate_1764160000000",
                },
            ],
        },
    ],
    "attachments": [{"color": "#dc3545", "fallback": "Error rate is 7.34% (threshold: 5%)"}],
}


def make_message(kind="firing", dashboard_url=DASHBOARD, **alert_changes) -> Message:
    alert = copy.deepcopy(ALERT)
    alert.update(alert_changes)
    return Message(
        kind=kind,
        alert=alert,
        idempotency_key=f"{alert['id']}:slack:{kind}",
        now_ms=1764160060000,
        dashboard_url=dashboard_url,
        version="0.1.0",
    )


def api_settings(httpserver, **section):
    return slack.settings({"token": TOKEN, "channel": "#alerts", "api_url": httpserver.url_for("/api"), **section}, {})


def hook_settings(httpserver, **section):
    return slack.settings({"webhook_url": httpserver.url_for(HOOK_PATH), **section}, {})


def assert_valid_blocks(payload):
    for block in payload["blocks"]:
        Block.parse(block).validate_json()


# ---------------------------------------------------------------- settings


def test_settings_from_the_environment_variables():
    s = slack.settings(None, {"SLACK_BOT_TOKEN": TOKEN, "SLACK_ALERT_CHANNEL": "#alerts"})
    assert (s.mode, s.token, s.channel, s.api_url, s.timeout) == (
        "api",
        TOKEN,
        "#alerts",
        "https://slack.com/api/",
        10.0,
    )
    assert s.describe() == "chat.postMessage -> #alerts via https://slack.com/api/"
    assert TOKEN not in repr(s) and s.secrets() == [TOKEN]

    hook = slack.settings(None, {"SLACK_WEBHOOK_URL": "https://hooks.slack.com" + HOOK_PATH})
    assert hook.mode == "webhook"
    assert hook.describe() == "incoming webhook https://hooks.slack.com/…"
    assert "hooksecret" not in hook.describe() and "hooksecret" not in repr(hook)
    assert "https://hooks.slack.com" + HOOK_PATH in hook.secrets()

    assert slack.settings(None, {}) is None
    with pytest.raises(ConfigError, match=r"^channel missing: SLACK_BOT_TOKEN \(environment\) is set"):
        slack.settings(None, {"SLACK_BOT_TOKEN": TOKEN})  # no channel, no webhook: half configured


def test_api_url_gets_a_trailing_slash_and_env_override():
    s = slack.settings(
        None, {"SLACK_BOT_TOKEN": TOKEN, "SLACK_ALERT_CHANNEL": "C123", "SLACK_API_URL": "http://127.0.0.1:9/slack/api"}
    )
    assert s.api_url == "http://127.0.0.1:9/slack/api/"


def test_section_webhook_wins_over_environment_token():
    s = slack.settings(
        {"webhook_url": "https://hooks.slack.com/x/y/zzzzzzzzzz", "timeout": "3s"},
        {"SLACK_BOT_TOKEN": TOKEN, "SLACK_ALERT_CHANNEL": "#a"},
    )
    assert (s.mode, s.token, s.timeout) == ("webhook", None, 3.0)


@pytest.mark.parametrize(
    "section, needle",
    [
        ({"token": TOKEN}, "channel missing"),
        ({"channel": "#a"}, "token missing"),
        ({"webhook_url": "hooks.slack.com/x"}, "invalid URL"),
        ({"token": TOKEN, "channel": "#a", "api_url": "ftp://x"}, "invalid URL"),
        ({"token": TOKEN, "channel": "#a", "timeout": "soon"}, "invalid timeout"),
        ({"token": TOKEN, "chanel": "#a"}, "unknown key(s) chanel"),
    ],
)
def test_invalid_section_is_a_config_error(section, needle):
    with pytest.raises(ConfigError) as info:
        slack.settings(section, {})
    assert needle in str(info.value)
    assert TOKEN not in str(info.value)


# ---------------------------------------------------------------- the message


def test_firing_payload_is_exact():
    payload = slack.build_payload(make_message())
    assert payload == EXPECTED_PAYLOAD
    assert_valid_blocks(payload)


def test_payload_without_dashboard_leaves_the_button_out():
    payload = slack.build_payload(make_message(dashboard_url=None))
    assert payload["blocks"][2] == {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "action_id": "acknowledge_alert",
                "value": "high_error_rate_1764160000000",
            }
        ],
    }


def test_other_kinds_say_what_they_are():
    reminder = slack.build_payload(make_message("reminder", count=4))
    assert reminder["text"] == "Reminder: High Error Rate"
    assert reminder["blocks"][0]["text"]["text"].startswith("*Reminder: High Error Rate*\n")
    assert (
        reminder["blocks"][1]["elements"][0]["text"] == "Severity: critical | Time: 2025-11-26T12:26:40.000Z | Count: 4"
    )

    escalated = slack.build_payload(make_message("escalated", severity="high", count=3, escalated=True))
    assert escalated["text"] == "Escalated: High Error Rate"
    assert escalated["blocks"][0]["text"]["text"].startswith("*Escalated: High Error Rate*\n")
    assert escalated["attachments"][0]["color"] == "#fd7e14"

    resolved = slack.build_payload(make_message("resolved", resolved=True, resolvedAt=1764160123456))
    assert resolved["text"] == "Resolved: High Error Rate"
    assert (
        resolved["blocks"][1]["elements"][0]["text"]
        == "Severity: critical | Time: 2025-11-26T12:26:40.000Z | Resolved: 2025-11-26T12:28:43.456Z"
    )
    assert resolved["attachments"][0]["color"] == "#28a745"
    assert [b["text"]["text"] for b in resolved["blocks"][2]["elements"]] == ["View Dashboard"]

    test = slack.build_payload(make_message("test"))
    assert test["text"] == "[TEST] Alert: High Error Rate"
    assert test["blocks"][0]["text"]["text"].startswith("*[TEST] High Error Rate*\n")
    for payload in (reminder, escalated, resolved, test):
        assert_valid_blocks(payload)


def test_text_is_escaped_so_nothing_can_ping():
    payload = slack.build_payload(
        make_message(title="<!here> title", description="<!channel> <@U123> & <https://evil|click> <script>")
    )
    escaped = "&lt;!channel&gt; &lt;@U123&gt; &amp; &lt;https://evil|click&gt; &lt;script&gt;"
    assert payload["text"] == "Alert: &lt;!here&gt; title"
    assert payload["blocks"][0]["text"]["text"] == f"*&lt;!here&gt; title*\n{escaped}"
    assert payload["attachments"][0]["fallback"] == escaped
    texts = [payload["text"], payload["attachments"][0]["fallback"], payload["blocks"][0]["text"]["text"]]
    assert not any("<" in t or ">" in t for t in texts)
    assert_valid_blocks(payload)


def test_block_limits_are_respected_without_failing():
    huge = "Tom & Jerry <3 " * 2000  # 30,000 characters before escaping
    payload = slack.build_payload(make_message(title="T" * 500, description=huge, id="x" * 5000, severity="low"))
    section = payload["blocks"][0]["text"]["text"]
    assert len(section) <= 3000 and section.endswith("…")
    assert not section[:-1].endswith(("&", "&a", "&am", "&amp", "&l", "&lt", "&g", "&gt"))
    assert len(payload["text"]) <= 40000
    assert len(payload["attachments"][0]["fallback"]) <= 3000
    ack = payload["blocks"][2]["elements"][1]
    assert len(ack["value"]) <= 2000
    assert_valid_blocks(payload)

    long_dashboard = slack.build_payload(make_message(dashboard_url="https://x.example/" + "d" * 3100))
    assert [b["text"]["text"] for b in long_dashboard["blocks"][2]["elements"]] == ["Acknowledge"]
    assert_valid_blocks(long_dashboard)


# ---------------------------------------------------------------- Web API


def test_chat_post_message_request(httpserver):
    httpserver.expect_oneshot_request("/api/chat.postMessage", method="POST").respond_with_json(
        {"ok": True, "channel": "C1", "ts": "1.2"}
    )
    slack.send(api_settings(httpserver), make_message())
    [(request, _)] = httpserver.log
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"].startswith("application/json")
    assert json.loads(request.get_data()) == {"channel": "#alerts", **EXPECTED_PAYLOAD}


def test_api_ok_false_is_a_delivery_error_with_slacks_error(httpserver):
    httpserver.expect_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": "channel_not_found"})
    with pytest.raises(DeliveryError) as info:
        slack.send(api_settings(httpserver), make_message())
    assert str(info.value) == (
        f"slack {httpserver.url_for('/api/')}chat.postMessage: Slack refused the message: channel_not_found"
    )
    assert info.value.retryable is False


def test_api_transient_error_is_retryable(httpserver):
    httpserver.expect_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": "internal_error"})
    with pytest.raises(DeliveryError) as info:
        slack.send(api_settings(httpserver), make_message())
    assert info.value.retryable is True


def test_api_rate_limit_honours_retry_after_and_is_not_retried_by_the_sdk(httpserver):
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "30"}
    )
    with pytest.raises(DeliveryError) as info:
        slack.send(api_settings(httpserver), make_message())
    assert info.value.retryable is True
    assert info.value.retry_after_ms == 30_000
    assert "rate limited (HTTP 429, ratelimited); retry after 30s" in str(info.value)
    assert len(httpserver.log) == 1


def test_api_server_error_is_retryable(httpserver):
    httpserver.expect_request("/api/chat.postMessage").respond_with_data("<html>bad gateway</html>", status=502)
    with pytest.raises(DeliveryError) as info:
        slack.send(api_settings(httpserver), make_message())
    assert info.value.retryable is True
    assert "HTTP 502" in str(info.value)


def test_api_timeout_is_the_channel_timeout_once(httpserver):
    release = threading.Event()
    calls = []

    def hang(request):
        calls.append(request.path)
        release.wait(5)
        return Response('{"ok": true}', content_type="application/json")

    httpserver.expect_request("/api/chat.postMessage").respond_with_handler(hang)
    try:
        started = time.monotonic()
        with pytest.raises(DeliveryError) as info:
            slack.send(api_settings(httpserver, timeout="200ms"), make_message())
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert str(info.value) == f"slack {httpserver.url_for('/api/')}chat.postMessage: timed out after 0.2s"
    assert info.value.retryable is True
    assert len(calls) == 1  # one attempt, not repeated by an SDK retry handler
    assert 0.15 < elapsed < 3  # the channel's timeout, not the SDK's 30 s default


def test_api_connection_refused():
    s = slack.settings(
        {"token": TOKEN, "channel": "#a", "api_url": f"http://127.0.0.1:{free_port()}/api/", "timeout": "1s"}, {}
    )
    with pytest.raises(DeliveryError) as info:
        slack.send(s, make_message())
    assert str(info.value).endswith("cannot connect: connection refused (nothing listens on that host and port?)")
    assert info.value.retryable is True


def test_token_never_appears_in_errors(httpserver):
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": False, "error": f"invalid_auth for {TOKEN}"}
    )
    with pytest.raises(DeliveryError) as info:
        slack.send(api_settings(httpserver), make_message())
    assert TOKEN not in str(info.value) and "invalid_auth for ***" in str(info.value)


# ---------------------------------------------------------------- incoming webhook


def test_incoming_webhook_request(httpserver):
    httpserver.expect_oneshot_request(HOOK_PATH, method="POST").respond_with_data("ok")
    slack.send(hook_settings(httpserver), make_message())
    [(request, _)] = httpserver.log
    assert "Authorization" not in request.headers
    assert json.loads(request.get_data()) == EXPECTED_PAYLOAD


def test_incoming_webhook_errors(httpserver):
    httpserver.expect_oneshot_request(HOOK_PATH).respond_with_data("no_service", status=404)
    with pytest.raises(DeliveryError) as info:
        slack.send(hook_settings(httpserver), make_message())
    assert str(info.value) == f"slack incoming webhook http://localhost:{httpserver.port}/…: HTTP 404: no_service"
    assert info.value.retryable is False

    httpserver.expect_oneshot_request(HOOK_PATH).respond_with_data(
        "rate_limited", status=429, headers={"Retry-After": "7"}
    )
    with pytest.raises(DeliveryError) as info:
        slack.send(hook_settings(httpserver), make_message())
    assert (info.value.retryable, info.value.retry_after_ms) == (True, 7000)

    httpserver.expect_oneshot_request(HOOK_PATH).respond_with_data("oops", status=500)
    with pytest.raises(DeliveryError) as info:
        slack.send(hook_settings(httpserver), make_message())
    assert info.value.retryable is True


def test_webhook_url_never_appears_in_errors(httpserver):
    secret_part = HOOK_PATH.rsplit("/", 1)[1]
    httpserver.expect_request(HOOK_PATH).respond_with_data(f"invalid_token {HOOK_PATH}", status=403)
    with pytest.raises(DeliveryError) as info:
        slack.send(hook_settings(httpserver), make_message())
    assert secret_part not in str(info.value)


def test_a_test_notification_has_no_acknowledge_button():
    payload = slack.build_payload(make_message(kind="test"))
    actions = [b for b in payload["blocks"] if b["type"] == "actions"]
    ids = [e.get("action_id") for block in actions for e in block["elements"]]
    assert "acknowledge_alert" not in ids

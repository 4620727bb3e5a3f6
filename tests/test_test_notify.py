"""`pantry-alert test-notify CHANNEL` end to end: the command line against a real SMTP
server (aiosmtpd) and real HTTP peers (pytest-httpserver as Slack's Web API and a webhook receiver)."""

from __future__ import annotations

import json

import pytest
from aiosmtpd.controller import Controller
from conftest import T0, Cli, Mailbox, free_port, smtp_authenticator
from delivery_world import rules_yaml
from pytest_httpserver import HTTPServer
from werkzeug import Response

SMTP_PASSWORD = "smtp-pw-Tn62Hd"
SLACK_TOKEN = "xoxb-test-notify-Pw81"
HOOK_TOKEN = "hook-test-notify-Qe37"
CONFIG = rules_yaml(channels=("email", "slack", "webhook", "console"))


authenticator = smtp_authenticator("alerts", SMTP_PASSWORD)


@pytest.fixture(scope="module")
def servers():
    mailbox = Mailbox()
    port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False)
    smtp.start()
    http = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    http.start()
    yield mailbox, port, http
    http.stop()
    smtp.stop()


@pytest.fixture
def env(tmp_path, servers):
    """(cli, mailbox, http): the channels point at the servers; every test starts with empty logs."""
    mailbox, port, http = servers
    mailbox.messages.clear()
    http.clear()
    cli = Cli(tmp_path)
    cli.config.write_text(CONFIG)
    cli.env.update(
        {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(port),
            "SMTP_USER": "alerts",
            "SMTP_PASS": SMTP_PASSWORD,
            "SMTP_ALLOW_INSECURE_AUTH": "true",  # the test server offers no STARTTLS
            "ALERT_FROM_EMAIL": "alerts@pantry.example",
            "ALERT_TO_EMAILS": "ops@example.com",
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_ALERT_CHANNEL": "#alerts",
            "SLACK_API_URL": f"http://127.0.0.1:{http.port}/api/",
            "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{http.port}/hook",
            "ALERT_WEBHOOK_TOKEN": HOOK_TOKEN,
        }
    )
    yield cli, mailbox, http
    http.check_assertions()  # no request to an unexpected path


def assert_no_secret(result) -> None:
    for secret in (SMTP_PASSWORD, SLACK_TOKEN, HOOK_TOKEN):
        assert secret not in result.out and secret not in result.err


# ---------------------------------------------------------------- success


def test_email(env):
    cli, mailbox, _http = env
    result = cli("test-notify", "email")
    port = cli.env["SMTP_PORT"]
    assert (result.code, result.out, result.err) == (
        0,
        f"Test notification sent via email (smtp://127.0.0.1:{port} -> ops@example.com)\n",
        "",
    )
    [mail] = mailbox.messages
    assert mail["Subject"] == "[TEST] Kitchen Pantry CRM Alert: Test notification"
    assert mail["Subject"].startswith("[TEST]")
    assert (mail["From"], mail["To"], mail["X-Pantry-Alert-Event"]) == (
        "alerts@pantry.example",
        "ops@example.com",
        "test",
    )
    assert mail["X-Pantry-Alert-Id"] == f"pantry_alert_test_{T0}"
    assert mail.authenticated
    plain = mail.get_body(preferencelist=("plain",)).get_content()
    assert "This is a test notification from pantry-alert. No action is needed." in plain
    assert not cli.db.exists()  # a test send touches no state


def test_slack(env):
    cli, _mailbox, http = env
    http.expect_oneshot_request("/api/chat.postMessage", method="POST").respond_with_json(
        {"ok": True, "channel": "C0ALERTS", "ts": "1.2"}
    )
    result = cli("test-notify", "slack")
    assert (result.code, result.out, result.err) == (
        0,
        f"Test notification sent via slack (chat.postMessage -> #alerts via http://127.0.0.1:{http.port}/api/)\n",
        "",
    )
    [(request, _)] = http.log
    assert request.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
    body = json.loads(request.get_data())
    assert body["channel"] == "#alerts"
    assert body["text"] == "[TEST] Alert: Test notification"
    assert body["blocks"][0]["text"]["text"] == (
        "*[TEST] Test notification*\nThis is a test notification from pantry-alert. No action is needed."
    )
    assert not cli.db.exists()


def test_webhook(env):
    cli, _mailbox, http = env
    http.expect_oneshot_request("/hook", method="POST").respond_with_data("", status=204)
    result = cli("test-notify", "webhook")
    assert (result.code, result.out, result.err) == (
        0,
        f"Test notification sent via webhook (POST http://127.0.0.1:{http.port}/hook (bearer token))\n",
        "",
    )
    [(request, _)] = http.log
    assert request.headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == f"pantry-alert-test-{T0}"
    body = json.loads(request.get_data())
    assert (body["event"], body["timestamp"], body["service"], body["version"]) == (
        "test",
        T0,
        "kitchen-pantry-crm",
        "0.1.0",
    )
    assert (body["alert"]["id"], body["alert"]["title"], body["alert"]["severity"]) == (
        f"pantry_alert_test_{T0}",
        "Test notification",
        "low",
    )
    assert not cli.db.exists()


def test_console(env):
    cli, _mailbox, http = env
    result = cli("test-notify", "console")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "[LOW] [TEST] Kitchen Pantry CRM Alert: Test notification\n"
        "  This is a test notification from pantry-alert. No action is needed.\n"
        f"  alert pantry_alert_test_{T0} · test · count 1 · 2025-11-26 12:00:00 UTC\n"
        "  dashboard: https://crm.example.com/dashboard/performance\n"
        "Test notification sent via console (stdout)\n"
    )
    assert http.log == []


# ---------------------------------------------------------------- failures: exact error, exit 1


def test_email_server_down(env):
    cli, mailbox, _http = env
    closed = free_port()
    result = cli("test-notify", "email", env={"SMTP_PORT": str(closed)})
    assert (result.code, result.out, result.err) == (
        1,
        "",
        (
            f"error: test notification via email failed: email smtp://127.0.0.1:{closed}: cannot connect: "
            "Connection refused\n"
        ),
    )
    assert mailbox.messages == []


def test_email_login_rejected(env):
    cli, mailbox, _http = env
    result = cli("test-notify", "email", env={"SMTP_PASS": "not-the-password"})
    port = cli.env["SMTP_PORT"]
    assert (result.code, result.out, result.err) == (
        1,
        "",
        (
            f"error: test notification via email failed: email smtp://127.0.0.1:{port}: login as alerts "
            "rejected: 535 5.7.8 Authentication credentials invalid\n"
        ),
    )
    assert mailbox.messages == []
    assert "not-the-password" not in result.err


def test_slack_refused(env):
    cli, _mailbox, http = env
    http.expect_oneshot_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": "not_in_channel"})
    result = cli("test-notify", "slack")
    assert (result.code, result.out, result.err) == (
        1,
        "",
        (
            f"error: test notification via slack failed: slack http://127.0.0.1:{http.port}/api/chat.postMessage: "
            "Slack refused the message: not_in_channel\n"
        ),
    )
    assert len(http.log) == 1


def test_webhook_error_status_and_echoed_token(env):
    cli, _mailbox, http = env
    http.expect_oneshot_request("/hook").respond_with_handler(
        lambda request: Response(f"bad credentials {request.headers['Authorization']}", status=401)
    )
    result = cli("test-notify", "webhook")
    assert (result.code, result.out, result.err) == (
        1,
        "",
        (
            f"error: test notification via webhook failed: webhook http://127.0.0.1:{http.port}/hook: "
            "HTTP 401 UNAUTHORIZED: bad credentials Bearer ***\n"
        ),
    )
    assert_no_secret(result)
    assert len(http.log) == 1


def test_webhook_unreachable(env):
    cli, _mailbox, _http = env
    closed = free_port()
    result = cli("test-notify", "webhook", env={"ALERT_WEBHOOK_URL": f"http://127.0.0.1:{closed}/hook"})
    assert (result.code, result.out, result.err) == (
        1,
        "",
        (
            f"error: test notification via webhook failed: webhook http://127.0.0.1:{closed}/hook: "
            "cannot connect: connection refused (nothing listens on that host and port?)\n"
        ),
    )


# ---------------------------------------------------------------- unknown or unconfigured: exit 2


def test_unknown_channel(env):
    cli, _mailbox, _http = env
    result = cli("test-notify", "pager")
    assert (result.code, result.out, result.err) == (
        2,
        "",
        "error: unknown channel 'pager' (channels: email, slack, webhook, alertmanager, console, pagerduty, ntfy, teams, telegram, discord, apprise)\n",
    )


@pytest.mark.parametrize(
    "channel, unset",
    [
        ("email", ("SMTP_HOST", "ALERT_TO_EMAILS")),
        ("slack", ("SLACK_BOT_TOKEN", "SLACK_ALERT_CHANNEL")),
        ("webhook", ("ALERT_WEBHOOK_URL",)),
    ],
)
def test_unconfigured_channel(env, channel, unset):
    cli, mailbox, http = env
    result = cli("test-notify", channel, env={name: "" for name in unset})
    assert (result.code, result.out, result.err) == (
        2,
        "",
        (
            f"error: channel '{channel}' is not configured\n"
            f"hint: set channels.{channel} in {cli.config} or its environment variables (docs/channels.md)\n"
        ),
    )
    assert mailbox.messages == [] and http.log == []

"""Slack's Acknowledge button: signed requests to the API (in-process), the replacement received by a local peer.

The API answers only after its background task (the replacement post) ends, so once a response is
in, whatever the button was going to post has been posted."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from api_server import Api
from conftest import BREACH_METRICS, T0, wait_for
from pytest_httpserver import HTTPServer

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ACTION_PATH = "/actions/T0001/12345/abcdef"


def sign(body: bytes, *, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def press(alert_id: str, response_url: str, *, username: str = "alice", text: str = "Alert: High Error Rate") -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": "U123", "username": username, "name": username},
        "actions": [{"action_id": "acknowledge_alert", "value": alert_id, "block_id": "b1", "type": "button"}],
        "response_url": response_url,
        "message": {"text": text, "blocks": []},
        "container": {"type": "message"},
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.fixture(scope="module")
def peers():
    """Two HTTP peers for the module (stopping one waits out its poll interval): Slack's API, and elsewhere."""
    with HTTPServer(host="127.0.0.1") as slack_api, HTTPServer(host="127.0.0.1") as elsewhere:
        yield slack_api, elsewhere


@pytest.fixture
def receiver(peers):
    """Slack's API (``SLACK_API_URL``), where the replacement of a pressed message goes; reset for each test."""
    for peer in peers:
        peer.clear()
    yield peers[0]
    for peer in peers:
        peer.clear()


@pytest.fixture
def elsewhere(peers, receiver):
    """Another server on the same host: not Slack's API."""
    return peers[1]


@pytest.fixture
def slack(cli, receiver):
    assert cli.check(BREACH_METRICS).code == 0
    env = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": receiver.url_for("/api/")}
    with Api(cli, env=env) as server:
        yield cli, server, receiver


def alert_id(cli, rule: str) -> str:
    return next(a["id"] for a in cli("list", "--json").json() if a["ruleId"] == rule)


def received(receiver, count: int) -> list[dict]:
    wait_for(lambda: len(receiver.log) >= count, what=f"{count} post(s) to the response_url")
    return [json.loads(request.get_data()) for request, _ in receiver.log]


def test_acknowledge_button_acknowledges_and_replaces_the_message(slack):
    cli, server, receiver = slack
    receiver.expect_request(ACTION_PATH, method="POST").respond_with_data("ok")
    target = alert_id(cli, "high_error_rate")
    body = press(target, receiver.url_for(ACTION_PATH))
    started = time.monotonic()
    response = server.anon.post("/slack/actions", content=body, headers=sign(body))
    assert response.status_code == 200 and time.monotonic() - started < 3
    shown = cli("show", target, "--json").json()
    assert (shown["status"], shown["acknowledgedBy"], shown["acknowledgedAt"]) == ("acknowledged", "slack:alice", T0)

    (message,) = received(receiver, 1)
    assert message["replace_original"] is True
    assert message["text"] == "Alert: High Error Rate"
    assert message["blocks"][0] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*High Error Rate*\nError rate is 7.34% (threshold: 5%)"},
    }
    assert message["blocks"][1]["elements"][0]["text"] == "Severity: critical | Time: 2025-11-26T12:00:00.000Z"
    assert all(
        element.get("action_id") != "acknowledge_alert"
        for block in message["blocks"]
        for element in block.get("elements", [])
    )
    assert message["blocks"][-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Acknowledged by alice at 2025-11-26 12:00:00 UTC"}],
    }
    assert message["attachments"] == [{"color": "#dc3545", "fallback": "Error rate is 7.34% (threshold: 5%)"}]

    # Pressed again (another user, the old message still on screen): said so, nothing else changes.
    body = press(target, receiver.url_for(ACTION_PATH), username="bob")
    assert server.anon.post("/slack/actions", content=body, headers=sign(body)).status_code == 200
    second = received(receiver, 2)[1]
    assert second["blocks"][-1]["elements"][0]["text"] == (
        "Already acknowledged by slack:alice at 2025-11-26 12:00:00 UTC"
    )
    assert cli("show", target, "--json").json()["acknowledgedBy"] == "slack:alice"


def test_button_on_a_resolved_alert_says_so(slack):
    cli, server, receiver = slack
    receiver.expect_request(ACTION_PATH, method="POST").respond_with_data("ok")
    target = alert_id(cli, "failed_login_attempts")
    assert cli("resolve", target, "--by", "carol").code == 0
    body = press(target, receiver.url_for(ACTION_PATH), text="Reminder: Multiple Failed Login Attempts")
    assert server.anon.post("/slack/actions", content=body, headers=sign(body)).status_code == 200
    (message,) = received(receiver, 1)
    assert message["blocks"][0]["text"]["text"].startswith("*Reminder: Multiple Failed Login Attempts*")
    assert message["blocks"][-1]["elements"][0]["text"] == "Already resolved by carol at 2025-11-26 12:00:00 UTC"
    assert cli("show", target, "--json").json()["acknowledgedAt"] is None


def test_unsigned_stale_or_forged_requests_are_401_and_change_nothing(slack):
    cli, server, receiver = slack
    target = alert_id(cli, "high_error_rate")
    body = press(target, receiver.url_for(ACTION_PATH))
    now = int(time.time())
    refused = {
        "unsigned": {"Content-Type": "application/x-www-form-urlencoded"},
        "forged": sign(body, secret="not-the-secret"),
        "six minutes old": sign(body, timestamp=now - 6 * 60),
        "six minutes ahead": sign(body, timestamp=now + 6 * 60),
        "timestamp not a number": dict(sign(body), **{"X-Slack-Request-Timestamp": "soon"}),
        "signature of another scheme": dict(sign(body), **{"X-Slack-Signature": "v1=00"}),
    }
    for case, headers in refused.items():
        response = server.anon.post("/slack/actions", content=body, headers=headers)
        assert response.status_code == 401, case
        assert response.json() == {"success": False, "message": "invalid, missing or expired Slack signature"}
    assert receiver.log == []
    assert cli("show", target, "--json").json()["status"] == "firing"
    # the same body signed now and with the right secret is accepted: the refusals were the signature's
    receiver.expect_request(ACTION_PATH, method="POST").respond_with_data("ok")
    assert server.anon.post("/slack/actions", content=body, headers=sign(body)).status_code == 200
    assert cli("show", target, "--json").json()["status"] == "acknowledged"


def test_tampered_body_is_401(slack):
    cli, server, receiver = slack
    target = alert_id(cli, "high_error_rate")
    headers = sign(press(target, receiver.url_for(ACTION_PATH)))
    other = press(alert_id(cli, "failed_login_attempts"), receiver.url_for(ACTION_PATH))
    assert server.anon.post("/slack/actions", content=other, headers=headers).status_code == 401
    assert cli("show", alert_id(cli, "failed_login_attempts"), "--json").json()["status"] == "firing"


def test_response_url_elsewhere_is_never_called(slack, elsewhere):
    cli, server, receiver = slack
    elsewhere.expect_request("/steal", method="POST").respond_with_data("ok")
    target = alert_id(cli, "database_connection_issues")
    body = press(target, elsewhere.url_for("/steal"))
    assert server.anon.post("/slack/actions", content=body, headers=sign(body)).status_code == 200
    assert elsewhere.log == [] and receiver.log == []  # the background task has ended
    # the request itself was genuine: the alert is acknowledged
    assert cli("show", target, "--json").json()["acknowledgedBy"] == "slack:alice"
    assert "not posting to response_url on 127.0.0.1" in server.log()


def test_other_buttons_and_malformed_payloads(slack):
    cli, server, receiver = slack
    view = urlencode(
        {"payload": json.dumps({"type": "block_actions", "actions": [{"action_id": "view_dashboard"}]})}
    ).encode()
    assert server.anon.post("/slack/actions", content=view, headers=sign(view)).status_code == 200
    junk = b"payload=%7Bnot-json"
    response = server.anon.post("/slack/actions", content=junk, headers=sign(junk))
    assert response.status_code == 400 and response.json()["success"] is False
    assert all(a["status"] == "firing" for a in cli("list", "--json").json())


def test_without_a_signing_secret_every_request_is_refused(cli):
    assert cli.check(BREACH_METRICS).code == 0
    with Api(cli, env={"SLACK_SIGNING_SECRET": ""}) as server:
        body = press(alert_id(cli, "high_error_rate"), "https://hooks.slack.com/actions/x")
        response = server.anon.post("/slack/actions", content=body, headers=sign(body))
        assert response.status_code == 401
        assert "SLACK_SIGNING_SECRET is not set" in response.json()["message"]
        assert "SLACK_SIGNING_SECRET is not set" in server.log()


def test_allowed_response_urls():
    from pantry_alert.config import Config
    from pantry_alert.http.slack import allowed_response_url

    config = Config(path=None)
    env = {"SLACK_API_URL": "http://127.0.0.1:9000/api/"}
    assert allowed_response_url("https://hooks.slack.com/actions/T/1/x", {}, config)
    assert not allowed_response_url("http://hooks.slack.com/actions/T/1/x", {}, config)
    assert not allowed_response_url("https://hooks.slack.com.evil.example/actions", {}, config)
    assert not allowed_response_url("https://hooks.slack.com@evil.example/actions", {}, config)
    assert not allowed_response_url("https://hooks.slack.com:8443/actions", {}, config)
    assert allowed_response_url("http://127.0.0.1:9000/actions/1", env, config)
    assert not allowed_response_url("http://127.0.0.1:9001/actions/1", env, config)
    assert not allowed_response_url("http://127.0.0.1:9000/actions/1", {}, config)
    assert not allowed_response_url("http://[::1", env, config)

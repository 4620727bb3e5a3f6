"""The webhook channel against pytest-httpserver as the receiver."""

from __future__ import annotations

import copy
import json
import threading
import time

import pytest
from conftest import SAMPLE_ALERT, free_port
from werkzeug import Response

from pantry_alert.errors import ConfigError, DeliveryError
from pantry_alert.notify import webhook
from pantry_alert.notify.base import Message

TOKEN = "whk-Secret-Token-123"

ALERT = SAMPLE_ALERT


def make_message(kind="firing", **alert_changes) -> Message:
    alert = copy.deepcopy(ALERT)
    alert.update(alert_changes)
    return Message(
        kind=kind, alert=alert, idempotency_key=f"{alert['id']}:webhook:{kind}:1", now_ms=1764160060000, version="0.1.0"
    )


def hook(httpserver, path="/hook", **section):
    return webhook.settings({"url": httpserver.url_for(path), **section}, {})


# ---------------------------------------------------------------- settings


def test_settings_from_the_environment_variables():
    s = webhook.settings(None, {"ALERT_WEBHOOK_URL": "https://hooks.example.com/alerts", "ALERT_WEBHOOK_TOKEN": TOKEN})
    assert (s.url, s.token, s.headers, s.timeout) == ("https://hooks.example.com/alerts", TOKEN, (), 10.0)
    assert s.secrets() == [TOKEN]
    assert s.describe() == "POST https://hooks.example.com/alerts (bearer token)"
    assert TOKEN not in repr(s)
    assert webhook.settings(None, {}) is None
    assert webhook.settings(None, {"ALERT_WEBHOOK_TOKEN": TOKEN}) is None


def test_section_keys_and_fallback():
    s = webhook.settings(
        {
            "url": "http://receiver.internal:8080/in",
            "headers": {"X-Team": "ops", "X-Api-Key": "k3y-value"},
            "timeout": "2s",
        },
        {"ALERT_WEBHOOK_URL": "http://ignored", "ALERT_WEBHOOK_TOKEN": TOKEN},
    )
    assert (s.url, s.token, s.timeout) == ("http://receiver.internal:8080/in", TOKEN, 2.0)
    assert s.headers == (("X-Team", "ops"), ("X-Api-Key", "k3y-value"))
    assert "k3y-value" in s.secrets() and "ops" not in s.secrets()
    assert s.describe() == "POST http://receiver.internal:8080/in (bearer token; headers: X-Team, X-Api-Key)"


def test_url_secrets_are_kept_out_of_descriptions():
    s = webhook.settings({"url": "https://bob:pa55word@hooks.example.com/in?sig=abcdef123#frag"}, {})
    assert s.describe() == "POST https://hooks.example.com/in?…"
    assert {"pa55word", "abcdef123"} <= set(s.secrets())


@pytest.mark.parametrize(
    "section, needle",
    [
        ({"url": "hooks.example.com/in"}, "invalid webhook URL"),
        ({"url": "ftp://x/y"}, "invalid webhook URL"),
        ({"url": "https://x/y", "headers": ["X-A: b"]}, "must be a mapping"),
        ({"url": "https://x/y", "headers": {"Content-Type": "text/plain"}}, "set by pantry-alert"),
        ({"url": "https://x/y", "headers": {"Idempotency-Key": "1"}}, "set by pantry-alert"),
        ({"url": "https://x/y", "headers": {"X-A": "b\r\nX-Evil: 1"}}, "line break"),
        ({"url": "https://x/y", "headers": {"Bad Name": "v"}}, "invalid header name"),
        ({"url": "https://x/y", "timeout": "-1s"}, "invalid timeout"),
        ({"url": "https://x/y", "secret": "x"}, "unknown key(s) secret"),
    ],
)
def test_invalid_section_is_a_config_error(section, needle):
    with pytest.raises(ConfigError) as info:
        webhook.settings(section, {})
    assert needle in str(info.value)


def test_invalid_url_error_hides_userinfo():
    with pytest.raises(ConfigError) as info:
        webhook.settings({"url": "htp://bob:pa55word@x/y"}, {})
    assert "pa55word" not in str(info.value)


# ---------------------------------------------------------------- sending


def test_post_exact_headers_and_body(httpserver):
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("", status=204)
    s = hook(httpserver, token=TOKEN, headers={"X-Team": "ops"})
    webhook.send(s, make_message())
    [(request, _)] = httpserver.log
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Idempotency-Key"] == "high_error_rate_1764160000000:webhook:firing:1"
    assert request.headers["X-Team"] == "ops"
    assert request.headers["User-Agent"] == "pantry-alert/0.1.0"
    assert json.loads(request.get_data()) == {
        "alert": ALERT,
        "timestamp": 1764160060000,
        "service": "kitchen-pantry-crm",
        "version": "0.1.0",
        "event": "firing",
    }


def test_no_token_no_authorization_header_and_event_kinds(httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    for kind in ("reminder", "escalated", "resolved", "test"):
        webhook.send(hook(httpserver), make_message(kind))
    assert [json.loads(r.get_data())["event"] for r, _ in httpserver.log] == [
        "reminder",
        "escalated",
        "resolved",
        "test",
    ]
    assert all("Authorization" not in r.headers for r, _ in httpserver.log)


def test_configured_authorization_header_is_used_without_token(httpserver):
    httpserver.expect_oneshot_request("/hook", headers={"Authorization": "Basic dTpw"}).respond_with_data("ok")
    webhook.send(hook(httpserver, headers={"Authorization": "Basic dTpw"}), make_message())
    assert len(httpserver.log) == 1


def test_non_finite_numbers_become_null(httpserver):
    httpserver.expect_oneshot_request("/hook").respond_with_data("ok")
    webhook.send(hook(httpserver), make_message(metadata={"metrics": {"errorRate": float("nan")}}))
    body = httpserver.log[0][0].get_data()
    assert json.loads(body)["alert"]["metadata"]["metrics"] == {"errorRate": None}


def test_server_error_is_retryable(httpserver):
    httpserver.expect_request("/hook").respond_with_data("database down", status=500)
    with pytest.raises(DeliveryError) as info:
        webhook.send(hook(httpserver), make_message())
    assert str(info.value) == f"webhook {httpserver.url_for('/hook')}: HTTP 500 INTERNAL SERVER ERROR: database down"
    assert info.value.retryable is True


@pytest.mark.parametrize(
    "status, retryable", [(400, False), (401, False), (404, False), (410, False), (408, True), (503, True), (302, True)]
)
def test_status_codes_and_retryability(httpserver, status, retryable):
    httpserver.expect_request("/hook").respond_with_data("", status=status, headers={"Location": "/elsewhere"})
    with pytest.raises(DeliveryError) as info:
        webhook.send(hook(httpserver), make_message())
    assert f"HTTP {status}" in str(info.value)
    assert info.value.retryable is retryable
    assert len(httpserver.log) == 1  # redirects are not followed


def test_rate_limit_honours_retry_after(httpserver):
    httpserver.expect_request("/hook").respond_with_data("slow down", status=429, headers={"Retry-After": "120"})
    with pytest.raises(DeliveryError) as info:
        webhook.send(hook(httpserver), make_message())
    assert info.value.retryable is True
    assert info.value.retry_after_ms == 120_000
    assert "HTTP 429 TOO MANY REQUESTS: slow down (retry after 120s)" in str(info.value)


def test_hanging_receiver_times_out(httpserver):
    release = threading.Event()
    calls = []

    def hang(request):
        calls.append(request.path)
        release.wait(5)
        return Response("late")

    httpserver.expect_request("/hook").respond_with_handler(hang)
    try:
        started = time.monotonic()
        with pytest.raises(DeliveryError) as info:
            webhook.send(hook(httpserver, timeout="200ms"), make_message())
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert str(info.value) == f"webhook {httpserver.url_for('/hook')}: timed out after 0.2s"
    assert info.value.retryable is True
    assert len(calls) == 1 and elapsed < 3  # the channel's timeout, one attempt


def test_connection_refused_is_retryable():
    s = webhook.settings({"url": f"http://127.0.0.1:{free_port()}/hook", "timeout": "1s"}, {})
    with pytest.raises(DeliveryError) as info:
        webhook.send(s, make_message())
    assert info.value.retryable is True
    assert (
        str(info.value)
        == f"webhook {s.url}: cannot connect: connection refused (nothing listens on that host and port?)"
    )


def echo(request):  # a receiver that echoes the request back in its error
    return Response(
        f"bad {request.headers.get('Authorization')} {request.headers.get('X-Api-Key')} "
        f"{request.url} " + json.dumps(dict(request.headers)),
        status=401,
    )


def test_token_never_appears_in_errors(httpserver):
    httpserver.expect_request("/hook").respond_with_handler(echo)
    with pytest.raises(DeliveryError) as info:
        webhook.send(hook(httpserver, token=TOKEN), make_message())
    assert TOKEN not in str(info.value)
    assert "bad Bearer *** None" in str(info.value)
    assert info.value.retryable is False


def test_url_and_header_secrets_never_appear_in_errors(httpserver):
    httpserver.expect_request("/hook").respond_with_handler(echo)
    url = httpserver.url_for("/hook").replace("://", "://bob:pa55word@") + "?sig=querysecret9"
    s = webhook.settings({"url": url, "headers": {"X-Api-Key": "apikey-777"}}, {})
    with pytest.raises(DeliveryError) as info:
        webhook.send(s, make_message())
    text = str(info.value)
    assert text.startswith(f"webhook {httpserver.url_for('/hook')}?…: HTTP 401 UNAUTHORIZED: bad Basic *** *** ")
    for secret in ("pa55word", "Ym9iOnBhNTV3b3Jk", "querysecret9", "apikey-777"):  # Ym9i... = base64("bob:pa55word")
        assert secret not in text


def test_userinfo_and_token_together_are_a_config_error():
    with pytest.raises(ConfigError) as info:
        webhook.settings({"url": "https://bob:pa55word@x.example/in", "token": TOKEN}, {})
    assert "use one or the other" in str(info.value)
    assert "pa55word" not in str(info.value) and TOKEN not in str(info.value)


def test_a_secret_cut_by_truncation_is_still_scrubbed(httpserver):
    httpserver.expect_request("/hook").respond_with_data("x" * 190 + TOKEN, status=400)
    with pytest.raises(DeliveryError) as info:
        webhook.send(hook(httpserver, token=TOKEN), make_message())
    assert TOKEN[:8] not in str(info.value)

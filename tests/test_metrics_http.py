"""Metrics from a real local HTTP server (pytest-httpserver)."""

from __future__ import annotations

import json
import threading

import pytest
from conftest import SIMPLE_CONFIG, T0
from werkzeug import Response

from pantry_alert import metrics
from pantry_alert.errors import MetricsError


def url_config(cli, url, extra="", timeout="1s"):
    cli.config.write_text(
        SIMPLE_CONFIG.format(severity="high", cooldown="10m") + f"source:\n  url: {url}\n  timeout: {timeout}\n{extra}"
    )


def test_check_reads_source_url_with_headers_and_path(simple, httpserver):
    httpserver.expect_request("/api/metrics", headers={"Authorization": "Bearer tok-123"}).respond_with_json(
        {"success": True, "data": {"cpu": 93}}
    )
    url_config(
        simple,
        httpserver.url_for("/api/metrics"),
        '  headers: {Authorization: "Bearer ${METRICS_TOKEN}"}\n  path: data\n',
    )
    result = simple("check", env={"METRICS_TOKEN": "tok-123"})
    assert result.code == 0, result.err
    assert result.out.startswith(f"FIRED     cpu_high_{T0} [high] CPU High: CPU at 93%\n")


def test_command_line_url_wins_over_source(simple, httpserver):
    httpserver.expect_request("/other").respond_with_json({"cpu": 99})
    url_config(simple, "http://127.0.0.1:9/never")
    result = simple("check", "--metrics-url", httpserver.url_for("/other"))
    assert result.code == 0 and "CPU at 99%" in result.out


def test_http_500_is_exit_3_with_status(simple, httpserver):
    httpserver.expect_request("/m").respond_with_data("boom", status=500)
    url = httpserver.url_for("/m")
    result = simple("check", "--metrics-url", url)
    assert result.code == 3
    assert f"error: metrics URL {url}: HTTP 500 INTERNAL SERVER ERROR" in result.err


def test_malformed_json_from_url_is_exit_3(simple, httpserver):
    httpserver.expect_request("/m").respond_with_data('{"cpu": ', content_type="application/json")
    url = httpserver.url_for("/m")
    result = simple("check", "--metrics-url", url)
    assert result.code == 3
    assert f"error: metrics URL {url}: malformed JSON at line 1, column 9: Expecting value" in result.err


@pytest.mark.slow
def test_timeout_is_exit_3(simple, httpserver):
    release = threading.Event()

    def slow(_request):
        release.wait(5)
        return Response(json.dumps({"cpu": 1}), content_type="application/json")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    url_config(simple, httpserver.url_for("/slow"), timeout="0.2s")
    try:
        result = simple("check")
    finally:
        release.set()
    assert result.code == 3
    assert f"error: metrics URL {httpserver.url_for('/slow')}: no answer within 0.2s (source.timeout)" in result.err


def test_library_read_url_and_connection_refused():
    with pytest.raises(MetricsError) as info:
        metrics.read_url("http://127.0.0.1:9/m", timeout_s=1)
    assert info.value.message == (
        "metrics URL http://127.0.0.1:9/m: connection refused (nothing listens on that host and port?)"
    )


def test_credentials_and_query_in_url_never_reach_messages_or_state(simple, httpserver):
    httpserver.expect_request("/m").respond_with_data("nope", status=404)
    url = httpserver.url_for("/m").replace("http://", "http://user:hunter2@") + "?api_key=TOPSECRET123"
    with pytest.raises(MetricsError) as info:
        metrics.read_url(url, timeout_s=2)
    assert info.value.message == f"metrics URL {httpserver.url_for('/m')}?…: HTTP 404 NOT FOUND"
    outputs = [simple("check", "--metrics-url", url, now=T0 + i) for i in range(3)]  # the 3rd fires the built-in alert
    assert [r.code for r in outputs] == [3, 3, 3]
    assert outputs[2].out.startswith("FIRED     metrics_source_unavailable_")
    for secret in ("hunter2", "TOPSECRET123"):
        assert secret.encode() not in simple.db.read_bytes()
        assert all(secret not in r.out + r.err for r in outputs)

"""The one http(s) URL check every URL setting and every notification link goes through."""

from __future__ import annotations

import pytest

from pantry_alert.urls import is_http_url


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "https://example.com/runbooks/cpu?tab=1#top",
        "HTTPS://Example.com/",
        "http://127.0.0.1:1/",
        "http://[::1]:65535/metrics",
        "https://user:pw@hooks.example.com/x",
    ],
)
def test_absolute_http_urls_pass(url):
    assert is_http_url(url) is True


@pytest.mark.parametrize(
    "url",
    [
        None,
        42,
        "",
        "example.com/x",
        "/runbooks/cpu",
        "ftp://example.com/",
        "javascript:alert(1)",
        "http://",
        "http:///path",
        "http://exa mple.com/",
        "http://example.com/a b",
        " http://example.com/",
        "http://example.com/\n",
        "http://example.com:0/",
        "http://example.com:65536/",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://[::1/",
    ],
)
def test_anything_else_fails(url):
    assert is_http_url(url) is False


def test_a_port_out_of_range_is_a_config_error(cli):
    cli.config.write_text(cli.config.read_text() + "dashboard_url: http://grafana.example:70000/d/x\n")
    result = cli("rules", "list")
    assert result.code == 2
    assert (
        "dashboard_url: 'http://grafana.example:70000/d/x' is not a valid URL (the port '70000' is not a number from 1 "
        "to 65535)" in result.err
    )

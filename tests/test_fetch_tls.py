"""Outbound HTTPS: one certificate store per process, chosen by SSL_CERT_FILE as httpx would choose it."""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer
from test_channel_email import TLSFiles

from pantry_alert import fetch


@pytest.fixture(scope="module")
def https(tmp_path_factory):
    files = TLSFiles(tmp_path_factory.mktemp("tls"))
    server = HTTPServer(host="127.0.0.1", ssl_context=files.server_context())
    server.expect_request("/m").respond_with_json({"cpu": 1})
    server.start()
    yield files, server.url_for("/m")
    server.stop()


def test_a_private_ca_in_ssl_cert_file_is_trusted_and_its_store_is_read_once(https, monkeypatch):
    files, url = https
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", files.ca_file)
    first = fetch.tls_context()
    reply = fetch.fetch("GET", url, timeout_s=5)
    assert (reply.status, json.loads(reply.body)) == (200, {"cpu": 1})
    assert fetch.tls_context() is first  # kept for the next client, not read again

    monkeypatch.delenv("SSL_CERT_FILE")  # the public roots: the test CA is not among them
    with pytest.raises(fetch.FetchError) as info:
        fetch.fetch("GET", url, timeout_s=5)
    assert "TLS certificate verification failed" in str(info.value)
    assert fetch.tls_context() is not first

"""Every outbound HTTP peer against the same hostile peers, with the same outcome.

The peers: the metrics URL, the Prometheus source, and every channel of the
registry that speaks HTTP.  A channel added to the registry fails
``test_every_registered_channel_is_walked`` until it is given a factory here,
so no new peer skips these checks.  Each hostile peer must end in a failure
within the deadline (plus a little), with bounded memory, no secret in the
message, and no request ever reaching the host a redirect points at.
"""

from __future__ import annotations

import functools
import gzip
import time
from types import SimpleNamespace

import pytest
from conftest import SAMPLE_ALERT
from hostile_peers import RawServer

from pantry_alert.errors import DeliveryError, MetricsError
from pantry_alert.notify import registry
from pantry_alert.notify.base import Message

SECRET = "key-hostile-5e3ret"
DEADLINE = 0.5  # seconds: the trickling peer's total budget here (the outcome is the timeout)
PATIENT = 15.0  # seconds: the other peers' budget (their outcome must not be the timeout)
# Channels that do not speak HTTP, and where their hostile peers are tested.
NOT_HTTP = {
    "email": "tests/test_hostile_smtp.py",
    "console": "writes to a local stream",
    "apprise": "Apprise's own HTTP clients, bounded by delivery's deadline (docs/security.md)",
}


def message() -> Message:
    return Message(kind="firing", alert=dict(SAMPLE_ALERT), idempotency_key="k:1", now_ms=1764160060000)


def metrics_url(url: str, deadline: float) -> None:
    from pantry_alert import metrics

    metrics.read_url(url, timeout_s=deadline, headers={"X-Api-Key": SECRET})


def prometheus(url: str, deadline: float) -> None:
    from pantry_alert import prometheus as source

    config = SimpleNamespace(
        url=url, timeout_ms=int(deadline * 1000), headers={"X-Api-Key": SECRET}, queries={"a": "up", "b.c": "up"}
    )
    source.read(config, now_ms=1764160060000)


def channel(name: str, section: dict, url_key: str, suffix: str = ""):
    def attempt(url: str, deadline: float) -> None:
        module = registry.channel_module(name)
        settings = module.settings({**section, url_key: url + suffix, "timeout": f"{deadline}s"}, {})
        module.send(settings, message())

    return attempt


PEERS = {
    "metrics": metrics_url,
    "prometheus": prometheus,
    "webhook": channel("webhook", {"token": SECRET}, "url"),
    "slack": channel("slack", {"token": SECRET, "channel": "#a"}, "api_url", "/api/"),
    "slack-webhook": channel("slack", {}, "webhook_url"),
    "alertmanager": channel("alertmanager", {"headers": {"X-Api-Key": SECRET}}, "urls"),
    "pagerduty": channel("pagerduty", {"routing_key": SECRET}, "url", "/v2/enqueue"),
    "ntfy": channel("ntfy", {"topic": "alerts", "token": SECRET}, "url"),
    "teams": channel("teams", {}, "webhook_url", f"/workflows/1/invoke?sig={SECRET}"),
    "telegram": channel("telegram", {"bot_token": SECRET, "chat_id": "1"}, "api_url"),
    "discord": channel("discord", {}, "webhook_url", f"/api/webhooks/1/{SECRET}"),
}


def test_every_registered_channel_is_walked():
    walked = {name.split("-")[0] for name in PEERS}
    missing = [name for name in registry.CHANNEL_NAMES if name not in walked and name not in NOT_HTTP]
    assert missing == [], f"add a factory to PEERS for the new channel(s) {missing}"


def _headers_then(conn, head: bytes, body_chunks) -> None:
    conn.sendall(head)
    for chunk in body_chunks:
        conn.sendall(chunk)


def trickle(conn, server) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 400:
        conn.sendall(bytes([byte]))
        time.sleep(0.02)


def endless(conn, server) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    chunk = b"[" + b"1," * 32768
    _headers_then(conn, head, iter(lambda: chunk, None))


@functools.cache
def bomb() -> bytes:
    """64 MiB of zeros, ~64 KiB compressed; made by the first test that serves it, not at collection."""
    return gzip.compress(b"0" * (64 * 1024 * 1024), 9)


def gzip_bomb(conn, server) -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: " + str(len(bomb())).encode() + b"\r\n\r\n"
    )
    _headers_then(conn, head, [bomb()])


@pytest.fixture
def elsewhere():
    """The host a redirect points at: it must never receive a request."""
    server = RawServer(lambda conn, srv: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
    yield server
    server.stop()


HOSTILE = {"trickle": trickle, "endless": endless, "gzip-bomb": gzip_bomb}


@pytest.mark.slow
def test_every_peer_against_a_trickling_peer_at_once(elsewhere):
    """The trickle for every peer at the same time: each waits out its own deadline, so one at a
    time would cost the suite the sum of them.  Each must stop at its deadline all the same."""
    from concurrent.futures import ThreadPoolExecutor

    from pantry_alert import fetch

    fetch.tls_context()  # httpx imported and the certificate store read before the clocks start
    for name in registry.CHANNEL_NAMES:
        if name not in NOT_HTTP:
            registry.channel_module(name)
    with ThreadPoolExecutor(len(PEERS)) as pool:
        outcomes = {peer: pool.submit(attempt, peer, "trickle", elsewhere) for peer in PEERS}
    for peer, outcome in outcomes.items():
        check(peer, "trickle", *outcome.result(), elsewhere)


@pytest.mark.parametrize("peer", sorted(PEERS))
@pytest.mark.parametrize("hostile", [*sorted(h for h in HOSTILE if h != "trickle"), "redirect"])
def test_hostile_peer_is_a_bounded_scrubbed_failure(peer, hostile, elsewhere):
    check(peer, hostile, *attempt(peer, hostile, elsewhere), elsewhere)


def attempt(peer: str, hostile: str, elsewhere: RawServer) -> tuple[float, str, RawServer]:
    """Call ``peer`` against a ``hostile`` server: (seconds taken, the error's text, the server)."""
    if hostile == "redirect":
        target = elsewhere.url("/steal").encode()

        def handler(conn, server):
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: " + target + b"\r\nContent-Length: 0\r\n\r\n")
    else:
        handler = HOSTILE[hostile]
    server = RawServer(handler)
    try:
        started = time.monotonic()
        with pytest.raises((MetricsError, DeliveryError)) as info:
            PEERS[peer](server.url(""), DEADLINE if hostile == "trickle" else PATIENT)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    return elapsed, str(info.value), server


def check(peer: str, hostile: str, elapsed: float, text: str, server: RawServer, elsewhere: RawServer) -> None:
    deadline = DEADLINE if hostile == "trickle" else PATIENT
    assert elapsed < deadline + 2.0, f"{peer} against {hostile}: {elapsed:.2f}s ({text})"
    assert SECRET not in text
    assert elsewhere.requests == []
    assert server.requests, f"the hostile peer was asked ({text})"
    expected = {
        "trickle": "within",
        "endless": "larger than",
        "gzip-bomb": "larger than",
        "redirect": "does not follow",
    }[hostile]
    if hostile == "trickle":
        assert "within" in text or "timed out after" in text, text
    else:
        assert expected in text, text

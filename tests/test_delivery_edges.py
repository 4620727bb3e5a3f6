"""Delivery end to end, the edges: a send that outlasts its timeout, a bug inside a channel,
a notice whose alert is gone."""

from __future__ import annotations

import socket
import sqlite3
import threading
from contextlib import closing

import pytest
from conftest import MINUTE, T0
from delivery_world import ALERT_ID, BREACH, FIRED_LINE, HEALTHY, notifications, rows, sent, status


class Tarpit:
    """An HTTP peer that answers ``200 OK`` with a long body and then drips it, one byte every
    0.05 s, until stopped: every read of the client gets a byte well within any timeout, so a
    timeout per read never fires and the request as a whole never finishes."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connected = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                self.connected.set()
                try:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n")
                    while not self.stop.wait(0.05):
                        conn.sendall(b".")
                except OSError:  # the client gave up
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def tarpit():
    peer = Tarpit()
    yield peer
    peer.close()


@pytest.mark.slow
def test_a_send_outlasting_its_timeout_is_cut_off_at_the_deadline_and_retried(world, tarpit):
    # The webhook alone: the run waits for the slowest channel's timeout (plus a grace period, shortened here).
    world.config(channels=("webhook",), sections="channels:\n  webhook:\n    timeout: 200ms\n")
    result = world.check(env={"ALERT_WEBHOOK_URL": tarpit.url(), "PANTRY_ALERT_GRACE_SECONDS": "0.1"})
    # The run returned while the webhook's request was still being answered, byte by byte.
    assert tarpit.connected.is_set() and tarpit.thread.is_alive()
    error = f"webhook {tarpit.url()}: timed out after 0.2s"  # the channel's own total deadline
    assert (result.code, result.out) == (1, FIRED_LINE)
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to webhook failed (will retry): {error}\n"
    assert notifications(world.db) == [("webhook", "firing", "failed", 1, error, None, T0 + MINUTE)]
    # no answer came back: it may have arrived, so it keeps the mark of its hand-off
    assert rows(world.db, "SELECT handed_at FROM notifications") == [(T0,)]
    tarpit.close()

    # The receiver answers again: the next run sends it, once.
    result = world.check(now=T0 + MINUTE)
    assert (result.code, result.out, result.err) == (0, "", "")
    [post] = world.hook.received
    assert (post.body["event"], post.body["alert"]["id"]) == ("firing", ALERT_ID)
    assert post.headers["Idempotency-Key"] == world.keys("webhook")[0]
    assert notifications(world.db) == [("webhook", "firing") + sent(T0 + MINUTE, attempts=2)]
    assert rows(world.db, "SELECT handed_at FROM notifications") == [(None,)]
    assert world.mailbox.messages == [] and world.slack.received == []


@pytest.mark.slow
def test_a_send_cut_off_at_its_deadline_then_silenced_is_recorded_as_outcome_unknown(world, tarpit):
    world.config(channels=("webhook",), sections="channels:\n  webhook:\n    timeout: 200ms\n")
    env = {"ALERT_WEBHOOK_URL": tarpit.url(), "PANTRY_ALERT_GRACE_SECONDS": "0.1"}
    assert world.check(env=env).code == 1  # the request went out; its answer never came
    assert rows(world.db, "SELECT status, attempts, handed_at FROM notifications") == [("failed", 1, T0)]
    tarpit.close()
    assert world.cli("silence", "add", "cpu_high", "--for", "1h").code == 0
    result = world.check(now=T0 + MINUTE)
    assert (result.code, result.err) == (0, "")
    reason = (
        "outcome unknown: it may have arrived (handed to the channel, but the run was stopped or the answer came "
        "too late); not sent again: the rule is silenced: not notified"
    )
    assert notifications(world.db) == [("webhook", "firing", "unknown", 1, reason, None, None)]
    assert world.hook.received == []


def test_a_bug_inside_a_channel_keeps_its_notice_for_retry_and_the_others_still_go(world, monkeypatch):
    """No peer makes the webhook channel crash, so a bug is planted in the request it builds."""
    from pantry_alert.notify import webhook

    real_build = webhook.build_headers

    def broken_build(*args, **kwargs):
        raise RuntimeError("the HTTP client broke")

    monkeypatch.setattr(webhook, "build_headers", broken_build)
    result = world.check()
    error = "RuntimeError: the HTTP client broke"
    assert (result.code, result.out) == (1, FIRED_LINE)
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to webhook failed (will retry): {error}\n"
    assert len(world.mailbox.messages) == 1 and len(world.slack.received) == 1 and world.hook.received == []
    assert notifications(world.db) == [
        ("email", "firing") + sent(),
        ("slack", "firing") + sent(),
        ("webhook", "firing", "failed", 1, error, None, T0 + MINUTE),
    ]

    monkeypatch.setattr(webhook, "build_headers", real_build)  # the bug is fixed
    result = world.check(now=T0 + MINUTE)
    assert (result.code, result.out, result.err) == (0, "", "")
    assert len(world.hook.received) == 1
    assert notifications(world.db)[2] == ("webhook", "firing") + sent(T0 + MINUTE, attempts=2)


def test_a_notice_whose_alert_is_gone_is_skipped_not_sent(world):
    world.hook.then(status(500, "database down"))
    result = world.check(BREACH)
    assert (result.code, result.out) == (1, FIRED_LINE)
    # The alert disappears from the database (by hand) while its webhook notice waits for a retry.
    with closing(sqlite3.connect(world.db)) as conn, conn:
        conn.execute("DELETE FROM alerts WHERE id = ?", (ALERT_ID,))

    result = world.check(HEALTHY, "--json", now=T0 + MINUTE)
    assert (result.code, result.err) == (0, "")
    assert result.json()["notifications"] == {"sent": 0, "failed": 0, "deferred": 0, "skipped": 1}
    assert len(world.hook.received) == 1  # only the first, failed, attempt
    assert notifications(world.db)[2] == ("webhook", "firing", "skipped", 1, "the alert no longer exists", None, None)

    result = world.check(HEALTHY, now=T0 + 10 * MINUTE)  # nothing left to send
    assert (result.code, result.out, result.err, len(world.hook.received)) == (0, "", "", 1)

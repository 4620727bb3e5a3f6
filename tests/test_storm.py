"""Alert storms: hundreds of notices in one run, against real receivers.

Bounded connections per channel, every notice exactly once (or, after a
SIGKILL, again only when its outcome had not been recorded), one alert's
notices in order, and the run's delivery budget.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from conftest import MINUTE, T0, Cli, Mailbox, free_port, rows, smtp_authenticator

ALERTS = 100  # 200 notices (firing, then resolved) through LIMIT connections
LIMIT = 4


class Receiver:
    """A webhook receiver (HTTP/1.1, keep-alive) that counts open connections and requests
    in progress, records every request in arrival order, and can fail or hold requests."""

    def __init__(self, delay: float = 0.002):
        receiver = self
        self.lock = threading.Lock()
        self.delay = delay
        self.fail_first = 0  # answer the first N requests with 500
        self.hold_after: int | None = None  # requests after the Nth wait for `released`
        self.released = threading.Event()
        self.connections = self.peak_connections = 0
        self.active = self.peak_active = 0
        self.count = 0
        self.answered = 0
        self.held = 0
        self.received: list[tuple[str, str, str, int]] = []  # (key, event, alert id, status) once answered
        self.arrivals: list[str] = []  # the Idempotency-Key of every request, as it arrives

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with receiver.lock:
                    receiver.connections += 1
                    receiver.peak_connections = max(receiver.peak_connections, receiver.connections)

            def finish(self):
                try:
                    super().finish()
                finally:
                    with receiver.lock:
                        receiver.connections -= 1

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.active += 1
                    receiver.peak_active = max(receiver.peak_active, receiver.active)
                    receiver.count += 1
                    number = receiver.count
                    receiver.arrivals.append(self.headers["Idempotency-Key"])
                    hold = receiver.hold_after is not None and number > receiver.hold_after
                    if hold:
                        receiver.held += 1
                try:
                    if hold:
                        receiver.released.wait(30)
                    time.sleep(receiver.delay)
                    status = 500 if number <= receiver.fail_first else 200
                    with receiver.lock:
                        receiver.received.append(
                            (self.headers["Idempotency-Key"], body["event"], body["alert"]["id"], status)
                        )
                        receiver.answered += 1
                finally:
                    with receiver.lock:
                        receiver.active -= 1
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 64

            def handle_error(self, request, client_address):
                pass  # a client killed mid-request

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def events_by_alert(self, statuses=(200,)) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for _key, event, alert_id, status in self.received:
            if status in statuses:
                out[alert_id].append(event)
        return out


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def storm_config(count: int = ALERTS, sections: str = "", channel: str = "webhook") -> str:
    rules = "\n".join(
        f"  - {{id: r{i:03d}, name: Rule {i}, type: performance, severity: high, when: m{i} > 0, "
        f"cooldown: 1h, channels: [{channel}], description: 'm{i} is {{{{ m{i} }}}}'}}"
        for i in range(count)
    )
    return f"{sections}\nrules:\n{rules}\n"


def storm(tmp_path: Path, url: str, sections: str = "", count: int = ALERTS) -> Cli:
    cli = Cli(tmp_path)
    cli.config.write_text(storm_config(count, sections))
    cli.env["ALERT_WEBHOOK_URL"] = url
    return cli


def firing(count: int = ALERTS) -> dict:
    return {f"m{i}": 1 for i in range(count)}


def healthy(count: int = ALERTS) -> dict:
    return {f"m{i}": 0 for i in range(count)}


def limit_section(limit: int = LIMIT) -> str:
    return f"channels:\n  webhook:\n    max_parallel: {limit}\n"


@pytest.mark.slow
def test_a_storm_keeps_to_the_limit_and_delivers_each_notice_once_in_order(tmp_path, receiver):
    # Run 1: the receiver is down, so every firing notice fails and is due again at +1 min.
    cli = storm(tmp_path, f"http://127.0.0.1:{free_port()}/hook", limit_section())
    first = cli.check(firing(), now=T0)
    assert first.code == 1 and first.err.count("failed (will retry)") == ALERTS
    # Run 2: the receiver is up and every alert resolves: each alert's firing retry and its
    # resolved notice are due in the same run, 400 notices in all.
    cli.env["ALERT_WEBHOOK_URL"] = receiver.url
    result = cli.check(healthy(), "--json", now=T0 + MINUTE)
    assert result.code == 0, result.err
    assert result.json()["notifications"] == {"sent": 2 * ALERTS, "failed": 0, "deferred": 0, "skipped": 0}

    assert 2 <= receiver.peak_active <= LIMIT
    assert 1 <= receiver.peak_connections <= LIMIT
    keys = [key for key, *_ in receiver.received]
    stored = rows(cli.db, "SELECT idempotency_key, kind, alert_id, status FROM notifications ORDER BY id")
    assert Counter(keys) == Counter(key for key, *_ in stored)  # every notice once, none twice
    assert {status for *_, status in stored} == {"sent"}
    sent_events = receiver.events_by_alert()
    assert len(sent_events) == ALERTS
    assert all(events == ["firing", "resolved"] for events in sent_events.values())


@pytest.mark.slow
def test_retries_after_a_failing_start_keep_each_alerts_order(tmp_path, receiver):
    receiver.fail_first = 50
    cli = storm(tmp_path, receiver.url, limit_section())
    result = cli.check(firing(), "--json", now=T0)
    assert result.code == 1
    assert result.json()["notifications"] == {"sent": ALERTS - 50, "failed": 50, "deferred": 0, "skipped": 0}
    failed = {alert for _k, _e, alert, status in receiver.received if status == 500}
    assert len(failed) == 50

    result = cli.check(healthy(), "--json", now=T0 + MINUTE)  # the retries are due; every alert resolves
    assert result.code == 0, result.err
    assert result.json()["notifications"] == {"sent": ALERTS + 50, "failed": 0, "deferred": 0, "skipped": 0}
    assert receiver.peak_active <= LIMIT and receiver.peak_connections <= LIMIT
    everything = receiver.events_by_alert(statuses=(200, 500))
    for alert_id, events in everything.items():
        expected = ["firing", "firing", "resolved"] if alert_id in failed else ["firing", "resolved"]
        assert events == expected, alert_id
    # a retry carries the key of its first attempt
    attempts = defaultdict(list)
    for key, event, alert_id, _status in receiver.received:
        attempts[(alert_id, event)].append(key)
    assert all(len(set(keys)) == 1 for keys in attempts.values())
    assert rows(cli.db, "SELECT kind, attempts, COUNT(*) FROM notifications GROUP BY kind, attempts") == [
        ("firing", 1, ALERTS - 50),
        ("firing", 2, 50),
        ("resolved", 1, ALERTS),
    ]


@pytest.mark.slow
def test_sigkill_in_a_storm_repeats_only_the_sends_whose_outcome_was_not_recorded(tmp_path, receiver):
    receiver.hold_after = 60  # the 61st request on hangs until released
    cli = storm(tmp_path, receiver.url, limit_section())
    proc = cli.popen("check", "--metrics-file", str(cli.metrics(firing())), now=T0)
    try:
        deadline = time.monotonic() + 30
        # every worker hangs in a request, and the 60 answered outcomes are committed
        while not (
            receiver.held == LIMIT
            and receiver.answered == 60
            and cli.db.exists()
            and rows(cli.db, "SELECT COUNT(*) FROM notifications WHERE status = 'sent'") == [(60,)]
        ):
            assert time.monotonic() < deadline, (receiver.held, receiver.answered)
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    assert proc.returncode == -9
    recorded = {key for (key,) in rows(cli.db, "SELECT idempotency_key FROM notifications WHERE status = 'sent'")}
    assert rows(cli.db, "SELECT status, COUNT(*) FROM notifications GROUP BY status") == [
        ("pending", ALERTS - 60),
        ("sent", 60),
    ]
    in_flight_at_kill = set(receiver.arrivals[60:])  # arrived, never answered
    assert len(in_flight_at_kill) == LIMIT
    receiver.hold_after = None
    receiver.released.set()

    result = cli.check(firing(), now=T0)  # same time: nothing new fires, the backlog goes
    assert (result.code, result.out, result.err) == (0, "", "")
    times = Counter(receiver.arrivals)
    stored = {key for (key,) in rows(cli.db, "SELECT idempotency_key FROM notifications")}
    assert set(times) == stored and len(stored) == ALERTS  # nothing lost
    repeated = {key for key, n in times.items() if n > 1}
    assert all(n <= 2 for n in times.values())
    assert not repeated & recorded  # a recorded outcome is never sent again
    assert repeated <= stored - recorded
    assert repeated == in_flight_at_kill and len(repeated) == LIMIT  # the hung sends go again, same key
    assert rows(cli.db, "SELECT status, COUNT(*) FROM notifications GROUP BY status") == [("sent", ALERTS)]


@pytest.mark.slow
def test_what_the_delivery_budget_leaves_waits_in_order_for_the_next_run(tmp_path, receiver):
    receiver.delay = 0.1  # two at a time: 12 sends need at least 0.6 s, twice the budget
    count = 12
    sections = "state:\n  delivery_budget: 300ms\n" + limit_section(2)
    cli = storm(tmp_path, receiver.url, sections, count=count)
    result = cli.check(firing(count), "--json", now=T0)
    assert result.code == 0, result.err
    notifications = result.json()["notifications"]
    left = notifications.get("leftPending")
    assert left and notifications["sent"] + left == count, notifications
    assert result.err == (
        f"warning: delivery budget of 0.3s spent: {left} notification(s) left pending for the next run "
        "(state.delivery_budget)\n"
    )
    waiting = rows(cli.db, "SELECT alert_id FROM notifications WHERE status = 'pending' ORDER BY id")
    assert len(waiting) == left

    receiver.delay = 0.0
    result = cli.check(healthy(count), "--json", now=T0 + MINUTE)  # the backlog, then the resolved notices
    assert result.code == 0, result.err
    assert result.json()["notifications"]["sent"] == left + count
    assert "leftPending" not in result.json()["notifications"]
    assert all(events == ["firing", "resolved"] for events in receiver.events_by_alert().values())
    assert len(receiver.received) == 2 * count


def test_max_parallel_is_checked():
    from pantry_alert.errors import ConfigError
    from pantry_alert.notify import webhook

    url = {"url": "https://hooks.example.com/x"}
    assert webhook.settings(url, {}).max_parallel == 8
    assert webhook.settings({**url, "max_parallel": 3}, {}).max_parallel == 3
    for bad in (0, 65, "many", True, 2.5):
        with pytest.raises(ConfigError, match="max_parallel: must be"):
            webhook.settings({**url, "max_parallel": bad}, {})


def test_bad_max_parallel_and_delivery_budget_are_config_errors(tmp_path):
    cli = Cli(tmp_path)
    cli.config.write_text(storm_config(1, "state:\n  delivery_budget: 0s\n"))
    result = cli("rules", "validate")
    assert result.code == 2 and "delivery_budget" in result.err
    cli.config.write_text(
        storm_config(1, "channels:\n  slack:\n    webhook_url: https://x.example/h\n    max_parallel: 0\n")
    )
    result = cli.check(firing(1))
    assert result.code == 2 and "channels.slack.max_parallel: must be from 1 to 64, not 0" in result.err


class Sessions(Mailbox):
    """A mailbox that also notes which connection (client address) carried each message."""

    def __init__(self):
        super().__init__()
        self.peers: list = []

    async def handle_DATA(self, server, session, envelope):
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


def test_email_reuses_one_authenticated_connection_per_worker(tmp_path):
    mailbox = Sessions()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=smtp_authenticator("alerts", "pw-Xy81"),
        auth_require_tls=False,
    )
    controller.start()
    try:
        cli = Cli(tmp_path)
        cli.config.write_text(storm_config(6, "channels:\n  email:\n    max_parallel: 1\n", channel="email"))
        cli.env.update(
            {
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(port),
                "SMTP_USER": "alerts",
                "SMTP_PASS": "pw-Xy81",
                "SMTP_ALLOW_INSECURE_AUTH": "true",  # the test server offers no TLS
                "ALERT_TO_EMAILS": "ops@example.com",
            }
        )
        result = cli.check(firing(6))
        assert result.code == 0, result.err
    finally:
        controller.stop()
    assert len(mailbox.messages) == 6 and all(m.authenticated for m in mailbox.messages)
    assert len(set(mailbox.peers)) == 1  # six messages over one connection
    assert sorted(m["Subject"] for m in mailbox.messages) == sorted(
        f"[HIGH] Kitchen Pantry CRM Alert: Rule {i}" for i in range(6)
    )


class Stuck:
    """A console stream whose first write never returns (until released): a send that
    ignores its timeout."""

    def __init__(self):
        self.released = threading.Event()
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        if not self.lines:
            self.lines.append(text)
            self.released.wait(30)
        else:
            self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.slow
def test_a_send_that_ignores_its_timeout_records_only_that_notice(tmp_path, monkeypatch):
    from pantry_alert.config import load
    from pantry_alert.notify.console import ConsoleSettings
    from pantry_alert.notify.delivery import deliver
    from pantry_alert.store import open_store

    cli = Cli(tmp_path)
    cli.config.write_text(storm_config(2, channel="console"))
    assert cli.check(firing(2)).code == 0
    for rule in ("r000", "r001"):  # two resolved notices wait for the console
        assert cli("resolve", f"{rule}_{T0}", now=T0 + MINUTE).code == 0
    stream = Stuck()
    monkeypatch.setenv("PANTRY_ALERT_GRACE_SECONDS", "0.2")  # the grace after the timeout: 2 s built in
    try:
        with open_store(cli.db) as store:
            report = deliver(
                store, load(cli.config), {"console": ConsoleSettings(stream=stream, timeout=0.2)}, T0 + MINUTE
            )
    finally:
        stream.released.set()
    # the hung send is recorded as failed; the console's only worker is still stuck, so the
    # other notice is left pending for the next run
    assert (report.sent, report.failed, report.left) == (0, 1, 1)
    assert [(f.alert_id, f.error, f.final) for f in report.failures] == [
        (f"r000_{T0}", "console: no answer within its timeout", False)
    ]
    assert rows(
        cli.db, "SELECT alert_id, status, attempts, next_attempt_at FROM notifications WHERE kind = 'resolved'"
    ) == [
        (f"r000_{T0}", "failed", 1, T0 + 2 * MINUTE),
        (f"r001_{T0}", "pending", 0, T0 + MINUTE),
    ]

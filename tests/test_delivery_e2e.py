"""Delivery end to end: the real console script, real SQLite, a real SMTP server (aiosmtpd) and
real HTTP peers (pytest-httpserver as the webhook receiver and as Slack's Web API).

Time moves only through PANTRY_ALERT_NOW; the only waits are bounded waits on events.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from conftest import Cli, MINUTE, Mailbox, T0, free_port, smtp_authenticator
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

SMTP_PASSWORD = "smtp-pw-Zq7xK41"
SLACK_TOKEN = "xoxb-slack-tok-Mv93Qa"
HOOK_TOKEN = "hook-tok-Jr58Lw2"
SECRETS = (SMTP_PASSWORD, SLACK_TOKEN, HOOK_TOKEN)
DASHBOARD = "https://crm.example.com/dashboard/performance"
ALERT_ID = f"cpu_high_{T0}"
BREACH = {"cpu": 95}
HEALTHY = {"cpu": 10}
FIRED_LINE = f"FIRED     {ALERT_ID} [high] CPU High: CPU at 95%\n"
ALL = ("email", "slack", "webhook")


def rules_yaml(channels=ALL, cooldown="10m", sections: str = "") -> str:
    return f"""
service_name: Kitchen Pantry CRM
dashboard_url: {DASHBOARD}
{sections}
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: high
    when: cpu > 90
    cooldown: {cooldown}
    channels: [{", ".join(channels)}]
    description: "CPU at {{{{ cpu }}}}%"
"""



def rows(db: Path, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def notifications(db: Path) -> list[tuple]:
    """(channel, kind, status, attempts, error, sent_at, next_attempt_at) in insertion order."""
    return rows(db, "SELECT channel, kind, status, attempts, error, sent_at, next_attempt_at "
                    "FROM notifications ORDER BY id")


def wait_for(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# ---------------------------------------------------------------- peers


@dataclass
class Received:
    path: str
    headers: dict
    body: dict


def ok_hook(request: Request) -> Response:
    return Response("accepted", status=200)


def ok_slack(request: Request) -> Response:
    return Response(json.dumps({"ok": True, "channel": "C0ALERTS", "ts": "1764158400.000100"}),
                    content_type="application/json")


def slack_error(error: str, status: int = 200, headers: dict | None = None):
    def answer(request: Request) -> Response:
        return Response(json.dumps({"ok": False, "error": error}), status=status,
                        content_type="application/json", headers=headers)
    return answer


def status(code: int, text: str = ""):
    return lambda request: Response(text, status=code)


class Peer:
    """One HTTP peer on its own threaded server: records every POST to ``path`` and answers
    with the queued answers first (``then``), then with ``answer``."""

    def __init__(self, path: str, answer):
        self.path = path
        self.default = answer
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.reset()
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.server.expect_request(path, method="POST").respond_with_handler(self._handle)
        self.server.start()

    def reset(self) -> None:
        """Forget requests and answers; free any handler still hanging."""
        self.release.set()
        with self._lock:
            self.answer = self.default
            self.queue: list = []
            self.received: list[Received] = []
            self.arrived = threading.Event()   # set when a request has come in
            self.release = threading.Event()   # set in teardown: frees a hanging handler

    def then(self, *answers) -> Peer:
        self.queue.extend(answers)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"

    def hang(self, request: Request) -> Response:
        self.release.wait(30)
        return Response("too late", status=200)

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.received.append(Received(request.path, dict(request.headers), json.loads(request.get_data())))
            answer = self.queue.pop(0) if self.queue else self.answer
        self.arrived.set()
        return answer(request)

    def stop(self) -> None:
        self.release.set()
        self.server.stop()




authenticator = smtp_authenticator("alerts", SMTP_PASSWORD)


class Servers:
    """The SMTP server and the two HTTP peers, shared by the tests of this module."""

    def __init__(self):
        self.mailbox = Mailbox()
        self.smtp_port = free_port()
        self.smtp = Controller(self.mailbox, hostname="127.0.0.1", port=self.smtp_port,
                               authenticator=authenticator, auth_require_tls=False)
        self.smtp.start()
        self.slack = Peer("/api/chat.postMessage", ok_slack)
        self.hook = Peer("/hook", ok_hook)

    def reset(self) -> None:
        self.mailbox.messages.clear()
        for peer in (self.slack, self.hook):
            peer.reset()
            peer.server.check_assertions()   # no request to an unexpected path or method
            peer.server.clear_log()

    def stop(self) -> None:
        try:
            self.slack.stop()
            self.hook.stop()
        finally:
            self.smtp.stop()


@pytest.fixture(scope="module")
def servers():
    s = Servers()
    yield s
    s.stop()


class World:
    """A Cli on its own config, a mailbox, Slack's Web API and a webhook receiver, and the
    environment variables that point the channels at them."""

    def __init__(self, tmp_path: Path, servers: Servers):
        self.cli = Cli(tmp_path)
        self.cli.config.write_text(rules_yaml())
        self.mailbox, self.slack, self.hook = servers.mailbox, servers.slack, servers.hook
        self.cli.env.update({
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(servers.smtp_port),
            "ALERT_FROM_EMAIL": "alerts@pantry.example", "ALERT_TO_EMAILS": "ops@example.com",
            "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_ALERT_CHANNEL": "#alerts",
            "SLACK_API_URL": self.slack.url("/api/"),
            "ALERT_WEBHOOK_URL": self.hook.url("/hook"), "ALERT_WEBHOOK_TOKEN": HOOK_TOKEN,
        })

    @property
    def db(self) -> Path:
        return self.cli.db

    def config(self, **kw) -> None:
        self.cli.config.write_text(rules_yaml(**kw))

    def check(self, metrics=BREACH, *args, now=T0, **kw):
        return self.cli.check(metrics, *args, now=now, **kw)

    def keys(self, channel: str) -> list[str]:
        return [r[0] for r in rows(self.db, "SELECT idempotency_key FROM notifications WHERE channel = ? "
                                            "ORDER BY id", channel)]


@pytest.fixture
def world(tmp_path, servers):
    servers.reset()
    yield World(tmp_path, servers)
    servers.reset()


def sent(now=T0, attempts=1) -> tuple:
    return ("sent", attempts, None, now, None)


# ---------------------------------------------------------------- 1. happy path


def test_one_check_delivers_once_on_every_channel(world):
    result = world.check()
    assert (result.code, result.out, result.err) == (0, FIRED_LINE, "")
    alert = world.cli("list", "--json").json()[0]
    assert (alert["id"], alert["severity"], alert["count"]) == (ALERT_ID, "high", 1)

    [mail] = world.mailbox.messages
    assert mail["Subject"] == "[HIGH] Kitchen Pantry CRM Alert: CPU High"
    assert (mail["From"], mail["To"], mail.rcpt_tos) == ("alerts@pantry.example", "ops@example.com",
                                                         ["ops@example.com"])
    assert mail["Message-ID"] == f"<pantry-alert.{world.keys('email')[0]}@pantry.example>"
    assert mail["X-Pantry-Alert-Event"] == "firing"
    assert "CPU at 95%" in mail.get_body(preferencelist=("plain",)).get_content()

    [post] = world.slack.received
    assert post.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
    assert post.headers["Content-Type"].startswith("application/json")
    assert post.body == {
        "channel": "#alerts",
        "text": "Alert: CPU High",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*CPU High*\nCPU at 95%"}},
            {"type": "context", "elements": [{"type": "mrkdwn",
                                              "text": "Severity: high | Time: 2025-11-26T12:00:00.000Z"}]},
            {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "View Dashboard"}, "url": DASHBOARD},
                {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"},
                 "action_id": "acknowledge_alert", "value": ALERT_ID}]},
        ],
        "attachments": [{"color": "#fd7e14", "fallback": "CPU at 95%"}],
    }

    [hook] = world.hook.received
    assert hook.headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
    assert hook.headers["Content-Type"] == "application/json"
    assert hook.headers["Idempotency-Key"] == world.keys("webhook")[0]
    assert hook.body == {"alert": alert, "timestamp": T0, "service": "kitchen-pantry-crm",
                         "version": "0.1.0", "event": "firing"}

    assert notifications(world.db) == [(ch, "firing") + sent() for ch in ALL]
    keys = world.keys("email") + world.keys("slack") + world.keys("webhook")
    assert len(set(keys)) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys)


# ---------------------------------------------------------------- 2. retry with backoff


def test_webhook_500_is_retried_once_due_with_the_same_idempotency_key(world):
    world.hook.then(status(500, "database down"))
    result = world.check()
    assert (result.code, result.out) == (1, FIRED_LINE)
    error = f"webhook {world.hook.url('/hook')}: HTTP 500 INTERNAL SERVER ERROR: database down"
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to webhook failed (will retry): {error}\n"
    assert notifications(world.db) == [
        ("email", "firing") + sent(), ("slack", "firing") + sent(),
        ("webhook", "firing", "failed", 1, error, None, T0 + MINUTE)]

    # not due yet: nothing is sent
    result = world.check(now=T0 + 30_000)
    assert (result.code, result.out, result.err) == (0, "", "")
    assert len(world.hook.received) == 1

    # due: exactly one more POST, same key; the other channels are left alone
    result = world.check(now=T0 + MINUTE)
    assert (result.code, result.out, result.err) == (0, "", "")
    first, retry = world.hook.received
    assert retry.headers["Idempotency-Key"] == first.headers["Idempotency-Key"] == world.keys("webhook")[0]
    assert (retry.body["event"], retry.body["timestamp"], retry.body["alert"]["id"]) == ("firing", T0 + MINUTE,
                                                                                         ALERT_ID)
    assert len(world.mailbox.messages) == 1 and len(world.slack.received) == 1
    assert notifications(world.db) == [("email", "firing") + sent(), ("slack", "firing") + sent(),
                                       ("webhook", "firing") + sent(T0 + MINUTE, attempts=2)]

    result = world.check(now=T0 + 5 * MINUTE)
    assert (result.code, len(world.hook.received)) == (0, 2)


def test_backoff_doubles_to_an_hour_and_gives_up_after_a_day(world):
    world.config(cooldown="2d")          # no reminders: only the one webhook notification
    world.hook.answer = status(503, "maintenance")
    error = f"webhook {world.hook.url('/hook')}: HTTP 503 SERVICE UNAVAILABLE: maintenance"
    now, schedule = T0, []
    for _ in range(8):
        result = world.check(now=now)
        assert result.code == 1 and "failed (will retry)" in result.err
        [(attempts, next_at)] = rows(world.db, "SELECT attempts, next_attempt_at FROM notifications "
                                               "WHERE channel = 'webhook'")
        schedule.append(next_at - now)
        now = next_at
    assert schedule == [1 * MINUTE, 2 * MINUTE, 4 * MINUTE, 8 * MINUTE, 16 * MINUTE, 32 * MINUTE,
                        60 * MINUTE, 60 * MINUTE]
    assert attempts == 8 and len(world.hook.received) == 8

    result = world.check(now=T0 + 24 * 60 * MINUTE)
    assert result.code == 1
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to webhook failed (gave up): {error}\n"
    assert notifications(world.db)[2] == ("webhook", "firing", "failed", 9, error, None, None)
    result = world.check(now=T0 + 47 * 60 * MINUTE)   # still inside the 2d cooldown: no reminder
    assert (result.code, len(world.hook.received)) == (0, 9)
    assert len(world.mailbox.messages) == 1 and len(world.slack.received) == 1


# ---------------------------------------------------------------- 3. not retryable


def test_webhook_404_is_not_retried(world):
    world.hook.answer = status(404, "no such hook")
    result = world.check()
    error = f"webhook {world.hook.url('/hook')}: HTTP 404 NOT FOUND: no such hook"
    assert (result.code, result.out) == (1, FIRED_LINE)
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to webhook failed (gave up): {error}\n"
    assert notifications(world.db)[2] == ("webhook", "firing", "failed", 1, error, None, None)
    for now in (T0 + MINUTE, T0 + 2 * MINUTE, T0 + 9 * MINUTE):
        result = world.check(now=now)
        assert (result.code, result.err) == (0, "")
    assert len(world.hook.received) == 1
    assert notifications(world.db)[2] == ("webhook", "firing", "failed", 1, error, None, None)


# ---------------------------------------------------------------- 4. a hanging channel


def test_hanging_webhook_does_not_hold_back_email_and_slack(world):
    world.config(sections="channels:\n  webhook:\n    timeout: 1s\n")
    world.hook.answer = world.hook.hang
    started = time.monotonic()
    result = world.check()
    elapsed = time.monotonic() - started
    assert elapsed < 6, elapsed
    error = f"webhook {world.hook.url('/hook')}: timed out after 1s"
    assert (result.code, result.out) == (1, FIRED_LINE)
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to webhook failed (will retry): {error}\n"
    assert len(world.mailbox.messages) == 1 and len(world.slack.received) == 1 and len(world.hook.received) == 1
    assert notifications(world.db) == [("email", "firing") + sent(), ("slack", "firing") + sent(),
                                       ("webhook", "firing", "failed", 1, error, None, T0 + MINUTE)]


# ---------------------------------------------------------------- 5. Slack refusals


def test_slack_channel_not_found_is_not_retried(world):
    world.slack.answer = slack_error("channel_not_found")
    result = world.check()
    error = f"slack {world.slack.url('/api/')}chat.postMessage: Slack refused the message: channel_not_found"
    assert (result.code, result.out) == (1, FIRED_LINE)
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to slack failed (gave up): {error}\n"
    assert notifications(world.db) == [("email", "firing") + sent(),
                                       ("slack", "firing", "failed", 1, error, None, None),
                                       ("webhook", "firing") + sent()]
    result = world.check(now=T0 + 2 * MINUTE)
    assert (result.code, len(world.slack.received)) == (0, 1)


def test_slack_rate_limit_waits_for_retry_after(world):
    world.slack.then(slack_error("ratelimited", status=429, headers={"Retry-After": "120"}))
    result = world.check(now=T0)
    error = (f"slack {world.slack.url('/api/')}chat.postMessage: rate limited (HTTP 429, ratelimited); "
             "retry after 120s")
    assert result.code == 1
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to slack failed (will retry): {error}\n"
    [slack_row] = [r for r in notifications(world.db) if r[0] == "slack"]
    assert slack_row == ("slack", "firing", "failed", 1, error, None, T0 + 120_000)

    result = world.check(now=T0 + MINUTE)   # the plain backoff (1 min) would retry here: Retry-After wins
    assert (result.code, len(world.slack.received)) == (0, 1)
    result = world.check(now=T0 + 2 * MINUTE)
    assert (result.code, result.err, len(world.slack.received)) == (0, "", 2)
    assert notifications(world.db) == [("email", "firing") + sent(),
                                       ("slack", "firing") + sent(T0 + 2 * MINUTE, attempts=2),
                                       ("webhook", "firing") + sent()]


# ---------------------------------------------------------------- 6. SMTP down


def test_smtp_port_closed_fails_email_only(world):
    closed = free_port()
    result = world.check(BREACH, "--json", env={"SMTP_PORT": str(closed)})
    error = f"email smtp://127.0.0.1:{closed}: cannot connect: Connection refused"
    assert result.code == 1
    assert result.json() == {"fired": [ALERT_ID], "reminded": [], "escalated": [], "resolved": [], "errors": [],
                             "notifications": {"sent": 2, "failed": 1, "deferred": 0, "skipped": 0}}
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to email failed (will retry): {error}\n"
    assert notifications(world.db) == [("email", "firing", "failed", 1, error, None, T0 + MINUTE),
                                       ("slack", "firing") + sent(), ("webhook", "firing") + sent()]
    assert (len(world.slack.received), len(world.hook.received)) == (1, 1)

    result = world.check(now=T0 + MINUTE)    # the server is reachable again (the real port)
    assert (result.code, result.err) == (0, "")
    assert world.mailbox.subjects == ["[HIGH] Kitchen Pantry CRM Alert: CPU High"]
    assert notifications(world.db)[0] == ("email", "firing") + sent(T0 + MINUTE, attempts=2)
    assert (len(world.slack.received), len(world.hook.received)) == (1, 1)


# ---------------------------------------------------------------- 7. killed mid-send


def test_sigkill_mid_send_leaves_the_unsent_notification_pending(world):
    # the webhook comes first: email and Slack must not wait for it (its timeout is the default 10s)
    world.config(channels=("webhook", "email", "slack"))
    world.hook.answer = world.hook.hang
    proc = world.cli.popen("check", "--metrics-file", str(world.cli.metrics(BREACH)), now=T0)
    try:
        assert world.hook.arrived.wait(15), "the webhook request never arrived"
        # email and Slack finish while the webhook hangs, and their outcomes are committed at once
        wait_for(lambda: [r[2] for r in notifications(world.db)[1:]] == ["sent", "sent"], timeout=5,
                 what="email and Slack recorded as sent while the webhook hangs")
    finally:
        proc.kill()
        out, _err = proc.communicate(timeout=10)
    assert proc.returncode == -9
    assert out == FIRED_LINE
    assert rows(world.db, "SELECT id, status, count FROM alerts") == [(ALERT_ID, "firing", 1)]
    assert notifications(world.db) == [("webhook", "firing", "pending", 0, None, None, T0),
                                       ("email", "firing") + sent(), ("slack", "firing") + sent()]

    world.hook.answer = ok_hook
    world.hook.release.set()
    result = world.check(now=T0)
    assert (result.code, result.out, result.err) == (0, "", "")
    first, second = world.hook.received
    assert second.headers["Idempotency-Key"] == first.headers["Idempotency-Key"]
    assert second.body["event"] == "firing"
    assert len(world.mailbox.messages) == 1 and len(world.slack.received) == 1
    assert notifications(world.db) == [("webhook", "firing") + sent(), ("email", "firing") + sent(),
                                       ("slack", "firing") + sent()]


# ---------------------------------------------------------------- 8. secrets


def test_secrets_never_reach_the_database_or_the_output(world):
    world.cli.env["SMTP_USER"] = "alerts"
    world.cli.env["SMTP_PASS"] = SMTP_PASSWORD

    def echo(request: Request) -> Response:      # a receiver that quotes the credentials back
        return Response(f"rejected {request.headers.get('Authorization')}", status=500)

    world.hook.answer = echo
    world.slack.answer = slack_error(f"invalid_auth {SLACK_TOKEN}")
    outputs = []

    def run(*args, **kw):
        result = world.cli(*args, **kw)
        outputs.extend([result.out, result.err])
        return result

    breach = str(world.cli.metrics(BREACH))
    assert run("check", "--metrics-file", breach, now=T0).code == 1
    assert run("check", "--metrics-file", breach, "--json", now=T0 + MINUTE).code == 1   # the webhook retry
    assert run("check", "--metrics-file", breach, now=T0 + 10 * MINUTE).code == 1        # a reminder round
    assert run("rules", "list").code == 0
    assert run("rules", "list", "--json").code == 0
    assert run("rules", "validate").code == 0
    assert run("list", "--json").code == 0
    assert run("list").code == 0
    assert run("history", "--json").code == 0
    assert run("show", ALERT_ID).code == 0
    assert run("show", ALERT_ID, "--json").code == 0
    assert run("stats", "--json").code == 0
    assert run("test-notify", "email").code == 0
    assert run("test-notify", "slack").code == 1
    assert run("test-notify", "webhook").code == 1
    assert run("test-notify", "email", env={"SMTP_PASS": SMTP_PASSWORD + "-wrong"}).code == 1
    assert run("--debug", "check", "--metrics-file", breach, now=T0 + 15 * MINUTE).code == 1   # webhook retry due

    # the secrets were really used: otherwise finding none of them would prove nothing
    assert world.mailbox.messages and all(m.authenticated for m in world.mailbox.messages)
    assert {p.headers["Authorization"] for p in world.slack.received} == {f"Bearer {SLACK_TOKEN}"}
    assert {p.headers["Authorization"] for p in world.hook.received} == {f"Bearer {HOOK_TOKEN}"}
    errors = [r[0] for r in rows(world.db, "SELECT error FROM notifications WHERE error IS NOT NULL")]
    assert any("rejected Bearer ***" in e for e in errors) and any("invalid_auth ***" in e for e in errors)

    files = sorted(p for p in world.cli.tmp.iterdir() if p.name.startswith("state.db"))
    assert world.db in files
    for secret in SECRETS + (SMTP_PASSWORD + "-wrong",):
        for path in files:
            assert secret.encode() not in path.read_bytes(), (secret, path.name)
        for text in outputs:
            assert secret not in text, (secret, text)


# ---------------------------------------------------------------- 9. resolved notices


def test_auto_resolve_notifies_only_the_channels_that_were_notified(world):
    no_webhook = {"ALERT_WEBHOOK_URL": ""}
    result = world.check(env=no_webhook)
    assert result.code == 0
    assert "channel 'webhook' is not configured" in result.err
    # the webhook is configured by the time the alert resolves, but it was never notified
    result = world.check(HEALTHY, now=T0 + 5 * MINUTE)
    assert (result.code, result.out, result.err) == (0, f"RESOLVED  {ALERT_ID} [high] CPU High: CPU at 95%\n", "")
    assert world.mailbox.subjects == ["[HIGH] Kitchen Pantry CRM Alert: CPU High",
                                      "[RESOLVED] Kitchen Pantry CRM Alert: CPU High"]
    assert [p.body["text"] for p in world.slack.received] == ["Alert: CPU High", "Resolved: CPU High"]
    assert world.hook.received == []
    assert notifications(world.db) == [
        ("email", "firing") + sent(), ("slack", "firing") + sent(),
        ("webhook", "firing", "skipped", 0, "channel 'webhook' is not configured", None, None),
        ("email", "resolved") + sent(T0 + 5 * MINUTE), ("slack", "resolved") + sent(T0 + 5 * MINUTE)]


def test_manual_resolve_is_sent_by_the_next_check(world):
    assert world.check().code == 0
    result = world.cli("resolve", ALERT_ID, "--by", "alice", now=T0 + MINUTE)
    assert (result.code, result.out) == (0, "Alert resolved\n")
    assert (len(world.mailbox.messages), len(world.slack.received), len(world.hook.received)) == (1, 1, 1)
    assert [r[:3] for r in notifications(world.db)[3:]] == [(ch, "resolved", "pending") for ch in ALL]

    result = world.check(HEALTHY, now=T0 + 2 * MINUTE)
    assert (result.code, result.out, result.err) == (0, "", "")
    assert world.mailbox.subjects[1] == "[RESOLVED] Kitchen Pantry CRM Alert: CPU High"
    assert world.slack.received[1].body["text"] == "Resolved: CPU High"
    hook = world.hook.received[1].body
    assert (hook["event"], hook["timestamp"]) == ("resolved", T0 + 2 * MINUTE)
    assert {k: hook["alert"][k] for k in ("id", "status", "resolved", "resolvedAt", "resolvedBy")} == {
        "id": ALERT_ID, "status": "resolved", "resolved": True, "resolvedAt": T0 + MINUTE, "resolvedBy": "alice"}
    assert notifications(world.db)[3:] == [(ch, "resolved") + sent(T0 + 2 * MINUTE) for ch in ALL]
    result = world.check(HEALTHY, now=T0 + 3 * MINUTE)
    assert (len(world.mailbox.messages), len(world.slack.received), len(world.hook.received)) == (2, 2, 2)


# ---------------------------------------------------------------- 10. escalation


def test_escalation_adds_the_webhook(world):
    world.config(channels=("email",), cooldown="1m")
    assert world.check(now=T0).out == FIRED_LINE
    result = world.check(now=T0 + MINUTE)
    assert (result.code, result.out) == (0, f"REMINDED  {ALERT_ID} [high] CPU High: CPU at 95%\n")
    assert world.hook.received == [] and world.slack.received == []

    result = world.check(now=T0 + 2 * MINUTE)
    assert (result.code, result.out, result.err) == (0, f"ESCALATED {ALERT_ID} [critical] CPU High: CPU at 95%\n", "")
    [post] = world.hook.received
    assert (post.body["event"], post.body["timestamp"]) == ("escalated", T0 + 2 * MINUTE)
    alert = post.body["alert"]
    assert (alert["id"], alert["severity"], alert["escalated"], alert["count"]) == (ALERT_ID, "critical", True, 3)
    assert post.headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
    assert world.mailbox.subjects == ["[HIGH] Kitchen Pantry CRM Alert: CPU High",
                                      "[HIGH] [REMINDER] Kitchen Pantry CRM Alert: CPU High",
                                      "[CRITICAL] [ESCALATED] Kitchen Pantry CRM Alert: CPU High"]
    assert notifications(world.db) == [
        ("email", "firing") + sent(), ("email", "reminder") + sent(T0 + MINUTE),
        ("email", "escalated") + sent(T0 + 2 * MINUTE), ("webhook", "escalated") + sent(T0 + 2 * MINUTE)]
    assert world.slack.received == []


# ---------------------------------------------------------------- more faults


def test_a_live_run_sending_holds_the_lock_so_nothing_is_sent_twice(world):
    world.config(sections="state:\n  lock_timeout: 1s\n")
    world.hook.answer = world.hook.hang
    metrics = str(world.cli.metrics(BREACH))
    first = world.cli.popen("check", "--metrics-file", metrics, now=T0)
    try:
        assert world.hook.arrived.wait(15), "the webhook request never arrived"
        second = world.check(now=T0)          # waits 1s for the run lock, then gives up: exit 4, nothing sent
        assert (second.code, second.out) == (4, "")
        assert second.err.startswith(f"error: another pantry-alert run holds {world.db}.lock past the lock "
                                     "timeout (1s)\n")
        world.hook.answer = ok_hook
        world.hook.release.set()
        out, err = first.communicate(timeout=15)
    finally:
        first.kill()
        first.wait()
    assert (first.returncode, out, err) == (0, FIRED_LINE, "")
    assert (len(world.mailbox.messages), len(world.slack.received), len(world.hook.received)) == (1, 1, 1)
    assert notifications(world.db) == [(ch, "firing") + sent() for ch in ALL]


def test_a_retry_for_a_channel_no_longer_configured_is_skipped_with_a_warning(world):
    world.hook.then(status(500, "down"))
    assert world.check().code == 1
    result = world.check(now=T0 + MINUTE, env={"ALERT_WEBHOOK_URL": ""})
    assert result.code == 0
    assert result.err == ("warning: channel 'webhook' is not configured: 1 notification(s) recorded as skipped "
                          "(configure channels.webhook in rules.yaml or its environment variables)\n")
    assert notifications(world.db)[2] == ("webhook", "firing", "skipped", 1, "channel 'webhook' is not configured",
                                          None, None)
    assert len(world.hook.received) == 1


def test_a_resolved_notice_waits_behind_the_failed_firing_and_both_arrive_in_order(world):
    world.hook.then(status(500, "down"))
    assert world.check().code == 1
    # the alert resolves before the webhook's retry is due: email and Slack get it at once,
    # the webhook's resolved notice waits behind its firing notice
    result = world.check(HEALTHY, now=T0 + 30_000)
    assert (result.code, result.err) == (0, "")
    assert [p.body["event"] for p in world.hook.received] == ["firing"]
    assert notifications(world.db)[5] == ("webhook", "resolved", "pending", 0, None, None, T0 + 30_000)
    # the retry is due: firing first, then resolved, nothing dropped
    result = world.check(HEALTHY, now=T0 + MINUTE)
    assert (result.code, result.err) == (0, "")
    assert [p.body["event"] for p in world.hook.received] == ["firing", "firing", "resolved"]
    assert notifications(world.db)[2:] == [
        ("webhook", "firing") + sent(T0 + MINUTE, attempts=2),
        ("email", "resolved") + sent(T0 + 30_000), ("slack", "resolved") + sent(T0 + 30_000),
        ("webhook", "resolved") + sent(T0 + MINUTE)]


def test_when_the_retry_fails_again_the_notices_behind_it_keep_waiting(world):
    world.hook.then(status(500, "down"), status(503, "still down"))
    assert world.check().code == 1
    result = world.check(HEALTHY, now=T0 + 2 * MINUTE)     # the retry is due and the alert resolves
    assert result.code == 1 and "firing notification to webhook failed (will retry)" in result.err
    assert [p.body["event"] for p in world.hook.received] == ["firing", "firing"]   # resolved not sent out of order
    assert [r[:4] for r in notifications(world.db) if r[0] == "webhook"] == [
        ("webhook", "firing", "failed", 2), ("webhook", "resolved", "pending", 0)]
    result = world.check(HEALTHY, now=T0 + 4 * MINUTE)     # next retry (2 min backoff) succeeds
    assert (result.code, result.err) == (0, "")
    assert [p.body["event"] for p in world.hook.received] == ["firing", "firing", "firing", "resolved"]


def test_waiting_reminders_are_coalesced_to_the_newest(world):
    world.config(channels=("webhook",), cooldown="1m")
    world.hook.then(status(500, "down"), status(500, "down"))
    assert world.check().code == 1                               # firing fails, retry at +1m
    assert world.check(now=T0 + MINUTE).code == 1                # retry fails again (retry at +3m); reminder 1 waits
    assert world.check(now=T0 + 2 * MINUTE).code == 0            # not due: reminder 2 recorded, waits too
    result = world.check(now=T0 + 3 * MINUTE)                    # due: firing, then only the newest reminder
    assert result.code == 0, result.err
    # (the +2m round escalated: high, 2 rounds at high) -- an escalation is never coalesced away
    assert [r.body["event"] for r in world.hook.received] == ["firing", "firing", "firing", "escalated", "reminder"]
    assert world.hook.received[-1].body["alert"]["count"] == 4
    assert [r[1:3] + (r[4],) for r in notifications(world.db)] == [
        ("firing", "sent", None),
        ("reminder", "skipped", "superseded by a later reminder of the same alert to this channel"),
        ("escalated", "sent", None),
        ("reminder", "sent", None)]


def test_a_retry_and_a_reminder_due_in_one_run_arrive_in_order(world):
    world.config(channels=("webhook",), cooldown="1m")
    world.hook.then(status(500, "busy"))
    assert world.check().code == 1
    # one minute later the firing retry is due and so is the first reminder: same alert, same channel
    result = world.check(now=T0 + MINUTE)
    assert result.code == 0, result.err
    assert [r.body["event"] for r in world.hook.received] == ["firing", "firing", "reminder"]
    assert [r[:3] for r in notifications(world.db)] == [("webhook", "firing", "sent"), ("webhook", "reminder", "sent")]

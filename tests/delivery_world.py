"""The peers of the delivery tests: a real SMTP server (aiosmtpd), pytest-httpserver as
the webhook receiver and as Slack's Web API, and a Cli whose channels point at them.

Time moves only through PANTRY_ALERT_NOW; the only waits are bounded waits on events.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from conftest import T0, Cli, Mailbox, free_port, rows, smtp_authenticator, wait_for  # noqa: F401  (wait_for: the delivery tests import it from here)
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


def notifications(db: Path) -> list[tuple]:
    """(channel, kind, status, attempts, error, sent_at, next_attempt_at) in insertion order."""
    return rows(
        db, "SELECT channel, kind, status, attempts, error, sent_at, next_attempt_at FROM notifications ORDER BY id"
    )


# ---------------------------------------------------------------- peers


@dataclass
class Received:
    path: str
    headers: dict
    body: dict


def ok_hook(request: Request) -> Response:
    return Response("accepted", status=200)


def ok_slack(request: Request) -> Response:
    return Response(
        json.dumps({"ok": True, "channel": "C0ALERTS", "ts": "1764158400.000100"}), content_type="application/json"
    )


def slack_error(error: str, status: int = 200, headers: dict | None = None):
    def answer(request: Request) -> Response:
        return Response(
            json.dumps({"ok": False, "error": error}), status=status, content_type="application/json", headers=headers
        )

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
            self.arrived = threading.Event()  # set when a request has come in
            self.release = threading.Event()  # set in teardown: frees a hanging handler

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
        self.smtp = Controller(
            self.mailbox, hostname="127.0.0.1", port=self.smtp_port, authenticator=authenticator, auth_require_tls=False
        )
        self.smtp.start()
        self.slack = Peer("/api/chat.postMessage", ok_slack)
        self.hook = Peer("/hook", ok_hook)

    def reset(self) -> None:
        self.mailbox.messages.clear()
        for peer in (self.slack, self.hook):
            peer.reset()
            peer.server.check_assertions()  # no request to an unexpected path or method
            peer.server.clear_log()

    def stop(self) -> None:
        try:
            self.slack.stop()
            self.hook.stop()
        finally:
            self.smtp.stop()


class World:
    """A Cli on its own config, a mailbox, Slack's Web API and a webhook receiver, and the
    environment variables that point the channels at them."""

    def __init__(self, tmp_path: Path, servers: Servers):
        self.cli = Cli(tmp_path)
        self.cli.config.write_text(rules_yaml())
        self.mailbox, self.slack, self.hook = servers.mailbox, servers.slack, servers.hook
        self.cli.env.update(
            {
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(servers.smtp_port),
                "ALERT_FROM_EMAIL": "alerts@pantry.example",
                "ALERT_TO_EMAILS": "ops@example.com",
                "SLACK_BOT_TOKEN": SLACK_TOKEN,
                "SLACK_ALERT_CHANNEL": "#alerts",
                "SLACK_API_URL": self.slack.url("/api/"),
                "ALERT_WEBHOOK_URL": self.hook.url("/hook"),
                "ALERT_WEBHOOK_TOKEN": HOOK_TOKEN,
            }
        )

    @property
    def db(self) -> Path:
        return self.cli.db

    def config(self, **kw) -> None:
        self.cli.config.write_text(rules_yaml(**kw))

    def check(self, metrics=BREACH, *args, now=T0, **kw):
        return self.cli.check(metrics, *args, now=now, **kw)

    def keys(self, channel: str) -> list[str]:
        return [
            r[0]
            for r in rows(self.db, "SELECT idempotency_key FROM notifications WHERE channel = ? ORDER BY id", channel)
        ]


def sent(now=T0, attempts=1) -> tuple:
    return ("sent", attempts, None, now, None)

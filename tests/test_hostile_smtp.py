"""SMTP against hostile or careless servers: no clear-text login, no credential in any error, 454 retried.

Through the installed command: ``test-notify email`` and ``check`` (whose errors land in
``notifications.error``, the events and stderr).  The servers are real, on loopback: aiosmtpd
for a server that offers AUTH without STARTTLS, and a small raw SMTP server that echoes the AUTH
lines back in its 535 reply or answers 454 4.7.0.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socketserver
import sqlite3
import threading

import pytest
from aiosmtpd.controller import Controller
from conftest import T0, Cli, Mailbox, free_port

USER = "alerts"
PASSWORD = "smtp-Pw-Hq83Lz"
CHALLENGE = b"<1896.697170952@raw.example>"
MINUTE = 60_000
CONFIG = """
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: high
    when: cpu > 90
    cooldown: 10m
    channels: [email]
    description: "CPU at {{ cpu }}%"
"""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CRAM_RESPONSE = f"{USER} {hmac.new(PASSWORD.encode(), CHALLENGE, hashlib.md5).hexdigest()}"
# Every form of the credential a client sends in AUTH lines.
LEAKS = {
    "password": PASSWORD,
    "PLAIN line": b64(f"\0{USER}\0{PASSWORD}"),
    "PLAIN line unpadded": b64(f"\0{USER}\0{PASSWORD}").rstrip("="),
    "LOGIN password line": b64(PASSWORD),
    "LOGIN user line": b64(USER),
    "CRAM-MD5 line": b64(CRAM_RESPONSE),
    "CRAM-MD5 response": CRAM_RESPONSE.split()[1],
}


def assert_no_credential(*texts: str) -> None:
    for text in texts:
        for name, leak in LEAKS.items():
            assert leak not in text, f"{name} leaked: {text!r}"


def database_text(db) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


class RawSMTP(socketserver.ThreadingTCPServer):
    """A small SMTP server without STARTTLS.  ``mode``: ``echo`` (535 quoting every AUTH line it
    got), ``454`` (a temporary login failure) or ``accept`` (235, then it takes the message)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mechanism: str):
        self.mechanism = mechanism
        self.mode = "echo"
        self.auth_lines: list[str] = []
        self.messages: list[bytes] = []
        super().__init__(("127.0.0.1", 0), RawHandler)
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()  # quick shutdown

    @property
    def port(self) -> int:
        return self.server_address[1]


class RawHandler(socketserver.StreamRequestHandler):
    def reply(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())

    def line(self) -> str:
        return self.rfile.readline().decode().rstrip("\r\n")

    def handle(self):
        server = self.server
        self.reply("220 raw.example ESMTP")
        while True:
            command = self.line()
            verb = command.split(" ", 1)[0].upper()
            if not command and not verb:
                return
            if verb in ("EHLO", "HELO"):
                self.reply("250-raw.example", f"250-AUTH {server.mechanism}", "250 8BITMIME")
            elif verb == "AUTH":
                got = [command]
                if server.mode == "454":
                    self.reply("454 4.7.0 Temporary authentication failure, try again later")
                    continue
                if server.mode == "accept":
                    if server.mechanism == "LOGIN":
                        self.reply("334 UGFzc3dvcmQ6")
                        self.line()
                    self.reply("235 2.7.0 Authentication successful")
                    continue
                if server.mechanism == "LOGIN":
                    self.reply("334 UGFzc3dvcmQ6")
                    got.append(self.line())
                elif server.mechanism == "CRAM-MD5":
                    self.reply("334 " + base64.b64encode(CHALLENGE).decode())
                    got.append(self.line())
                server.auth_lines += got
                self.reply("535 5.7.8 Authentication failed for: " + " / ".join(got))
            elif verb == "DATA":
                self.reply("354 go ahead")
                body = []
                while (data := self.line()) != ".":
                    body.append(data)
                server.messages.append("\n".join(body).encode())
                self.reply("250 2.0.0 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self.reply("250 OK")


@pytest.fixture
def raw_smtp():
    servers = []

    def start(mechanism: str) -> RawSMTP:
        server = RawSMTP(mechanism)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def email_cli(tmp_path, port: int, **extra: str) -> Cli:
    cli = Cli(tmp_path)
    cli.config.write_text(CONFIG)
    cli.env.update(
        {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(port),
            "SMTP_USER": USER,
            "SMTP_PASS": PASSWORD,
            "ALERT_FROM_EMAIL": "alerts@pantry.example",
            "ALERT_TO_EMAILS": "ops@example.com",
            **extra,
        }
    )
    return cli


# ------------------------------------------------------------------ no login in clear text

INSECURE = (
    "the server offers no STARTTLS, so logging in as alerts would send the password in clear text; not sent. "
    "Use secure: true (SMTPS, port 465) or a server that offers STARTTLS; for a trusted relay set "
    "channels.email.allow_insecure_auth: true (or SMTP_ALLOW_INSECURE_AUTH=true)"
)


@pytest.fixture
def plain_server():
    """aiosmtpd offering AUTH on a connection without TLS; records every login attempt."""
    attempts = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        attempts.append((mechanism, auth_data))
        return AuthResult(success=auth_data == (USER.encode(), PASSWORD.encode()), handled=False)

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    yield port, mailbox, attempts
    controller.stop()


def test_no_login_without_tls_unless_allowed(tmp_path, plain_server):
    port, mailbox, attempts = plain_server
    cli = email_cli(tmp_path, port)
    result = cli("test-notify", "email")
    assert result.code == 1
    assert result.err == f"error: test notification via email failed: email smtp://127.0.0.1:{port}: {INSECURE}\n"
    assert attempts == [] and mailbox.messages == []  # the password never went out

    fired = cli.check({"cpu": 95})
    assert fired.code == 1
    assert f"email smtp://127.0.0.1:{port}: {INSECURE}" in fired.err
    conn = sqlite3.connect(cli.db)
    # Not retried: only a change of configuration helps.
    assert conn.execute("SELECT channel, status, error, next_attempt_at FROM notifications").fetchall() == [
        ("email", "failed", f"email smtp://127.0.0.1:{port}: {INSECURE}", None)
    ]
    conn.close()
    assert attempts == [] and mailbox.messages == []


@pytest.mark.parametrize(
    "how",
    [
        {"env": {"SMTP_ALLOW_INSECURE_AUTH": "true"}, "yaml": ""},
        {"env": {}, "yaml": "channels:\n  email:\n    allow_insecure_auth: true\n"},
    ],
    ids=["environment", "rules.yaml"],
)
def test_login_without_tls_when_the_config_allows_it(tmp_path, plain_server, how):
    port, mailbox, attempts = plain_server
    cli = email_cli(tmp_path, port, **how["env"])
    cli.config.write_text(how["yaml"] + CONFIG)
    result = cli("test-notify", "email")
    assert result.code == 0, result.err
    assert result.out == f"Test notification sent via email (smtp://127.0.0.1:{port} -> ops@example.com)\n"
    assert len(attempts) == 1 and [m.authenticated for m in mailbox.messages] == [True]


def test_allow_insecure_auth_must_be_a_boolean(tmp_path, plain_server):
    port, _mailbox, _attempts = plain_server
    cli = email_cli(tmp_path, port, SMTP_ALLOW_INSECURE_AUTH="perhaps")
    result = cli("test-notify", "email")
    assert result.code == 2
    assert "SMTP_ALLOW_INSECURE_AUTH (environment): expected true or false, got 'perhaps'" in result.err


# ------------------------------------------------------- a 535 that echoes the AUTH lines


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_a_535_echoing_the_auth_lines_leaks_no_credential(tmp_path, raw_smtp, mechanism):
    server = raw_smtp(mechanism)
    cli = email_cli(tmp_path, server.port, SMTP_ALLOW_INSECURE_AUTH="true")

    tested = cli("test-notify", "email")
    assert tested.code == 1
    assert server.auth_lines, "the client did try to log in"
    echoed = " / ".join(server.auth_lines)
    assert any(leak in echoed for leak in LEAKS.values())  # the server did echo a credential form
    assert tested.err.startswith(
        f"error: test notification via email failed: email smtp://127.0.0.1:{server.port}: login as alerts "
        "rejected: 535 5.7.8 Authentication failed for: AUTH "
    )
    assert "***" in tested.err

    fired = cli.check({"cpu": 95})
    assert fired.code == 1
    assert "login as alerts rejected: 535 5.7.8 Authentication failed for: AUTH " in fired.err
    stored = database_text(cli.db)
    assert "login as alerts rejected: 535" in stored  # the error is recorded: notifications.error, events
    assert_no_credential(tested.out, tested.err, fired.out, fired.err, stored)
    assert server.messages == []


# ------------------------------------------------------------ 454: a temporary login failure


def test_a_temporary_login_failure_is_retried_then_delivered(tmp_path, raw_smtp):
    server = raw_smtp("PLAIN")
    server.mode = "454"
    cli = email_cli(tmp_path, server.port, SMTP_ALLOW_INSECURE_AUTH="true")
    first = cli.check({"cpu": 95})
    assert first.code == 1
    assert "login as alerts rejected: 454 4.7.0 Temporary authentication failure, try again later" in first.err
    conn = sqlite3.connect(f"file:{cli.db}?mode=ro", uri=True)
    assert conn.execute("SELECT status, attempts, next_attempt_at FROM notifications").fetchall() == [
        ("failed", 1, T0 + MINUTE)  # kept for a retry after the first backoff step
    ]
    conn.close()

    server.mode = "accept"
    second = cli.check({"cpu": 95}, now=T0 + MINUTE)
    assert second.code == 0, second.err
    assert len(server.messages) == 1 and b"Subject: [HIGH] Kitchen Pantry CRM Alert: CPU High" in server.messages[0]
    conn = sqlite3.connect(f"file:{cli.db}?mode=ro", uri=True)
    assert conn.execute("SELECT status, attempts, error FROM notifications").fetchall() == [("sent", 2, None)]
    conn.close()

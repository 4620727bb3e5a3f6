"""The email channel against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import copy
import socket
import ssl
import time

import pytest
from aiosmtpd.controller import Controller
from conftest import Mailbox, free_port, smtp_authenticator

from pantry_alert.errors import ConfigError, DeliveryError
from pantry_alert.notify import email as email_channel
from pantry_alert.notify.base import Message

PASSWORD = "s3cret-smtp-pass"

ALERT = {
    "id": "high_response_time_1764160000000",
    "type": "performance",
    "severity": "high",
    "title": "High Response Time",
    "description": "95th percentile response time is 2500.00ms (threshold: 2000ms)",
    "timestamp": 1764160000000,
    "metadata": {
        "rule": "high_response_time",
        "metrics": {"p95ResponseTime": 2500},
        "escalated": False,
        "alertCount": 1,
    },
    "resolved": False,
    "resolvedAt": None,
    "ruleId": "high_response_time",
    "status": "firing",
    "count": 1,
    "lastSeenAt": 1764160000000,
    "acknowledgedAt": None,
    "acknowledgedBy": None,
    "resolvedBy": None,
    "escalated": False,
    "silenced": False,
    "inhibited": False,
    "runbookUrl": "https://wiki.example.com/runbooks/latency?a=1&b=2",
    "labels": {"team": "backend"},
}
DASHBOARD = "https://crm.example.com/dashboard/performance"


def make_message(kind="firing", **alert_changes) -> Message:
    alert = copy.deepcopy(ALERT)
    alert.update(alert_changes)
    return Message(
        kind=kind,
        alert=alert,
        idempotency_key=f"{alert['id']}:email:{kind}",
        now_ms=1764160060000,
        timezone="Europe/Berlin",
        dashboard_url=DASHBOARD,
        version="0.1.0",
    )


# ---------------------------------------------------------------- fixtures


authenticator = smtp_authenticator("alerts", PASSWORD)


@pytest.fixture
def smtp_server():
    """Start an aiosmtpd server; returns a factory ``(handler, **smtp_kwargs) -> port``."""
    controllers = []

    def start(handler, **kwargs) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A test CA (``tls.ca_file``, its PEM) and a server certificate it issued for 127.0.0.1 and localhost."""
    return TLSFiles(tmp_path_factory.mktemp("tls"))


class TLSFiles:
    def __init__(self, folder):
        import trustme

        self.ca = trustme.CA()
        self.server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = str(folder / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.configure_cert(context)
        return context


def env_for(port, **extra) -> dict:
    env = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "ALERT_FROM_EMAIL": "alerts@pantry.example",
        "ALERT_TO_EMAILS": "ops@example.com, Dev Team <dev@example.com>",
    }
    env.update(extra)
    return env


def parts(msg):
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    return plain.get_content(), html.get_content()


# ---------------------------------------------------------------- settings


def test_settings_from_the_environment_variables():
    s = email_channel.settings(
        None,
        {
            "SMTP_HOST": "mail.example.com",
            "SMTP_USER": "alerts",
            "SMTP_PASS": PASSWORD,
            "ALERT_FROM_EMAIL": "a@example.com",
            "ALERT_TO_EMAILS": "x@example.com, y@example.com,,",
        },
    )
    assert (s.host, s.port, s.secure, s.user, s.password) == ("mail.example.com", 587, False, "alerts", PASSWORD)
    assert s.sender == "a@example.com"
    assert s.recipients == ("x@example.com", "y@example.com")
    assert s.timeout == 10.0
    assert PASSWORD in s.secrets() and s.allow_insecure_auth is False
    assert s.describe() == "smtp://mail.example.com:587 -> x@example.com, y@example.com"
    assert PASSWORD not in repr(s) and PASSWORD not in s.describe()

    secure = email_channel.settings(None, {"SMTP_HOST": "h", "SMTP_SECURE": "true", "ALERT_TO_EMAILS": "a@b.c"})
    assert (secure.port, secure.secure) == (465, True)
    assert secure.describe() == "smtps://h:465 -> a@b.c"
    assert secure.sender.startswith("pantry-alert@")


def test_settings_not_configured_without_host_and_recipients_and_half_configured_named():
    assert email_channel.settings(None, {}) is None
    with pytest.raises(ConfigError, match=r"^to missing: SMTP_HOST \(environment\) names an SMTP server"):
        email_channel.settings(None, {"SMTP_HOST": "h"})
    with pytest.raises(ConfigError, match=r"^host missing: ALERT_TO_EMAILS \(environment\) gives recipients"):
        email_channel.settings(None, {"ALERT_TO_EMAILS": "a@b.c"})
    with pytest.raises(ConfigError, match=r"^ALERT_TO_EMAILS \(environment\): no recipient address"):
        email_channel.settings(None, {"SMTP_HOST": "h", "ALERT_TO_EMAILS": " , "})


def test_section_wins_over_environment_key_by_key():
    s = email_channel.settings(
        {
            "host": "smtp.internal",
            "port": 2525,
            "to": ["a@example.com", "b@example.com"],
            "from": "Pantry <p@example.com>",
            "timeout": "2s",
        },
        {"SMTP_HOST": "ignored", "SMTP_USER": "envuser", "SMTP_PASS": "envpass", "ALERT_TO_EMAILS": "z@z.z"},
    )
    assert (s.host, s.port, s.user, s.password) == ("smtp.internal", 2525, "envuser", "envpass")
    assert s.recipients == ("a@example.com", "b@example.com")
    assert s.sender == "Pantry <p@example.com>"
    assert s.timeout == 2.0
    assert email_channel.settings({"host": "h", "to": "a@b.c", "timeout": "1500ms"}, {}).timeout == 1.5
    assert email_channel.settings({"host": "h", "to": "a@b.c", "timeout": "500ms"}, {}).timeout == 0.5


@pytest.mark.parametrize(
    "section, needle",
    [
        ({"host": "h", "to": "a@b.c", "hots": "x"}, "unknown key(s) hots"),
        ({"host": "h", "to": "a@b.c", "port": "smtp"}, "port: invalid port 'smtp'"),
        ({"host": "h", "to": "a@b.c", "port": 70000}, "out of range"),
        ({"host": "h", "to": "not-an-address"}, "invalid email address"),
        ({"host": "h", "to": "a@b.c", "from": "x@y.z\nBcc: evil@x.y"}, "line break"),
        ({"host": "h", "to": "a@b.c", "timeout": "fast"}, "invalid timeout"),
        ({"host": "h", "to": "a@b.c", "timeout": 0}, "must be positive"),
        ({"host": "h", "to": "a@b.c", "secure": "maybe"}, "expected true or false"),
    ],
)
def test_invalid_section_is_a_config_error(section, needle):
    with pytest.raises(ConfigError) as info:
        email_channel.settings(section, {})
    assert needle in str(info.value)


# ---------------------------------------------------------------- rendering


def test_subjects_for_every_kind():
    assert email_channel.subject(make_message("firing")) == "[HIGH] Kitchen Pantry CRM Alert: High Response Time"
    assert (
        email_channel.subject(make_message("reminder"))
        == "[HIGH] [REMINDER] Kitchen Pantry CRM Alert: High Response Time"
    )
    assert (
        email_channel.subject(make_message("escalated", severity="critical"))
        == "[CRITICAL] [ESCALATED] Kitchen Pantry CRM Alert: High Response Time"
    )
    assert email_channel.subject(make_message("resolved")) == "[RESOLVED] Kitchen Pantry CRM Alert: High Response Time"
    assert email_channel.subject(make_message("test")) == "[TEST] Kitchen Pantry CRM Alert: High Response Time"
    assert email_channel.subject(make_message(title="Two\nlines")) == "[HIGH] Kitchen Pantry CRM Alert: Two lines"


@pytest.mark.parametrize(
    "kind, severity, color",
    [
        ("firing", "low", "#28a745"),
        ("firing", "medium", "#ffc107"),
        ("firing", "high", "#fd7e14"),
        ("firing", "critical", "#dc3545"),
        ("resolved", "critical", "#28a745"),
    ],
)
def test_header_colour_follows_severity(kind, severity, color):
    html = email_channel.render_html(make_message(kind, severity=severity))
    assert f'class="alert-header" style="background-color:{color};' in html


def test_html_escapes_every_value():
    message = make_message(
        title="<b>Bold</b> title",
        description='<script>alert("x")</script> <@channel> & more',
        metadata={"metrics": {"<img src=x>": "<i>v</i>"}},
        labels={"team": "<ops>"},
        runbookUrl='https://wiki.example.com/"onmouseover="x',
        id="id<1>",
    )
    html = email_channel.render_html(message)
    assert "<script>" not in html and "<@channel>" not in html and "<b>Bold" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &lt;@channel&gt; &amp; more" in html
    assert "&lt;b&gt;Bold&lt;/b&gt; title" in html
    assert "&lt;img src=x&gt;" in html and "&lt;i&gt;v&lt;/i&gt;" in html
    assert "team=&lt;ops&gt;" in html and "id&lt;1&gt;" in html
    assert 'onmouseover="x' not in html  # the quote is percent-encoded: it cannot end the attribute
    assert 'href="https://wiki.example.com/%22onmouseover=%22x"' in html
    assert "javascript:" not in email_channel.render_html(make_message(runbookUrl="javascript:alert(1)"))


# ---------------------------------------------------------------- sending


def test_send_plain_smtp_exact_message(smtp_server):
    mailbox = Mailbox()
    port = smtp_server(mailbox)
    s = email_channel.settings(None, env_for(port))
    email_channel.send(s, make_message())

    [got] = mailbox.messages
    assert got.mail_from == "alerts@pantry.example"
    assert got.rcpt_tos == ["ops@example.com", "dev@example.com"]
    assert got.tls is False and got.authenticated is False
    msg = got
    assert msg["Subject"] == "[HIGH] Kitchen Pantry CRM Alert: High Response Time"
    assert msg["From"] == "alerts@pantry.example"
    assert msg["To"] == "ops@example.com, Dev Team <dev@example.com>"
    assert msg["Message-ID"].strip() == "<pantry-alert.high_response_time_1764160000000-email-firing@pantry.example>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]

    text, html = parts(msg)
    assert text.splitlines()[:14] == [
        "[HIGH] Kitchen Pantry CRM Alert: High Response Time",
        "",
        "Severity: HIGH",
        "Type: performance",
        "Time: 2025-11-26 13:26:40 CET (Europe/Berlin)",
        "Status: firing",
        "",
        "Description:",
        "95th percentile response time is 2500.00ms (threshold: 2000ms)",
        "",
        "Metadata:",
        "  p95ResponseTime: 2500",
        "  Count: 1",
        "  Labels: team=backend",
    ]
    assert "Runbook: https://wiki.example.com/runbooks/latency?a=1&b=2" in text
    assert f"Dashboard: {DASHBOARD}" in text

    assert 'style="background-color:#fd7e14;color:#ffffff;' in html
    assert "<h1" in html and ">High Response Time</h1>" in html
    assert "Severity: HIGH" in html
    assert ">performance</td>" in html
    assert ">2025-11-26 13:26:40 CET (Europe/Berlin)</td>" in html
    assert ">95th percentile response time is 2500.00ms (threshold: 2000ms)</p>" in html
    assert ">p95ResponseTime</td>" in html and ">2500</td>" in html
    assert "team=backend" in html
    assert 'href="https://wiki.example.com/runbooks/latency?a=1&amp;b=2"' in html
    assert f'href="{DASHBOARD}"' in html


def test_send_without_links_leaves_them_out(smtp_server):
    mailbox = Mailbox()
    port = smtp_server(mailbox)
    message = Message(
        kind="resolved",
        alert={
            **ALERT,
            "runbookUrl": None,
            "status": "resolved",
            "resolved": True,
            "resolvedAt": 1764160900000,
            "resolvedBy": "auto",
        },
        idempotency_key="k1",
        now_ms=1764160900000,
        timezone="UTC",
    )
    email_channel.send(email_channel.settings(None, env_for(port)), message)
    msg = mailbox.messages[0]
    assert msg["Subject"] == "[RESOLVED] Kitchen Pantry CRM Alert: High Response Time"
    text, html = parts(msg)
    assert "Runbook:" not in text and "Dashboard:" not in text
    assert "href=" not in html
    assert "Resolved: 2025-11-26 12:41:40 UTC (auto)" in text
    assert "background-color:#28a745" in html


def test_starttls_then_login(smtp_server, tls, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", tls.ca_file)  # trust the test's CA
    mailbox = Mailbox()
    # auth_require_tls stays True (the default): login only works after STARTTLS.
    port = smtp_server(mailbox, tls_context=tls.server_context(), require_starttls=True, authenticator=authenticator)
    s = email_channel.settings(None, env_for(port, SMTP_USER="alerts", SMTP_PASS=PASSWORD))
    email_channel.send(s, make_message())
    [got] = mailbox.messages
    assert got.tls is True and got.authenticated is True


def test_starttls_with_untrusted_certificate_fails(smtp_server, tls, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    mailbox = Mailbox()
    port = smtp_server(mailbox, tls_context=tls.server_context())
    with pytest.raises(DeliveryError) as info:
        email_channel.send(email_channel.settings(None, env_for(port)), make_message())
    assert "TLS certificate verification failed" in str(info.value)
    assert f"smtp://127.0.0.1:{port}" in str(info.value)
    assert mailbox.messages == []


def test_smtp_secure_true_uses_tls_from_the_start(smtp_server, tls, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", tls.ca_file)
    mailbox = Mailbox()
    port = smtp_server(mailbox, ssl_context=tls.server_context(), authenticator=authenticator, auth_require_tls=False)
    s = email_channel.settings(None, env_for(port, SMTP_SECURE="true", SMTP_USER="alerts", SMTP_PASS=PASSWORD))
    assert s.secure and s.port == port
    email_channel.send(s, make_message())
    [got] = mailbox.messages
    assert got.tls is True and got.authenticated is True


def test_login_without_tls_when_server_and_config_allow_it(smtp_server):
    mailbox = Mailbox()
    port = smtp_server(mailbox, authenticator=authenticator, auth_require_tls=False)
    env = env_for(port, SMTP_USER="alerts", SMTP_PASS=PASSWORD, SMTP_ALLOW_INSECURE_AUTH="true")
    email_channel.send(email_channel.settings(None, env), make_message())
    assert mailbox.messages[0].authenticated is True


def test_wrong_password_is_not_retryable_and_never_shows_the_password(smtp_server):
    mailbox = Mailbox()
    port = smtp_server(mailbox, authenticator=authenticator, auth_require_tls=False)
    wrong = "wrong-Pa55word-xyz"
    s = email_channel.settings(None, env_for(port, SMTP_USER="alerts", SMTP_PASS=wrong, SMTP_ALLOW_INSECURE_AUTH="1"))
    with pytest.raises(DeliveryError) as info:
        email_channel.send(s, make_message())
    assert info.value.retryable is False
    assert "login as alerts rejected: 535" in str(info.value)
    assert wrong not in str(info.value) and wrong not in repr(info.value.args)
    assert mailbox.messages == []


def test_refused_recipients_fail_permanently(smtp_server):
    port = smtp_server(Mailbox(refuse={"ops@example.com", "dev@example.com"}))
    with pytest.raises(DeliveryError) as info:
        email_channel.send(email_channel.settings(None, env_for(port)), make_message())
    assert info.value.retryable is False
    assert "all recipients refused" in str(info.value) and "550" in str(info.value)


def test_partially_refused_recipients_still_count_as_delivered(smtp_server):
    mailbox = Mailbox(refuse={"dev@example.com"})
    port = smtp_server(mailbox)
    email_channel.send(email_channel.settings(None, env_for(port)), make_message())
    assert mailbox.messages[0].rcpt_tos == ["ops@example.com"]


def test_closed_port_is_a_retryable_delivery_error():
    port = free_port()
    s = email_channel.settings({"timeout": "1s"}, env_for(port, SMTP_PASS=PASSWORD, SMTP_USER="u"))
    with pytest.raises(DeliveryError) as info:
        email_channel.send(s, make_message())
    assert info.value.retryable is True
    assert str(info.value) == f"email smtp://127.0.0.1:{port}: cannot connect: Connection refused"
    assert PASSWORD not in str(info.value)


@pytest.mark.slow
def test_silent_server_times_out():
    with socket.socket() as listener:  # accepts TCP (backlog) but never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        s = email_channel.settings({"timeout": "300ms"}, env_for(port))
        started = time.monotonic()
        with pytest.raises(DeliveryError) as info:
            email_channel.send(s, make_message())
        assert time.monotonic() - started < 1.5
    assert str(info.value) == f"email smtp://127.0.0.1:{port}: timed out after 0.3s"
    assert info.value.retryable is True


def test_secure_against_a_plain_port_says_so(smtp_server):
    port = smtp_server(Mailbox())
    s = email_channel.settings({"secure": True, "timeout": "1s"}, env_for(port))
    with pytest.raises(DeliveryError) as info:
        email_channel.send(s, make_message())
    assert str(info.value).startswith(f"email smtps://127.0.0.1:{port}: TLS error: WRONG_VERSION_NUMBER")


def test_runbook_links_with_quotes_or_angle_brackets_are_kept_escaped():
    message = make_message(runbookUrl='https://wiki.example.com/run"book?<x>=1')
    assert "Runbook: https://wiki.example.com/run%22book?%3Cx%3E=1" in email_channel.render_text(message)
    html = email_channel.render_html(message)
    assert 'href="https://wiki.example.com/run%22book?%3Cx%3E=1"' in html

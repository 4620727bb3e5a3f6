"""Loopback helpers: waiting on what another thread or process does, a free port, and an
aiosmtpd mailbox with its authenticator."""

from __future__ import annotations

import email
import email.policy
import socket
import time


def wait_for(condition, what: str = "the condition", timeout: float = 10, *, interval: float = 0.02, retry_on=()):
    """Wait until ``condition()`` returns something true, and return it; fail the test after ``timeout``
    seconds, naming ``what`` and the last answer.  Exceptions of the classes in ``retry_on`` (a peer
    not up yet) count as a false answer.

    The one way the tests wait for something another thread or process does: polling an
    observable result, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = condition()
            if last:
                return last
        except retry_on as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def free_port() -> int:
    """A loopback TCP port nothing listens on (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd handler keeping every accepted message, each with ``.mail_from``, ``.rcpt_tos``,
    ``.tls`` (it came over TLS) and ``.authenticated``; recipients in ``refuse`` get a 550."""

    def __init__(self, refuse: set[str] | None = None):
        self.messages: list = []
        self.refuse = refuse or set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        msg.mail_from = envelope.mail_from
        msg.rcpt_tos = list(envelope.rcpt_tos)
        msg.tls = server.transport.get_extra_info("ssl_object") is not None
        msg.authenticated = bool(session.authenticated)
        self.messages.append(msg)
        return "250 OK"

    @property
    def subjects(self) -> list[str]:
        return [m["Subject"] for m in self.messages]


def smtp_authenticator(user: str, password: str):
    """An aiosmtpd authenticator accepting one login (handled=False: aiosmtpd sends the 235/535 reply)."""
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data == (user.encode(), password.encode())
        return AuthResult(success=ok, handled=False)

    return authenticate

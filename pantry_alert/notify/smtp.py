"""The email channel's SMTP conversation: one deadline for connect, TLS, login and send; a
login only over TLS unless allowed; connections reused across a run's messages; failures
worded for a sysadmin and scrubbed of the password in every encoded form an AUTH exchange
may echo back.
"""

from __future__ import annotations

import functools
import threading
import time

from ..errors import DeliveryError
from ..redact import base64_forms, longest_first, scrub
from ..text import one_line
from .email_render import bare_address, build_email

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

    Settings = Any  # the email channel's settings (``notify.email.Settings``); not imported: no cycle


# The deadline of the send running in this thread: connect, TLS handshake and
# greeting share it with the rest of the conversation.
_clock = threading.local()


@functools.cache
def _smtp_classes():
    import smtplib

    class Deadline(smtplib.SMTP):
        sent_auth: list[str]  # every AUTH response sent (a CRAM-MD5 one depends on the server's challenge)

        def _get_socket(self, host, port, timeout):
            left = _clock.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("deadline passed")
            sock = super()._get_socket(host, port, left)  # type: ignore[misc]  # private, so not in the stubs
            left = _clock.deadline - time.monotonic()
            if left <= 0:
                sock.close()
                raise TimeoutError("deadline passed")
            sock.settimeout(left)  # what is left for the greeting
            return sock

        def auth(self, mechanism, authobject, *, initial_response_ok=True):
            def recorded(challenge=None):
                response = authobject(challenge)
                if response is not None:
                    self.__dict__.setdefault("sent_auth", []).append(response)
                return response

            return super().auth(mechanism, recorded, initial_response_ok=initial_response_ok)

    class SMTP(Deadline):
        pass

    class SMTP_SSL(Deadline, smtplib.SMTP_SSL):
        pass

    return SMTP, SMTP_SSL


def _tick(server) -> None:
    left = _clock.deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    if server.sock is not None:
        server.sock.settimeout(left)


class _InsecureLogin(Exception):
    """Logging in would send the password without TLS, and the config does not allow it."""


class _Connection:
    """One SMTP connection: greeted, upgraded to TLS when offered, logged in."""

    def __init__(self, settings: Settings):
        self.tls = settings.secure
        self.server: Any = None

    @property
    def sent_auth(self) -> list[str]:
        return getattr(self.server, "sent_auth", []) if self.server is not None else []

    def open(self, settings: Settings) -> None:
        import ssl

        SMTP, SMTP_SSL = _smtp_classes()
        if settings.secure:
            self.server = SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=ssl.create_default_context()
            )
        else:
            self.server = SMTP(settings.host, settings.port, timeout=settings.timeout)
        server = self.server
        _tick(server)
        server.ehlo_or_helo_if_needed()
        if not settings.secure and server.has_extn("starttls"):
            _tick(server)
            server.starttls(context=ssl.create_default_context())
            self.tls = True
            _tick(server)
            server.ehlo()
        if settings.user:
            if not self.tls and not settings.allow_insecure_auth:
                raise _InsecureLogin()
            _tick(server)
            server.login(settings.user, settings.password or "")

    def send(self, settings: Settings, msg) -> None:
        _tick(self.server)
        self.server.send_message(
            msg, from_addr=bare_address(settings.sender), to_addrs=[bare_address(r) for r in settings.recipients]
        )

    def close(self) -> None:
        if self.server is not None:
            _close(self.server)


class Session:
    """SMTP connections reused for every message of a run.

    Each connection is opened and authenticated once and then carries one
    message after another; several threads may send at once, each on a
    connection of its own (so at most as many connections as sends in
    flight).  A connection that failed is closed, and the next message opens
    a new one.  A kept connection the server has dropped meanwhile is
    replaced once, within the same deadline."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        import smtplib

        settings = self.settings
        msg = build_email(settings, message)
        _clock.deadline = time.monotonic() + settings.timeout
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        state: dict[str, Any] = {"tls": settings.secure, "sent_auth": []}
        try:
            if conn is not None:
                try:
                    conn.send(settings, msg)
                except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
                    if isinstance(exc.__context__, TimeoutError) or str(exc).endswith("timed out"):
                        raise
                    conn.close()  # dropped while idle: once more on a fresh connection
                    conn = None
            if conn is None:
                conn = _Connection(settings)
                conn.open(settings)
                conn.send(settings, msg)
        except Exception as exc:
            if conn is not None:
                state["tls"], state["sent_auth"] = conn.tls, conn.sent_auth
                conn.close()
            error = _failure(settings, exc, state["tls"], state["sent_auth"])
            if error is None:
                raise
            raise error from None
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _failure(settings: Settings, exc: BaseException, tls: bool, sent_auth: list[str]) -> DeliveryError | None:
    """The ``DeliveryError`` (scrubbed) for what went wrong in an SMTP conversation,
    or None for an exception that is not about the conversation (a bug)."""
    if isinstance(exc, _InsecureLogin):
        problem: tuple[str, bool] | None = (
            f"the server offers no STARTTLS, so logging in as {settings.user} would send the password "
            "in clear text; not sent. Use secure: true (SMTPS, port 465) or a server that offers STARTTLS; "
            "for a trusted relay set channels.email.allow_insecure_auth: true (or SMTP_ALLOW_INSECURE_AUTH=true)",
            False,
        )
    else:
        problem = _smtp_problem(settings, exc, tls) or _network_problem(settings, exc)
    if problem is None:
        return None
    text, retryable = problem
    secrets = list(settings.secrets())
    for response in sent_auth:  # the AUTH lines as sent, in case the server echoes them
        secrets += base64_forms(response)
        if response != settings.user:
            secrets.append(response)
    return DeliveryError(scrub(f"email {settings.peer}: {text}", longest_first(secrets)), retryable=retryable)


def _timed_out(settings: Settings) -> str:
    hint = " (port 465 usually needs secure: true)" if settings.port == 465 and not settings.secure else ""
    return f"timed out after {settings.timeout:g}s{hint}"


def _smtp_problem(settings: Settings, exc: BaseException, tls: bool) -> tuple[str, bool] | None:
    """What an SMTP exception says, and whether a retry may help (4xx yes, 5xx no)."""
    import smtplib

    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # 454 4.7.0 and other 4xx: a temporary failure on the server's side, retried like any 4xx.
        return f"login as {settings.user} rejected: {_reply(exc.smtp_code, exc.smtp_error)}", _temporary(exc.smtp_code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        hint = "" if tls else " (many servers offer AUTH only over TLS; check port and secure)"
        return f"{exc}{hint}", False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{rcpt}: {_reply(code, text)}" for rcpt, (code, text) in exc.recipients.items())
        temporary = any(400 <= code < 500 for code, _ in exc.recipients.values())
        return f"all recipients refused: {refused}", temporary
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"sender {exc.sender} refused: {_reply(exc.smtp_code, exc.smtp_error)}", _temporary(exc.smtp_code)
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"server answered {_reply(exc.smtp_code, exc.smtp_error)}", _temporary(exc.smtp_code)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib turns a read timeout into "Connection unexpectedly closed: timed out".
        if isinstance(exc.__context__, TimeoutError) or str(exc).endswith("timed out"):
            return _timed_out(settings), True
        return f"server closed the connection ({exc or 'no reason given'})", True
    if isinstance(exc, smtplib.SMTPException):
        return f"SMTP error: {exc}", True
    return None


def _temporary(code: int) -> bool:
    return not 500 <= code < 600


def _network_problem(settings: Settings, exc: BaseException) -> tuple[str, bool] | None:
    """What a timeout, TLS or socket error says (all worth a retry)."""
    import ssl

    if isinstance(exc, TimeoutError):
        return _timed_out(settings), True
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate verification failed: {exc.verify_message or exc.reason} "
            "(for a private CA set SSL_CERT_FILE to its bundle)",
            True,
        )
    if isinstance(exc, ssl.SSLError):
        hint = "" if not settings.secure else " (is the port really SMTP over TLS? try secure: false)"
        return f"TLS error: {exc.reason or exc}{hint}", True
    if isinstance(exc, OSError):
        return f"cannot connect: {exc.strerror or exc}", True
    return None


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {one_line(text)}"


def _close(server) -> None:
    """QUIT politely, but never let the goodbye turn a delivered mail into a failure."""
    try:
        if server.sock is not None:
            server.sock.settimeout(1.0)
            server.quit()
    except Exception:
        pass
    finally:
        try:
            server.close()
        except Exception:
            pass

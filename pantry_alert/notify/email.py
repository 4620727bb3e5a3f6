"""The email channel: smtplib + email.message.

Configuration comes from the ``channels.email`` section of rules.yaml; every
key the section leaves out (or sets to an empty string) falls back to the
channel's environment variable:

===================  ========================  ==============================================
key                  env                       default
===================  ========================  ==============================================
host                 SMTP_HOST                 (required)
port                 SMTP_PORT                 587, or 465 when ``secure`` is true
secure               SMTP_SECURE               false (``true``: TLS from the first byte)
user                 SMTP_USER                 none (no login)
password             SMTP_PASS                 none
from                 ALERT_FROM_EMAIL          ``pantry-alert@<hostname>``
to                   ALERT_TO_EMAILS           (required; a list or a comma-separated string)
timeout              -                         10s
max_parallel         -                         8 messages in flight, each on a connection
allow_insecure_auth  SMTP_ALLOW_INSECURE_AUTH  false (a login without TLS is refused)
===================  ========================  ==============================================

The channel is configured when it has a host and at least one recipient.
Without ``secure`` the connection is upgraded with STARTTLS whenever the
server offers it; certificates are always verified against the system's CA
store (point ``SSL_CERT_FILE`` at a bundle for a private CA).  A login over
a connection without TLS (the server offers no STARTTLS) would send the
password in clear text: it is refused unless ``allow_insecure_auth`` is true.
No error text ever carries the password, nor the encoded forms an SMTP
server may echo back (the base64 AUTH lines, a CRAM-MD5 response).

Heavy modules (jinja2, smtplib, ssl) are imported inside functions so that a
cron run that sends nothing does not pay for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import ConfigError
from ..record import FrozenRecord
from ..redact import base64_forms, longest_first
from .capabilities import Capabilities
from .settings import DEFAULT_MAX_PARALLEL, DEFAULT_TIMEOUT, check_section, parse_max_parallel, parse_timeout, picker

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

DEFAULT_PORT = 587
DEFAULT_SECURE_PORT = 465
CAPABILITIES = Capabilities(
    env=(
        "SMTP_HOST",
        "ALERT_TO_EMAILS",
        "SMTP_SECURE",
        "SMTP_PORT",
        "SMTP_USER",
        "SMTP_PASS",
        "ALERT_FROM_EMAIL",
        "SMTP_ALLOW_INSECURE_AUTH",
    ),
    digest=True,
    batched=True,
)
SECTION_KEYS = (
    "host",
    "port",
    "secure",
    "user",
    "password",
    "from",
    "to",
    "timeout",
    "max_parallel",
    "allow_insecure_auth",
)


# ---------------------------------------------------------------- settings


class Settings(FrozenRecord):
    """The email channel's settings."""

    host: str
    port: int
    secure: bool
    user: str | None
    password: str | None
    sender: str
    recipients: tuple[str, ...]
    timeout: float
    allow_insecure_auth: bool
    max_parallel: int
    _fields = (
        "host",
        "port",
        "secure",
        "user",
        "password",
        "sender",
        "recipients",
        "timeout",
        "allow_insecure_auth",
        "max_parallel",
    )
    _shown = (
        "host",
        "port",
        "secure",
        "user",
        "sender",
        "recipients",
        "timeout",
        "allow_insecure_auth",
        "max_parallel",
    )  # not the secrets

    def __init__(
        self,
        host: str,
        port: int,
        secure: bool,
        user: str | None,
        password: str | None,
        sender: str,
        recipients: tuple[str, ...],
        timeout: float = DEFAULT_TIMEOUT,
        allow_insecure_auth: bool = False,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
    ) -> None:
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "secure", secure)
        object.__setattr__(self, "user", user)
        object.__setattr__(self, "password", password)
        object.__setattr__(self, "sender", sender)
        object.__setattr__(self, "recipients", recipients)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "allow_insecure_auth", allow_insecure_auth)
        object.__setattr__(self, "max_parallel", max_parallel)

    def secrets(self) -> list[str]:
        """The password and the forms the AUTH lines carry it in (a server may echo them in its reply)."""
        if not self.password:
            return []
        user = self.user or ""
        found = [self.password]
        for plain in (f"\0{user}\0{self.password}", self.password, user):  # PLAIN's line; LOGIN's two lines
            found += base64_forms(plain)
        return longest_first(found)

    @property
    def peer(self) -> str:
        """``smtp://host:port`` (``smtps://`` with TLS from the start)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'smtps' if self.secure else 'smtp'}://{host}:{self.port}"

    def describe(self) -> str:
        """One secret-free line for ``rules list``: ``smtp://host:587 -> a@x, b@y``."""
        return f"{self.peer} -> {', '.join(bare_address(r) for r in self.recipients)}"


def settings(section: dict | None, env: Mapping[str, str]) -> Settings | None:
    """Build the email settings; ``None`` when the channel is not configured.

    Raises ``ConfigError`` for an invalid value (unknown key, bad port, bad
    address, bad timeout...)."""
    sec = check_section(section, SECTION_KEYS)
    pick = picker(sec, env)
    server = _server(pick)
    if server is None:
        return None
    host, recipients = server
    secure_v, secure_src = pick("secure", "SMTP_SECURE")
    secure = _parse_bool(secure_v, secure_src) if secure_v is not None else False
    port_v, port_src = pick("port", "SMTP_PORT")
    port = _parse_port(port_v, port_src) if port_v is not None else (DEFAULT_SECURE_PORT if secure else DEFAULT_PORT)
    user = _string(*pick("user", "SMTP_USER"))
    password = _string(*pick("password", "SMTP_PASS"))
    insecure_v, insecure_src = pick("allow_insecure_auth", "SMTP_ALLOW_INSECURE_AUTH")
    return Settings(
        host=host,
        port=port,
        secure=secure,
        user=user or None,
        password=password or None,
        sender=_sender(*pick("from", "ALERT_FROM_EMAIL")),
        recipients=tuple(recipients),
        timeout=parse_timeout(sec.get("timeout"), "timeout"),
        allow_insecure_auth=_parse_bool(insecure_v, insecure_src) if insecure_v is not None else False,
        max_parallel=parse_max_parallel(sec.get("max_parallel"), "max_parallel"),
    )


def _server(pick) -> tuple[str, list[str]] | None:
    """The SMTP host and the recipients; None when neither is set (the channel is not configured)."""
    host, host_src = pick("host", "SMTP_HOST")
    to, to_src = pick("to", "ALERT_TO_EMAILS")
    if host is None and to is None:
        return None
    if host is None:
        raise ConfigError(
            f"host missing: {to_src} gives recipients but no SMTP server is set (set channels.email.host or SMTP_HOST)"
        )
    if to is None:
        raise ConfigError(
            f"to missing: {host_src} names an SMTP server but no recipient is set "
            "(set channels.email.to or ALERT_TO_EMAILS)"
        )
    if not isinstance(host, str) or not host.strip() or re.search(r"[\s/@]", host.strip()):
        raise ConfigError(f"{host_src}: invalid SMTP host {host!r}")
    recipients = _parse_recipients(to, to_src)
    if not recipients:
        raise ConfigError(f"{to_src}: no recipient address (set channels.email.to or ALERT_TO_EMAILS)")
    return host.strip(), recipients


def _string(value: Any, where: str | None) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: must be a string (quote it in YAML)")
    return value


def _sender(value: Any, where: str | None) -> str:
    if value is None:
        return default_sender()
    parsed = _parse_addresses(value, str(where))
    if len(parsed) != 1:
        raise ConfigError(f"{where}: exactly one sender address expected, got {value!r}")
    return parsed[0]


def default_sender() -> str:
    """``pantry-alert@<this host's name>`` (used when no from address is set)."""
    import socket

    hostname = socket.gethostname() or "localhost"
    hostname = re.sub(r"[^A-Za-z0-9.-]", "-", hostname).strip(".-") or "localhost"
    return f"pantry-alert@{hostname}"


def _parse_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ConfigError(f"{where}: expected true or false, got {value!r}")


def _parse_port(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: invalid port {value!r}")
    try:
        port = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{where}: invalid port {value!r}") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"{where}: port {port} out of range 1-65535")
    return port


def _parse_addresses(value: Any, where: str) -> list[str]:
    from email.utils import formataddr, getaddresses

    if isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        items = list(value)
    else:
        raise ConfigError(f"{where}: expected an address or a list of addresses, got {value!r}")
    result = []
    for item in items:
        if "\r" in item or "\n" in item:
            raise ConfigError(f"{where}: line break in address {item!r}")
        for raw in _split_commas(item):
            name, addr = getaddresses([raw])[0]
            if not re.fullmatch(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+", addr or ""):
                raise ConfigError(f"{where}: invalid email address {raw!r}")
            result.append(formataddr((name, addr)) if name else addr)
    return result


def _split_commas(text: str) -> list[str]:
    """Split on commas outside quotes and angle brackets; drop empty pieces."""
    parts: list[str] = []
    buf: list[str] = []
    quote, angle = False, False
    for ch in text:
        if ch == '"':
            quote = not quote
        elif ch == "<" and not quote:
            angle = True
        elif ch == ">" and not quote:
            angle = False
        if ch == "," and not quote and not angle:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return [p.strip() for p in parts if p.strip()]


def _parse_recipients(value: Any, where: str) -> list[str]:
    seen, result = set(), []
    for addr in _parse_addresses(value, where):
        key = bare_address(addr).lower()
        if key not in seen:
            seen.add(key)
            result.append(addr)
    return result


from .email_render import bare_address, build_email, format_value, render_html, render_text, subject  # noqa: E402,F401

# ---------------------------------------------------------------- sending
# The SMTP conversation itself (deadlines, TLS, login, reused connections,
# error wording and scrubbing) is in ``notify.smtp``, loaded when mail is sent.


def send(settings: Settings, message: Message) -> None:
    """Send one notification; raise ``DeliveryError`` (scrubbed) on failure.

    The whole SMTP conversation shares one deadline of ``settings.timeout``.
    A message accepted for at least one recipient counts as delivered."""
    session = open_session(settings)
    try:
        session.send(message)
    finally:
        session.close()


def open_session(settings: Settings):
    """SMTP connections reused for every message of a run (``notify.smtp.Session``)."""
    from .smtp import Session

    return Session(settings)

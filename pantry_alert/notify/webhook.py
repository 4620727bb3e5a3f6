"""The webhook channel: one JSON POST per notification through httpx (docs/channels.md#webhook).

============  ====================  ==========================================
key           env                   meaning
============  ====================  ==========================================
url           ALERT_WEBHOOK_URL     absolute http(s) URL (required)
token         ALERT_WEBHOOK_TOKEN   sent as ``Authorization: Bearer <token>``
headers       -                     extra request headers (a mapping)
body          -                     a Jinja template rendering the JSON body
timeout       -                     default 10s
max_parallel  -                     requests in flight at once (default 8)
============  ====================  ==========================================

Keys left out of the ``channels.webhook`` section fall back to the
environment.  The body is ``{"alert", "timestamp", "service", "version",
"event"}`` (a resolved notice's ``metadata`` adds ``resolvedAfterMs``, how long
the alert fired), or what the ``body`` template renders from ``alert``, ``event``,
``service`` and ``timestamp`` (the bounded sandbox of descriptions; it must render
valid JSON, which ``rules validate`` checks with a sample alert); every request carries an ``Idempotency-Key`` that stays the same
across retries of one notification, so a receiver can drop a repeat.

A run's delivery opens one session (``open_session``): one ``httpx.Client``
whose keep-alive pool holds at most ``max_parallel`` connections, shared by
every notification of the run.  httpx is imported only when a message is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ConfigError, DeliveryError
from ..record import FrozenRecord
from ..redact import redact_url, scrub
from ..urls import is_http_url, why_not
from .capabilities import Capabilities
from .settings import DEFAULT_MAX_PARALLEL, DEFAULT_TIMEOUT, check_section, parse_max_parallel, parse_timeout, picker

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

CAPABILITIES = Capabilities(env=("ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_TOKEN"))  # one POST per notification
SECTION_KEYS = ("url", "token", "headers", "timeout", "max_parallel", "body")
MAX_TEMPLATE = 64 * 1024  # characters of a body template
# Headers pantry-alert sets itself; a configured header may not replace them.
RESERVED_HEADERS = {"content-type", "content-length", "idempotency-key", "host", "transfer-encoding"}
# Configured headers whose values are treated as secrets (scrubbed from errors).
_SECRET_HEADER = re.compile(r"auth|token|key|secret|signature|cookie|password|session", re.IGNORECASE)


# ---------------------------------------------------------------- settings


class Settings(FrozenRecord):
    """The webhook channel's settings."""

    url: str
    token: str | None
    headers: tuple[tuple[str, str], ...]
    timeout: float
    max_parallel: int
    body: str | None  # a Jinja template of the JSON body
    _fields = ("url", "token", "headers", "timeout", "max_parallel", "body")
    _shown = ("timeout", "max_parallel")  # not the secrets

    def __init__(
        self,
        url: str,
        token: str | None,
        headers: tuple[tuple[str, str], ...] = (),
        timeout: float = DEFAULT_TIMEOUT,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
        body: str | None = None,
    ) -> None:
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "token", token)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "max_parallel", max_parallel)
        object.__setattr__(self, "body", body)

    def secrets(self) -> list[str]:
        found = [self.token] if self.token else []
        parts = urlsplit(self.url)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
        if parts.username:
            found += [parts.username, unquote(parts.username)]
            # httpx sends URL userinfo as Basic auth: its base64 form is a secret too.
            import base64

            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            found.append(base64.b64encode(pair.encode()).decode())
        if parts.query:
            found.append(parts.query)
            found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
        found += [value for name, value in self.headers if _SECRET_HEADER.search(name)]
        return found

    @property
    def peer(self) -> str:
        """The URL without userinfo, query or fragment (for messages)."""
        return redact_url(self.url)

    def describe(self) -> str:
        """One secret-free line for ``rules list``."""
        extras = []
        if self.token:
            extras.append("bearer token")
        if self.headers:
            extras.append("headers: " + ", ".join(name for name, _ in self.headers))
        if self.body:
            extras.append("body template")
        return f"POST {self.peer}" + (f" ({'; '.join(extras)})" if extras else "")


def settings(section: dict | None, env: Mapping[str, str]) -> Settings | None:
    """Build the webhook settings; ``None`` when no URL is configured."""
    sec = check_section(section, SECTION_KEYS)

    pick = picker(sec, env)

    url, url_src = pick("url", "ALERT_WEBHOOK_URL")
    token, token_src = pick("token", "ALERT_WEBHOOK_TOKEN")
    timeout = parse_timeout(sec.get("timeout"), "timeout")
    headers = parse_headers(sec.get("headers"), "headers")
    max_parallel = parse_max_parallel(sec.get("max_parallel"), "max_parallel")
    body = sec.get("body")
    if body is not None and (not isinstance(body, str) or not body.strip()):
        raise ConfigError("body: must be a template (a string) that renders the JSON body")
    if body is not None and len(body) > MAX_TEMPLATE:
        raise ConfigError(f"body: the template is longer than {MAX_TEMPLATE // 1024} KiB")
    if url is None:
        return None
    if not isinstance(url, str) or not is_http_url(url.strip()):
        raise ConfigError(f"{url_src}: invalid webhook URL {redact_url(str(url))!r} ({why_not(url)})")
    if token is not None and (not isinstance(token, str) or re.search(r"[\r\n]", token)):
        raise ConfigError(f"{token_src}: must be a single-line string")
    if token is not None and urlsplit(url.strip()).username is not None:
        raise ConfigError(
            f"{url_src}: the URL carries user:password (Basic auth) and a bearer token is set "
            f"({token_src}); use one or the other"
        )
    return Settings(
        url=url.strip(),
        token=token.strip() if token else None,
        headers=headers,
        timeout=timeout,
        max_parallel=max_parallel,
        body=body,
    )


def parse_headers(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if value is None or value == "":
        return ()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a mapping of header names to values")
    result = []
    for name, val in value.items():
        if not isinstance(name, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise ConfigError(f"{where}: invalid header name {name!r}")
        if name.lower() in RESERVED_HEADERS:
            raise ConfigError(f"{where}: {name} is set by pantry-alert and cannot be configured")
        if isinstance(val, bool) or not isinstance(val, (str, int, float)):
            raise ConfigError(f"{where}.{name}: value must be a string")
        val = str(val)
        if re.search(r"[\x00-\x1f\x7f]", val):
            raise ConfigError(f"{where}.{name}: line break or other control character in header value")
        result.append((name, val))
    return tuple(result)


# ---------------------------------------------------------------- the request


def build_body(message: Message) -> dict[str, Any]:
    body = {
        "alert": alert_shown(message),
        "timestamp": message.now_ms,
        "service": message.service,
        "version": message.version,
        "event": message.kind,
    }
    if message.step is not None:  # a notice of an escalation policy's step
        body["step"] = message.step
    return body


def alert_shown(message: Message) -> dict[str, Any]:
    """The alert as the body carries it: a resolved notice's ``metadata`` adds
    ``resolvedAfterMs``, how long the alert fired."""
    from .base import fired_for_ms

    alert = message.alert
    fired = fired_for_ms(alert) if message.kind == "resolved" else None
    if fired is None or not isinstance(alert.get("metadata"), dict):
        return alert
    return {**alert, "metadata": {**alert["metadata"], "resolvedAfterMs": fired}}


def template_context(message: Message) -> dict[str, Any]:
    """What a body template sees: ``alert`` (as the default body has it), ``event``, ``service``, ``timestamp``."""
    return {
        "alert": alert_shown(message),
        "event": message.kind,
        "service": message.service,
        "timestamp": message.now_ms,
    }


def render_template(settings: Settings, message: Message) -> bytes:
    """The body the ``body`` template renders; ``ExpressionError`` when it fails or is not JSON."""
    from ..errors import ExpressionError
    from ..templates import render_body

    assert settings.body is not None
    text = render_body(settings.body, template_context(message))
    try:
        json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (rendered line {line}: {getattr(exc, 'msg', exc)})" if line else f" ({exc})"
        raise ExpressionError(f"the body template does not render valid JSON{where}") from None
    except RecursionError:
        raise ExpressionError("the body template renders JSON nested too deeply") from None
    return text.encode("utf-8")


def request_body(settings: Settings, message: Message) -> bytes:
    """The bytes POSTed: the template's rendering when ``body`` is set, else the default body."""
    return render_template(settings, message) if settings.body else encode_body(message)


def check_settings(settings: Settings, message: Message) -> str | None:
    """What is wrong with rendering the body template for ``message`` (``rules validate``), or None."""
    from ..errors import ExpressionError

    if not settings.body:
        return None
    try:
        render_template(settings, message)
    except ExpressionError as exc:
        return f"body: {exc}"
    return None


def build_headers(settings: Settings, message: Message) -> dict[str, str]:
    headers = {name: value for name, value in settings.headers}
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = message.idempotency_key
    if settings.token:
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        headers["Authorization"] = f"Bearer {settings.token}"
    if not any(k.lower() == "user-agent" for k in headers):
        headers["User-Agent"] = f"pantry-alert/{message.version or 'dev'}"
    return headers


def encode_body(message: Message) -> bytes:
    """Compact UTF-8 JSON; a non-finite float (NaN, Infinity) becomes null."""
    from .http_channel import encode

    return encode(build_body(message))


def send(settings: Settings, message: Message) -> None:
    """POST one notification; raise ``DeliveryError`` (scrubbed) unless 2xx.

    4xx other than 408 and 429 are not retryable; 408, 429 and 5xx carry Retry-After.
    Redirects are not followed (a 3xx is a failure naming the status)."""
    from .http_channel import send_alone

    send_alone(deliver, settings, message)


def open_session(settings: Settings):
    """One ``httpx.Client`` for a run: keep-alive connections, at most ``max_parallel``."""
    from .http_channel import Session

    return Session(settings, deliver)


def deliver(settings: Settings, message: Message, client: Any) -> None:
    """One POST; the answer read by the rule every HTTP channel shares (``notify.http_channel``)."""
    from ..errors import ExpressionError
    from .http_channel import post

    try:
        body = request_body(settings, message)
    except ExpressionError as exc:  # the same template fails again on retry
        text = scrub(f"webhook {settings.peer}: body template: {exc}", settings.secrets())
        raise DeliveryError(text, retryable=False) from None
    post(
        "webhook",
        settings.peer,
        settings.url,
        content=body,
        headers=build_headers(settings, message),
        timeout=settings.timeout,
        secrets=settings.secrets(),
        now_ms=message.now_ms,
        client=client,
    )

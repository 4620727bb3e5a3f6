"""The webhook channel: one JSON POST per notification through httpx (docs/channels.md#webhook).

============  ====================  ==========================================
key           env                   meaning
============  ====================  ==========================================
url           ALERT_WEBHOOK_URL     absolute http(s) URL (required)
token         ALERT_WEBHOOK_TOKEN   sent as ``Authorization: Bearer <token>``
headers       -                     extra request headers (a mapping)
timeout       -                     default 10s
max_parallel  -                     requests in flight at once (default 8)
============  ====================  ==========================================

Keys left out of the ``channels.webhook`` section fall back to the
environment.  The body is ``{"alert", "timestamp", "service", "version",
"event"}``; every request carries an ``Idempotency-Key`` that stays the same
across retries of one notification, so a receiver can drop a repeat.

A run's delivery opens one session (``open_session``): one ``httpx.Client``
whose keep-alive pool holds at most ``max_parallel`` connections, shared by
every notification of the run.  httpx is imported only when a message is sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ConfigError, DeliveryError
from ..fetch import FetchError, channel_problem, fetch
from ..redact import redact_url, scrub
from ..text import one_line
from ..urls import is_http_url, why_not
from .base import (
    DEFAULT_MAX_PARALLEL,
    DEFAULT_TIMEOUT,
    Message,
    check_section,
    parse_max_parallel,
    parse_timeout,
    picker,
    retry_after_ms,
)
from .capabilities import Capabilities

CAPABILITIES = Capabilities(env=("ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_TOKEN"))  # one POST per notification
SECTION_KEYS = ("url", "token", "headers", "timeout", "max_parallel")
# Headers pantry-alert sets itself; a configured header may not replace them.
RESERVED_HEADERS = {"content-type", "content-length", "idempotency-key", "host", "transfer-encoding"}
# Configured headers whose values are treated as secrets (scrubbed from errors).
_SECRET_HEADER = re.compile(r"auth|token|key|secret|signature|cookie|password|session", re.IGNORECASE)


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """The webhook channel's settings."""

    url: str = field(repr=False)
    token: str | None = field(repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_parallel: int = DEFAULT_MAX_PARALLEL

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
        "alert": message.alert,
        "timestamp": message.now_ms,
        "service": message.service,
        "version": message.version,
        "event": message.kind,
    }
    if message.step is not None:  # a notice of an escalation policy's step
        body["step"] = message.step
    return body


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
    body = build_body(message)
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(body), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def send(settings: Settings, message: Message) -> None:
    """POST one notification; raise ``DeliveryError`` (scrubbed) unless 2xx.

    4xx other than 408 and 429 are not retryable; 429 carries Retry-After.
    Redirects are not followed (a 3xx is a failure naming the status)."""
    session = open_session(settings)
    try:
        session.send(message)
    finally:
        session.close()


class Session:
    """One ``httpx.Client`` for a run: keep-alive connections, at most ``max_parallel``.

    ``send`` may be called from several threads at once (httpx's pool is thread-safe)."""

    def __init__(self, settings: Settings):
        import httpx

        self.settings = settings
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout),
            follow_redirects=False,
            trust_env=True,
            limits=httpx.Limits(max_connections=settings.max_parallel, max_keepalive_connections=settings.max_parallel),
        )

    def send(self, message: Message) -> None:
        _post(self.client, self.settings, message)

    def close(self) -> None:
        self.client.close()


def open_session(settings: Settings) -> Session:
    return Session(settings)


def _post(client, settings: Settings, message: Message) -> None:
    def fail(text: str, retryable: bool = True, retry_after_ms: int | None = None) -> DeliveryError:
        return DeliveryError(
            scrub(f"webhook {settings.peer}: {text}", settings.secrets()),
            retryable=retryable,
            retry_after_ms=retry_after_ms,
        )

    body = encode_body(message)
    headers = build_headers(settings, message)
    try:
        response = fetch(
            "POST",
            settings.url,
            timeout_s=settings.timeout,
            headers=headers,
            content=body,
            secrets=settings.secrets(),
            client=client,
            accept_encoding=False,
        )
    except FetchError as exc:
        error = fail(channel_problem(exc, settings.timeout))
        error.answered = exc.kind != "timeout"  # timed out: it may have arrived all the same
        raise error from None

    status = response.status
    if 200 <= status < 300:
        return
    # Scrub before cutting: a secret cut in half would no longer match.
    snippet = one_line(scrub(response.text(), settings.secrets()))
    snippet = snippet if len(snippet) <= 200 else snippet[:199] + "…"
    text = f"HTTP {status} {response.reason}".rstrip()
    if snippet:
        text += f": {snippet}"
    if status == 429:
        retry_after = retry_after_ms(response.header("retry-after"))
        if retry_after is not None:
            text += f" (retry after {retry_after / 1000:g}s)"
        raise fail(text, retryable=True, retry_after_ms=retry_after)
    raise fail(text, retryable=not (400 <= status < 500) or status == 408)

"""What every HTTP channel shares: one POST through ``fetch`` and one reading of the answer.

``post`` sends a request through the hardened exchange (``pantry_alert.fetch``:
total deadline, bounded body, no redirects, scrubbed errors) and ``check_answer``
classifies the answer the same way for every channel:

- 2xx: sent;
- 408, 429 and 5xx: retried in a later run, honouring ``Retry-After`` (seconds,
  or an HTTP date compared with the run's now), capped at 1 h;
- any other status: failed for good, with the status and the peer's own reason
  (its JSON ``description``, ``message``, ``error`` or ``errors``, else the
  first line of its text) shown in ``show``.

A failure names the channel and ``peer``, the part of the URL a message may
show (the host only, for a URL that carries a secret in its path), and every
text is scrubbed of the channel's secrets before it leaves here.

``Session`` keeps one HTTP client (keep-alive, at most ``max_parallel``
connections) for a run's sends of one channel.  httpx is imported only when a
session opens or a request is made.
"""

from __future__ import annotations

import json
import math

from ..errors import ConfigError, DeliveryError
from ..redact import scrub
from ..urls import is_http_url, why_not

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from ..fetch import Reply

RETRY_AFTER_CAP_MS = 3_600_000  # a peer's Retry-After is honoured up to 1 h
REASON_CHARS = 200  # characters of the peer's reason kept in the error
ANSWER_BYTES = 256 * 1024  # an answer to a notification is small; more is cut off
RETRIED = frozenset({408, 429})
_REASON_KEYS = ("description", "message", "error", "detail", "errors")


class Refused(Exception):
    """A 2xx answer whose content says the peer did not take the notification (Telegram's
    ``{"ok": false}``); ``reason`` is the peer's words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def base_url(value: Any, where: str, default: str) -> str:
    """A base-URL override: an absolute http(s) URL (no trailing slash), else ``default``."""
    if value is None or value == "":
        return default
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not is_http_url(text):
        from ..fetch import host_of

        raise ConfigError(f"{where}: invalid URL {host_of(str(value))!r} ({why_not(value)})")
    return text.rstrip("/")


def single_line(value: Any, where: str) -> str | None:
    """A setting that must be one line of text (a token, an id), stripped; None when unset."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigError(f"{where}: must be a string")
    text = str(value).strip()
    if not text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ConfigError(f"{where}: must be a single line of text")
    return text


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, Infinity) replaced by null, which JSON cannot carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def encode(body: Any) -> bytes:
    """Compact UTF-8 JSON of ``body`` (non-finite numbers as null)."""
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(finite(body), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


class Session:
    """One ``httpx.Client`` for a run's sends of one channel (thread-safe; keep-alive).

    ``deliver(settings, message, client)`` is the channel's own send."""

    def __init__(self, settings: Any, deliver: Callable[[Any, Any, Any], None]):
        import httpx

        from ..fetch import new_client

        self.settings = settings
        self.deliver = deliver
        limit = getattr(settings, "max_parallel", 8)
        self.client = new_client(
            timeout=httpx.Timeout(settings.timeout),
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        )

    def send(self, message: Any) -> None:
        self.deliver(self.settings, message, self.client)

    def close(self) -> None:
        self.client.close()


def post(
    channel: str,
    peer: str,
    url: str,
    *,
    timeout: float,
    secrets: Sequence[str | None],
    now_ms: int,
    body: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    client: Any = None,
) -> Reply:
    """POST ``body`` as JSON (or ``content`` as it is) to ``url`` and classify the answer.

    Returns the 2xx ``Reply``; raises ``DeliveryError`` (scrubbed, naming ``channel`` and
    ``peer``) for everything else."""
    from ..fetch import FetchError, channel_problem, fetch

    sent = {"Content-Type": "application/json", **(headers or {})}
    try:
        reply = fetch(
            "POST",
            url,
            timeout_s=timeout,
            headers=sent,
            content=encode(body) if content is None else content,
            secrets=secrets,
            client=client,
            max_bytes=ANSWER_BYTES,
            accept_encoding=False,
        )
    except FetchError as exc:
        # timed out: the request went out and may have arrived all the same
        text = scrub(f"{channel} {peer}: {channel_problem(exc, timeout)}", secrets)
        raise DeliveryError(text, answered=exc.kind != "timeout") from None
    check_answer(channel, peer, reply, now_ms=now_ms, secrets=secrets)
    return reply


def check_answer(channel: str, peer: str, reply: Reply, *, now_ms: int, secrets: Sequence[str | None]) -> None:
    """Nothing for a 2xx answer; otherwise the ``DeliveryError`` the shared rules call for."""
    if 200 <= reply.status < 300:
        return
    status = reply.status
    text = f"HTTP {status} {reply.reason}".rstrip()
    reason = peer_reason(reply.body, secrets)
    if reason:
        text += f": {reason}"
    retryable = status in RETRIED or status >= 500 or status < 400
    wait = retry_after(reply.header("retry-after"), now_ms, reply.body) if retryable else None
    if wait is not None:
        text += f" (retry after {wait / 1000:g}s)"
    raise DeliveryError(scrub(f"{channel} {peer}: {text}", secrets), retryable=retryable, retry_after_ms=wait)


def refused(channel: str, peer: str, reason: str, secrets: Sequence[str | None]) -> DeliveryError:
    """The error for a 2xx answer that says no: failed for good, with the peer's words."""
    words = _cut(" ".join(scrub(reason, secrets).split())) or "the answer said it was not delivered"
    return DeliveryError(scrub(f"{channel} {peer}: {words}", secrets), retryable=False)


def retry_after(header: str | None, now_ms: int, body: bytes = b"") -> int | None:
    """The peer's wait in ms (its ``Retry-After``, else a JSON body's ``retry_after`` seconds, as
    Telegram and Discord give it), at most ``RETRY_AFTER_CAP_MS``; None when it gave none."""
    from .base import retry_after_ms

    wait = retry_after_ms(header, now_ms)
    if wait is None:
        found = _json(body)
        hint = found.get("retry_after", (found.get("parameters") or {}).get("retry_after")) if found else None
        if isinstance(hint, (int, float)) and not isinstance(hint, bool) and math.isfinite(hint) and hint >= 0:
            wait = int(hint * 1000)
    return None if wait is None else min(wait, RETRY_AFTER_CAP_MS)


def peer_reason(body: bytes, secrets: Sequence[str | None] = ()) -> str:
    """The peer's own words for a refusal, on one line, scrubbed and then cut short."""
    found = _json(body)
    words = ""
    if found:
        pieces = []
        for key in _REASON_KEYS:
            value = found.get(key)
            if isinstance(value, list):
                value = "; ".join(str(v) for v in value[:5])
            elif isinstance(value, dict):
                value = value.get("message") or value.get("description")
            if value not in (None, "", [], {}):
                pieces.append(str(value))
        words = "; ".join(dict.fromkeys(pieces))
    if not words:  # no words of its own: the start of what it said
        words = body[:4096].decode("utf-8", "replace")
    return _cut(" ".join(scrub(words, secrets).split()))


def _cut(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def _json(body: bytes) -> dict:
    try:
        found = json.loads(body[:ANSWER_BYTES]) if body and body.lstrip()[:1] == b"{" else None
    except (ValueError, RecursionError):
        return {}
    return found if isinstance(found, dict) else {}


def limits(section: Mapping[str, Any]) -> tuple[float, int]:
    """(timeout in seconds, max_parallel) of a channel's section: ``timeout`` (default 10s)
    and ``max_parallel`` (default 8)."""
    from .base import parse_max_parallel, parse_timeout

    return parse_timeout(section.get("timeout"), "timeout"), parse_max_parallel(
        section.get("max_parallel"), "max_parallel"
    )


def send_alone(deliver: Callable[[Any, Any, Any], None], settings: Any, message: Any) -> None:
    """One send outside a run (``test-notify``): a session of its own, closed after."""
    session = Session(settings, deliver)
    try:
        session.send(message)
    finally:
        session.close()

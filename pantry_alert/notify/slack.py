"""The Slack channel: slack-sdk (docs/channels.md#slack).

Two ways to post, both from the ``channels.slack`` section of rules.yaml with
a per-key fallback to the channel's environment variables:

============  ===================  =========================================
key           env                  meaning
============  ===================  =========================================
token         SLACK_BOT_TOKEN      bot token (``xoxb-...``) for chat.postMessage
channel       SLACK_ALERT_CHANNEL  channel name or id; needed with ``token``
webhook_url   SLACK_WEBHOOK_URL    an incoming-webhook URL (used without token)
api_url       SLACK_API_URL        Web API base URL, default https://slack.com/api/
timeout       -                    default 10s
max_parallel  -                    messages in flight at once (default 8)
============  ===================  =========================================

A token plus a channel selects the Web API; otherwise a webhook URL selects
the incoming webhook.  A section that sets ``webhook_url`` but no ``token``
always means the webhook, whatever the environment holds.

This module holds the settings and the transport; ``notify.slack_render``
turns a message into Block Kit.

Messages are posted through ``pantry_alert.fetch`` (a total deadline, a
bounded answer, no redirects: a 301/302 from ``api_url`` is a failure and the
bot token goes nowhere else).  httpx is imported only when a message is sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..errors import ConfigError, DeliveryError
from ..record import FrozenRecord
from ..redact import scrub
from ..text import one_line
from ..urls import is_http_url
from .capabilities import Capabilities
from .settings import DEFAULT_MAX_PARALLEL, DEFAULT_TIMEOUT, check_section, parse_max_parallel, parse_timeout, picker

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

DEFAULT_API_URL = "https://slack.com/api/"
CAPABILITIES = Capabilities(
    env=("SLACK_BOT_TOKEN", "SLACK_ALERT_CHANNEL", "SLACK_WEBHOOK_URL", "SLACK_API_URL"), digest=True, batched=True
)
SECTION_KEYS = ("token", "channel", "webhook_url", "api_url", "timeout", "max_parallel")

# Errors for which a later retry can succeed; every other ``ok: false`` error
# (invalid_auth, channel_not_found, not_in_channel, ...) needs a human first.
TRANSIENT_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
}

# ---------------------------------------------------------------- settings


class Settings(FrozenRecord):
    """The Slack channel's settings."""

    mode: str  # "api" (chat.postMessage) or "webhook"
    token: str | None
    channel: str | None
    webhook_url: str | None
    api_url: str
    timeout: float
    max_parallel: int
    _fields = ("mode", "token", "channel", "webhook_url", "api_url", "timeout", "max_parallel")
    _shown = ("mode", "channel", "api_url", "timeout", "max_parallel")  # not the secrets

    def __init__(
        self,
        mode: str,
        token: str | None,
        channel: str | None,
        webhook_url: str | None,
        api_url: str = DEFAULT_API_URL,
        timeout: float = DEFAULT_TIMEOUT,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
    ) -> None:
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "token", token)
        object.__setattr__(self, "channel", channel)
        object.__setattr__(self, "webhook_url", webhook_url)
        object.__setattr__(self, "api_url", api_url)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "max_parallel", max_parallel)

    def secrets(self) -> list[str]:
        found = [self.token] if self.token else []
        if self.webhook_url:
            parts = urlsplit(self.webhook_url)
            found.append(self.webhook_url)
            if parts.path and parts.path != "/":
                found.append(parts.path)
            last = parts.path.rstrip("/").rpartition("/")[2]
            if len(last) >= 8:
                found.append(last)
            if parts.query:
                found.append(parts.query)
        return found

    @property
    def peer(self) -> str:
        """Where messages go, without secrets (used in error messages)."""
        if self.mode == "api":
            return f"{self.api_url}chat.postMessage"
        parts = urlsplit(self.webhook_url or "")
        return f"incoming webhook {parts.scheme}://{parts.hostname or ''}{_port(parts)}/…"

    def describe(self) -> str:
        """One secret-free line for ``rules list``."""
        if self.mode == "api":
            return f"chat.postMessage -> {self.channel} via {self.api_url}"
        return self.peer


def settings(section: dict | None, env: Mapping[str, str]) -> Settings | None:
    """Build the Slack settings; ``None`` when the channel is not configured."""
    sec = check_section(section, SECTION_KEYS)

    pick = picker(sec, env)

    token, token_src = pick("token", "SLACK_BOT_TOKEN")
    channel, channel_src = pick("channel", "SLACK_ALERT_CHANNEL")
    hook, hook_src = pick("webhook_url", "SLACK_WEBHOOK_URL")
    api_url, api_src = pick("api_url", "SLACK_API_URL")
    for value, src in ((token, token_src), (channel, channel_src)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{src}: must be a non-empty string")
    timeout = parse_timeout(sec.get("timeout"), "timeout")
    max_parallel = parse_max_parallel(sec.get("max_parallel"), "max_parallel")
    if api_url is None:
        api_url = DEFAULT_API_URL
    else:
        _check_url(api_url, api_src)
        api_url = api_url.strip()
        if not api_url.endswith("/"):
            api_url += "/"  # WebClient joins the method with urljoin

    section_hook = sec.get("webhook_url") not in (None, "")
    section_token = sec.get("token") not in (None, "")
    if section_hook and not section_token:
        mode = "webhook"
    elif token and channel:
        mode = "api"
    elif hook:
        mode = "webhook"
    elif token or channel:
        missing = "channel" if token else "token"
        given = token_src if token else channel_src
        var = "SLACK_ALERT_CHANNEL" if token else "SLACK_BOT_TOKEN"
        raise ConfigError(
            f"{missing} missing: {given} is set, but chat.postMessage needs both a token and a channel "
            f"(set channels.slack.{missing} or {var}; or set webhook_url for an incoming webhook)"
        )
    else:
        return None
    if mode == "webhook":
        _check_url(hook, hook_src)
        return Settings(
            mode="webhook",
            token=None,
            channel=None,
            webhook_url=hook.strip(),
            api_url=api_url,
            timeout=timeout,
            max_parallel=max_parallel,
        )
    return Settings(
        mode="api",
        token=token.strip(),
        channel=channel.strip(),
        webhook_url=None,
        api_url=api_url,
        timeout=timeout,
        max_parallel=max_parallel,
    )


def _check_url(url: Any, where: str | None) -> None:
    if not isinstance(url, str) or not is_http_url(url.strip()):
        shown = "(not a string)" if not isinstance(url, str) else "(not an absolute http(s) URL)"
        raise ConfigError(f"{where}: invalid URL {shown}")


def _port(parts) -> str:
    try:
        return f":{parts.port}" if parts.port else ""
    except ValueError:
        return ""


# ---------------------------------------------------------------- sending
# The message itself is rendered in ``notify.slack_render``.
from .slack_render import build_digest, build_payload, escape  # noqa: E402,F401


def send(settings: Settings, message: Message) -> None:
    """Post one notification; raise ``DeliveryError`` (scrubbed) on failure.

    Nothing is retried here (the delivery layer retries), and nothing is logged."""
    open_session(settings).send(message)


class Session:
    """A run's Slack transport: every message goes through the hardened ``fetch``
    (a total deadline, a bounded answer, and no redirect ever followed, so the bot
    token reaches no other host than ``api_url``)."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def send(self, message: Message) -> None:
        payload = build_payload(message)
        if self.settings.mode == "api":
            _send_api(self.settings, payload)
        else:
            _send_webhook(self.settings, payload)

    def close(self) -> None:
        pass


def open_session(settings: Settings) -> Session:
    return Session(settings)


def _fail(settings: Settings, text: str, retryable: bool = True, retry_after_ms: int | None = None) -> DeliveryError:
    return DeliveryError(
        scrub(f"slack {settings.peer}: {text}", settings.secrets()), retryable=retryable, retry_after_ms=retry_after_ms
    )


def _rate_limited(settings: Settings, status: int | None, detail: str, retry_after: int | None) -> DeliveryError:
    """Retried: after the wait Slack asked for (Retry-After), when it named one."""
    wait = f"; retry after {retry_after / 1000:g}s" if retry_after is not None else ""
    return _fail(settings, f"rate limited (HTTP {status}, {detail}){wait}", retryable=True, retry_after_ms=retry_after)


def _post(settings: Settings, url: str, payload: dict[str, Any], headers: dict[str, str]):
    """One POST through ``fetch``; ``DeliveryError`` for a network failure or a redirect."""
    from ..fetch import FetchError, channel_problem, fetch

    headers = {"Content-Type": "application/json; charset=utf-8", **headers}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    try:
        return fetch(
            "POST",
            url,
            timeout_s=settings.timeout,
            headers=headers,
            content=body,
            secrets=settings.secrets(),
            accept_encoding=False,
        )
    except FetchError as exc:
        error = _fail(settings, channel_problem(exc, settings.timeout))
        error.answered = exc.kind != "timeout"  # timed out: it may have arrived all the same
        raise error from None


def _send_api(settings: Settings, payload: dict[str, Any]) -> None:
    """``chat.postMessage``: Slack's verdict is the JSON ``ok`` / ``error`` of the answer."""
    response = _post(
        settings,
        settings.api_url + "chat.postMessage",
        {"channel": settings.channel, **payload},
        {"Authorization": f"Bearer {settings.token}"},
    )
    try:
        data = json.loads(response.body)
    except (ValueError, RecursionError):
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(data, dict) and data.get("ok") is True and response.ok:
        return
    if data is None:
        error = "Received a response in a non-JSON format"
    error = one_line(scrub(str(error or "unknown error"), settings.secrets()))[:300]
    retry_after = _retry_after_ms(response.headers)
    status = response.status
    if status == 429 or error == "ratelimited":
        raise _rate_limited(settings, status, error, retry_after)
    if status != 200:
        raise _fail(settings, f"HTTP {status}: {error}", retryable=status >= 500 or status == 408)
    # A body that is not JSON came from a proxy or an outage page, not from Slack's verdict.
    transient = error in TRANSIENT_ERRORS or error.startswith("Received a response in a non-JSON format")
    raise _fail(settings, f"Slack refused the message: {error}", retryable=transient)


def _send_webhook(settings: Settings, payload: dict[str, Any]) -> None:
    assert settings.webhook_url is not None  # webhook mode: the settings parser required it
    response = _post(settings, settings.webhook_url, payload, {})
    status = response.status
    if response.ok:
        return
    body = one_line(scrub(response.text(), settings.secrets()))[:300] or "(empty body)"
    if status == 429:
        raise _rate_limited(settings, status, body, _retry_after_ms(response.headers))
    raise _fail(settings, f"HTTP {status}: {body}", retryable=status >= 500 or status == 408)


def _retry_after_ms(headers: Any) -> int | None:
    """``Retry-After`` of a response's headers (any mapping) in milliseconds, or None."""
    from .base import retry_after_ms  # here: a quiet run, which sends nothing, need not load it

    for key, val in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            return retry_after_ms(val[0] if isinstance(val, (list, tuple)) and val else val)
    return None

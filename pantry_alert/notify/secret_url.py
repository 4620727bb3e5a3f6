"""A webhook URL that is itself the secret (Teams, Discord): checked, shown by host only.

Such a URL carries its credential in the path (``/api/webhooks/<id>/<token>``,
a Workflows URL's ``sig=``): every part of it is scrubbed from messages, and
``host`` is all that a message, ``rules list`` or ``show`` may name.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigError
from ..record import FrozenRecord
from ..urls import is_http_url, why_not
from .http_channel import limits, post
from .settings import DEFAULT_MAX_PARALLEL, DEFAULT_TIMEOUT, check_section, picker

SECTION_KEYS = ("webhook_url", "timeout", "max_parallel")


class WebhookSettings(FrozenRecord):
    """A channel whose one setting is its secret webhook URL (plus the shared limits).
    A channel subclasses it to name what the URL is in ``describe`` (``LABEL``)."""

    LABEL = "webhook"
    webhook_url: str
    timeout: float
    max_parallel: int
    _fields = ("webhook_url", "timeout", "max_parallel")
    _shown = ("timeout", "max_parallel")  # not the secrets

    def __init__(
        self, webhook_url: str, timeout: float = DEFAULT_TIMEOUT, max_parallel: int = DEFAULT_MAX_PARALLEL
    ) -> None:
        object.__setattr__(self, "webhook_url", webhook_url)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "max_parallel", max_parallel)

    def secrets(self) -> list[str]:
        return url_parts(self.webhook_url)

    @property
    def peer(self) -> str:
        return host(self.webhook_url)

    def describe(self) -> str:
        return f"{self.LABEL} at {self.peer}"

    def post_json(self, channel: str, body: dict, message, client) -> None:
        """POST ``body`` to the webhook under the shared answer rules (``http_channel.post``)."""
        post(
            channel,
            self.peer,
            self.webhook_url,
            body=body,
            timeout=self.timeout,
            secrets=self.secrets(),
            now_ms=message.now_ms,
            client=client,
        )


def webhook_settings(cls: type[WebhookSettings], section: dict | None, env: Mapping[str, str], env_var: str):
    """``cls`` from the section's ``webhook_url`` (else ``env_var``), or None when neither is set."""
    sec = check_section(section, SECTION_KEYS)
    url, src = picker(sec, env)("webhook_url", env_var)
    timeout, max_parallel = limits(sec)
    url = secret_url(url, src or "webhook_url")
    return None if url is None else cls(webhook_url=url, timeout=timeout, max_parallel=max_parallel)


def secret_url(value, where: str) -> str | None:
    """The URL of ``value`` (an absolute http(s) URL), or None when unset; the error never shows it."""
    if value is None or value == "":
        return None
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not is_http_url(text):
        from ..fetch import host_of

        raise ConfigError(f"{where}: invalid webhook URL at {host_of(str(value))} ({why_not(value)})")
    return text


def url_parts(url: str) -> list[str]:
    """Every part of a secret URL worth scrubbing: the URL, its path, query and each segment."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    from ..fetch import url_secrets

    parts = urlsplit(url)
    found = [url, url.rstrip("/"), parts.path, unquote(parts.path), parts.query, *url_secrets(url)]
    found += [segment for segment in parts.path.split("/") if len(segment) >= 8]
    found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    return [s for s in dict.fromkeys(found) if s and len(s) >= 3 and s != "/"]


def host(url: str) -> str:
    from ..fetch import host_of

    return host_of(url)

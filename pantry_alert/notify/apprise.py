"""The Apprise channel: a title and a body to any of Apprise's services (docs/channels.md#apprise).

============  ============  ==================================================
key           env           meaning
============  ============  ==================================================
urls          APPRISE_URLS  Apprise URLs (a list; the variable comma-separated)
timeout       -             default 10s
max_parallel  -             sends in flight at once (default 8)
============  ============  ==================================================

An optional extra: ``pip install 'pantry-alert[apprise]'``.  The library is
imported only when a notice is sent, so a quiet ``check`` and ``--help`` load
none of it; configuring the channel without the extra installed is a
configuration error naming that command.  Best effort: Apprise says only
whether every service took the notice, so a failure is retried until the
notice expires.  Apprise does its own HTTP (its services' own clients), not
through pantry-alert's hardened exchange; the URLs are secrets: messages name
their schemes only, and Apprise's own log lines are captured and scrubbed.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigError, DeliveryError
from ..record import FrozenRecord
from ..redact import scrub
from .capabilities import Capabilities
from .chat import body_lines, buttons, headline
from .http_channel import limits
from .secret_url import url_parts
from .settings import DEFAULT_MAX_PARALLEL, DEFAULT_TIMEOUT, check_section, picker

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from .base import Message

CAPABILITIES = Capabilities(env=("APPRISE_URLS",))
SECTION_KEYS = ("urls", "timeout", "max_parallel")
INSTALL = "pip install 'pantry-alert[apprise]'"
MAX_URLS = 50


class Settings(FrozenRecord):
    urls: tuple[str, ...]
    timeout: float
    max_parallel: int
    _fields = ("urls", "timeout", "max_parallel")
    _shown = ("timeout", "max_parallel")  # not the secrets

    def __init__(
        self, urls: tuple[str, ...], timeout: float = DEFAULT_TIMEOUT, max_parallel: int = DEFAULT_MAX_PARALLEL
    ) -> None:
        object.__setattr__(self, "urls", urls)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "max_parallel", max_parallel)

    def secrets(self) -> list[str]:
        found = []
        for url in self.urls:
            found += [url, *url_parts(url), url.partition("://")[2]]
        return sorted(dict.fromkeys(s for s in found if s), key=len, reverse=True)

    @property
    def peer(self) -> str:
        return ", ".join(dict.fromkeys(url.partition("://")[0] + "://" for url in self.urls))

    def describe(self) -> str:
        return f"{len(self.urls)} Apprise URL{'s' if len(self.urls) != 1 else ''} ({self.peer})"


def installed() -> bool:
    """Whether the extra is installed (found without importing it)."""
    import importlib.util

    return importlib.util.find_spec("apprise") is not None


def settings(section: dict | None, env: Mapping[str, str]) -> Settings | None:
    sec = check_section(section, SECTION_KEYS)
    value, src = picker(sec, env)("urls", "APPRISE_URLS")
    timeout, max_parallel = limits(sec)
    if value is None:
        return None
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{src}: must be a list of Apprise URLs (the variable: comma-separated)")
    urls = tuple(v.strip() for v in value)
    if len(urls) > MAX_URLS:
        raise ConfigError(f"{src}: at most {MAX_URLS} URLs")
    for index, url in enumerate(urls):
        scheme, sep, rest = url.partition("://")
        if not sep or not scheme.replace("+", "").replace("-", "").isalnum() or not rest:
            raise ConfigError(f"{src}: item {index + 1} is not an Apprise URL (scheme://...)")
        if any(ord(c) < 32 or ord(c) == 127 for c in url):
            raise ConfigError(f"{src}: item {index + 1} contains a control character")
    if not installed():
        raise ConfigError(f"{src}: the apprise channel needs the optional extra: {INSTALL}")
    return Settings(urls=urls, timeout=timeout, max_parallel=max_parallel)


def render(message: Message) -> tuple[str, str]:
    """(title, body) in plain text: the headline; the description, values, links."""
    lines = body_lines(message) + [f"{label}: {url}" for label, url in buttons(message)]
    return headline(message), "\n".join(lines)


def send(settings: Settings, message: Message) -> None:
    import logging
    import warnings

    # Apprise warns of standard modules it still imports; a filter on its own modules only
    # (catch_warnings would change the filters of every thread while sends run in parallel)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"apprise(\.|$)")
    import apprise

    secrets = settings.secrets()
    title, body = render(message)
    kind = (
        "success"
        if message.kind == "resolved"
        else "warning"
        if message.alert.get("severity") != "critical"
        else "failure"
    )
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as logs:
        notifier = apprise.Apprise()
        bad = [index + 1 for index, url in enumerate(settings.urls) if not notifier.add(url)]
        if bad:
            raise DeliveryError(
                f"apprise: URL {', '.join(map(str, bad))} of {len(settings.urls)} not understood by Apprise "
                "(a service it does not know, or a malformed URL)",
                retryable=False,
            )
        delivered = notifier.notify(body=body, title=title, notify_type=kind, body_format=apprise.NotifyFormat.TEXT)
        said = logs.getvalue()
    if not delivered:
        last = [line for line in said.splitlines() if line.strip()][-3:]
        reason = " ".join(scrub(" ".join(last), secrets).split())[:300]
        raise DeliveryError(
            scrub(f"apprise {settings.peer}: not delivered" + (f": {reason}" if reason else ""), secrets)
        )

"""The ntfy channel: a JSON publish to an ntfy server, the phone's push (docs/channels.md#ntfy).

============  ============  ==============================================
key           env           meaning
============  ============  ==============================================
url           NTFY_URL      the server, default https://ntfy.sh
topic         NTFY_TOPIC    the topic (required)
token         NTFY_TOKEN    an access token (``Authorization: Bearer``)
user          -             with ``password``: Basic auth instead of a token
password      -
timeout       -             default 10s
max_parallel  -             requests in flight at once (default 8)
============  ============  ==============================================

The message is plain text (ntfy shows no markup unless asked): the title
``[HIGH] <title>``, the description and values, a priority by severity, tags,
a click target (the dashboard, else the runbook) and ``view`` buttons for the
runbook, the dashboard and the signed acknowledge link.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigError
from ..record import FrozenRecord
from ..redact import base64_forms, redact_url
from .capabilities import Capabilities
from .chat import body_lines, buttons, headline
from .http_channel import base_url, limits, post, send_alone, single_line
from .settings import DEFAULT_MAX_PARALLEL, DEFAULT_TIMEOUT, check_section, picker

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

CAPABILITIES = Capabilities(env=("NTFY_TOPIC", "NTFY_URL", "NTFY_TOKEN"))
SECTION_KEYS = ("url", "topic", "token", "user", "password", "timeout", "max_parallel")
DEFAULT_URL = "https://ntfy.sh"
PRIORITY = {"critical": 5, "high": 4, "medium": 3, "low": 2}
MAX_MESSAGE = 4000  # ntfy turns a longer message into an attachment


class Settings(FrozenRecord):
    topic: str
    url: str
    token: str | None
    user: str | None
    password: str | None
    timeout: float
    max_parallel: int
    _fields = ("topic", "url", "token", "user", "password", "timeout", "max_parallel")
    _shown = ("topic", "url", "user", "timeout", "max_parallel")  # not the secrets

    def __init__(
        self,
        topic: str,
        url: str = DEFAULT_URL,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
    ) -> None:
        object.__setattr__(self, "topic", topic)
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "token", token)
        object.__setattr__(self, "user", user)
        object.__setattr__(self, "password", password)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "max_parallel", max_parallel)

    def secrets(self) -> list[str]:
        found = [s for s in (self.token, self.password) if s]
        if self.password:
            found += base64_forms(f"{self.user}:{self.password}")
        return found

    @property
    def peer(self) -> str:
        return redact_url(self.url)

    def describe(self) -> str:
        auth = " (token)" if self.token else " (user and password)" if self.password else ""
        return f"topic {self.topic} at {self.peer}{auth}"


def settings(section: dict | None, env: Mapping[str, str]) -> Settings | None:
    sec = check_section(section, SECTION_KEYS)
    pick = picker(sec, env)
    topic, topic_src = pick("topic", "NTFY_TOPIC")
    url, url_src = pick("url", "NTFY_URL")
    token, token_src = pick("token", "NTFY_TOKEN")
    timeout, max_parallel = limits(sec)
    url = base_url(url, url_src or "url", DEFAULT_URL)
    token = single_line(token, token_src or "token")
    user, password = single_line(sec.get("user"), "user"), single_line(sec.get("password"), "password")
    if (user is None) != (password is None):
        raise ConfigError(f"{'password' if user else 'user'}: user and password go together")
    if token and user:
        raise ConfigError(f"{token_src}: a token and a user/password are both set; use one or the other")
    if topic is None:
        if token or user or (section and sec):
            raise ConfigError("topic: required (or NTFY_TOPIC in the environment)")
        return None
    topic = single_line(topic, topic_src or "topic")
    assert topic is not None
    if "/" in topic or len(topic) > 64:
        raise ConfigError(f"{topic_src}: a topic is a single name of at most 64 characters")
    return Settings(
        topic=topic, url=url, token=token, user=user, password=password, timeout=timeout, max_parallel=max_parallel
    )


def build_body(message: Message) -> dict[str, Any]:
    """ntfy's JSON publish (docs/channels.md#ntfy)."""
    alert = message.alert
    resolved = message.kind == "resolved"
    text = "\n".join(body_lines(message))
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    links = dict(buttons(message))
    body: dict[str, Any] = {
        "title": headline(message),
        "message": text,
        "priority": 2 if resolved else PRIORITY.get(str(alert.get("severity")), 3),
        "tags": ["white_check_mark", str(alert.get("ruleId", ""))]
        if resolved
        else [str(alert.get("severity", "")), str(alert.get("ruleId", ""))],
    }
    click = links.get("Dashboard") or links.get("Runbook")
    if click:
        body["click"] = click
    actions = [{"action": "view", "label": label, "url": url} for label, url in buttons(message)]
    if actions:
        body["actions"] = actions
    return body


def deliver(settings: Settings, message: Message, client: Any) -> None:
    headers = {}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    elif settings.password:
        headers["Authorization"] = "Basic " + base64_forms(f"{settings.user}:{settings.password}")[0]
    post(
        "ntfy",
        settings.peer,
        settings.url,
        body={"topic": settings.topic, **build_body(message)},
        headers=headers,
        timeout=settings.timeout,
        secrets=settings.secrets(),
        now_ms=message.now_ms,
        client=client,
    )


def send(settings: Settings, message: Message) -> None:
    send_alone(deliver, settings, message)


def open_session(settings: Settings):
    from .http_channel import Session

    return Session(settings, deliver)

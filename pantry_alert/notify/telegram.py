"""The Telegram channel: a bot's ``sendMessage`` in HTML (docs/channels.md#telegram).

============  ==================  ==============================================
key           env                 meaning
============  ==================  ==============================================
bot_token     TELEGRAM_BOT_TOKEN  the bot's token (a secret; required)
chat_id       TELEGRAM_CHAT_ID    the chat, group or channel (required)
api_url       TELEGRAM_API_URL    default https://api.telegram.org
timeout       -                   default 10s
max_parallel  -                   requests in flight at once (default 8)
============  ==================  ==============================================

``POST <api_url>/bot<token>/sendMessage`` with the text in ``parse_mode: HTML``
(every value escaped), link previews off and an inline keyboard of URL
buttons (runbook, dashboard, the signed acknowledge link).  An answer
``{"ok": false}`` is a failure with its ``description``.  The token sits in the
URL's path: messages name the API's host only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ..errors import ConfigError
from ..record import FrozenRecord
from .capabilities import Capabilities
from .chat import body_lines, buttons, headline, html
from .http_channel import base_url, limits, post, refused, send_alone, single_line
from .secret_url import host
from .settings import DEFAULT_MAX_PARALLEL, DEFAULT_TIMEOUT, check_section, picker

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

CAPABILITIES = Capabilities(env=("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_API_URL"))
SECTION_KEYS = ("bot_token", "chat_id", "api_url", "timeout", "max_parallel")
DEFAULT_URL = "https://api.telegram.org"
MAX_TEXT = 4096  # Telegram's limit for a message's text (after entities are parsed)


class Settings(FrozenRecord):
    bot_token: str
    chat_id: str
    api_url: str
    timeout: float
    max_parallel: int
    _fields = ("bot_token", "chat_id", "api_url", "timeout", "max_parallel")
    _shown = ("chat_id", "api_url", "timeout", "max_parallel")  # not the secrets

    def __init__(
        self,
        bot_token: str,
        chat_id: str = "",
        api_url: str = DEFAULT_URL,
        timeout: float = DEFAULT_TIMEOUT,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
    ) -> None:
        object.__setattr__(self, "bot_token", bot_token)
        object.__setattr__(self, "chat_id", chat_id)
        object.__setattr__(self, "api_url", api_url)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "max_parallel", max_parallel)

    def secrets(self) -> list[str]:
        return [f"bot{self.bot_token}", self.bot_token]

    @property
    def peer(self) -> str:
        return host(self.api_url)

    @property
    def url(self) -> str:
        return f"{self.api_url}/bot{self.bot_token}/sendMessage"

    def describe(self) -> str:
        return f"chat {self.chat_id} via {self.peer}"


def settings(section: dict | None, env: Mapping[str, str]) -> Settings | None:
    sec = check_section(section, SECTION_KEYS)
    pick = picker(sec, env)
    token, token_src = pick("bot_token", "TELEGRAM_BOT_TOKEN")
    chat, chat_src = pick("chat_id", "TELEGRAM_CHAT_ID")
    api, api_src = pick("api_url", "TELEGRAM_API_URL")
    timeout, max_parallel = limits(sec)
    api = base_url(api, api_src or "api_url", DEFAULT_URL)
    token = single_line(token, token_src or "bot_token")
    chat = single_line(chat, chat_src or "chat_id")
    if token is None and chat is None:
        return None
    if token is None:
        raise ConfigError("bot_token: required with chat_id (or TELEGRAM_BOT_TOKEN in the environment)")
    if chat is None:
        raise ConfigError("chat_id: required with bot_token (or TELEGRAM_CHAT_ID in the environment)")
    if "/" in token or "?" in token or "#" in token or " " in token:
        raise ConfigError(f"{token_src}: not a bot token (it looks like 123456:ABC-DEF...)")
    return Settings(bot_token=token, chat_id=chat, api_url=api, timeout=timeout, max_parallel=max_parallel)


def cut(escaped: str, limit: int) -> str:
    """Escaped HTML text cut to ``limit`` characters ending in "…", never inside an entity."""
    if len(escaped) <= limit:
        return escaped
    return re.sub(r"&[#a-zA-Z0-9]*$", "", escaped[: limit - 1]) + "…"


def build_body(settings: Settings, message: Message) -> dict[str, Any]:
    """The ``sendMessage`` body (docs/channels.md#telegram)."""
    lines = body_lines(message)
    text = f"<b>{cut(html(headline(message)), 500)}</b>"
    notes = "".join(f"\n<i>{cut(html(line), 400)}</i>" for line in lines[1:3])
    if lines:
        text += "\n" + cut(html(lines[0]), MAX_TEXT - len(text) - len(notes) - 1)
    body: dict[str, Any] = {
        "chat_id": settings.chat_id,
        "text": text + notes,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    keys = [{"text": label, "url": url} for label, url in buttons(message)]
    if keys:
        body["reply_markup"] = {"inline_keyboard": [keys]}
    return body


def deliver(settings: Settings, message: Message, client: Any) -> None:
    reply = post(
        "telegram",
        settings.peer,
        settings.url,
        body=build_body(settings, message),
        timeout=settings.timeout,
        secrets=settings.secrets(),
        now_ms=message.now_ms,
        client=client,
    )
    try:
        answer = json.loads(reply.body or b"{}")
    except ValueError:
        answer = {}
    if isinstance(answer, dict) and answer.get("ok") is False:
        raise refused("telegram", settings.peer, str(answer.get("description") or ""), settings.secrets())


def send(settings: Settings, message: Message) -> None:
    send_alone(deliver, settings, message)


def open_session(settings: Settings):
    from .http_channel import Session

    return Session(settings, deliver)

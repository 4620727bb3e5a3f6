"""The Discord channel: a webhook execute with one embed (docs/channels.md#discord).

============  ===================  ==============================================
key           env                  meaning
============  ===================  ==============================================
webhook_url   DISCORD_WEBHOOK_URL  the channel's webhook URL (a secret; required)
timeout       -                    default 10s
max_parallel  -                    requests in flight at once (default 8)
============  ===================  ==============================================

One embed: the title, the description, the severity colour, fields for
severity, rule, values and count, and the dashboard as its url.  Text from
metrics is escaped for Discord's Markdown and ``allowed_mentions`` is
``{"parse": []}``, so nothing can ping anyone.  Discord answers 204.  The URL
is a secret: messages name its host only.
"""

from __future__ import annotations

from collections.abc import Mapping

from .capabilities import Capabilities
from .chat import buttons, fit, headline, markdown, resolution, values_text
from .http_channel import send_alone
from .pagerduty import rfc3339
from .secret_url import SECTION_KEYS as SECTION_KEYS  # read by the config checks, as every channel's
from .secret_url import WebhookSettings, webhook_settings

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

CAPABILITIES = Capabilities(env=("DISCORD_WEBHOOK_URL",))
# Discord's embed limits
MAX_TITLE, MAX_DESCRIPTION, MAX_FIELD = 256, 4096, 1024


class Settings(WebhookSettings):
    LABEL = "webhook"


def settings(section: dict | None, env: Mapping[str, str]) -> Settings | None:
    return webhook_settings(Settings, section, env, "DISCORD_WEBHOOK_URL")


def build_body(message: Message) -> dict[str, Any]:
    """The webhook execute body (docs/channels.md#discord)."""
    alert = message.alert
    description = markdown(alert.get("description") or "")
    summary = resolution(message)
    if summary:
        description += "\n" + markdown(summary)
    found = dict(buttons(message))
    links = [f"[{label}]({url})" for label, url in found.items() if label != "Acknowledge"]
    if links:
        description += "\n" + " · ".join(links)
    fields = [
        ("Severity", str(alert.get("severity", ""))),
        ("Rule", str(alert.get("ruleId", ""))),
        ("Values", values_text(alert)),
        ("Count", str(alert.get("count", ""))),
    ]
    embed: dict[str, Any] = {
        "title": fit(markdown(headline(message)), MAX_TITLE),
        "description": fit(description, MAX_DESCRIPTION),
        "color": int(message.color.lstrip("#"), 16),
        "fields": [{"name": n, "value": fit(markdown(v), MAX_FIELD), "inline": True} for n, v in fields if v],
        "timestamp": rfc3339(alert.get("timestamp")),
    }
    if "Dashboard" in found:
        embed["url"] = found["Dashboard"]
    return {"embeds": [embed], "allowed_mentions": {"parse": []}}


def deliver(settings: Settings, message: Message, client: Any) -> None:
    settings.post_json("discord", build_body(message), message, client)


def send(settings: Settings, message: Message) -> None:
    send_alone(deliver, settings, message)


def open_session(settings: Settings):
    from .http_channel import Session

    return Session(settings, deliver)

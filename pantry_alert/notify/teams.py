"""The Microsoft Teams channel: an Adaptive Card through a Workflows webhook (docs/channels.md#teams).

============  =================  ==============================================
key           env                meaning
============  =================  ==============================================
webhook_url   TEAMS_WEBHOOK_URL  the Workflows webhook URL (a secret; required)
timeout       -                  default 10s
max_parallel  -                  requests in flight at once (default 8)
============  =================  ==============================================

The card (Adaptive Card 1.4): a title ``TextBlock`` coloured by severity, the
description, a ``FactSet`` (severity, rule, values, count, since) and
``Action.OpenUrl`` buttons for the runbook, the dashboard and the signed
acknowledge link.  Text from metrics is escaped for the card's Markdown.  The
URL is a secret: messages name its host only.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..timeutil import format_time
from .capabilities import Capabilities
from .chat import buttons, fit, headline, markdown, resolution, values_text
from .http_channel import send_alone
from .secret_url import SECTION_KEYS as SECTION_KEYS  # read by the config checks, as every channel's
from .secret_url import WebhookSettings, webhook_settings

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

CAPABILITIES = Capabilities(env=("TEAMS_WEBHOOK_URL",))
COLOR = {"critical": "attention", "high": "attention", "medium": "warning", "low": "default"}
MAX_TEXT = 4000  # characters of one text block: a card stays well inside Teams' 28 KB


class Settings(WebhookSettings):
    LABEL = "Workflows webhook"


def settings(section: dict | None, env: Mapping[str, str]) -> Settings | None:
    return webhook_settings(Settings, section, env, "TEAMS_WEBHOOK_URL")


def build_card(message: Message) -> dict[str, Any]:
    """The Adaptive Card (docs/channels.md#teams)."""
    alert = message.alert
    resolved = message.kind == "resolved"
    color = "good" if resolved else COLOR.get(str(alert.get("severity")), "default")
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": fit(markdown(headline(message)), 400),
            "weight": "Bolder",
            "size": "Medium",
            "color": color,
            "wrap": True,
        },
        {"type": "TextBlock", "text": fit(markdown(alert.get("description") or ""), MAX_TEXT), "wrap": True},
    ]
    summary = resolution(message)
    if summary:
        body.append({"type": "TextBlock", "text": fit(markdown(summary), MAX_TEXT), "wrap": True, "isSubtle": True})
    facts = [
        ("Severity", str(alert.get("severity", ""))),
        ("Rule", str(alert.get("ruleId", ""))),
        ("Values", values_text(alert)),
        ("Count", str(alert.get("count", ""))),
        ("Since", format_time(alert.get("timestamp"), message.timezone)),
    ]
    if alert.get("escalated") and not resolved:
        facts.append(("Escalated", "yes"))
    body.append({"type": "FactSet", "facts": [{"title": t, "value": fit(markdown(v), 1000)} for t, v in facts if v]})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    actions = [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in buttons(message)]
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def deliver(settings: Settings, message: Message, client: Any) -> None:
    settings.post_json("teams", build_card(message), message, client)


def send(settings: Settings, message: Message) -> None:
    send_alone(deliver, settings, message)


def open_session(settings: Settings):
    from .http_channel import Session

    return Session(settings, deliver)

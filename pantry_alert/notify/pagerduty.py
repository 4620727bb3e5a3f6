"""The PagerDuty channel: Events API v2, following the alert's whole life (docs/channels.md#pagerduty).

==============  =======================  ==========================================
key             env                      meaning
==============  =======================  ==========================================
routing_key     PAGERDUTY_ROUTING_KEY    the integration's routing key (required)
url             PAGERDUTY_EVENTS_URL     default https://events.pagerduty.com/v2/enqueue
timeout         -                        default 10s
max_parallel    -                        requests in flight at once (default 8)
==============  =======================  ==========================================

Firing, reminder and escalated notices ``trigger`` an incident whose
``dedup_key`` is the alert id (a reminder updates the same incident); an
acknowledgement from any face (CLI, API, Slack, a signed link) sends
``acknowledge`` and a resolution (auto or by hand) ``resolve``.  202 is success.
``test-notify`` triggers a test incident and resolves it at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..record import FrozenRecord
from ..redact import redact_url
from ..text import one_line
from ..urls import is_http_url
from .capabilities import Capabilities
from .chat import metadata
from .http_channel import base_url, limits, post, send_alone, single_line
from .settings import DEFAULT_MAX_PARALLEL, DEFAULT_TIMEOUT, check_section, picker

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .base import Message

CAPABILITIES = Capabilities(env=("PAGERDUTY_ROUTING_KEY", "PAGERDUTY_EVENTS_URL"), follows_ack_resolve=True)
SECTION_KEYS = ("routing_key", "url", "timeout", "max_parallel")
DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}
MAX_SUMMARY = 1024
ACTIONS = {"acknowledged": "acknowledge", "resolved": "resolve"}


class Settings(FrozenRecord):
    routing_key: str
    url: str
    timeout: float
    max_parallel: int
    _fields = ("routing_key", "url", "timeout", "max_parallel")
    _shown = ("url", "timeout", "max_parallel")  # not the secrets

    def __init__(
        self,
        routing_key: str,
        url: str = DEFAULT_URL,
        timeout: float = DEFAULT_TIMEOUT,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
    ) -> None:
        object.__setattr__(self, "routing_key", routing_key)
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "max_parallel", max_parallel)

    def secrets(self) -> list[str]:
        return [self.routing_key]

    @property
    def peer(self) -> str:
        return redact_url(self.url)

    def describe(self) -> str:
        return f"Events API v2 at {self.peer}"


def settings(section: dict | None, env: Mapping[str, str]) -> Settings | None:
    sec = check_section(section, SECTION_KEYS)
    pick = picker(sec, env)
    key, key_src = pick("routing_key", "PAGERDUTY_ROUTING_KEY")
    url, url_src = pick("url", "PAGERDUTY_EVENTS_URL")
    timeout, max_parallel = limits(sec)
    url = base_url(url, url_src or "url", DEFAULT_URL)
    if key is None:
        return None
    key = single_line(key, key_src or "routing_key")
    assert key is not None
    return Settings(routing_key=key, url=url, timeout=timeout, max_parallel=max_parallel)


def rfc3339(ms: Any) -> str:
    """An alert's time as RFC 3339 (empty when it has none)."""
    from ..timeutil import rfc3339 as as_rfc3339

    return as_rfc3339(ms) if isinstance(ms, int) and not isinstance(ms, bool) else ""


def build_event(settings: Settings, message: Message) -> dict[str, Any]:
    """The Events API v2 body for one notice (docs/channels.md#pagerduty)."""
    alert = message.alert
    action = ACTIONS.get(message.kind)
    if action is not None:
        return {"routing_key": settings.routing_key, "dedup_key": str(alert["id"]), "event_action": action}
    meta = metadata(alert)
    prefix = "[TEST] " if message.kind == "test" else ""
    summary = one_line(f"{prefix}{alert.get('title', '')}: {alert.get('description', '')}")
    if len(summary) > MAX_SUMMARY:
        summary = summary[: MAX_SUMMARY - 1] + "…"
    links = []
    if isinstance(alert.get("runbookUrl"), str) and is_http_url(alert["runbookUrl"]):
        links.append({"href": alert["runbookUrl"], "text": "Runbook"})
    if message.dashboard_url and is_http_url(message.dashboard_url):
        links.append({"href": message.dashboard_url, "text": "Dashboard"})
    event: dict[str, Any] = {
        "routing_key": settings.routing_key,
        "event_action": "trigger",
        "dedup_key": str(alert["id"]),
        "payload": {
            "summary": summary,
            "source": message.service,
            "severity": SEVERITY.get(str(alert.get("severity")), "error"),
            "timestamp": rfc3339(alert.get("timestamp")),
            "component": str(alert.get("ruleId", "")),
            "group": message.service,
            "class": str(alert.get("type", "")),
            "custom_details": {
                "metrics": meta.get("metrics", {}),
                "count": alert.get("count"),
                "escalated": bool(alert.get("escalated")),
                "labels": alert.get("labels") or {},
            },
        },
        "client": "pantry-alert",
    }
    if links:
        event["links"] = links
    return event


def deliver(settings: Settings, message: Message, client: Any) -> None:
    events = [build_event(settings, message)]
    if message.kind == "test":  # a test incident is resolved at once
        events.append({**{k: events[0][k] for k in ("routing_key", "dedup_key")}, "event_action": "resolve"})
    for event in events:
        post(
            "pagerduty",
            settings.peer,
            settings.url,
            body=event,
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

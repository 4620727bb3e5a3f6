"""The message stage: what every channel renders, built from stored alerts.

``make_message`` builds one notification's ``Message``; ``make_digest`` folds
several notices of one channel into one digest ``Message``; ``digest_reason_text``
is the words every renderer shows for why a digest went.  Delivery, the
renderers and the Slack acknowledgement's replacement message all build their
messages here.
"""

from __future__ import annotations

from .. import __version__
from ..model import digest_reason

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from ..store.outbox import Notice
    from .base import Message

# What a digest's reason reads as in every channel.
DIGEST_REASON_TEXT = {"quiet_hours": "held back during quiet hours", "batching": "batched: many alerts in one run"}


def digest_reason_text(message: Message) -> str:
    """``held back during quiet hours``, ``batched: many alerts in one run``, or empty."""
    return DIGEST_REASON_TEXT.get(message.reason or "", "")


def make_message(config, alert_json: dict, kind: str, key: str, now: int, step: int | None = None) -> Message:
    """One notification of ``kind`` about one alert (in its JSON shape), as the config presents it;
    ``step``: the escalation policy step it pages."""
    # notify.base is imported where a message is made: a run that sends nothing need not load it
    from .base import FIRING_KINDS, Message

    ack_url = None
    links = getattr(getattr(config, "api", None), "links", None)
    if links is not None and links.enabled and kind in FIRING_KINDS and alert_json.get("status") != "resolved":
        from ..links import ack_link

        ack_url = ack_link(links, str(alert_json["id"]), now)
    return Message(
        kind=kind,
        alert=alert_json,
        idempotency_key=key,
        now_ms=now,
        service=config.service,
        service_name=config.service_name,
        dashboard_url=config.dashboard_url,
        timezone=config.timezone,
        version=__version__,
        step=step,
        ack_url=ack_url,
    )


def make_digest(config, members: list[tuple[Notice, dict]], batch: str, now: int) -> Message:
    """One message for several notices: each alert once, with the kind of its newest notice
    (so an alert that resolved meanwhile shows as resolved)."""
    latest: dict[str, tuple[str, dict]] = {}
    for notice, alert_json in members:
        latest[notice.alert_id] = (notice.kind, alert_json)
    events = [kind for kind, _ in latest.values()]
    alerts = [alert_json for _, alert_json in latest.values()]
    key = members[0][0].idempotency_key
    if len(alerts) == 1:  # one alert: its own message, of its newest kind
        return make_message(config, alerts[0], events[0], key, now)
    from dataclasses import replace  # here, as ``Message``: a quiet run builds no digest

    return replace(
        make_message(config, alerts[0], "digest", key, now), alerts=alerts, events=events, reason=digest_reason(batch)
    )

"""The channel registry: every notification channel, in one place.

A channel is a module ``pantry_alert.notify.<name>``, named as in rules.yaml
(``channels.<name>``, a rule's ``channels`` list), that declares:

``SECTION_KEYS``
    The keys its ``channels.<name>`` section accepts.
``settings(section, env, **options) -> Settings | None``
    Its settings from that section (already ``${VAR}``-interpolated; ``None``
    when absent) or, where the section leaves a key out, from the channel's
    environment variables.  ``None`` when the channel is not configured;
    ``ConfigError`` (message ``"<key or VAR (environment)>: <problem>"``) for a
    present but invalid or half-done setting.  Cheap: no network, no heavy
    imports at module level.  ``options`` are run-time choices of the caller
    (the console's output stream).
``send(settings, message) -> None``
    One delivery within ``settings.timeout``; ``DeliveryError`` on failure
    (see ``notify.base``).
``SYNC = True`` and ``sync(store, config, settings, now)`` (optional)
    A channel that synchronises the whole alert state once per run (the
    Alertmanager channel) instead of sending one message per notification:
    the engine records no notifications for it; the runner calls ``sync``.

Adding a channel is one new module plus its name in ``CHANNEL_NAMES`` and
its environment variables in ``CHANNEL_ENV`` (and in ``SYNC_CHANNELS`` for a
synchronising channel): config validation, ``configured_channels``,
``rules list`` and ``test-notify`` all read this registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType

CHANNEL_NAMES: tuple[str, ...] = ("email", "slack", "webhook", "alertmanager", "console")

# The environment variables each channel's ``settings`` reads.  A channel whose
# ``channels.<name>`` section is absent or empty, and none of whose variables is
# set, is not configured (its ``settings`` returns None): ``unconfigured`` says so
# without importing the module, so that a run loads only the channels it can use.
# The console, always configured, has no entry.  A test holds these lists to what
# each ``settings`` reads.
CHANNEL_ENV: dict[str, tuple[str, ...]] = {
    "email": (
        "SMTP_HOST",
        "ALERT_TO_EMAILS",
        "SMTP_SECURE",
        "SMTP_PORT",
        "SMTP_USER",
        "SMTP_PASS",
        "ALERT_FROM_EMAIL",
        "SMTP_ALLOW_INSECURE_AUTH",
    ),
    "slack": ("SLACK_BOT_TOKEN", "SLACK_ALERT_CHANNEL", "SLACK_WEBHOOK_URL", "SLACK_API_URL"),
    "webhook": ("ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_TOKEN"),
    "alertmanager": ("ALERTMANAGER_URLS",),
}

# The channels whose module sets ``SYNC = True`` (a test holds this to the modules).
SYNC_CHANNELS: tuple[str, ...] = ("alertmanager",)


def channel_module(name: str) -> ModuleType:
    """The module of a registered channel (``ChannelNotConfigured`` for an unknown name)."""
    from ..errors import ChannelNotConfigured

    if name not in CHANNEL_NAMES:
        raise ChannelNotConfigured(f"unknown channel '{name}' (channels: {', '.join(CHANNEL_NAMES)})")
    return importlib.import_module(f"{__package__}.{name}")


def unconfigured(name: str, section: Mapping | None, env: Mapping[str, str]) -> bool:
    """True when channel ``name`` is certainly not configured: no section, none of its variables set."""
    names = CHANNEL_ENV.get(name)
    return names is not None and not section and not any(env.get(var) for var in names)


def section_keys(name: str) -> tuple[str, ...]:
    return tuple(channel_module(name).SECTION_KEYS)


def sync_channels() -> tuple[str, ...]:
    """The channels that synchronise state once per run instead of sending messages."""
    return SYNC_CHANNELS

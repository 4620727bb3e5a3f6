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

Adding a channel is one new module plus its name in ``CHANNEL_NAMES``:
config validation, ``configured_channels``, ``rules list`` and
``test-notify`` all read this registry.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

CHANNEL_NAMES: tuple[str, ...] = ("email", "slack", "webhook", "alertmanager", "console")


def channel_module(name: str) -> ModuleType:
    """The module of a registered channel (``ChannelNotConfigured`` for an unknown name)."""
    from ..errors import ChannelNotConfigured

    if name not in CHANNEL_NAMES:
        raise ChannelNotConfigured(f"unknown channel '{name}' (channels: {', '.join(CHANNEL_NAMES)})")
    return importlib.import_module(f"{__package__}.{name}")


def section_keys(name: str) -> tuple[str, ...]:
    return tuple(channel_module(name).SECTION_KEYS)


@cache
def sync_channels() -> tuple[str, ...]:
    """The channels that synchronise state once per run instead of sending messages."""
    return tuple(name for name in CHANNEL_NAMES if getattr(channel_module(name), "SYNC", False))

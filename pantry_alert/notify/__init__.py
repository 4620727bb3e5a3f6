"""Notification channels (one module each) and the delivery/outbox logic.

Channel modules follow the protocol in ``notify.base``.  They are imported
by name only when needed; their heavy libraries (smtplib, slack_sdk, httpx,
jinja2) are imported inside ``send``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from ..errors import ChannelNotConfigured, ConfigError
from .base import CHANNEL_NAMES


def channel_module(name: str):
    if name not in CHANNEL_NAMES:
        raise ChannelNotConfigured(f"unknown channel '{name}' (channels: {', '.join(CHANNEL_NAMES)})")
    return importlib.import_module(f"{__name__}.{name}")


def channel_settings(config, name: str, env: Mapping[str, str] | None = None, **console) -> Any | None:
    """Settings of one channel, or None when it is not configured."""
    env = os.environ if env is None else env
    module = channel_module(name)
    section = config.channels.get(name)
    try:
        if name == "console":
            return module.settings(section, env, **console)
        return module.settings(section, env)
    except ConfigError as exc:
        # never echo a value filled in from the environment: show the ${VAR} written in the file
        message = config.unexpand(exc.message) if hasattr(config, "unexpand") else exc.message
        exc.message = f"{config.path}: channels.{name}: {message}"
        raise


def configured_channels(config, env: Mapping[str, str] | None = None, **console) -> dict[str, Any]:
    """name -> settings for every configured channel (console always)."""
    out = {}
    for name in CHANNEL_NAMES:
        settings = channel_settings(config, name, env, **console)
        if settings is not None:
            out[name] = settings
    return out

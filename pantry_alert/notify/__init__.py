"""Notification channels (one module each, listed in ``notify.registry``) and delivery.

Channel modules import their heavy libraries (smtplib, slack_sdk, httpx,
jinja2) inside ``send``, so that a run that sends nothing stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import ConfigError
from .registry import CHANNEL_NAMES, channel_module, unconfigured

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CHANNEL_NAMES", "channel_module", "channel_settings", "channel_status", "configured_channels"]


def channel_settings(config, name: str, env: Mapping[str, str] | None = None, **options: Any) -> Any | None:
    """Settings of one channel, or None when it is not configured.

    Raises ``ConfigError`` listing the channel's problems (with file and line)
    when it is invalid or half-configured."""
    env = os.environ if env is None else env
    module = channel_module(name)
    problems = config.channel_problems.get(name)
    if problems:
        raise ConfigError(
            f"{config.path}: channel '{name}' is not usable",
            hint="fix it and check with: pantry-alert rules validate",
            problems=problems,
        )
    try:
        return module.settings(config.channels.get(name), env, **options)
    except ConfigError as exc:
        # never echo a value filled in from the environment: show the ${VAR} written in the file
        exc.message = f"{config.path}: channels.{name}: {config.unexpand(exc.message)}"
        raise


def configured_channels(
    config, env: Mapping[str, str] | None = None, options: Mapping[str, dict] | None = None
) -> dict[str, Any]:
    """name -> settings for every configured channel (console always).

    Raises ``ConfigError`` listing every channel problem at once (sending needs
    them all right).  ``options`` maps a channel name to run-time options for
    its ``settings`` (the console's stream)."""
    env = os.environ if env is None else env
    options = options or {}
    problems = [p for name in CHANNEL_NAMES for p in config.channel_problems.get(name, [])]
    if problems:
        count = len(problems)
        raise ConfigError(
            f"{config.path}: {count} channel problem{'s' if count > 1 else ''}",
            hint="fix them and check with: pantry-alert rules validate",
            problems=problems,
        )
    # Built once when the config loaded, for the environment it loaded with: reused for that one.
    built = config.channel_settings if getattr(config, "settings_env", None) is env else None
    out = {}
    for name in CHANNEL_NAMES:
        if built is not None and name not in options:
            if name in built:
                out[name] = built[name]
            continue
        section = config.channels.get(name)
        if unconfigured(name, section, env):
            continue
        settings = channel_module(name).settings(section, env, **options.get(name, {}))
        if settings is not None:
            out[name] = settings
    return out


def channel_status(config, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """name -> ``configured``, ``not configured`` or ``invalid`` (for ``rules list``; never raises)."""
    env = os.environ if env is None else env
    out = {}
    for name in CHANNEL_NAMES:
        if config.channel_problems.get(name):
            out[name] = "invalid"
        else:
            settings = channel_module(name).settings(config.channels.get(name), env)
            out[name] = "configured" if settings is not None else "not configured"
    return out

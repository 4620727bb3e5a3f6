"""``pantry-alert test-notify CHANNEL``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from . import app
from .common import get_globals
from .completion import channel_names


def test_alert(now: int) -> dict:
    from ..model import Alert

    alert = Alert(
        id=f"pantry_alert_test_{now}",
        rule_id="pantry_alert_test",
        type="business",
        severity="low",
        title="Test notification",
        description="This is a test notification from pantry-alert. No action is needed.",
        timestamp=now,
        last_seen_at=now,
    )
    return alert.to_json()


@app.command("test-notify")
def test_notify(
    ctx: typer.Context,
    channel: Annotated[
        str,
        typer.Argument(
            metavar="CHANNEL", help="a channel name (docs/channels.md), e.g. webhook", autocompletion=channel_names
        ),
    ],
    render: Annotated[
        bool, typer.Option("--render", help="print the request body the channel would send, and send nothing")
    ] = False,
) -> None:
    """Send a clearly marked test notification through one channel and report the outcome."""
    from ..errors import ChannelNotConfigured, DeliveryError
    from ..notify import channel_module, channel_settings
    from ..notify.messages import make_message
    from ..redact import scrub

    g = get_globals(ctx)
    config = g.config()
    module = channel_module(channel)  # unknown name: exit 2
    settings = channel_settings(config, channel)
    if settings is None:
        raise ChannelNotConfigured(
            f"channel '{channel}' is not configured",
            hint=f"set channels.{channel} in {config.path} or its environment variables (docs/channels.md)",
        )
    now = g.now()
    message = make_message(config, test_alert(now), "test", f"pantry-alert-test-{now}", now)
    if render:
        _render(channel, module, settings, message)
        return
    try:
        warnings = module.send(settings, message) or []  # alertmanager: URLs that failed while another accepted
    except DeliveryError as exc:
        exc.message = f"test notification via {channel} failed: {scrub(exc.message, settings.secrets())}"
        raise
    for text in warnings:
        sys.stderr.write(f"warning: {scrub(text, settings.secrets())}\n")
    describe = getattr(settings, "describe", lambda: channel)()
    sys.stdout.write(f"Test notification sent via {channel} ({describe})\n")


def _render(channel: str, module, settings, message) -> None:
    """``--render``: the body the channel would send (webhook), printed; nothing is sent."""
    from ..errors import ConfigError, ExpressionError, UsageError

    body = getattr(module, "request_body", None)
    if body is None:
        raise UsageError(f"--render shows the webhook's body; channel '{channel}' has no body template")
    try:
        text = body(settings, message).decode("utf-8")
    except ExpressionError as exc:
        raise ConfigError(f"channels.{channel}.body: {exc}") from None
    sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))

"""Human actions on one alert: ``ack`` and ``resolve``."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated, Optional

import typer

from ..timeutil import format_time
from . import app
from .alerts import _not_found
from .common import get_globals


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER") or "unknown"


# -------------------------------------------------------------------- ack


@app.command()
def ack(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ALERT_ID")],
    by: Annotated[Optional[str], typer.Option("--by", help="who acknowledges it [default: your login name]")] = None,
    note: Annotated[Optional[str], typer.Option("--note", help="a note for the timeline")] = None,
    for_: Annotated[
        Optional[str],
        typer.Option(
            "--for",
            metavar="DURATION",
            help="expire the acknowledgement after DURATION (e.g. 2h); reminders resume then if it still fires",
        ),
    ] = None,
) -> None:
    """Acknowledge an alert: no more reminders or escalation for it (for a while, with --for)."""
    from ..errors import NotFoundError, UsageError
    from ..store import reports
    from ..timeutil import cli_duration, format_duration

    duration = cli_duration(for_, option="--for") if for_ is not None else None
    if duration == 0:
        raise UsageError("--for: 0 would expire the acknowledgement at once; give a duration such as 30m or 2h")
    g = get_globals(ctx)
    now = g.now()
    with g.store() as store:
        if store.conn is None:
            raise _not_found(alert_id)
        outcome, alert = reports.acknowledge(
            store,
            alert_id,
            by=by or login_name(),
            note=note,
            until=None if duration is None else now + duration,
            now=now,
        )
    tz = g.config().timezone
    if outcome == "missing":
        raise _not_found(alert_id)
    if outcome == "resolved":
        raise NotFoundError(
            f"Alert {alert_id} is already resolved ({format_time(alert.resolved_at, tz)} by "
            f"{alert.resolved_by or '?'}); there is nothing to acknowledge"
        )
    if outcome == "already":
        until = f" until {format_time(alert.ack_expires_at, tz)}" if alert.ack_expires_at is not None else ""
        raise NotFoundError(
            f"Alert {alert_id} is already acknowledged (by {alert.acknowledged_by or '?'} at "
            f"{format_time(alert.acknowledged_at, tz)}{until})",
            hint=f"`pantry-alert show {alert_id}` shows its timeline",
        )
    sys.stdout.write("Alert acknowledged\n")
    if duration is not None:
        sys.stderr.write(
            f"the acknowledgement expires in {format_duration(duration)} "
            f"({format_time(now + duration, tz)}); reminders resume then if it still fires\n"
        )


@app.command()
def resolve(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ALERT_ID")],
    by: Annotated[Optional[str], typer.Option("--by", help="who resolved it [default: your login name]")] = None,
    note: Annotated[Optional[str], typer.Option("--note", help="a note for the timeline")] = None,
) -> None:
    """Resolve an alert by hand; its resolved notifications go out with the next check."""
    from ..errors import NotFoundError

    g = get_globals(ctx)
    config = g.config()
    with g.store() as store:
        if store.conn is None:
            raise NotFoundError("Alert not found or already resolved")
        alert = store.get_alert(alert_id)
        rule = config.rule(alert.rule_id) if alert else None
        store.resolve_alert(
            alert_id,
            by=by or login_name(),
            note=note,
            now=g.now(),
            notify_resolved=rule.notify_resolved if rule else True,
        )
    sys.stdout.write("Alert resolved\n")

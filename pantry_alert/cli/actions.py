"""Human actions on one alert: ``ack``, ``resolve`` and ``note``.

Each acts as ``cli:<login name>`` in the audit log; a ``--by`` names the
person on the alert's timeline and goes into the entry's details.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ..audit import login_name
from ..timeutil import format_time
from . import app
from .common import get_globals

__all__ = ["ack", "login_name", "note", "resolve"]


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
    from .. import actions
    from ..timeutil import cli_duration, format_duration, positive_duration

    duration = None
    if for_ is not None:
        duration = positive_duration(
            cli_duration(for_, option="--for"),
            "--for: 0 would expire the acknowledgement at once; give a duration such as 30m or 2h",
        )
    ws = get_globals(ctx).workspace
    now = ws.now()
    actions.acknowledge(ws, alert_id, by=by or login_name(), note=note, for_ms=duration, now=now)
    tz = ws.config().timezone
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
    from .. import actions

    ws = get_globals(ctx).workspace
    actions.resolve(ws, alert_id, by=by or login_name(), note=note)
    sys.stdout.write("Alert resolved\n")


@app.command()
def note(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ALERT_ID")],
    text: Annotated[str, typer.Argument(metavar="TEXT", help="the note (quote it)")],
    by: Annotated[Optional[str], typer.Option("--by", help="who writes it [default: your login name]")] = None,
) -> None:
    """Add a note to an alert's timeline (resolved alerts too)."""
    from .. import actions

    ws = get_globals(ctx).workspace
    actions.add_note(ws, alert_id, text, by=by or login_name())
    sys.stdout.write("Note added\n")

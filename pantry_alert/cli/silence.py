"""``pantry-alert silence add | list | expire``: mute a rule's notifications for a while."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from .common import console, escape, get_globals, print_json

app = typer.Typer(help="Mute a rule's notifications for a while (amtool's verbs).", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    rule_id: Annotated[str, typer.Argument(metavar="RULE_ID")],
    for_: Annotated[str, typer.Option("--for", metavar="DURATION", help="how long, e.g. 30m, 2h, 1d")],
    reason: Annotated[Optional[str], typer.Option("--reason", help="why (shown in silence list)")] = None,
    by: Annotated[Optional[str], typer.Option("--by", help="who silences it [default: your login name]")] = None,
) -> None:
    """Silence a rule: its alerts are still recorded and shown, but notified on no channel."""
    from .. import actions
    from ..timeutil import cli_duration, format_duration, format_time, positive_duration
    from .actions import login_name

    duration = positive_duration(
        cli_duration(for_, option="--for"), "--for: give a duration longer than 0, such as 30m or 2h"
    )
    ws = get_globals(ctx).workspace
    silence = actions.add_silence(ws, rule_id, for_ms=duration, reason=reason, by=by or login_name())
    sys.stdout.write(f"{silence['id']}\n")
    sys.stderr.write(
        f"rule '{rule_id}' silenced for {format_duration(duration)} "
        f"(until {format_time(silence['endsAt'], ws.config().timezone)})\n"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON array of silences")] = False,
) -> None:
    """The silences, active ones first."""
    from .. import actions
    from ..timeutil import format_time

    ws = get_globals(ctx).workspace
    silences = actions.list_silences(ws)
    if as_json:
        print_json(silences)
        return
    if not silences:
        sys.stderr.write("no silences\n")
        return
    from rich import box
    from rich.table import Table

    tz = ws.config().timezone
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, show_edge=False)
    for column in ("ID", "Rule", "Status", "Ends", "By", "Reason"):
        table.add_column(column, overflow="fold")
    for s in silences:
        table.add_row(
            s["id"],
            s["ruleId"],
            s["status"],
            format_time(s["endsAt"], tz),
            escape(s["createdBy"] or ""),
            escape(s["reason"] or ""),
        )
    console().print(table)


@app.command("expire")
def expire(
    ctx: typer.Context,
    silence_id: Annotated[str, typer.Argument(metavar="SILENCE_ID")],
) -> None:
    """End a silence now; the next check notifies the rule's alerts that still fire."""
    from .. import actions
    from .actions import login_name

    actions.expire_silence(get_globals(ctx).workspace, silence_id, by=login_name())
    sys.stdout.write("Silence expired\n")

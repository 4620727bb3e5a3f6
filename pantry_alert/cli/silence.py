"""``pantry-alert silence add | list | expire``: mute a rule's notifications for a while."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from .common import console, escape, get_globals, print_json
from .completion import rule_ids

app = typer.Typer(help="Mute a rule's notifications for a while (amtool's verbs).", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    rule_id: Annotated[str, typer.Argument(metavar="RULE_ID", autocompletion=rule_ids)],
    for_: Annotated[str, typer.Option("--for", metavar="DURATION", help="how long, e.g. 30m, 2h, 1d")],
    reason: Annotated[Optional[str], typer.Option("--reason", help="why (shown in silence list)")] = None,
    by: Annotated[Optional[str], typer.Option("--by", help="who silences it [default: your login name]")] = None,
    start: Annotated[
        Optional[str],
        typer.Option("--start", metavar="TIME", help="when it starts, ISO 8601 with an offset [default: now]"),
    ] = None,
) -> None:
    """Silence a rule (now, or from --start): its alerts are still recorded and shown, but notified on no channel."""
    from .. import actions
    from ..timeutil import cli_duration, format_duration, format_time, iso_instant, positive_duration
    from .actions import login_name

    duration = positive_duration(
        cli_duration(for_, option="--for"), "--for: give a duration longer than 0, such as 30m or 2h"
    )
    ws = get_globals(ctx).workspace
    starts_at = iso_instant(start, "--start") if start is not None else None
    silence = actions.add_silence(
        ws, rule_id, for_ms=duration, reason=reason, by=by or login_name(), starts_at=starts_at
    )
    sys.stdout.write(f"{silence['id']}\n")
    tz = ws.config().timezone
    since = f"from {format_time(silence['startsAt'], tz)} " if silence["status"] == "upcoming" else ""
    sys.stderr.write(
        f"rule '{rule_id}' silenced {since}for {format_duration(duration)} "
        f"(until {format_time(silence['endsAt'], tz)})\n"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON array of silences and windows")] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="show at most this many silences (active ones first)")
    ] = 100,
) -> None:
    """The silences (active, upcoming, then expired; at most --limit) and each maintenance window's
    open or next opening."""
    from .. import actions
    from ..timeutil import format_time

    ws = get_globals(ctx).workspace
    holds = actions.list_holds(ws, limit=limit)
    if as_json:
        print_json(holds)
        return
    if not holds:
        sys.stderr.write("no silences\n")
        return
    from rich import box
    from rich.table import Table

    tz = ws.config().timezone
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, show_edge=False)
    table.add_column("ID", no_wrap=True)  # copied into `silence expire`: never wrapped
    for column in ("Rule", "Status", "Starts", "Ends", "By", "Reason"):
        table.add_column(column, overflow="fold")
    for s in holds:
        window = s["kind"] == "maintenance"
        table.add_row(
            f"window {s['name']}" if window else s["id"],
            escape(_covers(s)) if window else s["ruleId"],
            s["status"],
            format_time(s["startsAt"], tz),
            format_time(s["endsAt"], tz),
            "" if window else escape(s["createdBy"] or ""),
            "maintenance" if window else escape(s["reason"] or ""),
        )
    console().print(table)


def _covers(window: dict) -> str:
    """What a maintenance window holds, in a few words."""
    parts = list(window["rules"])
    parts += [f"{key}={'|'.join(values)}" for key, values in window["match"].items()]
    return ", ".join(parts)


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

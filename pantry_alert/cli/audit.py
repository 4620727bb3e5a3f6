"""``audit``: who did what, from which face (the audit log), newest first."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from . import app
from .common import console, escape, get_globals, print_json

DEFAULT_SINCE = "30d"


@app.command()
def audit(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", metavar="DURATION", help="entries of the last DURATION (e.g. 24h, 90d)")
    ] = DEFAULT_SINCE,
    actor: Annotated[
        Optional[str], typer.Option("--actor", metavar="ACTOR", help="only this actor's (e.g. cli:ann, env, slack:bob)")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="show at most N entries (1 to 1000000)")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON array")] = False,
) -> None:
    """The audit log: every human action (acknowledge, resolve, note, silences, rule edits, tokens)."""
    import json

    from ..audit import entries
    from ..errors import UsageError
    from ..timeutil import cli_duration, format_duration, format_time

    if not 1 <= limit <= 1_000_000:
        raise UsageError(f"--limit: {str(limit)[:30]} is out of range (1 to 1000000)")
    window = cli_duration(since, option="--since")
    g = get_globals(ctx)
    found = entries(g.workspace, since=g.now() - window, actor=actor, limit=limit)
    if as_json:
        print_json([entry.to_json() for entry in found])
        return
    who = f" by {actor}" if actor else ""
    if not found:
        sys.stdout.write(f"No audit entries{who} in the last {format_duration(window)}\n")
        return
    from rich import box
    from rich.table import Table

    tz = g.config().timezone
    title = f"{len(found)} audit entr{'y' if len(found) == 1 else 'ies'}{who} in the last {format_duration(window)}"
    if len(found) == limit:
        title += f" (--limit {limit}: older ones not shown)"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("Time", "Actor", "Action", "Target", "Details", "Client"):
        table.add_column(column, overflow="fold", no_wrap=column == "Time")
    for entry in found:
        details = json.dumps(entry.details, ensure_ascii=False, separators=(", ", ": ")) if entry.details else ""
        table.add_row(
            format_time(entry.at, tz),
            escape(entry.actor),
            entry.action,
            escape(entry.target),
            escape(details),
            escape(entry.client or ""),
        )
    console().print(table)

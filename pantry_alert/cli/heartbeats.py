"""``pantry-alert heartbeats [--json]``: each heartbeat's state, last ping and next expected ping."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .common import console, escape, get_globals, print_json, timed_table

STYLES = {"new": "dim", "up": "green", "running": "cyan", "late": "bold red", "failed": "bold red"}


def register(app) -> None:
    @app.command("heartbeats")
    def heartbeats(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="print a JSON array of heartbeats")] = False,
    ) -> None:
        """The heartbeats: state (new, up, running, late, failed), last ping, next expected ping, last exit code."""
        from .. import heartbeats as library

        g = get_globals(ctx)
        found = library.statuses(g.workspace)
        if as_json:
            print_json([status.to_json() for status in found])
            return
        if not found:
            sys.stderr.write(f"no heartbeats in {g.config().path} (add them under heartbeats:)\n")
            return
        console().print(_table(found, g.config().timezone))


def _table(found, timezone: str | None):
    from ..timeutil import format_time

    table = timed_table("Heartbeats", timezone)
    for column in ("Heartbeat", "State", "Last ping", "Next expected", "Exit code"):
        table.add_column(column, overflow="fold", no_wrap=column != "Heartbeat")

    def when(ms: int | None) -> str:
        return " ".join(format_time(ms, timezone).split(" ")[:2]) if ms is not None else "-"

    for status in found:
        table.add_row(
            escape(status.name),
            f"[{STYLES[status.state]}]{status.state}[/]",
            when(status.last_ping_at),
            when(status.expected_at),
            "-" if status.last_exit_code is None else str(status.last_exit_code),
        )
    return table

"""``stats``: counts, time to resolve and to acknowledge over a window."""

from __future__ import annotations

from typing import Annotated

import typer

from ..model import SEVERITIES
from ..timeutil import format_time
from . import app
from .common import console, escape, get_globals, print_json

# ------------------------------------------------------------------ stats


@app.command()
def stats(
    ctx: typer.Context,
    window: Annotated[
        str,
        typer.Option(
            "--window",
            metavar="DURATION",
            help="alerts fired in the last DURATION (e.g. 24h, 7d; a bare number is milliseconds)",
        ),
    ] = "24h",
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON object")] = False,
) -> None:
    """Statistics over the alerts fired in a window: counts, time to resolve and to acknowledge."""
    from ..store import reports
    from ..timeutil import cli_duration

    window_ms = cli_duration(window, bare_unit="ms", option="--window")
    g = get_globals(ctx)
    now = g.now()
    with g.store() as store:
        data = reports.stats(store, now=now, window=window_ms)
    if as_json:
        print_json(data)
        return
    _print_stats(data, now, window_ms, g.config().timezone)


def _print_stats(data: dict, now: int, window_ms: int, tz: str | None) -> None:
    from rich import box
    from rich.columns import Columns
    from rich.table import Table

    from ..config import TYPES
    from ..timeutil import format_duration

    out = console()
    out.print(f"Alerts fired since {format_time(now - window_ms, tz)} (window {format_duration(window_ms)})")
    out.print()
    summary = Table(box=None, show_header=False, pad_edge=False)
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column(justify="right", no_wrap=True)
    summary.add_row("Alerts fired", str(data["total"]))
    summary.add_row("Active now (any age)", str(data["active"]))
    # 0 means nothing resolved (or acknowledged) in the window: "-", not "0s".
    for label, key in (
        ("Mean time to resolve", "averageResolutionTime"),
        ("Mean time to acknowledge", "averageAcknowledgeTime"),
    ):
        summary.add_row(label, format_duration(data[key]) if data[key] else "-")
    out.print(summary)
    out.print()

    def counts(title: str, head: str, items) -> Table:
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column(head, no_wrap=True)
        table.add_column("Count", justify="right", no_wrap=True)
        for key, value in items:
            table.add_row(escape(key), str(value))
        return table

    def ordered(d: dict, order) -> list:
        return [(k, d[k]) for k in order if k in d] + sorted((k, v) for k, v in d.items() if k not in order)

    notifications = [(k, v) for k, v in data["notifications"].items() if v]
    out.print(
        Columns(
            [
                counts("By severity", "Severity", ordered(data["bySeverity"], tuple(reversed(SEVERITIES)))),
                counts("By type", "Type", ordered(data["byType"], TYPES)),
                counts("Notifications", "Status", notifications or [("none", 0)]),
            ],
            padding=(0, 4),
        )
    )
    if data["byRule"]:
        rules = Table(title="By rule", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        rules.add_column("Rule", overflow="fold")
        rules.add_column("Fired", justify="right", no_wrap=True)
        rules.add_column("Active", justify="right", no_wrap=True)
        rules.add_column("Mean time to resolve", justify="right", no_wrap=True)
        for rule_id, r in sorted(data["byRule"].items(), key=lambda kv: (-kv[1]["count"], kv[0])):
            rules.add_row(
                escape(rule_id),
                str(r["count"]),
                str(r["active"]),
                format_duration(r["averageResolutionTime"]) if r["averageResolutionTime"] else "-",
            )
        out.print(rules)

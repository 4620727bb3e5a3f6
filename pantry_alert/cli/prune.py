"""``prune``: delete old resolved alerts with their events and notifications."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ..timeutil import format_time
from . import app
from .common import get_globals, print_json


@app.command()
def prune(
    ctx: typer.Context,
    older_than: Annotated[
        Optional[str],
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="delete resolved alerts fired more than DURATION ago [default: state.retention, 7d]",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would be deleted; delete nothing")] = False,
    vacuum: Annotated[bool, typer.Option("--vacuum", help="compact the database file afterwards")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON object")] = False,
) -> None:
    """Delete old resolved alerts with their events and notifications (never an unresolved one),
    old runs, silences that ended before the cutoff, the metric samples older than
    history.retention and the audit entries older than audit.retention.  Prints nothing when
    nothing was deleted."""
    from ..store import maintenance
    from ..timeutil import cli_duration

    age = cli_duration(older_than, option="--older-than") if older_than is not None else None
    g = get_globals(ctx)
    config = g.config()
    now = g.now()
    cutoff = now - (config.state.retention_ms if age is None else age)
    with g.store() as store:
        history_cutoff = now - config.history.retention_ms  # whatever --older-than says for alerts
        audit_cutoff = now - config.audit.retention_ms
        result = maintenance.prune(
            store, cutoff=cutoff, dry_run=dry_run, history_cutoff=history_cutoff, audit_cutoff=audit_cutoff
        )
        size_before = _file_size(store.path)
        if vacuum and not dry_run:
            maintenance.vacuum(store)
    if as_json:
        print_json(
            {
                "deleted": result.alerts,
                "silences": result.silences,
                "cutoff": cutoff,
                "dryRun": dry_run,
                "auditDeleted": result.audit,
            }
        )
        return
    deleted = (result.alerts + result.events + result.notifications + result.runs + result.silences + result.pings) + (
        result.history_runs + result.audit
    )
    if not (deleted or dry_run or vacuum):
        return  # quiet, like check: the hourly timer mails only when something happened
    when = format_time(cutoff, config.timezone)
    lines = [f"Would delete (cutoff {when}; dry run: nothing was deleted):" if dry_run else f"Deleted (cutoff {when}):"]
    for label, count in (
        ("resolved alerts", result.alerts),
        ("their events", result.events),
        ("their notifications", result.notifications),
        ("runs", result.runs),
        *((("heartbeat pings", result.pings),) if config.heartbeats or result.pings else ()),
        ("ended silences", result.silences),
        *((("audit entries", result.audit),) if result.audit else ()),
    ):
        lines.append(f"  {label:<20}{count:>10}")
    if result.history_runs:
        when = format_time(history_cutoff, config.timezone)
        lines.append(f"  metric samples of {result.history_runs} run(s) before {when} (history.retention)")
    if result.kept:
        lines.append(f"Kept {result.kept} resolved alert(s) with notifications not delivered yet.")
    if vacuum:
        if dry_run:
            lines.append("--vacuum skipped: a dry run changes nothing")
        else:
            lines.append(f"Vacuumed {store.path}: {_mib(size_before)} -> {_mib(_file_size(store.path))}")
    sys.stdout.write("\n".join(lines) + "\n")


def _file_size(path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mib(size: int) -> str:
    return f"{size / 1_048_576:.1f} MiB"

"""``pantry-alert check``: one evaluation run."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from . import app
from .common import get_globals


@app.command()
def check(
    ctx: typer.Context,
    metrics_file: Annotated[Optional[str], typer.Option("--metrics-file", metavar="PATH|-",
                                                        help="read metrics from a file ('-' = stdin)")] = None,
    metrics_url: Annotated[Optional[str], typer.Option("--metrics-url", metavar="URL",
                                                       help="fetch metrics from a URL")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="evaluate and show; write nothing, send nothing")] = False,
    fail_on: Annotated[Optional[str], typer.Option("--fail-on", metavar="SEVERITY",
                                                   help="exit 5 when an active alert at or above SEVERITY exists")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON run summary")] = False,
) -> None:
    """Evaluate every rule once, update alert state, send notifications."""
    from .checking import execute

    code = execute(get_globals(ctx), metrics_file=metrics_file, metrics_url=metrics_url, dry_run=dry_run,
                   fail_on=fail_on, as_json=as_json)
    if code:
        raise typer.Exit(code)

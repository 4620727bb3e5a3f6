"""``review`` (the post-incident review of one alert) and ``report`` (the weekly noise report)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from . import app
from .common import choice, get_globals, json_text

REVIEW_FORMATS = ("md", "html")
REPORT_FORMATS = ("md", "html", "json")


def _write(text: str, output: str | None) -> None:
    """To stdout, or to ``output`` whole (a temporary file renamed over it: never half-written)."""
    if output is None:
        sys.stdout.write(text)
        return
    from pathlib import Path

    from ..errors import UsageError
    from ..files import replace_file

    path = Path(output)
    try:
        replace_file(path.absolute(), text, mode=0o644)
    except OSError as exc:
        raise UsageError(f"-o {output}: cannot write it: {exc.strerror}") from None
    sys.stderr.write(f"wrote {output}\n")


@app.command()
def review(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ALERT_ID")],
    format_: Annotated[str, typer.Option("--format", metavar="md|html", help="Markdown or one HTML page")] = "md",
    output: Annotated[Optional[str], typer.Option("-o", "--output", metavar="FILE", help="write to FILE")] = None,
) -> None:
    """The post-incident review of an alert: summary, key times, timeline, notifications, notes, chart."""
    from .. import review as reviews

    choice(format_, REVIEW_FORMATS, "--format")
    g = get_globals(ctx)
    with g.store() as store:
        built = reviews.build(store, g.config(), alert_id, now=g.now())
    _write(reviews.html(built) if format_ == "html" else reviews.markdown(built), output)


@app.command()
def report(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", metavar="DURATION", help="alerts fired in the last DURATION")] = "7d",
    format_: Annotated[str, typer.Option("--format", metavar="md|html|json", help="output format")] = "md",
    output: Annotated[Optional[str], typer.Option("-o", "--output", metavar="FILE", help="write to FILE")] = None,
) -> None:
    """The noise report: per rule, alerts, notices, after-hours notices, TTA/TTR, flapping."""
    from .. import noise
    from ..timeutil import cli_duration

    choice(format_, REPORT_FORMATS, "--format")
    window = cli_duration(since, option="--since")
    g = get_globals(ctx)
    now = g.now()
    config = g.config()
    with g.store() as store:
        built = noise.build(store, config, since=now - window, until=now)
    if format_ == "json":
        text = json_text(built)
    else:
        text = noise.html(built, config) if format_ == "html" else noise.markdown(built, config)
    _write(text, output)

"""``pantry-alert metrics PATH`` and ``pantry-alert rules backtest``: the metric history."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ..text import printable
from . import app
from .common import get_globals, print_json
from .completion import rule_ids
from .rules import app as rules_app


def _since(value: str | None, option: str = "--since") -> int | None:
    from ..timeutil import cli_duration, positive_duration

    if value is None:
        return None
    return positive_duration(cli_duration(value, option=option), f"{option} must be longer than 0")


@app.command()
def metrics(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(metavar="PATH", help="a dotted metric path, e.g. errorRate")],
    since: Annotated[
        Optional[str], typer.Option("--since", metavar="DURATION", help="how far back [default: 6h]")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help='print [{"at": ms, "value": n}]')] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="print CSV: at (ISO 8601 UTC),value")] = False,
) -> None:
    """Chart one metric's stored samples with min, max and last (or print them: --json, --csv)."""
    from .. import history
    from ..charts import chart, iso, number

    if as_json and as_csv:
        from ..errors import UsageError

        raise UsageError("give --json or --csv, not both")
    window = _since(since) or history.DEFAULT_SINCE_MS
    g = get_globals(ctx)
    now = g.now()
    with g.store() as store:
        rows = history.samples(store, path, now=now, since_ms=window)
    if as_json:
        print_json(rows)
        return
    if as_csv:
        sys.stdout.write("at,value\n" + "".join(f"{iso(r['at'])},{r['value']!r}\n" for r in rows))
        return
    from ..timeutil import exact_duration

    shown = printable(path)
    if not rows:
        sys.stdout.write(f"No samples of {shown} in the last {exact_duration(window)}.\n")
        return
    values = [r["value"] for r in rows]
    lines = [f"{shown}: {len(rows)} sample{'s' if len(rows) != 1 else ''} in the last {exact_duration(window)}"]
    lines += chart([(r["at"], r["value"]) for r in rows])
    lines.append(f"min {number(min(values))}   max {number(max(values))}   last {number(values[-1])}")
    sys.stdout.write("\n".join(lines) + "\n")


@rules_app.command("backtest")
def backtest(
    ctx: typer.Context,
    candidate: Annotated[
        Optional[str],
        typer.Option("--candidate", metavar="FILE", help="the rules.yaml to try [default: the current config]"),
    ] = None,
    rule: Annotated[
        Optional[list[str]],
        typer.Option("--rule", metavar="ID", help="only this rule (repeatable)", autocompletion=rule_ids),
    ] = None,
    since: Annotated[
        Optional[str], typer.Option("--since", metavar="DURATION", help="how far back to replay [default: 7d]")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON object")] = False,
) -> None:
    """Replay the stored metric history through the rules and the policy: what would have fired,
    beside what did.  Writes nothing, sends nothing."""
    from .. import backtest as backtest_mod
    from ..config import load
    from ..store import open_store

    g = get_globals(ctx)
    config = load(candidate, g.workspace.env) if candidate else g.config()
    now = g.now()
    start = now - (_since(since) or 7 * 86_400_000)
    with open_store(g.db_path(), readonly=True, timeout_ms=config.state.lock_timeout_ms) as store:
        result = backtest_mod.backtest(store, config, now=now, since=start, rule_ids=rule, env=g.workspace.env)
    if as_json:
        print_json(result.to_json())
        return
    sys.stdout.write("\n".join(_report(result, g.config().timezone)) + "\n")


def _report(result, tz: str | None) -> list[str]:
    from ..charts import number
    from ..timeutil import format_duration, format_time

    def episode(e) -> str:
        end = format_time(e.end, tz) if e.end is not None else "still open"
        duration = format_duration((result.until if e.end is None else e.end) - e.start)
        peak = "-" if e.peak is None else number(e.peak)
        sent = ", ".join(f"{channel} {count}" for channel, count in sorted(e.notifications.items())) or "none"
        name = f"{printable(e.id)}: " if e.id else ""
        return f"    {name}{format_time(e.start, tz)} -> {end} ({duration}), peak {peak}, notifications: {sent}"

    lines = [
        f"Replayed {result.runs} run(s) from {format_time(result.since, tz)} to {format_time(result.until, tz)} "
        "(nothing written, nothing sent)"
    ]
    for r in result.rules:
        lines.append("")
        lines.append(r.rule)
        for path in r.not_recorded:
            lines.append(f"  reads {printable(path)}, which was never recorded: no run can show it")
        lines.append(f"  would fire: {len(r.would_fire)}")
        lines += [episode(e) for e in r.would_fire]
        lines.append(f"  actually fired: {len(r.actual)}")
        lines += [episode(e) for e in r.actual]
    return lines


def trend_lines(trends: list[tuple[str, list[float]]]) -> str:
    """``show``'s metric sparklines: one line per value, with its min, max and last (rich markup escaped)."""
    from ..charts import number, sparkline
    from .common import escape

    width = max(len(printable(path)) for path, _ in trends)
    lines = ["Metrics from 1h before firing to resolution:"]
    for path, values in trends:
        lines.append(
            f"  {escape(printable(path).ljust(width))}  {sparkline(values, 40)}  "
            f"min {number(min(values))}  max {number(max(values))}  last {number(values[-1])}"
        )
    return "\n".join(lines)

"""Reading alerts: ``list`` (active), ``history`` (all) and ``show`` (one, with its timeline).

Human output is rich tables sized for an 80-column terminal, times in the
config's time zone; ``--json`` keeps epoch milliseconds.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ..timeutil import format_time
from ..views import event_text
from . import app
from .common import alerts_table, choice, console, escape, get_globals, print_json, warn
from .completion import rule_ids

MAX_LIMIT = 1_000_000


def _clock(ms: int | None, tz: str | None) -> tuple[str, str]:
    """(``2025-11-26 12:00:00``, ``CET (Europe/Berlin)``): the time and its zone, apart."""
    parts = format_time(ms, tz).split(" ", 2)
    if len(parts) < 3:  # "-" (no time)
        return parts[0], ""
    return f"{parts[0]} {parts[1]}", parts[2]


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    severity: Annotated[Optional[str], typer.Option("--severity", help="low, medium, high or critical")] = None,
    type_: Annotated[Optional[str], typer.Option("--type", help="performance, error, security or business")] = None,
    rule: Annotated[Optional[str], typer.Option("--rule", help="a rule id", autocompletion=rule_ids)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON array")] = False,
) -> None:
    """Active (unresolved) alerts, newest first."""
    from ..config import SEVERITIES, TYPES

    choice(severity, SEVERITIES, "--severity")
    choice(type_, TYPES, "--type")
    g = get_globals(ctx)
    if rule is not None and g.config().rule(rule) is None:
        warn(f"no rule '{rule}' in {g.config().path}; showing active alerts of that id, if any remain from before")
    with g.store() as store:
        alerts = store.list_alerts(active=True, severity=severity, type=type_, rule=rule)
    if as_json:
        from ..views import alerts_json

        print_json(alerts_json(alerts))
        return
    if not alerts:
        sys.stdout.write("No active alerts\n")
        return
    config = g.config()
    table = alerts_table(alerts, config.timezone, f"{len(alerts)} active alert(s)", config.maintenance, g.now())
    console().print(table)


# ---------------------------------------------------------------- history


@app.command()
def history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="show at most N alerts (1 to 1000000)")] = 100,
    since: Annotated[
        Optional[str],
        typer.Option("--since", metavar="DURATION", help="only alerts fired in the last DURATION (e.g. 2h, 7d)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON array")] = False,
) -> None:
    """All alerts, resolved ones included, newest first."""
    from ..errors import UsageError
    from ..timeutil import cli_duration, format_duration

    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"--limit: {str(limit)[:30]} is out of range (1 to {MAX_LIMIT})")
    since_ms = cli_duration(since, option="--since") if since is not None else None
    g = get_globals(ctx)
    now = g.now()
    with g.store() as store:
        alerts = store.list_alerts(active=False, since=None if since_ms is None else now - since_ms, limit=limit)
    if as_json:
        from ..views import alerts_json

        print_json(alerts_json(alerts))
        return
    scope = f" fired in the last {format_duration(since_ms)}" if since_ms is not None else ""
    if not alerts:
        sys.stdout.write(f"No alerts{scope}\n")
        return
    title = f"{len(alerts)} alert(s){scope}, newest first"
    if len(alerts) == limit:
        title += f" (--limit {limit}: older ones not shown)"
    console().print(alerts_table(alerts, g.config().timezone, title))


# ------------------------------------------------------------------- show


@app.command()
def show(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ALERT_ID")],
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON object")] = False,
) -> None:
    """One alert with its timeline of events and its notification attempts."""
    from ..history import alert_trends
    from ..views import alert_detail
    from .history import trend_lines

    g = get_globals(ctx)
    with g.store() as store:
        detail = alert_detail(store, alert_id)
        if as_json:
            print_json(detail.to_json())
            return
        trends = alert_trends(store, detail.alert, g.config(), g.now())
    alert, events, notifications = detail.alert, detail.events, detail.notifications
    tz = g.config().timezone
    out = console()
    out.print(_alert_panel(alert, events, tz, _held(alert, g.config().maintenance, g.now())))
    if trends:
        out.print(trend_lines(trends), soft_wrap=True)
    out.print(_timeline_table(alert, events, tz))
    out.print(_notifications_table(alert, notifications, tz))


def _held(alert, windows, now: int) -> str:
    """Why an alert's notices are held back, for its status line."""
    from ..views import held_by_window

    if alert.silenced:
        held = held_by_window(alert, windows, now)
        return " (notifications held by a maintenance window)" if held else " (notifications muted by a silence)"
    return " (notifications held: an inhibiting rule's alert is unresolved)" if alert.inhibited else ""


def _alert_panel(alert, events: list[dict], tz: str | None, held: str = ""):
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in _panel_rows(alert, events, tz, held):
        grid.add_row(label, value)
    return Panel(
        grid, title=f"[bold]{escape(alert.title)}[/] {escape(f'[{alert.severity}]')}", title_align="left", expand=False
    )


def _panel_rows(alert, events: list[dict], tz: str | None, held: str = "") -> list[tuple[str, str]]:
    """The ``show`` panel's rows: (label, rich markup)."""
    fired_severity = next((e["detail"].get("severity") for e in events if e["kind"] == "fired"), None)
    severity = alert.severity
    if alert.escalated:
        severity += (
            f" (escalated from {fired_severity})"
            if fired_severity and fired_severity != alert.severity
            else " (escalated)"
        )
    seen = f"{format_time(alert.last_seen_at, tz)} (seen {alert.count} time{'s' if alert.count != 1 else ''})"
    rows = [
        ("Alert", escape(alert.id)),
        ("Rule", f"{escape(alert.rule_id)} ({alert.type})"),
        ("Severity", severity),
        ("Status", alert.status + held),
        ("Description", escape(alert.description or "")),
        ("Fired", format_time(alert.timestamp, tz)),
        ("Last seen", seen),
    ]
    rows += _handled_rows(alert, tz)
    if alert.metrics:
        rows.append(("Metrics", escape(", ".join(f"{k} = {v}" for k, v in alert.metrics.items()))))
    if alert.labels:
        rows.append(("Labels", escape(", ".join(f"{k}={v}" for k, v in alert.labels.items()))))
    if alert.runbook_url:
        rows.append(("Runbook", escape(alert.runbook_url)))
    channels = ", ".join(alert.channels) or "-"
    notified = ", ".join(alert.notified_channels) or "none yet"
    rows.append(("Channels", f"{escape(channels)} (notified: {escape(notified)})"))
    if alert.policy_step:
        from ..timeutil import format_duration

        paused = f"; {format_duration(alert.acked_ms)} acknowledged, not counted" if alert.acked_ms else ""
        rows.append(("Escalation", f"policy step {alert.policy_step} reached{paused}"))
    return rows


def _handled_rows(alert, tz: str | None) -> list[tuple[str, str]]:
    """The Acknowledged and Resolved rows, when the alert was."""
    from ..timeutil import format_duration

    rows = []
    if alert.acknowledged_at is not None:
        text = f"{format_time(alert.acknowledged_at, tz)} by {escape(alert.acknowledged_by or '?')}"
        text += f", {format_duration(alert.acknowledged_at - alert.timestamp)} after firing"
        if alert.ack_expires_at is not None:
            text += f"; until {format_time(alert.ack_expires_at, tz)}"
        rows.append(("Acknowledged", text))
    if alert.resolved_at is not None:
        rows.append(
            (
                "Resolved",
                f"{format_time(alert.resolved_at, tz)} by {escape(alert.resolved_by or '?')}, "
                f"{format_duration(alert.resolved_at - alert.timestamp)} after firing",
            )
        )
    return rows


def _short(ms: int | None, tz: str | None, day: str, zone: str) -> str:
    """The time alone on the alert's day; with the date on other days; with the zone if it differs."""
    text, event_zone = _clock(ms, tz)
    if text.startswith(day + " "):
        text = text[len(day) + 1 :]
    return text if event_zone in (zone, "") else f"{text} {event_zone}"


def _timeline_table(alert, events: list[dict], tz: str | None):
    from rich import box
    from rich.table import Table

    from ..timeutil import format_duration

    fired, zone = _clock(alert.timestamp, tz)
    day = fired.split(" ")[0]
    table = Table(title=f"Timeline, {day}, times in {zone}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("Time", no_wrap=True)
    table.add_column("After", justify="right", no_wrap=True)
    table.add_column("Event", no_wrap=True)
    table.add_column("Details", overflow="fold")
    for event in events:
        offset = event["at"] - alert.timestamp
        table.add_row(
            _short(event["at"], tz, day, zone),
            ("-" if offset < 0 else "") + format_duration(abs(offset)),
            event["kind"],
            escape(event_text(event["kind"], event["detail"] or {}, tz)),
        )
    return table


def _notifications_table(alert, notifications: list[dict], tz: str | None):
    from rich import box
    from rich.table import Table

    if not notifications:
        return Table(title="Notifications: none recorded", title_justify="left", box=None, show_header=False)
    fired, zone = _clock(alert.timestamp, tz)
    day = fired.split(" ")[0]
    table = Table(title="Notifications", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("Channel", no_wrap=True)
    table.add_column("Kind", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Tries", justify="right", no_wrap=True)
    table.add_column("Sent", no_wrap=True)
    table.add_column("Error", overflow="fold")
    for n in notifications:
        error = n["error"] or ""
        if n["status"] in ("pending", "failed", "deferred") and n.get("nextAttemptAt") is not None:
            error += ("; " if error else "") + f"next try {_short(n['nextAttemptAt'], tz, day, zone)}"
        sent = _short(n["sentAt"], tz, day, zone) if n["sentAt"] is not None else "-"
        table.add_row(n["channel"], n["kind"], n["status"], str(n["attempts"]), sent, escape(error))
    return table

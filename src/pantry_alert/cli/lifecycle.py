"""Lifecycle commands: ``history``, ``show``, ``ack``, ``stats``, ``prune``.

The SQL lives in ``store.reports``; this module parses options and renders.
Human output is rich tables sized for an 80-column terminal, times in the
config's time zone; ``--json`` keeps epoch milliseconds.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from ..timeutil import format_time
from . import app
from .alerts import login_name
from .common import alerts_table, console, escape, get_globals, print_json

_HISTORY_HINT = "`pantry-alert history` lists recent alerts with their ids"
_SEVERITY_ORDER = ("critical", "high", "medium", "low")


def _not_found(alert_id: str):
    from ..errors import NotFoundError

    return NotFoundError(f"Alert {alert_id} not found", hint=_HISTORY_HINT)


def _clock(ms: int | None, tz: str | None) -> tuple[str, str]:
    """(``2025-11-26 12:00:00``, ``CET (Europe/Berlin)``): the time and its zone, apart."""
    parts = format_time(ms, tz).split(" ", 2)
    if len(parts) < 3:  # "-" (no time)
        return parts[0], ""
    return f"{parts[0]} {parts[1]}", parts[2]


# ---------------------------------------------------------------- history


@app.command()
def history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="show at most N alerts")] = 100,
    since: Annotated[Optional[str], typer.Option("--since", metavar="DURATION",
                                                 help="only alerts fired in the last DURATION (e.g. 2h, 7d)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON array")] = False,
) -> None:
    """All alerts, resolved ones included, newest first."""
    from ..timeutil import cli_duration, format_duration

    since_ms = cli_duration(since, option="--since") if since is not None else None
    g = get_globals(ctx)
    now = g.now()
    with g.store() as store:
        alerts = store.list_alerts(active=False, since=None if since_ms is None else now - since_ms, limit=limit)
    if as_json:
        print_json([a.to_json() for a in alerts])
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
    g = get_globals(ctx)
    with g.store() as store:
        alert = store.get_alert(alert_id)
        if alert is None:
            raise _not_found(alert_id)
        events = store.events(alert_id)
        notifications = [{k: v for k, v in n.items() if k != "id"} for n in store.notifications(alert_id)]
    if as_json:
        print_json({**alert.to_json(), "events": events, "notifications": notifications})
        return
    tz = g.config().timezone
    out = console()
    out.print(_alert_panel(alert, events, tz))
    out.print(_timeline_table(alert, events, tz))
    out.print(_notifications_table(alert, notifications, tz))


def _alert_panel(alert, events: list[dict], tz: str | None):
    from rich.panel import Panel
    from rich.table import Table

    from ..timeutil import format_duration

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")

    def row(label: str, value: str) -> None:
        grid.add_row(label, value)

    row("Alert", escape(alert.id))
    row("Rule", f"{escape(alert.rule_id)} ({alert.type})")
    fired_severity = next((e["detail"].get("severity") for e in events if e["kind"] == "fired"), None)
    severity = alert.severity
    if alert.escalated:
        severity += f" (escalated from {fired_severity})" if fired_severity and fired_severity != alert.severity \
            else " (escalated)"
    row("Severity", severity)
    status = alert.status + (" (notifications muted by a silence)" if alert.silenced else "")
    row("Status", status)
    row("Description", escape(alert.description or ""))
    row("Fired", format_time(alert.timestamp, tz))
    row("Last seen", f"{format_time(alert.last_seen_at, tz)} (seen {alert.count} time{'s' if alert.count != 1 else ''})")
    if alert.acknowledged_at is not None:
        text = f"{format_time(alert.acknowledged_at, tz)} by {escape(alert.acknowledged_by or '?')}"
        text += f", {format_duration(alert.acknowledged_at - alert.timestamp)} after firing"
        if alert.ack_expires_at is not None:
            text += f"; until {format_time(alert.ack_expires_at, tz)}"
        row("Acknowledged", text)
    if alert.resolved_at is not None:
        row("Resolved", f"{format_time(alert.resolved_at, tz)} by {escape(alert.resolved_by or '?')}, "
                        f"{format_duration(alert.resolved_at - alert.timestamp)} after firing")
    if alert.metrics:
        row("Metrics", escape(", ".join(f"{k} = {v}" for k, v in alert.metrics.items())))
    if alert.labels:
        row("Labels", escape(", ".join(f"{k}={v}" for k, v in alert.labels.items())))
    if alert.runbook_url:
        row("Runbook", escape(alert.runbook_url))
    channels = ", ".join(alert.channels) or "-"
    notified = ", ".join(alert.notified_channels) or "none yet"
    row("Channels", f"{escape(channels)} (notified: {escape(notified)})")
    return Panel(grid, title=f"[bold]{escape(alert.title)}[/] {escape(f'[{alert.severity}]')}", title_align="left",
                 expand=False)


def _event_text(kind: str, d: dict[str, Any], tz: str | None) -> str:
    """One timeline line's details, in words."""
    import json

    def channels() -> str:
        return ", ".join(d.get("channels") or []) or "no configured channel"

    if kind == "fired":
        return f"{d.get('severity', '?')}: {d.get('description', '')}"
    if kind == "notified":
        return f"{d.get('kind', '?')} to {channels()}"
    if kind == "reminded":
        return f"{d.get('kind', 'reminder')} to {channels()} (seen {d.get('count', '?')} times)"
    if kind == "escalated":
        return f"{d.get('from', '?')} -> {d.get('to', '?')}; channels now {channels()}"
    if kind == "acknowledged":
        text = f"by {d.get('by') or '?'}"
        if d.get("until") is not None:
            text += f" until {_clock(d['until'], tz)[0]}"
        if d.get("note"):
            text += f": {d['note']}"
        return text
    if kind == "ack_expired":
        return "acknowledgement expired; reminders resume"
    if kind == "resolved":
        return f"by {d.get('by') or '?'}" + (f": {d['note']}" if d.get("note") else "")
    if kind == "delivered":
        return f"{d.get('kind', '?')} via {d.get('channel', '?')}"
    if kind == "delivery_failed":
        retry = f"; retry at {_clock(d['retryAt'], tz)[0]}" if d.get("retryAt") else "; gave up"
        return f"{d.get('kind', '?')} via {d.get('channel', '?')}: {d.get('error', '?')}{retry}"
    return json.dumps(d, separators=(", ", ": ")) if d else ""


def _short(ms: int | None, tz: str | None, day: str, zone: str) -> str:
    """The time alone on the alert's day; with the date on other days; with the zone if it differs."""
    text, event_zone = _clock(ms, tz)
    if text.startswith(day + " "):
        text = text[len(day) + 1:]
    return text if event_zone in (zone, "") else f"{text} {event_zone}"


def _timeline_table(alert, events: list[dict], tz: str | None):
    from rich import box
    from rich.table import Table

    from ..timeutil import format_duration

    fired, zone = _clock(alert.timestamp, tz)
    day = fired.split(" ")[0]
    table = Table(title=f"Timeline, {day}, times in {zone}", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    table.add_column("Time", no_wrap=True)
    table.add_column("After", justify="right", no_wrap=True)
    table.add_column("Event", no_wrap=True)
    table.add_column("Details", overflow="fold")
    for event in events:
        offset = event["at"] - alert.timestamp
        table.add_row(_short(event["at"], tz, day, zone), ("-" if offset < 0 else "") + format_duration(abs(offset)),
                      event["kind"], escape(_event_text(event["kind"], event["detail"] or {}, tz)))
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


# -------------------------------------------------------------------- ack


@app.command()
def ack(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ALERT_ID")],
    by: Annotated[Optional[str], typer.Option("--by", help="who acknowledges it [default: your login name]")] = None,
    note: Annotated[Optional[str], typer.Option("--note", help="a note for the timeline")] = None,
    for_: Annotated[Optional[str], typer.Option("--for", metavar="DURATION",
                                                help="expire the acknowledgement after DURATION (e.g. 2h); "
                                                     "reminders resume then if it still fires")] = None,
) -> None:
    """Acknowledge an alert: no more reminders or escalation for it (for a while, with --for)."""
    from ..errors import NotFoundError, UsageError
    from ..store import reports
    from ..timeutil import cli_duration, format_duration

    duration = cli_duration(for_, option="--for") if for_ is not None else None
    if duration == 0:
        raise UsageError("--for: 0 would expire the acknowledgement at once; give a duration such as 30m or 2h")
    g = get_globals(ctx)
    now = g.now()
    with g.store() as store:
        if store.conn is None:
            raise _not_found(alert_id)
        outcome, alert = reports.acknowledge(store, alert_id, by=by or login_name(), note=note,
                                             until=None if duration is None else now + duration, now=now)
    tz = g.config().timezone
    if outcome == "missing":
        raise _not_found(alert_id)
    if outcome == "resolved":
        raise NotFoundError(f"Alert {alert_id} is already resolved ({format_time(alert.resolved_at, tz)} by "
                            f"{alert.resolved_by or '?'}); there is nothing to acknowledge")
    if outcome == "already":
        until = f" until {format_time(alert.ack_expires_at, tz)}" if alert.ack_expires_at is not None else ""
        raise NotFoundError(
            f"Alert {alert_id} is already acknowledged (by {alert.acknowledged_by or '?'} at "
            f"{format_time(alert.acknowledged_at, tz)}{until})",
            hint=f"`pantry-alert show {alert_id}` shows its timeline")
    sys.stdout.write("Alert acknowledged\n")
    if duration is not None:
        sys.stderr.write(f"the acknowledgement expires in {format_duration(duration)} "
                         f"({format_time(now + duration, tz)}); reminders resume then if it still fires\n")


# ------------------------------------------------------------------ stats


@app.command()
def stats(
    ctx: typer.Context,
    window: Annotated[str, typer.Option("--window", metavar="DURATION",
                                        help="alerts fired in the last DURATION (e.g. 24h, 7d; a bare number is "
                                             "milliseconds)")] = "24h",
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
    summary.add_row("Mean time to resolve", format_duration(data["averageResolutionTime"]))
    summary.add_row("Mean time to acknowledge", format_duration(data["averageAcknowledgeTime"]))
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
    out.print(Columns([
        counts("By severity", "Severity", ordered(data["bySeverity"], _SEVERITY_ORDER)),
        counts("By type", "Type", ordered(data["byType"], TYPES)),
        counts("Notifications", "Status", notifications or [("none", 0)]),
    ], padding=(0, 4)))
    if data["byRule"]:
        rules = Table(title="By rule", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        rules.add_column("Rule", overflow="fold")
        rules.add_column("Fired", justify="right", no_wrap=True)
        rules.add_column("Active", justify="right", no_wrap=True)
        rules.add_column("Mean time to resolve", justify="right", no_wrap=True)
        for rule_id, r in sorted(data["byRule"].items(), key=lambda kv: (-kv[1]["count"], kv[0])):
            rules.add_row(escape(rule_id), str(r["count"]), str(r["active"]),
                          format_duration(r["averageResolutionTime"]) if r["averageResolutionTime"] else "-")
        out.print(rules)


# ------------------------------------------------------------------ prune


@app.command()
def prune(
    ctx: typer.Context,
    older_than: Annotated[Optional[str], typer.Option("--older-than", metavar="DURATION",
                                                      help="delete resolved alerts fired more than DURATION ago "
                                                           "[default: state.retention, 7d]")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would be deleted; delete nothing")] = False,
    vacuum: Annotated[bool, typer.Option("--vacuum", help="compact the database file afterwards")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON object")] = False,
) -> None:
    """Delete old resolved alerts with their events and notifications (never an unresolved one)."""
    from ..store import reports
    from ..timeutil import cli_duration

    age = cli_duration(older_than, option="--older-than") if older_than is not None else None
    g = get_globals(ctx)
    config = g.config()
    cutoff = g.now() - (config.state.retention_ms if age is None else age)
    with g.store() as store:
        result = reports.prune(store, cutoff=cutoff, dry_run=dry_run)
        size_before = _file_size(store.path)
        if vacuum and not dry_run:
            reports.vacuum(store)
    if as_json:
        print_json({"deleted": result.alerts, "cutoff": cutoff, "dryRun": dry_run})
        return
    when = format_time(cutoff, config.timezone)
    lines = [f"Would delete (cutoff {when}; dry run: nothing was deleted):" if dry_run
             else f"Deleted (cutoff {when}):"]
    for label, count in (("resolved alerts", result.alerts), ("their events", result.events),
                         ("their notifications", result.notifications), ("runs", result.runs)):
        lines.append(f"  {label:<20}{count:>10}")
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

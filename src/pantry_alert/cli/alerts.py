"""Alert commands: ``list`` and ``resolve`` (history/show/ack/stats/prune live beside them)."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated, Optional

import typer

from . import app
from .common import alerts_table, choice, console, get_globals, print_json


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER") or "unknown"


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    severity: Annotated[Optional[str], typer.Option("--severity", help="low, medium, high or critical")] = None,
    type_: Annotated[Optional[str], typer.Option("--type", help="performance, error, security or business")] = None,
    rule: Annotated[Optional[str], typer.Option("--rule", help="a rule id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON array")] = False,
) -> None:
    """Active (unresolved) alerts, newest first."""
    from ..config import SEVERITIES, TYPES

    choice(severity, SEVERITIES, "--severity")
    choice(type_, TYPES, "--type")
    g = get_globals(ctx)
    with g.store() as store:
        alerts = store.list_alerts(active=True, severity=severity, type=type_, rule=rule)
    if as_json:
        print_json([a.to_json() for a in alerts])
        return
    if not alerts:
        sys.stdout.write("No active alerts\n")
        return
    console().print(alerts_table(alerts, g.config().timezone, f"{len(alerts)} active alert(s)"))


@app.command()
def resolve(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ALERT_ID")],
    by: Annotated[Optional[str], typer.Option("--by", help="who resolved it [default: your login name]")] = None,
    note: Annotated[Optional[str], typer.Option("--note", help="a note for the timeline")] = None,
) -> None:
    """Resolve an alert by hand; its resolved notifications go out with the next check."""
    from ..errors import NotFoundError

    g = get_globals(ctx)
    config = g.config()
    with g.store() as store:
        if store.conn is None:
            raise NotFoundError("Alert not found or already resolved")
        alert = store.get_alert(alert_id)
        rule = config.rule(alert.rule_id) if alert else None
        store.resolve_alert(alert_id, by=by or login_name(), note=note, now=g.now(),
                            notify_resolved=rule.notify_resolved if rule else True)
    sys.stdout.write("Alert resolved\n")

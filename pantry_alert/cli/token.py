"""``pantry-alert token add | list | revoke``: scoped tokens for the HTTP API and the web console."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from .common import console, get_globals, print_json

app = typer.Typer(help="Scoped tokens for the HTTP API and the web console.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME")],
    scope: Annotated[
        str, typer.Option("--scope", metavar="SCOPE[,SCOPE]", help="read, ack, silence, rules, admin (comma-separated)")
    ],
    expires: Annotated[
        Optional[str],
        typer.Option("--expires", metavar="DURATION", help="valid for this long, e.g. 90d [default: never expires]"),
    ] = None,
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from .. import tokens
    from ..timeutil import cli_duration, format_time

    scopes = tokens.parse_scopes(scope)
    expires_ms = None if expires is None else cli_duration(expires, option="--expires")
    ws = get_globals(ctx).workspace
    token, entry = tokens.add_token(ws, name, scopes, expires_ms=expires_ms)
    sys.stdout.write(f"{token}\n")
    until = (
        "never expires"
        if entry["expiresAt"] is None
        else f"expires {format_time(entry['expiresAt'], ws.config().timezone)}"
    )
    sys.stderr.write(
        f"token '{name}' created with scopes {','.join(entry['scopes'])} ({until}); "
        "it is shown only this once: keep it now\n"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="print a JSON array of tokens (never the tokens themselves)")
    ] = False,
) -> None:
    """The tokens: names, scopes and times (never the tokens themselves)."""
    from .. import tokens
    from ..timeutil import format_time

    ws = get_globals(ctx).workspace
    found = tokens.list_tokens(ws)
    if as_json:
        print_json(found)
        return
    if not found:
        sys.stderr.write("no tokens (PANTRY_ALERT_API_TOKEN, when set, is the admin token 'env')\n")
        return
    from rich import box
    from rich.table import Table

    tz = ws.config().timezone
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, show_edge=False)
    for column in ("Name", "Scopes", "Created", "Expires", "Last used"):
        table.add_column(column, overflow="fold")
    for t in found:
        table.add_row(
            t["name"],
            ",".join(t["scopes"]),
            format_time(t["createdAt"], tz),
            format_time(t["expiresAt"], tz) if t["expiresAt"] is not None else "never",
            format_time(t["lastUsedAt"], tz) if t["lastUsedAt"] is not None else "never",
        )
    console().print(table)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME")],
) -> None:
    """Revoke a token at once: API requests with it get 401 and its console sessions end."""
    from .. import tokens

    tokens.revoke_token(get_globals(ctx).workspace, name)
    sys.stdout.write(f"Token {name} revoked\n")

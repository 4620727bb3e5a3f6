"""``pantry-alert serve``: the HTTP API on uvicorn (one process), stopped gracefully by SIGTERM."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Annotated

import typer

from . import app
from .common import get_globals

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", metavar="HOST", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", min=1, max=65535, help="TCP port")] = 8080,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth", help="serve /api/, /metrics and the console without a token (only on a loopback address)"
        ),
    ] = False,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="log one line per request to stderr")
    ] = True,
) -> None:
    """Run the HTTP API, the web console and Slack's Acknowledge button over the same state and rules.yaml."""
    g = get_globals(ctx)
    server_ctx = server_context(g.config_path, g.db, os.environ, host=host, no_auth=no_auth)
    sock = _listen(host, port)
    _serve(server_ctx, sock, access_log=access_log)


def server_context(config_path: str | None, db: str | None, env: Mapping[str, str], *, host: str, no_auth: bool):
    """The server's context after every check ``serve`` makes before it listens (the tests serve it in-process)."""
    from ..errors import UsageError
    from ..http.context import ServerContext
    from ..store.db import inspect

    server_ctx = ServerContext(config_path=config_path, db=db, env=env)
    ws = server_ctx.load()  # an invalid rules.yaml: exit 2 before listening
    ws.now()  # a malformed PANTRY_ALERT_NOW: exit 2
    config = ws.config()
    token = config.api.token or (env.get("PANTRY_ALERT_API_TOKEN") or "").strip() or None
    if no_auth:
        if not is_loopback(host):
            raise UsageError(
                f"--no-auth is refused on {host}: without a token the API may listen only on a loopback address",
                hint="set PANTRY_ALERT_API_TOKEN (or api.token in rules.yaml), or use --host 127.0.0.1",
            )
        token = None
    _check_ping_key(config)
    inspect(ws.db_path())  # a foreign, corrupt or newer database: exit 4 before listening
    if not no_auth and token is None and not _stored_tokens(ws):
        raise UsageError(
            "serve needs an API token: set PANTRY_ALERT_API_TOKEN or api.token in rules.yaml",
            hint='e.g. PANTRY_ALERT_API_TOKEN="$(openssl rand -hex 32)", or `pantry-alert token add NAME --scope '
            "admin`; for a local test only: --no-auth",
        )
    server_ctx.token, server_ctx.no_auth = token, no_auth
    return server_ctx


def _stored_tokens(ws) -> bool:
    from ..tokens import list_tokens

    return bool(list_tokens(ws))


def warn_at_start(server_ctx) -> None:
    """The files the server uses and the start-up warnings, on the server's log."""
    import logging

    log = logging.getLogger("pantry_alert.http")
    ws = server_ctx.workspace()
    log.info("config %s, state database %s", ws.config().path, ws.db_path())  # which files it uses, said once
    if not (server_ctx.env.get("SLACK_SIGNING_SECRET") or "").strip():
        log.warning("SLACK_SIGNING_SECRET is not set: POST /slack/actions refuses every request")
    if server_ctx.no_auth:
        log.warning("no authentication (--no-auth): anyone who can reach this address can use the API")


def _check_ping_key(config) -> None:
    """A ``PANTRY_ALERT_PING_KEY`` too short to guard the ping URLs: exit 2 before listening."""
    from ..config.heartbeats import MIN_PING_KEY
    from ..errors import UsageError
    from ..http.pings import PING_KEY_ENV, ping_key

    key = ping_key(config, os.environ)
    if key is not None and len(key) < MIN_PING_KEY:
        raise UsageError(
            f"{PING_KEY_ENV} must be at least {MIN_PING_KEY} characters (the value is not shown)",
            hint=f'e.g. {PING_KEY_ENV}="$(openssl rand -hex 16)"',
        )
    if key is None and config.heartbeats:
        sys.stderr.write(
            f"warning: no ping key ({PING_KEY_ENV} or api.ping_key): the /ping/ URLs answer 404 to every ping\n"
        )


def _listen(host: str, port: int):
    """The listening socket, bound here so a busy port is a clear error (exit 2)."""
    import socket

    from ..errors import UsageError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="choose another --port or --host"
        ) from None
    sock.set_inheritable(True)
    return sock


def _serve(server_ctx, sock, *, access_log: bool) -> None:
    import logging
    import signal

    import uvicorn

    from ..http.app import create_app
    from ..http.protocol import guarded_protocol

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    log = logging.getLogger("pantry_alert.http")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    warn_at_start(server_ctx)

    config = uvicorn.Config(
        create_app(server_ctx),
        log_level="info",
        access_log=access_log,
        server_header=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
        http=guarded_protocol(),  # a header-read timeout: half-sent requests are closed
        timeout_keep_alive=5,
    )
    from ..http.pings import RedactPingKeys

    logging.getLogger("uvicorn.access").addFilter(RedactPingKeys())  # after uvicorn.Config set up its logging
    server = uvicorn.Server(config)
    # uvicorn stops gracefully on SIGTERM, then re-raises the signal to the handler it found:
    # a no-op one here, so a systemd stop ends with exit 0 instead of death by signal.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run(sockets=[sock])
    log.info("stopped")

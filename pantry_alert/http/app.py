"""The application factory: routes, authentication and error envelopes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..errors import PantryAlertError
from .common import HttpError, fail, library_error
from .context import ServerContext

log = logging.getLogger("pantry_alert.http")


def create_app(ctx: ServerContext):
    """The Starlette application over ``ctx`` (``ctx.no_auth``: no authentication)."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware

    from . import ack, console, health, pings, routes, slack
    from .auth import BearerAuth, Credentials
    from .security import SecurityHeaders

    async def http_error(request, exc: HttpError):
        return fail(exc.status, exc.message, headers=exc.headers)

    async def pantry_error(request, exc: PantryAlertError):
        return library_error(exc)

    async def starlette_error(request, exc: HTTPException):
        return fail(exc.status_code, exc.detail, headers=getattr(exc, "headers", None))

    async def internal_error(request, exc: Exception):
        path = pings.redact(request.url.path)
        log.error("internal error on %s %s: %s: %s", request.method, path, type(exc).__name__, exc)
        return fail(500, "internal error (a bug in pantry-alert; the server log has the details)")

    # Starlette calls each handler with an instance of its own class; its annotation wants every handler
    # to take any Exception.
    handlers: dict[Any, Callable[..., Any]] = {
        HttpError: http_error,
        PantryAlertError: pantry_error,
        HTTPException: starlette_error,
        Exception: internal_error,
    }
    credentials = Credentials(ctx)
    app = Starlette(
        routes=routes.routes() + slack.routes() + health.routes() + pings.routes() + console.routes() + ack.routes(),
        middleware=[Middleware(SecurityHeaders), Middleware(BearerAuth, credentials=credentials)],
        exception_handlers=handlers,
    )
    # No trailing-slash redirect: its Location would echo the request's Host header.
    app.router.redirect_slashes = False
    app.state.ctx = ctx
    app.state.credentials = credentials
    return app
